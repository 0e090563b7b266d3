"""GANs cached next to the zoo: ``<store root>/gans/<id>/{weights.safetensors,card.json}``.

Like zoo models (:mod:`modelprint.models.io`): the weights are written first, then the card with their
SHA-256, each atomically, so a GAN counts as stored only once its card exists and its hash matches; a
corrupt or stale artifact is retrained. Nothing is unpickled."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from modelprint.attacks.base import AttackContext
from modelprint.gan.base import ConditionalGan, GanCard, GanSpec, gan_dir_name
from modelprint.gan.nets import Discriminator, Generator
from modelprint.gan.train import EpochCallback, train_gan
from modelprint.models.io import ModelFileError, file_sha256, load_weights, read_state_dict
from modelprint.types import atomic_save_tensors, atomic_write_text

log = logging.getLogger(__name__)

_PARTS = ("generator", "discriminator")


class GanStore:
    """GANs keyed by their id (:meth:`GanSpec.gan_id`) under ``root/gans``; ``root`` is a model store's
    root (``Workspace.store.root``), so a workspace's pools and GANs live together."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, gan_id: str) -> Path:
        return self.root / "gans" / gan_dir_name(gan_id)

    def card(self, gan_id: str) -> GanCard:
        path = self.path(gan_id) / "card.json"
        try:
            return GanCard.from_json(path.read_text())
        except (OSError, ValueError, TypeError) as exc:
            raise ModelFileError(f"{path}: unreadable GAN card ({exc})") from None

    def is_valid(self, gan_id: str) -> bool:
        """True when the card names this id and the weights' hash matches it."""
        try:
            card = self.card(gan_id)
        except ModelFileError:
            return False
        weights = self.path(gan_id) / "weights.safetensors"
        if card.gan_id != gan_id or not weights.is_file() or file_sha256(weights) != card.sha256:
            log.warning("corrupt or stale GAN artifact for %s: will retrain", gan_id)
            return False
        return True

    def save(self, gan: ConditionalGan) -> Path:
        directory = self.path(gan.gan_id)
        weights = directory / "weights.safetensors"
        state = {
            f"{part}.{k}": v
            for part, module in zip(_PARTS, (gan.generator, gan.discriminator), strict=True)
            for k, v in module.state_dict().items()
        }
        atomic_save_tensors(weights, state, metadata={"gan_id": gan.gan_id})
        gan.card.sha256 = file_sha256(weights)
        atomic_write_text(directory / "card.json", gan.card.to_json())
        return directory

    def load(self, gan_id: str, *, device: str | torch.device = "cpu") -> ConditionalGan:
        """The stored GAN; raises :class:`ModelFileError` when it is missing or corrupt."""
        card = self.card(gan_id)
        weights = self.path(gan_id) / "weights.safetensors"
        if not weights.is_file() or file_sha256(weights) != card.sha256:
            raise ModelFileError(f"{weights}: missing or hash mismatch (corrupt artifact)")
        state = read_state_dict(weights)
        shape = (card.image_shape[0], card.image_shape[1], card.image_shape[2])
        g = Generator(shape, card.num_classes, z_dim=card.z_dim, width=card.width)
        d = Discriminator(shape, card.num_classes, width=card.width)
        for part, module in zip(_PARTS, (g, d), strict=True):
            prefix = f"{part}."
            own = {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}
            load_weights(module, own, source=f"{weights} ({part})")
        return ConditionalGan(g.to(device), d.to(device), card)

    def get(
        self, spec: GanSpec, ctx: AttackContext, *, threads: int = 1, on_epoch: EpochCallback | None = None
    ) -> ConditionalGan:
        """The GAN of ``spec`` on ``ctx``'s dataset: loaded when stored and intact, else trained on the
        ``spec.data`` split and stored; on ``ctx.device`` either way. An interrupted training resumes from
        the checkpoint it left in the GAN's folder."""
        data = ctx.split(spec.data)
        gan_id = spec.gan_id(ctx.dataset, data.input_shape[1], ctx.split_seed)
        if self.is_valid(gan_id):
            return self.load(gan_id, device=ctx.device)
        log.info("training GAN %s on %d images", gan_id, len(data))
        checkpoint = self.path(gan_id) / "checkpoint.safetensors"
        gan = train_gan(
            spec,
            data,
            split_seed=ctx.split_seed,
            threads=threads,
            device=ctx.device,
            checkpoint=checkpoint,
            on_epoch=on_epoch,
        )
        if gan.gan_id != gan_id:
            raise ValueError(f"the {ctx.dataset!r} split calls itself {data.name!r}: GAN ids differ")
        self.save(gan)
        checkpoint.unlink(missing_ok=True)
        return gan
