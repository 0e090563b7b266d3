"""``train(arch,dataset,seed)``: a model trained from scratch — the source on the owner's half, an
independent (negative) model on the attacker's half (``data=attacker``). ``arch`` may be a user's class
(``package.module:Class``, its constructor arguments as ``arch.NAME=VALUE`` keywords): a matched calibration
set of a user's own architecture is trained this way."""

from __future__ import annotations

from typing import ClassVar

from modelprint.attacks.base import ATTACKS, AttackContext, Built, Modification, seeded
from modelprint.attacks.training import fit, schedule, schedule_config, to_float, to_int
from modelprint.models.base import TorchClassifier
from modelprint.models.formats import check_classifier
from modelprint.models.user import build_architecture, is_user_arch, options_from_lineage
from modelprint.types import JSONValue

TRAIN_SPLITS = ("owner", "attacker", "train")


@ATTACKS.register("train")
class Train(Modification):
    """Train ``arch`` from scratch on a split of ``dataset`` (SGD, momentum 0.9, wd 5e-4, cosine;
    scaled in epochs to the bundled data). Recipes: docs/attacks.md#negative-models."""

    example: ClassVar[str] = "train(cnn-s,digits,7,epochs=5)"

    positional = ("arch", "dataset", "seed")
    needs_parent = False

    def __init__(
        self,
        arch: str,
        dataset: str,
        seed: str | int,
        *,
        data: str = "owner",
        epochs: str | int = 10,
        lr: str | float = 0.05,
        batch: str | int = 64,
        until: str = "epochs",
        **arch_options: str,
    ) -> None:
        self.until, self.rule = until, schedule(until, "train")
        self.arch_kwargs = options_from_lineage(arch_options)
        if self.arch_kwargs and not is_user_arch(arch):
            raise ValueError(f"train: arch.* arguments are for a user class, not the built-in {arch!r}")
        if data not in TRAIN_SPLITS:
            raise ValueError(f"train: data must be one of {TRAIN_SPLITS}, got {data!r}")
        self.arch, self.dataset, self.seed, self.data = arch, dataset, to_int(seed, "seed"), data
        self.epochs, self.lr, self.batch = (
            to_int(epochs, "epochs"),
            to_float(lr, "lr"),
            to_int(batch, "batch"),
        )

    def apply(
        self, parent: TorchClassifier | None, parent_arch: str | None, ctx: AttackContext, *, seed: int
    ) -> Built:
        if ctx.dataset != self.dataset:
            raise ValueError(
                f"train step names dataset {self.dataset!r} but the zoo is built on {ctx.dataset!r}"
            )
        data = ctx.split(self.data)
        c, h, _ = data.input_shape
        with seeded(self.seed):
            module = build_architecture(
                self.arch,
                in_channels=c,
                num_classes=data.num_classes,
                image_size=h,
                arch_kwargs=self.arch_kwargs,
            )
        model = TorchClassifier(
            module,
            num_classes=data.num_classes,
            input_shape=data.input_shape,
            mean=data.mean,
            std=data.std,
            device=ctx.device,
        )
        if is_user_arch(self.arch):  # a user class answers for its own class count: it must be the data's
            check_classifier(model, data.input_shape, data.num_classes, self.arch)
        record = fit(
            model,
            data.images,
            data.labels,
            epochs=self.epochs,
            lr=self.lr,
            batch_size=self.batch,
            seed=self.seed,
            until=self.rule,
        )
        config: dict[str, JSONValue] = {
            "data": self.data,
            "epochs": self.epochs,
            "lr": self.lr,
            "batch": self.batch,
            "optimizer": "sgd",
            **schedule_config(self.until, record),
            **({"arch_kwargs": dict(self.arch_kwargs)} if self.arch_kwargs else {}),  # type: ignore[dict-item]
        }
        return Built(model.module, self.arch, config)
