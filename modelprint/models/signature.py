"""Architecture signatures: which models share an architecture, whatever file they came from.

A calibrated verdict is valid only when the calibration models are exchangeable with the innocent
suspects an owner meets, so the verdict must say whether the victim's architecture is among them. Names
are not enough (a user's own class has none the zoo knows), so an architecture is identified by its
trainable parameters' names and shapes, in module order: the same for a zoo model, the ``.pt2`` export
of the same class and a state dict loaded into it, and different for any change of layer or width."""

from __future__ import annotations

import hashlib

import torch
from torch import nn

from modelprint.models.io import ModelCard, build_module


def architecture_signature(module: nn.Module) -> str:
    """A short hash of ``module``'s parameter names and shapes (buffers and values left out); an exported
    program is read through to the graph it holds, whose names are the exported module's."""
    from modelprint.models.formats import ExportedModule

    if isinstance(module, ExportedModule):
        module = module.graph_module
    h = hashlib.sha256()
    for name, param in module.named_parameters():
        h.update(f"{name}:{'x'.join(map(str, param.shape))};".encode())
    return h.hexdigest()[:16]


def card_signature(card: ModelCard) -> str | None:
    """The signature of the architecture a card names, built on the meta device (nothing allocated);
    None when the card's architecture cannot be built here."""
    try:
        with torch.device("meta"):
            return architecture_signature(build_module(card))
    except (TypeError, ValueError, KeyError, RuntimeError):
        return None


__all__ = ["architecture_signature", "card_signature"]
