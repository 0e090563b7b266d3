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
