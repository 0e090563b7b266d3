"""A user's own architecture, named as ``package.module:Class`` (with keyword arguments as a JSON object on
the command line, or ``arch.NAME=VALUE`` options in a lineage's ``train`` step), so their weights files are
read into their own class and zoo models (a matched calibration set, an extraction student) can be trained
in it. Only a module the user named in this run (``--arch``) is imported: a card or lineage naming any
other module is refused, so a foreign workspace cannot make modelprint import code. The allowance is
passed to worker processes through :data:`ALLOW_ENV`. Nothing is ever imported from a weights file."""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Mapping

from torch import nn

from modelprint.models.errors import ModelFileError

ALLOW_ENV = "MODELPRINT_USER_ARCHS"
"""Environment variable holding the user classes this run may import (comma-separated), so that local
worker processes and Dask workers started from this process may build them too."""
ARCH_OPTION = "arch."
"""Prefix of a lineage keyword that is a constructor argument of a user class (``arch.width=32``)."""


def is_user_arch(arch: str | None) -> bool:
    """Whether ``arch`` names a user class (``module:Class``) rather than a built-in architecture."""
    return arch is not None and ":" in arch


def allow_user_arch(arch: str) -> None:
    """Let this process (and the workers it starts) import the user class ``arch``."""
    allowed = _allowed()
    if arch not in allowed:
        os.environ[ALLOW_ENV] = ",".join(sorted({*allowed, arch}))


def _allowed() -> set[str]:
    return {a for a in os.environ.get(ALLOW_ENV, "").split(",") if a}


def user_arch_allowed(arch: str) -> bool:
    """Whether this run may import the user class ``arch``."""
    return arch in _allowed()


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


def lineage_options(kwargs: Mapping[str, object]) -> dict[str, str]:
    """A user class's constructor arguments as lineage keywords (``{"width": 32}`` → ``arch.width=32``);
    values must be JSON scalars, so a lineage spells them in its own characters."""
    out = {}
    for name, value in kwargs.items():
        if not (isinstance(value, (bool, int, float, str)) and str(name).isidentifier()):
            raise ModelFileError(f"--arch-kwargs {name}={value!r}: a zoo lineage holds only scalar arguments")
        if isinstance(value, str) and _reads_as_json(value):
            raise ModelFileError(
                f"--arch-kwargs {name}={value!r}: text that reads as a number or a JSON word would come back "
                "as one from a lineage; give it as that value"
            )
        out[f"{ARCH_OPTION}{name}"] = json.dumps(value) if not isinstance(value, str) else value
    return out


def _reads_as_json(text: str) -> bool:
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return False
    return True


def options_from_lineage(options: Mapping[str, str]) -> dict[str, object]:
    """The constructor arguments a ``train`` step's ``arch.NAME=VALUE`` keywords give (numbers and booleans
    read as JSON, anything else kept as text)."""
    out: dict[str, object] = {}
    for key, text in options.items():
        if not key.startswith(ARCH_OPTION) or not key[len(ARCH_OPTION) :].isidentifier():
            raise ValueError(f"train: unknown argument {key!r}")
        try:
            value: object = json.loads(text)
        except json.JSONDecodeError:
            value = text
        out[key[len(ARCH_OPTION) :]] = value
    return out


def user_module(arch: str, kwargs: Mapping[str, object] | None = None) -> nn.Module:
    """An instance of the ``nn.Module`` class ``arch`` = ``package.module:Class``, built with ``kwargs``.
    The working directory is searched first, as for ``python -m``, for this import only."""
    module_name, _, class_name = arch.partition(":")
    if not all(part.isidentifier() for part in module_name.split(".")) or not class_name.isidentifier():
        raise ModelFileError(f"--arch {arch!r}: expected package.module:Class")
    added = os.getcwd() not in sys.path
    if added:  # for this import only: the rest of the run must not find modules in the working directory
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # a user's module may fail to import in any way (ImportError, SyntaxError, ...)
        why = f"{type(exc).__name__}: {exc}".splitlines()[0]
        raise ModelFileError(f"--arch {arch!r}: cannot import {module_name} ({why})") from None
    finally:
        if added and os.getcwd() in sys.path:
            sys.path.remove(os.getcwd())
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ModelFileError(f"--arch {arch!r}: {module_name} has no nn.Module class {class_name}")
    try:
        return cls(**dict(kwargs or {}))
    except Exception as exc:  # the user's constructor may fail in any way: one line, naming it
        raise ModelFileError(f"--arch {arch!r}: {class_name}(**{dict(kwargs or {})}) failed: {exc}") from None


def build_architecture(
    arch: str,
    *,
    in_channels: int,
    num_classes: int,
    image_size: int,
    arch_kwargs: Mapping[str, object] | None = None,
) -> nn.Module:
    """An untrained ``arch``: a built-in architecture built for the data's shape, or a user class built
    with its own arguments (its shape and class count are whatever it answers; callers check them). A user
    class is imported only when :func:`allow_user_arch` allowed it in this run."""
    from modelprint.models.archs import build_arch

    if not is_user_arch(arch):
        if arch_kwargs:
            raise ValueError(f"{arch}: a built-in architecture takes no arguments ({dict(arch_kwargs)})")
        return build_arch(arch, in_channels=in_channels, num_classes=num_classes, image_size=image_size)
    if arch not in _allowed():
        raise ModelFileError(
            f"this model is built from the class {arch}, which modelprint imports only when told to: "
            f"add --arch {arch} to the command"
        )
    return user_module(arch, arch_kwargs)


__all__ = [
    "ALLOW_ENV", "allow_user_arch", "build_architecture", "is_user_arch", "lineage_options",
    "options_from_lineage", "parse_arch_kwargs", "user_arch_allowed", "user_module",
]  # fmt: skip
