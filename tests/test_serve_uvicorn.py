"""The server on a real uvicorn on a free loopback port: concurrent requests of mixed lengths and options each get
their own results (and are batched), tokens stream in pieces, the queue limit answers 503 and the timeout 504 over
HTTP with the server staying healthy, and ``python -m seqlab.serve`` drains in-flight requests on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
import httpx  # noqa: E402
from conftest import REPO, make_reviews, wait_until  # noqa: E402
from serve_models import FakeLM, SlowClassifier, bag_dir, free_port, metric, rnn_dir, running, translator_dir  # noqa: E402

from seqlab.serve.app import create_app  # noqa: E402
from seqlab.serve.limits import ServeLimits  # noqa: E402
from seqlab.serve.loading import load_models, served  # noqa: E402

pytestmark = pytest.mark.serve


@pytest.fixture(scope="module")
def models():
    return load_models([str(bag_dir()), str(rnn_dir()), f"de-en={translator_dir()}"], log=lambda *_: None)


@pytest.mark.slow  # its models train first (bag, RNN, translator: ~2 s)
def test_concurrent_mixed_requests_each_get_their_own_results_in_shared_batches(models):
    reviews = [text for text, _ in make_reviews(40, seed=7)]
    sentences = ["Hund rot spielt.", "Katze läuft.", "Mann Frau Haus groß.", "Ball.", "klein blau Hund Katze Mann."]
    bag, rnn, translator = (m.predictor for m in models)
    requests = []  # (path, body, expected results)
    for i in range(24):  # 1 to 4 texts each, several lengths
        texts = reviews[i: i + 1 + i % 4]
        requests.append(("/v1/models/bag/classify", {"texts": texts}, bag.predict(texts)))
        explain = i % 2 == 0
        want = rnn.predict(texts)
        if explain:
            for w, e in zip(want, rnn.explain(texts), strict=True):
                w.update(tokens=e["tokens"], attention=e["attention"])
        requests.append(("/v1/models/rnn/classify", {"texts": texts, "explain": explain}, want))
    for i in range(10):  # beam 1 and 3 mixed: never in one batch, each with its own results
        texts, beam = sentences[i % 5: i % 5 + 1 + i % 2], 1 + 2 * (i % 2)
        requests.append(("/v1/models/de-en/translate", {"texts": texts, "beam": beam},
                         translator.translate_detailed(texts, beam=beam)))

    async def fire(base):
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            answers = await asyncio.gather(*(client.post(path, json=body) for path, body, _ in requests))
            return answers, (await client.get("/metrics")).text

    with running(create_app(models, ServeLimits(max_batch=16, max_wait_ms=30))) as base:
        answers, metrics = asyncio.run(fire(base))
    for (path, body, want), answer in zip(requests, answers, strict=True):
        assert answer.status_code == 200, answer.text
        got = answer.json()["results"]
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            if path.endswith("translate"):
                assert g["translation"] == w["translation"] and g["score"] == pytest.approx(w["score"], abs=1e-4)
            else:
                assert g["label"] == w["label"] and g["confidence"] == pytest.approx(w["confidence"], abs=1e-4)
                if body.get("explain"):
                    assert g["tokens"] == w["tokens"] and g["attention"] == pytest.approx(w["attention"], abs=1e-4)
    batches = metric(metrics, "seqlab_batch_texts_count", model="bag")
    assert metric(metrics, "seqlab_batch_texts_sum", model="bag") == sum(len(b["texts"]) for p, b, _ in requests
                                                                         if "/bag/" in p)
    assert batches < 24  # 24 requests shared fewer model calls


@pytest.mark.slow  # 4 tokens 0.2 s apart, by design
def test_generated_tokens_arrive_in_pieces():
    with running(create_app([served("lm", FakeLM(delay=0.2))])) as base:
        arrivals, events = [], []
        with httpx.stream("POST", f"{base}/v1/models/lm/generate", timeout=30,
                          json={"prompt": "Once upon", "max_tokens": 4, "stream": True}) as answer:
            assert answer.status_code == 200
            for line in answer.iter_lines():
                if line.startswith("event: "):
                    events.append(line[7:])
                    arrivals.append(time.monotonic())
    assert events == ["token"] * 4 + ["done"]
    token_times = arrivals[:4]
    assert token_times[-1] - token_times[0] >= 0.4  # each token was sent when made, not all at the end


def test_a_client_that_leaves_a_stream_stops_the_generation():
    lm = FakeLM(delay=0.1)
    with running(create_app([served("lm", lm)])) as base:
        with httpx.stream("POST", f"{base}/v1/models/lm/generate", timeout=30,
                          json={"prompt": "x", "max_tokens": 500, "stream": True}) as answer:
            for line in answer.iter_lines():
                if line.startswith("event: token"):
                    break  # leave after the first token
        assert lm.stopped.wait(10)  # the model's thread stopped long before 500 tokens (50 s)


def test_over_the_queue_limit_503_without_harm_and_504_on_timeout():
    limits = ServeLimits(max_batch=2, max_wait_ms=0, max_queue=4, max_texts=2, timeout=20)

    held = SlowClassifier()
    held.release.clear()  # the model holds what it runs until released: the queue fills, whatever the machine's speed

    async def flood(base, n):
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            posts = [asyncio.create_task(client.post("/v1/models/slow/classify", json={"texts": ["good"]}))
                     for _ in range(n)]
            try:  # at most 6 get in (a batch of 2 running, 4 queued): wait for the other answers, all refusals
                deadline = time.monotonic() + 30
                while sum(p.done() for p in posts) < n - 6:
                    assert time.monotonic() < deadline, "the requests over the queue limit were not refused"
                    await asyncio.sleep(0.01)
            finally:
                held.release.set()
            answers = await asyncio.gather(*posts)
            return answers, (await client.get("/health")).status_code

    with running(create_app([served("slow", held)], limits)) as base:
        answers, health = asyncio.run(flood(base, 30))
    codes = [a.status_code for a in answers]
    # the queue's 4 (and up to 2 the worker took first) got in; the rest were refused while the model held those
    assert set(codes) == {200, 503} and 4 <= codes.count(200) <= 6, codes
    refused = next(a for a in answers if a.status_code == 503)
    assert refused.json()["error"]["code"] == "queue_full" and int(refused.headers["retry-after"]) >= 1
    assert all(a.json()["results"][0]["label"] == "pos" for a in answers if a.status_code == 200)
    assert health == 200

    stuck = SlowClassifier()
    stuck.release.clear()  # the model holds the request until released: only the server's timeout can answer it
    with running(create_app([served("slow", stuck)], ServeLimits(timeout=0.3))) as base:
        try:
            started = time.monotonic()
            late = httpx.post(f"{base}/v1/models/slow/classify", json={"texts": ["x"]}, timeout=30)
            assert late.status_code == 504 and late.json()["error"]["code"] == "timeout"
            assert time.monotonic() - started >= 0.3  # at the timeout, not before; the model never answered at all
        finally:
            stuck.release.set()


# ---------------------------------------------------------------------------- the command in its own process
def _serve(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "seqlab.serve", *args], cwd=REPO, env={**os.environ, **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_ready(base: str, proc: subprocess.Popen, headers: dict[str, str]) -> None:
    def ready() -> bool:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            return httpx.get(f"{base}/ready", headers=headers, timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    wait_until(ready, timeout=90, interval=0.2, message="the server to get ready")


@pytest.mark.slow  # a server process that loads torch and a model
def test_sigterm_drains_in_flight_requests_then_exits():
    port = free_port()
    base, key = f"http://127.0.0.1:{port}", {"Authorization": "Bearer k3y"}
    # a long batching window keeps the request in flight when the signal comes
    proc = _serve([f"bag={bag_dir()}", "--port", str(port), "--max-wait-ms", "1500", "--threads", "1"],
                  env={"SEQLAB_API_KEY": "k3y"})
    try:
        _wait_ready(base, proc, key)
        assert httpx.get(f"{base}/health").status_code == 200
        assert httpx.get(f"{base}/ready").status_code == 401  # SEQLAB_API_KEY is in force
        answer = {}

        def post():
            answer["r"] = httpx.post(f"{base}/v1/models/bag/classify", headers=key, timeout=30,
                                     json={"texts": ["a superb wonderful film", "dull"]})

        def queued() -> bool:  # the request waits in the model's queue: the signal comes while it is in flight
            metrics = httpx.get(f"{base}/metrics", headers=key, timeout=5).text
            return metric(metrics, "seqlab_queue_texts", model="bag") == 2 or "r" in answer  # (or missed: not hung)

        thread = threading.Thread(target=post)
        thread.start()
        wait_until(queued, timeout=30, message="the request to reach the queue")
        proc.send_signal(signal.SIGTERM)
        thread.join(30)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert answer["r"].status_code == 200, answer["r"].text
    assert [r["label"] for r in answer["r"].json()["results"]] == ["pos", "neg"]
    assert proc.returncode == 0, stderr  # drained cleanly: status 0 (uvicorn alone re-raises the signal: -15)
    assert "serving bag" in stderr
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{base}/health", timeout=2)


@pytest.mark.parametrize("args,message", [
    (["/no/such/model"], "not found"),
    (["a=DIR1", "a=DIR2"], "two models are named a"),
    (["bad name=DIR"], "model name"),
    (["--max-texts", "10", "--max-queue", "5", "x"], "--max-queue"),
])
def test_command_line_mistakes_exit_2_with_a_message(args, message, capsys):
    from seqlab.serve.__main__ import main

    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_a_busy_port_is_one_error_line_before_any_model_loads(capsys):
    """The port is bound first: the model directory (missing here) is never read, and nothing else is printed."""
    from seqlab.serve.__main__ import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["/no/such/model", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [f"seqlab: error: cannot listen on 127.0.0.1:{port}: the port is in use (--host, --port)"]


@pytest.mark.slow  # a server process
def test_the_page_and_a_model_dir_named_by_its_folder(tmp_path):
    link = Path(tmp_path) / "imdb-bag"
    link.symlink_to(bag_dir())
    port = free_port()
    proc = _serve([str(link), "--port", str(port), "--no-warmup"])
    try:
        _wait_ready(f"http://127.0.0.1:{port}", proc, {})
        models = httpx.get(f"http://127.0.0.1:{port}/v1/models").json()["models"]
        page = httpx.get(f"http://127.0.0.1:{port}/")
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert [m["name"] for m in models] == ["imdb-bag"]
    assert page.status_code == 200 and "<title>seqlab</title>" in page.text


@pytest.mark.slow  # the benchmark's servers and clients in their own processes
def test_the_benchmark_smoke_path(tmp_path):
    """benchmarks/serve.py end to end on a tiny model with a handful of requests: its section is generated."""
    results = tmp_path / "RESULTS.md"
    results.write_text("# Benchmark results\n\nkept\n")
    cmd = [sys.executable, str(REPO / "benchmarks" / "serve.py"), f"tiny={bag_dir()}", "--requests", "12",
           "--concurrency", "1", "4", "--overload-queue", "2", "--offline-count", "50", "--threads", "1",
           "--results", str(results), "--rows", str(tmp_path / "rows.json"), "--logs", str(tmp_path / "logs")]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    text = results.read_text()
    assert text.startswith("# Benchmark results\n\nkept\n")
    assert "<!-- serve:start" in text and "<!-- serve:end -->" in text
    assert "| tiny | classify bag | on | 4 | 12 |" in text and "| tiny | classify bag | off | 1 | 12 |" in text
    assert "errors below the queue limit: 0" in text and "server alive" in text


@pytest.mark.slow  # a Python process that imports torch
def test_the_command_loads_without_the_serve_extra_and_says_what_to_install():
    """The CLI adds ``serve`` for everyone; only running it needs FastAPI, uvicorn and prometheus-client."""
    code = ("import sys, argparse\n"
            "for m in ('fastapi', 'uvicorn', 'prometheus_client', 'starlette'): sys.modules[m] = None\n"
            "from seqlab.serve import add_serve_command\n"
            "p = argparse.ArgumentParser(); add_serve_command(p.add_subparsers())\n"
            "a = p.parse_args(['serve', 'runs/x'])\n"
            "from seqlab.errors import SeqlabError\n"
            "try:\n    a.func(a, {})\nexcept SeqlabError as e:\n    print(e)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "pip install 'seqlab[serve]'" in done.stdout
