"""Tests for modelprint.data: bundled datasets, splits, CIFAR/npz/imagefolder readers, pickle safety."""

from __future__ import annotations

import codecs
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from modelprint.data import (
    DATASETS,
    SPLITS,
    Dataset,
    UnsafeFileError,
    dataset_names,
    load_dataset,
    split_indices,
)
from modelprint.data.loaders import load_raw, safe_load_pickle
from modelprint.data.splits import stratified_cut

BUNDLED = {  # name: (count, input shape, images per class or None)
    "mnist5k": (5000, (1, 28, 28), 500),
    "digits": (1797, (1, 8, 8), None),
    "animal-mnist": (10000, (1, 28, 28), 1000),
}


def _check_balanced(part: np.ndarray, whole: np.ndarray, fraction: float, num_classes: int) -> None:
    """Every class of ``part`` holds floor or ceil of ``fraction`` of that class in ``whole``."""
    got = np.bincount(part, minlength=num_classes)
    want = np.bincount(whole, minlength=num_classes) * fraction
    assert np.all(got >= np.floor(want)) and np.all(got <= np.ceil(want)), (got, want)


# --------------------------------------------------------------------------------------------- API


def test_registry_and_names() -> None:
    assert dataset_names() == DATASETS.names()
    for name in ("mnist5k", "digits", "animal-mnist", "cifar10", "cifar100", "npz", "imagefolder"):
        assert name in dataset_names()
    assert SPLITS == ("all", "train", "test", "owner", "attacker")


def test_unknown_names_are_clear() -> None:
    with pytest.raises(ValueError, match=r"unknown dataset 'nope'.*mnist5k"):
        load_dataset("nope")
    with pytest.raises(ValueError, match=r"unknown split 'val'.*owner.*attacker"):
        load_dataset("digits", "val")
    with pytest.raises(ValueError, match="split_seed"):
        load_dataset("digits", "train", split_seed=-1)


# --------------------------------------------------------------------------------------------- bundled


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_bundled_dataset_contents(name: str) -> None:
    count, shape, per_class = BUNDLED[name]
    ds = load_dataset(name)
    assert isinstance(ds, Dataset) and ds.name == name
    assert len(ds) == count and ds.input_shape == shape
    assert ds.images.dtype == torch.float32 and ds.labels.dtype == torch.int64
    assert float(ds.images.min()) == 0.0 and float(ds.images.max()) == 1.0
    assert ds.num_classes == 10 and set(ds.labels.tolist()) == set(range(10))
    counts = torch.bincount(ds.labels, minlength=10)
    if per_class is not None:
        assert counts.tolist() == [per_class] * 10
    # mean/std describe the train split and are shared by every split
    train = load_dataset(name, "train")
    assert ds.mean == train.mean and ds.std == train.std
    assert ds.mean[0] == pytest.approx(float(train.images.mean()), abs=1e-5)
    assert ds.std[0] == pytest.approx(float(train.images.std(unbiased=False)), abs=1e-5)


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_bundled_splits_disjoint_cover_balanced(name: str) -> None:
    raw = load_raw(name)
    idx = split_indices(raw.labels, 0, raw.num_train)
    n = len(raw.labels)
    train, test, owner, attacker = (set(idx[s].tolist()) for s in ("train", "test", "owner", "attacker"))
    assert not train & test and train | test == set(range(n))
    assert not owner & attacker and owner | attacker == train
    assert len(test) == round(0.2 * n) and abs(len(owner) - len(attacker)) <= 1
    _check_balanced(raw.labels[idx["test"]], raw.labels, 0.2, 10)
    _check_balanced(raw.labels[idx["owner"]], raw.labels[idx["train"]], 0.5, 10)
    _check_balanced(raw.labels[idx["attacker"]], raw.labels[idx["train"]], 0.5, 10)
    # load_dataset serves exactly those rows
    owner_ds = load_dataset(name, "owner")
    assert torch.equal(owner_ds.labels, torch.from_numpy(raw.labels[idx["owner"]]))
    assert len(load_dataset(name, "attacker")) == len(attacker)
    assert len(load_dataset(name, "test")) == len(test)


def test_animal_mnist_missing_package_message(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from modelprint.data.loaders import load_animal_mnist

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match="pip install --no-deps animal-mnist"):
        load_animal_mnist(None)


def test_split_determinism_and_independence_from_global_rng() -> None:
    labels = load_raw("digits").labels
    torch.manual_seed(1)
    np.random.seed(1)
    first = split_indices(labels, 7)
    torch.manual_seed(2)
    np.random.seed(2)
    torch.rand(100)
    again = split_indices(labels, 7)
    other = split_indices(labels, 8)
    for split in SPLITS:
        assert np.array_equal(first[split], again[split])
    for split in ("train", "test", "owner", "attacker"):
        assert not np.array_equal(first[split], other[split])
    a = load_dataset("digits", "owner", split_seed=3)
    b = load_dataset("digits", "owner", split_seed=3)
    c = load_dataset("digits", "owner", split_seed=4)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.images, c.images)


def test_loaded_tensors_are_private_copies() -> None:
    a = load_dataset("digits", "test")
    a.images.zero_()
    a.labels.zero_()
    b = load_dataset("digits", "test")
    assert float(b.images.max()) == 1.0 and int(b.labels.max()) == 9
    assert load_raw("digits") is load_raw("digits")  # raw arrays are memoised


def test_stratified_cut_odd_counts() -> None:
    labels = np.array([0] * 7 + [1] * 5 + [2] * 3 + [3] * 1)
    first, rest = stratified_cut(labels, 0.5, np.random.default_rng(0))
    assert len(first) == 8 and len(rest) == 8
    assert set(first) | set(rest) == set(range(16)) and not set(first) & set(rest)
    _check_balanced(labels[first], labels, 0.5, 4)


# --------------------------------------------------------------------------------------------- CIFAR


def _write_batch(path: Path, rng: np.random.Generator, n: int, key: bytes, classes: int) -> tuple:
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = [int(v) for v in np.arange(n) % classes]
    batch = {b"batch_label": b"test", key: labels, b"data": data, b"filenames": [b"x.png"] * n}
    if key == b"fine_labels":
        batch[b"coarse_labels"] = [v // 5 for v in labels]
    path.write_bytes(pickle.dumps(batch, protocol=2))
    return data, labels


def test_cifar10_reader(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    written = [_write_batch(folder / f"data_batch_{i}", rng, 20, b"labels", 10) for i in range(1, 6)]
    test_data, test_labels = _write_batch(folder / "test_batch", rng, 20, b"labels", 10)

    full = load_dataset("cifar10", root=tmp_path)  # parent folder is accepted
    assert len(full) == 120 and full.input_shape == (3, 32, 32) and full.num_classes == 10
    first = torch.from_numpy(written[0][0][0].reshape(3, 32, 32)).float() / 255
    assert torch.equal(full.images[0], first)  # channel-major layout kept
    test = load_dataset("cifar10", "test", root=folder)
    assert torch.equal(test.labels, torch.tensor(test_labels))
    assert torch.equal(test.images, torch.from_numpy(test_data.reshape(-1, 3, 32, 32)).float() / 255)
    train = load_dataset("cifar10", "train", root=folder)
    assert len(train) == 100 and torch.equal(train.images, full.images[:100])
    owner = load_dataset("cifar10", "owner", root=folder)
    attacker = load_dataset("cifar10", "attacker", root=folder)
    assert len(owner) == len(attacker) == 50
    assert torch.bincount(owner.labels).tolist() == [5] * 10
    pixels = train.images.permute(1, 0, 2, 3).reshape(3, -1)
    assert owner.mean == pytest.approx(tuple(pixels.mean(1).tolist()), abs=1e-5)
    assert owner.std == pytest.approx(tuple(pixels.std(1, unbiased=False).tolist()), abs=1e-5)


def test_cifar100_reader(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    train_data, train_labels = _write_batch(tmp_path / "train", rng, 200, b"fine_labels", 100)
    _write_batch(tmp_path / "test", rng, 100, b"fine_labels", 100)
    train = load_dataset("cifar100", "train", root=tmp_path)
    assert train.num_classes == 100 and len(train) == 200
    assert torch.equal(train.labels, torch.tensor(train_labels))
    assert torch.equal(train.images[5], torch.from_numpy(train_data[5].reshape(3, 32, 32)).float() / 255)
    assert len(load_dataset("cifar100", "test", root=tmp_path)) == 100


def test_cifar_needs_root(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="root="):
        load_dataset("cifar10")
    with pytest.raises(FileNotFoundError, match="data_batch_1"):
        load_dataset("cifar10", root=tmp_path)


def test_old_numpy_pickle_names_are_accepted(tmp_path: Path) -> None:
    """Python-2 era CIFAR pickles name numpy.core.multiarray; they must map onto numpy 2."""
    blob = pickle.dumps({b"data": np.arange(6, dtype=np.uint8)}, protocol=2)
    old = blob.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"numpy.core.multiarray\n_reconstruct" in old
    (tmp_path / "b").write_bytes(old)
    assert np.array_equal(safe_load_pickle(tmp_path / "b", encoding="bytes")[b"data"], np.arange(6))


class _Hostile:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


class _Rot13:
    def __reduce__(self) -> tuple:
        return (codecs.encode, ("text", "rot13"))


def test_hostile_pickle_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "cifar"
    folder.mkdir()
    marker = tmp_path / "PWNED"
    rng = np.random.default_rng(2)
    for i in range(2, 6):
        _write_batch(folder / f"data_batch_{i}", rng, 20, b"labels", 10)
    _write_batch(folder / "test_batch", rng, 20, b"labels", 10)
    evil = {b"data": _Hostile(marker), b"labels": [0]}
    (folder / "data_batch_1").write_bytes(pickle.dumps(evil, protocol=2))
    with pytest.raises(UnsafeFileError, match="system"):
        load_dataset("cifar10", root=folder)
    assert not marker.exists()
    # other smuggling routes are refused too
    (tmp_path / "eval").write_bytes(pickle.dumps(eval, protocol=2))
    with pytest.raises(UnsafeFileError, match=r"refused to load \w+\.eval"):
        safe_load_pickle(tmp_path / "eval")
    (tmp_path / "codec").write_bytes(pickle.dumps(_Rot13(), protocol=2))
    with pytest.raises(UnsafeFileError, match="encode"):
        safe_load_pickle(tmp_path / "codec")


# --------------------------------------------------------------------------------------------- npz


def test_npz_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    nhwc = rng.integers(0, 256, size=(30, 6, 5, 3), dtype=np.uint8)
    labels = np.arange(30) % 3
    np.savez(tmp_path / "a.npz", x=nhwc, y=labels)
    ds = load_dataset("npz", root=tmp_path / "a.npz")
    assert ds.input_shape == (3, 6, 5) and ds.num_classes == 3
    assert torch.equal(ds.images, torch.from_numpy(nhwc).permute(0, 3, 1, 2).float() / 255)
    assert torch.equal(ds.labels, torch.from_numpy(labels))

    nchw = rng.random((40, 1, 4, 4), dtype=np.float32)
    np.savez(tmp_path / "b.npz", images=nchw, labels=np.arange(40) % 4)
    owner = load_dataset("npz", "owner", root=str(tmp_path / "b.npz"))
    full = load_dataset("npz", root=tmp_path / "b.npz")
    assert full.input_shape == (1, 4, 4) and torch.equal(full.images, torch.from_numpy(nchw))
    assert len(owner) == 16 and torch.bincount(owner.labels).tolist() == [4] * 4


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"x": np.zeros((4, 16), np.uint8), "y": np.zeros(4, np.int64)}, "images must be"),
        ({"x": np.full((4, 1, 3, 3), 1.5), "y": np.zeros(4, np.int64)}, r"\[0, 1\]"),
        ({"x": np.zeros((4, 1, 3, 3), np.uint8), "y": np.zeros(3, np.int64)}, "4 images but 3 labels"),
        ({"x": np.zeros((4, 1, 3, 3)), "y": np.zeros(4) + 0.5}, "labels must be integers"),
        ({"x": np.zeros((4, 2, 3, 5)), "y": np.zeros(4, np.int64)}, "channel"),
        ({"pixels": np.zeros((4, 1, 3, 3)), "y": np.zeros(4, np.int64)}, "x / images"),
    ],
)
def test_npz_validation(tmp_path: Path, arrays: dict[str, np.ndarray], message: str) -> None:
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match=message):
        load_dataset("npz", root=tmp_path / "bad.npz")


def test_npz_refuses_object_arrays(tmp_path: Path) -> None:
    np.savez(tmp_path / "obj.npz", x=np.array([object()] * 4), y=np.zeros(4, np.int64))
    with pytest.raises(ValueError, match="allow_pickle"):
        load_dataset("npz", root=tmp_path / "obj.npz")


# --------------------------------------------------------------------------------------------- imagefolder


def _write_folder(root: Path, classes: dict[str, list[np.ndarray]], suffix: str = ".png") -> None:
    for name, images in classes.items():
        (root / name).mkdir(parents=True)
        for i, arr in enumerate(images):
            Image.fromarray(arr).save(root / name / f"{i}{suffix}")


def test_imagefolder_grayscale_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    zebra = [rng.integers(0, 256, (6, 7), dtype=np.uint8) for _ in range(5)]
    ant = [rng.integers(0, 256, (6, 7), dtype=np.uint8) for _ in range(5)]
    _write_folder(tmp_path, {"zebra": zebra, "ant": ant})
    (tmp_path / "notes.txt").write_text("ignored")
    ds = load_dataset("imagefolder", root=tmp_path)
    assert ds.input_shape == (1, 6, 7) and ds.num_classes == 2 and len(ds) == 10
    assert ds.labels.tolist() == [0] * 5 + [1] * 5  # "ant" sorts before "zebra"
    assert torch.equal(ds.images[0, 0], torch.from_numpy(ant[0]).float() / 255)
    assert torch.equal(ds.images[5, 0], torch.from_numpy(zebra[0]).float() / 255)


def test_imagefolder_rgb_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    pics = {c: [rng.integers(0, 256, (4, 3, 3), dtype=np.uint8) for _ in range(5)] for c in "abc"}
    _write_folder(tmp_path, pics, suffix=".bmp")
    ds = load_dataset("imagefolder", root=tmp_path)
    assert ds.input_shape == (3, 4, 3) and ds.num_classes == 3
    assert torch.equal(ds.images[10], torch.from_numpy(pics["c"][0]).permute(2, 0, 1).float() / 255)
    test = load_dataset("imagefolder", "test", root=tmp_path)
    assert torch.bincount(test.labels).tolist() == [1, 1, 1]


def test_imagefolder_size_mismatch(tmp_path: Path) -> None:
    _write_folder(tmp_path, {"a": [np.zeros((4, 4), np.uint8)], "b": [np.zeros((5, 4), np.uint8)]})
    with pytest.raises(ValueError, match="share one size"):
        load_dataset("imagefolder", root=tmp_path)
    with pytest.raises(ValueError, match="root="):
        load_dataset("imagefolder")
