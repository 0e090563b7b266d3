"""Access levels a suspect exposes (logits, probabilities, top-k, label-only) and the query budget.

A scheme that needs more than a suspect gives fails with :class:`AccessError`
(docs/conventions.md#access-levels: never read logits through a label-only wrapper). Every suspect counts the
images sent to it."""

from __future__ import annotations

import torch

from modelprint.models.base import Classifier
from modelprint.types import OUTPUTS, Output, gives_at_least


class AccessError(RuntimeError):
    """The suspect does not expose the output level a representation needs."""


class BudgetExhausted(RuntimeError):
    """Raised *before* sending a batch that would exceed the query budget."""

    def __init__(self, needed: int, remaining: int, limit: int) -> None:
        super().__init__(
            f"query budget exhausted: this batch needs {needed} queries, only {remaining} of {limit} remain"
        )
        self.needed, self.remaining, self.limit = needed, remaining, limit


class QueryBudget:
    """Counts queries in images; refuses a batch that would exceed ``limit`` (``None`` = unlimited)."""

    def __init__(self, limit: int | None = None) -> None:
        if limit is not None and limit < 0:
            raise ValueError("query budget must be non-negative")
        self.limit = limit
        self.spent = 0

    @property
    def remaining(self) -> int | None:
        return None if self.limit is None else self.limit - self.spent

    def charge(self, n: int) -> None:
        if self.limit is not None and self.spent + n > self.limit:
            raise BudgetExhausted(n, self.limit - self.spent, self.limit)
        self.spent += n


def require(available: Output, needed: Output, who: str = "this representation") -> None:
    if not gives_at_least(available, needed):
        raise AccessError(f"{who} needs '{needed}' access but the suspect only gives '{available}'")


def to_labels(out: torch.Tensor, output: Output) -> torch.Tensor:
    """Hard labels (N,) from any output level."""
    if output == "labels":
        return out.long()
    if output == "topk":
        return out[:, 0].long()
    return out.argmax(dim=1)


def to_probs(out: torch.Tensor, output: Output) -> torch.Tensor:
    """Probabilities (N,K); needs 'probs' or 'logits'."""
    require(output, "probs")
    return out if output == "probs" else out.softmax(dim=1)


def to_logits(out: torch.Tensor, output: Output) -> torch.Tensor:
    require(output, "logits")
    return out


class Suspect:
    """Wraps any classifier behind an access level and a query budget.

    ``output`` is one of labels / topk / probs / logits; for ``topk`` the suspect returns the k most likely
    labels in order (N,k). The wrapped model must itself expose at least the requested level."""

    def __init__(
        self, model: Classifier, access: Output = "logits", *, k: int = 5, budget: int | None = None
    ) -> None:
        if access not in OUTPUTS:
            raise ValueError(f"unknown access level {access!r}; expected one of {OUTPUTS}")
        require(model.output, access, who=f"access level '{access}'")
        if access == "topk" and not 1 <= k <= model.num_classes:
            raise ValueError(f"top-k needs 1 <= k <= {model.num_classes}, got {k}")
        self.model = model
        self.output: Output = access
        self.k = k
        self.num_classes = model.num_classes
        self.input_shape: tuple[int, ...] = tuple(getattr(model, "input_shape", ()))  # () if undeclared
        self.name: str = str(getattr(model, "name", "") or "")
        self.budget = QueryBudget(budget)

    @property
    def queries_spent(self) -> int:
        return self.budget.spent

    def __repr__(self) -> str:
        return f"Suspect({self.model!r}, access={self.output!r}, spent={self.budget.spent})"

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.budget.charge(int(x.shape[0]))
        out = self.model(x)
        if self.model.output == self.output:
            return out
        if self.output == "labels":
            return to_labels(out, self.model.output)
        if self.output == "topk":
            scores = out if self.model.output in ("probs", "logits") else None
            if scores is None:  # the model itself gives top-k: truncate
                return out[:, : self.k].long()
            return scores.topk(self.k, dim=1).indices
        if self.output == "probs":
            return to_probs(out, self.model.output)
        return out
