"""``modelprint calibrate build``: a calibration set matched to the owner's victim.

The set holds independent models trained the way the victim was — its root ``train`` step copied (same
dataset, same split, same arguments), only the seed and the architecture changed — in the victim's own
architecture and at least two others, with seeds from :data:`CALIBRATION_SEED0` (no preset uses them).
Under the ``cpu`` recipe every model trains until its held-out loss stops improving (``until=plateau``,
as the presets), unless the victim's step states its own schedule. A victim held only as a file (the
owner's own class, exported or as weights) says nothing of its training, so its set is trained on the split
of the dataset the owner names, in the architecture they name, with the zoo's recipe. The set is a zoo
like any other: built in the workspace's model store, resumable, and named in
``HOME/calibration/sets/NAME.json``."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from modelprint.models.user import ARCH_OPTION, lineage_options
from modelprint.types import atomic_write_text
from modelprint.verify.inputs import lineage_or_none
from modelprint.zoo.lineage import LineageError, Step, canonical, parse_lineage, step
from modelprint.zoo.presets import Preset

CALIBRATION_SEED0 = 1001
"""First seed of matched calibration models (presets use seeds below 600)."""
OTHER_ARCHS = ("lenet", "cnn-s", "resnet8", "mlp", "cnn-m")
"""The other architectures of a matched set, first two not the victim's, unless ``archs`` names them."""
SET_FORMAT = "modelprint-calibration-set/1"
MATCHED_RULE = (
    "independent models trained as the victim was (its root train step with new seeds {seed0}+): the "
    "victim's architecture and {others}, {per_arch} each"
)


@dataclass(frozen=True)
class MatchedSet:
    """A built (or to-build) matched calibration set: a preset whose suspects are the independents."""

    name: str
    victim: str
    dataset: str
    lineages: tuple[str, ...]
    rule: str
    victim_architecture: str | None = None
    """The victim's architecture signature, recorded for a victim held as a file (no lineage names it)."""
    victim_data: str | None = None
    """``dataset/split`` the owner declared a victim file was trained on (a lineage says it by itself)."""
    victim_sha256: str | None = None
    """The victim file's content hash: keys of that file (which record it) find this set, no other's."""

    def preset(self) -> Preset:
        victims = (self.victim,) if lineage_or_none(self.victim) else ()
        return Preset(self.name, self.dataset, victims, self.lineages, description=self.rule)

    def to_json(self) -> str:
        return json.dumps(
            {"format": SET_FORMAT, "name": self.name, "victim": self.victim, "dataset": self.dataset,
             "lineages": list(self.lineages), "rule": self.rule,
             "victim_architecture": self.victim_architecture, "victim_data": self.victim_data,
             "victim_sha256": self.victim_sha256}, indent=2,
        )  # fmt: skip


def matched_set(
    victim: str,
    *,
    archs: Sequence[str] = (),
    per_arch: int = 7,
    recipe: str = "cpu",
    name: str | None = None,
) -> MatchedSet:
    """The matched set of ``victim`` (a zoo lineage starting with a ``train`` step): ``per_arch`` models
    of the victim's architecture and of each of ``archs`` (default: the first two of
    :data:`OTHER_ARCHS` that are not the victim's)."""
    try:
        root = parse_lineage(victim)[0]
    except LineageError as exc:
        raise ValueError(f"{victim!r} is not a zoo lineage ({exc})") from None
    args, kwargs = list(root.args), dict(root.kwargs)
    for position, key in enumerate(("arch", "dataset", "seed")):  # train(X,ds,seed=3) names them
        if len(args) == position and key in kwargs:
            args.append(kwargs.pop(key))
    if root.name != "train" or len(args) < 3:
        raise ValueError(f"the victim {victim!r} does not start with a train step: no recipe to copy")
    root = Step(root.name, tuple(args), tuple(kwargs.items()))
    return _matched(root, canonical(victim), None, archs=archs, per_arch=per_arch, recipe=recipe, name=name)


def matched_set_for_file(
    victim: str,
    arch: str,
    dataset: str,
    *,
    split: str = "owner",
    arch_kwargs: Mapping[str, object] | None = None,
    victim_architecture: str | None = None,
    victim_sha256: str | None = None,
    archs: Sequence[str] = (),
    per_arch: int = 7,
    recipe: str = "cpu",
    name: str | None = None,
) -> MatchedSet:
    """The matched set of a victim the owner holds as a file: its architecture ``arch`` (a built-in name or
    their own ``package.module:Class``, built with ``arch_kwargs``) and ``archs``, trained on ``split`` of
    ``dataset`` with the zoo's recipe, since a file does not say how it was trained. ``victim`` is the
    name keys record for it; ``victim_architecture`` its signature, by which ``verify`` finds the set."""
    kwargs = {"data": split, **lineage_options(arch_kwargs or {})}
    root = parse_lineage(step("train", arch, dataset, 0, **kwargs))[0]
    chosen = _matched(
        root, victim, victim_architecture, archs=archs, per_arch=per_arch, recipe=recipe, name=name,
        salt=victim_sha256 or "",
    )  # fmt: skip
    return replace(chosen, victim_data=f"{dataset}/{split}", victim_sha256=victim_sha256)


def _matched(
    root: Step,
    victim: str,
    victim_architecture: str | None,
    *,
    archs: Sequence[str],
    per_arch: int,
    recipe: str,
    name: str | None,
    salt: str = "",
) -> MatchedSet:
    if name is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", name):
        raise ValueError(f"--name {name!r}: letters, digits, '.', '_' and '-', from a letter or digit")
    if per_arch < 1 or per_arch > 500:
        raise ValueError(f"--per-arch must lie in 1..500, got {per_arch}")
    if recipe not in ("cpu", "cpu-fixed"):
        raise ValueError(f"recipe {recipe!r}: a matched set trains as the victim did (cpu or cpu-fixed)")
    arch, dataset = root.args[0], root.args[1]
    others = tuple(archs) or tuple(a for a in OTHER_ARCHS if a != arch)[:2]
    if arch in others or len(set(others)) != len(others):
        raise ValueError(f"--archs {','.join(others)}: give other architectures than the victim's, once each")
    kwargs = dict(root.kwargs)
    if recipe == "cpu":
        kwargs.setdefault("until", "plateau")
    own = {k: v for k, v in kwargs.items() if k.startswith(ARCH_OPTION)}  # the victim class's arguments
    shared = {k: v for k, v in kwargs.items() if not k.startswith(ARCH_OPTION)}
    lineages = tuple(
        step("train", a, dataset, CALIBRATION_SEED0 + k, **shared, **(own if a == arch else {}))
        for a in (arch, *others)
        for k in range(per_arch)
    )
    digest = hashlib.sha256("\n".join([*lineages, salt]).encode()).hexdigest()[:8]
    rule = MATCHED_RULE.format(seed0=CALIBRATION_SEED0, others=", ".join(others), per_arch=per_arch)
    short = arch.rpartition(":")[2].lower() if ":" in arch else arch
    label = name or f"matched-{short}-{dataset}-{digest}"
    return MatchedSet(label, victim, dataset, lineages, rule, victim_architecture)


def sets_dir(home: Path) -> Path:
    return Path(home) / "calibration" / "sets"


def save_set(home: Path, s: MatchedSet) -> Path:
    path = sets_dir(home) / f"{s.name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, s.to_json())
    return path


def load_set(home: Path, name: str) -> MatchedSet | None:
    """The set saved under ``name`` in ``home``, None if there is none; a broken file is an error."""
    if not name or "/" in name or name.startswith("."):
        return None
    path = sets_dir(home) / f"{name}.json"
    if not path.is_file():
        return None
    try:
        body = json.loads(path.read_text())
        if not isinstance(body, dict):
            raise ValueError(f"a JSON {type(body).__name__}, not an object")
        if body.get("format") != SET_FORMAT:
            raise ValueError(f"format {body.get('format')!r}")
        signature = body.get("victim_architecture")
        return MatchedSet(str(body["name"]), str(body["victim"]), str(body["dataset"]),
                          tuple(str(x) for x in body["lineages"]), str(body.get("rule", "")),
                          signature if isinstance(signature, str) else None,
                          str(body["victim_data"]) if body.get("victim_data") else None,
                          str(body["victim_sha256"]) if body.get("victim_sha256") else None)  # fmt: skip
    except (ValueError, KeyError, TypeError, OSError) as exc:
        raise ValueError(
            f"{path}: not a calibration set file ({exc}); rebuild it with `modelprint calibrate build`"
        ) from None


def sets_for(
    home: Path, victim: str, architecture: str | None = None, sha256: str | None = None
) -> list[MatchedSet]:
    """Every saved set built for ``victim``: its lineage, or the name a file victim's keys record together
    with its architecture signature."""
    out = []
    for path in sorted(sets_dir(home).glob("*.json")) if sets_dir(home).is_dir() else []:
        try:
            s = load_set(home, path.stem)
        except ValueError:
            continue
        if s is None or s.victim != victim or s.victim_architecture not in (None, architecture):
            continue
        if s.victim_sha256 is None or sha256 is None or s.victim_sha256 == sha256:
            out.append(s)
    return out


def matched_set_of_file(
    victim: str,
    arch: str | None,
    arch_kwargs: str | None,
    dataset: str | None,
    split: str,
    data_root: str | None,
    *,
    archs: tuple[str, ...],
    per_arch: int,
    recipe: str,
    name: str | None,
) -> MatchedSet:
    """The matched set of a victim file: checked to be of ``arch`` and to fit ``dataset`` first."""
    from modelprint.data import load_dataset
    from modelprint.models.base import TorchClassifier
    from modelprint.models.signature import architecture_signature
    from modelprint.models.user import build_architecture, parse_arch_kwargs
    from modelprint.verify.inputs import resolve_model

    if arch is None or dataset is None:
        raise ValueError(
            f"{victim}: a victim file does not say how it was trained: give its architecture (--arch NAME or "
            "--arch package.module:Class) and its training data (--dataset NAME [--split owner])"
        )
    kwargs = parse_arch_kwargs(arch_kwargs)
    data = load_dataset(dataset, split, root=data_root)
    model = resolve_model(
        victim, input_shape=data.input_shape, num_classes=data.num_classes, arch=arch, arch_kwargs=kwargs,
        mean=list(data.mean), std=list(data.std),
    )  # fmt: skip
    if not isinstance(model, TorchClassifier):
        raise ValueError(f"{victim}: a victim must be a white-box torch model (ONNX files are suspects only)")
    c, h, _ = data.input_shape
    with torch.device("meta"):
        fresh = build_architecture(
            arch, in_channels=c, num_classes=data.num_classes, image_size=h, arch_kwargs=kwargs or None
        )
    signature = architecture_signature(fresh)
    if architecture_signature(model.module) != signature:
        raise ValueError(
            f"{victim} is not a {arch} (its parameters' names and shapes differ): name its class with --arch"
        )
    from modelprint.models.io import file_sha256

    digest = file_sha256(Path(victim)) if Path(victim).is_file() else None
    return matched_set_for_file(
        getattr(model, "name", "") or Path(victim).name, arch, dataset, split=split, arch_kwargs=kwargs,
        victim_architecture=signature, victim_sha256=digest, archs=archs, per_arch=per_arch, recipe=recipe,
        name=name,
    )  # fmt: skip


__all__ = [
    "CALIBRATION_SEED0",
    "MatchedSet",
    "load_set",
    "matched_set",
    "matched_set_for_file",
    "matched_set_of_file",
    "save_set",
    "sets_for",
]
