"""Deployment-side threats applied to a suspect's API: output defences that stack on any suspect model."""

from modelprint.threats.dp_logits import MECHANISMS, DPLogits, Mechanism

__all__ = ["MECHANISMS", "DPLogits", "Mechanism"]
