"""A model behind HTTP (modelprint serve) and a remote suspect (RemoteClassifier), on loopback."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch
from typer.testing import CliRunner

from modelprint.cli import app
from modelprint.fingerprints import FINGERPRINTS
from modelprint.models.access import AccessError, BudgetExhausted, Suspect
from modelprint.models.archs import build_arch
from modelprint.models.base import TorchClassifier
from modelprint.serving import AccessSpec, ModelServer, RemoteClassifier, RemoteError, serve
from modelprint.serving.protocol import decode_request, encode_response
from modelprint.testing import TinyZoo

K = 10


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Tiny batches: a second intra-op thread only adds contention on a shared CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def small_model() -> TorchClassifier:
    torch.manual_seed(0)
    module = build_arch("cnn-s", in_channels=1, num_classes=K, image_size=8)
    return TorchClassifier(module, num_classes=K, input_shape=(1, 8, 8), name="random-cnn-s")


def images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------- a scripted stub server


def truth(x: torch.Tensor) -> torch.Tensor:
    """What the stub answers when it behaves: a label from the mean pixel."""
    return (x.flatten(1).mean(1) * K).long().clamp(0, K - 1)


class Stub:
    """A /v1 server that plays ``script`` one POST at a time, then answers correctly:
    ``("sleep", s)`` answers after ``s`` seconds; ``("status", code, headers)`` fails; ``("json", obj)``
    and ``("raw", body, content_type)`` answer 200 with that body."""

    def __init__(
        self, script: list[tuple[Any, ...]], *, output: str = "labels", num_classes: int = K
    ) -> None:
        self.script, self.posts, self.images = list(script), 0, 0
        info = {"protocol": "modelprint-serve/1", "num_classes": num_classes, "input_shape": [1, 8, 8],
                "output": output, "k": None, "max_batch": 64}  # fmt: skip
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def reply(self, code: int, body: bytes, headers: dict[str, str]) -> None:
                try:
                    self.send_response(code)
                    for name, value in {"Content-Length": str(len(body)), **headers}.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    self.close_connection = True

            def do_GET(self) -> None:
                self.reply(200, json.dumps(info).encode(), {"Content-Type": "application/json"})

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                x = decode_request(body, dict(self.headers.items()))
                step = stub.script.pop(0) if stub.script else ("ok",)
                stub.posts += 1
                if step[0] == "sleep":
                    time.sleep(step[1])
                if step[0] in ("ok", "sleep"):
                    answer = truth(x) if output == "labels" else torch.rand(len(x), K).softmax(1)
                    stub.images += len(x)
                    self.reply(200, *encode_response(answer, AccessSpec.parse(output), K, binary=True))
                elif step[0] == "status":
                    self.reply(
                        step[1], b'{"error": "scripted"}', {"Content-Type": "application/json", **step[2]}
                    )
                elif step[0] == "drip":  # a valid-looking header, then one byte every step[1] seconds
                    try:
                        self.send_response(200)
                        self.send_header("Content-Length", "1000")
                        self.send_header("Content-Type", "application/json")
                        self.end_headers()
                        for _ in range(1000):
                            self.wfile.write(b" ")
                            self.wfile.flush()
                            time.sleep(step[1])
                    except OSError:
                        self.close_connection = True
                elif step[0] == "json":
                    self.reply(200, json.dumps(step[1]).encode(), {"Content-Type": "application/json"})
                else:
                    self.reply(200, step[1], {"Content-Type": step[2]})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def stub() -> Iterator[Any]:
    made: list[Stub] = []

    def make(script: list[tuple[Any, ...]], **kwargs: Any) -> Stub:
        made.append(Stub(script, **kwargs))
        return made[-1]

    yield make
    for s in made:
        s.close()


def remote(url: str, **kwargs: Any) -> RemoteClassifier:
    return RemoteClassifier(url, **{"retries": 2, "backoff": 0.01, "timeout": 5.0, **kwargs})


def test_slow_answer_times_out_then_the_retry_succeeds(stub: Any) -> None:
    s = stub([("sleep", 1.0)])
    x = images(8)
    with remote(s.url, timeout=0.25) as r:
        assert torch.equal(r(x), truth(x))
    assert s.posts == 2 and r.images_sent == 16 and r.queries_spent == 8


def test_500_then_success(stub: Any) -> None:
    s = stub([("status", 500, {}), ("status", 503, {})])
    x = images(8)
    with remote(s.url) as r:
        assert torch.equal(r(x), truth(x))
    assert s.posts == 3 and s.images == 8


def test_429_retry_after_is_honoured(stub: Any) -> None:
    s = stub([("status", 429, {"Retry-After": "1"})])
    x = images(8)
    with remote(s.url, backoff=0.001) as r:
        start = time.perf_counter()
        assert torch.equal(r(x), truth(x))
        waited = time.perf_counter() - start
    assert 0.9 <= waited < 3.0 and s.posts == 2


def test_giving_up_after_the_retries_is_a_remote_error(stub: Any) -> None:
    s = stub([("status", 502, {})] * 3)
    with remote(s.url, retries=2) as r, pytest.raises(RemoteError, match=r"giving up after 3 attempts.*502"):
        r(images(4))


BAD_ANSWERS = {
    "malformed JSON": ("labels", ("raw", b"{not json", "application/json"), "malformed"),
    "truncated binary": (
        "labels",
        ("raw", b"\x00" * 12, "application/octet-stream"),
        "malformed",
    ),
    "wrong class count": (
        "labels",
        ("json", {"output": "labels", "num_classes": 9, "labels": [1] * 4}),
        "9 classes",
    ),
    "wrong score width": (
        "probs",
        ("json", {"output": "probs", "num_classes": K, "scores": [[0.5, 0.5]] * 4}),
        "shape",
    ),
    "NaN scores": (
        "probs",
        ("json", {"output": "probs", "num_classes": K, "scores": [[float("nan")] * K] * 4}),
        "NaN",
    ),
    "label out of range": (
        "labels",
        ("json", {"output": "labels", "num_classes": K, "labels": [0, 1, 2, K]}),
        "outside",
    ),
    "wrong count": ("labels", ("json", {"output": "labels", "num_classes": K, "labels": [0, 1]}), "shape"),
    "float labels": (
        "labels",
        ("json", {"output": "labels", "num_classes": K, "labels": [1.9, 0, 1, 2]}),
        "integers only",
    ),
    "boolean labels": (
        "labels",
        ("json", {"output": "labels", "num_classes": K, "labels": [True, 0, 1, 2]}),
        "integers only",
    ),
    "other level": (
        "labels",
        ("json", {"output": "probs", "num_classes": K, "scores": [[0.1] * K] * 4}),
        "announced",
    ),
}


@pytest.mark.parametrize("case", list(BAD_ANSWERS))
def test_bad_answers_raise_a_clear_remote_error(stub: Any, case: str) -> None:
    output, step, match = BAD_ANSWERS[case]
    s = stub([step], output=output)
    with remote(s.url) as r, pytest.raises(RemoteError, match=match):
        r(images(4))
    assert s.posts == 1  # a nonsense answer is not retried


def test_a_dripping_answer_meets_the_whole_request_deadline(stub: Any) -> None:
    s = stub([("drip", 0.2)] * 2)
    start = time.perf_counter()
    with remote(s.url, retries=1, timeout=1.0) as r, pytest.raises(RemoteError, match="deadline"):
        r(images(4))
    assert time.perf_counter() - start < 4.0  # two attempts of at most ~1 s each, not 1000 × 0.2 s


def test_an_answer_far_larger_than_expected_is_not_read_whole(stub: Any) -> None:
    s = stub([("raw", b"[" + b"1," * 2_000_000 + b"1]", "application/json")])
    with remote(s.url) as r, pytest.raises(RemoteError, match="larger than"):
        r(images(4))
    assert s.posts == 1


def test_budget_is_checked_before_sending(stub: Any) -> None:
    s = stub([])
    with remote(s.url, budget=50, batch_size=16) as r:
        r(images(30))
        with pytest.raises(BudgetExhausted) as info:
            r(images(30, seed=1))
        assert info.value.remaining == 20 and info.value.needed == 30
        assert s.images == 30 and r.queries_spent == 30
        r(images(20, seed=2))  # exactly what is left
        with pytest.raises(BudgetExhausted):
            r(images(1, seed=3))
    assert s.images == 50


def test_rate_limit_spaces_the_batches(stub: Any) -> None:
    s = stub([])
    with remote(s.url, rate_limit=400.0, batch_size=50) as r:
        start = time.perf_counter()
        r(images(150))
        assert time.perf_counter() - start >= 0.2  # 2 waits of 50/400 s
    assert s.images == 150


# ---------------------------------------------------------------- the real server


@pytest.mark.parametrize("access", ["labels", "topk:3", "probs", "logits"])
@pytest.mark.parametrize("binary", [True, False])
def test_answers_match_the_local_suspect(access: str, binary: bool) -> None:
    model, x = small_model(), images(70)
    spec = AccessSpec.parse(access)
    local = Suspect(model, access=spec.output, k=spec.k or 1)(x)
    with serve(model, access=access, max_batch=32) as server, remote(server.url, binary=binary) as r:
        assert (r.output, r.k, r.num_classes) == (spec.output, spec.k, K)
        got = r(x)
        assert server.images_served == r.queries_spent == 70 and server.requests_served == 3
    assert got.dtype == local.dtype and got.shape == local.shape
    assert torch.allclose(got.float(), local.float(), atol=1e-5)


def test_client_can_ask_for_less_than_the_server_gives_but_not_more() -> None:
    model, x = small_model(), images(20)
    with serve(model, access="probs") as server:
        with remote(server.url, access="labels") as r:
            assert torch.equal(r(x), model(x).argmax(1))
        with remote(server.url, access="topk:2") as r:
            assert torch.equal(r(x), model(x).topk(2, dim=1).indices)
        with pytest.raises(AccessError, match="only gives 'probs'"):
            remote(server.url, access="logits")


def test_server_rejects_bad_requests_with_json_errors() -> None:
    model = small_model()
    with serve(model, max_batch=50, max_body_bytes=20_000) as server, httpx.Client(base_url=server.url) as c:
        big = images(40).numpy().astype("<f4").tobytes()  # 10 240 bytes: fine; 100 images are too many
        headers = {"Content-Type": "application/octet-stream"}
        ok = c.post("/v1/predict", content=big, headers={**headers, "X-Shape": "40,1,8,8"})
        assert ok.status_code == 200 and len(ok.json()["labels"]) == 40
        cases = [
            (images(100).numpy().tobytes(), {**headers, "X-Shape": "100,1,8,8"}, 413, "exceeds the limit"),
            (big, {**headers, "X-Shape": "40,1,8,9"}, 400, "needs"),
            (big, {**headers, "X-Shape": "10,4,8,8"}, 400, "shape mismatch"),
            (images(60).numpy().tobytes()[:0], {**headers, "X-Shape": "0,1,8,8"}, 200, None),
            (b'{"shape": [1, 1, 8], "data": []}', {"Content-Type": "application/json"}, 400, "shape"),
            (b"nonsense", {"Content-Type": "application/json"}, 400, "not valid JSON"),
            (json.dumps({"shape": [1, 1, 8, 8], "data": [float("nan")] * 64}).encode(), {}, 400, "NaN"),
            # a number no float holds, and booleans for a shape: 400 with a reason, not a dropped connection
            (b'{"shape": [1, 1, 8, 8], "data": [' + b"9" * 320 + b",0" * 63 + b"]}", {}, 400, None),
            (json.dumps({"shape": [True, 1, 8, 8], "data": [0.5] * 64}).encode(), {}, 400, "four integers"),
        ]
        for body, hdrs, status, message in cases:
            response = c.post("/v1/predict", content=body, headers=hdrs)
            assert response.status_code == status, (status, response.text)
            if message:
                assert message in response.json()["error"]
        x = json.dumps({"shape": [51, 1, 8, 8], "data": [0.5] * 51 * 64}).encode()
        assert c.post("/v1/predict", content=x).status_code == 413  # above max_batch (JSON, 20 KB fits)
        assert c.get("/v1/nothing").status_code == 404
        assert c.get("/v1/info").json()["input_shape"] == [1, 8, 8]
        assert server.images_served == 40


def test_a_token_is_required_when_set() -> None:
    with serve(small_model(), token="s3cret") as server:
        with pytest.raises(RemoteError, match=r"401 unauthorised.*token"):
            remote(server.url)
        with pytest.raises(RemoteError, match="401"):
            remote(server.url, token="wrong")
        response = httpx.post(f"{server.url}/v1/predict", content=b"{}")
        assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Bearer"
        assert "token" in response.json()["error"]
        with remote(server.url, token="s3cret") as r:
            assert r(images(5)).shape == (5,)
        assert server.images_served == 5


def test_journal_skips_unreadable_chunks_and_answers_of_another_level(tmp_path: Path) -> None:
    model, x = small_model(), images(30)
    with serve(model, access="probs") as server:
        with remote(server.url, journal=tmp_path, batch_size=10) as r:
            first = r(x)
        chunks = sorted(tmp_path.glob("*.safetensors"))
        assert server.images_served == 30 and len(chunks) == 3
        chunks[0].write_bytes(b"garbage")  # a torn write: those ten images are asked again
        with remote(server.url, journal=tmp_path) as r:
            assert torch.equal(r(x), first)
            assert r.queries_spent == 10 and r.images_replayed == 20 and server.images_served == 40
    with serve(model, access="labels") as other, remote(other.url, journal=tmp_path) as r:
        assert torch.equal(r(x), first.argmax(1))
        assert r.images_replayed == 0 and other.images_served == 30


def test_answers_replayed_from_the_journal_are_validated(tmp_path: Path) -> None:
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    model, x = small_model(), images(10)
    with serve(model, access="labels") as server:
        with remote(server.url, journal=tmp_path) as r:
            r(x)
        (chunk,) = tmp_path.glob("*.safetensors")
        with safe_open(str(chunk), "pt") as fh:
            meta = fh.metadata()
        tensors = load_file(chunk)
        tensors["values"][0] = 99  # a label of 99 among 10 classes, written into the journal
        save_file(tensors, chunk, metadata=meta)
        with remote(server.url, journal=tmp_path) as r, pytest.raises(RemoteError, match=r"journal.*outside"):
            r(x)


# ---------------------------------------------------------------- verifying a real suspect


def test_label_only_verification_over_http_flags_the_derived_model(tiny: TinyZoo) -> None:
    fp = FINGERPRINTS.make("akh")  # misclassified seeds, hard labels: label-only access suffices
    key = fp.generate(tiny.load(tiny.source), tiny.data(), seed=0)
    scores = {}
    for lineage in (tiny.positives()[0], tiny.negatives()[0]):
        model = tiny.load(lineage)
        with serve(model, access="labels") as server, remote(server.url, batch_size=32) as suspect:
            assert suspect.output == "labels"
            scores[lineage] = fp.verify(key, suspect)
            assert server.images_served == suspect.queries_spent == key.num_queries
        assert scores[lineage] == fp.verify(key, Suspect(model, access="labels"))
    assert scores[tiny.positives()[0]] > scores[tiny.negatives()[0]]


def test_a_killed_server_resumes_from_the_journal_without_repeating_queries(
    tiny: TinyZoo, tmp_path: Path
) -> None:
    fp = FINGERPRINTS.make("akh")
    key = fp.generate(tiny.load(tiny.source), tiny.data(), seed=0)
    model = tiny.load(tiny.positives()[0])
    journal = tmp_path / "journal"
    stuck, release, batches = threading.Event(), threading.Event(), [0]

    def hang_on_third_batch(x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        batches[0] += 1
        if batches[0] == 3:
            stuck.set()
            release.wait(10)
        return out

    first = serve(model, access="labels", threat=hang_on_third_batch)
    client = remote(first.url, batch_size=20, retries=1, journal=journal)
    failure: list[BaseException] = []

    def verify() -> None:
        try:
            fp.verify(key, client)
        except RemoteError as exc:
            failure.append(exc)

    worker = threading.Thread(target=verify)
    worker.start()
    assert stuck.wait(10)
    threading.Timer(0.2, release.set).start()
    first.close()  # killed while answering the third batch
    worker.join(10)
    client.close()
    assert len(failure) == 1 and "giving up" in str(failure[0])
    assert first.images_served == 40 and len(list(journal.glob("*.safetensors"))) == 2

    with (
        serve(model, access="labels", port=first.port) as again,
        remote(again.url, journal=journal) as resumed,
    ):
        score = fp.verify(key, resumed)
    distinct = len(torch.unique(key.queries.inputs.flatten(1), dim=0))  # the key repeats a few images
    assert first.images_served + again.images_served == distinct
    assert resumed.queries_spent == again.images_served == distinct - 40
    assert resumed.images_replayed + resumed.queries_spent == key.num_queries
    assert score == fp.verify(key, Suspect(model, access="labels"))


def test_serve_command_loads_a_lineage_or_a_folder(
    tiny: TinyZoo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[dict[str, Any]] = []

    def once(self: ModelServer) -> None:  # instead of blocking: start, ask /v1/info, stop
        with self:
            seen.append(httpx.get(f"{self.url}/v1/info").json())

    monkeypatch.setattr(ModelServer, "serve_forever", once)
    (tmp_path / "zoo").symlink_to(tiny.store.root, target_is_directory=True)
    runner = CliRunner()
    by_lineage = runner.invoke(app, ["serve", tiny.source, "--access", "topk:3", "--port", "0",
                                     "--home", str(tmp_path)])  # fmt: skip
    assert by_lineage.exit_code == 0, by_lineage.output
    assert "serving" in by_lineage.output and "/v1/predict" in by_lineage.output
    by_folder = runner.invoke(app, ["serve", str(tiny.store.path(tiny.source)), "--port", "0"])
    assert by_folder.exit_code == 0, by_folder.output
    assert [s["output"] for s in seen] == ["topk", "labels"] and seen[0]["k"] == 3
    missing = runner.invoke(app, ["serve", "train(cnn-s,digits,9)", "--home", str(tmp_path)])
    assert missing.exit_code == 2 and "zoo build" in missing.output
    bad = runner.invoke(app, ["serve", tiny.source, "--access", "everything", "--home", str(tmp_path)])
    assert bad.exit_code == 2 and "unknown access level" in bad.output
