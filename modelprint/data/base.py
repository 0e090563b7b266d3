"""The in-memory dataset type every part of modelprint passes around."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True, eq=False)
class Dataset:
    """Images (N,C,H,W) float32 in [0,1] and labels (N,) int64, with the per-channel ``mean``/``std`` of
    the dataset's training data (used for normalisation inside TorchClassifier, never applied here)."""

    name: str
    images: torch.Tensor
    labels: torch.Tensor
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        if self.images.ndim != 4:
            raise ValueError(f"{self.name}: images must be (N,C,H,W), got {tuple(self.images.shape)}")
        if self.labels.ndim != 1 or len(self.labels) != len(self.images):
            raise ValueError(f"{self.name}: need one label per image")
        if self.images.dtype != torch.float32:
            raise ValueError(f"{self.name}: images must be float32, got {self.images.dtype}")
        if len(self.labels) and (int(self.labels.min()) < 0 or int(self.labels.max()) >= self.num_classes):
            raise ValueError(f"{self.name}: labels outside [0, {self.num_classes})")

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __repr__(self) -> str:  # a notebook shows the dataset, not its tensors
        shape = "x".join(map(str, self.input_shape))
        return f"Dataset({self.name}, {len(self)} images of {shape}, {self.num_classes} classes)"

    @property
    def input_shape(self) -> tuple[int, int, int]:
        c, h, w = self.images.shape[1:]
        return int(c), int(h), int(w)

    def subset(self, index: torch.Tensor, name: str | None = None) -> Dataset:
        return Dataset(
            name or self.name, self.images[index], self.labels[index], self.num_classes, self.mean, self.std
        )
