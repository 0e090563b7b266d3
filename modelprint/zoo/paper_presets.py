"""The papers' benchmark suites, scaled to data that ships with modelprint (spec §16.5).

Every preset is a function of the dataset: on ``mnist5k`` (default) architectures and epochs are scaled to
two CPU cores; on ``cifar10`` (local files, ``--data-root``) the same structure applies. What was scaled is
recorded in each preset's ``scaled`` notes and shown in the report."""

from __future__ import annotations

from modelprint.zoo.lineage import join, step
from modelprint.zoo.presets import PRESETS, Preset, train_id

#: The source architecture (in place of the papers' ResNet18) and 14 others (in place of FingerBench's
#: 14 other CIFAR architectures), all trainable on two CPU cores.
SOURCE_ARCH = "cnn-m"
OTHER_ARCHS = (
    "cnn-s", "cnn-l", "lenet", "mlp", "resnet8", "resnet14", "resnet20", "resnet18-s", "wrn-16-2",
    "vgg11-bn", "vgg13-bn", "vgg16-bn", "mobilenet", "densenet",
)  # fmt: skip
ALL_ARCHS = (SOURCE_ARCH, *OTHER_ARCHS)


def fingerbench_attacks(parent: str, *, data: str) -> list[str]:
    """FingerBench's 62 attacks on one parent (NaturalFinger §5; spec §16.5(b)): 4 fine-tune modes,
    prune 0.1–0.9 + masked fine-tune, weight noise v=1..9 + fine-tune, adversarial fine-tuning on a fraction
    r=0.1..1.0, and one distilled and one Knockoff student per architecture (15 each). ``data`` is the
    split holding the parent's own training inputs (what a distilling thief is assumed to have)."""
    out = [join(parent, step("finetune", m)) for m in ("ftll", "ftal", "rtll", "rtal")]
    out += [join(parent, step("prune", p / 10, ft=2)) for p in range(1, 10)]
    out += [join(parent, step("noise", v)) for v in range(1, 10)]
    out += [join(parent, step("advft", r / 10)) for r in range(1, 11)]
    out += [join(parent, step("distill", arch, data=data)) for arch in ALL_ARCHS]
    out += [join(parent, step("knockoff", arch)) for arch in ALL_ARCHS]
    return out


@PRESETS.register("fingerbench")
def fingerbench(dataset: str = "mnist5k") -> Preset:
    """FingerBench (NaturalFinger): 1 source + 62 attacked copies (63 positives); 91 negatives = 14
    independent models of the other architectures, 14 students distilled from them, and 63 mirror negatives
    (an independent twin of the source architecture with the same 62 attacks)."""
    source = train_id(SOURCE_ARCH, dataset, 0)
    positives = fingerbench_attacks(source, data="owner")
    independent = [train_id(arch, dataset, 0, data="attacker") for arch in OTHER_ARCHS]
    distilled = [join(ind, step("distill", SOURCE_ARCH, data="attacker")) for ind in independent]
    twin = train_id(SOURCE_ARCH, dataset, 1, data="attacker")
    mirror = [twin, *fingerbench_attacks(twin, data="attacker")]
    return Preset(
        "fingerbench", dataset, (source,), tuple(positives + independent + distilled + mirror),
        description=fingerbench.__doc__ or "",
        scaled={
            "architectures": f"source {SOURCE_ARCH} for ResNet18; the 14 others: {', '.join(OTHER_ARCHS)}",
            "data": "half A = owner split (source), half B = attacker split (negatives, mirror twin); "
                    "fine-tuning uses the attacker split for every model (FingerBench: a held-out 5k split)",
            "knockoff": "animal-mnist out-of-domain queries in place of CIFAR-100",
            "epochs": "each attack's documented CPU defaults (see `modelprint list attacks`)",
        },
    )  # fmt: skip


@PRESETS.register("mfue")
def mfue(dataset: str = "mnist5k") -> Preset:
    """MFUE Table 3: 64 positives (16 fine-tune = 4 modes × 4 repeats, 4 pruning rates 0.1–0.4 without
    recovery, 16 extractions = {Knockoff, data-free HL} × 8 architectures, 28 adversarial trainings = 7 ε ×
    4 repeats) and 60 independent negatives over 8 architectures (8/8/8/8/7/7/7/7)."""
    archs = (SOURCE_ARCH, "resnet20", "vgg11-bn", "vgg16-bn", "vgg13-bn", "wrn-16-2", "densenet", "mobilenet")
    source = train_id(SOURCE_ARCH, dataset, 0)
    positives = [
        join(source, step("finetune", m, rep=k)) for m in ("ftll", "rtll", "ftal", "rtal") for k in range(4)
    ]
    positives += [join(source, step("prune", p / 10)) for p in range(1, 5)]
    positives += [join(source, step(kind, arch)) for kind in ("knockoff", "datafree") for arch in archs]
    positives += [
        join(source, step("advtrain", eps, rep=k)) for eps in (0.1, 0.2, 0.5, 1, 2, 4, 8) for k in range(4)
    ]
    counts = (8, 8, 8, 8, 7, 7, 7, 7)
    negatives = [
        train_id(arch, dataset, seed, data="attacker")
        for arch, n in zip(archs, counts, strict=True)
        for seed in range(1, n + 1)
    ]
    return Preset(
        "mfue", dataset, (source,), tuple(positives + negatives), description=mfue.__doc__ or "",
        scaled={
            "architectures": f"{', '.join(archs)} in place of ResNet18/50, VGG11/16/19, WRN, DenseNet121, "
                             "InceptionV3",
            "adversarial training": "each ε trained for the attack's CPU default epochs (paper: 30)",
            "extraction": "Knockoff (random strategy, animal-mnist queries), data-free HL (lite setting)",
        },
    )  # fmt: skip


@PRESETS.register("qurd")
def qurd(dataset: str = "mnist5k") -> Preset:
    """QuRD's tasks (SACBench-style, spec §16.5(c)): same, quantize, finetune, transfer, prune, probit
    extraction, label extraction and adversarial label extraction, each task's positives against 20
    independent negatives (4 architectures × 5 seeds)."""
    source = train_id("vgg16-bn", dataset, 0)
    students = (
        "vgg13-bn",
        "resnet20",
        "densenet",
        "mobilenet",
    )  # SACBench: VGG13, ResNet18, DenseNet, MobileNetV2
    positives = [
        join(source, step("quantize", 8)),
        join(source, step("quantize", 4)),
        join(source, step("half")),
    ]
    positives += [join(source, step("finetune", m, rep=k)) for m in ("ftal", "ftll") for k in range(2)]
    positives += [join(source, step("transfer", t, rep=k)) for t in ("corrupt", "animal") for k in range(2)]
    positives += [join(source, step("prune", p, ft=2)) for p in (0.2, 0.5, 0.8)] + [
        join(source, step("prune", 0.3))
    ]
    positives += [join(source, step("probitextract", a)) for a in students]
    positives += [join(source, step("labelextract", a)) for a in students]
    positives += [join(source, step("labelextract", a, adv=1)) for a in students]
    negatives = [train_id(a, dataset, seed, data="attacker") for a in students for seed in range(1, 6)]
    return Preset(
        "qurd", dataset, (source,), tuple(positives + negatives), description=qurd.__doc__ or "",
        scaled={
            "counts": "4 models per task (SACBench: 10–20); 20 negatives as SACBench's CIFAR-10 set",
            "transfer": "MNIST with noise+blur corruptions (for CIFAR-10C) and animal-mnist with a new head "
                        "(for CIFAR-100's first 10 classes); one shared negative set for every task",
        },
    )  # fmt: skip
