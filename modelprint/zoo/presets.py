"""Benchmark presets: which victims and suspects a zoo holds. Ground truth comes from lineage."""

from __future__ import annotations

from dataclasses import dataclass, field

from modelprint.attacks.base import step_task
from modelprint.registry import Registry
from modelprint.types import Pair
from modelprint.zoo.lineage import canonical, is_derived, join, step, task_of


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


PRESETS: Registry[Preset] = Registry("preset")


def train_id(arch: str, dataset: str, seed: int, **kwargs: object) -> str:
    return step("train", arch, dataset, seed, **kwargs)


def scaled_only(preset: str, recipe: str | None) -> None:
    """``quick`` and ``tiny`` exist in the scaled (``cpu``) recipe only."""
    if recipe not in (None, "cpu"):
        raise ValueError(
            f"{preset} is a scaled preset (recipe cpu); the papers' sizes are in fingerbench, mfue and qurd"
        )


@PRESETS.register("quick")
def quick(dataset: str = "mnist5k", recipe: str | None = None) -> Preset:
    """One cnn-m source; 34 positives: 4 fine-tune modes; pruning 0.1–0.5 without recovery (MFUE) and
    0.1–0.9 with a 2-epoch masked fine-tune (FingerBench); then one model of each other attack: weight
    noise, int8 quantisation, fp16, PGD adversarial training, adversarial fine-tuning, distillation (same
    and another architecture, and distillation then pruning), Knockoff, label, adversarial-label and
    probit extraction, data-free HL, and transfer to corrupted and to new-label data.
    26 negatives: 16 independent models over 6 architectures trained on the attacker's half, 4 mirror
    negatives (an independent cnn-m twin fine-tuned, pruned, distilled and noised), and 2 cnn-m students
    distilled from independent models."""
    scaled_only("quick", recipe)
    source = train_id("cnn-m", dataset, 0)
    positives = [join(source, step("finetune", m)) for m in ("ftll", "ftal", "rtll", "rtal")]
    positives += [join(source, step("prune", p / 10)) for p in range(1, 6)]  # MFUE: no recovery
    positives += [join(source, step("prune", p / 10, ft=2)) for p in range(1, 10)]  # FingerBench: masked FT
    positives += [
        join(source, step("noise", 3)),
        join(source, step("quantize", 8)),
        join(source, step("half")),
        join(source, step("advtrain", 4)),
        join(source, step("advft", 0.5)),
        join(source, step("distill")),
        join(source, step("distill", "resnet8")),
        join(source, step("distill"), step("prune", 0.3)),
        join(source, step("knockoff")),
        join(source, step("labelextract")),
        join(source, step("labelextract", adv=1)),
        join(source, step("probitextract")),
        join(source, step("datafree")),
        join(source, step("transfer", "corrupt")),
        join(source, step("transfer", "animal")),
    ]
    independent = [
        train_id(arch, dataset, seed, data="attacker")
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
        join(twin, step("finetune", "ftal")),
        join(twin, step("prune", 0.5, ft=2)),
        join(twin, step("distill", data="attacker")),
        join(twin, step("noise", 3)),
    ]
    distilled = [
        join(train_id(arch, dataset, 1, data="attacker"), step("distill", "cnn-m", data="attacker"))
        for arch in ("cnn-s", "resnet8")
    ]
    return Preset(
        "quick",
        dataset,
        (source,),
        tuple(positives + independent + mirror + distilled),
        description=quick.__doc__ or "",
        scaled={
            "data": f"{dataset}: owner half trains the source, attacker half the negatives and "
            "every fine-tune",
            "epochs": "10 training epochs, 5 fine-tune epochs; the other attacks' CPU defaults "
            "(`modelprint list attacks`)",
        },
    )


@PRESETS.register("tiny")
def tiny(dataset: str = "digits", recipe: str | None = None) -> Preset:
    """The shipped test zoo on scikit-learn digits (8×8): one cnn-s source, 5 positives, 4 negatives."""
    scaled_only("tiny", recipe)
    source = train_id("cnn-s", dataset, 0, epochs=15)
    positives = [
        join(source, step("finetune", "ftal")),
        join(source, step("finetune", "rtll")),
        join(source, step("prune", 0.5)),
        join(source, step("prune", 0.7, ft=2)),
        join(source, step("finetune", "ftal"), step("prune", 0.3)),
    ]
    negatives = [
        train_id("cnn-s", dataset, 1, data="attacker", epochs=15),
        train_id("cnn-s", dataset, 2, data="attacker", epochs=15),
        train_id("mlp", dataset, 1, data="attacker", epochs=15),
        train_id("lenet", dataset, 1, data="attacker", epochs=15),
    ]
    return Preset("tiny", dataset, (source,), tuple(positives + negatives), description=tiny.__doc__ or "")


import modelprint.zoo.paper_presets  # noqa: E402,F401  (registers fingerbench, mfue, qurd)
