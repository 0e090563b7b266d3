"""Saved keys as ``modelprint verify`` reads them: the key, the fingerprint rebuilt from its scheme spec,
its content hash (the calibration cache's name for it), and what it records of its victim."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import modelprint.fingerprints  # noqa: F401  (registers the fingerprints)
from modelprint.calibration import key_digest
from modelprint.fingerprints.base import Fingerprint, parse_fingerprint
from modelprint.models.io import ModelFileError
from modelprint.types import Key


@dataclass(frozen=True)
class LoadedKey:
    """A saved key with the fingerprint that made it and its content hash."""

    path: str
    key: Key
    fingerprint: Fingerprint
    digest: str

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.key.queries.inputs.shape[1:])

    @property
    def num_classes(self) -> int | None:
        value = self.key.config.get("num_classes")
        return int(value) if isinstance(value, int) else None

    @property
    def victim(self) -> str:
        return str(self.key.config.get("victim") or "")

    @property
    def victim_architecture(self) -> str | None:
        """The victim's architecture signature (:mod:`modelprint.models.signature`), when the key records
        it (keys made before it was recorded do not)."""
        value = self.key.config.get("victim_architecture")
        return value if isinstance(value, str) else None


def load_key(path: str | Path) -> LoadedKey:
    """``Key.load`` plus the fingerprint rebuilt from the key's scheme spec; clear errors for a missing or
    foreign folder."""
    directory = Path(path)
    if not (directory / "key.json").is_file() or not (directory / "key.safetensors").is_file():
        raise ModelFileError(f"{directory}: not a saved key (needs key.json and key.safetensors)")
    try:
        key = Key.load(directory)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelFileError(f"{directory}: unreadable key ({exc})") from None
    return LoadedKey(str(directory), key, parse_fingerprint(key.scheme), key_digest(directory))


def check_keys(keys: Sequence[LoadedKey]) -> tuple[tuple[int, ...], int | None]:
    """The input shape and class count every key agrees on."""
    if not keys:
        raise ValueError("give at least one key")
    shapes = {k.input_shape for k in keys}
    classes = {k.num_classes for k in keys}
    if len(shapes) > 1 or len(classes) > 1:
        raise ValueError(f"the keys disagree on the input shape {shapes} or class count {classes}")
    return shapes.pop(), classes.pop()


__all__ = ["LoadedKey", "check_keys", "load_key"]
