import pytest
import torch

from modelprint.models.access import AccessError, BudgetExhausted, QueryBudget, Suspect
from modelprint.representations import HardLabels
from modelprint.types import Queries


class CountingModel:
    """A logit model that records how many images reached it."""

    output = "logits"
    num_classes = 4

    def __init__(self) -> None:
        self.seen = 0
        torch.manual_seed(0)
        self.w = torch.randn(3, 4)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.seen += len(x)
        return x.flatten(1)[:, :3] @ self.w


X = torch.rand(6, 1, 2, 2)


def test_each_access_level_returns_what_it_promises() -> None:
    model = CountingModel()
    logits = model(X)
    assert torch.equal(Suspect(model, "logits")(X), logits)
    assert torch.allclose(Suspect(model, "probs")(X), logits.softmax(1))
    assert torch.equal(Suspect(model, "labels")(X), logits.argmax(1))
    top = Suspect(model, "topk", k=2)(X)
    assert top.shape == (6, 2) and torch.equal(top[:, 0], logits.argmax(1))
    assert torch.equal(top, logits.topk(2, dim=1).indices)


def test_a_label_only_suspect_refuses_more_access() -> None:
    labels_only = Suspect(CountingModel(), "labels")
    with pytest.raises(AccessError, match="needs 'probs'"):
        Suspect(labels_only, "probs")
    assert HardLabels()(labels_only, Queries(X)).shape == (6,)


def test_budget_counts_images_and_refuses_before_sending() -> None:
    model = CountingModel()
    suspect = Suspect(model, "labels", budget=10)
    suspect(X)
    assert suspect.queries_spent == 6 and model.seen == 6
    with pytest.raises(BudgetExhausted) as err:
        suspect(X)
    assert err.value.needed == 6 and err.value.remaining == 4
    assert model.seen == 6  # nothing was sent
    assert "only 4 of 10 remain" in str(err.value)


def test_query_budget_validation() -> None:
    with pytest.raises(ValueError):
        QueryBudget(-1)
    b = QueryBudget(None)
    b.charge(10**9)
    assert b.remaining is None and b.spent == 10**9
