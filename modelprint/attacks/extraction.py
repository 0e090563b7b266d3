"""Black-box model extraction into a fresh student (docs/attacks.md#extraction-attacks): distillation
(FingerBench), Knockoff Nets (random strategy), SACBench label / adversarial-label / probit extraction.

The victim is only ever queried through :class:`~modelprint.models.access.Suspect` at the access level the
attack assumes (``probs`` or ``labels``), and ``config["queries"]`` is the number of images it counted.
The student is ``arch`` (default ``same``: the parent's architecture), so extraction into other
architectures is one argument away; ``Built.arch`` is the student's. Scaled recipe [D] for every student:
SGD momentum 0.9, wd 5e-4, cosine, batch 64, 10 epochs (the zoo's from-scratch ``train`` recipe) instead
of the papers' 100–200 epochs and batch 128–512; no data augmentation."""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F

from modelprint.attacks.base import ATTACKS, AttackContext, Built, Modification
from modelprint.attacks.common import (
    DEFAULT_QUERYSET,
    SAME,
    at_least,
    check_arch,
    check_split,
    new_student,
    positive,
    query_images,
    resolve_arch,
    soft_ce,
    tempered,
)
from modelprint.attacks.training import (
    Batch,
    TrainRecord,
    fit,
    schedule,
    schedule_config,
    to_float,
    to_int,
    train_loop,
)
from modelprint.data import dataset_names
from modelprint.models.access import Suspect
from modelprint.models.base import TorchClassifier
from modelprint.ops.adversarial import pgd
from modelprint.types import JSONValue, Output


class Extraction(Modification):
    """Shared argument handling: ``arch`` (positional), ``epochs``, ``lr`` and ``batch`` of the student."""

    positional = ("arch",)
    fresh_student = True
    label = "extraction"

    def __init__(
        self, arch: str, epochs: str | int, lr: str | float, batch: str | int = 64, until: str = "epochs"
    ) -> None:
        self.until, self.rule = until, schedule(until, self.label)
        self.arch = check_arch(arch, self.label)
        self.epochs = at_least(to_int(epochs, "epochs"), 1, "epochs", self.label)
        self.lr = positive(to_float(lr, "lr"), "lr", self.label)
        self.batch = at_least(to_int(batch, "batch"), 1, "batch", self.label)

    def student(
        self, parent: TorchClassifier | None, parent_arch: str | None, seed: int
    ) -> tuple[TorchClassifier, str]:
        assert parent is not None
        arch = resolve_arch(self.arch, parent_arch)
        return new_student(parent, arch, seed=seed), arch

    def query_split(
        self, parent: TorchClassifier, ctx: AttackContext, access: Output
    ) -> tuple[Suspect, torch.Tensor, torch.Tensor]:
        """The victim behind ``access`` (counting queries), the attacker's images of split ``self.data``,
        and the victim's answers to them."""
        suspect = Suspect(parent, access=access)
        images = ctx.split(self.data).images  # type: ignore[attr-defined]
        return suspect, images, suspect(images)

    def config(
        self, arch: str, suspect: Suspect, record: TrainRecord | None = None, **extra: JSONValue
    ) -> dict[str, JSONValue]:
        trained = schedule_config(self.until, record) if record is not None else {}
        return {
            "arch": arch,
            "epochs": self.epochs,
            "lr": self.lr,
            "batch": self.batch,
            "access": suspect.output,
            "queries": suspect.queries_spent,
            **extra,
            **trained,
        }


@ATTACKS.register("distill")
class Distill(Extraction):
    """``distill(arch=same, T=1, epochs=10, lr=0.05, data=owner, batch=64)``: FingerBench distillation
    [P]: the attacker holds the victim's training inputs (``owner`` split) without labels, queries the
    victim's probabilities once per image and trains the student with T²-scaled soft-label CE at
    temperature ``T`` (T = 1 [P]; tempered teacher probabilities are computed from the returned ones, see
    ``tempered``). Expected on digits: student accuracy ≥ 0.6 (in practice close to the victim)."""

    example: ClassVar[str] = "distill(epochs=5)"

    label = "distill"

    def __init__(
        self,
        arch: str = SAME,
        *,
        T: str | float = 1,  # the lineage spells the temperature T
        epochs: str | int = 10,
        lr: str | float = 0.05,
        data: str = "owner",
        batch: str | int = 64,
        until: str = "epochs",
    ) -> None:
        super().__init__(arch, epochs, lr, batch, until)
        self.T = positive(to_float(T, "T"), "T", self.label)
        self.data = check_split(data, self.label)

    def apply(
        self, parent: TorchClassifier | None, parent_arch: str | None, ctx: AttackContext, *, seed: int
    ) -> Built:
        student, arch = self.student(parent, parent_arch, seed)
        assert parent is not None
        suspect, images, probs = self.query_split(parent, ctx, "probs")
        teacher = tempered(probs, self.T)
        T = self.T

        def loss(model: TorchClassifier, batch: Batch) -> torch.Tensor:
            return soft_ce(model.forward(batch[0]), batch[1].to(model.device), T)

        record = train_loop(
            student, (images, teacher), loss, epochs=self.epochs, lr=self.lr, seed=seed,
            batch_size=self.batch, until=self.rule,
        )  # fmt: skip
        return Built(student.module, arch, self.config(arch, suspect, record, T=self.T, data=self.data))


@ATTACKS.register("knockoff")
class Knockoff(Extraction):
    """``knockoff(arch=same, budget=5000, queryset=animal-mnist, epochs=10, lr=0.05, batch=64)``: Knockoff
    Nets (Orekondy et al., CVPR 2019), random strategy as in FingerBench [P]: ``budget`` images drawn
    uniformly without replacement from the out-of-domain ``queryset`` (all splits; resized by area
    interpolation and channel-matched to the victim's input), labelled with the victim's probabilities,
    student trained with soft-label CE. The [D] 50k-query budget of the paper recipe is scaled to half of
    Animal-MNIST. Expected with the defaults: accuracy ≥ 0.4 on digits (0.47–0.57 over seeds: the digits
    victim calls 85% of 8×8 silhouettes a 1 or a 4, so some classes are never seen as top-1) and ≈ 0.87 on
    mnist5k; MLP students learn little from such queries."""

    example: ClassVar[str] = "knockoff(cnn-s,epochs=5)"

    label = "knockoff"

    def __init__(
        self,
        arch: str = SAME,
        *,
        budget: str | int = 5000,
        queryset: str = DEFAULT_QUERYSET,
        epochs: str | int = 10,
        lr: str | float = 0.05,
        batch: str | int = 64,
        until: str = "epochs",
    ) -> None:
        super().__init__(arch, epochs, lr, batch, until)
        self.budget = at_least(to_int(budget, "budget"), 2, "budget", self.label)
        if queryset not in dataset_names():
            raise ValueError(f"knockoff: unknown query set {queryset!r}; known: {', '.join(dataset_names())}")
        self.queryset = queryset

    def apply(
        self, parent: TorchClassifier | None, parent_arch: str | None, ctx: AttackContext, *, seed: int
    ) -> Built:
        student, arch = self.student(parent, parent_arch, seed)
        assert parent is not None
        images = query_images(self.queryset, parent.input_shape, self.budget, seed=seed, root=ctx.data_root)
        suspect = Suspect(parent, access="probs", budget=self.budget)
        answers = suspect(images)
        record = fit(
            student, images, answers, epochs=self.epochs, lr=self.lr, seed=seed, batch_size=self.batch,
            until=self.rule,
        )  # fmt: skip
        config = self.config(
            arch, suspect, record, budget=self.budget, queryset=self.queryset, strategy="random"
        )
        return Built(student.module, arch, config)


@ATTACKS.register("labelextract")
class LabelExtract(Extraction):
    """``labelextract(arch=same, data=attacker, epochs=10, lr=0.05, adv=0, adv_epochs=2, adv_steps=10,
    batch=64)``:
    SACBench label extraction [C]: CE on the victim's top-1 labels (label-only access) of the attacker split.

    ``adv=1`` adds SACBench's adversarial label extraction phase [C]: ``adv_epochs`` (2) epochs where each
    batch gets ℓ∞ PGD points (ε = 4/256, step 1/256, random start [D]) against the student, labelled by the
    victim's hard labels (more queries), with loss CE(clean) + CE(adv) and SGD lr 1e-3. Deviation: 10 PGD
    steps instead of 30 for CPU (10 steps of 1/256 still reach the ε-ball's boundary).
    Expected on digits: accuracy ≥ 0.6."""

    example: ClassVar[str] = "labelextract(mlp,epochs=5)"

    label = "labelextract"
    ADV_EPS, ADV_STEP, ADV_LR = 4 / 256, 1 / 256, 1e-3

    def __init__(
        self,
        arch: str = SAME,
        *,
        data: str = "attacker",
        epochs: str | int = 10,
        lr: str | float = 0.05,
        adv: str | int = 0,
        adv_epochs: str | int = 2,
        adv_steps: str | int = 10,
        batch: str | int = 64,
        until: str = "epochs",
    ) -> None:
        super().__init__(arch, epochs, lr, batch, until)
        self.data = check_split(data, self.label)
        self.adv = to_int(adv, "adv")
        if self.adv not in (0, 1):
            raise ValueError(f"labelextract: adv must be 0 or 1, got {self.adv}")
        self.adv_epochs = at_least(to_int(adv_epochs, "adv_epochs"), 1, "adv_epochs", self.label)
        self.adv_steps = at_least(to_int(adv_steps, "adv_steps"), 1, "adv_steps", self.label)

    def task_name(self) -> str:
        """QuRD separates label extraction from its adversarial variant (SACBench)."""
        return "advlabelextract" if self.adv else "labelextract"

    def apply(
        self, parent: TorchClassifier | None, parent_arch: str | None, ctx: AttackContext, *, seed: int
    ) -> Built:
        student, arch = self.student(parent, parent_arch, seed)
        assert parent is not None
        suspect, images, labels = self.query_split(parent, ctx, "labels")
        record = fit(
            student, images, labels, epochs=self.epochs, lr=self.lr, seed=seed, batch_size=self.batch,
            until=self.rule,
        )  # fmt: skip
        extra: dict[str, JSONValue] = {"data": self.data, "adv": self.adv}
        if self.adv:
            gen = torch.Generator().manual_seed(seed + 1)

            def adv_loss(model: TorchClassifier, batch: Batch) -> torch.Tensor:
                x, y = batch
                x_adv = pgd(
                    model,
                    x,
                    y,
                    eps=self.ADV_EPS,
                    steps=self.adv_steps,
                    step_size=self.ADV_STEP,
                    generator=gen,
                )
                y_adv = suspect(x_adv).to(model.device)
                clean = F.cross_entropy(model.forward(x), y.to(model.device))
                return clean + F.cross_entropy(model.forward(x_adv), y_adv)

            train_loop(
                student,
                (images, labels),
                adv_loss,
                epochs=self.adv_epochs,
                lr=self.ADV_LR,
                seed=seed + 1,
                batch_size=self.batch,
            )
            extra |= {
                "adv_epochs": self.adv_epochs,
                "adv_steps": self.adv_steps,
                "adv_eps": self.ADV_EPS,
                "adv_step": self.ADV_STEP,
                "adv_lr": self.ADV_LR,
            }
        return Built(student.module, arch, self.config(arch, suspect, record, **extra))


@ATTACKS.register("probitextract")
class ProbitExtract(Extraction):
    """``probitextract(arch=same, T=20, alpha=0.9, data=attacker, epochs=10, lr=0.1, batch=64)``: SACBench
    probit extraction [C]: loss α·T²·KL + (1−α)·CE(victim argmax), with KL between the temperature-T
    softmaxes of victim and student (Hinton's form, ``F.kl_div(log student_T, victim_T)``, i.e.
    KL(victim_T ‖ student_T); "KL(student_T ‖ teacher_T)" in some descriptions names the arguments in that
    call's order; docs/attacks.md#extraction-attacks). lr 0.1 as in [C] (a LeNet student on 8×8 digits
    diverges at 0.1 and needs lr ≤ 0.05). Expected on digits: accuracy ≥ 0.6."""

    example: ClassVar[str] = "probitextract(epochs=5)"

    label = "probitextract"

    def __init__(
        self,
        arch: str = SAME,
        *,
        T: str | float = 20,  # the lineage spells the temperature T
        alpha: str | float = 0.9,
        data: str = "attacker",
        epochs: str | int = 10,
        lr: str | float = 0.1,
        batch: str | int = 64,
        until: str = "epochs",
    ) -> None:
        super().__init__(arch, epochs, lr, batch, until)
        self.T = positive(to_float(T, "T"), "T", self.label)
        self.alpha = to_float(alpha, "alpha")
        if not 0 <= self.alpha <= 1:
            raise ValueError(f"probitextract: alpha must be in [0, 1], got {self.alpha}")
        self.data = check_split(data, self.label)

    def apply(
        self, parent: TorchClassifier | None, parent_arch: str | None, ctx: AttackContext, *, seed: int
    ) -> Built:
        student, arch = self.student(parent, parent_arch, seed)
        assert parent is not None
        suspect, images, probs = self.query_split(parent, ctx, "probs")
        T, alpha = self.T, self.alpha

        def loss(model: TorchClassifier, batch: Batch) -> torch.Tensor:
            x, soft, hard = batch
            logits = model.forward(x)
            kl = F.kl_div(F.log_softmax(logits / T, dim=1), soft.to(model.device), reduction="batchmean")
            return alpha * T * T * kl + (1 - alpha) * F.cross_entropy(logits, hard.to(model.device))

        tensors = (images, tempered(probs, T), probs.argmax(dim=1))
        record = train_loop(
            student, tensors, loss, epochs=self.epochs, lr=self.lr, seed=seed, batch_size=self.batch,
            until=self.rule,
        )  # fmt: skip
        extra: dict[str, JSONValue] = {"T": self.T, "alpha": self.alpha, "data": self.data}
        return Built(student.module, arch, self.config(arch, suspect, record, **extra))
