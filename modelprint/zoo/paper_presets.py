"""The papers' benchmark suites (docs/attacks.md#benchmark-suites), on the bundled data or on a user's CIFAR
files.

Every preset is a function of the dataset and a recipe (:mod:`modelprint.zoo.recipes`): on ``mnist5k``
(default) the ``cpu`` recipe scales architectures and epochs to two CPU cores; on ``cifar10``/``cifar100``
(local files, ``--data-root``) the ``paper`` recipe builds the same structure with the papers' original
architectures, epochs and query budgets. What was scaled or substituted is recorded in each preset's
``scaled`` notes and shown in the report."""

from __future__ import annotations

from modelprint.zoo.lineage import join
from modelprint.zoo.presets import CHAIN_RULE, PRESETS, Preset, chains, same_data_negatives
from modelprint.zoo.recipes import (
    SCALED_RECIPES,
    Recipe,
    choose_recipe,
    fingerbench_recipe,
    mfue_recipe,
    qurd_recipe,
)


def fingerbench_attacks(parent: str, r: Recipe, *, data: str) -> list[str]:
    """FingerBench's 62 attacks on one parent (NaturalFinger §5; docs/attacks.md#fingerbench): 4 fine-tune
    modes, prune 0.1–0.9 + masked fine-tune, weight noise v=1..9 + fine-tune, adversarial fine-tuning on a
    fraction r=0.1..1.0, and one distilled and one Knockoff student per architecture (15 each). ``data`` is
    the split holding the parent's own training inputs (what a distilling thief is assumed to have)."""
    archs = (r.source_arch, *r.archs)
    out = [join(parent, r.step("finetune", m)) for m in ("ftll", "ftal", "rtll", "rtal")]
    out += [join(parent, r.step("prune", p / 10, ft=r.prune_ft)) for p in range(1, 10)]
    out += [join(parent, r.step("noise", v)) for v in range(1, 10)]
    out += [join(parent, r.step("advft", k / 10)) for k in range(1, 11)]
    out += [join(parent, r.step("distill", arch, data=data)) for arch in archs]
    out += [join(parent, r.step("knockoff", arch)) for arch in archs]
    return out


def recipe_notes(r: Recipe) -> dict[str, str]:
    return {"recipe": r.name, **{f"{r.name}: {k}": v for k, v in r.notes.items()}}


@PRESETS.register("fingerbench")
def fingerbench(dataset: str = "mnist5k", recipe: str | None = None) -> Preset:
    """FingerBench (NaturalFinger): 1 source + 62 attacked copies (63 positives); 91 negatives = 14
    independent models of the other architectures, 14 students distilled from them, and 63 mirror negatives
    (an independent twin of the source architecture with the same 62 attacks). Added here: 4 chains on the
    source (positives) and on the twin (mirror), and 5 same-data negatives (rules in the description)."""
    r = fingerbench_recipe(choose_recipe(dataset, recipe), dataset)
    source = r.train(r.source_arch, dataset, 0)
    positives = fingerbench_attacks(source, r, data="owner")
    independent = [r.train(arch, dataset, 0, data="attacker") for arch in r.archs]
    distilled = [join(ind, r.step("distill", r.source_arch, data="attacker")) for ind in independent]
    twin = r.train(r.source_arch, dataset, 1, data="attacker")
    mirror = [twin, *fingerbench_attacks(twin, r, data="attacker")]
    student = r.archs[0]
    positives += chains(source, r.step, student, prune_ft=r.prune_ft)
    mirror += chains(twin, r.step, student, prune_ft=r.prune_ft, data="attacker")
    same_data, rule = same_data_negatives(r.train, r.source_arch, r.archs[:3], dataset, "fingerbench")
    return Preset(
        "fingerbench", dataset, (source,), tuple(positives + independent + distilled + mirror + same_data),
        description=(fingerbench.__doc__ or "")
        + f"\nRules: {rule}; {CHAIN_RULE.format(student=student)}, on the source and on the mirror twin.",
        scaled={
            "architectures": f"source {r.source_arch} (paper: ResNet18); the 14 others: {', '.join(r.archs)}",
            "data": "half A = owner split (source), half B = attacker split (negatives, mirror twin); "
                    "fine-tuning uses the attacker split for every model (FingerBench: a held-out 5k split)",
            "knockoff": f"{r.queryset} out-of-domain queries (paper: CIFAR-100)",
            "epochs": "each attack's documented CPU defaults (see `modelprint list attacks`)"
                      if r.name in SCALED_RECIPES else "the paper's (see the recipe notes)",
            **recipe_notes(r),
        },
    )  # fmt: skip


@PRESETS.register("mfue")
def mfue(dataset: str = "mnist5k", recipe: str | None = None) -> Preset:
    """MFUE Table 3: 64 positives (16 fine-tune = 4 modes × 4 repeats, 4 pruning rates 0.1–0.4 without
    recovery, 16 extractions = {Knockoff, data-free HL} × 8 architectures, 28 adversarial trainings = 7 ε ×
    4 repeats) and 60 independent negatives over 8 architectures (8/8/8/8/7/7/7/7). Added here: 4 chains
    and 4 same-data negatives (rules in the description)."""
    r = mfue_recipe(choose_recipe(dataset, recipe), dataset)
    archs = (r.source_arch, *r.archs)
    source = r.train(r.source_arch, dataset, 0)
    positives = [
        join(source, r.step("finetune", m, rep=k)) for m in ("ftll", "rtll", "ftal", "rtal") for k in range(4)
    ]
    positives += [join(source, r.step("prune", p / 10)) for p in range(1, 5)]
    positives += [join(source, r.step(kind, arch)) for kind in ("knockoff", "datafree") for arch in archs]
    positives += [
        join(source, r.step("advtrain", eps, rep=k)) for eps in (0.1, 0.2, 0.5, 1, 2, 4, 8) for k in range(4)
    ]
    counts = (8, 8, 8, 8, 7, 7, 7, 7)
    negatives = [
        r.train(arch, dataset, seed, data="attacker")
        for arch, n in zip(archs, counts, strict=True)
        for seed in range(1, n + 1)
    ]
    positives += chains(source, r.step, r.archs[0], prune_ft=r.prune_ft)
    same_data, rule = same_data_negatives(r.train, r.source_arch, r.archs[:2], dataset, "mfue")
    return Preset(
        "mfue", dataset, (source,), tuple(positives + negatives + same_data),
        description=(mfue.__doc__ or "") + f"\nRules: {rule}; {CHAIN_RULE.format(student=r.archs[0])}.",
        scaled={
            "architectures": f"{', '.join(archs)} in place of ResNet18/50, VGG11/16/19, WRN, DenseNet121, "
                             "InceptionV3",
            "adversarial training": "each ε trained for the attack's CPU default epochs (paper: 30)"
                                    if r.name in SCALED_RECIPES else "30 epochs per ε (paper)",
            "extraction": f"Knockoff (random strategy, {r.queryset} queries), data-free HL"
                          + (" (lite setting)" if r.name in SCALED_RECIPES else ""),
            **recipe_notes(r),
        },
    )  # fmt: skip


@PRESETS.register("qurd")
def qurd(dataset: str = "mnist5k", recipe: str | None = None) -> Preset:
    """QuRD's tasks (SACBench-style): same, quantize, finetune, transfer, prune, probit extraction, label
    extraction and adversarial label extraction, each task's positives against 20 independent negatives
    (4 architectures × 5 seeds). Suite: docs/attacks.md#qurd-benchmarks."""
    r = qurd_recipe(choose_recipe(dataset, recipe), dataset)
    source = r.train(r.source_arch, dataset, 0)
    students = r.archs  # SACBench: VGG13, ResNet18, DenseNet, MobileNetV2
    related = "cifar100" if r.queryset == "cifar100" else "animal"  # a new label space
    positives = [
        join(source, r.step("quantize", 8)),
        join(source, r.step("quantize", 4)),
        join(source, r.step("half")),
    ]
    positives += [join(source, r.step("finetune", m, rep=k)) for m in ("ftal", "ftll") for k in range(2)]
    positives += [join(source, r.step("transfer", t, rep=k)) for t in ("corrupt", related) for k in range(2)]
    positives += [join(source, r.step("prune", p, ft=r.prune_ft)) for p in (0.2, 0.5, 0.8)] + [
        join(source, r.step("prune", 0.3))
    ]
    positives += [join(source, r.step("probitextract", a)) for a in students]
    positives += [join(source, r.step("labelextract", a)) for a in students]
    positives += [join(source, r.step("labelextract", a, adv=1)) for a in students]
    negatives = [r.train(a, dataset, seed, data="attacker") for a in students for seed in range(1, 6)]
    positives += chains(source, r.step, students[0], prune_ft=r.prune_ft)
    same_data, rule = same_data_negatives(r.train, r.source_arch, students[:2], dataset, "qurd")
    return Preset(
        "qurd", dataset, (source,), tuple(positives + negatives + same_data),
        description=(qurd.__doc__ or "") + f"\nRules: {rule}; {CHAIN_RULE.format(student=students[0])}.",
        scaled={
            "counts": "4 models per task (SACBench: 10–20); 20 negatives as SACBench's CIFAR-10 set",
            "transfer": "corrupted images (noise+blur, for CIFAR-10C) and a related task with a new head "
                        f"({related}; SACBench: CIFAR-100's first 10 classes); one shared negative set",
            **recipe_notes(r),
        },
    )  # fmt: skip
