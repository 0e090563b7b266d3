"""Deployment-side threats applied to a suspect's API, as evaluation axes for every scheme (docs/threats.md):
input processing before the model and output defences after it, stacking on any suspect model.

``THREATS`` maps names to threat factories; ``parse_threat("jpeg:q=50")`` builds one from its spec and
``threat.wrap(model, seed)`` gives the model as the API serves it. ``modelprint list threats`` lists them.
Query detectors (docs/query-detectors.md) and the ``guard`` threat built on them:
:mod:`modelprint.threats.detection`."""

from modelprint.threats import detection, inputs, outputs  # noqa: F401  (registers the threats, guard)
from modelprint.threats.base import (
    THREATS,
    InputThreat,
    OutputThreat,
    QueryOutputThreat,
    Threat,
    ThreatChain,
    ThreatSpecError,
    ThreatWrapped,
    derive_seed,
    parse_threat,
    parse_threats,
)
from modelprint.threats.dp_logits import MECHANISMS, DPLogits, Mechanism
from modelprint.threats.inputs import jpeg_compress

__all__ = [
    "MECHANISMS",
    "THREATS",
    "DPLogits",
    "InputThreat",
    "Mechanism",
    "OutputThreat",
    "QueryOutputThreat",
    "Threat",
    "ThreatChain",
    "ThreatSpecError",
    "ThreatWrapped",
    "derive_seed",
    "jpeg_compress",
    "parse_threat",
    "parse_threats",
]
