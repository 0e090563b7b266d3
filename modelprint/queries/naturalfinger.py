"""NaturalFinger (Yang, Wang, Wang, arXiv 2305.17868; docs/naturalfinger.md): natural-looking queries drawn
from a class-conditional GAN whose latents are optimised so that models derived from the victim keep one label
(Y_orig) while independent models switch to another (Y_adv) — the "decision difference areas"."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

import torch
import torch.nn.functional as F

from modelprint.data import Dataset
from modelprint.data.traits import traits_of
from modelprint.gan import ConditionalGan, GanSpec
from modelprint.models.base import TorchClassifier
from modelprint.ops.adversarial import fgsm
from modelprint.ops.convergence import StopRule
from modelprint.pools import Pool, PoolEnsemble, PoolSpec
from modelprint.pools.base import NEGATIVE_SEED_BASE, pool_step
from modelprint.queries.base import PoolSampler
from modelprint.queries.cae import CAE_POOL
from modelprint.queries.common import QueryStructure
from modelprint.queries.metafinger import (
    METAFINGER_ARCHS,
    METAFINGER_POOL,
    Transform,
    gaussian_noise,
    hflip,
    identity,
    shear,
    translate,
)
from modelprint.types import Queries

log = logging.getLogger(__name__)

AdvLabelPool = Literal["negative", "positive"]
DLoss = Literal["paper", "generator"]
Initial = Literal["correct", "agree"]

STOP_TOL = 1e-2
"""Relative tolerance of the epoch stop rule of the latent optimisation (our default; the paper runs all its
epochs)."""
STOP_WINDOW = 4
"""Checks over which the best block-mean loss must improve by more than :data:`STOP_TOL` for a batch's
latent optimisation to go on (our default; 0 switches the rule off). Measured on the tiny zoo (3 + 2 pool
models, lr 1, seeds 0–1): the 1000 epochs end after 800–1000."""
STOP_BLOCK = 50
"""Epochs per check: the checked objective is the mean loss over a block of epochs, since each step's loss
depends on the models and the transformation it drew (our default)."""
BATCH_TOL = 0.05
"""Relative tolerance of the latent-batch stop rule (our default; the paper goes on until the budget is met
or the initial samples run out)."""
BATCH_WINDOW = 3
"""Latent batches over which the samples passing screening must grow by more than :data:`BATCH_TOL` of the
count before them (by at least one while none had passed) for the batches to go on (our default; 0
switches the rule off)."""


def shared_step(spec: PoolSpec, text: str) -> str:
    """The step ``text`` of ``spec.positives`` as that pool spells it in its lineages (with the ``rep=`` it
    gets from its position), so that another pool listing the result builds the very same model."""
    return pool_step(text, NEGATIVE_SEED_BASE + spec.positives.index(text))


NATURALFINGER_POOL = PoolSpec(
    positives=(
        *(shared_step(CAE_POOL, f"distill({a},data=owner)") for a in ("same", "cnn-m", "lenet", "resnet8")),
        *(
            shared_step(METAFINGER_POOL, text)
            for text in (
                "finetune(ftal,data=owner,rep=0)",
                "finetune(rtll,data=owner,rep=0)",
                "prune(0.5,ft=1,data=owner)",
                "noise(3,data=owner)",
            )
        ),
    ),
    negatives=(METAFINGER_ARCHS * 2)[:8],
    gan=GanSpec(),
)
"""8 positives + 8 negatives over five architectures (docs/naturalfinger.md#pools [P]: "some distilled, others
trained"). Positives, all on the owner's data: distillation of the victim into four architectures, two
fine-tunes, pruning with a recovery epoch and weight noising. Negatives: independent models. Every member is
also a member of CAE's or MetaFinger's pool (same lineage), so a workspace that ran those builds only the GAN;
the paper's distilled-from-independent negatives have no pool step. The GAN is trained on the owner's
split."""


def cw_loss(logits: torch.Tensor, target: torch.Tensor, kappa: float) -> torch.Tensor:
    """Targeted Carlini–Wagner loss (docs/naturalfinger.md#algorithm, Eq. 3): mean over the batch of
    max(max_{i≠t} Z_i − Z_t, −κ); ``logits`` (N, K), ``target`` (N,)."""
    target = target.to(logits.device)
    own = logits.gather(1, target[:, None]).squeeze(1)
    others = logits.scatter(1, target[:, None], float("-inf")).amax(1)
    return (others - own).clamp_min(-kappa).mean()


def _with_probability(transform: Transform, p: float) -> Transform:
    def apply(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return transform(x, generator) if float(torch.rand((), generator=generator)) < p else x

    return apply


def naturalfinger_transforms(size: int, *, flips: bool = True) -> list[tuple[str, Transform]]:
    """The official code's list (docs/naturalfinger.md#transformations [C]): identity, horizontal flip,
    Gaussian noise N(0, 0.02²), a random translation by up to 4 px applied with p = 0.5, and a shear by
    U(0, 0.1) per axis. The translation reach is scaled with the image like MetaFinger's (4 px on 32×32 and
    28×28, 1 on 8×8). ``flips=False`` drops the flip, for data whose labels a flip does not keep (digits: the
    dataset's :mod:`~modelprint.data.traits`); a sample must keep its label under every transformation of the
    list, so on digits the flip alone rejected almost every sample in screening."""
    shift = max(1, round(4 * size / 32))
    return [
        ("identity", identity),
        *([("hflip", hflip)] if flips else []),
        ("gaussian_noise", lambda x, g: gaussian_noise(x, g, std=0.02)),
        ("translate", _with_probability(lambda x, g: translate(x, g, max_shift=shift), 0.5)),
        ("shear", shear),
    ]


class NaturalFingerQueries(PoolSampler):
    """Algorithm 1 of NaturalFinger (docs/naturalfinger.md#algorithm). M_p = the victim and the pool's
    positives, M_n = the pool's negatives; (G, D) = the pool's GAN (``pool_spec.gan``, trained on the owner's
    data).

    1. **Initial samples** (line 1): draws of ``draw`` latents z ~ N(0, I) with class codes c ~ U{0..K−1};
       keep those every positive classifies as c (``initial="correct"``, the paper's "correctly
       classified"; ``"agree"``: the same label) until ``candidates``·budget are kept or
       ``max_draws`` draws ran.
    2. **Labels** (lines 2–3): Y_orig = the positives' mode; Y_adv = the mode of the labels that untargeted
       FGSM (ε = ``eps``, away from Y_orig) gives on the ``adv_label_pool`` models (paper: negatives; code:
       positives). With ``adversarial_label=False``: a random label ≠ Y_orig (the paper's simple baseline).
    3. **Optimisation** (lines 4–12), per batch of ``batch`` latents: SGD (lr, momentum 0.9, Nesterov) on z
       for ``epochs`` epochs; each epoch shuffles both sides and cuts them into mini-batches of at most
       ``model_batch`` models per side; per mini-batch X_fake = (G(z, c)+1)/2, X = T(X_fake) with T drawn
       from :func:`naturalfinger_transforms` (``transform=False``: identity), loss = mean CW_κ(M_p(X),
       Y_orig) + mean CW_κ(M_n(X), Y_adv) + λ·L_d, one step.
       L_d (``discriminator_loss=True``) is ``d_loss="paper"``: mean relu(1 + D(X_fake, c)) as the paper
       and code write it, or ``"generator"``: −mean D(X_fake, c) (the generator's hinge loss). D gets the
       same class codes as G (the code's random ones are a bug, docs/conventions.md#pitfalls).
    4. **Screening** (line 13): keep a sample iff Y_orig ≠ Y_adv and, under every transformation of the
       list (each applied once with fresh randomness; only identity with ``transform=False``), every
       positive predicts Y_orig and every negative Y_adv. Batches continue until ``budget`` samples pass.

    With ``fill=True`` [D], when fewer than ``budget`` samples pass, the rest of the budget is topped up
    with the optimised samples that meet the most (model, transformation) conditions, best first; the
    extras ``screened`` (bool per query) and ``met`` (fraction of conditions met) say which are which.

    Deviations [D]: Y_adv is the mode among labels ≠ Y_orig (ties, and samples where no model flipped,
    go to the class with the highest mean probability on the adversarial images), since a sample with
    Y_adv = Y_orig can never pass screening. If no sample passes, the one that satisfies the most
    (model, transformation) conditions is returned and a warning is logged. The key's reference is the
    victim's label, which screening makes Y_orig.

    Stop rules (our defaults :data:`STOP_TOL`, :data:`STOP_WINDOW`, :data:`STOP_BLOCK`, :data:`BATCH_TOL`,
    :data:`BATCH_WINDOW`; :mod:`modelprint.ops.convergence`):

    * epochs: ``epochs`` is the cap; after every block of ``stop_block`` epochs the block's mean step loss
      (CW terms + λ·L_d, the loss SGD minimises) is checked, and a batch's optimisation ends once the best
      block mean has improved by at most ``stop_tol`` (relative) over the last ``stop_window`` blocks
      (1e-2 over 4 blocks of 50 epochs by default);
    * latent batches: they end once the last ``batch_window`` batches added at most ``batch_tol`` × the
      samples that had passed screening before them (0.05 over 3 batches; none at all while none had
      passed).

    ``stop_window=0, batch_window=0``: every epoch and every batch, as before the rules. Extras: ``latent``
    (z), ``class_code`` (c), ``y_adv``, ``batch``, ``met``, ``screened``, ``num_selected``, ``epochs_run``
    (epochs each batch ran) and ``batches_run`` (batches that ran); the queries' ``labels`` are the class
    codes."""

    structure: QueryStructure = "points"

    def __init__(
        self,
        *,
        pool_spec: PoolSpec = NATURALFINGER_POOL,
        batch: int = 80,
        epochs: int = 1000,
        lr: float = 0.1,
        kappa: float = 50.0,
        lam: float = 0.5,
        model_batch: int = 4,
        eps: float = 8 / 255,
        draw: int = 200,
        candidates: int = 10,
        max_draws: int = 100,
        adversarial_label: bool = True,
        transform: bool = True,
        discriminator_loss: bool = True,
        adv_label_pool: AdvLabelPool = "negative",
        d_loss: DLoss = "paper",
        initial: Initial = "correct",
        fill: bool = False,
        stop_tol: float = STOP_TOL,
        stop_window: int = STOP_WINDOW,
        stop_block: int = STOP_BLOCK,
        batch_tol: float = BATCH_TOL,
        batch_window: int = BATCH_WINDOW,
    ) -> None:
        if min(batch, epochs, model_batch, draw, candidates, max_draws, stop_block) < 1:
            raise ValueError(
                "batch, epochs, model_batch, draw, candidates, max_draws and stop_block must be positive"
            )
        StopRule(stop_tol, stop_window), StopRule(batch_tol, batch_window)  # validate the settings
        if adv_label_pool not in ("negative", "positive"):
            raise ValueError(f"adv_label_pool must be 'negative' or 'positive', got {adv_label_pool!r}")
        if d_loss not in ("paper", "generator"):
            raise ValueError(f"d_loss must be 'paper' or 'generator', got {d_loss!r}")
        if initial not in ("correct", "agree"):
            raise ValueError(f"initial must be 'correct' or 'agree', got {initial!r}")
        self.pool_spec = pool_spec if pool_spec.gan is not None else replace(pool_spec, gan=GanSpec())
        self.batch = batch
        self.epochs = epochs
        self.lr = lr
        self.kappa = kappa
        self.lam = lam
        self.model_batch = model_batch
        self.eps = eps
        self.draw = draw
        self.candidates = candidates
        self.max_draws = max_draws
        self.adversarial_label = adversarial_label
        self.transform = transform
        self.discriminator_loss = discriminator_loss
        self.adv_label_pool = adv_label_pool
        self.d_loss = d_loss
        self.initial = initial
        self.fill = fill
        self.stop_tol, self.stop_window, self.stop_block = stop_tol, stop_window, stop_block
        self.batch_tol, self.batch_window = batch_tol, batch_window

    def transforms(self, size: int, flips: bool = True) -> list[tuple[str, Transform]]:
        """The transformation list in use (identity alone when the trick is off)."""
        return naturalfinger_transforms(size, flips=flips) if self.transform else [("identity", identity)]

    # ------------------------------------------------------------------ line 1: initial samples

    def initial_samples(
        self,
        gan: ConditionalGan,
        positives: PoolEnsemble,
        wanted: int,
        *,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, torch.Tensor, int]:
        """(z, c, drawn): up to ``wanted`` latents whose images every positive classifies as c (or alike)."""
        zs, cs, kept, drawn = [], [], 0, 0
        for _ in range(self.max_draws):
            if kept >= wanted:
                break
            z, c, x = gan.sample(self.draw, generator=generator)
            drawn += self.draw
            labels = positives.labels(x).cpu()
            ok = (labels == (c if self.initial == "correct" else labels[0])).all(0)
            zs.append(z[ok])
            cs.append(c[ok])
            kept += int(ok.sum())
        z, c = torch.cat(zs)[:wanted], torch.cat(cs)[:wanted]
        return z, c, drawn

    # ------------------------------------------------------------------ lines 2–3: labels

    def adversarial_labels(
        self,
        x: torch.Tensor,
        y_orig: torch.Tensor,
        models: Sequence[TorchClassifier],
        num_classes: int,
        *,
        generator: torch.Generator,
    ) -> torch.Tensor:
        """Y_adv (N,): FGSM labels on ``models``, one attack per model since each needs its own input
        gradient (or random labels ≠ Y_orig when the trick is off)."""
        if not self.adversarial_label:
            shift = torch.randint(1, num_classes, y_orig.shape, generator=generator)
            return (y_orig + shift) % num_classes
        counts = torch.zeros(len(x), num_classes)
        probs = torch.zeros(len(x), num_classes)
        for m in models:
            out = m(fgsm(m, x, y_orig, eps=self.eps))
            counts += F.one_hot(out.argmax(1), num_classes).float()
            probs += out.softmax(1) / len(models)
        score = counts + 0.5 * probs  # probabilities (< 1) only break ties between equal counts
        score.scatter_(1, y_orig[:, None], float("-inf"))
        return score.argmax(1)

    # ------------------------------------------------------------------ lines 4–12: latent optimisation

    def _side_loss(
        self, pool: PoolEnsemble, members: torch.Tensor, x: torch.Tensor, target: torch.Tensor
    ) -> torch.Tensor:
        """Mean over the ``members`` of ``pool`` of their CW_κ loss towards ``target`` (0 when empty)."""
        if len(members) == 0:
            return x.new_zeros(())
        logits = pool.logits(x, members=members.tolist())  # (B, N, K)
        loss = cw_loss(logits.flatten(0, 1), target.repeat(len(members)), self.kappa)  # equal-size means
        return loss.to(x.device)

    def optimise(
        self,
        gan: ConditionalGan,
        z: torch.Tensor,
        c: torch.Tensor,
        y_orig: torch.Tensor,
        y_adv: torch.Tensor,
        positives: PoolEnsemble,
        negatives: PoolEnsemble,
        *,
        generator: torch.Generator,
        flips: bool = True,
    ) -> tuple[torch.Tensor, int]:
        """Lines 4–12: the optimised latents (N, z_dim), on the CPU (the latents live on the GAN's device),
        and the number of epochs that ran."""
        transforms = self.transforms(gan.image_shape[-1], flips)
        z = z.to(gan.device).clone().requires_grad_(True)
        c = c.to(gan.device)
        opt = torch.optim.SGD([z], lr=self.lr, momentum=0.9, nesterov=True)
        chunks = math.ceil(max(len(positives), len(negatives)) / self.model_batch)
        plateau = StopRule(self.stop_tol, self.stop_window).plateau()
        block_loss: float | torch.Tensor = 0.0
        epochs_run = 0
        while epochs_run < self.epochs:
            pos_order = torch.randperm(len(positives), generator=generator).tensor_split(chunks)
            neg_order = torch.randperm(len(negatives), generator=generator).tensor_split(chunks)
            for pos_idx, neg_idx in zip(pos_order, neg_order, strict=True):
                x_fake = gan.images(z, c)
                _, t = transforms[int(torch.randint(len(transforms), (1,), generator=generator))]
                x = t(x_fake, generator)
                loss = self._side_loss(positives, pos_idx, x, y_orig) + self._side_loss(
                    negatives, neg_idx, x, y_adv
                )
                if self.discriminator_loss:
                    realness = gan.realness(x_fake, c)
                    l_d = F.relu(1 + realness).mean() if self.d_loss == "paper" else -realness.mean()
                    loss = loss + self.lam * l_d
                opt.zero_grad()
                loss.backward(inputs=[z])
                opt.step()
                block_loss = block_loss + loss.detach()
            epochs_run += 1
            if epochs_run % self.stop_block == 0:
                if plateau.update(float(block_loss) / (self.stop_block * chunks)):
                    break
                block_loss = 0.0
        return z.detach().cpu(), epochs_run

    # ------------------------------------------------------------------ line 13: screening

    def screen(
        self,
        x: torch.Tensor,
        y_orig: torch.Tensor,
        y_adv: torch.Tensor,
        ensemble: PoolEnsemble,
        n_positives: int,
        *,
        generator: torch.Generator,
        flips: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(kept, satisfied): ``kept`` (N,) bool per the screening rule; ``satisfied`` (N,) the fraction of
        (model, transformation) label conditions met (for the fallback)."""
        kept = y_orig != y_adv
        met = torch.zeros(len(x))
        transforms = self.transforms(x.shape[-1], flips)
        for _, t in transforms:
            with torch.no_grad():
                labels = ensemble.labels(t(x, generator)).cpu()
            ok = torch.cat([labels[:n_positives] == y_orig, labels[n_positives:] == y_adv])
            kept &= ok.all(0)
            met += ok.float().mean(0) / len(transforms)
        return kept, met

    # ------------------------------------------------------------------ Algorithm 1

    def sample(
        self,
        victim: TorchClassifier,
        data: Dataset,
        budget: int,
        *,
        generator: torch.Generator,
        pool: Pool | None = None,
    ) -> Queries:
        pool = self.require_pool(pool)
        gan = pool.gan
        if gan is None:
            raise ValueError(
                "NaturalFinger needs a GAN: build the pool from a PoolSpec with gan=GanSpec(...)"
            )
        if gan.image_shape != victim.input_shape or gan.num_classes != victim.num_classes:
            raise ValueError(
                f"the GAN draws {gan.image_shape} images of {gan.num_classes} classes; the victim expects "
                f"{victim.input_shape} and {victim.num_classes}"
            )
        flips = traits_of(data.name).flips_preserve_labels
        positives = [victim, *pool.positives]
        negatives = list(pool.negatives)
        everyone = PoolEnsemble([*positives, *negatives])
        positive_ensemble, negative_ensemble = PoolEnsemble(positives), PoolEnsemble(negatives)
        adv_models = negatives if self.adv_label_pool == "negative" else positives
        z_all, c_all, drawn = self.initial_samples(
            gan, positive_ensemble, self.candidates * budget, generator=generator
        )
        log.info("NaturalFinger: %d initial samples from %d draws", len(z_all), drawn)
        if len(z_all) == 0:
            raise ValueError(f"NaturalFinger: no GAN sample out of {drawn} passed the initial selection")
        parts: dict[str, list[torch.Tensor]] = {
            k: [] for k in ("inputs", "latent", "class_code", "y_orig", "y_adv", "batch", "kept", "met")
        }
        found = 0
        batches = StopRule(self.batch_tol, self.batch_window).plateau(maximise=True)
        batches.update(found)
        epochs_run: list[int] = []
        for b, start in enumerate(range(0, len(z_all), self.batch)):
            if found >= budget:
                break
            z, c = z_all[start : start + self.batch], c_all[start : start + self.batch]
            with torch.no_grad():
                x0 = gan.images(z, c)
            y_orig = positive_ensemble.labels(x0).cpu().mode(dim=0).values
            y_adv = self.adversarial_labels(x0, y_orig, adv_models, gan.num_classes, generator=generator)
            z, epochs = self.optimise(
                gan,
                z,
                c,
                y_orig,
                y_adv,
                positive_ensemble,
                negative_ensemble,
                generator=generator,
                flips=flips,
            )
            epochs_run.append(epochs)
            with torch.no_grad():
                x = gan.images(z, c)
            kept, met = self.screen(
                x, y_orig, y_adv, everyone, len(positives), generator=generator, flips=flips
            )
            found += int(kept.sum())
            log.info("NaturalFinger batch %d: %d of %d passed screening", b, int(kept.sum()), len(z))
            for key, value in (
                ("inputs", x),
                ("latent", z),
                ("class_code", c),
                ("y_orig", y_orig),
                ("y_adv", y_adv),
                ("batch", torch.full((len(z),), b)),
                ("kept", kept),
                ("met", met),
            ):
                parts[key].append(value)
            if batches.update(found) and found < budget:
                log.info(
                    "NaturalFinger: screened samples stopped growing after %d batches (%d found)",
                    b + 1,
                    found,
                )
                break
        cat = {k: torch.cat(v) for k, v in parts.items()}
        chosen = cat["kept"].nonzero().flatten()[:budget]
        if len(chosen) < budget:
            log.warning("NaturalFinger: only %d of %d samples passed screening", len(chosen), budget)
        if self.fill and len(chosen) < budget:
            rest = (~cat["kept"]).nonzero().flatten()
            best = rest[cat["met"][rest].argsort(descending=True, stable=True)]
            chosen = torch.cat([chosen, best[: budget - len(chosen)]])
        if len(chosen) == 0:
            chosen = cat["met"].argmax().view(1)
        extras = {k: cat[k][chosen] for k in ("latent", "class_code", "y_adv", "batch", "met")}
        extras["screened"] = cat["kept"][chosen]
        extras["num_selected"] = torch.tensor(int(cat["kept"].sum().clamp_max(budget)))
        extras["epochs_run"] = torch.tensor(epochs_run)
        extras["batches_run"] = torch.tensor(len(epochs_run))
        return Queries(cat["inputs"][chosen], cat["class_code"][chosen], extras)
