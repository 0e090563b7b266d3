"""Verify a real suspect: score it with one or more saved keys and calibrate the verdict on independent
models (:mod:`modelprint.calibration`).

Generation sees the white-box victim (:meth:`Fingerprint.generate`); here the suspect is a black box: a
local file (:func:`modelprint.models.formats.load_classifier`) wrapped at the scheme's access level under
one query budget shared by every key, or a :class:`~modelprint.serving.RemoteClassifier` that counts (and
journals) its own queries. The calibration set is the models of a zoo preset built in the workspace, or a
folder of models, minus every model that shares its training root with a key's victim (a victim's own
fine-tunes and prunes are not independent of it) and minus the suspect itself."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

import modelprint.fingerprints  # noqa: F401  (registers the fingerprints)
from modelprint.calibration import (
    ScoreCache,
    combined_statistics,
    conformal_p_value,
    fpr_threshold,
    key_digest,
)
from modelprint.data import DATASETS, Dataset, load_dataset
from modelprint.fingerprints.base import Fingerprint, parse_fingerprint
from modelprint.models.access import QueryBudget, Suspect, require
from modelprint.models.base import Classifier
from modelprint.models.formats import STATE_DICT_SUFFIXES, is_url, load_classifier
from modelprint.models.io import ModelFileError, file_sha256, load_model, read_card, save_model
from modelprint.serving.protocol import AccessSpec
from modelprint.serving.remote import RemoteClassifier
from modelprint.types import JSONValue, Key, Output
from modelprint.zoo.lineage import LineageError, canonical, parse_lineage
from modelprint.zoo.presets import Preset
from modelprint.zoo.store import ModelStore

log = logging.getLogger(__name__)

Decision = Literal["derived", "independent"]


@dataclass(frozen=True)
class LoadedKey:
    """A saved key with the fingerprint that made it and its content hash."""

    path: str
    key: Key
    fingerprint: Fingerprint
    digest: str

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.key.queries.inputs.shape[1:])

    @property
    def num_classes(self) -> int | None:
        value = self.key.config.get("num_classes")
        return int(value) if isinstance(value, int) else None

    @property
    def victim(self) -> str:
        return str(self.key.config.get("victim") or "")


def load_key(path: str | Path) -> LoadedKey:
    """``Key.load`` plus the fingerprint rebuilt from the key's scheme spec; clear errors for a missing or
    foreign folder."""
    directory = Path(path)
    if not (directory / "key.json").is_file() or not (directory / "key.safetensors").is_file():
        raise ModelFileError(f"{directory}: not a saved key (needs key.json and key.safetensors)")
    try:
        key = Key.load(directory)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelFileError(f"{directory}: unreadable key ({exc})") from None
    return LoadedKey(str(directory), key, parse_fingerprint(key.scheme), key_digest(directory))


@dataclass(frozen=True)
class CalibrationModel:
    """One independent model: ``ident`` names it in the score cache (lineage or path + content hash)."""

    ident: str
    name: str
    lineage: str | None
    load: Callable[[], Classifier]


def _root(lineage: str | None) -> str | None:
    """The training step a lineage starts from, or None for a name that is not a lineage."""
    if not lineage:
        return None
    try:
        return str(parse_lineage(lineage)[0])
    except LineageError:
        return None


def preset_models(
    preset: Preset,
    store: ModelStore,
    *,
    input_shape: Sequence[int] | None = None,
    num_classes: int | None = None,
) -> list[CalibrationModel]:
    """Every model of ``preset`` already built (and intact) in ``store`` whose card says it takes
    ``input_shape`` images and ``num_classes`` classes (when given)."""
    out = []
    for lineage in preset.lineages():
        if not store.is_valid(lineage):
            continue
        card = store.card(lineage)
        if input_shape is not None and (card.in_channels, card.image_size, card.image_size) != tuple(
            input_shape
        ):
            continue
        if num_classes is not None and card.num_classes != num_classes:
            continue
        out.append(
            CalibrationModel(
                f"{lineage}@{card.sha256[:16]}", lineage, lineage, lambda lin=lineage: store.load(lin)
            )
        )
    return out


def folder_models(
    folder: str | Path, load: Callable[[Path], Classifier], *, with_weights: bool = True
) -> list[CalibrationModel]:
    """Every model in ``folder``: saved model folders (``card.json``), ``.pt2`` and ``.onnx`` files, and,
    when ``with_weights`` (an architecture was given), ``.safetensors`` / state-dict files."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelFileError(f"{folder}: no such calibration folder")
    suffixes = {".pt2", ".onnx"} | ({".safetensors", *STATE_DICT_SUFFIXES} if with_weights else set())
    out = []
    for entry in sorted(folder.iterdir()):
        if entry.is_dir() and (entry / "card.json").is_file():
            card = read_card(entry)
            ident, lineage = f"{card.lineage}@{card.sha256[:16]}", card.lineage
        elif entry.is_file() and entry.suffix.lower() in suffixes:
            ident, lineage = f"{entry.name}@{file_sha256(entry)[:16]}", None
        else:
            continue
        out.append(CalibrationModel(ident, entry.name, lineage, lambda e=entry: load(e)))
    return out


def infer_preset(victims: Sequence[str]) -> Preset:
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
        "the keys' victim is in no zoo preset: pass --calibrate PRESET (built in the workspace) or "
        "--calibrate DIR (a folder of models independent of your victim)"
    )


def independent_models(
    models: Sequence[CalibrationModel], victims: Sequence[str], suspect: str | None = None
) -> tuple[list[CalibrationModel], int]:
    """The models that share no training root with any victim and are not the suspect itself, and how
    many were left out."""
    roots = {r for r in (_root(v) for v in victims) if r is not None}
    kept = [
        m
        for m in models
        if _root(m.lineage) not in roots and not (suspect and m.lineage and m.lineage == suspect)
    ]
    return kept, len(models) - len(kept)


@dataclass
class KeyResult:
    """One key's score on the suspect, calibrated on its own."""

    key: str
    scheme: str
    needs: Output
    score: float
    p_value: float
    threshold: float
    flagged: bool
    queries: int
    calibration_scores: list[float] = field(default_factory=list)


@dataclass
class Verdict:
    """The calibrated answer of ``modelprint verify``. ``statistic`` is the key's score (one key) or the
    Fisher statistic over the keys' conformal p-values (several keys, calibrated again: see
    :mod:`modelprint.calibration`); ``decision`` is ``derived`` when ``statistic > threshold``."""

    suspect: str
    access: str
    alpha: float
    calibration: str
    n_independent: int
    keys: list[KeyResult]
    combination: str
    statistic: float
    p_value: float
    threshold: float
    decision: Decision
    queries: int
    queries_replayed: int
    seconds: float
    calibration_seconds: float
    calibration_cached: int
    notes: list[str] = field(default_factory=list)

    @property
    def min_p_value(self) -> float:
        """The smallest p-value ``n_independent`` models can give: ``1 / (1 + n)``."""
        return 1.0 / (1 + self.n_independent)

    def to_json(self) -> dict[str, JSONValue]:
        """One JSON-safe object (non-finite numbers become ``null``)."""

        def clean(value: object) -> JSONValue:
            if isinstance(value, float):
                return value if math.isfinite(value) else None
            if isinstance(value, dict):
                return {str(k): clean(v) for k, v in value.items()}
            if isinstance(value, list | tuple):
                return [clean(v) for v in value]
            return value  # type: ignore[return-value]

        body = asdict(self)
        for result in body["keys"]:
            result.pop("calibration_scores")
        body["min_p_value"] = self.min_p_value
        return clean(body)  # type: ignore[return-value]


def lineage_or_none(text: str) -> str | None:
    """``text`` in canonical spelling when it is a lineage id, else None."""
    try:
        return canonical(text)
    except LineageError:
        return None


def resolve_model(
    spec: str,
    store: ModelStore | None = None,
    *,
    input_shape: Sequence[int] | None = None,
    num_classes: int | None = None,
    arch: str | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    allow_pickle: bool = False,
    access: str | None = None,
    token: str | None = None,
    budget: int | None = None,
    journal: str | Path | None = None,
    rate_limit: float | None = None,
) -> Classifier:
    """A model from a lineage built in ``store`` or anything :func:`load_classifier` reads (file, saved
    folder, URL, with its options), checked against ``input_shape`` and ``num_classes``."""
    lineage = None if is_url(spec) or Path(spec).exists() else lineage_or_none(spec)
    if lineage is not None and store is not None:
        if not store.is_valid(lineage):
            raise ModelFileError(
                f"{spec!r} is not built in {store.root}: build it with `modelprint zoo build PRESET`"
            )
        model = store.load(lineage)
        if input_shape is not None and model.input_shape != tuple(input_shape):
            raise ModelFileError(f"{lineage} takes {model.input_shape} inputs, expected {tuple(input_shape)}")
        if num_classes is not None and model.num_classes != num_classes:
            raise ModelFileError(f"{lineage} outputs {model.num_classes} classes, expected {num_classes}")
        return model
    return load_classifier(
        spec, input_shape=input_shape, num_classes=num_classes, arch=arch, mean=mean, std=std,
        allow_pickle=allow_pickle, access=access, token=token, budget=budget, journal=journal,
        rate_limit=rate_limit,
    )  # fmt: skip


def seed_data(text: str, split: str | None = None, root: str | None = None) -> Dataset:
    """The seed set of ``fingerprint generate``: a dataset name (default split ``test``, like the
    benchmark), an ``.npz`` file or an image folder (default split ``all``)."""
    if text in DATASETS:
        return load_dataset(text, split or "test", root=root)
    path = Path(text)
    if path.is_file() and path.suffix.lower() == ".npz":
        return load_dataset("npz", split or "all", root=path)
    if path.is_dir():
        return load_dataset("imagefolder", split or "all", root=path)
    raise ValueError(
        f"{text!r} is neither a dataset ({', '.join(DATASETS.names())}) nor an .npz file or image folder"
    )


def pool_victim(spec: str, store: ModelStore) -> str:
    """The zoo lineage of a victim, as pool building needs it (the pool derives models from the victim):
    a lineage built in ``store``, or a saved model folder whose card names one (imported into ``store``)."""
    lineage = lineage_or_none(spec) if not Path(spec).exists() else None
    if lineage is not None and store.is_valid(lineage):
        return lineage
    folder = Path(spec)
    if folder.is_dir() and (folder / "card.json").is_file():
        card = read_card(folder)
        lineage = lineage_or_none(card.lineage)
        if lineage is not None:
            if not store.is_valid(lineage):
                model = load_model(folder)
                save_model(model.module, card, store.path(lineage))
            return lineage
    raise ValueError(
        f"pool-based schemes derive owner-side models from the victim, so the victim must be a zoo model: "
        f"a lineage built in {store.root} or a saved model folder whose card names its lineage "
        f"({spec!r} is neither)"
    )


def _topk_k(fp: Fingerprint, spec: AccessSpec | None, num_classes: int) -> int:
    if spec is not None and spec.k is not None:
        return spec.k
    k = getattr(fp.representation, "k", 5)
    return min(int(k) if isinstance(k, int) else 5, num_classes)


def _wrap(
    model: Classifier, fp: Fingerprint, spec: AccessSpec | None, budget: QueryBudget | None
) -> Classifier:
    """The model at the access level the verification reads: ``spec`` if given, else the scheme's least."""
    level: Output = spec.output if spec is not None else fp.needs
    require(level, fp.needs, who=f"{fp.name} (access '{spec or level}')")
    suspect = Suspect(model, access=level, k=_topk_k(fp, spec, model.num_classes))
    if budget is not None:
        suspect.budget = budget
    return suspect


def check_keys(keys: Sequence[LoadedKey]) -> tuple[tuple[int, ...], int | None]:
    """The input shape and class count every key agrees on."""
    if not keys:
        raise ValueError("give at least one key")
    shapes = {k.input_shape for k in keys}
    classes = {k.num_classes for k in keys}
    if len(shapes) > 1 or len(classes) > 1:
        raise ValueError(f"the keys disagree on the input shape {shapes} or class count {classes}")
    return shapes.pop(), classes.pop()


def calibration_scores(
    keys: Sequence[LoadedKey],
    models: Sequence[CalibrationModel],
    cache_root: Path | None,
    spec: AccessSpec | None = None,
) -> tuple[np.ndarray, int]:
    """Scores (models × keys) of every calibration model, from the cache where present; and how many came
    from it. Models are loaded lazily, once, and only when a score is missing."""
    shape, classes = check_keys(keys)
    table = np.empty((len(models), len(keys)))
    loaded: dict[str, Classifier] = {}
    cached = 0
    for j, lk in enumerate(keys):
        fp = lk.fingerprint
        level = fp.needs  # calibration models answer at the scheme's least level (top-k: the suspect's k)
        at = AccessSpec(level, _topk_k(fp, spec, classes or 1) if level == "topk" else None)
        tag = str(at)
        cache = ScoreCache(cache_root, lk.digest, scheme=fp.name) if cache_root is not None else None
        fresh = False
        for i, m in enumerate(models):
            ident = f"{m.ident}|{tag}"
            hit = cache.get(ident) if cache is not None else None
            if hit is not None:
                table[i, j] = hit
                cached += 1
                continue
            if m.ident not in loaded:
                loaded[m.ident] = m.load()
            model = loaded[m.ident]
            if tuple(getattr(model, "input_shape", shape)) != shape or model.num_classes != classes:
                raise ModelFileError(
                    f"calibration model {m.name} takes {getattr(model, 'input_shape', '?')} inputs with "
                    f"{model.num_classes} classes; the keys need {shape} and {classes}"
                )
            table[i, j] = fp.verify(lk.key, _wrap(model, fp, at, None))
            fresh = True
            if cache is not None:
                cache.put(ident, float(table[i, j]))
        if cache is not None and fresh:
            cache.save()
    return table, cached


def verify_suspect(
    keys: Sequence[LoadedKey],
    suspect: Classifier,
    models: Sequence[CalibrationModel],
    *,
    alpha: float = 0.05,
    access: AccessSpec | None = None,
    budget: int | None = None,
    calibration: str = "",
    cache_root: Path | None = None,
    suspect_name: str = "",
) -> Verdict:
    """Score ``suspect`` with every key and calibrate the verdict on ``models`` (see the module docstring).

    A local suspect is wrapped at ``access`` (default: each scheme's least level) under one ``budget``
    shared by every key; a :class:`RemoteClassifier` keeps its own budget and access level. Raises
    ``AccessError`` when the suspect gives less than a scheme needs, ``BudgetExhausted`` before a batch
    that would exceed the budget, and ``ValueError`` when there is no independent model to calibrate on."""
    if not models:
        raise ValueError(
            f"no independent models to calibrate against in {calibration or 'the calibration set'}"
        )
    shape, classes = check_keys(keys)
    if tuple(getattr(suspect, "input_shape", shape)) != shape:
        raise ValueError(
            f"the suspect takes {getattr(suspect, 'input_shape', '?')} inputs; the keys hold {shape}"
        )
    if classes is not None and suspect.num_classes != classes:
        raise ValueError(
            f"the suspect answers for {suspect.num_classes} classes; the keys' victim has {classes}"
        )
    remote = suspect if isinstance(suspect, RemoteClassifier) else None
    shared = QueryBudget(budget)
    for lk in keys:  # refuse before spending anything
        require(suspect.output if access is None or remote else access.output, lk.fingerprint.needs,
                who=f"{lk.fingerprint.name}")  # fmt: skip
    results: list[KeyResult] = []
    t0 = time.perf_counter()
    for lk in keys:
        fp = lk.fingerprint
        before = remote.queries_spent if remote is not None else shared.spent
        target = suspect if remote is not None else _wrap(suspect, fp, access, shared)
        score = fp.verify(lk.key, target)
        spent = (remote.queries_spent if remote is not None else shared.spent) - before
        results.append(KeyResult(lk.path, fp.name, fp.needs, float(score), 0.0, 0.0, False, spent))
    seconds = time.perf_counter() - t0

    t1 = time.perf_counter()
    table, cached = calibration_scores(keys, models, cache_root, access)
    calibration_seconds = time.perf_counter() - t1
    n = len(models)
    for j, r in enumerate(results):
        column = table[:, j]
        r.calibration_scores = [float(c) for c in column]
        r.p_value = conformal_p_value(r.score, column)
        r.threshold = fpr_threshold(column, alpha)
        r.flagged = r.score > r.threshold
    if len(results) == 1:
        combination, statistic = "single key", results[0].score
        p_value, threshold = results[0].p_value, results[0].threshold
    else:
        combination = "fisher over per-key conformal p-values, calibrated again on the same models"
        statistic, stats = combined_statistics([r.score for r in results], table)
        p_value, threshold = conformal_p_value(statistic, stats), fpr_threshold(stats, alpha)
    notes = []
    if 1.0 / (1 + n) > alpha:
        notes.append(
            f"with {n} independent models the smallest attainable p-value is 1/{n + 1} = {1 / (n + 1):.3g} "
            f"> alpha {alpha:g}: the decision is at the threshold, the p-value cannot confirm it; "
            "calibrate on more independent models"
        )
    if remote is not None:
        queries, replayed, level = remote.queries_spent, remote.images_replayed, str(remote.spec)
        if replayed and remote.journal is not None:
            notes.append(
                f"{replayed} images answered without sending them: repeats within a key, or answers already "
                f"in the journal {remote.journal.directory} (one journal per suspect: use --no-journal or "
                "another --journal if this URL now serves another model)"
            )
    else:
        queries, replayed = shared.spent, 0
        level = str(access) if access is not None else ", ".join(dict.fromkeys(r.needs for r in results))
    return Verdict(
        suspect=suspect_name or repr(suspect), access=level, alpha=alpha, calibration=calibration,
        n_independent=n, keys=results, combination=combination, statistic=float(statistic),
        p_value=float(p_value), threshold=float(threshold),
        decision="derived" if statistic > threshold else "independent", queries=queries,
        queries_replayed=replayed, seconds=seconds, calibration_seconds=calibration_seconds,
        calibration_cached=cached, notes=notes,
    )  # fmt: skip


def format_verdict(v: Verdict) -> str:
    """The human-readable report of ``modelprint verify``."""

    def num(x: float) -> str:
        return f"{x:.4f}" if math.isfinite(x) else ("-inf" if x < 0 else "inf")

    lines = [f"suspect {v.suspect} ({v.access} access)"]
    for r in v.keys:
        mark = "derived" if r.flagged else "independent"
        lines.append(
            f"  {r.scheme:<12} score {num(r.score)}  threshold {num(r.threshold)}  p-value {r.p_value:.4g}  "
            f"{mark}  ({r.queries} queries, key {r.key})"
        )
    what = "score" if len(v.keys) == 1 else "Fisher statistic"
    relation = ">" if v.decision == "derived" else "<="
    lines.append(
        f"verdict: {v.decision.upper()} — {what} {num(v.statistic)} {relation} threshold {num(v.threshold)} "
        f"(the smallest with false-positive rate <= {v.alpha:g} on the calibration set)"
    )
    lines.append(
        f"calibrated false-positive rate (conformal p-value): {v.p_value:.4g} = (1 + #independent scoring "
        f"at least as high) / (1 + {v.n_independent}), from {v.n_independent} independent models of "
        f"{v.calibration}"
    )
    if len(v.keys) > 1:
        lines.append(f"combination: {v.combination}")
    lines.append(
        f"queries: {v.queries}"
        + (
            f" (+{v.queries_replayed} answered without sending: repeats or journal)"
            if v.queries_replayed
            else ""
        )
        + f"; time {v.seconds:.2f} s (calibration {v.calibration_seconds:.2f} s, "
        f"{v.calibration_cached} of {v.n_independent * len(v.keys)} scores cached)"
    )
    lines += [f"note: {n}" for n in v.notes]
    return "\n".join(lines)


__all__ = [
    "CalibrationModel",
    "KeyResult",
    "LoadedKey",
    "Verdict",
    "calibration_scores",
    "check_keys",
    "folder_models",
    "format_verdict",
    "independent_models",
    "infer_preset",
    "lineage_or_none",
    "load_key",
    "pool_victim",
    "preset_models",
    "resolve_model",
    "seed_data",
    "verify_suspect",
]
