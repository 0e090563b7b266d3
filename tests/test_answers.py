import torch

from modelprint.bench.answers import SharedAnswers
from modelprint.models.access import Suspect


class Counting:
    output = "logits"
    num_classes = 3

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return x.flatten(1)[:, :3] * 2


def test_shared_answers_send_each_batch_once_and_every_scheme_is_charged() -> None:
    model = Counting()
    shared = SharedAnswers(model)
    x, y = torch.rand(5, 1, 2, 2), torch.rand(4, 1, 2, 2)
    labels, logits = Suspect(shared, access="labels"), Suspect(shared, access="logits")
    assert torch.equal(labels(x), (x.flatten(1)[:, :3] * 2).argmax(1))
    assert torch.equal(logits(x), x.flatten(1)[:, :3] * 2)
    logits(y)
    assert model.calls == 2 and shared.sent == 9 and shared.hits == 5
    assert labels.queries_spent == 5 and logits.queries_spent == 9  # each scheme pays for what it read
    out = logits(x)
    out += 1  # a caller mutating its answer must not corrupt the cache
    assert torch.equal(logits(x), x.flatten(1)[:, :3] * 2)
