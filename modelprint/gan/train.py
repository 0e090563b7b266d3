"""Training the class-conditional hinge GAN of docs/naturalfinger.md#gan [D] (SNGAN/SAGAN losses):

    L_D = E[relu(1 − D(x, c))] + E[relu(1 + D(G(z, c), c))],      L_G = −E[D(G(z, c), c)],

on images mapped to [−1, 1]; fake class codes are the real batch's labels (the split's class balance).
Layers are initialised under the seed (:func:`modelprint.attacks.base.seeded`); batch order and latents
come from an explicit generator, so a (spec, data) pair trains the same weights every time on one thread.

Training can be resumed: with a ``checkpoint`` path, the whole state (networks, EMA, Adam moments, the
random generator, the losses so far) is written there atomically after every epoch, as one safetensors
file whose metadata holds the progress, and a later call continues from it with the same result as an
uninterrupted run."""

from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import SafetensorError, safe_open
from torch import nn

from modelprint.attacks.base import seeded
from modelprint.data import Dataset
from modelprint.gan.base import ConditionalGan, GanCard, GanSpec
from modelprint.gan.nets import Discriminator, Generator
from modelprint.ops.threads import intra_op_threads
from modelprint.types import atomic_save_tensors

log = logging.getLogger(__name__)

EpochCallback = Callable[[int, dict[str, float]], None]


@torch.no_grad()
def _ema_update(ema: Generator, live: Generator, decay: float) -> None:
    for e, p in zip(ema.parameters(), live.parameters(), strict=True):
        e.lerp_(p, 1.0 - decay)
    for e, b in zip(ema.buffers(), live.buffers(), strict=True):
        e.copy_(b)


class _State:
    """Everything a training run carries from one epoch to the next."""

    def __init__(self, g: Generator, d: Discriminator, ema: Generator, spec: GanSpec) -> None:
        self.modules: dict[str, nn.Module] = {"g": g, "d": d}
        if ema is not g:  # without EMA the live generator is the result (saved once: no shared tensors)
            self.modules["ema"] = ema
        self.optims = {
            "opt_g": torch.optim.Adam(g.parameters(), lr=spec.lr_g, betas=(0.0, 0.9)),
            "opt_d": torch.optim.Adam(d.parameters(), lr=spec.lr_d, betas=(0.0, 0.9)),
        }
        self.rng = torch.Generator().manual_seed(spec.seed)
        self.history: list[dict[str, float]] = []
        self.steps = 0
        self.seconds = 0.0

    def save(self, path: Path, gan_id: str) -> None:
        tensors = {f"{k}.{n}": t for k, m in self.modules.items() for n, t in m.state_dict().items()}
        for k, opt in self.optims.items():
            for index, state in opt.state_dict()["state"].items():
                tensors.update({f"{k}.{index}.{n}": t for n, t in state.items()})
        tensors["rng"] = self.rng.get_state()
        progress = {"gan_id": gan_id, "history": self.history, "steps": self.steps, "seconds": self.seconds}
        atomic_save_tensors(path, tensors, metadata={"progress": json.dumps(progress)})

    def load(self, path: Path, gan_id: str) -> bool:
        """Restore from ``path``; False (state untouched) when it is missing, unreadable, incomplete or
        another GAN's."""
        try:
            with safe_open(str(path), framework="pt") as fh:
                progress = json.loads((fh.metadata() or {}).get("progress", "{}"))
                tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 (safe_open has no __iter__)
            history = [dict(row) for row in progress["history"]]
            steps, seconds = int(progress["steps"]), float(progress["seconds"])
        except (OSError, SafetensorError, ValueError, KeyError, TypeError):
            return False
        if progress.get("gan_id") != gan_id or "rng" not in tensors:
            return False
        modules = {k: _part(tensors, k) for k in self.modules}
        for k, module in self.modules.items():
            expected = {n: t.shape for n, t in module.state_dict().items()}
            if {n: t.shape for n, t in modules[k].items()} != expected:
                return False
        try:
            optims = {k: _optimizer_state(tensors, k) for k in self.optims}
        except ValueError:
            return False
        if any(
            set(optims[k]) != set(range(len(opt.param_groups[0]["params"]))) for k, opt in self.optims.items()
        ):
            return False
        device = next(self.modules["g"].parameters()).device
        for k, module in self.modules.items():
            module.load_state_dict(modules[k])
        for k, opt in self.optims.items():
            state = {
                i: {n: t if n == "step" else t.to(device) for n, t in own.items()}
                for i, own in optims[k].items()
            }
            opt.load_state_dict({"state": state, "param_groups": opt.state_dict()["param_groups"]})
        self.rng.set_state(tensors["rng"])
        self.history, self.steps, self.seconds = history, steps, seconds
        return True


def _part(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The tensors named ``<prefix>.<name>``, keyed by ``name``."""
    return {n.removeprefix(f"{prefix}."): t for n, t in tensors.items() if n.startswith(f"{prefix}.")}


def _optimizer_state(tensors: dict[str, torch.Tensor], prefix: str) -> dict[int, dict[str, torch.Tensor]]:
    """An optimiser's per-parameter state from tensors named ``<prefix>.<param index>.<key>``."""
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, t in _part(tensors, prefix).items():
        index, _, key = name.partition(".")
        state.setdefault(int(index), {})[key] = t
    return state


def train_gan(
    spec: GanSpec,
    data: Dataset,
    *,
    split_seed: int = 0,
    threads: int = 1,
    device: str | torch.device = "cpu",
    checkpoint: str | Path | None = None,
    on_epoch: EpochCallback | None = None,
) -> ConditionalGan:
    """Train a GAN of ``spec`` on ``data`` (images in [0,1]) on ``device``; the card records per-epoch
    means of ``d_loss``, ``g_loss``, ``d_real`` and ``d_fake`` (D's mean score on real and generated
    batches). Latents and batch order are drawn on the CPU, so the draws do not depend on the device.
    With ``checkpoint``, training resumes from that file when it holds this GAN's progress and rewrites
    it after every epoch (the caller removes it once the GAN is stored)."""
    if len(data) == 0:
        raise ValueError(f"cannot train a GAN on an empty split of {data.name}")
    shape = data.input_shape
    width = spec.resolved_width(shape[1])
    gan_id = spec.gan_id(data.name, shape[1], split_seed)
    with seeded(spec.seed):
        g = Generator(shape, data.num_classes, z_dim=spec.z_dim, width=width).to(device)
        d = Discriminator(shape, data.num_classes, width=width).to(device)
    ema = copy.deepcopy(g).requires_grad_(False) if spec.ema > 0 else g
    state = _State(g, d, ema, spec)
    path = Path(checkpoint) if checkpoint is not None else None
    if path is not None and path.is_file() and state.load(path, gan_id):
        log.info("GAN %s: resuming after epoch %d", gan_id, len(state.history))
    opt_g, opt_d, gen = state.optims["opt_g"], state.optims["opt_d"], state.rng
    images, labels = (data.images * 2 - 1).to(device), data.labels.to(device)
    n, batch = len(data), min(spec.batch, len(data))
    start = time.perf_counter() - state.seconds
    with intra_op_threads(threads):
        g.train()
        d.train()
        for epoch in range(len(state.history), spec.epochs):
            sums = dict.fromkeys(("d_loss", "g_loss", "d_real", "d_fake"), 0.0)
            order = torch.randperm(n, generator=gen).to(device)
            batches = [order[i : i + batch] for i in range(0, n - batch + 1, batch)]
            for idx in batches:
                real, c = images[idx], labels[idx]
                for _ in range(spec.n_dis):
                    z = torch.randn(len(idx), spec.z_dim, generator=gen).to(device)
                    with torch.no_grad():
                        fake = g(z, c)
                    d_real, d_fake = d(real, c), d(fake, c)
                    d_loss = F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
                    opt_d.zero_grad(set_to_none=True)
                    d_loss.backward()
                    opt_d.step()
                z = torch.randn(len(idx), spec.z_dim, generator=gen).to(device)
                g_loss = -d(g(z, c), c).mean()
                opt_g.zero_grad(set_to_none=True)
                g_loss.backward()
                opt_g.step()
                state.steps += 1
                if ema is not g:
                    _ema_update(ema, g, min(spec.ema, (1 + state.steps) / (10 + state.steps)))
                sums["d_loss"] += float(d_loss.detach())
                sums["g_loss"] += float(g_loss.detach())
                sums["d_real"] += float(d_real.detach().mean())
                sums["d_fake"] += float(d_fake.detach().mean())
            state.seconds = time.perf_counter() - start
            row = {k: round(v / len(batches), 5) for k, v in sums.items()}
            row["seconds"] = round(state.seconds, 2)
            state.history.append(row)
            if path is not None:
                state.save(path, gan_id)
            log.debug("GAN epoch %d: %s", epoch, row)
            if on_epoch is not None:
                on_epoch(epoch, row)
    card = GanCard(
        gan_id=gan_id,
        dataset=data.name,
        image_shape=list(shape),
        num_classes=data.num_classes,
        z_dim=spec.z_dim,
        width=width,
        seed=spec.seed,
        history=state.history,
        config={
            "steps": state.steps,
            "threads": threads,
            "device": str(device),
            "train_images": n,
            "spec": repr(spec),
        },
        seconds=round(state.seconds, 3),
    )
    return ConditionalGan(ema, d, card)
