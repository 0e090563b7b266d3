"""PoolEnsemble (spec §6–9 pools): batched groups give the loop's logits and input gradients, in order."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import modelprint.pools.ensemble as ensemble_module
from modelprint.models.archs import build_arch
from modelprint.models.base import TorchClassifier
from modelprint.pools import PoolEnsemble

SHAPE = (1, 8, 8)


def member(
    module: nn.Module, seed: int, classes: int = 10, shape: tuple[int, ...] = SHAPE
) -> TorchClassifier:
    """Wrap ``module`` with seed-dependent normalisation and non-trivial batch-norm statistics."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, nn.BatchNorm2d):
                layer.running_mean.copy_(0.3 * torch.randn(layer.num_features, generator=gen))
                layer.running_var.copy_(0.5 + torch.rand(layer.num_features, generator=gen))
                layer.weight.copy_(1.0 + 0.2 * torch.randn(layer.num_features, generator=gen))
    mean, std = [0.1 * seed], [0.3 + 0.05 * seed]
    return TorchClassifier(module, num_classes=classes, input_shape=shape, mean=mean, std=std)


def arch(name: str, seed: int) -> TorchClassifier:
    torch.manual_seed(seed)
    return member(build_arch(name, in_channels=1, num_classes=10, image_size=SHAPE[1]), seed)


# cnn-s x3 and resnet8 x2 (batch norm) form two groups; the mlp and vgg11-bn are singletons (loop).
ARCHS = ("cnn-s", "mlp", "cnn-s", "resnet8", "vgg11-bn", "cnn-s", "resnet8")


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one intra-op thread (conftest)


@pytest.fixture(scope="module")
def pool(one_thread: None) -> list[TorchClassifier]:
    return [arch(name, seed) for seed, name in enumerate(ARCHS)]


def logits_and_grad(ens: PoolEnsemble, x0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = x0.clone().requires_grad_(True)
    out = ens.logits(x)
    weights = torch.linspace(-1.0, 1.0, out.numel()).view_as(out)  # every member and class matters
    (out * weights).sum().backward()
    assert x.grad is not None
    return out.detach(), x.grad


@pytest.mark.parametrize(("method", "strategy"), [("auto", "grouped"), ("vmap", "vmap")])
def test_batched_matches_loop_and_members(pool: list[TorchClassifier], method: str, strategy: str) -> None:
    ens = PoolEnsemble(pool, batched=True, method=method)  # type: ignore[arg-type]
    assert ens.groups == (
        (strategy, (0, 2, 5)),
        ("loop", (1,)),
        (strategy, (3, 6)),
        ("loop", (4,)),
    )
    x0 = torch.rand(5, *SHAPE, generator=torch.Generator().manual_seed(1))
    out, grad = logits_and_grad(ens, x0)
    ref_out, ref_grad = logits_and_grad(PoolEnsemble(pool, batched=False), x0)
    assert out.shape == (len(pool), 5, 10)
    assert torch.allclose(out, ref_out, rtol=0, atol=1e-5)
    assert torch.allclose(grad, ref_grad, rtol=0, atol=1e-5)
    assert grad.abs().max() > 1e-3  # the comparison is not vacuous
    with torch.no_grad():  # member order: row i is member i's own forward
        members = torch.stack([m.forward(x0) for m in pool])
    assert torch.allclose(out, members, rtol=0, atol=1e-5)


def test_members_untouched_and_snapshot(pool: list[TorchClassifier]) -> None:
    ens = PoolEnsemble(pool, batched=True)
    before = [{k: v.clone() for k, v in m.module.state_dict().items()} for m in pool]
    x0 = torch.rand(3, *SHAPE)
    out, _ = logits_and_grad(ens, x0)
    for m, state in zip(pool, before, strict=True):
        assert all(p.grad is None for p in m.module.parameters())
        assert all(torch.equal(v, state[k]) for k, v in m.module.state_dict().items())
    copies = [arch("cnn-s", 0), arch("cnn-s", 2)]
    snap = PoolEnsemble(copies, batched=True)
    assert snap.groups == (("grouped", (0, 1)),)
    with torch.no_grad():
        for p in copies[0].module.parameters():
            p.add_(1.0)
    assert torch.allclose(snap.logits(x0), out[[0, 2]], atol=1e-5)  # built before the change


def test_probs_labels_and_chunking(pool: list[TorchClassifier], monkeypatch: pytest.MonkeyPatch) -> None:
    ens = PoolEnsemble(pool, batched=True)
    x = torch.rand(7, *SHAPE)
    probs, labels = ens.probs(x), ens.labels(x)
    assert probs.shape == (len(pool), 7, 10) and labels.shape == (len(pool), 7)
    assert torch.allclose(probs.sum(-1), torch.ones(len(pool), 7))
    assert torch.equal(labels, probs.argmax(-1))
    assert len(ens) == len(pool) and ens.num_classes == 10 and ens.input_shape == SHAPE
    monkeypatch.setattr(ensemble_module, "NO_GRAD_CHUNK", 3)  # without gradients, inputs go in chunks
    assert torch.equal(ens.labels(x), labels)
    with pytest.raises(ValueError, match="expects inputs"):
        ens.logits(torch.rand(2, 3, 8, 8))


@pytest.mark.parametrize("batched", [True, False])
def test_a_mini_batch_of_members(pool: list[TorchClassifier], batched: bool) -> None:
    """``members`` (NaturalFinger's model mini-batches): those rows, in that order, with their gradient."""
    ens = PoolEnsemble(pool, batched=batched)
    x0 = torch.rand(4, *SHAPE, generator=torch.Generator().manual_seed(2))
    full, _ = logits_and_grad(ens, x0)
    pick = [4, 0, 5, 3]  # a singleton, two members of one group, one of another; out of order
    x = x0.clone().requires_grad_(True)
    some = ens.logits(x, members=pick)
    assert some.shape == (4, 4, 10) and torch.allclose(some, full[pick], rtol=0, atol=1e-5)
    some.sum().backward()
    ref = x0.clone().requires_grad_(True)
    torch.stack([pool[i].forward(ref) for i in pick]).sum().backward()
    assert x.grad is not None and ref.grad is not None
    assert torch.allclose(x.grad, ref.grad, rtol=0, atol=1e-5) and ref.grad.abs().max() > 1e-3
    for bad in ([], [len(pool)], [-1]):
        with pytest.raises(ValueError, match="members"):
            ens.logits(x0, members=bad)


def test_mismatched_members_are_refused() -> None:
    torch.manual_seed(0)
    five = member(build_arch("mlp", in_channels=1, num_classes=5, image_size=8), 0, classes=5)
    with pytest.raises(ValueError, match="disagree"):
        PoolEnsemble([arch("mlp", 0), five])
    wide = member(build_arch("mlp", in_channels=1, num_classes=10, image_size=9), 0, shape=(1, 9, 9))
    with pytest.raises(ValueError, match="disagree"):
        PoolEnsemble([arch("mlp", 0), wide])
    with pytest.raises(ValueError, match="at least one"):
        PoolEnsemble([])


class Flip(nn.Module):
    """Custom forward that mixes channels (flip): wrong on channel-stacked inputs, so it must go to vmap."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.head = nn.Linear(4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(x).flip(1).mean((2, 3)))


class Branchy(nn.Module):
    """Data-dependent Python control flow: vmap cannot trace it, so the group falls back to the loop."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        return self.head(x if x.sum() > 0 else -x)


def small(factory: type[nn.Module] | nn.Module, seed: int) -> TorchClassifier:
    torch.manual_seed(seed)
    return member(factory() if isinstance(factory, type) else factory, seed)


def test_fallbacks_and_layer_settings() -> None:
    x0 = torch.rand(4, *SHAPE)
    pools = {
        "vmap": [small(Flip, 0), small(Flip, 1)],
        "loop": [small(Branchy, 0), small(Branchy, 1)],
    }
    for strategy, members in pools.items():
        ens = PoolEnsemble(members, batched=True)
        assert ens.groups == ((strategy, (0, 1)),)
        out, grad = logits_and_grad(ens, x0)
        ref_out, ref_grad = logits_and_grad(PoolEnsemble(members, batched=False), x0)
        assert torch.allclose(out, ref_out, atol=1e-5) and torch.allclose(grad, ref_grad, atol=1e-5)

    def strided(stride: int) -> nn.Module:  # same parameter shapes, different layer settings
        return nn.Sequential(
            nn.Conv2d(1, 4, 3, stride=stride), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10)
        )

    mixed = PoolEnsemble([small(strided(1), 0), small(strided(2), 1), small(strided(1), 2)], batched=True)
    assert mixed.groups == (("grouped", (0, 2)), ("loop", (1,)))
    training = small(strided(1), 3)
    training.module.train()
    assert PoolEnsemble([small(strided(1), 0), training], batched=True).groups == (
        ("loop", (0,)),
        ("loop", (1,)),
    )
    hooked = small(strided(1), 4)
    hooked.module[0].register_forward_hook(lambda _m, _i, out: out * 2)
    assert PoolEnsemble([small(strided(1), 0), hooked], batched=True).groups == (
        ("loop", (0,)),
        ("loop", (1,)),
    )
    assert PoolEnsemble(mixed.models, batched=False).groups == tuple(("loop", (i,)) for i in range(3))
    assert PoolEnsemble(mixed.models).groups == PoolEnsemble(mixed.models, batched=False).groups  # CPU: loop
