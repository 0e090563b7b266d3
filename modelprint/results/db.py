"""Benchmark results in SQLite: one row per (fingerprint config, seed, victim, suspect, threat)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS scores (
    fingerprint TEXT NOT NULL,
    config      TEXT NOT NULL,
    seed        INTEGER NOT NULL,
    victim      TEXT NOT NULL,
    suspect     TEXT NOT NULL,
    threat      TEXT NOT NULL DEFAULT '',
    preset      TEXT NOT NULL,
    positive    INTEGER NOT NULL,
    task        TEXT NOT NULL,
    score       REAL NOT NULL,
    queries     INTEGER NOT NULL,
    seconds     REAL NOT NULL,
    access      TEXT NOT NULL,
    created     REAL NOT NULL,
    PRIMARY KEY (config, seed, victim, suspect, threat)
);
CREATE TABLE IF NOT EXISTS keys (
    fingerprint TEXT NOT NULL,
    config      TEXT NOT NULL,
    seed        INTEGER NOT NULL,
    victim      TEXT NOT NULL,
    queries     INTEGER NOT NULL,
    seconds     REAL NOT NULL,
    PRIMARY KEY (config, seed, victim)
);
CREATE TABLE IF NOT EXISTS threat_accuracy (
    preset      TEXT NOT NULL,
    threat      TEXT NOT NULL,
    model       TEXT NOT NULL,
    accuracy    REAL NOT NULL,
    images      INTEGER NOT NULL,
    PRIMARY KEY (preset, threat, model)
);
CREATE TABLE IF NOT EXISTS detection (
    preset      TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    config      TEXT NOT NULL,
    seed        INTEGER NOT NULL,
    victim      TEXT NOT NULL,
    detector    TEXT NOT NULL,
    queries     INTEGER NOT NULL,
    rate        REAL NOT NULL,
    false_positive REAL NOT NULL,
    PRIMARY KEY (preset, config, seed, victim, detector)
);
"""


def _key_fields(r: ScoreRecord) -> tuple[object, ...]:
    return (r.fingerprint, r.config, r.seed, r.victim, r.suspect, r.threat, r.preset)


def _value_fields(r: ScoreRecord) -> tuple[object, ...]:
    return (r.score, r.queries, r.seconds, r.access)


@dataclass(frozen=True)
class KeyRecord:
    """One generated key: its scheme label and config, seed, victim, query count and seconds."""

    fingerprint: str
    config: str
    seed: int
    victim: str
    queries: int
    seconds: float


@dataclass(frozen=True)
class ScoreRecord:
    """One stored score."""

    fingerprint: str
    config: str
    seed: int
    victim: str
    suspect: str
    threat: str
    preset: str
    positive: bool
    task: str
    score: float
    queries: int
    seconds: float
    access: str


@dataclass(frozen=True)
class AccuracyRecord:
    """Test accuracy of ``model`` behind deployment threat ``threat`` (``""``: clean) on ``images`` test
    images, the accuracy cost of a threat (docs/threats.md)."""

    preset: str
    threat: str
    model: str
    accuracy: float
    images: int


@dataclass(frozen=True)
class DetectionRecord:
    """How many of a key's queries a query detector flags (docs/query-detectors.md#protocol, MFUE protocol):
    ``queries`` queries mixed with as many clean samples; ``rate`` of the queries and ``false_positive`` of
    the clean ones flagged. ``detector`` is the detector's spec, fitted on the ``victim`` as deployed."""

    preset: str
    fingerprint: str
    config: str
    seed: int
    victim: str
    detector: str
    queries: int
    rate: float
    false_positive: float


#: Seconds a write waits for another process's transaction before failing (several benchmark processes may
#: share one workspace; SQLite's short default lost a long run to "database is locked").
BUSY_TIMEOUT_S = 300.0


def complete_cells(records: Sequence[ScoreRecord], pairs: Collection[tuple[str, str]]) -> list[ScoreRecord]:
    """``records`` of the (scheme, seed, threat) cells that cover every one of ``pairs``: rows another preset
    computed for only the pairs it shares are not a result of this preset until the rest are scored."""
    wanted = set(pairs)
    seen: dict[tuple[str, int, str], set[tuple[str, str]]] = {}
    for r in records:
        seen.setdefault((r.fingerprint, r.seed, r.threat), set()).add((r.victim, r.suspect))
    full = {cell for cell, got in seen.items() if wanted <= got}
    return [r for r in records if (r.fingerprint, r.seed, r.threat) in full]


class ResultsDB:
    """A small SQLite store; every insert commits, so a killed run loses at most the pair in flight.

    Several processes may write to one database at once (benchmarks of different presets or seeds in the
    same workspace): the journal is write-ahead (readers never block the writer) and a writer waits up to
    :data:`BUSY_TIMEOUT_S` for the lock."""

    def __init__(self, path: str | Path, *, timeout: float = BUSY_TIMEOUT_S) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, timeout=timeout)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.executescript(SCHEMA)
        self._conn.commit()

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> ResultsDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._conn:
            yield self._conn

    def done(self, config: str, seed: int, victim: str, threat: str = "") -> set[str]:
        """Suspects already scored for this fingerprint config, seed, victim and threat."""
        rows = self._conn.execute(
            "SELECT suspect FROM scores WHERE config=? AND seed=? AND victim=? AND threat=?",
            (config, seed, victim, threat),
        )
        return {r[0] for r in rows}

    def add(self, rec: ScoreRecord) -> None:
        self.add_many([rec])

    def add_many(self, recs: Sequence[ScoreRecord]) -> None:
        """Store rows in one transaction (a scoring task's rows land together or not at all)."""
        now = time.time()
        with self._tx() as c:
            c.executemany(
                "INSERT OR REPLACE INTO scores VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [(*_key_fields(r), int(r.positive), r.task, *_value_fields(r), now) for r in recs],
            )

    def add_key(
        self, fingerprint: str, config: str, seed: int, victim: str, queries: int, seconds: float
    ) -> None:
        with self._tx() as c:
            c.execute(
                "INSERT OR REPLACE INTO keys VALUES (?,?,?,?,?,?)",
                (fingerprint, config, seed, victim, queries, seconds),
            )

    def add_accuracy(self, rec: AccuracyRecord) -> None:
        with self._tx() as c:
            c.execute(
                "INSERT OR REPLACE INTO threat_accuracy VALUES (?,?,?,?,?)",
                (rec.preset, rec.threat, rec.model, rec.accuracy, rec.images),
            )

    def accuracies(self, *, preset: str | None = None) -> list[AccuracyRecord]:
        """Stored accuracies under threats (and clean, threat ``""``), optionally of one preset."""
        sql = "SELECT preset, threat, model, accuracy, images FROM threat_accuracy"
        args: list[str] = []
        if preset is not None:
            sql += " WHERE preset=?"
            args.append(preset)
        sql += " ORDER BY preset, threat, model"
        return [AccuracyRecord(r[0], r[1], r[2], r[3], r[4]) for r in self._conn.execute(sql, args)]

    def add_detection(self, rec: DetectionRecord) -> None:
        with self._tx() as c:
            c.execute(
                "INSERT OR REPLACE INTO detection VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    rec.preset,
                    rec.fingerprint,
                    rec.config,
                    rec.seed,
                    rec.victim,
                    rec.detector,
                    rec.queries,
                    rec.rate,
                    rec.false_positive,
                ),
            )

    def detections(self, *, preset: str | None = None) -> list[DetectionRecord]:
        """Stored detection rates of fingerprint queries, optionally of one preset."""
        sql = (
            "SELECT preset, fingerprint, config, seed, victim, detector, queries, rate, false_positive "
            "FROM detection"
        )
        args: list[str] = []
        if preset is not None:
            sql += " WHERE preset=?"
            args.append(preset)
        sql += " ORDER BY preset, fingerprint, detector, seed, victim"
        return [DetectionRecord(*r) for r in self._conn.execute(sql, args)]

    def records(
        self,
        *,
        preset: str | None = None,
        fingerprints: list[str] | None = None,
        threat: str | None = None,
        pairs: Collection[tuple[str, str]] | None = None,
    ) -> list[ScoreRecord]:
        """Stored scores, optionally of some fingerprint labels and one threat (``""``: clean), and of one
        preset: by its ``pairs`` (victim, suspect) when given — a score belongs to its pair, whichever preset
        first computed it — else by the preset name each row was tagged with."""
        sql = (
            "SELECT fingerprint, config, seed, victim, suspect, threat, preset, positive, task, score, "
            "queries, seconds, access FROM scores"
        )
        where, args = [], []
        if preset is not None and pairs is None:
            where.append("preset=?")
            args.append(preset)
        if fingerprints:
            where.append(f"fingerprint IN ({','.join('?' * len(fingerprints))})")
            args += fingerprints
        if threat is not None:
            where.append("threat=?")
            args.append(threat)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY fingerprint, threat, seed, victim, suspect"
        wanted = None if pairs is None else set(pairs)
        return [
            ScoreRecord(r[0], r[1], r[2], r[3], r[4], r[5], r[6], bool(r[7]), r[8], r[9], r[10], r[11], r[12])
            for r in self._conn.execute(sql, args)
            if wanted is None or (r[3], r[4]) in wanted
        ]

    def key_records(self) -> list[KeyRecord]:
        """Every stored key's query count and generation seconds."""
        sql = "SELECT fingerprint, config, seed, victim, queries, seconds FROM keys ORDER BY config, seed"
        return [KeyRecord(*r) for r in self._conn.execute(sql)]

    def count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM scores").fetchone()[0])
