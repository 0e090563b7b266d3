"""Detection rates of fingerprint queries under the MFUE protocol (docs/query-detectors.md#protocol): equal
numbers of clean samples and fingerprint queries are mixed and screened; the detection rate is the fraction of
queries flagged, with the clean false-positive rate and the balanced accuracy beside it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from modelprint.threats.base import derive_seed
from modelprint.threats.detection.base import QueryDetector
from modelprint.types import Key, Queries

__all__ = ["DetectionRate", "detection_rates", "query_images"]


@dataclass(frozen=True)
class DetectionRate:
    """One (scheme, detector) cell: ``queries`` fingerprint queries mixed with as many clean samples."""

    scheme: str
    detector: str
    queries: int
    rate: float
    false_positive: float

    @property
    def balanced_accuracy(self) -> float:
        """Mean of the detection rate and the clean true-negative rate."""
        return (self.rate + 1.0 - self.false_positive) / 2.0


def query_images(keys: Key | Queries | torch.Tensor | Sequence[Key]) -> torch.Tensor:
    """The query inputs of one key (for MFUE-b its probing samples, which are its queries), of a
    :class:`Queries`, a batch of images as is, or several keys concatenated."""
    if isinstance(keys, torch.Tensor):
        return keys
    if isinstance(keys, Key):
        return keys.queries.inputs
    if isinstance(keys, Queries):
        return keys.inputs
    parts = [k.queries.inputs for k in keys]
    return torch.cat(parts) if parts else torch.empty(0)


def detection_rates(
    detectors: Mapping[str, QueryDetector],
    keys_by_scheme: Mapping[str, Key | Queries | torch.Tensor | Sequence[Key]],
    clean_images: torch.Tensor,
    *,
    seed: int = 0,
) -> list[DetectionRate]:
    """Every (scheme, fitted detector) cell of the MFUE protocol: n = min(#queries, #clean) queries and
    clean samples are drawn without replacement (from streams seeded by ``seed``, the queries' also by the
    scheme; all queries when there are no more than clean samples),
    mixed into one batch, scored, and flagged with the detector's threshold. Rows in the order of
    ``keys_by_scheme`` then ``detectors``; a scheme without queries gets no row."""
    out: list[DetectionRate] = []
    for scheme, keys in keys_by_scheme.items():
        queries = query_images(keys)
        n = min(len(queries), len(clean_images))
        if n == 0:
            continue
        pick = torch.Generator().manual_seed(derive_seed("queries", seed, scheme))
        q = queries[torch.randperm(len(queries), generator=pick)[:n]] if n < len(queries) else queries
        pick = torch.Generator().manual_seed(derive_seed("clean", seed))
        c = clean_images[torch.randperm(len(clean_images), generator=pick)[:n]]
        mixed = torch.cat([q, c])
        for name, detector in detectors.items():
            flags = detector.flag(mixed)
            out.append(
                DetectionRate(
                    scheme, name, n, float(flags[:n].float().mean()), float(flags[n:].float().mean())
                )
            )
    return out
