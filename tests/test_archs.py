"""The architecture zoo: every registered net builds for any channels/size/classes and honours the contract
(``classifier`` is the last ``nn.Linear``, logits of shape (N, num_classes), gradients, seeded init)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from modelprint.models.archs import ARCHS, arch_names, build_arch
from modelprint.registry import UnknownNameError

# (in_channels, image_size, num_classes)
CONFIGS = [(1, 8, 10), (1, 28, 10), (3, 32, 100)]
REQUIRED = [
    "mlp",
    "lenet",
    "cnn-s",
    "cnn-m",
    "cnn-l",
    "resnet8",
    "resnet18",
    "resnet18-s",
    "vgg11-bn",
    "vgg16-bn",
    "mobilenet",
    "densenet",
]


def _build(name: str, c: int, s: int, k: int, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_arch(name, in_channels=c, num_classes=k, image_size=s)


def test_required_names_registered() -> None:
    names = arch_names()
    assert names == sorted(names)
    missing = [n for n in REQUIRED if n not in names]
    assert not missing, f"missing architectures: {missing}"
    assert all(n in ARCHS for n in names)


@pytest.mark.parametrize("cfg", [*CONFIGS, (2, 13, 3)], ids=lambda c: "c{}-s{}-k{}".format(*c))
@pytest.mark.parametrize("name", arch_names())
def test_forward_contract(name: str, cfg: tuple[int, int, int]) -> None:
    c, s, k = cfg
    model = _build(name, c, s, k).eval()
    assert isinstance(model.classifier, nn.Linear)
    assert model.classifier.out_features == k
    x = torch.randn(3, c, s, s, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = model(x)
        assert y.shape == (3, k)
        assert torch.isfinite(y).all()
        # the classifier is applied last, on the penultimate representation
        z = model.embed(x)
        assert z.shape == (3, model.classifier.in_features)
        torch.testing.assert_close(model.classifier(z), y)
        # ... and it is the module that produces the output: swapping it changes the logits
        torch.manual_seed(123)
        model.classifier = nn.Linear(model.classifier.in_features, k)
        assert not torch.allclose(model(x), y)


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: "c{}-s{}-k{}".format(*c))
@pytest.mark.parametrize("name", arch_names())
def test_backward_reaches_all_parameters(name: str, cfg: tuple[int, int, int]) -> None:
    c, s, k = cfg
    model = _build(name, c, s, k).train()
    x = torch.randn(4, c, s, s, generator=torch.Generator().manual_seed(2))
    loss = nn.functional.cross_entropy(model(x), torch.arange(4) % k)
    loss.backward()
    no_grad = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not no_grad, f"parameters without gradient: {no_grad}"
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    assert model.classifier.weight.grad is not None and model.classifier.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("name", arch_names())
def test_same_seed_same_weights(name: str) -> None:
    a = _build(name, 1, 28, 10, seed=7).state_dict()
    b = _build(name, 1, 28, 10, seed=7).state_dict()
    c = _build(name, 1, 28, 10, seed=8).state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[key], b[key]) for key in a)
    assert any(not torch.equal(a[key], c[key]) for key in a if a[key].is_floating_point())


def test_unknown_name_lists_known_ones() -> None:
    with pytest.raises(UnknownNameError) as info:
        build_arch("no-such-net", in_channels=1, num_classes=10, image_size=28)
    assert isinstance(info.value, KeyError)
    assert "no-such-net" in str(info.value) and "resnet8" in str(info.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"in_channels": 0, "num_classes": 10, "image_size": 28},
        {"in_channels": 1, "num_classes": -1, "image_size": 28},
        {"in_channels": 1, "num_classes": 10, "image_size": 0},
    ],
)
def test_non_positive_sizes_rejected(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="positive"):
        build_arch("cnn-s", **kwargs)
    with pytest.raises(ValueError, match="positive"):
        ARCHS.make("lenet", **kwargs)
