"""The on-disk model store: ``<root>/models/<model_id>/{weights.safetensors,card.json}``."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from modelprint.models.base import TorchClassifier
from modelprint.models.io import ModelCard, ModelFileError, file_sha256, load_model, read_card
from modelprint.zoo.lineage import canonical, model_id

log = logging.getLogger(__name__)


class ModelStore:
    """Content addressed by lineage; a model is present only when its card exists and its hash matches."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, lineage: str) -> Path:
        return self.root / "models" / model_id(lineage)

    def card(self, lineage: str) -> ModelCard:
        return read_card(self.path(lineage))

    def is_valid(self, lineage: str) -> bool:
        """True when the card exists, names this lineage, and the weights' hash matches it."""
        directory = self.path(lineage)
        if not (directory / "card.json").is_file():
            return False
        try:
            card = read_card(directory)
        except ModelFileError:
            return False
        weights = directory / "weights.safetensors"
        if card.lineage != canonical(lineage) or not weights.is_file() or file_sha256(weights) != card.sha256:
            log.warning("corrupt or stale artifact for %s at %s: will rebuild", lineage, directory)
            return False
        return True

    def load(self, lineage: str, *, device: str = "cpu") -> TorchClassifier:
        return load_model(self.path(lineage), device=device)

    def cards(self) -> Iterator[ModelCard]:
        for card_path in sorted((self.root / "models").glob("*/card.json")):
            try:
                yield read_card(card_path.parent)
            except ModelFileError as exc:
                log.warning("skipping unreadable card: %s", exc)
