"""The keys folder of a workspace: ``<root>/<fingerprint label>/<victim id>/seed<seed>-<config digest>/``
holding ``key.safetensors`` and ``key.json`` (written last, so a key exists only once complete). A key is
found again by the fingerprint's full config (its ``repr``), so keys of two settings never mix."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from modelprint.attacks import AttackContext
from modelprint.fingerprints.base import Fingerprint
from modelprint.keys.maker import KeyMaker
from modelprint.pools import Pool, PoolSpec, build_pool
from modelprint.types import Key
from modelprint.zoo.executors import Executor
from modelprint.zoo.lineage import model_id
from modelprint.zoo.store import ModelStore

__all__ = ["KeyStore", "StoredKey"]


@dataclass(frozen=True)
class StoredKey:
    """A key on disk: the fingerprint label and victim id it is filed under, its seed and its folder."""

    label: str
    victim_id: str
    seed: int
    path: Path

    def load(self) -> Key:
        return Key.load(self.path)


@dataclass(frozen=True)
class KeyStore:
    """Keys of zoo victims, cached by (fingerprint config, victim lineage, seed) under ``root``."""

    root: Path

    def path(self, fp: Fingerprint, victim: str, seed: int) -> Path:
        """The folder of the key of (``fp``'s config, ``victim``, ``seed``)."""
        digest = hashlib.sha256(repr(fp).encode()).hexdigest()[:10]
        return self.root / fp.name / model_id(victim) / f"seed{seed}-{digest}"

    def has(self, fp: Fingerprint, victim: str, seed: int) -> bool:
        return (self.path(fp, victim, seed) / "key.json").is_file()

    def load(self, fp: Fingerprint, victim: str, seed: int) -> Key:
        return Key.load(self.path(fp, victim, seed))

    def save(self, fp: Fingerprint, victim: str, seed: int, key: Key) -> Path:
        return key.save(self.path(fp, victim, seed))

    def labels(self) -> list[str]:
        """The fingerprint labels that have a folder of keys (sorted)."""
        return sorted(p.name for p in self.root.iterdir() if p.is_dir()) if self.root.is_dir() else []

    def stored(
        self,
        labels: Iterable[str] | None = None,
        *,
        victims: Iterable[str] | None = None,
        seeds: Iterable[int] | None = None,
    ) -> Iterator[StoredKey]:
        """Every stored key (sorted by path), optionally only those of fingerprint ``labels``, victim
        lineages ``victims`` and ``seeds``."""
        wanted_ids = None if victims is None else {model_id(v) for v in victims}
        wanted_seeds = None if seeds is None else set(seeds)
        folders = [self.root / label for label in labels] if labels is not None else [self.root]
        pattern = "*/seed*-*/key.json" if labels is not None else "*/*/seed*-*/key.json"
        for folder in folders:
            for found in sorted(folder.glob(pattern)):
                kdir = found.parent
                seed_text = kdir.name.removeprefix("seed").split("-", 1)[0]
                if not seed_text.isdigit():
                    continue
                key = StoredKey(kdir.parent.parent.name, kdir.parent.name, int(seed_text), kdir)
                if wanted_ids is not None and key.victim_id not in wanted_ids:
                    continue
                if wanted_seeds is not None and key.seed not in wanted_seeds:
                    continue
                yield key

    def maker(
        self,
        victim: str,
        seed: int,
        *,
        models: ModelStore,
        ctx: AttackContext,
        seed_split: str = "test",
        executor: Executor | None = None,
    ) -> KeyMaker:
        """A :class:`KeyMaker` for the zoo victim ``victim`` (loaded from ``models``), its seed set the
        ``seed_split`` of ``ctx``'s dataset and its pools built in ``models`` (on ``executor``)."""

        def pool_for(spec: PoolSpec) -> Pool:
            return build_pool(spec, victim, models, ctx, executor=executor)

        return KeyMaker(models.load(victim), ctx.split(seed_split), seed, pool_for=pool_for)

    def key_for(
        self, fp: Fingerprint, victim: str, seed: int, maker: Callable[[], KeyMaker]
    ) -> tuple[Key, float | None]:
        """The key of (``fp``, ``victim``, ``seed``): loaded when stored, otherwise made by the
        :class:`KeyMaker` that ``maker`` returns (called only then) and saved. Also returns the seconds making
        it took (``None`` when loaded)."""
        if self.has(fp, victim, seed):
            return self.load(fp, victim, seed), None
        t0 = time.perf_counter()
        key = maker().make(fp)
        self.save(fp, victim, seed, key)
        return key, time.perf_counter() - t0
