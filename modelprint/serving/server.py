"""Serve a model over HTTP on the standard library (schema: :mod:`modelprint.serving.protocol`).

``serve(model, access="labels", port=0)`` starts a :class:`ModelServer` in a background thread; the
access level is applied on the server, so a client never sees more than it was granted."""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import torch

from modelprint.models.access import Suspect
from modelprint.models.base import Classifier
from modelprint.serving.protocol import (
    BINARY_TYPE,
    INFO_PATH,
    JSON_TYPE,
    PREDICT_PATH,
    PROTOCOL,
    AccessSpec,
    ProtocolError,
    decode_request,
    encode_response,
    error_body,
)

log = logging.getLogger(__name__)

Threat = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``threat(images, answer) -> answer``: applied on the server to every answer at the served access level
(same shape and dtype out), e.g. a defence that perturbs what suspected fingerprint queries get back."""

DEFAULT_MAX_BATCH = 1024
DEFAULT_MAX_BODY_BYTES = 64 << 20


class _HTTPServer(ThreadingHTTPServer):
    """Threading server that remembers its open connections, so ``close`` can cut them."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: ModelServer) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.app = app
        self.connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conn_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._conn_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def cut_connections(self) -> None:
        with self._conn_lock:
            open_now = list(self.connections)
        for conn in open_now:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection from %s failed", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    disable_nagle_algorithm = True  # TCP_NODELAY on every accepted socket
    server_version = "modelprint-serve/1"
    timeout = 120  # seconds an idle keep-alive connection is kept
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> bool:
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            return True
        except OSError:  # the client (or close()) cut the connection
            self.close_connection = True
            return False

    def _error(self, status: int, message: str, *, close: bool = False, **headers: str) -> None:
        self.close_connection = self.close_connection or close
        self._send(status, error_body(message), {"Content-Type": JSON_TYPE, **headers})

    def _authorised(self, body_read: bool) -> bool:
        token = self.server.app.token
        if token is None:
            return True
        given = self.headers.get("Authorization", "")
        if given.startswith("Bearer ") and hmac.compare_digest(given[7:].strip().encode(), token.encode()):
            return True
        challenge = {"WWW-Authenticate": "Bearer"}
        self._error(401, "missing or wrong bearer token", close=not body_read, **challenge)
        return False

    def do_GET(self) -> None:
        if self.path != INFO_PATH:
            self._error(404, f"unknown path {self.path!r}; try GET {INFO_PATH} or POST {PREDICT_PATH}")
            return
        if self._authorised(body_read=True):
            self._send(200, json.dumps(self.server.app.info()).encode(), {"Content-Type": JSON_TYPE})

    def do_POST(self) -> None:
        with self.server.app.in_flight():
            self._predict()

    def _predict(self) -> None:
        app = self.server.app
        if self.path != PREDICT_PATH:
            self._error(404, f"unknown path {self.path!r}; POST images to {PREDICT_PATH}", close=True)
            return
        if not self._authorised(body_read=False):
            return
        length_text = self.headers.get("Content-Length")
        if length_text is None or self.headers.get("Transfer-Encoding"):
            self._error(411, "a Content-Length header is required", close=True)
            return
        try:
            length = int(length_text)
            if length < 0:
                raise ValueError
        except ValueError:
            self._error(400, f"bad Content-Length {length_text!r}", close=True)
            return
        if length > app.max_body_bytes:
            self._error(413, f"body of {length} bytes exceeds the limit of {app.max_body_bytes}", close=True)
            return
        body = self.rfile.read(length)
        if len(body) != length:
            self.close_connection = True
            return
        try:
            x = decode_request(body, dict(self.headers.items()))
        except ProtocolError as exc:
            self._error(400, str(exc))
            return
        except (ValueError, TypeError, OverflowError, MemoryError) as exc:  # whatever else a body can break
            self._error(400, f"malformed request body ({type(exc).__name__})")
            return
        if tuple(x.shape[1:]) != app.model.input_shape:
            expected = ",".join(map(str, app.model.input_shape))
            self._error(400, f"shape mismatch: the model takes (N,{expected}), got {tuple(x.shape)}")
            return
        if len(x) > app.max_batch:
            self._error(413, f"batch of {len(x)} images exceeds max_batch {app.max_batch}")
            return
        try:
            out = app.answer(x)
        except Exception as exc:  # a model failure must not kill the connection thread silently
            log.exception("model failed on a batch of %d images", len(x))
            self._error(500, f"model failed: {type(exc).__name__}: {exc}")
            return
        binary = BINARY_TYPE in self.headers.get("Accept", "")
        payload, headers = encode_response(out, app.spec, app.model.num_classes, binary=binary)
        app.count(len(x))  # before sending, so a client that has its answer sees it counted
        if not self._send(200, payload, headers):
            app.count(len(x), undo=True)  # never delivered


class ModelServer:
    """A model served over HTTP. Start with :meth:`start` (background thread) or :meth:`serve_forever`;
    stop with :meth:`close` (also cuts open keep-alive connections). A context manager.

    ``images_served`` counts images whose answers were sent; ``requests_served`` the answered batches."""

    def __init__(
        self,
        model: Classifier,
        *,
        access: str | AccessSpec = "labels",
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        max_batch: int = DEFAULT_MAX_BATCH,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        threat: Threat | None = None,
    ) -> None:
        self.spec = access if isinstance(access, AccessSpec) else AccessSpec.parse(access)
        if max_batch < 1 or max_body_bytes < 1:
            raise ValueError("max_batch and max_body_bytes must be positive")
        self.model = model
        self._suspect = Suspect(model, access=self.spec.output, k=self.spec.k or 1)
        self.token = token or None
        self.max_batch = int(max_batch)
        self.max_body_bytes = int(max_body_bytes)
        self.threat = threat
        self.images_served = 0
        self.requests_served = 0
        self._model_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._busy = threading.Condition()
        self._in_flight = 0
        self._httpd = _HTTPServer((host, port), self)
        self._thread: threading.Thread | None = None
        self._running = False  # a serve_forever loop was started (so close must shut it down)
        self._closed = False

    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def __repr__(self) -> str:
        return f"ModelServer({self.model!r}, access={self.spec}, url={self.url})"

    def info(self) -> dict[str, Any]:
        return {
            "protocol": PROTOCOL, "num_classes": self.model.num_classes,
            "input_shape": list(self.model.input_shape), "output": self.spec.output, "k": self.spec.k,
            "max_batch": self.max_batch,
        }  # fmt: skip

    def answer(self, x: torch.Tensor) -> torch.Tensor:
        """The served answer for a batch: the model at the access level, then the threat hook."""
        with self._model_lock:  # one batch at a time: the model owns all the CPU threads anyway
            out = self._suspect(x)
            if self.threat is not None:
                out = self.threat(x, out)
        return out

    def count(self, n: int, *, undo: bool = False) -> None:
        """Count an answered batch of ``n`` images (``undo``: take back one that was never delivered)."""
        sign = -1 if undo else 1
        with self._count_lock:
            self.images_served += sign * n
            self.requests_served += sign

    @contextlib.contextmanager
    def in_flight(self) -> Iterator[None]:
        """Marks a request being handled (``close`` waits for these)."""
        with self._busy:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._busy:
                self._in_flight -= 1
                self._busy.notify_all()

    def start(self) -> ModelServer:
        """Serve in a daemon thread; returns ``self``."""
        if self._closed:
            raise RuntimeError("this server was closed; start a new one")
        if self._thread is None:
            self._running = True
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
                name=f"modelprint-serve:{self.port}",
            )  # fmt: skip
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`close` (from another thread) or Ctrl-C."""
        if self._closed:
            raise RuntimeError("this server was closed; start a new one")
        self._running = True
        try:
            self._httpd.serve_forever(poll_interval=0.2)
        finally:
            self.close()

    def close(self, timeout: float = 5.0) -> None:
        """Stop accepting and free the port, cut open connections (a client waiting for an answer sees
        the connection drop), then wait up to ``timeout`` s for requests still in the model to end."""
        if self._closed:
            return
        self._closed = True
        if self._running:
            self._httpd.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
        self._httpd.server_close()
        self._httpd.cut_connections()
        with self._busy:
            self._busy.wait_for(lambda: self._in_flight == 0, timeout=timeout)

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve(
    model: Classifier,
    *,
    access: str | AccessSpec = "labels",
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None = None,
    max_batch: int = DEFAULT_MAX_BATCH,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    threat: Threat | None = None,
    start: bool = True,
) -> ModelServer:
    """Serve ``model`` at ``access`` (labels | topk:K | probs | logits) on ``host:port`` (0 = any free
    port). Started in a background thread unless ``start=False`` (then call ``serve_forever``)."""
    server = ModelServer(
        model, access=access, host=host, port=port, token=token, max_batch=max_batch,
        max_body_bytes=max_body_bytes, threat=threat,
    )  # fmt: skip
    return server.start() if start else server
