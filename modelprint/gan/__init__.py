"""Class-conditional hinge GANs trained on the owner's data (docs/naturalfinger.md#gan), for NaturalFinger:
settings and cache key (:class:`GanSpec`), networks, the trainer and the on-disk store."""

from modelprint.gan.base import ConditionalGan, GanCard, GanSpec, auto_width
from modelprint.gan.nets import Discriminator, Generator, layout
from modelprint.gan.store import GanStore
from modelprint.gan.train import train_gan

__all__ = [
    "ConditionalGan",
    "Discriminator",
    "GanCard",
    "GanSpec",
    "GanStore",
    "Generator",
    "auto_width",
    "layout",
    "train_gan",
]
