"""``name:key=value`` specs for fingerprints (shared parser with threats)."""

from __future__ import annotations

import pytest

from modelprint.fingerprints import parse_fingerprint
from modelprint.specs import SpecError, canonical, format_value


def test_fingerprint_spec_sets_typed_arguments_and_names_the_setting() -> None:
    fp = parse_fingerprint("cae:max_seeds=512,eps=8/255")
    assert fp.name == "cae:eps=8/255,max_seeds=512"  # canonical: sorted keys, exact fractions
    assert fp.sampler.max_seeds == 512 and fp.sampler.eps == pytest.approx(8 / 255)
    assert parse_fingerprint(fp.name).name == fp.name  # round trip
    assert parse_fingerprint("akh").name == "akh"
    assert parse_fingerprint("akh:budget=50").budget == 50
    assert parse_fingerprint("akh:budget=50").name == "akh:budget=50"  # two budgets never share a label
    assert parse_fingerprint("akh:budget=100").name == "akh"  # the default budget is no setting
    assert parse_fingerprint("mfue-b:probes=10,budget=1000").name == "mfue-b:budget=1000,probes=10"
    assert parse_fingerprint("akh", budget=30).budget == 30
    assert parse_fingerprint("mfue-w:one_sided=true").detector.one_sided is True


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nope", "unknown fingerprint 'nope'"),
        ("cae:nope=1", "fingerprint 'cae' has no parameter 'nope'; parameters: budget"),
        ("cae:max_seeds=x", "max_seeds must be a int"),
        ("cae:pool_spec=3", "cannot be set from the command line"),
        ("cae:steps", "expected key=value"),
        ("cae:steps=1,steps=2", "given twice"),
        ("mfue-w:draw=sometimes", "draw must be one of"),
    ],
)
def test_fingerprint_spec_errors_are_clear(text: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        parse_fingerprint(text)


def test_optional_parameters_accept_none_and_values_print_back() -> None:
    assert parse_fingerprint("cae:max_seeds=none").sampler.max_seeds is None
    assert canonical("x", {"b": 0.5, "a": 16 / 255, "c": None, "d": True}) == "x:a=16/255,b=0.5,c=none,d=true"
    assert format_value(2.0) == "2"
