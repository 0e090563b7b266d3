import pytest

from modelprint.attacks import ATTACKS
from modelprint.fingerprints import FINGERPRINTS
from modelprint.registry import Registry, UnknownNameError
from modelprint.zoo.presets import PRESETS


def test_registry_register_make_and_errors() -> None:
    reg: Registry[int] = Registry("thing")

    @reg.register("two")
    def two() -> int:
        """The number two."""
        return 2

    assert reg.make("two") == 2 and reg.names() == ["two"] and "two" in reg
    assert reg.describe("two") == "The number two."
    with pytest.raises(ValueError, match="twice"):
        reg.register("two")(two)
    with pytest.raises(UnknownNameError, match="known: two"):
        reg.make("three")


def test_project_registries_hold_the_issue_2_parts() -> None:
    assert {"akh", "random"} <= set(FINGERPRINTS.names())
    assert {"train", "finetune", "prune"} <= set(ATTACKS.names())
    assert {"quick", "tiny"} <= set(PRESETS.names())
    for name in FINGERPRINTS.names():
        assert FINGERPRINTS.describe(name), f"{name} has no docstring"


def test_list_summaries_are_one_plain_sentence() -> None:
    """What `modelprint list` prints: no signature, provenance tags, spec references or markup."""
    from modelprint.registry import SUMMARY_CHARS, plain_sentence

    doc = """``noise(v, ft=2)``: W ← W + N(0, σ²) on every weight [P] (docs/attacks.md#noise: v ∈ {1..9}, the
    paper's :func:`~modelprint.attacks.noise` [D]). Then ``ft`` epochs of fine-tuning."""
    assert plain_sentence(doc) == "W ← W + N(0, σ²) on every weight (v ∈ {1..9}, the paper's noise)."
    long = "A scheme, " + ", ".join(f"part {i}" for i in range(60)) + "."
    short = plain_sentence(long)
    assert len(short) <= SUMMARY_CHARS and short.endswith(".") and short.startswith("A scheme, part 0")
    import modelprint.cli  # noqa: F401  (registers everything)
    from modelprint.attacks import ATTACKS
    from modelprint.fingerprints import FINGERPRINTS
    from modelprint.threats import THREATS

    for reg in (FINGERPRINTS, ATTACKS, THREATS):
        for name in reg.names():
            text = reg.describe(name)
            assert text.endswith("."), name
            assert "[P]" not in text and "docs/" not in text and "``" not in text, name
