"""Lineage ids: ``train(cnn-m,mnist5k,0)->finetune(ftal)->prune(0.5,ft=3)``.

A lineage is a chain of steps; each step is an attack name with positional and keyword arguments.
Stolen-or-not and the attack kind of every benchmark pair are derived from lineages, never by hand."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

_STEP = re.compile(r"^([a-z][a-z0-9_-]*)\((.*)\)$")
_ARG = re.compile(r"^[A-Za-z0-9_.:+-]+$")
ARROW = "->"


class LineageError(ValueError):
    """A malformed lineage id."""


@dataclass(frozen=True)
class Step:
    """One lineage step: ``name(arg1,arg2,key=value)`` with string arguments."""

    name: str
    args: tuple[str, ...] = ()
    kwargs: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        parts = [*self.args, *(f"{k}={v}" for k, v in self.kwargs)]
        return f"{self.name}({','.join(parts)})"


def step(name: str, *args: object, **kwargs: object) -> str:
    """Format one step, e.g. ``step("prune", 0.5, ft=3) == "prune(0.5,ft=3)"``."""
    return str(Step(name, tuple(str(a) for a in args), tuple(sorted((k, str(v)) for k, v in kwargs.items()))))


def parse_step(text: str) -> Step:
    m = _STEP.match(text.strip())
    if not m:
        raise LineageError(f"malformed lineage step {text!r}; expected name(arg,...)")
    name, inner = m.groups()
    args: list[str] = []
    kwargs: list[tuple[str, str]] = []
    for raw in [a.strip() for a in inner.split(",")] if inner.strip() else []:
        key, eq, value = raw.partition("=")
        token = value if eq else key
        if not token or not _ARG.match(token) or (eq and not _ARG.match(key)):
            raise LineageError(f"malformed argument {raw!r} in step {text!r}")
        if eq:
            kwargs.append((key, value))
        elif kwargs:
            raise LineageError(f"positional argument after keyword in {text!r}")
        else:
            args.append(key)
    return Step(name, tuple(args), tuple(sorted(kwargs)))


def parse_lineage(lineage: str) -> list[Step]:
    if not lineage or not lineage.strip():
        raise LineageError("empty lineage")
    steps = [parse_step(part) for part in lineage.split(ARROW)]
    if steps[0].name != "train":
        raise LineageError(f"a lineage starts with train(...), got {steps[0]}")
    if any(s.name == "train" for s in steps[1:]):
        raise LineageError("train(...) may only be the first step")
    return steps


def canonical(lineage: str) -> str:
    """The normalised spelling (sorted keywords, no spaces): the cache key of a model."""
    return ARROW.join(str(s) for s in parse_lineage(lineage))


def join(parent: str, *steps: str) -> str:
    return canonical(ARROW.join([parent, *steps]))


def parent_of(lineage: str) -> str | None:
    steps = parse_lineage(lineage)
    return None if len(steps) == 1 else ARROW.join(str(s) for s in steps[:-1])


def root_of(lineage: str) -> str:
    return str(parse_lineage(lineage)[0])


def model_id(lineage: str) -> str:
    """A short, filesystem-safe id for a lineage."""
    return hashlib.sha256(canonical(lineage).encode()).hexdigest()[:16]


def step_seed(lineage: str) -> int:
    """Deterministic seed of the last step: fixed by the lineage, so rebuilding gives the same weights."""
    return int(hashlib.sha256(("seed:" + canonical(lineage)).encode()).hexdigest()[:8], 16)


def is_derived(suspect: str, victim: str) -> bool:
    """True when ``suspect`` is ``victim`` or was produced from it by further steps."""
    s, v = parse_lineage(suspect), parse_lineage(victim)
    return len(s) >= len(v) and s[: len(v)] == v


def task_of(victim: str, suspect: str, name_of: Callable[[Step], str] | None = None) -> str:
    """The QuRD-style task of a pair: ``same``, the attack steps after the victim joined by ``+`` for
    positives; ``independent`` for an unrelated model and ``mirror:<steps>`` for an attacked one.
    ``name_of`` maps a step to its task name (default: the step's name)."""
    name = name_of or (lambda st: st.name)
    s, v = parse_lineage(suspect), parse_lineage(victim)
    if is_derived(suspect, victim):
        rest = s[len(v) :]
        return "same" if not rest else "+".join(name(st) for st in rest)
    if len(s) == 1:
        return "independent"
    return "mirror:" + "+".join(name(st) for st in s[1:])
