"""Query samplers (the Q of QuRD) and the seed sets they start from."""

from modelprint.queries.adversarial import (
    AdversarialQueries,
    DeepFoolQueries,
    ModelDiffQueries,
    UAPQueries,
)
from modelprint.queries.base import QuerySampler
from modelprint.queries.boundary import BoundaryQueries
from modelprint.queries.common import STRUCTURES, QueryStructure
from modelprint.queries.lime import LimeQueries
from modelprint.queries.natural import CommonNegativeQueries, CornerCutMixQueries, EntropyQueries
from modelprint.queries.sampling import NegativeQueries, UniformQueries
from modelprint.queries.seeds import (
    SEED_SETS,
    NegativeSeeds,
    NoiseSeeds,
    Seeded,
    SeedSet,
    SplitSeeds,
    structure_of,
)
from modelprint.queries.trajectory import TrajectoryQueries

__all__ = [
    "SEED_SETS",
    "STRUCTURES",
    "AdversarialQueries",
    "BoundaryQueries",
    "CommonNegativeQueries",
    "CornerCutMixQueries",
    "DeepFoolQueries",
    "EntropyQueries",
    "LimeQueries",
    "ModelDiffQueries",
    "NegativeQueries",
    "NegativeSeeds",
    "NoiseSeeds",
    "QuerySampler",
    "QueryStructure",
    "SeedSet",
    "Seeded",
    "SplitSeeds",
    "TrajectoryQueries",
    "UAPQueries",
    "UniformQueries",
    "structure_of",
]
