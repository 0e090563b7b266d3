"""NaturalFinger (Yang, Wang, Wang, arXiv 2305.17868; docs/naturalfinger.md, from the paper and the official
code)."""

from __future__ import annotations

from modelprint.fingerprints.pooled import register_label_scheme
from modelprint.queries.naturalfinger import NaturalFingerQueries

naturalfinger = register_label_scheme(
    "naturalfinger",
    NaturalFingerQueries,
    doc="""GAN samples whose latents are optimised so derived models keep a label and independent ones switch,
    screened under transformations; hard labels; match rate; label-only.

    Q = :class:`NaturalFingerQueries` (Algorithm 1): latents of a class-conditional hinge GAN trained on
    the owner's data, kept when every positive classifies them correctly; Y_orig from the positives,
    Y_adv by FGSM (8/255) on the negatives; SGD on z (lr 0.1 [C], momentum 0.9, Nesterov, 1000 epochs,
    batches of 80 latents, 4 + 4 models per mini-batch) on CW_κ=50 over both pools + λ = 0.5 · hinge on D,
    a random transformation per step; screened under every transformation. Pool: victim + 8 positives,
    8 negatives. The three tricks of the paper's ablation (adversarial label, input transformation,
    discriminator loss) switch off with ``adversarial_label`` / ``transform`` / ``discriminator_loss``.
    ``candidates``·budget initial latents are optimised at most (the paper's "about 10 × |Q|"); ``fill``
    tops a short key up with the samples closest to passing screening (a [D] option for pools on which
    few samples pass). The 1000 epochs are the cap of a stop rule on the block-mean loss, and batches end
    once the screened samples stop growing (:class:`NaturalFingerQueries`; ``stop_window=0,
    batch_window=0``: Algorithm 1's loop). R = labels, D = match rate. 100 label queries.""",
)
