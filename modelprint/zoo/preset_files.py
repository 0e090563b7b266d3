"""A user's own zoo as a TOML file, accepted wherever a preset name is (``zoo build/show``, ``bench run``,
``bench detect``, ``verify --calibrate``)::

    name = "mine"
    dataset = "digits"
    recipe = "cpu"            # optional: "cpu" trains every step until its held-out loss stops improving,
                              # "cpu-fixed" (the default) keeps the steps as written
    description = "..."       # optional
    victims = ["train(mypkg.nets:SmallCNN,digits,0,arch.width=16)"]
    suspects = [
        "train(mypkg.nets:SmallCNN,digits,0,arch.width=16)->finetune(ftal)",
        "train(lenet,digits,7,data=attacker)",
    ]

Every lineage is checked when the file is read (known attacks, valid arguments, the file's dataset), so a
mistake is one line naming the entry, before anything is trained. A user class the file's lineages name
(``package.module:Class``) is imported only when the command names it too (``modelprint --allow-arch
package.module:Class zoo build mine.toml``, or ``--arch`` on the commands that take one): a zoo file found
somewhere cannot make modelprint import code (:mod:`modelprint.models.user`)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from modelprint.attacks.base import make_step
from modelprint.data import DATASETS
from modelprint.models.user import is_user_arch, user_arch_allowed
from modelprint.zoo.lineage import LineageError, Step, canonical, parse_lineage
from modelprint.zoo.presets import PRESETS, Preset
from modelprint.zoo.recipes import CONVERGED, SCALED_RECIPES

PRESET_SUFFIX = ".toml"
MAX_LINEAGES = 10_000
"""The most victims and suspects one file may list."""


def is_preset_file(name: str) -> bool:
    """Whether ``name`` names a preset file rather than a registered preset."""
    return name.lower().endswith(PRESET_SUFFIX)


def load_preset_file(path: str | Path) -> Preset:
    """The preset a TOML file describes; ValueError (one line, naming the entry) for anything wrong."""
    path = Path(path)
    try:
        body = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{path}: no such preset file") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path}: not a readable TOML preset ({exc})") from None
    known = {"name", "dataset", "recipe", "description", "victims", "suspects"}
    if unknown := sorted(set(body) - known):
        keys = ", ".join(sorted(known))
        raise ValueError(f"{path}: unknown keys {', '.join(unknown)}; a preset has {keys}")
    name, dataset = _text(body, "name", path), _text(body, "dataset", path)
    if dataset not in DATASETS:
        raise ValueError(f"{path}: unknown dataset {dataset!r}; known: {', '.join(DATASETS.names())}")
    recipe = body.get("recipe", "cpu-fixed")
    if recipe not in SCALED_RECIPES:
        raise ValueError(f"{path}: recipe {recipe!r}: one of {', '.join(SCALED_RECIPES)}")
    description = body.get("description", f"the zoo of {path.name}")
    if not isinstance(description, str):
        raise ValueError(f"{path}: description must be text")
    victims = _lineages(body, "victims", path, dataset, recipe)
    suspects = _lineages(body, "suspects", path, dataset, recipe, allow_empty=True)
    if not victims:
        raise ValueError(f"{path}: victims is empty; name at least one source model")
    if len(victims) + len(suspects) > MAX_LINEAGES:
        raise ValueError(f"{path}: {len(victims) + len(suspects)} lineages; at most {MAX_LINEAGES:,}")
    if name in PRESETS:
        raise ValueError(f"{path}: name {name!r} is a built-in preset's; give your zoo its own name")
    classes = sorted({
        value for lineage in (*victims, *suspects) for st in parse_lineage(lineage)
        for value in (*st.args, *(v for _, v in st.kwargs)) if is_user_arch(value)
    })  # fmt: skip
    if refused := [c for c in classes if not user_arch_allowed(c)]:
        named = " ".join(f"--allow-arch {c}" for c in refused)
        raise ValueError(
            f"{path} names your class {', '.join(refused)}, which modelprint imports only when you name it: "
            f"run `modelprint {named} …`"
        )
    return Preset(name, dataset, victims, suspects, description=description)


def _text(body: dict[str, object], key: str, path: Path) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{path}: {key} must be a non-empty string")
    return value.strip()


def _lineages(
    body: dict[str, object], key: str, path: Path, dataset: str, recipe: str, *, allow_empty: bool = False
) -> tuple[str, ...]:
    value = body.get(key, [] if allow_empty else None)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{path}: {key} must be a list of lineage strings")
    out = []
    for i, text in enumerate(value):
        try:
            steps = parse_lineage(text)
            for s in steps:
                make_step(s)  # known attack, valid arguments
        except (LineageError, ValueError, KeyError) as exc:
            raise ValueError(f"{path}: {key}[{i}] {text!r}: {exc}") from None
        root = steps[0]
        if len(root.args) >= 2 and root.args[1] != dataset:
            raise ValueError(f"{path}: {key}[{i}] trains on {root.args[1]!r}; the preset is on {dataset!r}")
        out.append(_with_recipe(text, recipe))
    return tuple(out)


def _with_recipe(lineage: str, recipe: str) -> str:
    """``lineage`` under ``recipe``: ``cpu`` adds its schedule to every training step that names none
    (not to pruning without fine-tuning, nor to noise with ``ft=0``, which do not train)."""
    if recipe != "cpu":
        return canonical(lineage)
    steps = []
    for s in parse_lineage(lineage):
        kwargs = dict(s.kwargs)
        ft = kwargs.get("ft", "2" if s.name == "noise" else "0")
        if s.name in CONVERGED and not (s.name in ("prune", "noise") and float(ft) <= 0):  # as Recipe.step
            for k, v in CONVERGED[s.name].items():
                kwargs.setdefault(k, str(v))
        steps.append(str(Step(s.name, s.args, tuple(sorted(kwargs.items())))))
    return canonical("->".join(steps))


__all__ = ["is_preset_file", "load_preset_file", "resolve_preset"]


def resolve_preset(name: str, dataset: str | None = None, recipe: str | None = None) -> Preset:
    """The registered preset ``name`` on ``dataset`` (default: the preset's) under ``recipe`` (default:
    ``paper`` on CIFAR, ``cpu`` elsewhere; see :mod:`modelprint.zoo.recipes`), or the preset of a TOML
    file (:mod:`modelprint.zoo.preset_files`)."""
    if is_preset_file(name):
        if dataset or recipe:
            raise ValueError(f"{name}: a preset file states its dataset and recipe (no --dataset/--recipe)")
        return load_preset_file(name)
    factory = PRESETS.get(name)
    if dataset:
        DATASETS.get(dataset)  # an unknown name is one line listing the known ones, before anything runs
    kwargs: dict[str, str] = {"dataset": dataset} if dataset else {}
    if recipe is not None:
        kwargs["recipe"] = recipe
    return factory(**kwargs)
