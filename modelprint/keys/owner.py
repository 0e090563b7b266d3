"""The key an owner makes of their own model (``modelprint fingerprint generate``): any white-box victim
(a zoo lineage, a saved folder, a model file), its pool built in the workspace when the scheme learns from
one, and the file's hash recorded so that a calibration set built for that file is found again."""

from __future__ import annotations

from pathlib import Path

from modelprint.attacks import AttackContext
from modelprint.data import Dataset
from modelprint.fingerprints.base import Fingerprint
from modelprint.keys.maker import KeyMaker
from modelprint.models.base import Classifier, TorchClassifier
from modelprint.models.io import file_sha256
from modelprint.ops.convergence import key_progress
from modelprint.pools import Pool, PoolSpec, build_pool
from modelprint.types import Key
from modelprint.verify import pool_victim
from modelprint.zoo.store import ModelStore

__all__ = ["owner_key"]


def owner_key(
    fp: Fingerprint,
    victim: str,
    model: Classifier,
    seeds: Dataset,
    seed: int,
    *,
    store: ModelStore,
    data_root: str | None = None,
) -> Key:
    """The ``fp`` key of ``model`` (named ``victim`` on the command line) from the seed set ``seeds``; a
    pool-based scheme needs a zoo victim (its pool is built in ``store``)."""
    if not isinstance(model, TorchClassifier):
        raise ValueError(
            f"{victim}: generation needs a white-box torch model (ONNX and URLs are suspects only)"
        )
    if seeds.input_shape != model.input_shape or seeds.num_classes != model.num_classes:
        raise ValueError(
            f"seed data {seeds.name} is {'x'.join(map(str, seeds.input_shape))} with {seeds.num_classes} "
            f"classes; the victim takes {'x'.join(map(str, model.input_shape))} with {model.num_classes}"
        )

    def pool_for(spec: PoolSpec) -> Pool:
        lineage = pool_victim(victim, store)
        ctx = AttackContext(store.card(lineage).dataset, data_root=data_root)
        return build_pool(spec, lineage, store, ctx)

    with key_progress(f"key {fp.name}"):
        key = KeyMaker(model, seeds, seed, pool_for=pool_for).make(fp)
    if Path(victim).is_file():  # which file: a calibration set built for it is found by this
        key.config["victim_sha256"] = file_sha256(Path(victim))
    return key
