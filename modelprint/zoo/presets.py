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


@PRESETS.register("quick")
def quick(dataset: str = "mnist5k") -> Preset:
    """One cnn-m source; 18 positives (4 fine-tune modes; pruning 0.1–0.5 without recovery as in the MFUE
    suite, 0.1–0.9 with a 2-epoch masked recovery fine-tune as in FingerBench);
    16 independent negatives over 6 architectures trained on the attacker's half."""
    source = train_id("cnn-m", dataset, 0)
    positives = [join(source, step("finetune", m)) for m in ("ftll", "ftal", "rtll", "rtal")]
    positives += [join(source, step("prune", p / 10)) for p in range(1, 6)]  # MFUE: no recovery
    positives += [join(source, step("prune", p / 10, ft=2)) for p in range(1, 10)]  # FingerBench: masked FT
    negatives = [
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
    return Preset(
        "quick",
        dataset,
        (source,),
        tuple(positives + negatives),
        description=quick.__doc__ or "",
        scaled={
            "data": f"{dataset}: owner half trains the source, attacker half the negatives and "
            "every fine-tune",
            "epochs": "10 training epochs, 5 fine-tune epochs",
        },
    )


@PRESETS.register("tiny")
def tiny(dataset: str = "digits") -> Preset:
    """The shipped test zoo on scikit-learn digits (8×8): one cnn-s source, 5 positives, 4 negatives."""
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
