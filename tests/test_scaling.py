"""Constants scaled to the data follow their stated rule on two datasets and are the papers' on CIFAR."""

from __future__ import annotations

import pytest
import torch

from modelprint.data import Dataset, load_dataset
from modelprint.data.traits import traits_of
from modelprint.models.archs import build_arch
from modelprint.models.base import TorchClassifier
from modelprint.ops.adversarial import minimal_linf_distance, pgd
from modelprint.ops.corner_cutmix import corner_cutmix
from modelprint.ops.scaling import content_box, median_linf_distance, scaled_linf
from modelprint.queries.adversarial import MODELDIFF_EPS, ModelDiffQueries
from modelprint.queries.naturalfinger import naturalfinger_transforms
from modelprint.testing.tiny import TinyZoo


def _cifar_like(n: int = 16) -> Dataset:
    """Random 32×32 colour images under the name ``cifar10`` (the traits are looked up by name)."""
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(n, 3, 32, 32, generator=gen)
    labels = torch.arange(n) % 10
    return Dataset("cifar10", images, labels, 10, (0.5,) * 3, (0.25,) * 3)


def _model(data: Dataset) -> TorchClassifier:
    c, h, _ = data.input_shape
    torch.manual_seed(0)
    module = build_arch("lenet", in_channels=c, num_classes=data.num_classes, image_size=h)
    return TorchClassifier(module, num_classes=data.num_classes, input_shape=data.input_shape)


def test_minimal_distance_is_where_pgd_starts_to_flip(tiny: TinyZoo) -> None:
    model, x = tiny.load(tiny.source), tiny.data("test").images[:24]
    d = minimal_linf_distance(model, x)
    finite = d.isfinite()
    assert finite.any()
    y = model.predict(x)
    at = model.predict(pgd(model, x[finite], y[finite], eps=d[finite], steps=10, random_start=False))
    assert bool((at != y[finite]).all())  # the bisection's upper end flips every point


@pytest.mark.parametrize("name", ["digits", "mnist5k"])
def test_linf_budget_follows_its_rule_off_cifar(tiny: TinyZoo, name: str) -> None:
    data = tiny.data("test") if name == "digits" else load_dataset("mnist5k", "test")
    model = tiny.load(tiny.source) if name == "digits" else _model(data)
    assert not traits_of(name).papers_data
    d = median_linf_distance(model, data)
    assert scaled_linf(MODELDIFF_EPS, model, data) == max(MODELDIFF_EPS, d)
    assert scaled_linf(0.5, model, data) == max(0.5, d)  # never below the paper's value


def test_linf_budget_is_the_papers_on_cifar() -> None:
    data = _cifar_like()
    assert scaled_linf(MODELDIFF_EPS, _model(data), data) == MODELDIFF_EPS
    assert scaled_linf(0.025, _model(data), data) == 0.025


def test_modeldiff_records_its_scaled_budget_and_a_fixed_one_stays(tiny: TinyZoo) -> None:
    model, data = tiny.load(tiny.source), tiny.data("test")
    scaled = ModelDiffQueries(steps=5).sample(model, data, 20, generator=torch.Generator().manual_seed(0))
    eps = float(scaled.extras["eps"])
    assert eps == scaled_linf(MODELDIFF_EPS, model, data) and eps > MODELDIFF_EPS
    seeds, adv = scaled.inputs[:10], scaled.inputs[10:]
    assert float((adv - seeds).abs().max()) <= eps + 1e-6
    fixed = ModelDiffQueries(eps=0.03, steps=5).sample(
        model, data, 20, generator=torch.Generator().manual_seed(0)
    )
    assert (
        "eps" not in fixed.extras
        and float((fixed.inputs[10:] - fixed.inputs[:10]).abs().max()) <= 0.03 + 1e-6
    )


@pytest.mark.parametrize("name", ["digits", "mnist5k"])
def test_content_box_lies_inside_centred_digits(tiny: TinyZoo, name: str) -> None:
    data = tiny.data("test") if name == "digits" else load_dataset("mnist5k", "test")
    y0, y1, x0, x1 = content_box(data)
    _, _, h, w = data.images.shape
    assert 0 <= y0 < y1 <= h and 0 <= x0 < x1 <= w
    if name == "mnist5k":  # MNIST's 28×28 frame has a blank border of several pixels
        assert y0 > 0 and x0 > 0 and y1 < h and x1 < w
    # the corner boxes now land on strokes: the paste changes more images than on the frame's corners
    x = data.images[:200]

    def changed(region: tuple[int, int, int, int] | None) -> float:
        mixed, _, _ = corner_cutmix(x, generator=torch.Generator().manual_seed(0), region=region)
        return float(((mixed - x).abs().flatten(1).amax(1) > 0).float().mean())

    assert changed((y0, y1, x0, x1)) >= changed(None)


def test_content_box_and_transforms_are_the_papers_on_cifar() -> None:
    data = _cifar_like()
    assert content_box(data) == (0, 32, 0, 32)
    x = data.images
    a = corner_cutmix(x, generator=torch.Generator().manual_seed(1), region=content_box(data))
    b = corner_cutmix(x, generator=torch.Generator().manual_seed(1))
    assert all(torch.equal(p, q) for p, q in zip(a, b, strict=True))
    cifar = [n for n, _ in naturalfinger_transforms(32, flips=traits_of("cifar10").flips_preserve_labels)]
    digits = [n for n, _ in naturalfinger_transforms(28, flips=traits_of("mnist5k").flips_preserve_labels)]
    assert "hflip" in cifar and "hflip" not in digits and set(digits) < set(cifar)
