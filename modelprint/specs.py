"""``name:key=value,...`` specs, shared by threats (``jpeg:q=50``) and fingerprints (``cae:max_seeds=512``).

Values are converted to the parameter's declared type: ``bool`` (true/false/1/0), ``int``, ``float``
(``16/255`` allowed), a ``Literal`` of strings, ``str``; ``X | None`` also accepts ``none``. Floats print
back canonically (:func:`format_value`), so a spec round-trips."""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from typing import Any, Literal

ParamValue = int | float | str | bool | None


class SpecError(ValueError):
    """A spec that cannot be parsed, or names an unknown parameter or a value of the wrong type."""


def format_value(value: ParamValue) -> str:
    """Canonical text of a parameter value; floats round-trip exactly (``16/255`` stays ``16/255``)."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        if round(value * 255) / 255 == value:
            return f"{round(value * 255)}/255"
        return repr(value)
    return str(value)


def _optional(kind: Any) -> tuple[Any, bool]:
    """(the inner type, whether None is allowed) of ``X | None`` / ``Optional[X]``; other kinds unchanged."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        if len(args) == 1 and len(args) < len(typing.get_args(kind)):
            return args[0], True
    return kind, False


def convert(owner: str, key: str, text: str, kind: Any, error: type[SpecError] = SpecError) -> ParamValue:
    """``text`` as a value of ``kind`` for parameter ``key`` of ``owner``; ``error`` names the problem."""
    kind, nullable = _optional(kind)
    if nullable and text.lower() == "none":
        return None
    if typing.get_origin(kind) is Literal:
        allowed = [str(a) for a in typing.get_args(kind)]
        if text not in allowed:
            raise error(f"{owner}: {key} must be one of {', '.join(allowed)}; got {text!r}")
        return text
    try:
        if kind is bool:
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError(text)
            return text.lower() in ("true", "1")
        if kind is int:
            return int(text)
        if kind is float:
            num, slash, den = text.partition("/")
            return float(num) / float(den) if slash else float(text)
    except (ValueError, ZeroDivisionError):
        raise error(f"{owner}: {key} must be a {kind.__name__}; got {text!r}") from None
    if kind is str:
        return text
    raise error(f"{owner}: {key} cannot be set from the command line (it takes a {kind})")


def parameters(factory: Callable[..., Any]) -> dict[str, Any]:
    """Keyword parameters of a factory (function or dataclass) with their resolved type hints."""
    hints = typing.get_type_hints(factory.__init__ if isinstance(factory, type) else factory)
    params = inspect.signature(factory).parameters
    return {name: hints.get(name, str) for name, p in params.items() if p.kind is not p.VAR_KEYWORD}


def split_spec(text: str, kind: str, error: type[SpecError] = SpecError) -> tuple[str, list[tuple[str, str]]]:
    """``"jpeg:q=50,x=1"`` → ``("jpeg", [("q", "50"), ("x", "1")])``; duplicate or malformed items raise
    ``error`` naming the ``kind`` of spec (threat, fingerprint)."""
    name, _, args = text.strip().partition(":")
    name = name.strip()
    if not name:
        raise error(f"empty {kind} spec")
    items: list[tuple[str, str]] = []
    for item in filter(None, (a.strip() for a in args.split(","))):
        key, eq, value = (s.strip() for s in item.partition("="))
        if not eq or not key:
            raise error(f"{kind} {name!r}: expected key=value, got {item!r}")
        if key in dict(items):
            raise error(f"{kind} {name!r}: parameter {key!r} given twice")
        items.append((key, value))
    return name, items


def parse_kwargs(
    owner: str,
    items: list[tuple[str, str]],
    fields: dict[str, Any],
    error: type[SpecError] = SpecError,
) -> dict[str, ParamValue]:
    """Items of :func:`split_spec` converted against ``fields`` (from :func:`parameters`); ``owner`` names
    the spec in errors (``threat 'jpeg'``)."""
    kwargs: dict[str, ParamValue] = {}
    for key, value in items:
        if key not in fields:
            known = ", ".join(fields) or "none"
            raise error(f"{owner} has no parameter {key!r}; parameters: {known}")
        kwargs[key] = convert(owner, key, value, fields[key], error)
    return kwargs


def canonical(name: str, kwargs: dict[str, ParamValue]) -> str:
    """``name`` or ``name:k=v,...`` with the keys sorted and values in canonical form."""
    if not kwargs:
        return name
    return name + ":" + ",".join(f"{k}={format_value(v)}" for k, v in sorted(kwargs.items()))
