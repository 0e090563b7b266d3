"""FBI — fingerprinting with benign inputs (Maho, Furon, Le Merrer, TIFS'23; docs/fbi.md)."""

from __future__ import annotations

from typing import Literal

from modelprint.detectors.information import MutualInformation
from modelprint.fingerprints.base import FINGERPRINTS, Fingerprint
from modelprint.queries.base import QuerySampler
from modelprint.queries.natural import EntropyQueries
from modelprint.queries.sampling import NegativeQueries, UniformQueries
from modelprint.representations.scores import TrueLabelRank


@FINGERPRINTS.register("fbi")
def fbi(
    *,
    budget: int = 100,
    k: int = 3,
    selection: Literal["negatives", "random", "entropy"] = "negatives",
) -> Fingerprint:
    """Benign images, rank of the true label in the top-k, mutual information in bits; top-k access.

    Q: FBI's code offers ``random`` and ``entropy`` (top 20 % label entropy over a reference pool of
    independent models, built as an owner-side pool). The default is ``negatives`` — the victim's own
    mistakes, completed with CutMix as in AKH — where QuRD's Table 1 places FBI and the pool-free analogue
    of "images on which models disagree". R = :class:`TrueLabelRank` (k = 3, the code default).
    D = I(u; v) in bits; the victim scores H(u), the maximum, not 1.0. About 100 queries."""
    sampler: QuerySampler
    if selection == "negatives":
        sampler = NegativeQueries(augment=True)
    elif selection == "random":
        sampler = UniformQueries()
    elif selection == "entropy":
        sampler = EntropyQueries()
    else:
        raise ValueError(f"selection must be 'negatives', 'random' or 'entropy', got {selection!r}")
    return Fingerprint("fbi", sampler, TrueLabelRank(k), MutualInformation(), budget)
