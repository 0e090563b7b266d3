import pytest

from modelprint.zoo.lineage import (
    LineageError,
    canonical,
    is_derived,
    join,
    model_id,
    parent_of,
    parse_lineage,
    root_of,
    step,
    step_seed,
    task_of,
)

SRC = "train(cnn-m,mnist5k,0)"


def test_parse_and_format_round_trip() -> None:
    lin = "train(cnn-m,mnist5k,0)->finetune(ftal)->prune(0.5,lr=0.01,ft=3)"
    steps = parse_lineage(lin)
    assert [s.name for s in steps] == ["train", "finetune", "prune"]
    assert steps[2].args == ("0.5",) and dict(steps[2].kwargs) == {"ft": "3", "lr": "0.01"}
    assert canonical(lin) == "train(cnn-m,mnist5k,0)->finetune(ftal)->prune(0.5,ft=3,lr=0.01)"
    assert canonical(canonical(lin)) == canonical(lin)
    assert model_id(lin) == model_id(canonical(lin)) and len(model_id(lin)) == 16


def test_step_helper_and_join() -> None:
    assert step("prune", 0.5, ft=3) == "prune(0.5,ft=3)"
    assert join(SRC, step("finetune", "ftll")) == SRC + "->finetune(ftll)"
    assert parent_of(SRC + "->finetune(ftll)") == SRC and parent_of(SRC) is None
    assert root_of(SRC + "->finetune(ftll)->prune(0.2)") == SRC


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "finetune(ftal)",
        "train(a,b,0)->train(a,b,1)",
        "train(a,b",
        "train(a,k=1,b)",
        "train(a;rm -rf,b,0)",
    ],
)
def test_malformed_lineages_are_refused(bad: str) -> None:
    with pytest.raises(LineageError):
        parse_lineage(bad)


def test_ground_truth_comes_from_lineage() -> None:
    ft = SRC + "->finetune(ftal)"
    other = "train(cnn-m,mnist5k,1,data=attacker)"
    assert is_derived(ft, SRC) and is_derived(SRC, SRC)
    assert not is_derived(SRC, ft) and not is_derived(other, SRC)
    assert task_of(SRC, SRC) == "same"
    assert task_of(SRC, ft + "->prune(0.3)") == "finetune+prune"
    assert task_of(SRC, other) == "independent"
    assert task_of(SRC, other + "->prune(0.3)") == "mirror:prune"


def test_step_seeds_are_stable_and_distinct() -> None:
    a, b = SRC + "->finetune(ftal)", SRC + "->finetune(ftll)"
    assert step_seed(a) == step_seed(a) and step_seed(a) != step_seed(b)
