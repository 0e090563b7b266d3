"""Lineage steps: how a thief (or an independent party) makes a model. One registry, one class per attack."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

import torch
from torch import nn

from modelprint.data import Dataset, load_dataset
from modelprint.models.base import TorchClassifier
from modelprint.registry import Registry
from modelprint.types import JSONValue


class Step(Protocol):
    """A parsed lineage step as attacks read it (the zoo's :class:`~modelprint.zoo.lineage.Step`): the
    attack's name, positional and keyword arguments, all strings."""

    @property
    def name(self) -> str: ...

    @property
    def args(self) -> tuple[str, ...]: ...

    @property
    def kwargs(self) -> tuple[tuple[str, str], ...]: ...


@dataclass
class AttackContext:
    """What a step may use: the dataset's splits (owner / attacker / test) and the device."""

    dataset: str
    split_seed: int = 0
    device: str = "cpu"
    data_root: str | None = None

    _cache: dict[str, Dataset] = field(default_factory=dict, repr=False)

    def split(self, name: str) -> Dataset:
        """The named split of the context's dataset, loaded once."""
        if name not in self._cache:
            self._cache[name] = load_dataset(
                self.dataset, name, root=self.data_root, split_seed=self.split_seed
            )
        return self._cache[name]


@dataclass
class Built:
    """The result of one step: the new module, its architecture name and the settings used."""

    module: nn.Module
    arch: str
    config: dict[str, JSONValue] = field(default_factory=dict)


class Modification(ABC):
    """One lineage step. Subclasses are constructed from the step's arguments (``positional`` names the
    order of positional arguments) and keep paper defaults as keyword defaults."""

    positional: ClassVar[tuple[str, ...]] = ()
    example: ClassVar[str] = ""
    """A cheap instance of the step on the bundled digits (documentation, and the contract test every
    registered attack runs: ``tests/test_contracts.py``)."""
    needs_parent: ClassVar[bool] = True
    fresh_student: ClassVar[bool] = False
    """True when the step trains a new model from scratch on the parent's answers (distillation and
    extraction): the parent's weights do not carry over, only its behaviour."""

    @abstractmethod
    def apply(
        self, parent: TorchClassifier | None, parent_arch: str | None, ctx: AttackContext, *, seed: int
    ) -> Built:
        """Return the new model. ``parent`` is the white-box parent (None for ``train``)."""

    def task_name(self) -> str:
        """The benchmark task this step belongs to (QuRD's task names); defaults to the step's name."""
        return getattr(self, "registered_name", type(self).__name__.lower())


ATTACKS: Registry[Modification] = Registry("attack", group="modelprint.attacks")

_RNG_LOCK = threading.Lock()


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Use torch's global RNG (layer initialisation) under ``seed`` without disturbing other threads:
    the global RNG is locked and restored, so builds in a threaded executor stay deterministic.
    Everything else draws from explicit ``torch.Generator`` objects."""
    with _RNG_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def make_step(step: Step) -> Modification:
    """Instantiate the registered attack for a parsed step, mapping positional args by ``positional``.

    The keyword ``rep=k`` is accepted by every step and only distinguishes repeats: it changes the lineage
    id and so the step's seed (the papers' suites repeat each attack several times)."""
    cls = ATTACKS.get(step.name)
    names: tuple[str, ...] = getattr(cls, "positional", ())
    if len(step.args) > len(names):
        raise ValueError(f"{step}: too many positional arguments (expected {', '.join(names) or 'none'})")
    kwargs: dict[str, str] = dict(zip(names, step.args, strict=False))
    for k, v in step.kwargs:
        if k in kwargs:
            raise ValueError(f"{step}: argument {k!r} given twice")
        kwargs[k] = v
    rep = kwargs.pop("rep", "0")
    if not rep.isdigit():
        raise ValueError(f"{step}: rep must be a non-negative integer, got {rep!r}")
    try:
        attack = cls(**kwargs)
    except TypeError as exc:
        raise ValueError(f"{step}: {exc}") from None
    attack.registered_name = step.name
    return attack


def step_task(step: Step) -> str:
    """The task name of a parsed step (see :meth:`Modification.task_name`)."""
    return make_step(step).task_name()
