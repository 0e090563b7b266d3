"""Stealthiness benchmark (docs/query-detectors.md): how many of each scheme's queries the query detectors of
:mod:`modelprint.threats.detection` flag, under the MFUE protocol, stored in the results database.

Each victim is taken as the deployed model (a stolen copy served as is); the detectors are fitted on it
and on the deployer's clean data (the attacker's half: the thief deploys), and the clean samples mixed
with the queries are test images, which no detector was fitted on. Keys are the benchmark's own
(:class:`~modelprint.keys.KeyStore`), so a key made here or by ``bench run`` serves both."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from modelprint.attacks import AttackContext
from modelprint.fingerprints.base import Fingerprint
from modelprint.keys import KeyMaker, KeyStore
from modelprint.pools import check_disjoint
from modelprint.results import DetectionRecord, ResultsDB
from modelprint.threats.detection import QueryDetector, detection_rates, fit_cached
from modelprint.zoo.executors import Executor
from modelprint.zoo.presets import Preset
from modelprint.zoo.store import ModelStore

__all__ = ["DetectionStats", "run_detection"]

log = logging.getLogger(__name__)


@dataclass
class DetectionStats:
    measured: int = 0
    skipped: int = 0
    keys_generated: int = 0
    seconds: float = 0.0


def run_detection(
    preset: Preset,
    fingerprints: Sequence[Fingerprint],
    seeds: Sequence[int],
    detectors: Sequence[QueryDetector],
    *,
    store: ModelStore,
    results: ResultsDB,
    keys: KeyStore,
    ctx: AttackContext,
    seed_split: str = "test",
    deployer_split: str = "attacker",
    clean_split: str = "test",
    executor: Executor | None = None,
    allow_overlap: bool = False,
    on_cell: Callable[[], None] | None = None,
) -> DetectionStats:
    """Store the detection rate of every (scheme, seed, victim, detector) not stored yet (resume): the
    key's queries (made as ``bench run`` makes them, or loaded) mixed with as many ``clean_split`` images
    and screened by each detector fitted on the victim and ``deployer_split`` (:func:`detection_rates`,
    seeded by the key's seed). Detectors are stored under their :attr:`~QueryDetector.label`."""
    stats = DetectionStats()
    start = time.perf_counter()
    known = {(r.config, r.seed, r.victim, r.detector) for r in results.detections(preset=preset.name)}
    evaluated = [*preset.victims, *preset.suspects]
    clean = ctx.split(clean_split).images
    for victim in preset.victims:
        model = store.load(victim)
        for fp in fingerprints:
            config = repr(fp)
            for seed in seeds:
                todo = [d for d in detectors if (config, seed, victim, d.label) not in known]
                stats.skipped += len(detectors) - len(todo)
                if not todo:
                    continue

                def maker(fp: Fingerprint = fp, victim: str = victim, seed: int = seed) -> KeyMaker:
                    if not allow_overlap and fp.pool_spec is not None:  # checked only when a key is made
                        check_disjoint(
                            [lin for side in fp.pool_spec.lineages(victim) for lin in side], evaluated
                        )
                    return keys.maker(
                        victim, seed, models=store, ctx=ctx, seed_split=seed_split, executor=executor
                    )

                key, seconds = keys.key_for(fp, victim, seed, maker)
                if seconds is not None:
                    results.add_key(fp.name, config, seed, victim, key.num_queries, seconds)
                    stats.keys_generated += 1
                screened = {d.label: fit_cached(d, model, ctx.split(deployer_split)) for d in todo}
                for rate in detection_rates(screened, {fp.name: key}, clean, seed=seed):
                    results.add_detection(
                        DetectionRecord(
                            preset.name,
                            fp.name,
                            config,
                            seed,
                            victim,
                            rate.detector,
                            rate.queries,
                            rate.rate,
                            rate.false_positive,
                        )
                    )
                    stats.measured += 1
                if len(key.queries) == 0:
                    log.warning("%s: the key of seed %d has no queries; no detection rate", fp.name, seed)
                for _ in todo:
                    if on_cell:
                        on_cell()
    stats.seconds = time.perf_counter() - start
    return stats
