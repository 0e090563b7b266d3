"""Training recipes of the presets: ``cpu`` (each attack's scaled defaults, sized for the bundled data on
two cores, every training step run until its held-out loss stops improving), ``cpu-fixed`` (the same with
the attacks' fixed short epoch counts, the presets before converged training) and ``paper`` (the suites'
original architectures, epochs, learning rates and query budgets, docs/attacks.md, for a user's CIFAR files).

A recipe only adds keyword arguments to lineage steps, so the recipe a model was built with is part of its
lineage id and of its card. ``cpu`` adds ``until=plateau`` to every step that trains
(:class:`~modelprint.attacks.training.Plateau`: the step's epochs become a cap of 3×); ``cpu-fixed`` adds
nothing. Settings marked [D] in docs/attacks.md (or derived here) are said so in the recipe's ``notes``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from modelprint.zoo.lineage import step

StepArgs = Mapping[str, str | int | float]

RECIPE_NAMES = ("cpu", "cpu-fixed", "paper")
SCALED_RECIPES = ("cpu", "cpu-fixed")

TRAINING_STEPS = (
    "train", "finetune", "prune", "noise", "advtrain", "advft", "distill", "knockoff", "labelextract",
    "probitextract", "datafree", "transfer",
)  # fmt: skip
"""Attacks that run the training loop (``prune`` only with ``ft`` > 0, ``noise`` unless ``ft=0``)."""
CONVERGED: Mapping[str, StepArgs] = {attack: {"until": "plateau"} for attack in TRAINING_STEPS}
CONVERGED_NOTE = (
    "every training step until its held-out loss stops improving: 10 % held out, patience 2 epochs, "
    "relative tolerance 1e-3, one 10× learning-rate drop, cap 3× the step's epochs, best epoch kept"
)
PAPER_DATASETS = ("cifar10", "cifar100")
"""Datasets on which the paper presets default to the ``paper`` recipe."""


@dataclass(frozen=True)
class Recipe:
    """Architectures and per-attack step arguments of one suite under one recipe."""

    name: str
    source_arch: str
    archs: tuple[str, ...]
    """The suite's other architectures (negatives, extraction students), in the suite's order."""
    kwargs: Mapping[str, StepArgs] = field(default_factory=dict)
    prune_ft: int = 2
    """Epochs of masked fine-tuning after pruning, where the suite fine-tunes after pruning."""
    queryset: str = "animal-mnist"
    """The out-of-domain set of knockoff and data-free extraction (and the related transfer task)."""
    notes: Mapping[str, str] = field(default_factory=dict)

    def step(self, attack: str, *args: object, **kwargs: object) -> str:
        """A lineage step with the recipe's arguments for ``attack``; explicit ``kwargs`` win. A schedule
        (``until``) is not added to steps that do not train (pruning without fine-tuning, noise with
        ``ft=0``)."""
        extra = dict(self.kwargs.get(attack, {}))
        trains = {"prune": float(str(kwargs.get("ft", 0))) > 0, "noise": str(kwargs.get("ft", "2")) != "0"}
        if not trains.get(attack, True):
            extra.pop("until", None)
        return step(attack, *args, **{**extra, **kwargs})

    def train(self, arch: str, dataset: str, seed: int, **kwargs: object) -> str:
        return self.step("train", arch, dataset, seed, **kwargs)


def scaled_recipe(name: str, source_arch: str, archs: tuple[str, ...] = ()) -> Recipe:
    """The ``cpu`` (converged) or ``cpu-fixed`` recipe for a scaled preset."""
    if name == "cpu":
        return Recipe("cpu", source_arch, archs, kwargs=CONVERGED, notes={"training": CONVERGED_NOTE})
    if name == "cpu-fixed":
        return Recipe("cpu-fixed", source_arch, archs, notes={"training": "the attacks' fixed epoch counts"})
    raise ValueError(f"{name!r} is not a scaled recipe; known: {', '.join(SCALED_RECIPES)}")


def choose_recipe(dataset: str, recipe: str | None) -> str:
    """``recipe`` if given (checked), else ``paper`` on CIFAR and ``cpu`` elsewhere."""
    if recipe is None:
        return "paper" if dataset in PAPER_DATASETS else "cpu"
    if recipe not in RECIPE_NAMES:
        raise ValueError(f"unknown recipe {recipe!r}; known: {', '.join(RECIPE_NAMES)}")
    return recipe


def out_of_domain(dataset: str) -> str:
    """The out-of-domain query set: CIFAR-100 for a CIFAR-10 victim (the papers') and vice versa,
    Animal-MNIST (bundled) for any other dataset."""
    return {"cifar10": "cifar100", "cifar100": "cifar10"}.get(dataset, "animal-mnist")


#: MFUE's source recipe (docs/attacks.md#negative-models: 150 epochs, batch 128, SGD lr 0.1, momentum 0.9, wd
#: 5e-4) [P]; the other suites do not state one and use it too [D].
PAPER_TRAIN: StepArgs = {"epochs": 150, "lr": 0.1, "batch": 128}
#: Knockoff defaults of docs/attacks.md#extraction-attacks: 50k queries, 100 epochs from scratch at lr 0.1
#: [D]; batch 128 [D].
PAPER_KNOCKOFF: StepArgs = {"budget": 50000, "epochs": 100, "lr": 0.1, "batch": 128}
#: HL [C] with a 10-class CIFAR-100 proxy (6,000 images): 200 GAN epochs and 800 alternating epochs,
#: converted to steps of batch 64 (94 per epoch) since the ``datafree`` step counts steps and rounds.
PAPER_DATAFREE: StepArgs = {"proxy": 6000, "gan_steps": 200 * 94, "rounds": 800 * 94}


def fingerbench_recipe(name: str, dataset: str) -> Recipe:
    """FingerBench (NaturalFinger §5): ResNet18 source and 14 other architectures; fine-tune recipe SGD
    lr 0.005 for 10 epochs [P], reused after pruning, after noising and for adversarial fine-tuning [P]."""
    if name in SCALED_RECIPES:
        others = (
            "cnn-s", "cnn-l", "lenet", "mlp", "resnet8", "resnet14", "resnet20", "resnet18-s", "wrn-16-2",
            "vgg11-bn", "vgg13-bn", "vgg16-bn", "mobilenet", "densenet",
        )  # fmt: skip
        return scaled_recipe(name, "cnn-m", others)
    ft: StepArgs = {"epochs": 10, "lr": 0.005}
    others = (
        "resnet34", "vgg11-bn", "vgg13-bn", "vgg16-bn", "mobilenet", "densenet", "wrn-16-2", "resnet20",
        "resnet14", "resnet8", "resnet18-s", "cnn-l", "cnn-m", "cnn-s",
    )  # fmt: skip
    queryset = out_of_domain(dataset)
    return Recipe(
        "paper",
        "resnet18",
        others,
        kwargs={
            "train": PAPER_TRAIN,
            "finetune": ft,
            "prune": {"lr": 0.005},
            "noise": {"ft": 10, "lr": 0.005},
            "advft": ft,
            "distill": {"epochs": 200, "lr": 0.1, "batch": 128},
            "knockoff": {**PAPER_KNOCKOFF, "queryset": queryset},
        },
        prune_ft=10,
        queryset=queryset,
        notes={
            "architectures": "the 15 of FingerBench's list that modelprint has natively (no InceptionV3, "
            "SE-ResNet18, Xception)",
            "fine-tune data": "the attacker half (FingerBench: a 5k half of the test set)",
            "source / distillation": "150 epochs lr 0.1 batch 128 / 200 epochs lr 0.1 batch 128 [D]",
        },
    )


def mfue_recipe(name: str, dataset: str) -> Recipe:
    """MFUE (docs/attacks.md#mfue-suite): ResNet18 source; fine-tuning SGD lr 0.01 batch 64 for 50 epochs [P];
    adversarial training 30 epochs per ε [P]; Knockoff and HL extraction into 8 architectures."""
    if name in SCALED_RECIPES:
        archs = ("resnet20", "vgg11-bn", "vgg16-bn", "vgg13-bn", "wrn-16-2", "densenet", "mobilenet")
        return scaled_recipe(name, "cnn-m", archs)
    queryset = out_of_domain(dataset)
    return Recipe(
        "paper",
        "resnet18",
        ("resnet34", "vgg11-bn", "vgg16-bn", "vgg13-bn", "wrn-16-2", "densenet", "mobilenet"),
        kwargs={
            "train": PAPER_TRAIN,
            "finetune": {"epochs": 50, "lr": 0.01, "batch": 64},
            "advtrain": {"epochs": 30, "lr": 0.01, "steps": 10},
            "knockoff": {**PAPER_KNOCKOFF, "queryset": queryset},
            "datafree": {**PAPER_DATAFREE, "queryset": queryset},
        },
        queryset=queryset,
        notes={
            "architectures": "ResNet34 for ResNet50, VGG13-BN for VGG19, WRN-16-2 for WRN-34-10, MobileNet "
            "for InceptionV3",
            "data-free HL": "a random 6,000-image CIFAR-100 proxy for 10 of its classes; steps converted "
            "from epochs at batch 64",
        },
    )


def qurd_recipe(name: str, dataset: str) -> Recipe:
    """SACBench as QuRD uses it (docs/attacks.md#qurd-benchmarks): VGG16-BN source; students VGG13 / ResNet18
    / DenseNet / MobileNetV2; fine-tune SGD lr 5e-4 batch 512 for 30 epochs [C]; label and probit extraction
    200 epochs, batch 512, lr 0.05 / 0.1 [C]; adversarial label extraction with 30 PGD steps [C]."""
    if name in SCALED_RECIPES:
        return scaled_recipe(name, "vgg16-bn", ("vgg13-bn", "resnet20", "densenet", "mobilenet"))
    return Recipe(
        "paper",
        "vgg16-bn",
        ("vgg13-bn", "resnet18", "densenet", "mobilenet"),
        kwargs={
            "train": PAPER_TRAIN,
            "finetune": {"epochs": 30, "lr": 5e-4, "batch": 512},
            "prune": {"lr": 0.001},
            "transfer": {"epochs": 30, "lr": 0.005, "size": 5000},
            "labelextract": {"epochs": 200, "lr": 0.05, "batch": 512, "adv_steps": 30},
            "probitextract": {"epochs": 200, "lr": 0.1, "batch": 512},
        },
        prune_ft=10,
        queryset=out_of_domain(dataset),
        notes={
            "pruning": "magnitude pruning + 10 masked fine-tune epochs at lr 1e-3 (SACBench: fine-pruning)",
            "transfer": "30 epochs lr 0.005 on 5,000 images [D] (SACBench does not state the recipe)",
        },
    )
