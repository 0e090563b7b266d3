"""Results out of ``results.sqlite``: one row per (victim, suspect, scheme, seed, threat) as CSV, JSON or
Parquet (Parquet only where ``pyarrow`` is installed).

Columns (:data:`COLUMNS`): ``victim``, ``suspect``, ``scheme`` (the fingerprint's label), ``config`` (its
full configuration), ``seed``, ``threat`` (``""``: clean), ``score`` (higher: more likely derived),
``queries`` (images the suspect answered), ``seconds`` (one verification), ``derived`` (the ground truth:
the suspect's lineage descends from the victim's), ``task`` (the attack, or ``independent``), ``family``
(:func:`modelprint.zoo.families.family_of`: ``derived`` or the negative's family), ``access`` (the level the
suspect was read at) and ``preset`` (the preset that first scored the pair)."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

from modelprint.results.db import ResultsDB, ScoreRecord
from modelprint.types import JSONValue, atomic_write_text
from modelprint.zoo.families import family_of
from modelprint.zoo.lineage import LineageError

COLUMNS = (
    "victim", "suspect", "scheme", "config", "seed", "threat", "score", "queries", "seconds", "derived",
    "task", "family", "access", "preset",
)  # fmt: skip
FORMATS = ("csv", "json", "parquet")


def _family(victim: str, suspect: str) -> str:
    try:
        return family_of(victim, suspect)
    except (LineageError, KeyError, ValueError):
        return "other"


def stored_records(results_path: Path, pairs: Iterable[tuple[str, str]] | None = None) -> list[ScoreRecord]:
    """Every row of the results database at ``results_path`` (only those of ``pairs`` when given)."""
    if not results_path.is_file():
        home = results_path.parent
        raise ValueError(f"no results in {home}: run `modelprint bench run PRESET -f NAME` first")
    with ResultsDB(results_path) as db:
        return db.records(pairs=None if pairs is None else list(pairs))


def export_rows(records: Sequence[ScoreRecord]) -> list[dict[str, JSONValue]]:
    """The rows of :data:`COLUMNS`, sorted by victim, suspect, scheme, seed and threat."""
    rows: list[dict[str, JSONValue]] = []
    for r in sorted(records, key=lambda r: (r.victim, r.suspect, r.fingerprint, r.seed, r.threat)):
        rows.append({
            "victim": r.victim, "suspect": r.suspect, "scheme": r.fingerprint, "config": r.config,
            "seed": r.seed, "threat": r.threat, "score": r.score if math.isfinite(r.score) else None,
            "queries": r.queries, "seconds": r.seconds, "derived": bool(r.positive), "task": r.task,
            "family": _family(r.victim, r.suspect), "access": r.access, "preset": r.preset,
        })  # fmt: skip
    return rows


def write_export(rows: list[dict[str, JSONValue]], fmt: str, out: Path | None) -> str | None:
    """Write ``rows`` to ``out`` (atomically) or return them as text (``out`` None; not for parquet)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if fmt == "parquet":
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise ValueError("parquet needs pyarrow (pip install pyarrow); csv and json do not") from None
        if out is None:
            raise ValueError("parquet is binary: give --out FILE")
        table = pa.Table.from_pylist(rows) if rows else pa.table({c: [] for c in COLUMNS})
        tmp = out.with_name(out.name + ".tmp")
        pq.write_table(table, tmp)
        tmp.replace(out)
        return None
    if fmt == "json":
        text = json.dumps(rows, indent=1) + "\n"
    else:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        text = buffer.getvalue()
    if out is None:
        return text
    atomic_write_text(out, text)
    return None


__all__ = ["COLUMNS", "FORMATS", "export_rows", "stored_records", "write_export"]
