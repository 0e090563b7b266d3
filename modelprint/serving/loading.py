"""Suspects behind a URL: ``http(s)://`` specs open a :class:`RemoteClassifier` (``modelprint serve`` on
the other side), checked against the shape and class count the keys expect. Local files are
:func:`modelprint.models.formats.load_classifier`'s; :func:`modelprint.verify.resolve_model` chooses."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from modelprint.models.io import ModelFileError
from modelprint.serving.remote import RemoteClassifier


def is_url(spec: str) -> bool:
    """Whether a model spec names a remote suspect."""
    return str(spec).startswith(("http://", "https://"))


def shape_text(shape: Sequence[int]) -> str:
    return "x".join(str(int(s)) for s in shape)


def load_remote(
    url: str,
    *,
    input_shape: Sequence[int] | None = None,
    num_classes: int | None = None,
    access: str | None = None,
    token: str | None = None,
    budget: int | None = None,
    journal: str | Path | None = None,
    timeout: float = 30.0,
    rate_limit: float | None = None,
) -> RemoteClassifier:
    """A :class:`~modelprint.serving.RemoteClassifier`, checked against the expected shape and classes."""
    remote = RemoteClassifier(
        url,
        access=access,
        token=token,
        budget=budget,
        journal=journal,
        timeout=timeout,
        rate_limit=rate_limit,
    )
    if input_shape is not None and tuple(remote.input_shape) != tuple(input_shape):
        remote.close()
        raise ModelFileError(
            f"{url} takes {shape_text(remote.input_shape)} inputs, expected {shape_text(input_shape)}"
        )
    if num_classes is not None and remote.num_classes != num_classes:
        remote.close()
        raise ModelFileError(f"{url} answers for {remote.num_classes} classes, expected {num_classes}")
    return remote


__all__ = ["is_url", "load_remote"]
