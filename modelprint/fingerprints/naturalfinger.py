"""NaturalFinger (Yang, Wang, Wang, arXiv 2305.17868; spec §3, from the paper and the official code)."""

from __future__ import annotations

from modelprint.detectors.matching import MatchRate
from modelprint.fingerprints.base import FINGERPRINTS, Fingerprint
from modelprint.pools import PoolSpec
from modelprint.queries.naturalfinger import (
    NATURALFINGER_POOL,
    AdvLabelPool,
    DLoss,
    Initial,
    NaturalFingerQueries,
)
from modelprint.representations.outputs import HardLabels


@FINGERPRINTS.register("naturalfinger")
def naturalfinger(
    *,
    budget: int = 100,
    pool_spec: PoolSpec = NATURALFINGER_POOL,
    batch: int = 80,
    epochs: int = 1000,
    lr: float = 0.1,
    kappa: float = 50.0,
    lam: float = 0.5,
    model_batch: int = 4,
    adversarial_label: bool = True,
    transform: bool = True,
    discriminator_loss: bool = True,
    adv_label_pool: AdvLabelPool = "negative",
    d_loss: DLoss = "paper",
    initial: Initial = "correct",
    candidates: int = 10,
    fill: bool = False,
) -> Fingerprint:
    """GAN samples whose latents are optimised so derived models keep a label and independent ones switch,
    screened under transformations; hard labels; match rate; label-only.

    Q = :class:`NaturalFingerQueries` (Algorithm 1): latents of a class-conditional hinge GAN trained on
    the owner's data, kept when every positive classifies them correctly; Y_orig from the positives,
    Y_adv by FGSM (8/255) on the negatives; SGD on z (lr 0.1 [C], momentum 0.9, Nesterov, 1000 epochs,
    batches of 80 latents, 4 + 4 models per mini-batch) on CW_κ=50 over both pools + λ = 0.5 · hinge on D,
    a random transformation per step; screened under every transformation. Pool: victim + 8 positives,
    8 negatives. The three tricks of the paper's ablation (adversarial label, input transformation,
    discriminator loss) switch off with ``adversarial_label`` / ``transform`` / ``discriminator_loss``.
    ``candidates``·budget initial latents are optimised at most (the spec's "about 10 × |Q|"); ``fill``
    tops a short key up with the samples closest to passing screening (a [D] option for pools on which
    few samples pass). R = labels, D = match rate. 100 label queries."""
    sampler = NaturalFingerQueries(
        pool_spec=pool_spec, batch=batch, epochs=epochs, lr=lr, kappa=kappa, lam=lam, model_batch=model_batch,
        adversarial_label=adversarial_label, transform=transform, discriminator_loss=discriminator_loss,
        adv_label_pool=adv_label_pool, d_loss=d_loss, initial=initial, candidates=candidates, fill=fill,
    )  # fmt: skip
    return Fingerprint("naturalfinger", sampler, HardLabels(), MatchRate(), budget)
