"""Query samplers (the Q of QuRD)."""

from modelprint.queries.base import QuerySampler
from modelprint.queries.sampling import NegativeQueries, UniformQueries

__all__ = ["NegativeQueries", "QuerySampler", "UniformQueries"]
