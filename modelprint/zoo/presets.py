"""Benchmark presets: which victims and suspects a zoo holds. Ground truth comes from lineage."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from modelprint.attacks.base import step_task
from modelprint.registry import Registry
from modelprint.types import Pair
from modelprint.zoo.lineage import canonical, is_derived, join, step, task_of
from modelprint.zoo.recipes import CONVERGED_NOTE, SCALED_RECIPES, Recipe, scaled_recipe


@dataclass(frozen=True)
class Preset:
    """A zoo: ``victims`` (sources) and ``suspects``; every suspect is paired with every victim."""

    name: str
    dataset: str
    victims: tuple[str, ...]
    suspects: tuple[str, ...]
    description: str = ""
    scaled: dict[str, str] = field(default_factory=dict)

    def lineages(self) -> list[str]:
        seen: dict[str, None] = {}
        for lin in (*self.victims, *self.suspects):
            seen.setdefault(canonical(lin), None)
        return list(seen)

    def pair_ids(self) -> list[tuple[str, str]]:
        """The (victim, suspect) lineage ids of :meth:`pairs`: a preset's results are read by these,
        whichever preset scored them."""
        return [(p.victim, p.suspect) for p in self.pairs()]

    def pairs(self) -> list[Pair]:
        """(victim, suspect) pairs, the victim against itself included (QuRD's ``same`` task)."""
        out: list[Pair] = []
        for victim in self.victims:
            for suspect in dict.fromkeys([victim, *self.suspects]):
                out.append(
                    Pair(
                        canonical(victim),
                        canonical(suspect),
                        is_derived(suspect, victim),
                        task_of(victim, suspect, step_task),
                    )
                )
        return out


PRESETS: Registry[Preset] = Registry("preset", group="modelprint.presets")


def train_id(arch: str, dataset: str, seed: int, **kwargs: object) -> str:
    return step("train", arch, dataset, seed, **kwargs)


StepFn = Callable[..., str]

SAME_DATA_SEEDS = {"quick": 101, "tiny": 201, "mfue": 301, "fingerbench": 401, "qurd": 501}
"""First seed of each preset's same-data negatives: seeds no other preset (or model) uses, so every
preset's innocent parties are its own."""

SAME_DATA_RULE = (
    "same-data negatives (the innocent party an owner meets: trained on the source's own split): the "
    "source's architecture with {n_same} seeds and the preset's first {n_other} other architectures "
    "({others}) with one seed each, seeds from {seed0}"
)
CHAIN_RULE = (
    "chains (a disguise after a disguise): fine-tune all layers then prune 0.5 (with masked fine-tune), "
    "retrain all layers then int8 quantisation, prune 0.3 (masked fine-tune) then fine-tune all layers, "
    "and distillation into {student} (the preset's first other architecture) then fine-tune all layers"
)


def same_data_negatives(
    train: StepFn, source_arch: str, others: Sequence[str], dataset: str, preset: str, *, n_same: int = 2
) -> tuple[list[str], str]:
    """Independent models on the source's own (owner) split — the source's architecture ``n_same`` times
    and each of ``others`` once — with the preset's own seeds; and the rule, for the description."""
    seed0 = SAME_DATA_SEEDS[preset]
    out = [train(source_arch, dataset, seed0 + k) for k in range(n_same)]
    out += [train(arch, dataset, seed0) for arch in others]
    rule = SAME_DATA_RULE.format(n_same=n_same, n_other=len(others), others=", ".join(others), seed0=seed0)
    return out, rule


def chains(parent: str, attack: StepFn, student: str, *, prune_ft: int = 2, data: str = "owner") -> list[str]:
    """The multi-step disguises of :data:`CHAIN_RULE` on ``parent`` (``attack`` formats a step, e.g. a
    recipe's; ``data`` is the split a distilling thief holds)."""
    return [
        join(parent, attack("finetune", "ftal"), attack("prune", 0.5, ft=prune_ft)),
        join(parent, attack("finetune", "rtal"), attack("quantize", 8)),
        join(parent, attack("prune", 0.3, ft=prune_ft), attack("finetune", "ftal")),
        join(parent, attack("distill", student, data=data), attack("finetune", "ftal")),
    ]


def scaled_only(preset: str, recipe: str | None, source_arch: str) -> Recipe:
    """``quick`` and ``tiny`` exist in the scaled recipes only (``cpu``, the default, or ``cpu-fixed``)."""
    if recipe not in (None, *SCALED_RECIPES):
        raise ValueError(
            f"{preset} is a scaled preset (recipe {' or '.join(SCALED_RECIPES)}); the papers' sizes are in "
            "fingerbench, mfue and qurd"
        )
    return scaled_recipe(recipe or "cpu", source_arch)


@PRESETS.register("quick")
def quick(dataset: str = "mnist5k", recipe: str | None = None) -> Preset:
    """One cnn-m source; 34 positives: 4 fine-tune modes; pruning 0.1–0.5 without recovery (MFUE) and
    0.1–0.9 with a 2-epoch masked fine-tune (FingerBench); then one model of each other attack: weight
    noise, int8 quantisation, fp16, PGD adversarial training, adversarial fine-tuning, distillation (same
    and another architecture, and distillation then pruning), Knockoff, label, adversarial-label and
    probit extraction, data-free HL, and transfer to corrupted and to new-label data.
    26 negatives: 16 independent models over 6 architectures trained on the attacker's half, 4 mirror
    negatives (an independent cnn-m twin fine-tuned, pruned, distilled and noised), and 2 cnn-m students
    distilled from independent models.
    Added for honest negatives and thieves' disguises (the rules are in the description): 6 same-data
    negatives (3 cnn-m, cnn-s, lenet, resnet8 on the owner's half), 4 chains, and Knockoff into cnn-s and
    label extraction into resnet8 (every extraction kind lands outside cnn-m at least once)."""
    r = scaled_only("quick", recipe, "cnn-m")
    st, tr = r.step, r.train
    source = tr("cnn-m", dataset, 0)
    positives = [join(source, st("finetune", m)) for m in ("ftll", "ftal", "rtll", "rtal")]
    positives += [join(source, st("prune", p / 10)) for p in range(1, 6)]  # MFUE: no recovery
    positives += [join(source, st("prune", p / 10, ft=2)) for p in range(1, 10)]  # FingerBench: masked FT
    positives += [
        join(source, st("noise", 3)),
        join(source, st("quantize", 8)),
        join(source, st("half")),
        join(source, st("advtrain", 4)),
        join(source, st("advft", 0.5)),
        join(source, st("distill")),
        join(source, st("distill", "resnet8")),
        join(source, st("distill"), st("prune", 0.3)),
        join(source, st("knockoff")),
        join(source, st("labelextract")),
        join(source, st("labelextract", adv=1)),
        join(source, st("probitextract")),
        join(source, st("datafree")),
        join(source, st("transfer", "corrupt")),
        join(source, st("transfer", "animal")),
    ]
    independent = [
        tr(arch, dataset, seed, data="attacker")
        for arch, seeds in (
            ("cnn-m", (1, 2, 3, 4)),
            ("cnn-s", (1, 2, 3)),
            ("lenet", (1, 2, 3)),
            ("mlp", (1, 2)),
            ("resnet8", (1, 2)),
            ("vgg11-bn", (1, 2)),
        )
        for seed in seeds
    ]
    twin = independent[0]
    mirror = [
        join(twin, st("finetune", "ftal")),
        join(twin, st("prune", 0.5, ft=2)),
        join(twin, st("distill", data="attacker")),
        join(twin, st("noise", 3)),
    ]
    distilled = [
        join(tr(arch, dataset, 1, data="attacker"), st("distill", "cnn-m", data="attacker"))
        for arch in ("cnn-s", "resnet8")
    ]
    same_data, same_rule = same_data_negatives(
        tr, "cnn-m", ("cnn-s", "lenet", "resnet8"), dataset, "quick", n_same=3
    )
    chained = chains(source, st, "resnet8")
    students = [join(source, st("knockoff", "cnn-s")), join(source, st("labelextract", "resnet8"))]
    return Preset(
        "quick",
        dataset,
        (source,),
        tuple(positives + chained + students + independent + mirror + distilled + same_data),
        description=(quick.__doc__ or "")
        + f"\nRules: {same_rule}; {CHAIN_RULE.format(student='resnet8')}; extraction students: "
        "Knockoff and label extraction into the first two other architectures (cnn-s, resnet8).",
        scaled={
            "data": f"{dataset}: owner half trains the source, attacker half the negatives and "
            "every fine-tune",
            "epochs": "10 training epochs, 5 fine-tune epochs; the other attacks' CPU defaults "
            "(`modelprint list attacks`)"
            + ("; in recipe cpu these are caps: " + CONVERGED_NOTE if r.name == "cpu" else ""),
            "recipe": r.name,
        },
    )


@PRESETS.register("tiny")
def tiny(dataset: str = "digits", recipe: str | None = None) -> Preset:
    """The shipped test zoo on scikit-learn digits (8×8): one cnn-s source, 5 positives (one a chain), 5
    negatives: a cnn-s and a lenet on the attacker's half, and a cnn-s, an mlp and a lenet on the source's
    own half (same-data). Unlike the other presets its default recipe is ``cpu-fixed`` (15 epochs on 700
    8×8 images, seconds per model): it is the test suite's zoo, whose tests name its lineages; ``--recipe
    cpu`` builds it converged."""
    r = scaled_only("tiny", recipe or "cpu-fixed", "cnn-s")  # the test zoo: fixed 15 epochs by default
    st, tr = r.step, r.train
    source = tr("cnn-s", dataset, 0, epochs=15)
    positives = [
        join(source, st("finetune", "ftal")),
        join(source, st("finetune", "rtll")),
        join(source, st("prune", 0.5)),
        join(source, st("prune", 0.7, ft=2)),
        join(source, st("finetune", "ftal"), st("prune", 0.3)),
    ]
    negatives = [
        tr("cnn-s", dataset, 1, data="attacker", epochs=15),
        tr("lenet", dataset, 1, data="attacker", epochs=15),
    ]

    def train15(arch: str, data_name: str, seed: int) -> str:
        return tr(arch, data_name, seed, epochs=15)

    same_data, rule = same_data_negatives(train15, "cnn-s", ("mlp", "lenet"), dataset, "tiny", n_same=1)
    return Preset(
        "tiny", dataset, (source,), tuple(positives + negatives + same_data),
        description=(tiny.__doc__ or "") + f"\nRules: {rule}.",
    )  # fmt: skip

