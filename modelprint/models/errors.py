"""The one error every model-reading path raises: a missing, corrupt, hostile or ill-fitting model."""

from __future__ import annotations


class ModelFileError(ValueError):
    """A model file is missing, corrupt, truncated, hostile or does not fit its architecture."""


__all__ = ["ModelFileError"]
