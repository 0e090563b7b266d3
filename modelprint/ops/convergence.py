"""Stop rules for the iterative query samplers: a paper's step count is the cap, and the loop ends earlier
once its objective has stopped improving.

A :class:`StopRule` is ``tol`` (relative) over ``window`` checks: after check t, the loop may stop when the
best objective seen so far has improved by at most ``tol`` · max(|best at check t − ``window``|, ``floor``)
over the last ``window`` checks. ``floor`` (default 0) makes the tolerance absolute near zero, for losses that
decay towards 0 geometrically and so never stop improving relatively. ``window=0`` switches the rule off, so
the loop runs to its cap exactly as before. The rule is a sampler setting and therefore part of a key's config
(``repr``): keys made with and without it never share a cache entry. :class:`Plateau` tracks one objective or
a vector of independent ones (one per seed of a batch), so samplers whose points are optimised independently
can retire each point on its own."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

_progress: list[tqdm] = []
"""The bar every :class:`Plateau` check advances while :func:`key_progress` is open (none otherwise)."""


@contextmanager
def key_progress(label: str) -> Iterator[None]:
    """Show, on a terminal, a bar counting the optimisation checks of the key being made (``modelprint
    fingerprint generate``): the iterative samplers run minutes, and every one checks its stop rule."""
    bar = tqdm(desc=label, unit="check", disable=None, leave=False)
    _progress.append(bar)
    try:
        yield
    finally:
        _progress.remove(bar)
        bar.close()


@dataclass(frozen=True)
class StopRule:
    """Stop when the best objective improved by ≤ ``tol`` · max(|best then|, ``floor``) over the last
    ``window`` checks."""

    tol: float = 1e-3
    window: int = 20
    floor: float = 0.0

    def __post_init__(self) -> None:
        if self.tol < 0 or self.window < 0 or self.floor < 0:
            raise ValueError(
                "stop rule: tol, window and floor must be non-negative, "
                f"got {self.tol}, {self.window}, {self.floor}"
            )

    @property
    def enabled(self) -> bool:
        return self.window > 0

    def plateau(self, *, maximise: bool = False) -> Plateau:
        """A fresh tracker for one loop."""
        return Plateau(self, maximise=maximise)


NEVER = StopRule(0.0, 0)
"""The rule that never stops a loop early (the samplers' behaviour before stop rules existed)."""


class Plateau:
    """Tracks the best-so-far of an objective (a float, or a tensor of independent objectives) across checks.

    :meth:`update` returns whether every tracked objective has converged; :attr:`converged` is the per-entry
    mask, :attr:`checks` how many checks were made and :attr:`stopped_at` the check at which the whole
    objective first converged (None while it has not)."""

    def __init__(self, rule: StopRule, *, maximise: bool = False) -> None:
        self.rule = rule
        self.sign = -1.0 if maximise else 1.0
        self._history: deque[torch.Tensor] = deque(maxlen=rule.window + 1)
        self._best: torch.Tensor | None = None
        self.converged = torch.zeros(0, dtype=torch.bool)
        self.checks = 0
        self.stopped_at: int | None = None

    def update(self, value: float | torch.Tensor) -> bool:
        """Record one check of the objective (lower is better unless ``maximise``)."""
        v = self.sign * torch.as_tensor(value, dtype=torch.float64).detach().cpu().reshape(-1)
        v = torch.where(torch.isnan(v), torch.full_like(v, float("inf")), v)
        self._best = v.clone() if self._best is None else torch.minimum(self._best, v)
        self._history.append(self._best.clone())
        self.checks += 1
        if _progress:
            _progress[-1].update()
        if not self.rule.enabled or len(self._history) <= self.rule.window:
            self.converged = torch.zeros(len(self._best), dtype=torch.bool)
            return False
        before, now = self._history[0], self._best
        scale = before.abs().clamp_min(self.rule.floor)
        finite = torch.isfinite(before) & torch.isfinite(now)
        self.converged = finite & (before - now <= self.rule.tol * scale)
        done = bool(self.converged.all())
        if done and self.stopped_at is None:
            self.stopped_at = self.checks
        return done

    @property
    def best(self) -> torch.Tensor | None:
        """The best objective so far (in the objective's own sign), or None before the first check."""
        return None if self._best is None else self.sign * self._best


__all__ = ["NEVER", "Plateau", "StopRule"]
