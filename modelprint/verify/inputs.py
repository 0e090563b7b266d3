"""What the command line names, resolved: a suspect or victim (a zoo lineage, a file, a saved folder, a
URL), a seed set, and the zoo lineage a pool-based scheme derives its owner-side models from."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from modelprint.data import DATASETS, Dataset, load_dataset
from modelprint.models.access import Suspect
from modelprint.models.base import Classifier
from modelprint.models.formats import load_classifier
from modelprint.models.io import ModelFileError, load_model, read_card, save_model
from modelprint.serving.loading import is_url, load_remote
from modelprint.zoo.lineage import LineageError, canonical
from modelprint.zoo.store import ModelStore


def lineage_or_none(text: str) -> str | None:
    """``text`` in canonical spelling when it is a lineage id, else None."""
    try:
        return canonical(text)
    except LineageError:
        return None


def resolve_model(
    spec: str,
    store: ModelStore | None = None,
    *,
    input_shape: Sequence[int] | None = None,
    num_classes: int | None = None,
    arch: str | None = None,
    arch_kwargs: Mapping[str, object] | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    allow_pickle: bool = False,
    access: str | None = None,
    token: str | None = None,
    budget: int | None = None,
    journal: str | Path | None = None,
    rate_limit: float | None = None,
) -> Classifier:
    """A model from a lineage built in ``store`` or anything :func:`load_classifier` reads (file, saved
    folder, URL, with its options), checked against ``input_shape`` and ``num_classes``. ``budget`` caps
    the images it may be sent: a URL counts what it really sends (answers replayed from its journal are
    free), a local model is wrapped in a :class:`Suspect` that refuses the batch that would exceed it."""
    lineage = None if is_url(spec) or Path(spec).exists() else lineage_or_none(spec)
    if lineage is not None and store is not None:
        if not store.is_valid(lineage):
            raise ModelFileError(
                f"{spec!r} is not built in {store.root}: build it with `modelprint zoo build PRESET`"
            )
        model: Classifier = store.load(lineage)
        if input_shape is not None and model.input_shape != tuple(input_shape):
            raise ModelFileError(f"{lineage} takes {model.input_shape} inputs, expected {tuple(input_shape)}")
        if num_classes is not None and model.num_classes != num_classes:
            raise ModelFileError(f"{lineage} outputs {model.num_classes} classes, expected {num_classes}")
    elif is_url(spec):
        return load_remote(
            spec, input_shape=input_shape, num_classes=num_classes, access=access, token=token,
            budget=budget, journal=journal, rate_limit=rate_limit,
        )  # fmt: skip
    else:
        model = load_classifier(
            spec, input_shape=input_shape, num_classes=num_classes, arch=arch, mean=mean, std=std,
            allow_pickle=allow_pickle, arch_kwargs=arch_kwargs,
        )  # fmt: skip
    return model if budget is None else Suspect(model, access=model.output, budget=budget)


def seed_data(text: str, split: str | None = None, root: str | None = None) -> Dataset:
    """The seed set of ``fingerprint generate``: a dataset name (default split ``test``, like the
    benchmark), an ``.npz`` file or an image folder (default split ``all``)."""
    if text in DATASETS:
        return load_dataset(text, split or "test", root=root)
    path = Path(text)
    if path.is_file() and path.suffix.lower() == ".npz":
        return load_dataset("npz", split or "all", root=path)
    if path.is_dir():
        return load_dataset("imagefolder", split or "all", root=path)
    raise ValueError(
        f"{text!r} is neither a dataset ({', '.join(DATASETS.names())}) nor an .npz file or image folder"
    )


def pool_victim(
    spec: str,
    store: ModelStore,
    *,
    why: str = "pool-based schemes derive owner-side models from the victim",
) -> str:
    """The zoo lineage of a victim, as pool building (or a matched calibration set) needs it: a lineage
    built in ``store``, or a saved model folder whose card names one (imported into ``store``)."""
    lineage = lineage_or_none(spec) if not Path(spec).exists() else None
    if lineage is not None and store.is_valid(lineage):
        return lineage
    folder = Path(spec)
    if folder.is_dir() and (folder / "card.json").is_file():
        card = read_card(folder)
        lineage = lineage_or_none(card.lineage)
        if lineage is not None:
            if not store.is_valid(lineage):
                model = load_model(folder)
                save_model(model.module, card, store.path(lineage))
            return lineage
    raise ValueError(
        f"{why}, so the victim must be a zoo model: a lineage built in {store.root} or a saved model "
        f"folder whose card names its lineage ({spec!r} is neither)"
    )


__all__ = ["lineage_or_none", "pool_victim", "resolve_model", "seed_data"]


def is_model_file(spec: str) -> bool:
    """A model file or a folder that is not a saved zoo model (a saved model folder carries its lineage).
    A path that names no file is refused here, not mistaken for a lineage."""
    path = Path(spec)
    if not path.exists() and ("/" in spec or path.suffix.lower() in MODEL_SUFFIXES):
        raise ValueError(f"{spec}: no such model file")
    return path.is_file() or (path.is_dir() and not (path / "card.json").is_file())


MODEL_SUFFIXES = (".pt2", ".onnx", ".safetensors", ".pt", ".pth", ".bin")
