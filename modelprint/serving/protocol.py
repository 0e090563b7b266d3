"""Wire schema of ``modelprint serve`` (protocol ``modelprint-serve/1``), shared by server and client.

Every endpoint takes ``Authorization: Bearer <token>`` when the server was started with a token (401
otherwise). Errors are JSON ``{"error": "<message>"}`` with a 4xx/5xx status: 400 malformed body or shape
mismatch, 401 missing/wrong token, 404 unknown path, 411 no ``Content-Length``, 413 body larger than the
server's ``max_body_bytes`` or batch larger than its ``max_batch``, 500 model failure. Connections are
HTTP/1.1 keep-alive. Access levels are written ``labels``, ``topk:K`` (``topk`` = ``topk:5``), ``probs``
and ``logits``; a server answers at its own level, whatever the client wants.

``GET /v1/info`` → JSON::

    {"protocol": "modelprint-serve/1", "num_classes": K, "input_shape": [C, H, W],
     "output": "labels" | "topk" | "probs" | "logits", "k": k | null, "max_batch": B}

``POST /v1/predict`` — a batch of N images in [0, 1], either

* JSON (``Content-Type: application/json``, also assumed when none is given):
  ``{"shape": [N, C, H, W], "data": [N*C*H*W floats, C-order]}``
* binary (``Content-Type: application/octet-stream``): the N*C*H*W little-endian float32 values, C-order,
  with header ``X-Shape: N,C,H,W``.

The answer is at the server's access level; it is binary when the request's ``Accept`` header names
``application/octet-stream``, JSON otherwise.

* JSON: ``{"output": ..., "num_classes": K, "k": k (topk only), FIELD: ...}`` where FIELD is
  ``"labels"`` (N ints) for labels, ``"indices"`` (N×k ints, most likely first) for topk, and
  ``"scores"`` (N×K floats) for probs and logits.
* binary: the values little-endian (int64 for labels/topk, float32 for probs/logits) with headers
  ``X-Output``, ``X-Num-Classes``, ``X-K`` (topk only), ``X-Dtype: int64|float32`` and ``X-Shape``
  (``N``, ``N,k`` or ``N,K``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from modelprint.types import OUTPUTS, Output

PROTOCOL = "modelprint-serve/1"
INFO_PATH = "/v1/info"
PREDICT_PATH = "/v1/predict"
JSON_TYPE = "application/json"
BINARY_TYPE = "application/octet-stream"
FIELDS: dict[str, str] = {"labels": "labels", "topk": "indices", "probs": "scores", "logits": "scores"}


_WIRE: dict[str, tuple[str, type]] = {"float32": ("<f4", np.float32), "int64": ("<i8", np.int64)}


class ProtocolError(ValueError):
    """A message does not follow the wire schema."""


@dataclass(frozen=True)
class AccessSpec:
    """An access level as written on the command line: ``labels``, ``topk:5``, ``probs`` or ``logits``."""

    output: Output
    k: int | None = None

    def __post_init__(self) -> None:
        if self.output not in OUTPUTS:
            raise ValueError(f"unknown access level {self.output!r}; expected one of {OUTPUTS}")
        if (self.output == "topk") != (self.k is not None):
            raise ValueError("top-k access takes k (write topk:K); other levels take none")
        if self.k is not None and self.k < 1:
            raise ValueError(f"top-k needs k >= 1, got {self.k}")

    def __str__(self) -> str:
        return f"topk:{self.k}" if self.output == "topk" else self.output

    @classmethod
    def parse(cls, text: str) -> AccessSpec:
        name, _, k = text.strip().partition(":")
        if name == "topk":
            try:
                return cls("topk", int(k) if k else 5)
            except ValueError:
                raise ValueError(f"bad top-k access {text!r}; write topk:K") from None
        if k:
            raise ValueError(f"access level {name!r} takes no ':K'")
        return cls(name)  # type: ignore[arg-type]  (validated in __post_init__)


@dataclass(frozen=True)
class Answer:
    """A decoded /v1/predict answer: labels (N,) / indices (N,k) int64, or scores (N,K) float32."""

    output: Output
    num_classes: int
    k: int | None
    values: torch.Tensor


def parse_shape(text: str | None, ndim: int | None = None) -> tuple[int, ...]:
    """``"N,C,H,W"`` → a tuple of non-negative ints."""
    if not text:
        raise ProtocolError("missing X-Shape header")
    try:
        shape = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise ProtocolError(f"bad X-Shape {text!r}; expected comma-separated integers") from None
    if ndim is not None and len(shape) != ndim:
        raise ProtocolError(f"X-Shape {text!r} must have {ndim} dimensions")
    if any(s < 0 for s in shape):
        raise ProtocolError(f"negative size in X-Shape {text!r}")
    return shape


def _shape_text(shape: Sequence[int]) -> str:
    return ",".join(str(int(s)) for s in shape)


def _from_bytes(body: bytes, dtype: str, shape: tuple[int, ...]) -> torch.Tensor:
    if dtype not in _WIRE:
        raise ProtocolError(f"unknown X-Dtype {dtype!r}; expected float32 or int64")
    wire, native = _WIRE[dtype]
    expected = int(np.prod(shape, dtype=np.int64)) * np.dtype(wire).itemsize
    if len(body) != expected:
        raise ProtocolError(f"body holds {len(body)} bytes; shape {list(shape)} of {dtype} needs {expected}")
    return torch.from_numpy(np.frombuffer(body, dtype=wire).astype(native).reshape(shape))


def _to_bytes(t: torch.Tensor, dtype: str) -> bytes:
    return t.detach().cpu().contiguous().numpy().astype(_WIRE[dtype][0], copy=False).tobytes()


def _json_body(body: bytes) -> dict[str, object]:
    try:
        obj = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"body is not valid JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise ProtocolError("JSON body must be an object")
    return obj


def content_type(headers: Mapping[str, str]) -> str:
    value = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    return value.split(";")[0].strip().lower()


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name.lower()), None)


# ---------------------------------------------------------------- requests


def encode_request(x: torch.Tensor, *, binary: bool = True) -> tuple[bytes, dict[str, str]]:
    """Body and headers for POST /v1/predict of a (N,C,H,W) batch."""
    if x.ndim != 4:
        raise ValueError(f"images must be (N,C,H,W), got shape {tuple(x.shape)}")
    if binary:
        headers = {"Content-Type": BINARY_TYPE, "X-Shape": _shape_text(x.shape), "Accept": BINARY_TYPE}
        return _to_bytes(x.float(), "float32"), headers
    body = {"shape": list(x.shape), "data": x.detach().float().cpu().reshape(-1).tolist()}
    return json.dumps(body).encode(), {"Content-Type": JSON_TYPE, "Accept": JSON_TYPE}


def decode_request(body: bytes, headers: Mapping[str, str]) -> torch.Tensor:
    """The (N,C,H,W) float32 batch of a POST /v1/predict; :class:`ProtocolError` when malformed."""
    kind = content_type(headers)
    if kind == BINARY_TYPE:
        x = _from_bytes(body, "float32", parse_shape(_header(headers, "X-Shape"), ndim=4))
    elif kind in (JSON_TYPE, ""):
        obj = _json_body(body)
        shape, data = obj.get("shape"), obj.get("data")
        if not isinstance(shape, list) or len(shape) != 4 or not all(isinstance(s, int) for s in shape):
            raise ProtocolError('"shape" must be [N, C, H, W] (four integers)')
        if any(s < 0 for s in shape):
            raise ProtocolError(f'negative size in "shape" {shape}')
        if not isinstance(data, list):
            raise ProtocolError('"data" must be a flat list of numbers')
        if any(isinstance(s, bool) for s in shape):
            raise ProtocolError('"shape" must be [N, C, H, W] (four integers)')
        try:
            flat = np.asarray(data, dtype=np.float32)
        except (TypeError, ValueError, OverflowError):
            raise ProtocolError('"data" must be a flat list of numbers') from None
        if flat.ndim != 1 or flat.size != math.prod(shape):
            raise ProtocolError(f'"data" holds {flat.size} values; shape {shape} needs {math.prod(shape)}')
        x = torch.from_numpy(flat.reshape(shape))
    else:
        raise ProtocolError(f"unsupported Content-Type {kind!r}; use {JSON_TYPE} or {BINARY_TYPE}")
    if not bool(torch.isfinite(x).all()):
        raise ProtocolError("images hold NaN or infinite values")
    return x


# ---------------------------------------------------------------- answers


def encode_response(
    out: torch.Tensor, spec: AccessSpec, num_classes: int, *, binary: bool
) -> tuple[bytes, dict[str, str]]:
    """Body and headers of an answer ``out`` at access level ``spec``."""
    dtype = "int64" if spec.output in ("labels", "topk") else "float32"
    if binary:
        headers = {
            "Content-Type": BINARY_TYPE, "X-Output": spec.output, "X-Num-Classes": str(num_classes),
            "X-Dtype": dtype, "X-Shape": _shape_text(out.shape),
        }  # fmt: skip
        if spec.k is not None:
            headers["X-K"] = str(spec.k)
        return _to_bytes(out, dtype), headers
    obj: dict[str, object] = {"output": spec.output, "num_classes": num_classes}
    if spec.k is not None:
        obj["k"] = spec.k
    obj[FIELDS[spec.output]] = out.long().tolist() if dtype == "int64" else out.float().tolist()
    return json.dumps(obj).encode(), {"Content-Type": JSON_TYPE}


def _int_or_none(value: object, what: str) -> int | None:
    if value is None:
        return None
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise ProtocolError(f"{what} must be an integer, got {value!r}") from None


def _all_integers(value: object) -> bool:
    """True when a (nested) JSON list holds only integers (``true`` and ``1.9`` are not labels)."""
    if isinstance(value, list):
        return all(_all_integers(v) for v in value)
    return isinstance(value, int) and not isinstance(value, bool)


def decode_response(body: bytes, headers: Mapping[str, str]) -> Answer:
    """An :class:`Answer` from a /v1/predict response; :class:`ProtocolError` when malformed. Only the
    form is checked here; whether the values make sense is the client's job."""
    kind = content_type(headers)
    if kind == BINARY_TYPE:
        output = _header(headers, "X-Output")
        num_classes = _int_or_none(_header(headers, "X-Num-Classes"), "X-Num-Classes")
        k = _int_or_none(_header(headers, "X-K"), "X-K")
        dtype = _header(headers, "X-Dtype") or ""
        values = _from_bytes(body, dtype, parse_shape(_header(headers, "X-Shape")))
    elif kind == JSON_TYPE:
        obj = _json_body(body)
        output = obj.get("output")  # type: ignore[assignment]
        num_classes = _int_or_none(obj.get("num_classes"), '"num_classes"')
        k = _int_or_none(obj.get("k"), '"k"')
        if output not in FIELDS:
            raise ProtocolError(f'unknown "output" {output!r}; expected one of {OUTPUTS}')
        field = FIELDS[str(output)]
        if field not in obj:
            raise ProtocolError(f'a {output} answer needs a "{field}" field')
        if field != "scores" and not _all_integers(obj[field]):
            raise ProtocolError(f'"{field}" must hold integers only (no floats, no booleans)')
        try:
            arr = np.asarray(obj[field], dtype=np.int64 if field != "scores" else np.float32)
        except (TypeError, ValueError, OverflowError):
            raise ProtocolError(f'"{field}" must be a (nested) list of numbers') from None
        values = torch.from_numpy(arr)
    else:
        raise ProtocolError(f"unexpected Content-Type {kind!r} in an answer")
    if output not in OUTPUTS:
        raise ProtocolError(f"unknown output level {output!r}; expected one of {OUTPUTS}")
    if num_classes is None:
        raise ProtocolError("the answer does not say num_classes")
    expected_dtype = torch.float32 if output in ("probs", "logits") else torch.int64
    if values.dtype != expected_dtype:
        raise ProtocolError(f"a {output} answer must hold {expected_dtype}, got {values.dtype}")
    return Answer(output, num_classes, k, values)  # type: ignore[arg-type]


def error_body(message: str) -> bytes:
    return json.dumps({"error": message}).encode()
