"""NaturalFinger (spec §3) on the tiny zoo: the owner-side GAN (trainer, store, CLI), Algorithm 1's parts
(CW loss, labels, screening) and the scheme end to end with a small pool (victim + 2 positives, 2
negatives, a 30-epoch GAN on the 8×8 owner digits) and 200 optimisation epochs.

The tiny 8×8 generator's latent gradients are small (norm about 0.04 per latent with the batch-mean CW
loss; the code's lr 0.1 was tuned for SAGAN on CIFAR-10): at lr 0.1, 200 epochs screened only 9 of the
20 queries out of 200 candidates, so the end-to-end tests use lr = 1, which fills them from the first
batch of 80."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import modelprint.queries.naturalfinger as nf
from modelprint.attacks import AttackContext
from modelprint.cli import app
from modelprint.fingerprints import FINGERPRINTS, Fingerprint, parse_fingerprint
from modelprint.gan import ConditionalGan, GanSpec, GanStore, layout, train_gan
from modelprint.keys import KeyStore
from modelprint.models.access import Suspect
from modelprint.pools import Pool, PoolEnsemble, PoolSpec, build_pool, check_disjoint
from modelprint.queries.cae import CAE_POOL
from modelprint.queries.metafinger import METAFINGER_POOL, Transform
from modelprint.queries.naturalfinger import (
    NATURALFINGER_POOL,
    NaturalFingerQueries,
    cw_loss,
    naturalfinger_transforms,
)
from modelprint.report.queries import query_grid, query_sections
from modelprint.report.rows import ScoreRow
from modelprint.testing import TinyZoo
from modelprint.types import Key
from modelprint.zoo.store import ModelStore

log = logging.getLogger(__name__)

GAN = GanSpec(epochs=30, lr_g=1e-3, lr_d=1e-3)  # the 8×8 digits need a larger step than the default
SPEC = PoolSpec(("finetune(ftal,data=owner)", "prune(0.5,ft=1,data=owner)"), ("same", "mlp"), gan=GAN)
FAST = {"pool_spec": SPEC, "budget": 20, "epochs": 200, "lr": 1.0}


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one intra-op thread (conftest)


@pytest.fixture(scope="module")
def pool(tiny: TinyZoo, tmp_path_factory: pytest.TempPathFactory) -> Pool:
    store = ModelStore(tmp_path_factory.mktemp("naturalfinger-pool"))
    return build_pool(SPEC, tiny.source, store, AttackContext(tiny.ctx.dataset))


def scheme(**kw: object) -> Fingerprint:
    return FINGERPRINTS.make("naturalfinger", **{**FAST, **kw})


_KEYS: dict[str, Key] = {}


def key_of(tiny: TinyZoo, pool: Pool) -> Key:
    if "key" not in _KEYS:
        _KEYS["key"] = scheme().generate(tiny.load(tiny.source), tiny.data(), seed=0, pool=pool)
    return _KEYS["key"]


def class_consistency(gan: ConditionalGan, tiny: TinyZoo, n: int = 500) -> float:
    """Share of GAN samples the tiny source classifies as their class code (a quality proxy)."""
    _, c, x = gan.sample(n, generator=torch.Generator().manual_seed(1))
    return float((tiny.load(tiny.source).predict(x) == c).float().mean())


# --------------------------------------------------------------------------- the GAN


def test_layout_follows_the_image_size() -> None:
    assert layout(32) == (4, 3) and layout(28) == (7, 2) and layout(8) == (4, 1) and layout(7) == (7, 0)


def test_gan_training_improves_the_generator(tiny: TinyZoo, pool: Pool) -> None:
    """The pool's 30-epoch GAN: per-epoch losses recorded; the generator's loss falls from its early peak
    as it learns to fool D, while D keeps scoring real digits above generated ones; samples are in [0,1]
    with the data's shape, and the class code decides the digit far more often than for a one-epoch
    generator."""
    gan = pool.gan
    assert gan is not None and gan.image_shape == (1, 8, 8) and gan.num_classes == 10
    history = gan.card.history
    assert len(history) == GAN.epochs
    assert all(set(h) >= {"d_loss", "g_loss", "d_real", "d_fake"} for h in history)
    assert all(torch.isfinite(torch.tensor(list(h.values()))).all() for h in history)
    early_peak = max(h["g_loss"] for h in history[:5])
    late = sum(h["g_loss"] for h in history[-5:]) / 5
    assert late < 0.5 * early_peak, (early_peak, late)
    assert all(h["d_real"] > h["d_fake"] for h in history[-5:])
    _, _, x = gan.sample(64, generator=torch.Generator().manual_seed(0))
    assert x.shape == (64, 1, 8, 8) and float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    untrained = train_gan(replace(GAN, epochs=1), tiny.data("owner"))
    trained, baseline = class_consistency(gan, tiny), class_consistency(untrained, tiny)
    log.info("class consistency: trained %.3f, one epoch %.3f", trained, baseline)
    assert trained >= 0.8 and baseline <= 0.3, (trained, baseline)


def test_gan_store_round_trip_and_corruption(tiny: TinyZoo, tmp_path: Path) -> None:
    spec = GanSpec(epochs=1, seed=3)
    ctx = AttackContext(tiny.ctx.dataset)
    store = GanStore(tmp_path)
    gan = store.get(spec, ctx)
    gan_id = spec.gan_id(ctx.dataset, 8)
    assert gan.gan_id == gan_id and store.is_valid(gan_id) and gan_id.startswith("gan(digits,3,")
    loaded = store.get(spec, ctx)
    z, c = gan.draw(16, generator=torch.Generator().manual_seed(0))
    assert torch.equal(gan.images(z, c), loaded.images(z, c))
    assert torch.equal(gan.realness(gan.images(z, c), c), loaded.realness(loaded.images(z, c), c))
    assert loaded.card.history == gan.card.history
    weights = store.path(gan_id) / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8] + b"corrupt!")
    assert not store.is_valid(gan_id)
    retrained = store.get(spec, ctx)  # same seed, same data, one thread: the same weights again
    assert store.is_valid(gan_id) and torch.equal(retrained.images(z, c), gan.images(z, c))


class Interrupted(Exception):
    """Raised from an epoch callback to stop a training run, as a crash or Ctrl-C would."""


def same_weights(a: ConditionalGan, b: ConditionalGan) -> bool:
    pairs = ((a.generator, b.generator), (a.discriminator, b.discriminator))
    return all(
        x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)
        for x, y in ((m.state_dict(), n.state_dict()) for m, n in pairs)
    )


@pytest.mark.parametrize("ema", [0.999, 0.0])
def test_interrupted_gan_training_resumes_to_the_same_weights(
    tiny: TinyZoo, tmp_path: Path, ema: float
) -> None:
    """Stopped after its second epoch, training resumes from the checkpoint (networks, EMA, Adam moments,
    random state) to the very weights and losses of an uninterrupted run; a checkpoint that is another
    GAN's or unreadable is ignored."""
    spec, data = GanSpec(epochs=3, seed=5, ema=ema), tiny.data("owner")
    straight = train_gan(spec, data)

    def stop_after_two_epochs(epoch: int, row: dict[str, float]) -> None:
        if epoch == 1:
            raise Interrupted

    checkpoint = tmp_path / "checkpoint.safetensors"
    with pytest.raises(Interrupted):
        train_gan(spec, data, checkpoint=checkpoint, on_epoch=stop_after_two_epochs)
    assert checkpoint.is_file() and not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temp files
    epochs: list[int] = []
    resumed = train_gan(spec, data, checkpoint=checkpoint, on_epoch=lambda e, _: epochs.append(e))
    assert epochs == [2] and same_weights(straight, resumed)

    def losses(gan: ConditionalGan) -> list[dict[str, float]]:
        return [{k: v for k, v in h.items() if k != "seconds"} for h in gan.card.history]

    assert losses(straight) == losses(resumed)
    assert resumed.card.config["steps"] == straight.card.config["steps"]
    other = replace(spec, seed=6)
    for content in (None, b"not a checkpoint"):  # another GAN's checkpoint, then garbage: both ignored
        if content is not None:
            checkpoint.write_bytes(content)
        epochs.clear()
        again = train_gan(other, data, checkpoint=checkpoint, on_epoch=lambda e, _: epochs.append(e))
        assert epochs == [0, 1, 2], content
    assert same_weights(again, train_gan(other, data))


def test_store_resumes_an_interrupted_training(tiny: TinyZoo, tmp_path: Path) -> None:
    """The store keeps an interrupted run's checkpoint in the GAN's folder (no card yet), resumes from it,
    and removes it once the GAN is stored."""
    spec, ctx, store = GanSpec(epochs=2, seed=4), AttackContext(tiny.ctx.dataset), GanStore(tmp_path)

    def stop(epoch: int, row: dict[str, float]) -> None:
        raise Interrupted

    with pytest.raises(Interrupted):
        store.get(spec, ctx, on_epoch=stop)
    gan_id = spec.gan_id(ctx.dataset, 8)
    checkpoint = store.path(gan_id) / "checkpoint.safetensors"
    assert checkpoint.is_file() and not store.is_valid(gan_id)
    epochs: list[int] = []
    gan = store.get(spec, ctx, on_epoch=lambda e, _: epochs.append(e))
    assert epochs == [1] and store.is_valid(gan_id) and not checkpoint.exists()
    assert same_weights(gan, train_gan(spec, ctx.split("owner")))


def test_gan_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="owner"):
        GanSpec(data="attacker")
    with pytest.raises(ValueError, match="positive"):
        GanSpec(epochs=0)


def test_cli_trains_then_reuses_a_gan(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["gan", "train", "digits", "--epochs", "2", "--home", str(tmp_path)]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "epoch 2/2" in first.output and "gan(digits,0," in first.output
    second = runner.invoke(app, args)
    assert second.exit_code == 0 and "epoch 1/2" not in second.output
    assert len(list((tmp_path / "zoo" / "gans").glob("*/card.json"))) == 1


# --------------------------------------------------------------------------- pool and defaults


def test_pool_spec_carries_the_gan_without_changing_other_keys() -> None:
    assert repr(PoolSpec(("a",), ("b",))) == "PoolSpec(positives=('a',), negatives=('b',))"
    assert repr(SPEC).endswith(f", gan={GAN!r})")
    assert PoolSpec(("a",), ("b",), gan=GAN) != PoolSpec(("a",), ("b",))
    assert METAFINGER_POOL.gan is None and "gan" not in repr(METAFINGER_POOL)


def test_defaults_follow_the_spec(tiny: TinyZoo) -> None:
    fp = FINGERPRINTS.make("naturalfinger")
    s = fp.sampler
    assert isinstance(s, NaturalFingerQueries)
    assert (fp.needs, fp.budget, fp.pool_spec) == ("labels", 100, NATURALFINGER_POOL)
    assert (s.lr, s.kappa, s.lam, s.epochs, s.batch, s.model_batch) == (0.1, 50.0, 0.5, 1000, 80, 4)
    assert (s.adv_label_pool, s.d_loss, s.eps, s.draw) == ("negative", "paper", 8 / 255, 200)
    assert s.adversarial_label and s.transform and s.discriminator_loss
    spec = NATURALFINGER_POOL
    assert (len(spec.positives), len(spec.negatives), spec.gan) == (8, 8, GanSpec())
    assert all("data=owner" in step for step in spec.positives)
    members = [lin for side in spec.lineages(tiny.source) for lin in side]
    check_disjoint(members, [*tiny.preset.victims, *tiny.preset.suspects])
    others = {
        lin for other in (CAE_POOL, METAFINGER_POOL) for side in other.lineages(tiny.source) for lin in side
    }
    assert set(members) <= others  # every member is also CAE's or MetaFinger's: built once per workspace
    assert FINGERPRINTS.describe("naturalfinger")
    with_gan = NaturalFingerQueries(pool_spec=PoolSpec(("a",), ("b",)))
    assert with_gan.pool_spec.gan == GanSpec()  # a pool without a GAN gets the default one


def test_generation_needs_a_pool_with_a_gan(tiny: TinyZoo, pool: Pool) -> None:
    victim, data = tiny.load(tiny.source), tiny.data()
    with pytest.raises(ValueError, match="pool"):
        scheme().generate(victim, data, seed=0)
    bare = Pool(pool.positives, pool.negatives)
    with pytest.raises(ValueError, match="GAN"):
        scheme().generate(victim, data, seed=0, pool=bare)


# --------------------------------------------------------------------------- Algorithm 1's parts


def test_cw_loss_is_the_clamped_margin() -> None:
    logits = torch.tensor([[1.0, 3.0, 2.0], [5.0, 0.0, 1.0]])
    target = torch.tensor([1, 1])
    # sample 0: max other 2 − 3 = −1; sample 1: 5 − 0 = 5
    assert float(cw_loss(logits, target, kappa=50.0)) == pytest.approx((-1 + 5) / 2)
    assert float(cw_loss(logits, target, kappa=0.5)) == pytest.approx((-0.5 + 5) / 2)


def test_transforms_are_seeded_and_keep_shape_and_range() -> None:
    names = [n for n, _ in naturalfinger_transforms(32)]
    assert names == ["identity", "hflip", "gaussian_noise", "translate", "shear"]
    assert [n for n, _ in naturalfinger_transforms(28, flips=False)] == [m for m in names if m != "hflip"]
    x = torch.rand(4, 1, 8, 8)
    for name, transform in naturalfinger_transforms(8):
        a = transform(x, torch.Generator().manual_seed(0))
        assert torch.equal(a, transform(x, torch.Generator().manual_seed(0))), name
        assert a.shape == x.shape and float(a.min()) >= 0.0 and float(a.max()) <= 1.0, name


def test_labels_differ_from_the_original(tiny: TinyZoo, pool: Pool) -> None:
    """Y_adv ≠ Y_orig whether it comes from FGSM on the negatives or at random (the ablation)."""
    x = tiny.data().images[:64]
    y = tiny.load(tiny.source).predict(x)
    gen = torch.Generator().manual_seed(0)
    for trick in (True, False):
        sampler = NaturalFingerQueries(pool_spec=SPEC, adversarial_label=trick)
        y_adv = sampler.adversarial_labels(x, y, pool.negatives, 10, generator=gen)
        assert y_adv.shape == y.shape and torch.all(y_adv != y)
        assert int(y_adv.min()) >= 0 and int(y_adv.max()) < 10


def test_screening_keeps_only_samples_meeting_both_label_conditions(tiny: TinyZoo, pool: Pool) -> None:
    """Of the key's queries, screening (identity only, so no randomness) keeps every one; breaking either
    label condition — Y_adv = Y_orig, a positive off Y_orig, a negative off Y_adv — drops exactly that
    sample."""
    key = key_of(tiny, pool)
    x, y_orig, y_adv = key.queries.inputs, key.reference.clone(), key.queries.extras["y_adv"].clone()
    positives = [tiny.load(tiny.source), *pool.positives]
    everyone = PoolEnsemble([*positives, *pool.negatives])
    labels = everyone.labels(x)
    assert torch.all(labels[: len(positives)] == y_orig) and torch.all(labels[len(positives) :] == y_adv)
    assert torch.all(y_orig != y_adv)
    sampler = NaturalFingerQueries(pool_spec=SPEC, transform=False)
    gen = torch.Generator().manual_seed(0)
    kept, met = sampler.screen(x, y_orig, y_adv, everyone, len(positives), generator=gen)
    assert torch.all(kept) and torch.all(met == 1.0)
    y_orig[0] = y_adv[0]  # Y_orig = Y_adv, and the positives no longer match Y_orig
    y_adv[1] = next(k for k in range(10) if k not in (int(y_orig[1]), int(y_adv[1])))  # negatives off Y_adv
    kept, met = sampler.screen(x, y_orig, y_adv, everyone, len(positives), generator=gen)
    assert not kept[0] and not kept[1] and torch.all(kept[2:])
    assert float(met[1]) == pytest.approx(len(positives) / len(everyone))


def test_fill_tops_a_short_key_up_with_the_samples_closest_to_passing(
    tiny: TinyZoo, pool: Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``fill=True`` a key whose screening passed too few samples keeps those first, then the
    samples that met the most conditions, best first; the default keeps only the passing ones."""
    real_screen = NaturalFingerQueries.screen

    def three_pass(self: NaturalFingerQueries, x: torch.Tensor, *args: object, **kw: object):
        kept, _ = real_screen(self, x, *args, **kw)  # type: ignore[arg-type]
        met = torch.linspace(0.1, 0.9, len(x)).flip(0)[torch.randperm(len(x), generator=torch.Generator())]
        kept = torch.zeros_like(kept)
        kept[[4, 9, 20]] = True
        return kept, met

    monkeypatch.setattr(NaturalFingerQueries, "screen", three_pass)
    victim, data = tiny.load(tiny.source), tiny.data()
    strict = scheme(budget=8, epochs=2).generate(victim, data, seed=3, pool=pool)
    filled = scheme(budget=8, epochs=2, fill=True).generate(victim, data, seed=3, pool=pool)
    assert len(strict.queries) == 3 and torch.all(strict.queries.extras["screened"])
    extras = filled.queries.extras
    assert len(filled.queries) == 8 and int(extras["num_selected"]) == 3
    assert extras["screened"].tolist() == [True] * 3 + [False] * 5
    assert torch.equal(filled.queries.inputs[:3], strict.queries.inputs)
    topped = extras["met"][3:]
    assert torch.all(topped[:-1] >= topped[1:]) and float(topped[0]) == pytest.approx(0.9, abs=0.02)


# --------------------------------------------------------------------------- the scheme end to end


def test_derived_copies_rank_above_independent_models(tiny: TinyZoo, pool: Pool) -> None:
    """Seed 0, tiny zoo: the source matches itself; every derived suspect (fine-tune, prune, fine-tune +
    prune) scores above every independent one."""
    key = key_of(tiny, pool)
    fp = scheme()

    def score(lineage: str) -> float:
        return fp.verify(key, Suspect(tiny.load(lineage), access="labels"))

    own = score(tiny.source)
    derived = {lin.split("->", 1)[1]: score(lin) for lin in tiny.positives()}
    independent = {lin.split("(", 1)[1]: score(lin) for lin in tiny.negatives()}
    log.info("naturalfinger: %d queries; derived %s independent %s", len(key.queries), derived, independent)
    assert own == 1.0 and len(key.queries) == FAST["budget"]
    assert min(derived.values()) > max(independent.values()), (derived, independent)


def test_key_is_deterministic_and_replays_from_the_latents(tiny: TinyZoo, pool: Pool, tmp_path: Path) -> None:
    key = key_of(tiny, pool)
    again = scheme().generate(tiny.load(tiny.source), tiny.data(), seed=0, pool=pool)
    assert torch.equal(key.queries.inputs, again.queries.inputs)
    assert torch.equal(key.reference, again.reference)
    q = key.queries
    assert set(q.extras) == {
        "latent",
        "class_code",
        "y_adv",
        "batch",
        "met",
        "screened",
        "num_selected",
        "epochs_run",
        "batches_run",
    }
    assert int(q.extras["num_selected"]) == len(q)
    assert torch.all(q.extras["screened"]) and torch.allclose(q.extras["met"], torch.ones(len(q)))
    gan = pool.gan
    assert gan is not None
    assert torch.allclose(gan.images(q.extras["latent"], q.extras["class_code"]), q.inputs)  # replayable
    assert torch.equal(q.labels, q.extras["class_code"])
    loaded = Key.load(key.save(tmp_path / "key"))
    assert torch.equal(loaded.queries.inputs, q.inputs) and loaded.config == key.config


TRICKS = ("adversarial_label", "transform", "discriminator_loss")


@pytest.mark.parametrize("off", [None, *TRICKS])
def test_each_trick_switches_off(
    tiny: TinyZoo, pool: Pool, monkeypatch: pytest.MonkeyPatch, off: str | None
) -> None:
    """The paper's ablation (Table 3): switching one trick off stops exactly its work — FGSM for the
    adversarial label, the random transformations, D's realness for L_d — and still gives screened keys."""
    gan = pool.gan
    assert gan is not None
    calls = dict.fromkeys(TRICKS, 0)

    def counted(name: str, fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
        def wrapper(*args: object, **kw: object) -> torch.Tensor:
            calls[name] += 1
            return fn(*args, **kw)

        return wrapper

    def transforms(size: int, flips: bool = True) -> list[tuple[str, Transform]]:
        listed = naturalfinger_transforms(size, flips=flips)
        return [(n, t if n == "identity" else counted("transform", t)) for n, t in listed]

    monkeypatch.setattr(nf, "fgsm", counted("adversarial_label", nf.fgsm))
    monkeypatch.setattr(nf, "naturalfinger_transforms", transforms)
    monkeypatch.setattr(gan, "realness", counted("discriminator_loss", gan.realness))
    kw = {} if off is None else {off: False}
    key = scheme(budget=5, epochs=20, **kw).generate(tiny.load(tiny.source), tiny.data(), seed=1, pool=pool)
    assert {k: n > 0 for k, n in calls.items()} == {k: k != off for k in TRICKS}, calls
    assert 1 <= len(key.queries) <= 5
    assert torch.all(key.reference != key.queries.extras["y_adv"])


def test_code_variants_run(tiny: TinyZoo, pool: Pool) -> None:
    """The official code's choices where it departs from the paper (adversarial labels from the positives,
    initial samples on which the positives merely agree) and the generator's hinge loss as L_d."""
    variant = {"adv_label_pool": "positive", "d_loss": "generator", "initial": "agree"}
    key = scheme(budget=5, epochs=20, **variant).generate(
        tiny.load(tiny.source), tiny.data(), seed=1, pool=pool
    )
    assert 1 <= len(key.queries) <= 5 and "adv_label_pool='positive'" in str(key.config["fingerprint"])
    assert torch.all(key.reference != key.queries.extras["y_adv"])


def test_query_grid_draws_every_key(tiny: TinyZoo, pool: Pool, tmp_path: Path) -> None:
    """The report's query images: every key's first queries, and the section finds the runner's stored
    keys of the compared schemes for the first victim and seed NaturalFinger was scored on."""
    key = key_of(tiny, pool)
    other = FINGERPRINTS.make("ipguard", budget=4).generate(tiny.load(tiny.source), tiny.data(), seed=0)
    fig = query_grid([("naturalfinger", key), ("ipguard", other)], per_key=10, columns=5)
    images = [ax for sub in fig.subfigs for ax in sub.axes if ax.images]
    assert len(fig.subfigs) == 2 and len(images) == 10 + 4
    store = KeyStore(tmp_path)
    for name, k in (("naturalfinger", key), ("ipguard", other)):
        store.save(FINGERPRINTS.make(name), tiny.source, 0, k)
    row = ScoreRow("naturalfinger", 0, tiny.source, tiny.source, True, "same", 1.0, len(key.queries), 0.0)
    sections = query_sections([row], store, per_key=6)
    assert list(sections) == ["Query images (seed 0)"]
    assert [sub.get_suptitle() for sub in sections["Query images (seed 0)"].subfigs] == [
        f"naturalfinger: {len(key.queries)} queries",
        "ipguard: 4 queries",
    ]
    assert query_sections([replace(row, fingerprint="ipguard")], store) == {}  # NaturalFinger not run
    # a run with non-default settings is drawn under its own label, next to the default ipguard keys
    variant = parse_fingerprint("naturalfinger:epochs=20")
    store.save(variant, tiny.source, 0, key)
    ablated = replace(row, fingerprint="naturalfinger:epochs=20,transform=false")  # not the one drawn
    sections = query_sections([ablated, replace(row, fingerprint=variant.name)], store, per_key=6)
    assert [sub.get_suptitle() for sub in sections["Query images (seed 0)"].subfigs] == [
        f"naturalfinger:epochs=20: {len(key.queries)} queries",
        "ipguard: 4 queries",
    ]
