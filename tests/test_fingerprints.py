"""Per-scheme separation on the tiny zoo (the contract every registered scheme meets is in
``test_contracts.py``)."""

import pytest
import torch

from modelprint.fingerprints import FINGERPRINTS
from modelprint.models.access import Suspect
from modelprint.testing import TinyZoo
from modelprint.types import Key
from modelprint.zoo.lineage import join


def verify(tiny: TinyZoo, name: str, key: Key, lineage: str) -> float:
    fp = FINGERPRINTS.make(name, budget=key.num_queries)
    return fp.verify(key, Suspect(tiny.load(lineage), access=fp.needs))


def test_akh_ranks_finetuned_and_pruned_copies_above_independent_models(tiny: TinyZoo) -> None:
    fp = FINGERPRINTS.make("akh")
    for seed in (0, 1):
        key = fp.generate(tiny.load(tiny.source), tiny.data(), seed=seed)
        derived = [verify(tiny, "akh", key, join(tiny.source, a)) for a in ("finetune(ftal)", "prune(0.5)")]
        independent = [verify(tiny, "akh", key, neg) for neg in tiny.negatives()]
        assert min(derived) > max(independent), (seed, derived, independent)


def test_akh_queries_are_the_victims_mistakes_then_cutmix(tiny: TinyZoo) -> None:
    victim, data = tiny.load(tiny.source), tiny.data()
    key = FINGERPRINTS.make("akh").generate(victim, data, seed=0)
    n_neg = int(key.queries.extras["num_negatives"])
    assert 0 < n_neg < 100  # digits: the source errs on a handful of test points
    assert torch.all(victim.predict(key.queries.inputs[:n_neg]) != key.queries.labels[:n_neg])
    assert len(key.queries) == 100 and len(key.queries.extras["cutmix_boxes"]) > 0


def test_random_ranks_derived_models_above_independent_ones_on_average(tiny: TinyZoo) -> None:
    fp = FINGERPRINTS.make("random", budget=300)
    key = fp.generate(tiny.load(tiny.source), tiny.data(), seed=0)
    derived = [verify(tiny, "random", key, lin) for lin in tiny.positives()]
    independent = [verify(tiny, "random", key, lin) for lin in tiny.negatives()]
    assert sum(derived) / len(derived) > sum(independent) / len(independent)
    assert max(derived) > max(independent)


@pytest.mark.parametrize("name", ["cae", "metafinger", "anafp", "naturalfinger"])
def test_pool_scheme_settings_are_the_samplers_keyword_arguments(name: str) -> None:
    """The pool schemes' settings are declared once, on the sampler: the factory takes ``budget`` and every
    keyword the sampler takes, typed and defaulted as the sampler declares them."""
    import inspect

    from modelprint.fingerprints import parse_fingerprint
    from modelprint.specs import SpecError, parameters

    factory = FINGERPRINTS.get(name)
    fp = factory()
    sampler_params = inspect.signature(type(fp.sampler).__init__).parameters
    factory_params = inspect.signature(factory).parameters
    assert list(factory_params) == ["budget", *(p for p in sampler_params if p != "self")]
    assert all(factory_params[k].default == p.default for k, p in sampler_params.items() if k != "self")
    assert parameters(factory)["budget"] is int and fp.budget == 100 and fp.name == name
    last = list(sampler_params)[-1]
    assert parameters(factory)[last] == typing_hint(type(fp.sampler), last)
    small = parse_fingerprint(f"{name}:budget=7")
    assert small.budget == 7 and small.name == f"{name}:budget=7"
    with pytest.raises(SpecError, match="no parameter"):
        parse_fingerprint(f"{name}:no_such_setting=1")


def typing_hint(cls: type, parameter: str) -> object:
    import typing

    return typing.get_type_hints(cls.__init__)[parameter]
