"""Where modelprint keeps its artifacts: ``$MODELPRINT_HOME`` or ``./modelprint-data``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from modelprint.keys import KeyStore
from modelprint.zoo.store import ModelStore


def default_home() -> Path:
    return Path(os.environ.get("MODELPRINT_HOME", "modelprint-data"))


@dataclass(frozen=True)
class Workspace:
    """``zoo/`` (model store), ``keys/`` (fingerprint keys), ``results.sqlite`` and ``report.html``."""

    home: Path

    @classmethod
    def at(cls, home: str | Path | None = None) -> Workspace:
        return cls(Path(home) if home is not None else default_home())

    @property
    def store(self) -> ModelStore:
        return ModelStore(self.home / "zoo")

    @property
    def keys(self) -> KeyStore:
        return KeyStore(self.home / "keys")

    @property
    def results_path(self) -> Path:
        return self.home / "results.sqlite"

    @property
    def report_path(self) -> Path:
        return self.home / "report.html"
