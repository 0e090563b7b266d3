"""Representations (the R of QuRD), typed by ``needs`` (access), ``kind`` (output) and ``accepts``
(query structures)."""

from modelprint.representations.base import Representation
from modelprint.representations.kinds import DISCRETE, KINDS, POINTWISE, REAL, RepKind
from modelprint.representations.lime import LimeWeights
from modelprint.representations.listwise import CorrelationMatrix, correlation_matrix
from modelprint.representations.outputs import HardLabels
from modelprint.representations.pairwise import DecisionDistanceVector, HardDecisionVector, PairedOutputs
from modelprint.representations.scores import Logits, Probabilities, TopK, TrueLabelRank

__all__ = [
    "DISCRETE",
    "KINDS",
    "POINTWISE",
    "REAL",
    "CorrelationMatrix",
    "DecisionDistanceVector",
    "HardDecisionVector",
    "HardLabels",
    "LimeWeights",
    "Logits",
    "PairedOutputs",
    "Probabilities",
    "RepKind",
    "Representation",
    "TopK",
    "TrueLabelRank",
    "correlation_matrix",
]
