import torch

from modelprint.ops import cutmix, fgsm, pgd
from modelprint.testing import TinyZoo


def test_pgd_stays_in_the_ball_and_fools_the_model(tiny: TinyZoo) -> None:
    model, data = tiny.load(tiny.source), tiny.data()
    x, y = data.images[:64], data.labels[:64]
    eps = 0.3
    adv = pgd(model, x, y, eps=eps, steps=10, generator=torch.Generator().manual_seed(0))
    assert (adv - x).abs().max() <= eps + 1e-6 and adv.min() >= 0 and adv.max() <= 1
    assert model.accuracy(adv, y) < model.accuracy(x, y) - 0.3
    again = pgd(model, x, y, eps=eps, steps=10, generator=torch.Generator().manual_seed(0))
    assert torch.equal(adv, again)


def test_targeted_fgsm_moves_toward_the_target(tiny: TinyZoo) -> None:
    model, data = tiny.load(tiny.source), tiny.data()
    x = data.images[:64]
    target = (data.labels[:64] + 1) % 10
    before = model(x).log_softmax(1).gather(1, target[:, None]).mean()
    after = (
        model(fgsm(model, x, target, eps=0.1, targeted=True)).log_softmax(1).gather(1, target[:, None]).mean()
    )
    assert after > before


def test_cutmix_only_changes_the_recorded_box() -> None:
    g = torch.Generator().manual_seed(0)
    images = torch.stack([torch.full((1, 8, 8), float(i)) for i in range(6)])
    mixed, boxes = cutmix(images, generator=g)
    assert mixed.shape == images.shape and boxes.shape == (6, 4)
    assert (mixed != images).flatten(1).any(1).any()
    for i in range(6):
        y0, y1, x0, x1 = boxes[i].tolist()
        outside = mixed[i].clone()
        outside[:, y0:y1, x0:x1] = float(i)
        assert torch.all(outside == float(i))
