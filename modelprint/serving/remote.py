"""A suspect behind HTTP: :class:`RemoteClassifier` speaks :mod:`modelprint.serving.protocol`.

Robustness: one ``httpx.Client`` (connections reused), batches of at most ``batch_size`` images, timeouts,
retries with exponential backoff on 429/5xx/timeouts/connection errors (``Retry-After`` honoured), a
client-side rate limit, a hard query budget, and every answer validated before use.

Journal (``journal=DIR``): each answered batch is saved atomically as ``DIR/<batch hash>.safetensors``
holding the SHA-256 of every image (float32 bytes and shape) and the validated answer at the server's
access level. A later client with the same journal (after a crash, a killed server, Ctrl-C) answers the
images it finds there from disk and sends only the others, so a rerun never repeats a query (an image
that appears twice in one call is sent once, too); replayed answers are not charged to the budget.
Use one journal per suspect: a journal trusts that the same image gets the same answer. Chunks written
at another access level or class count are ignored, unreadable chunks skipped (those images are asked
again)."""

from __future__ import annotations

import email.utils
import hashlib
import logging
import time
from pathlib import Path
from typing import Any

import httpx
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file

from modelprint.models.access import BudgetExhausted, QueryBudget, require
from modelprint.serving.protocol import (
    INFO_PATH,
    PREDICT_PATH,
    PROTOCOL,
    AccessSpec,
    Answer,
    ProtocolError,
    decode_response,
    encode_request,
)
from modelprint.types import OUTPUTS, Output, atomic_save_tensors

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
JOURNAL_FORMAT = "modelprint-journal/1"
ANSWER_BASE_BYTES = 65_536
"""Bytes any answer may take besides its values (headers of the body, error messages, the info object)."""
BYTES_PER_VALUE = 32
"""Bytes one answered value may take: a float in JSON with separators is under 25."""


def answer_cap(n: int, num_classes: int) -> int:
    """The most bytes an answer for ``n`` images of ``num_classes`` classes may hold."""
    return ANSWER_BASE_BYTES + n * max(1, num_classes) * BYTES_PER_VALUE


MAX_CLASSES = 100_000
"""The most classes a remote suspect may announce (it sizes every answer's byte cap)."""


class _DeadlinePassed(Exception):
    """The whole-request deadline passed while the answer was still arriving."""


class RemoteError(RuntimeError):
    """The remote suspect failed or answered something unusable."""


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _error_message(response: httpx.Response) -> str:
    try:
        data = response.json()
        if isinstance(data, dict) and "error" in data:
            return str(data["error"])
    except ValueError:
        pass
    return response.text[:200]


class AnswerJournal:
    """Saved answers keyed by image hash (see the module docstring)."""

    def __init__(self, directory: str | Path, tag: str) -> None:
        self.directory = Path(directory)
        self.tag = tag
        self.directory.mkdir(parents=True, exist_ok=True)
        self._rows: dict[bytes, torch.Tensor] = {}
        for path in sorted(self.directory.glob("*.safetensors")):
            self._load(path)

    def __len__(self) -> int:
        return len(self._rows)

    def _load(self, path: Path) -> None:
        try:
            with safe_open(str(path), "pt") as fh:  # the metadata only, tensors not loaded yet
                meta = fh.metadata() or {}
            if meta.get("format") != JOURNAL_FORMAT or meta.get("tag") != self.tag:
                log.info("journal: skipping %s (recorded at %s)", path, meta.get("tag"))
                return
            raw = load_file(str(path))
            hashes, values = raw["hashes"], raw["values"]
            if hashes.ndim != 2 or hashes.shape[1] != 32 or len(values) != len(hashes):
                raise ValueError("hashes and values disagree")
        except (OSError, ValueError, KeyError, SafetensorError) as exc:
            log.warning("journal %s: skipping unreadable chunk %s (%s)", self.directory, path.name, exc)
            return
        for h, row in zip(hashes, values, strict=True):
            self._rows[bytes(h.tolist())] = row

    @staticmethod
    def hashes(x: torch.Tensor) -> list[bytes]:
        """SHA-256 of every image's shape and float32 bytes."""
        shape = ",".join(map(str, x.shape[1:])).encode()
        flat = x.detach().float().contiguous().reshape(len(x), -1).numpy().astype("<f4", copy=False)
        return [hashlib.sha256(shape + b"|" + row.tobytes()).digest() for row in flat]

    def get(self, h: bytes) -> torch.Tensor | None:
        return self._rows.get(h)

    def record(self, hashes: list[bytes], values: torch.Tensor) -> Path:
        """Save one answered batch atomically (temporary file + rename)."""
        digest = hashlib.sha256(b"".join(hashes)).hexdigest()[:32]
        path = self.directory / f"{digest}.safetensors"
        hash_t = torch.tensor([list(h) for h in hashes], dtype=torch.uint8).reshape(len(hashes), 32)
        atomic_save_tensors(
            path, {"hashes": hash_t, "values": values}, metadata={"format": JOURNAL_FORMAT, "tag": self.tag}
        )
        for h, row in zip(hashes, values, strict=True):
            self._rows[h] = row
        return path


class RemoteClassifier:
    """A :class:`~modelprint.models.base.Classifier` served over HTTP by ``modelprint serve``.

    ``access`` (``labels`` | ``topk:K`` | ``probs`` | ``logits``; default: what the server gives, read from
    ``/v1/info``) may be lower than the server's level: the answers are reduced on the client. ``budget``
    caps the images charged; a batch is charged once, before it is first sent (a retry re-sends it free).
    ``rate_limit`` caps the images sent per second. ``timeout`` bounds each request as a whole, connection
    to last byte (a slow drip is cut off), and an answer may not exceed what its images take
    (:func:`answer_cap`). See the module docstring for ``journal``."""

    def __init__(
        self,
        url: str,
        *,
        access: str | AccessSpec | None = None,
        token: str | None = None,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_wait: float = 60.0,
        rate_limit: float | None = None,
        budget: int | None = None,
        batch_size: int = 256,
        binary: bool = True,
        journal: str | Path | None = None,
    ) -> None:
        if retries < 0 or backoff < 0 or timeout <= 0 or batch_size < 1:
            raise ValueError("need retries >= 0, backoff >= 0, timeout > 0 and batch_size >= 1")
        if rate_limit is not None and rate_limit <= 0:
            raise ValueError("rate_limit must be positive (images per second) or None")
        self.url = url.rstrip("/")
        self.timeout = float(timeout)
        self.retries, self.backoff, self.max_wait = int(retries), float(backoff), float(max_wait)
        self.rate_limit = rate_limit
        self.binary = binary
        self.budget = QueryBudget(budget)
        self.images_sent = 0  # every image put on the wire, retries included
        self.images_replayed = 0  # answered without being sent (journal hits, repeats within a call)
        self.requests = 0
        self._next_send = 0.0
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.Client(base_url=self.url, timeout=httpx.Timeout(timeout), headers=headers)
        try:
            self.info = self._fetch_info()
            self.remote = AccessSpec(self.info["output"], self.info["k"])
            self.num_classes: int = self.info["num_classes"]
            self.input_shape: tuple[int, ...] = tuple(self.info["input_shape"])
            spec = self.remote if access is None else access
            self.spec = spec if isinstance(spec, AccessSpec) else AccessSpec.parse(spec)
            require(self.remote.output, self.spec.output, who=f"access level '{self.spec}'")
            if self.spec.k is not None and not 1 <= self.spec.k <= (self.remote.k or self.num_classes):
                raise ValueError(f"top-k access needs 1 <= k <= {self.remote.k or self.num_classes}")
        except BaseException:
            self._client.close()
            raise
        self.output: Output = self.spec.output
        self.k = self.spec.k
        self.batch_size = min(int(batch_size), int(self.info["max_batch"]))
        tag = f"{self.remote}/{self.num_classes}"
        self.journal = AnswerJournal(journal, tag) if journal is not None else None

    # ------------------------------------------------------------ plumbing

    def __repr__(self) -> str:
        return f"RemoteClassifier({self.url}, access={self.spec}, spent={self.budget.spent})"

    @property
    def queries_spent(self) -> int:
        """Images charged to the budget (answered from the server, not the journal)."""
        return self.budget.spent

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> RemoteClassifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _throttle(self, n: int) -> None:
        if self.rate_limit is None:
            return
        now = time.monotonic()
        if now < self._next_send:
            time.sleep(self._next_send - now)
            now = self._next_send
        self._next_send = now + n / self.rate_limit

    def _request(self, method: str, path: str, *, n: int = 0, **kwargs: Any) -> httpx.Response:
        """One call with retries; returns a 200 response or raises :class:`RemoteError`."""
        problem, wait, where = "", 0.0, f"{method} {self.url}{path}"
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(wait)
            wait = min(self.max_wait, self.backoff * 2**attempt)
            self._throttle(n)
            self.images_sent += n
            self.requests += 1
            try:
                response = self._bounded(method, path, n, **kwargs)
            except _DeadlinePassed:
                problem = f"no complete answer within the {self.timeout:g} s deadline"
                continue
            except httpx.TimeoutException as exc:
                problem = f"timed out ({type(exc).__name__})"
                continue
            except httpx.TransportError as exc:
                problem = f"connection failed ({type(exc).__name__}: {exc})"
                continue
            if response.status_code == 200:
                return response
            message = _error_message(response)
            if response.status_code in RETRY_STATUSES:
                problem = f"HTTP {response.status_code}: {message}"
                after = _retry_after(response.headers.get("Retry-After"))
                if after is not None:
                    wait = min(self.max_wait, after)
                continue
            if response.status_code == 401:
                raise RemoteError(f"{where} was refused (401 unauthorised): {message}; pass its token")
            raise RemoteError(f"{where} failed with HTTP {response.status_code}: {message}")
        raise RemoteError(f"{where}: giving up after {self.retries + 1} attempts: {problem}")

    def _bounded(self, method: str, path: str, n: int, **kwargs: Any) -> httpx.Response:
        """One request, read as a stream: the whole exchange must end within ``timeout`` seconds (a server
        sending one byte at a time cannot hold the client), and the body may not exceed what ``n`` answers
        can take (:func:`answer_cap`), so an oversized answer is refused unread."""
        deadline = time.monotonic() + self.timeout
        cap = answer_cap(n, self.num_classes if n else 0)
        with self._client.stream(method, path, **kwargs) as streamed:
            chunks, size = [], 0
            for chunk in streamed.iter_bytes():
                size += len(chunk)
                if size > cap:
                    raise RemoteError(
                        f"{method} {self.url}{path}: the answer is larger than {cap:,} bytes, far more than "
                        f"{n} answers take; refused unread"
                    )
                chunks.append(chunk)
                if time.monotonic() > deadline:
                    raise _DeadlinePassed
            drop = {"content-encoding", "content-length", "transfer-encoding"}
            headers = [(k, v) for k, v in streamed.headers.items() if k.lower() not in drop]
            return httpx.Response(
                streamed.status_code, headers=headers, content=b"".join(chunks), request=streamed.request
            )

    def _fetch_info(self) -> dict[str, Any]:
        response = self._request("GET", INFO_PATH)
        try:
            info = response.json()
        except ValueError:
            raise RemoteError(f"{self.url}{INFO_PATH} did not answer JSON") from None
        ok = (
            isinstance(info, dict)
            and info.get("protocol") == PROTOCOL
            and isinstance(info.get("num_classes"), int) and 1 <= info["num_classes"] <= MAX_CLASSES
            and isinstance(info.get("input_shape"), list) and len(info["input_shape"]) == 3
            and all(isinstance(s, int) and s > 0 for s in info["input_shape"])
            and info.get("output") in OUTPUTS
            and (info.get("k") is None or isinstance(info["k"], int))
            and isinstance(info.get("max_batch"), int) and info["max_batch"] >= 1
        )  # fmt: skip
        if not ok:
            raise RemoteError(f"{self.url}{INFO_PATH} is not a {PROTOCOL} info object: {str(info)[:200]}")
        try:
            AccessSpec(info["output"], info["k"])
        except ValueError as exc:
            raise RemoteError(f"{self.url}{INFO_PATH}: {exc}") from None
        return info

    # ------------------------------------------------------------ answers

    def _check(self, answer: Answer, n: int) -> torch.Tensor:
        """The answer's values if they are what the server announced for ``n`` images."""
        out, K, v = answer.output, self.num_classes, answer.values
        where = f"{self.url}{PREDICT_PATH}"
        if out != self.remote.output:
            raise RemoteError(f"{where} answered '{out}' but announced '{self.remote.output}'")
        if answer.num_classes != K:
            raise RemoteError(f"{where} answered for {answer.num_classes} classes, announced {K}")
        if out == "labels":
            expected: tuple[int, ...] = (n,)
        elif out == "topk":
            if answer.k != self.remote.k:
                raise RemoteError(f"{where} answered top-{answer.k}, announced top-{self.remote.k}")
            expected = (n, int(self.remote.k or 0))
        else:
            expected = (n, K)
        if tuple(v.shape) != expected:
            raise RemoteError(f"{where} answered shape {tuple(v.shape)} for {n} images, expected {expected}")
        if out in ("labels", "topk"):
            if v.numel() and (int(v.min()) < 0 or int(v.max()) >= K):
                raise RemoteError(f"{where} answered labels outside [0, {K})")
            if out == "topk" and v.numel() and bool((v.sort(dim=1).values.diff(dim=1) == 0).any()):
                raise RemoteError(f"{where} answered a top-k list with a repeated label")
            return v.long()
        if not bool(torch.isfinite(v).all()):
            raise RemoteError(f"{where} answered NaN or infinite scores")
        if out == "probs" and v.numel():
            if float(v.min()) < -1e-4 or float(v.max()) > 1 + 1e-4:
                raise RemoteError(f"{where} answered probabilities outside [0, 1]")
            if not torch.allclose(v.sum(dim=1), torch.ones(n), atol=1e-2):
                raise RemoteError(f"{where} answered probabilities that do not sum to 1")
        return v.float()

    def _query(self, x: torch.Tensor) -> torch.Tensor:
        body, headers = encode_request(x, binary=self.binary)
        response = self._request("POST", PREDICT_PATH, n=len(x), content=body, headers=headers)
        try:
            answer = decode_response(response.content, response.headers)
        except ProtocolError as exc:
            raise RemoteError(f"{self.url}{PREDICT_PATH} answered a malformed body: {exc}") from None
        return self._check(answer, len(x))

    def _reduce(self, values: torch.Tensor) -> torch.Tensor:
        """The server's answer brought down to this client's access level."""
        have, want = self.remote.output, self.spec.output
        if want == have:
            return values[:, : self.spec.k] if want == "topk" else values
        if want == "labels":
            return values[:, 0] if have == "topk" else values.argmax(dim=1)
        if want == "topk":
            return values.topk(int(self.spec.k or 1), dim=1).indices
        return values.softmax(dim=1)  # probs from logits

    def _row_shape(self) -> tuple[tuple[int, ...], torch.dtype]:
        out = self.remote.output
        if out == "labels":
            return (), torch.int64
        if out == "topk":
            return (int(self.remote.k or 0),), torch.int64
        return (self.num_classes,), torch.float32

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Answers for a (N,C,H,W) batch in [0,1]: (N,) labels, (N,k) top-k or (N,K) scores.

        With a journal, images already answered there are replayed and an image repeated in ``x`` is sent
        once (``images_replayed`` counts both); without one every image is sent. Raises
        :class:`BudgetExhausted` before sending anything when the images to send exceed the remaining
        budget, and :class:`RemoteError` when the server fails or answers nonsense."""
        if x.ndim != 4 or tuple(x.shape[1:]) != self.input_shape:
            shape = ",".join(map(str, self.input_shape))
            raise ValueError(f"{self.url} expects inputs of shape (N,{shape}), got {tuple(x.shape)}")
        x = x.detach().float().cpu().contiguous()
        if not bool(torch.isfinite(x).all()):
            raise ValueError("inputs hold NaN or infinite values")
        row_shape, dtype = self._row_shape()
        result = torch.empty((len(x), *row_shape), dtype=dtype)
        hashes: list[bytes] = []
        missing = list(range(len(x)))
        copies: list[tuple[int, int]] = []  # (i, j): image i is image j, sent in this call
        replayed: list[int] = []  # images answered from the journal
        if self.journal is not None:
            hashes, missing, first = self.journal.hashes(x), [], {}
            for i, h in enumerate(hashes):
                row = self.journal.get(h)
                if row is not None:
                    result[i] = row
                    replayed.append(i)
                elif (j := first.setdefault(h, i)) != i:
                    copies.append((i, j))
                else:
                    missing.append(i)
        if replayed and self.journal is not None:  # a journal is a file on disk: check it like an answer
            rows = result[torch.tensor(replayed, dtype=torch.long)]
            try:
                self._check(Answer(self.remote.output, self.num_classes, self.remote.k, rows), len(rows))
            except RemoteError as exc:
                where = self.journal.directory
                raise RemoteError(f"journal {where} holds an invalid answer: {exc}") from None
        remaining = self.budget.remaining
        if remaining is not None and len(missing) > remaining:
            raise BudgetExhausted(len(missing), remaining, int(self.budget.limit or 0))
        for start in range(0, len(missing), self.batch_size):
            idx = missing[start : start + self.batch_size]
            self.budget.charge(len(idx))
            if self.journal is None:  # missing is 0..N-1: plain slices
                result[start : start + len(idx)] = self._query(x[start : start + len(idx)])
                continue
            index = torch.tensor(idx, dtype=torch.long)
            values = self._query(x[index])
            self.journal.record([hashes[i] for i in idx], values)
            result[index] = values
        for i, j in copies:
            result[i] = result[j]
        self.images_replayed += len(x) - len(missing)
        return self._reduce(result)
