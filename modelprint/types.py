"""Shared value types: output levels, query sets and fingerprint keys (saved without pickle)."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

Output = Literal["labels", "topk", "probs", "logits"]
OUTPUTS: tuple[Output, ...] = get_args(Output)
_RANK: dict[str, int] = {name: i for i, name in enumerate(OUTPUTS)}

JSONValue = str | int | float | bool | None | list["JSONValue"] | dict[str, "JSONValue"]


class SettingsRepr:
    """``Name(field=value, ...)`` from an object's attributes, sorted; a part's ``repr`` is its config (what
    keys and results are filed under), so two parts with the same settings print the same. Attributes named
    in ``_unprinted`` (derived from printed ones) are left out."""

    _unprinted: tuple[str, ...] = ()

    def __repr__(self) -> str:
        items = sorted((k, v) for k, v in vars(self).items() if k not in self._unprinted)
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in items)})"


def output_rank(output: Output) -> int:
    """Order of access levels: labels < topk < probs < logits."""
    if output not in _RANK:
        raise ValueError(f"unknown output level {output!r}; expected one of {OUTPUTS}")
    return _RANK[output]


def gives_at_least(available: Output, needed: Output) -> bool:
    """True when a suspect exposing ``available`` can serve a representation that ``needed``."""
    return output_rank(available) >= output_rank(needed)


@dataclass(frozen=True)
class Queries:
    """Inputs sent to a suspect: ``inputs`` (N,C,H,W) in [0,1]; optional ground-truth ``labels`` (N,)
    and named side tensors (CutMix boxes, probe draws, ...) that verification must replay."""

    inputs: torch.Tensor
    labels: torch.Tensor | None = None
    extras: dict[str, torch.Tensor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.inputs.ndim != 4:
            raise ValueError(f"queries must be (N,C,H,W), got shape {tuple(self.inputs.shape)}")
        if self.labels is not None and self.labels.shape[0] != self.inputs.shape[0]:
            raise ValueError("queries: labels and inputs differ in length")

    def __repr__(self) -> str:
        extras = f", extras {sorted(self.extras)}" if self.extras else ""
        labelled = ", labelled" if self.labels is not None else ""
        return f"Queries({len(self)} × {'x'.join(map(str, self.inputs.shape[1:]))}{labelled}{extras})"

    def __len__(self) -> int:
        return int(self.inputs.shape[0])


# mkstemp creates files readable by the owner only; published artifacts get the usual umask permissions
_UMASK = os.umask(0)
os.umask(_UMASK)
_FILE_MODE = 0o666 & ~_UMASK


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never half."""
    _atomic_write_bytes(Path(path), text.encode("utf-8"))


def atomic_save_tensors(
    path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None
) -> None:
    """safetensors ``save_file`` through a temporary file and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, tmp, metadata=metadata)
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass
class Key:
    """What a fingerprint's ``generate`` returns and ``verify`` consumes: the queries, the victim's
    reference representation, and the scheme's config. Stored as ``<dir>/key.safetensors`` + ``key.json``."""

    scheme: str
    config: dict[str, JSONValue]
    queries: Queries
    reference: torch.Tensor
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def num_queries(self) -> int:
        return len(self.queries)

    def __repr__(self) -> str:  # a notebook shows what the key is, not its tensors
        shape = "x".join(map(str, self.queries.inputs.shape[1:]))
        victim = self.config.get("victim", "?")
        ref = tuple(self.reference.shape)
        return f"Key({self.scheme}, {self.num_queries} queries of {shape}, reference {ref}, victim {victim})"

    def save(self, directory: str | Path) -> Path:
        directory = Path(directory)
        tensors: dict[str, torch.Tensor] = {
            "queries.inputs": self.queries.inputs,
            "reference": self.reference,
        }
        if self.queries.labels is not None:
            tensors["queries.labels"] = self.queries.labels
        for name, t in self.queries.extras.items():
            tensors[f"queries.extras.{name}"] = t
        for name, t in self.tensors.items():
            tensors[f"tensors.{name}"] = t
        atomic_save_tensors(directory / "key.safetensors", tensors)
        meta = {"format": "modelprint-key/1", "scheme": self.scheme, "config": self.config}
        atomic_write_text(directory / "key.json", json.dumps(meta, indent=2, sort_keys=True))
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> Key:
        directory = Path(directory)
        meta = json.loads((directory / "key.json").read_text())
        if not isinstance(meta, dict):
            raise ValueError(f"{directory}: key.json holds a JSON {type(meta).__name__}, not an object")
        if meta.get("format") != "modelprint-key/1":
            raise ValueError(f"{directory}: not a modelprint key (format {meta.get('format')!r})")
        if not isinstance(meta.get("scheme"), str) or not isinstance(meta.get("config"), dict):
            raise ValueError(f"{directory}: key.json names no scheme and config")
        try:
            raw = load_file(str(directory / "key.safetensors"))
        except SafetensorError as exc:
            raise ValueError(f"{directory}: key.safetensors is not readable ({exc})") from None
        extras = {
            k.removeprefix("queries.extras."): v for k, v in raw.items() if k.startswith("queries.extras.")
        }
        tensors = {k.removeprefix("tensors."): v for k, v in raw.items() if k.startswith("tensors.")}
        queries = Queries(raw["queries.inputs"], raw.get("queries.labels"), extras)
        return cls(meta["scheme"], meta["config"], queries, raw["reference"], tensors)


@dataclass(frozen=True)
class Pair:
    """A (victim, suspect) benchmark pair; ``positive`` and ``task`` are derived from lineage."""

    victim: str
    suspect: str
    positive: bool
    task: str
