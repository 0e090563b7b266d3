"""A user's own architecture, named on the command line as ``package.module:Class`` (with keyword
arguments as a JSON object), so their weights files are read into their own class. Only the module the
user names is imported; nothing is imported from a weights file."""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping

from torch import nn

from modelprint.models.io import ModelFileError


def is_user_arch(arch: str | None) -> bool:
    """Whether ``arch`` names a user class (``module:Class``) rather than a built-in architecture."""
    return arch is not None and ":" in arch


def parse_arch_kwargs(text: str | None) -> dict[str, object]:
    """``--arch-kwargs`` as a dict: a JSON object, or nothing."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"--arch-kwargs is not JSON ({exc.msg} at {exc.pos})") from None
    if not isinstance(value, dict):
        raise ModelFileError(f"--arch-kwargs must be a JSON object, got {type(value).__name__}")
    return value


def user_module(arch: str, kwargs: Mapping[str, object] | None = None) -> nn.Module:
    """An instance of the ``nn.Module`` class ``arch`` = ``package.module:Class``, built with ``kwargs``."""
    module_name, _, class_name = arch.partition(":")
    if not all(part.isidentifier() for part in module_name.split(".")) or not class_name.isidentifier():
        raise ModelFileError(f"--arch {arch!r}: expected package.module:Class")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # a user's module may fail to import in any way (ImportError, SyntaxError, ...)
        why = f"{type(exc).__name__}: {exc}".splitlines()[0]
        raise ModelFileError(f"--arch {arch!r}: cannot import {module_name} ({why})") from None
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ModelFileError(f"--arch {arch!r}: {module_name} has no nn.Module class {class_name}")
    try:
        return cls(**dict(kwargs or {}))
    except Exception as exc:  # the user's constructor may fail in any way: one line, naming it
        raise ModelFileError(f"--arch {arch!r}: {class_name}(**{dict(kwargs or {})}) failed: {exc}") from None


__all__ = ["is_user_arch", "parse_arch_kwargs", "user_module"]
