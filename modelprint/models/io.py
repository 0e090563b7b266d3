"""Safe model storage: safetensors weights + a JSON card. Nothing here unpickles untrusted data:
``.pt`` state dicts are read with ``torch.load(weights_only=True)`` and refused if they hold anything else."""

from __future__ import annotations

import hashlib
import json
import pickle
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from modelprint.models.base import TorchClassifier
from modelprint.models.errors import ModelFileError
from modelprint.types import JSONValue, atomic_save_tensors, atomic_write_text

CARD_FORMAT = "modelprint-card/1"


@dataclass
class ModelCard:
    """Everything needed to rebuild and judge a stored model (RobustBench-style model card)."""

    lineage: str
    arch: str
    dataset: str
    in_channels: int
    image_size: int
    num_classes: int
    mean: list[float]
    std: list[float]
    seed: int
    accuracy: float
    sha256: str = ""
    parent: str | None = None
    fidelity: float | None = None
    config: dict[str, JSONValue] = field(default_factory=dict)
    seconds: float = 0.0
    format: str = CARD_FORMAT
    logloss: float | None = None
    """Median per-image cross-entropy (nats) of the true label on the test split: how confident the model
    is on clean data (the quantity MFUE's loss-interval test compares between models)."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelCard:
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raise ModelFileError(f"a card must be a JSON object, got {type(raw).__name__}")
        if raw.get("format") != CARD_FORMAT:
            raise ModelFileError(f"not a modelprint card (format {raw.get('format')!r})")
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in raw.items() if k in known})


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors from ``.safetensors`` or a ``.pt``/``.pth`` state dict (``weights_only=True``).

    Raises :class:`ModelFileError` for a truncated/corrupt file or a pickle holding code or objects."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise ModelFileError(f"{path}: not a readable safetensors file ({exc})") from None
    if path.suffix in {".pt", ".pth", ".bin"}:
        try:
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, AttributeError, TypeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelFileError(
                f"{path}: refused — only plain tensor state dicts are loaded (weights_only=True); "
                f"this file holds something else or is corrupt: {first}"
            ) from None
        if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
            obj = obj["state_dict"]
        if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
            raise ModelFileError(f"{path}: expected a dict of tensors (a state_dict)")
        return {str(k): v for k, v in obj.items()}
    raise ModelFileError(f"{path}: unsupported model file type {path.suffix!r} (use .safetensors or .pt)")


def load_weights(module: nn.Module, state: dict[str, torch.Tensor], source: str = "weights") -> nn.Module:
    """``load_state_dict(strict=True)`` with a readable error on missing/unexpected/mis-shaped tensors."""
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        lines = str(exc).splitlines()
        raise ModelFileError(f"{source} do not fit the architecture: {' '.join(lines[:3])[:600]}") from None
    return module


def build_module(card: ModelCard) -> nn.Module:
    """The card's architecture, untrained: a built-in name, or a user class (``package.module:Class``)
    with the options its lineage gave it, imported only when the user allowed that class."""
    from modelprint.models.user import build_architecture

    options = card.config.get("arch_kwargs")
    return build_architecture(
        card.arch,
        in_channels=card.in_channels,
        num_classes=card.num_classes,
        image_size=card.image_size,
        arch_kwargs=options if isinstance(options, dict) else None,
    )


def classifier_from(module: nn.Module, card: ModelCard, *, device: str = "cpu") -> TorchClassifier:
    model = _classifier(module, card, device=device)
    options = card.config.get("arch_kwargs")
    model.arch_kwargs = dict(options) if isinstance(options, dict) else None  # a student of "same" needs them
    model.arch_name = card.arch
    return model


def _classifier(module: nn.Module, card: ModelCard, *, device: str) -> TorchClassifier:
    return TorchClassifier(
        module,
        num_classes=card.num_classes,
        input_shape=(card.in_channels, card.image_size, card.image_size),
        mean=card.mean,
        std=card.std,
        device=device,
        name=card.lineage,
    )


def save_model(module: nn.Module, card: ModelCard, directory: str | Path) -> ModelCard:
    """Write ``weights.safetensors`` then ``card.json`` (with the weights' hash), each atomically.
    A model counts as stored only once its card exists, so an interrupted save is simply redone."""
    directory = Path(directory)
    weights = directory / "weights.safetensors"
    state = {k: v for k, v in module.state_dict().items()}
    # one metadata key only: safetensors writes a multi-key metadata map in hash order, which would make
    # the bytes (and so the card's hash) of identical weights differ from one process to the next
    atomic_save_tensors(weights, state, metadata={"lineage": card.lineage})
    card.sha256 = file_sha256(weights)
    atomic_write_text(directory / "card.json", card.to_json())
    return card


def read_card(directory: str | Path) -> ModelCard:
    path = Path(directory) / "card.json"
    try:
        return ModelCard.from_json(path.read_text())
    except (OSError, json.JSONDecodeError, TypeError) as exc:
        raise ModelFileError(f"{path}: unreadable card ({exc})") from None


def load_model(directory: str | Path, *, device: str = "cpu", verify_hash: bool = True) -> TorchClassifier:
    """Load a stored model; the weights' SHA-256 must match the card (a corrupt artifact is never used)."""
    directory = Path(directory)
    card = read_card(directory)
    weights = directory / "weights.safetensors"
    if verify_hash:
        if not weights.is_file():
            raise ModelFileError(f"{weights}: missing")
        digest = file_sha256(weights)
        if digest != card.sha256:
            raise ModelFileError(
                f"{weights}: hash mismatch (corrupt artifact): {digest[:12]} != {card.sha256[:12]}"
            )
    state = read_state_dict(weights)
    check_size(card, state, source=str(weights))
    module = load_weights(build_module(card), state, source=str(weights))
    return classifier_from(module, card, device=device)


def check_size(card: ModelCard, state: dict[str, torch.Tensor], *, source: str) -> None:
    """Refuse a card whose architecture needs more values than the weights file holds, before anything of
    that size is allocated (the module is built on the meta device, which allocates nothing)."""
    try:
        with torch.device("meta"):
            needed = sum(t.numel() for t in build_module(card).state_dict().values())
    except (TypeError, ValueError, KeyError, RuntimeError) as exc:
        raise ModelFileError(f"{source}: the card describes no buildable model ({exc})") from None
    held = sum(t.numel() for t in state.values())
    if needed > held:
        raise ModelFileError(
            f"{source}: the card's {card.arch} ({card.in_channels}×{card.image_size}×{card.image_size}, "
            f"{card.num_classes} classes) needs {needed:,} values; the weights file holds {held:,}"
        )
