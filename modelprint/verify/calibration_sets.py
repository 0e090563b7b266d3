"""Which independent models a verdict is calibrated on, and whether they can support it.

A conformal p-value is valid only when the calibration models are exchangeable with the innocent suspects
the owner meets: the same task and data, comparable architectures and training. A set is found from a zoo
preset built in the workspace, a matched set from ``modelprint calibrate build``
(:mod:`modelprint.verify.matched`) or a folder of the user's own models; every model sharing its training
root with the victim (the victim's own fine-tunes, prunes, ...) and the suspect itself are left out, and
every model skipped is counted with its reason. :func:`support` then refuses the calibrated claim, with
one line saying what to build, when the set shares neither the victim's architecture nor its training
data, or holds too few models for the stated α (a p-value is never below ``1 / (n + 1)``)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from modelprint.data import DATASETS
from modelprint.models.base import Classifier, TorchClassifier
from modelprint.models.formats import STATE_DICT_SUFFIXES
from modelprint.models.io import ModelCard, ModelFileError, build_module, file_sha256, read_card
from modelprint.models.signature import architecture_signature, card_signature
from modelprint.models.user import is_user_arch, user_arch_allowed
from modelprint.verify.inputs import lineage_or_none
from modelprint.verify.keys import LoadedKey
from modelprint.zoo.families import arch_of
from modelprint.zoo.lineage import LineageError, canonical, parse_lineage
from modelprint.zoo.presets import Preset
from modelprint.zoo.store import ModelStore


class CalibrationRefused(ValueError):
    """The calibration set cannot support a calibrated verdict (the message says why and what to build)."""


@dataclass(frozen=True)
class CalibrationModel:
    """One independent model: ``ident`` names it in the score cache (lineage or path + content hash);
    ``architecture`` is its signature, ``data`` the ``dataset/split`` it was trained on (None: unknown)."""

    ident: str
    name: str
    lineage: str | None
    load: Callable[[], Classifier]
    architecture: str | None = None
    arch_name: str | None = None
    data: str | None = None


@dataclass
class CalibrationSet:
    """The models a verdict is calibrated on, what was skipped finding them, and the command that would
    complete the set."""

    name: str
    models: list[CalibrationModel]
    skipped: list[str] = field(default_factory=list)
    fix: str = ""
    victim_data: str | None = None
    """The victim's training data as its owner declared it building the set (``dataset/split``), for a
    victim held as a file, whose key cannot record it."""

    def architectures(self) -> dict[str, int]:
        return dict(Counter(m.arch_name or _short(m.architecture) for m in self.models))

    def datasets(self) -> dict[str, int]:
        return dict(Counter(m.data or "unknown" for m in self.models))


def _short(signature: str | None) -> str:
    return f"architecture {signature[:8]}" if signature else "unknown architecture"


def _root(lineage: str | None) -> str | None:
    """The training step a lineage starts from, or None for a name that is not a lineage."""
    if not lineage:
        return None
    try:
        return str(parse_lineage(lineage)[0])
    except LineageError:
        return None


def training_data(lineage: str | None) -> str | None:
    """``dataset/split`` of a lineage's root ``train`` step (the data an independent model learnt from),
    None when the lineage does not start with one."""
    if not lineage:
        return None
    try:
        root = parse_lineage(lineage)[0]
    except LineageError:
        return None
    if root.name != "train" or len(root.args) < 2:
        return None
    return f"{root.args[1]}/{dict(root.kwargs).get('data', 'owner')}"


def _card_model(card: ModelCard, ident: str, name: str, load: Callable[[], Classifier]) -> CalibrationModel:
    return CalibrationModel(
        ident, name, card.lineage, load, card_signature(card), card.arch, training_data(card.lineage)
    )


def preset_models(
    preset: Preset,
    store: ModelStore,
    *,
    input_shape: Sequence[int] | None = None,
    num_classes: int | None = None,
    label: str = "",
) -> CalibrationSet:
    """Every model of ``preset`` built (and intact) in ``store`` that takes ``input_shape`` images and
    answers for ``num_classes`` classes (when given); the rest counted in ``skipped``."""
    out, missing, other_shape = [], 0, 0
    not_allowed: Counter[str] = Counter()
    for lineage in preset.lineages():
        if not store.is_valid(lineage):
            missing += 1
            continue
        card = store.card(lineage)
        if is_user_arch(card.arch) and not user_arch_allowed(card.arch):
            not_allowed[card.arch] += 1
            continue
        shape = (card.in_channels, card.image_size, card.image_size)
        if (input_shape is not None and shape != tuple(input_shape)) or (
            num_classes is not None and card.num_classes != num_classes
        ):
            other_shape += 1
            continue
        ident = f"{lineage}@{card.sha256[:16]}"
        out.append(_card_model(card, ident, lineage, lambda lin=lineage: store.load(lin)))
    total = len(preset.lineages())
    skipped = []
    if missing:
        skipped.append(f"{missing} of its {total} models not built in {store.root}")
    if other_shape:
        want = "x".join(map(str, input_shape or ()))
        skipped.append(f"{other_shape} take other inputs or classes than the keys ({want}, {num_classes})")
    for arch, count in sorted(not_allowed.items()):
        skipped.append(f"{count} built from your class {arch}, imported only when named: add --arch {arch}")
    fix = f"`modelprint zoo build {preset.name}`" if missing else ""
    return CalibrationSet(label or f"preset {preset.name}", out, skipped, fix)


def _file_model(entry: Path, load: Callable[[Path], Classifier]) -> CalibrationModel:
    """A model file, loaded once now (its architecture is read from the loaded module)."""
    model = load(entry)
    signature = architecture_signature(model.module) if isinstance(model, TorchClassifier) else None
    return CalibrationModel(
        f"{entry.name}@{file_sha256(entry)[:16]}", entry.name, None, lambda m=model: m, signature
    )


def folder_models(
    folder: str | Path, load: Callable[[Path], Classifier], *, with_weights: bool = True
) -> CalibrationSet:
    """Every model in ``folder``: saved model folders (``card.json``), ``.pt2`` and ``.onnx`` files, and,
    when ``with_weights`` (an architecture was given), ``.safetensors`` / state-dict files. Files that
    cannot be used are counted in ``skipped`` with the reason."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelFileError(f"{folder}: no such calibration folder")
    weights = {".safetensors", *STATE_DICT_SUFFIXES}
    out: list[CalibrationModel] = []
    no_arch, other = 0, 0
    broken: list[str] = []
    for entry in sorted(folder.iterdir()):
        try:
            if entry.is_dir() and (entry / "card.json").is_file():
                card = read_card(entry)
                out.append(_card_model(card, f"{card.lineage}@{card.sha256[:16]}", entry.name,
                                       lambda e=entry: load(e)))  # fmt: skip
                continue
            if entry.is_file() and (entry.suffix.lower() in {".pt2", ".onnx"} or (
                with_weights and entry.suffix.lower() in weights
            )):  # fmt: skip
                out.append(_file_model(entry, load))
                continue
        except ModelFileError as exc:  # one broken file costs that model, not the verdict: it is said
            broken.append(str(exc).removeprefix(f"{entry}: ").split(" (")[0])
            continue
        if entry.is_file() and entry.suffix.lower() in weights:
            no_arch += 1
        elif not entry.name.startswith("."):
            other += 1
    skipped = []
    if no_arch:
        skipped.append(f"{no_arch} weights files (.safetensors/.pt) skipped: reading them needs --arch NAME")
    if other:
        skipped.append(f"{other} entries that are not models")
    if broken:
        skipped.append(f"{len(broken)} unreadable models ({'; '.join(sorted(set(broken))[:3])})")
    fix = "pass --arch NAME so the weights files are read" if no_arch else ""
    return CalibrationSet(f"folder {folder}", out, skipped, fix)


def independent_models(
    found: CalibrationSet, victims: Sequence[str], suspect: str | None = None
) -> CalibrationSet:
    """``found`` without the models that share a training root with any victim and without the suspect
    itself (both counted in ``skipped``)."""
    roots = {r for r in (_root(v) for v in victims) if r is not None}
    kept, related, itself = [], 0, 0
    for m in found.models:
        if _root(m.lineage) in roots:
            related += 1
        elif suspect and m.lineage and m.lineage == suspect:
            itself += 1
        else:
            kept.append(m)
    skipped = list(found.skipped)
    if related:
        skipped.append(f"{related} derived from the victim (same training root)")
    if itself:
        skipped.append("the suspect itself")
    return CalibrationSet(found.name, kept, skipped, found.fix, found.victim_data)


@dataclass(frozen=True)
class VictimFacts:
    """What the keys say of their victim: its architecture signature and name, and its training data
    (``dataset/split``, known only for a zoo victim)."""

    name: str
    architecture: str | None
    arch_name: str | None
    data: str | None


def victim_facts(keys: Sequence[LoadedKey]) -> VictimFacts:
    """The victim of ``keys[0]`` (every key of one verdict has the same victim)."""
    lk = keys[0]
    lineage = lineage_or_none(lk.victim)
    arch_name = arch_of(lineage) if lineage else None
    signature = lk.victim_architecture
    if signature is None and arch_name is not None and lk.num_classes is not None:
        c, h, _ = lk.input_shape
        card = ModelCard(lineage or "", arch_name, "", c, h, lk.num_classes, [0.0] * c, [1.0] * c, 0, 0.0)
        try:
            with torch.device("meta"):
                signature = architecture_signature(build_module(card))
        except (TypeError, ValueError, KeyError, RuntimeError):
            signature = None
    return VictimFacts(lk.victim, signature, arch_name, training_data(lineage))


def minimum_models(alpha: float) -> int:
    """The fewest calibration models whose smallest p-value ``1 / (n + 1)`` is at most ``alpha``."""
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"alpha must lie in (0, 1], got {alpha}")
    return max(1, math.ceil(1.0 / alpha - 1.0 - 1e-9))


@dataclass(frozen=True)
class Support:
    """What a calibration set can support for one victim at one α."""

    n: int
    needed: int
    shares_architecture: bool | None
    shares_data: bool | None
    reasons: tuple[str, ...]

    @property
    def refused(self) -> bool:
        return bool(self.reasons)


def support(cal: CalibrationSet, victim: VictimFacts, alpha: float) -> Support:
    """Refusal reasons (none: the claim is supported): too few models for ``alpha``, or neither the
    victim's architecture nor its training data among the models."""
    n, needed = len(cal.models), minimum_models(alpha)
    shares_arch = None if victim.architecture is None else any(
        m.architecture == victim.architecture for m in cal.models
    )
    victim_data = victim.data or cal.victim_data
    shares_data = None if victim_data is None else any(m.data == victim_data for m in cal.models)
    reasons = []
    if n < needed:
        reasons.append(
            f"{n} independent models can give no p-value below 1/{n + 1} = {1 / (n + 1):.3g} > alpha "
            f"{alpha:g} (at least {needed} needed)"
        )
    if not shares_arch and not shares_data:
        arch = victim.arch_name or _short(victim.architecture)
        if victim.architecture is None:
            arch = "not recorded in the key: regenerate it"
        data = victim_data or "not recorded: the victim is not a zoo model"
        reasons.append(
            f"it shares neither the victim's architecture ({arch}) nor its training data ({data}); it holds "
            + ", ".join(f"{k} ×{v}" for k, v in cal.architectures().items())
        )
    return Support(n, needed, shares_arch, shares_data, tuple(reasons))


def refusal_message(cal: CalibrationSet, sup: Support, victim: VictimFacts, alpha: float) -> str:
    """One line: why ``cal`` cannot support a verdict at ``alpha`` and what fixes it."""
    lineage = lineage_or_none(victim.name)
    if lineage is not None:
        fix = f"build a matched set with `modelprint calibrate build {victim.name}`"
    else:
        fix = (
            f"pass --calibrate DIR holding at least {sup.needed} independent models of your architecture "
            "trained on your data"
        )
    if cal.fix:
        fix = f"{cal.fix}, or {fix}"
    skipped = f" (skipped: {'; '.join(cal.skipped)})" if cal.skipped else ""
    return (
        f"{cal.name} cannot support a calibrated verdict at alpha {alpha:g}: {'; '.join(sup.reasons)}"
        f"{skipped}. Fix: {fix}; --force prints the uncalibrated scores only"
    )


def preset_holding(victims: Sequence[str]) -> Preset:
    """The registered preset (at its default dataset) whose victims include one of ``victims``."""
    from modelprint.zoo.presets import PRESETS

    wanted = {lin for lin in (lineage_or_none(v) for v in victims) if lin is not None}
    for name in PRESETS.names():
        try:
            preset = PRESETS.make(name)
        except (ValueError, KeyError):
            continue
        if wanted & {canonical(v) for v in preset.victims}:
            return preset
    raise ValueError(
        "the keys' victim is in no zoo preset: pass --calibrate PRESET (built in the workspace), --calibrate "
        "SET (from `modelprint calibrate build`) or --calibrate DIR (a folder of models independent of your "
        "victim)"
    )


def find_calibration(
    spec: str | None,
    keys: Sequence[LoadedKey],
    store: ModelStore,
    home: Path,
    load_file: Callable[[Path], Classifier],
    *,
    with_weights: bool,
) -> CalibrationSet:
    """The set ``--calibrate SPEC`` names: a folder of models, a matched set from ``calibrate build``,
    or a zoo preset built in ``store``. Without ``spec``: the matched set built for the keys' victim if
    there is one, else the preset holding the victim."""
    from modelprint.verify.matched import load_set, sets_for
    from modelprint.zoo.presets import PRESETS

    shape, classes = keys[0].input_shape, keys[0].num_classes
    if spec is not None and Path(spec).is_dir():
        return folder_models(spec, load_file, with_weights=with_weights)
    built = load_set(home, spec) if spec is not None else None
    if built is None and spec is None:
        victim = lineage_or_none(keys[0].victim) or keys[0].victim
        recorded = keys[0].key.config.get("victim_sha256")
        sha = recorded if isinstance(recorded, str) else None
        found = sets_for(home, victim, keys[0].victim_architecture, sha) if victim else []
        built = found[0] if found else None
    if built is not None:
        cal = preset_models(built.preset(), store, input_shape=shape, num_classes=classes,
                            label=f"calibration set {built.name}")  # fmt: skip
        cal.victim_data = built.victim_data
        if cal.fix:
            cal.fix = f"`modelprint calibrate build {built.victim} --name {built.name}`" + (
                "" if lineage_or_none(built.victim) else " with the --arch and --dataset it was built with"
            )
        return cal
    from modelprint.zoo.preset_files import is_preset_file, load_preset_file

    if spec is not None and is_preset_file(spec):
        file_preset = load_preset_file(spec)
        cal = preset_models(file_preset, store, input_shape=shape, num_classes=classes,
                            label=f"preset {file_preset.name} ({spec}) in {home}")  # fmt: skip
        if cal.fix:
            cal.fix = f"`modelprint zoo build {spec}`"
        return cal
    if spec is not None and spec not in PRESETS.names():
        raise ValueError(
            f"--calibrate {spec}: neither a folder, a calibration set in {home} (`modelprint calibrate "
            f"build`), nor a preset ({', '.join(PRESETS.names())})"
        )
    if spec is None:
        preset = preset_holding([k.victim for k in keys])
    else:  # on the keys' dataset: a preset's models on another dataset cannot calibrate these keys
        dataset = keys[0].key.config.get("dataset")
        factory = PRESETS.get(spec)
        preset = factory(dataset=dataset) if isinstance(dataset, str) and dataset in DATASETS else factory()
    build = f"`modelprint zoo build {preset.name} --dataset {preset.dataset}`"
    cal = preset_models(preset, store, input_shape=shape, num_classes=classes,
                        label=f"preset {preset.name} on {preset.dataset} in {home}")  # fmt: skip
    if cal.fix:
        cal.fix = build
    if not cal.models:
        why = "; ".join(cal.skipped) or "it has no models"
        raise ValueError(
            f"preset {preset.name} on {preset.dataset} gives no calibration model for the keys' "
            f"{'x'.join(map(str, shape))} inputs ({why}): build it with {build}, or build a matched set "
            "(`modelprint calibrate build VICTIM`), or pass --calibrate DIR"
        )
    return cal


__all__ = [
    "CalibrationModel",
    "CalibrationRefused",
    "CalibrationSet",
    "Support",
    "VictimFacts",
    "find_calibration",
    "folder_models",
    "independent_models",
    "minimum_models",
    "preset_holding",
    "preset_models",
    "refusal_message",
    "support",
    "training_data",
    "victim_facts",
]
