"""Factories of the pool-based label-only schemes (CAE, MetaFinger, AnaFP, NaturalFinger): the scheme's
settings are its sampler's keyword arguments plus ``budget``, declared once, on the sampler."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable

from modelprint.detectors.matching import MatchRate
from modelprint.fingerprints.base import FINGERPRINTS, Fingerprint
from modelprint.queries.base import PoolSampler
from modelprint.representations.outputs import HardLabels

__all__ = ["register_label_scheme"]


def register_label_scheme(
    name: str, sampler: type[PoolSampler], *, doc: str, budget: int = 100
) -> Callable[..., Fingerprint]:
    """Register ``name`` as (``sampler(**settings)``, hard labels, match rate) and return its factory.

    The factory's signature is ``budget`` followed by the sampler's keyword-only parameters with their
    types and defaults, so ``name:key=value`` settings on the command line are typed by the sampler itself
    and every setting the sampler has can be set."""
    init = inspect.signature(sampler.__init__)
    settings = [p for p in init.parameters.values() if p.name != "self"]
    if any(p.kind is not p.KEYWORD_ONLY for p in settings):
        raise TypeError(f"{sampler.__name__}'s settings must be keyword-only")
    hints = {k: v for k, v in typing.get_type_hints(sampler.__init__).items() if k != "return"}

    def factory(*, budget: int = budget, **kwargs: typing.Any) -> Fingerprint:
        return Fingerprint(name, sampler(**kwargs), HardLabels(), MatchRate(), budget)

    first = inspect.Parameter("budget", inspect.Parameter.KEYWORD_ONLY, default=budget, annotation=int)
    factory.__signature__ = init.replace(  # type: ignore[attr-defined]
        parameters=[first, *settings], return_annotation=Fingerprint
    )
    factory.__annotations__ = {"budget": int, **hints, "return": Fingerprint}
    factory.__name__ = factory.__qualname__ = name.replace("-", "_")
    factory.__doc__ = doc
    return FINGERPRINTS.register(name)(factory)
