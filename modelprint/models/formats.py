"""Bring your own model: load a victim or a suspect from any of the formats an owner is likely to hold.

:func:`load_classifier` dispatches on the spec:

* a saved model folder (``card.json`` + ``weights.safetensors``, :func:`modelprint.models.io.load_model`);
* ``.safetensors`` or a ``.pt``/``.pth``/``.bin`` state dict plus an architecture name (``arch``) and the
  input shape; state dicts are read with ``torch.load(weights_only=True)`` only;
* a ``torch.export`` archive (``.pt2``), checked before it is opened: no pickled payload, no compiled
  native code, only ATen/prims operators and plain symbolic-shape expressions (see :func:`check_pt2`);
* ``.onnx`` through onnxruntime (the optional ``onnx`` extra: ``pip install 'modelprint[onnx]'``).

A full pickled ``nn.Module`` runs arbitrary code when it is read; it is loaded only with
``allow_pickle=True`` (CLI ``--unsafe-pickle``) and a warning. Every loaded model is probed with one blank
image so a wrong input shape or class count fails here, with a message naming both shapes."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from modelprint.models.base import Classifier, TorchClassifier
from modelprint.models.io import ModelFileError, load_model, load_weights, read_state_dict
from modelprint.types import Output

log = logging.getLogger(__name__)

STATE_DICT_SUFFIXES = frozenset({".pt", ".pth", ".bin"})
ONNX_EXTRA = "pip install 'modelprint[onnx]'"


def parse_input_shape(text: str) -> tuple[int, int, int]:
    """``"1x28x28"`` or ``"3,32,32"`` -> (C, H, W)."""
    parts = [p for p in re.split(r"[x×,\s]+", text.strip()) if p]
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        raise ValueError(f"input shape must look like 1x28x28 (C x H x W), got {text!r}") from None
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"input shape must be three positive sizes C x H x W such as 1x28x28, got {text!r}")
    return shape[0], shape[1], shape[2]


def _shape_text(shape: Sequence[int]) -> str:
    return "x".join(str(s) for s in shape)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def check_classifier(
    model: Classifier, input_shape: Sequence[int], num_classes: int | None, source: str
) -> int:
    """Send one blank image of ``input_shape``; return the class count the model answers with.

    Raises :class:`ModelFileError` when the model fails on that shape, answers something that is not
    (1, K) scores, or answers for another class count than ``num_classes``."""
    spent = getattr(model, "queries_spent", 0)
    try:
        out = model(torch.zeros(1, *input_shape))
    except Exception as exc:  # a foreign model may fail in any way: report it as a shape problem
        raise ModelFileError(
            f"{source}: fails on inputs of shape (N,{','.join(map(str, input_shape))}): {_first_line(exc)}"
        ) from None
    if isinstance(model, TorchClassifier | OnnxClassifier):
        model.queries_spent = spent  # the probe is not a query
    if out.ndim != 2 or out.shape[0] != 1:
        raise ModelFileError(
            f"{source}: answers shape {tuple(out.shape)} for one image; expected (1, classes)"
        )
    found = int(out.shape[1])
    if num_classes is not None and found != num_classes:
        raise ModelFileError(f"{source}: outputs {found} classes, expected {num_classes}")
    return found


# ---------------------------------------------------------------- safetensors / state dict + arch


def _strip_prefix(state: dict[str, torch.Tensor], prefix: str = "module.") -> dict[str, torch.Tensor]:
    """Drop the ``module.`` prefix ``nn.DataParallel`` adds to every key."""
    if state and all(k.startswith(prefix) for k in state):
        return {k[len(prefix) :]: v for k, v in state.items()}
    return state


def load_weights_file(
    path: Path,
    *,
    arch: str | None,
    input_shape: Sequence[int] | None,
    num_classes: int | None,
    mean: Sequence[float] | None,
    std: Sequence[float] | None,
    device: str,
    state: dict[str, torch.Tensor] | None = None,
    arch_kwargs: Mapping[str, object] | None = None,
) -> TorchClassifier:
    """A ``.safetensors`` / state-dict file (or its already read ``state``) into the native architecture
    ``arch`` or a user's class ``arch = "package.module:Class"`` (built with ``arch_kwargs``), keys matched
    strictly. A user class's class count is ``num_classes`` or what it answers."""
    from modelprint.models.archs import ARCHS, build_arch
    from modelprint.models.user import is_user_arch, user_module

    state = _strip_prefix(read_state_dict(path) if state is None else state)
    if arch is None:
        raise ModelFileError(
            f"{path}: a bare weights file needs its architecture: pass --arch NAME "
            f"(one of {', '.join(ARCHS.names())}, or package.module:Class for your own) and --input-shape "
            "CxHxW"
        )
    if input_shape is None:
        raise ModelFileError(f"{path}: pass the input shape (--input-shape CxHxW, e.g. 1x28x28)")
    c, h, w = input_shape
    if is_user_arch(arch):
        module = user_module(arch, arch_kwargs)
        load_weights(module, state, source=str(path))
        probe = TorchClassifier(module, num_classes=1, input_shape=input_shape, device=device)
        num_classes = check_classifier(probe, input_shape, num_classes, str(path))
    else:
        if h != w:
            raise ModelFileError(f"{path}: the native architectures take square images, got {h}x{w}")
        head = state.get("classifier.weight")
        if num_classes is None:
            if head is None or head.ndim != 2:
                raise ModelFileError(
                    f"{path}: no classifier.weight to read the class count from; pass --num-classes"
                )
            num_classes = int(head.shape[0])
        elif head is not None and head.ndim == 2 and int(head.shape[0]) != num_classes:
            raise ModelFileError(
                f"{path}: outputs {int(head.shape[0])} classes (classifier.weight), expected {num_classes}"
            )
        try:
            module = build_arch(arch, in_channels=c, num_classes=num_classes, image_size=h)
        except (KeyError, ValueError) as exc:
            raise ModelFileError(f"{path}: {exc}") from None
        load_weights(module, state, source=str(path))
    model = TorchClassifier(
        module, num_classes=num_classes, input_shape=input_shape, mean=mean, std=std, device=device,
        name=path.name,
    )  # fmt: skip
    check_classifier(model, input_shape, num_classes, str(path))
    return model


def load_pickled_module(
    path: Path,
    *,
    input_shape: Sequence[int] | None,
    num_classes: int | None,
    mean: Sequence[float] | None,
    std: Sequence[float] | None,
    device: str,
) -> TorchClassifier:
    """UNSAFE: unpickle a whole ``nn.Module`` (runs any code the file holds). Only for files you made."""
    log.warning("UNSAFE: unpickling %s with weights_only=False runs any code inside it", path)
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=False)
    except Exception as exc:  # an arbitrary pickle can fail in any way
        raise ModelFileError(f"{path}: cannot unpickle ({_first_line(exc)})") from None
    if not isinstance(obj, nn.Module):
        raise ModelFileError(f"{path}: the pickle holds a {type(obj).__name__}, not an nn.Module")
    if input_shape is None:
        raise ModelFileError(f"{path}: pass the input shape (--input-shape CxHxW) for a pickled module")
    probe = TorchClassifier(obj, num_classes=1, input_shape=input_shape, device=device)
    found = check_classifier(probe, input_shape, num_classes, str(path))
    return TorchClassifier(
        obj, num_classes=found, input_shape=input_shape, mean=mean, std=std, device=device, name=path.name
    )


# ---------------------------------------------------------------- torch.export (.pt2)

#: operator namespaces an exported classifier may call (no custom ops, no Python callables)
PT2_OP_PATTERN = re.compile(r"^torch\.ops\.(aten|prims|higher_order)\.[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)?$")
PT2_PY_OPS = frozenset(
    {f"_operator.{n}" for n in ("getitem", "add", "sub", "mul", "floordiv", "truediv", "mod", "neg", "pow")}
    | {f"_operator.{n}" for n in ("eq", "ne", "lt", "le", "gt", "ge", "and_", "or_", "not_")}
    | {f"math.{n}" for n in ("ceil", "floor", "trunc", "sqrt")}
    | {f"torch.sym_{n}" for n in ("float", "int", "max", "min", "not", "ite", "sqrt", "sum")}
    | {"torch._assert_async", "torch._check", "torch._check_is_size"}
)
#: names a symbolic-shape expression may use: torch's sympy helpers, the sympy classes of an ``srepr``
#: string (``Symbol('s0', positive=True, integer=True)``), assumption keywords and shape symbols (s0, u1)
PT2_SYMPY_NAMES = frozenset(
    {"FloorDiv", "ModularIndexing", "Where", "PythonMod", "Mod", "CleanDiv", "CeilToInt", "FloorToInt"}
    | {"CeilDiv", "LShift", "RShift", "PowByNatural", "FloatPow", "FloatTrueDiv", "IntTrueDiv"}
    | {"TruncToFloat", "TruncToInt", "RoundToInt", "RoundDecimal", "ToFloat", "Identity", "Max", "Min"}
    | {"IsNonOverlappingAndDenseIndicator", "Symbol", "Integer", "Float", "Rational", "Add", "Mul", "Pow"}
    | {"Eq", "Ne", "Lt", "Le", "Gt", "Ge", "And", "Or", "Not", "Abs", "Tuple", "oo", "zoo", "nan"}
    | {"Equality", "Unequality", "StrictLessThan", "StrictGreaterThan", "LessThan", "GreaterThan"}
    | {"Infinity", "NegativeInfinity", "Half", "One", "Zero", "NegativeOne", "BooleanTrue", "BooleanFalse"}
    | {"True", "False", "true", "false", "positive", "negative", "nonnegative", "nonpositive", "integer"}
    | {"real", "finite", "infinite", "commutative", "zero", "nonzero", "even", "odd", "rational", "precision"}
    | {"extended_real", "extended_positive", "extended_negative", "extended_nonnegative"}
)
_SYMBOL = re.compile(r"^[a-z]{1,8}\d+$")
_QUOTED = re.compile(r"'([^']*)'")
_NUMBER = re.compile(r"(?<![A-Za-z0-9_])\d+(\.\d*)?([eE][-+]?\d+)?")
_EXPR_CHARS = re.compile(r"^[A-Za-z0-9_+\-*/%()<>=!&|~,.\s]*$")
_PT2_MEMBER = re.compile(
    r"^(archive_format|archive_version|byteorder|\.data/[A-Za-z0-9_.]+|models/[A-Za-z0-9_]+\.json"
    r"|data/weights/[A-Za-z0-9_]+(\.json)?|data/constants/[A-Za-z0-9_]+(\.json)?"
    r"|data/sample_inputs/[A-Za-z0-9_]+\.pt|extra/[A-Za-z0-9_./-]+)$"
)


def _walk(obj: Any) -> Iterator[tuple[str, Any, dict[str, Any]]]:
    """Every (key, value, owning dict) of a JSON tree."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield k, v, obj
            yield from _walk(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _walk(v)


def _check_expr(expr: str, source: str) -> None:
    """A symbolic-shape expression is parsed by sympy (which evaluates it): sympy numbers, arithmetic and
    relations over quoted shape symbols only."""

    def refuse(what: str) -> ModelFileError:
        return ModelFileError(f"{source}: refused — symbolic shape expression {expr[:80]!r} {what}")

    if len(expr) > 4000 or "__" in expr:
        raise refuse("is not plain arithmetic")
    for quoted in _QUOTED.findall(expr):
        if not _SYMBOL.match(quoted):
            raise refuse(f"quotes {quoted[:20]!r}")
    bare = _NUMBER.sub("0", _QUOTED.sub("s0", expr))
    if not _EXPR_CHARS.match(bare):
        raise refuse("holds unexpected characters")
    for name in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", bare):
        if name not in PT2_SYMPY_NAMES and not _SYMBOL.match(name):
            raise refuse(f"names {name!r}")


def _check_program(raw: bytes, source: str) -> None:
    try:
        program = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{source}: unreadable program ({_first_line(exc)})") from None
    for key, value, owner in _walk(program):
        if key == "target" and "inputs" in owner and isinstance(value, str):
            if not (PT2_OP_PATTERN.match(value) or value in PT2_PY_OPS):
                raise ModelFileError(
                    f"{source}: refused — calls {value!r}; only ATen/prims operators are loaded "
                    "(no custom operators or Python callables)"
                )
        elif key == "expr_str" and isinstance(value, str):
            _check_expr(value, source)


def _check_payload_config(raw: bytes, source: str, *, constants: bool) -> None:
    try:
        config = json.loads(raw).get("config", {})
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError) as exc:
        raise ModelFileError(f"{source}: unreadable payload config ({_first_line(exc)})") from None
    if not isinstance(config, dict):
        raise ModelFileError(f"{source}: unreadable payload config")
    for fqn, meta in config.items():
        if not isinstance(meta, dict) or meta.get("use_pickle") is not False:
            raise ModelFileError(f"{source}: refused — {fqn!r} is stored as a pickle (would run code)")
        path = str(meta.get("path_name", ""))
        if constants and not path.startswith("tensor_"):
            raise ModelFileError(f"{source}: refused — constant {fqn!r} is a pickled object ({path})")


def check_pt2(data: bytes, source: str = "archive") -> None:
    """Refuse a ``torch.export`` archive that would run code when ``torch.export.load`` reads it.

    ``torch.export.load`` unpickles weights or constants stored as pickles (``use_pickle``) and custom
    objects, falls back to a full unpickle for sample inputs that a safe load refuses, loads compiled
    AOTInductor libraries, resolves operator names by attribute lookup and evaluates symbolic-shape
    expressions with sympy. This check refuses each of those: every member must be a known part of the
    archive format, weights and constants raw tensors, sample inputs readable with ``weights_only=True``,
    graph nodes ATen/prims operators and shape expressions plain arithmetic over shape symbols."""
    from torch.export.pt2_archive._package import PT2ArchiveReader

    try:
        reader = PT2ArchiveReader(io.BytesIO(data))
    except (RuntimeError, ValueError, OSError) as exc:
        raise ModelFileError(f"{source}: not a torch.export archive ({_first_line(exc)})") from None
    with reader:
        names = reader.get_file_names()
        if "archive_version" not in names or "archive_format" not in names:
            raise ModelFileError(f"{source}: not a torch.export .pt2 archive (or an old pickled format)")
        for name in names:
            if name.startswith("data/aotinductor/"):
                raise ModelFileError(f"{source}: refused — holds compiled native code ({name})")
            if not _PT2_MEMBER.match(name):
                raise ModelFileError(f"{source}: refused — unexpected member {name!r}")
            if name.startswith(("data/weights/", "data/constants/")) and name.endswith(".pt"):
                raise ModelFileError(f"{source}: refused — {name} is a pickled payload")
        programs = [n for n in names if n.startswith("models/")]
        if not programs:
            raise ModelFileError(f"{source}: holds no exported program")
        for name in programs:
            model = name[len("models/") : -len(".json")]
            _check_program(reader.read_bytes(name), f"{source}:{name}")
            for kind in ("weights", "constants"):
                config = f"data/{kind}/{model}_{kind}_config.json"
                if config not in names:
                    raise ModelFileError(f"{source}: missing {config}")
                _check_payload_config(
                    reader.read_bytes(config), f"{source}:{config}", constants=kind == "constants"
                )
            sample = f"data/sample_inputs/{model}.pt"
            if sample in names:
                try:
                    torch.load(io.BytesIO(reader.read_bytes(sample)), map_location="cpu", weights_only=True)
                except Exception as exc:  # the safe unpickler refuses anything but tensors and containers
                    raise ModelFileError(
                        f"{source}: refused — {sample} is not a plain tensor pickle: {_first_line(exc)}"
                    ) from None


class ExportedModule(nn.Module):
    """The module of an ``ExportedProgram``. Its graph is fixed at export, so ``train``/``eval`` do not
    recurse (exported modules refuse them); a graph exported with a static batch size ``batch`` gets its
    inputs in chunks of that size, the last one zero-padded."""

    def __init__(self, graph_module: nn.Module, batch: int | None = None) -> None:
        super().__init__()
        self.graph_module = graph_module
        self.batch = batch

    def train(self, mode: bool = True) -> ExportedModule:
        self.training = mode
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.batch is None or len(x) == self.batch:
            return self.graph_module(x)
        outs = []
        for i in range(0, len(x), self.batch):
            part = x[i : i + self.batch]
            n = len(part)
            if n < self.batch:
                part = torch.cat([part, part.new_zeros(self.batch - n, *part.shape[1:])])
            outs.append(self.graph_module(part)[:n])
        return torch.cat(outs)


def load_exported(
    path: Path,
    *,
    input_shape: Sequence[int] | None,
    num_classes: int | None,
    mean: Sequence[float] | None,
    std: Sequence[float] | None,
    device: str,
) -> TorchClassifier:
    """A ``torch.export`` archive (checked by :func:`check_pt2`) as a white-box classifier.

    The input shape is read from the program (its batch size may be dynamic or static); ``input_shape``,
    when given, must agree. Export the model in eval mode: the graph keeps the mode it was traced in."""
    data = path.read_bytes()
    check_pt2(data, str(path))
    try:
        program = torch.export.load(io.BytesIO(data))
    except Exception as exc:  # deserialisation errors come in many types
        raise ModelFileError(f"{path}: cannot load the exported program ({_first_line(exc)})") from None
    user_inputs = list(program.graph_signature.user_inputs)
    if len(user_inputs) != 1:
        raise ModelFileError(f"{path}: the program takes {len(user_inputs)} inputs; a classifier takes one")
    node = next(n for n in program.graph.nodes if n.op == "placeholder" and n.name == user_inputs[0])
    val = node.meta.get("val")
    shape = tuple(val.shape) if isinstance(val, torch.Tensor) else ()
    if len(shape) != 4 or not all(isinstance(s, int) for s in shape[1:]):
        raise ModelFileError(f"{path}: the program's input is not a (N,C,H,W) batch of fixed image size")
    found = tuple(int(s) for s in shape[1:])
    if input_shape is not None and tuple(input_shape) != found:
        raise ModelFileError(
            f"{path}: the program takes {_shape_text(found)} inputs, expected {_shape_text(input_shape)}"
        )
    batch = int(shape[0]) if isinstance(shape[0], int) else None
    module = ExportedModule(program.module(), batch)
    probe = TorchClassifier(module, num_classes=1, input_shape=found, device=device)
    classes = check_classifier(probe, found, num_classes, str(path))
    return TorchClassifier(
        module, num_classes=classes, input_shape=found, mean=mean, std=std, device=device, name=path.name
    )


# ---------------------------------------------------------------- ONNX (optional)


class OnnxClassifier:
    """An ONNX classifier run by onnxruntime (black-box: no gradients, so a suspect, not a victim).

    Inputs are normalised with ``mean``/``std`` like :class:`TorchClassifier`; the first output is taken
    as the class scores (``output = "logits"``). A graph with a static batch size gets one chunk at a time."""

    output: Output = "logits"

    def __init__(
        self,
        path: str | Path,
        *,
        input_shape: Sequence[int] | None = None,
        num_classes: int | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        batch_size: int = 512,
    ) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise ModelFileError(
                f"{path}: ONNX models need onnxruntime, the optional 'onnx' extra: {ONNX_EXTRA}"
            ) from None
        self.path = Path(path)
        self.name = self.path.name
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, torch.get_num_threads())
        try:
            self.session = ort.InferenceSession(
                str(self.path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelFileError(f"{path}: not a loadable ONNX model ({_first_line(exc)})") from None
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise ModelFileError(f"{path}: the model takes {len(inputs)} inputs; a classifier takes one")
        spec = inputs[0]
        self._input_name = spec.name
        self._dtype = {
            "tensor(float)": np.float32,
            "tensor(float16)": np.float16,
            "tensor(double)": np.float64,
        }.get(spec.type)
        if self._dtype is None:
            raise ModelFileError(f"{path}: input {spec.name!r} is {spec.type}; expected a float tensor")
        dims = list(spec.shape)
        if len(dims) != 4:
            raise ModelFileError(f"{path}: input {spec.name!r} has shape {dims}; expected (N,C,H,W)")
        declared = [d if isinstance(d, int) and d > 0 else None for d in dims[1:]]
        if input_shape is not None:
            wrong = [i for i, d in enumerate(declared) if d is not None and d != input_shape[i]]
            if wrong:
                shown = "x".join(str(d) if d is not None else "?" for d in declared)
                raise ModelFileError(
                    f"{path}: the model takes {shown} inputs, expected {_shape_text(input_shape)}"
                )
            found = tuple(int(s) for s in input_shape)
        elif all(d is not None for d in declared):
            found = tuple(int(d) for d in declared)  # type: ignore[arg-type]
        else:
            raise ModelFileError(f"{path}: the input size is dynamic ({dims}); pass --input-shape CxHxW")
        self.input_shape: tuple[int, ...] = found
        self.batch_size = int(dims[0]) if isinstance(dims[0], int) and dims[0] > 0 else int(batch_size)
        self._static_batch = isinstance(dims[0], int) and dims[0] > 0
        channels = found[0]
        self.mean = np.asarray(mean if mean is not None else [0.0] * channels, dtype=np.float32)
        self.std = np.asarray(std if std is not None else [1.0] * channels, dtype=np.float32)
        if self.mean.shape != (channels,) or self.std.shape != (channels,):
            raise ModelFileError(f"{path}: mean/std need one entry per input channel ({channels})")
        self.num_classes = 1
        self.queries_spent = 0
        self.num_classes = check_classifier(self, found, num_classes, str(path))

    def __repr__(self) -> str:
        return f"OnnxClassifier({self.name}, classes={self.num_classes})"

    def _run(self, x: np.ndarray) -> np.ndarray:
        n = len(x)
        if self._static_batch and n < self.batch_size:
            x = np.concatenate([x, np.zeros((self.batch_size - n, *x.shape[1:]), dtype=x.dtype)])
        out = self.session.run(None, {self._input_name: x})[0]
        return np.asarray(out)[:n]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Scores (N, K) for a (N,C,H,W) batch in [0,1]."""
        if x.ndim != 4 or tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(
                f"{self!r} expects inputs of shape (N,{','.join(map(str, self.input_shape))}), "
                f"got {tuple(x.shape)}"
            )
        self.queries_spent += int(x.shape[0])
        arr = x.detach().float().cpu().numpy()
        arr = ((arr - self.mean.reshape(1, -1, 1, 1)) / self.std.reshape(1, -1, 1, 1)).astype(self._dtype)
        outs = [self._run(arr[i : i + self.batch_size]) for i in range(0, len(arr), self.batch_size)]
        if not outs:
            return torch.empty(0, self.num_classes)
        out = torch.from_numpy(np.concatenate(outs).astype(np.float32))
        if out.ndim != 2:
            raise ValueError(f"{self!r} answered shape {tuple(out.shape)}; expected (N, classes)")
        return out


# ---------------------------------------------------------------- dispatch


def load_classifier(
    spec: str | Path,
    *,
    arch: str | None = None,
    input_shape: Sequence[int] | None = None,
    num_classes: int | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    allow_pickle: bool = False,
    device: str = "cpu",
    arch_kwargs: Mapping[str, object] | None = None,
) -> Classifier:
    """A victim or suspect from a local ``spec`` (see the module docstring for the formats; a URL is
    :func:`modelprint.serving.load_remote`'s).

    ``input_shape`` (C,H,W) and ``num_classes``, when given, are checked against the model (and fill in
    what a bare weights file cannot say). Raises :class:`ModelFileError` for a missing, hostile or
    mis-shaped model."""
    path = Path(str(spec))
    if input_shape is not None:
        input_shape = tuple(int(s) for s in input_shape)
    if path.is_dir():
        if not (path / "card.json").is_file():
            raise ModelFileError(f"{path}: a folder with no card.json is not a saved model")
        model = load_model(path, device=device)
        if input_shape is not None and model.input_shape != input_shape:
            raise ModelFileError(
                f"{path}: the model takes {_shape_text(model.input_shape)} inputs, "
                f"expected {_shape_text(input_shape)}"
            )
        if num_classes is not None and model.num_classes != num_classes:
            raise ModelFileError(f"{path}: outputs {model.num_classes} classes, expected {num_classes}")
        return model
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file or folder")
    suffix = path.suffix.lower()
    kw: dict[str, Any] = {"input_shape": input_shape, "num_classes": num_classes, "mean": mean, "std": std}
    if suffix == ".pt2":
        return load_exported(path, device=device, **kw)
    if suffix == ".onnx":
        return OnnxClassifier(path, **kw)
    if suffix == ".safetensors":
        return load_weights_file(path, arch=arch, device=device, arch_kwargs=arch_kwargs, **kw)
    if suffix in STATE_DICT_SUFFIXES:
        try:
            state = read_state_dict(path)
        except ModelFileError as exc:
            if not allow_pickle:
                raise ModelFileError(
                    f"{exc} (a whole pickled model is read only with --unsafe-pickle / allow_pickle=True, "
                    "which runs any code in the file: only for files you made)"
                ) from None
            return load_pickled_module(path, device=device, **kw)
        return load_weights_file(path, arch=arch, device=device, state=state, arch_kwargs=arch_kwargs, **kw)
    raise ModelFileError(
        f"{path}: unknown model format {suffix!r}; use a saved model folder, .safetensors or .pt (+ --arch), "
        ".pt2 (torch.export) or .onnx"
    )


__all__ = [
    "ExportedModule",
    "OnnxClassifier",
    "check_classifier",
    "check_pt2",
    "load_classifier",
    "load_exported",
    "load_weights_file",
    "parse_input_shape",
]
