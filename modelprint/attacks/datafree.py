"""HL: data-free hard-label model stealing (Sanyal, Addepalli, Babu, CVPR 2022;
docs/attacks.md#extraction-attacks), "lite".

The attacker has no task data, only an out-of-domain proxy set and the victim's top-1 labels. A small
DCGAN-style generator is pretrained on the proxy set, an initial student is trained on victim-labelled
proxy + generated images, then generator and student alternate: the generator keeps a GAN loss against a
discriminator on proxy images and adds d_l · diversity (the negative entropy of the student's batch-mean
prediction on generated images, the student standing in for the victim [C]), and the student is trained
with CE on the victim's labels of fresh generated images and of proxy images.

Lite setting (recorded as ``config["setting"] = "lite"``), versus the paper's code [C]:
  * proxy: ``proxy`` (1000) images of the whole out-of-domain ``queryset`` (Animal-MNIST, resized), not
    10 / 40 CIFAR-100 classes;
  * GAN pretraining: ``gan_steps`` (300) Adam steps (lr 2e-4, β1 0.5, z = 100) instead of 200 epochs;
    the separate "DivGAN" stage (step 3) is folded into the alternating rounds;
  * ``rounds`` (200) alternating rounds of one discriminator, one generator and one student step on a
    batch of 64 new generated + 64 proxy images, instead of 800 epochs; d_l = 500, c_l = 0 (entropy term
    dropped) as in [C]; student SGD lr 0.01, cosine; no auto-augment;
  * [D] the initial student and a final replay pass train ``epochs`` (3) epochs at lr 0.05 (the zoo's
    from-scratch recipe) on all victim-labelled images (proxy + every generated batch, each labelled
    once): one SGD step per round alone is too little training in the lite budget.
Queries are every image sent to the victim: proxy + initial generated + one batch per round."""

from __future__ import annotations

import logging
import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from modelprint.attacks.base import ATTACKS, AttackContext, Built, Modification, seeded
from modelprint.attacks.common import (
    DEFAULT_QUERYSET,
    SAME,
    at_least,
    check_arch,
    new_student,
    positive,
    query_images,
    resolve_arch,
)
from modelprint.attacks.training import Trainer, fit, schedule, schedule_config, to_float, to_int
from modelprint.data import dataset_names
from modelprint.models.access import Suspect
from modelprint.models.base import TorchClassifier
from modelprint.types import JSONValue

log = logging.getLogger(__name__)

NZ = 100
BATCH = 64
STUDENT_LR = 0.05  # [D] the zoo's from-scratch learning rate: initial student and final replay pass


class Generator(nn.Module):
    """DCGAN-style generator (Radford et al. 2016): z -> linear -> two stride-2 transposed convs with BN and
    ReLU -> 3x3 conv -> sigmoid, i.e. images in [0,1] (resized when the size is not a multiple of 4)."""

    def __init__(self, shape: tuple[int, int, int], nz: int = NZ, width: int = 32) -> None:
        super().__init__()
        self.shape, self.width = shape, width
        c, h, _ = shape
        self.s0 = max(1, math.ceil(h / 4))
        self.fc = nn.Sequential(
            nn.Linear(nz, 2 * width * self.s0**2), nn.BatchNorm1d(2 * width * self.s0**2), nn.ReLU(True)
        )
        self.body = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(True),
            nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(width // 2),
            nn.ReLU(True),
            nn.Conv2d(width // 2, c, 3, padding=1),
            nn.Sigmoid(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.body(self.fc(z).view(-1, 2 * self.width, self.s0, self.s0))
        if tuple(x.shape[2:]) != self.shape[1:]:
            x = F.interpolate(x, size=self.shape[1:], mode="bilinear", align_corners=False)
        return x


class Discriminator(nn.Module):
    """DCGAN-style discriminator: two stride-2 4x4 convs with LeakyReLU(0.2) -> global pool -> one logit."""

    def __init__(self, channels: int, width: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 4, 2, 1),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(width, 2 * width, 4, 2, 1, bias=False),
            nn.BatchNorm2d(2 * width),
            nn.LeakyReLU(0.2, True),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(2 * width, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


def diversity(logits: torch.Tensor) -> torch.Tensor:
    """Σ_k p̄_k log p̄_k of the batch-mean prediction p̄ (minimal when the batch covers all classes evenly)."""
    mean = logits.softmax(dim=1).mean(dim=0)
    return (mean * mean.clamp_min(1e-8).log()).sum()


@ATTACKS.register("datafree")
class DataFree(Modification):
    """``datafree(arch=same, rounds=200, proxy=1000, queryset=animal-mnist, gan_steps=300, dl=500, epochs=3,
    lr=0.01)``: HL data-free hard-label stealing (Sanyal et al. 2022) in the lite setting of the module
    docstring. Expected on digits with a conv student: accuracy ≥ 0.3 (3× chance; 0.57–0.74 seen); MLP
    students stay near chance. On mnist5k (cnn-m) ≈ 0.85."""

    example: ClassVar[str] = "datafree(rounds=100,gan_steps=200)"

    positional = ("arch",)
    fresh_student = True

    def __init__(
        self,
        arch: str = SAME,
        *,
        rounds: str | int = 200,
        proxy: str | int = 1000,
        queryset: str = DEFAULT_QUERYSET,
        gan_steps: str | int = 300,
        dl: str | float = 500,
        epochs: str | int = 3,
        lr: str | float = 0.01,
        until: str = "epochs",
    ) -> None:
        self.until, self.rule = until, schedule(until, "datafree")
        self.arch = check_arch(arch, "datafree")
        self.rounds = at_least(to_int(rounds, "rounds"), 0, "rounds", "datafree")
        self.proxy = at_least(to_int(proxy, "proxy"), BATCH, "proxy", "datafree")
        if queryset not in dataset_names():
            raise ValueError(f"datafree: unknown proxy set {queryset!r}; known: {', '.join(dataset_names())}")
        self.queryset = queryset
        self.gan_steps = at_least(to_int(gan_steps, "gan_steps"), 0, "gan_steps", "datafree")
        self.dl = to_float(dl, "dl")
        if self.dl < 0:
            raise ValueError(f"datafree: dl must be >= 0, got {self.dl}")
        self.epochs = at_least(to_int(epochs, "epochs"), 1, "epochs", "datafree")
        self.lr = positive(to_float(lr, "lr"), "lr", "datafree")

    def apply(
        self, parent: TorchClassifier | None, parent_arch: str | None, ctx: AttackContext, *, seed: int
    ) -> Built:
        assert parent is not None
        arch = resolve_arch(self.arch, parent_arch)
        c, h, w = parent.input_shape
        shape = (c, h, w)
        victim = Suspect(parent, access="labels")
        gen = torch.Generator().manual_seed(seed)
        proxy = query_images(self.queryset, shape, self.proxy, seed=seed, root=ctx.data_root)
        proxy_labels = victim(proxy)

        def noise(n: int) -> torch.Tensor:
            return torch.randn(n, NZ, generator=gen)

        def proxy_batch() -> tuple[torch.Tensor, torch.Tensor]:
            idx = torch.randint(len(proxy), (BATCH,), generator=gen)
            return proxy[idx], proxy_labels[idx]

        with seeded(seed):
            g, d = Generator(shape), Discriminator(shape[0])
        g_opt = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
        d_opt = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))

        def gan_step(student: TorchClassifier | None) -> None:
            real, _ = proxy_batch()
            fake = g(noise(BATCH))
            ones, zeros = torch.ones(BATCH), torch.zeros(BATCH)
            d_loss = F.binary_cross_entropy_with_logits(d(real), ones)
            d_loss = d_loss + F.binary_cross_entropy_with_logits(d(fake.detach()), zeros)
            d_opt.zero_grad(set_to_none=True)
            d_loss.backward()
            d_opt.step()
            g_loss = F.binary_cross_entropy_with_logits(d(fake), ones)
            if student is not None and self.dl > 0:
                g_loss = g_loss + self.dl * diversity(student.forward(fake.to(student.device)).cpu())
            g_opt.zero_grad(set_to_none=True)
            g_loss.backward()
            g_opt.step()

        g.train()
        d.train()
        for _ in range(self.gan_steps):  # 1. pretrain the GAN on the proxy set
            gan_step(None)

        def generate(n: int) -> torch.Tensor:  # in train mode, as DCGAN samples
            with torch.no_grad():
                return torch.cat([g(noise(BATCH)) for _ in range(math.ceil(n / BATCH))])[:n]

        # 2. initial student on victim-labelled proxy + generated images
        pool_x = generate(self.proxy)
        pool_y = victim(pool_x)
        student = new_student(parent, arch, seed=seed)
        fit(
            student,
            torch.cat([proxy, pool_x]),
            torch.cat([proxy_labels, pool_y]),
            epochs=self.epochs,
            lr=STUDENT_LR,
            seed=seed,
        )

        log.debug(
            "datafree: GAN pretrained (%d steps), initial student on %d images",
            self.gan_steps,
            2 * self.proxy,
        )
        # 3-4. alternating rounds: generator (GAN + diversity through the student), then the student
        trainer = Trainer(list(student.module.parameters()), lr=self.lr, total=self.rounds)
        new_x, new_y = [pool_x], [pool_y]
        for _ in range(self.rounds):
            student.module.eval()
            for p in student.module.parameters():
                p.requires_grad_(False)
            gan_step(student)
            for p in student.module.parameters():
                p.requires_grad_(True)
            x_gen = generate(BATCH)
            y_gen = victim(x_gen)
            new_x.append(x_gen)
            new_y.append(y_gen)
            x_prx, y_prx = proxy_batch()
            student.module.train()
            logits = student.forward(torch.cat([x_gen, x_prx]))
            trainer.step(F.cross_entropy(logits, torch.cat([y_gen, y_prx]).to(student.device)))
        student.module.eval()
        images, labels = torch.cat([proxy, *new_x]), torch.cat([proxy_labels, *new_y])
        record = fit(
            student, images, labels, epochs=self.epochs, lr=STUDENT_LR, seed=seed + 1, until=self.rule
        )
        log.info(
            "datafree (lite): %s student from %d label queries, %d classes seen",
            arch,
            victim.queries_spent,
            int(torch.unique(labels).numel()),
        )
        config: dict[str, JSONValue] = {
            "arch": arch,
            "setting": "lite",
            "rounds": self.rounds,
            "proxy": self.proxy,
            "queryset": self.queryset,
            "gan_steps": self.gan_steps,
            "dl": self.dl,
            "epochs": self.epochs,
            "lr": self.lr,
            "access": victim.output,
            "queries": victim.queries_spent,
            "class_coverage": int(torch.unique(labels).numel()),
            **schedule_config(self.until, record),
        }
        return Built(student.module, arch, config)
