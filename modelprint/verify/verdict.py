"""The verdict of ``modelprint verify``: score a suspect with every key, calibrate on independent models,
decide by one rule.

Generation sees the white-box victim (:meth:`Fingerprint.generate`); here the suspect is any
:class:`~modelprint.models.base.Classifier` (a local file, a zoo model, a remote API), read at each
scheme's access level; it declares its input shape and the images it has been sent, so the verdict reads
both the same way from every kind of suspect. Each key's p-value is conformal over the calibration
models (:mod:`modelprint.calibration`); several keys are combined by Fisher's statistic over those
p-values, calibrated again on the same models. **The decision is ``p <= alpha`` for the p-value that is
printed**, per key and for the combination; the printed threshold is the score that rule needs."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from tqdm.auto import tqdm

from modelprint.calibration import (
    ScoreCache,
    combined_statistics,
    conformal_p_value,
    p_value_threshold,
)
from modelprint.fingerprints.base import Fingerprint
from modelprint.models.access import BudgetExhausted, Suspect, require
from modelprint.models.base import Classifier
from modelprint.models.io import ModelFileError
from modelprint.serving.protocol import AccessSpec
from modelprint.types import JSONValue, Output
from modelprint.verify.calibration_sets import (
    CalibrationModel,
    CalibrationRefused,
    CalibrationSet,
    refusal_message,
    support,
    victim_facts,
)
from modelprint.verify.keys import LoadedKey, check_keys

Decision = Literal["derived", "independent", "uncalibrated"]


@dataclass
class KeyResult:
    """One key's score on the suspect, calibrated on its own (``flagged`` is ``p_value <= alpha``)."""

    key: str
    scheme: str
    needs: Output
    score: float
    queries: int
    p_value: float = math.nan
    threshold: float = math.nan
    flagged: bool = False
    calibration_scores: list[float] = field(default_factory=list)


@dataclass
class Verdict:
    """The answer of ``modelprint verify``. ``statistic`` is the key's score (one key) or the Fisher
    statistic (several keys); ``decision`` is ``derived`` exactly when ``p_value <= alpha``, and
    ``uncalibrated`` when the calibration was refused and the scores are printed alone (``--force``)."""

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
    architectures: dict[str, int] = field(default_factory=dict)
    datasets: dict[str, int] = field(default_factory=dict)
    shares_architecture: bool | None = None
    shares_data: bool | None = None
    skipped: list[str] = field(default_factory=list)
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


def _topk_k(fp: Fingerprint, spec: AccessSpec | None, num_classes: int) -> int:
    if spec is not None and spec.k is not None:
        return spec.k
    k = getattr(fp.representation, "k", 5)
    return min(int(k) if isinstance(k, int) else 5, num_classes)


def _level(fp: Fingerprint, access: AccessSpec | None) -> Output:
    """The level a key reads the suspect at: ``access`` if given, else the scheme's least."""
    return access.output if access is not None else fp.needs


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
    # a bar on a terminal only (tqdm's disable=None): calibrating a fresh set scores every model
    total = len(models) * len(keys)
    with tqdm(total=total, desc="calibration", unit="score", disable=None, leave=False) as bar:
        cached = _score_calibration(keys, models, cache_root, spec, table, loaded, bar, shape, classes)
    return table, cached


def _score_calibration(
    keys: Sequence[LoadedKey],
    models: Sequence[CalibrationModel],
    cache_root: Path | None,
    spec: AccessSpec | None,
    table: np.ndarray,
    loaded: dict[str, Classifier],
    bar: tqdm,
    shape: tuple[int, ...],
    classes: int | None,
) -> int:
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
            bar.update()
            if hit is not None:
                table[i, j] = hit
                cached += 1
                continue
            if m.ident not in loaded:
                loaded[m.ident] = m.load()
            model = loaded[m.ident]
            if tuple(model.input_shape) != shape or model.num_classes != classes:
                raise ModelFileError(
                    f"calibration model {m.name} takes {model.input_shape} inputs with {model.num_classes} "
                    f"classes; the keys need {shape} and {classes}"
                )
            table[i, j] = fp.verify(lk.key, Suspect(model, access=level, k=at.k or 5))
            fresh = True
            if cache is not None:
                cache.put(ident, float(table[i, j]))
        if cache is not None and fresh:
            cache.save()
    return cached


def check_suspect(keys: Sequence[LoadedKey], suspect: Classifier, access: AccessSpec | None) -> None:
    """Refuse, before anything is sent, a suspect of the wrong input shape or class count, or one that
    gives less than a scheme needs (``AccessError``)."""
    shape, classes = check_keys(keys)
    if tuple(suspect.input_shape) != shape:
        raise ValueError(f"the suspect takes {suspect.input_shape} inputs; the keys hold {shape}")
    if classes is not None and suspect.num_classes != classes:
        raise ValueError(
            f"the suspect answers for {suspect.num_classes} classes; the keys' victim has {classes}"
        )
    for lk in keys:
        fp = lk.fingerprint
        require(suspect.output, _level(fp, access), who=f"{fp.name} (access '{access or fp.needs}')")
        require(_level(fp, access), fp.needs, who=f"{fp.name} (access '{access or fp.needs}')")


def score_suspect(
    keys: Sequence[LoadedKey],
    suspect: Classifier,
    *,
    access: AccessSpec | None = None,
    budget: int | None = None,
) -> tuple[list[KeyResult], list[str], float]:
    """Every key's score on ``suspect`` (uncalibrated), the keys left unscored (one line each: which and
    why) and the seconds it took. Each key reads the suspect at ``access`` (default: the scheme's least
    level); ``budget`` caps the images all keys together send to the suspect object. A suspect that gives
    less than a scheme needs is refused before anything is sent (``AccessError``); a budget that runs out
    stops the keys from that one on, and the keys already scored are kept. When not even the first key
    could be scored, ``BudgetExhausted`` is raised."""
    check_suspect(keys, suspect, access)
    meter = suspect if budget is None else Suspect(suspect, access=suspect.output, budget=budget)
    results: list[KeyResult] = []
    unscored: list[str] = []
    t0 = time.perf_counter()
    for lk in keys:
        fp = lk.fingerprint
        if unscored:
            unscored.append(f"{lk.path} ({fp.name}): not scored, the query budget was spent")
            continue
        before = suspect.queries_spent
        view = Suspect(meter, access=_level(fp, access), k=_topk_k(fp, access, suspect.num_classes))
        try:
            score = fp.verify(lk.key, view)
        except BudgetExhausted as exc:
            if not results:
                raise
            unscored.append(f"{lk.path} ({fp.name}): not scored, {exc}")
            continue
        results.append(KeyResult(lk.path, fp.name, fp.needs, float(score), suspect.queries_spent - before))
    return results, unscored, time.perf_counter() - t0


def verify_suspect(
    keys: Sequence[LoadedKey],
    suspect: Classifier,
    calibration: CalibrationSet,
    *,
    alpha: float = 0.05,
    access: AccessSpec | None = None,
    budget: int | None = None,
    cache_root: Path | None = None,
    suspect_name: str = "",
    force: bool = False,
) -> Verdict:
    """Score ``suspect`` with every key and calibrate the verdict on ``calibration`` (module docstring).

    Raises :class:`CalibrationRefused` (before anything is sent) when the set cannot support a verdict
    at ``alpha`` (:func:`~modelprint.verify.calibration_sets.support`); with ``force`` the scores are
    returned uncalibrated instead (decision ``uncalibrated``)."""
    check_suspect(keys, suspect, access)
    victim = victim_facts(keys)
    sup = support(calibration, victim, alpha)
    if sup.refused and not force:
        raise CalibrationRefused(refusal_message(calibration, sup, victim, alpha))
    spent0 = suspect.queries_spent
    results, unscored, seconds = score_suspect(keys, suspect, access=access, budget=budget)
    scored = [lk for lk in keys if any(r.key == lk.path for r in results)]
    replayed = int(getattr(suspect, "images_replayed", 0))
    level = str(access) if access is not None else ", ".join(dict.fromkeys(r.needs for r in results))
    notes = [f"{line}; the verdict is over the {len(results)} keys scored" for line in unscored]
    if replayed:
        notes.append(
            f"{replayed} images answered without sending them: repeats within a key, or answers already in "
            "the journal (one journal per suspect: use --no-journal or another --journal if this URL now "
            "serves another model)"
        )
    common = dict(
        suspect=suspect_name or repr(suspect), access=level, alpha=alpha, calibration=calibration.name,
        n_independent=len(calibration.models), keys=results, queries=suspect.queries_spent - spent0,
        queries_replayed=replayed, seconds=seconds, architectures=calibration.architectures(),
        datasets=calibration.datasets(), shares_architecture=sup.shares_architecture,
        shares_data=sup.shares_data, skipped=list(calibration.skipped),
    )  # fmt: skip
    if sup.refused:
        notes = [f"uncalibrated (--force): {r}" for r in sup.reasons] + notes
        stat = results[0].score if len(results) == 1 else math.nan
        return Verdict(**common, combination="none (uncalibrated)", statistic=stat, p_value=math.nan,  # type: ignore[arg-type]
                       threshold=math.nan, decision="uncalibrated", calibration_seconds=0.0,
                       calibration_cached=0, notes=notes)  # fmt: skip

    t1 = time.perf_counter()
    table, cached = calibration_scores(scored, calibration.models, cache_root, access)
    calibration_seconds = time.perf_counter() - t1
    for j, r in enumerate(results):
        column = table[:, j]
        r.calibration_scores = [float(c) for c in column]
        r.p_value = conformal_p_value(r.score, column)
        r.threshold = p_value_threshold(column, alpha)
        r.flagged = r.p_value <= alpha
    if len(results) == 1:
        combination, statistic = "single key", results[0].score
        p_value, threshold = results[0].p_value, results[0].threshold
    else:
        combination = "fisher over per-key conformal p-values, calibrated again on the same models"
        statistic, stats = combined_statistics([r.score for r in results], table)
        p_value, threshold = conformal_p_value(statistic, stats), p_value_threshold(stats, alpha)
    return Verdict(
        **common, combination=combination, statistic=float(statistic), p_value=float(p_value),  # type: ignore[arg-type]
        threshold=float(threshold), decision="derived" if p_value <= alpha else "independent",
        calibration_seconds=calibration_seconds, calibration_cached=cached, notes=notes,
    )  # fmt: skip


def _num(x: float) -> str:
    if math.isnan(x):
        return "-"
    return f"{x:.4f}" if math.isfinite(x) else ("-inf" if x < 0 else "inf")


def _yes(value: bool | None) -> str:
    return "unknown" if value is None else ("yes" if value else "no")


def format_verdict(v: Verdict) -> str:
    """The human-readable report of ``modelprint verify``."""
    lines = [f"suspect {v.suspect} ({v.access} access)"]
    for r in v.keys:
        if v.decision == "uncalibrated":
            lines.append(f"  {r.scheme:<12} score {_num(r.score)}  ({r.queries} queries, key {r.key})")
            continue
        mark = "derived" if r.flagged else "independent"
        lines.append(
            f"  {r.scheme:<12} score {_num(r.score)}  p-value {r.p_value:.4g}  {mark}  (p <= {v.alpha:g} "
            f"needs a score above {_num(r.threshold)}; {r.queries} queries, key {r.key})"
        )
    if v.decision == "uncalibrated":
        lines.append("verdict: UNCALIBRATED — the scores above are not calibrated; no decision is made")
    else:
        what = "score" if len(v.keys) == 1 else "Fisher statistic"
        relation = "<=" if v.decision == "derived" else ">"
        lines.append(
            f"verdict: {v.decision.upper()} — p-value {v.p_value:.4g} {relation} alpha {v.alpha:g} "
            f"({what} {_num(v.statistic)}; p = (1 + #independent scoring at least as high) / "
            f"(1 + {v.n_independent}))"
        )
        if len(v.keys) > 1:
            lines.append(f"combination: {v.combination}")
    archs = ", ".join(f"{k} ×{n}" for k, n in v.architectures.items()) or "none"
    data = ", ".join(f"{k} ×{n}" for k, n in v.datasets.items()) or "none"
    lines.append(
        f"calibration: {v.calibration}: {v.n_independent} independent models ({archs}; trained on {data}); "
        f"the victim's architecture among them: {_yes(v.shares_architecture)}, its training data: "
        f"{_yes(v.shares_data)}"
    )
    if v.skipped:
        lines.append(f"skipped: {'; '.join(v.skipped)}")
    lines.append(
        f"queries: {v.queries}"
        + (f" (+{v.queries_replayed} answered without sending)" if v.queries_replayed else "")
        + f"; time {v.seconds:.2f} s (calibration {v.calibration_seconds:.2f} s, "
        f"{v.calibration_cached} of {v.n_independent * len(v.keys)} scores cached)"
    )
    lines += [f"note: {n}" for n in v.notes]
    return "\n".join(lines)


__all__ = [
    "CalibrationRefused",
    "KeyResult",
    "Verdict",
    "calibration_scores",
    "check_suspect",
    "format_verdict",
    "score_suspect",
    "verify_suspect",
]
