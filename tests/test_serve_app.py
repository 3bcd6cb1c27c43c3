"""The server's app through FastAPI's test client: every route's happy path for each task (tiny real classifiers
and translator, fake tagger and language model), the JSON errors (400/401/404/413/422/500/503/504), the API key,
streamed generation as Server-Sent Events, the OpenAPI schema, the page, and /metrics counting what was sent."""

from __future__ import annotations

import json
import re
import threading
import time
from html.parser import HTMLParser
from importlib.resources import files
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402
from serve_models import FakeLM, FakeTagger, SlowClassifier, bag_dir, metric, rnn_dir, translator_dir  # noqa: E402

import seqlab  # noqa: E402
from seqlab.serve import page as page_module  # noqa: E402
from seqlab.serve.app import create_app  # noqa: E402
from seqlab.serve.limits import ServeLimits  # noqa: E402
from seqlab.serve.loading import load_models, served  # noqa: E402
from seqlab.serve.page import TASK_SCRIPTS, page_html, task_scripts  # noqa: E402
from seqlab.tasks.base import TASKS, TaskSpec, register_task, unregister_task  # noqa: E402

pytestmark = pytest.mark.serve

REVIEWS = ["A wonderful superb film.", "Dull and tedious plot, awful acting.", "the movie was a film", ""]
LIMITS = ServeLimits(max_texts=8, max_chars=500, max_body=8192, max_wait_ms=2)


@pytest.fixture(scope="module")
def models():
    loaded = load_models([str(bag_dir()), str(rnn_dir()), f"de-en={translator_dir()}"], log=lambda *_: None)
    return [*loaded, served("tagger", FakeTagger()), served("lm", FakeLM())]


@pytest.fixture(scope="module")
def client(models):
    with TestClient(create_app(models, LIMITS)) as c:
        yield c


# ---------------------------------------------------------------------------- health, models, docs, page
@pytest.mark.slow  # the module's models train first (bag, RNN, translator: ~2 s)
def test_health_ready_and_the_model_list(client):
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json() == {"ready": True, "models": ["bag", "rnn", "de-en", "tagger", "lm"]}
    info = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert [info[n]["task"] for n in info] == ["classify", "classify", "translate", "tag", "lm"]
    assert info["bag"]["labels"] == ["neg", "pos"] and info["bag"]["has_attention"] is False
    assert info["rnn"]["has_attention"] is True and info["rnn"]["config"]["model"] == "rnn"
    assert info["bag"]["metrics"]["valid"]["accuracy"] > 0.5  # metrics.json of the model directory
    assert info["de-en"]["languages"] == {"src": "de", "tgt": "en"}
    assert info["de-en"]["routes"] == ["translate", "embed"] and info["lm"]["routes"] == ["generate"]  # a fake: no vectors
    assert info["bag"]["load_seconds"] > 0
    assert client.get("/v1/models/rnn").json()["name"] == "rnn"
    missing = client.get("/v1/models/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "unknown_model"


@pytest.mark.slow  # the module's models train first (bag, RNN, translator: ~2 s)
def test_openapi_schema_documents_every_task_route(client):
    schema = client.get("/openapi.json").json()
    for route in ("classify", "translate", "tag", "generate"):
        assert f"/v1/models/{{name}}/{route}" in schema["paths"]
    assert {"ClassifyRequest", "TranslateRequest", "TagRequest", "GenerateRequest"} <= set(schema["components"]["schemas"])
    assert client.get("/docs").status_code == 200


@pytest.mark.slow  # the module's models train first (bag, RNN, translator: ~2 s)
def test_the_page_is_one_self_contained_file(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "attention-data" in html and "mouseenter" in html  # the translation task's attention view, imported
    assert "/*ATTENTION" not in html and TASK_SCRIPTS not in html  # every placeholder was filled
    for needle in ("http://", "https://", " src=", "<link"):  # nothing fetched from anywhere
        assert needle not in html, needle


class _Scripts(HTMLParser):
    """The text of each <script data-task=...> element, as a browser splits the page."""

    def __init__(self) -> None:
        super().__init__()
        self.task: str | None = None
        self.found: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self.task = dict(attrs).get("data-task")

    def handle_data(self, data):
        if self.task is not None:
            self.found[self.task] = self.found.get(self.task, "") + data

    def handle_endtag(self, tag):
        if tag == "script":
            self.task = None


@pytest.mark.slow  # the module's models train first (bag, RNN, translator: ~2 s)
def test_the_page_holds_each_registered_tasks_part(client):
    parser = _Scripts()
    parser.feed(client.get("/").text)
    with_part = [name for name, spec in TASKS.items() if files(spec.package).joinpath("page.js").is_file()]
    assert sorted(with_part) == sorted(parser.found) and {"classify", "translate", "tag", "lm"} <= set(with_part)
    for name, script in task_scripts().items():
        assert parser.found[name].strip() == script.strip(), name  # whole: nothing in it ended its element early
        assert f"seqlab.register('{name}'" in script


def test_the_server_names_no_task():
    """Adding a task adds only its own folder: nothing under seqlab/serve/ knows one by name (a short name counts
    when quoted, as in ``grep -rn 'classify\\|translate\\|"tag"\\|"lm"' src/seqlab/serve``)."""
    serve = Path(page_module.__file__).parent
    pattern = re.compile("|".join(re.escape(n) if len(n) > 4 else f"[\"']{re.escape(n)}[\"']" for n in TASKS))
    found = [f"{path.name}:{number}: {line.strip()}" for path in sorted(serve.rglob("*")) if path.is_file()
             and path.suffix in (".py", ".html", ".js")
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]
    assert found == []


def test_a_new_tasks_page_js_is_on_the_page(tmp_path, monkeypatch):
    """A task's part of the page is found through the registry: a toy task's own page.js, and nothing else."""
    package = tmp_path / "toytask"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "page.js").write_text("seqlab.register('toy', {run: function () { return Promise.resolve(); }});\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    register_task(TaskSpec(name="toy", description="a toy", package="toytask", schema=None, train=None, load=None,
                           evaluate=None))
    page_html.cache_clear()
    try:
        html = page_html()
        assert "<script data-task=\"toy\">\nseqlab.register('toy'" in html
        (package / "page.js").write_text("var s = '</script><b>';\n")  # would end the page's script early
        page_html.cache_clear()
        with pytest.raises(RuntimeError, match="toy"):
            page_html()
    finally:
        unregister_task("toy")
        page_html.cache_clear()
    assert "data-task=\"toy\"" not in page_html()


# ---------------------------------------------------------------------------- classify
@pytest.mark.slow  # the module's models train first (bag, RNN, translator: ~2 s)
def test_classify_matches_the_predictor(client):
    expected = seqlab.load(bag_dir()).predict(REVIEWS)
    answer = client.post("/v1/models/bag/classify", json={"texts": REVIEWS})
    assert answer.status_code == 200
    body = answer.json()
    assert body["model"] == "bag" and len(body["results"]) == len(REVIEWS)
    for got, want in zip(body["results"], expected, strict=True):
        assert got["label"] == want["label"]
        assert got["confidence"] == pytest.approx(want["confidence"], abs=1e-5)
        assert got["probabilities"] == pytest.approx(want["probabilities"], abs=1e-5)
        assert got["tokens"] is None and got["attention"] is None  # no explanation unless asked
        assert got["token_scores"] is None and got["method"] is None


@pytest.mark.slow  # the module's models train first (bag, RNN, translator: ~2 s)
def test_classify_explain_returns_the_explanation_and_attention(client):
    text = "a superb and wonderful movie"
    body = client.post("/v1/models/rnn/classify", json={"texts": [text], "explain": True}).json()
    result = body["results"][0]
    assert result["label"] == "pos" and set(result["probabilities"]) == {"neg", "pos"}
    assert result["tokens"] == ["a", "superb", "and", "wonderful", "movie"]
    assert sum(result["attention"]) == pytest.approx(1.0, abs=1e-4)
    want = seqlab.load(rnn_dir()).explain([text])[0]  # the very explanation seqlab predict --explain gives
    assert result["method"] == want["method"] == "integrated gradients"
    assert result["token_scores"] == pytest.approx([s for _, s in want["token_scores"]], abs=1e-5)
    assert result["confidence"] == pytest.approx(want["confidence"], abs=1e-6)


@pytest.mark.slow  # the module's models train first (bag, RNN, translator: ~2 s)
def test_a_bag_models_explanation_is_its_exact_linear_contributions(client):
    texts = ["a superb movie", "Dull and tedious plot, awful acting.", ""]
    bag = seqlab.load(bag_dir())
    body = client.post("/v1/models/bag/classify", json={"texts": texts, "explain": True}).json()
    for got, want, plain in zip(body["results"], bag.explain(texts), bag.predict(texts), strict=True):
        assert got["tokens"] == want["tokens"] and got["attention"] is None  # a bag does not pool with attention
        assert got["method"] == "linear"
        assert got["token_scores"] == pytest.approx([s for _, s in want["token_scores"]], abs=1e-6)
        assert len(got["token_scores"]) == len(got["tokens"])
        assert got["label"] == plain["label"] and got["probabilities"] == pytest.approx(plain["probabilities"], abs=1e-6)
    assert body["results"][0]["tokens"] == ["a", "superb", "movie"]
    superb = body["results"][0]["token_scores"][1]
    assert body["results"][0]["label"] == "pos" and superb > 0  # it speaks for "pos"
    assert body["results"][2]["tokens"] == [] and body["results"][2]["token_scores"] == []


def test_explain_runs_the_model_once_for_two_labels():
    model = SlowClassifier()
    with TestClient(create_app([served("slow", model)], LIMITS)) as c:
        model.calls.clear()  # warm-up
        body = c.post("/v1/models/slow/classify", json={"texts": ["good film", "bad film"], "explain": True}).json()
    assert model.calls == [["good film", "bad film"]]  # explain() alone: its confidence gives both probabilities
    assert [r["label"] for r in body["results"]] == ["pos", "neg"]
    assert body["results"][0]["probabilities"] == pytest.approx({"neg": 0.1, "pos": 0.9})
    assert body["results"][1]["probabilities"] == pytest.approx({"neg": 0.8, "pos": 0.2})
    assert [r["token_scores"] for r in body["results"]] == [[0.5, 0.0], [0.5, 0.0]]  # "bad" speaks for "neg"
    assert body["results"][1]["tokens"] == ["bad", "film"] and body["results"][1]["method"] == "linear"


# ---------------------------------------------------------------------------- translate
@pytest.mark.slow  # the module's models train first (bag, RNN, translator: ~2 s)
def test_translate_matches_the_predictor_with_nbest_and_attention(client):
    texts = ["Hund rot spielt.", "Katze läuft."]
    want = seqlab.load(translator_dir()).translate_detailed(texts, beam=3, nbest=2)
    body = client.post("/v1/models/de-en/translate", json={"texts": texts, "beam": 3, "nbest": 2, "attention": True}).json()
    for got, ref in zip(body["results"], want, strict=True):
        assert got["translation"] == ref["translation"]
        assert got["score"] == pytest.approx(ref["score"], abs=1e-4)
        assert [h["translation"] for h in got["nbest"]] == [h["translation"] for h in ref["nbest"]]
        assert len(got["attention"]) == len(got["tgt_tokens"]) and len(got["attention"][0]) == len(got["src_tokens"])
        assert got["src_tokens"][0] == ref["src_tokens"][0].lstrip("▁")  # shown as people read it
    plain = client.post("/v1/models/de-en/translate", json={"texts": texts[:1]}).json()["results"][0]
    assert plain["attention"] is None and plain["src_tokens"] is None and len(plain["nbest"]) == 1


@pytest.mark.slow  # the module's models train first (bag, RNN, translator: ~2 s)
def test_nbest_above_the_beam_is_422(client):
    answer = client.post("/v1/models/de-en/translate", json={"texts": ["Ball."], "beam": 2, "nbest": 3})
    assert answer.status_code == 422 and "beam" in answer.json()["error"]["message"]


# ---------------------------------------------------------------------------- tag, generate
@pytest.mark.slow  # the module's models train first (bag, RNN, translator: ~2 s)
def test_tag_returns_entities_with_offsets(client):
    text = "Ada visited Paris with Alan"
    result = client.post("/v1/models/tagger/tag", json={"texts": [text, "nothing here"]}).json()["results"]
    assert [(e["type"], e["text"]) for e in result[0]["entities"]] == [("PER", "Ada"), ("LOC", "Paris"), ("PER", "Alan")]
    assert all(text[e["start"]:e["end"]] == e["text"] for e in result[0]["entities"])
    assert result[1]["entities"] == [] and result[1]["tags"] == ["O", "O"]


@pytest.mark.slow  # the module's models train first (bag, RNN, translator: ~2 s)
def test_generate_answers_json_or_a_stream_of_events(client):
    options = {"prompt": "Once", "max_tokens": 4, "temperature": 0.7, "seed": 3}
    text = client.post("/v1/models/lm/generate", json=options).json()
    assert text == {"model": "lm", "text": FakeLM().generate("Once", max_tokens=4, seed=3)}
    with client.stream("POST", "/v1/models/lm/generate", json={**options, "stream": True}) as answer:
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/event-stream")
        events = parse_sse("".join(answer.iter_text()))
    assert [kind for kind, _ in events] == ["token"] * 4 + ["done"]
    assert "".join(data["token"] for kind, data in events if kind == "token") == text["text"]
    assert events[-1][1] == {"text": text["text"]} and events[0][1]["prob"] == 0.5


@pytest.mark.slow  # the module's models train first (bag, RNN, translator: ~2 s)
def test_generate_passes_only_the_options_asked_and_a_bad_prompt_is_422(models):
    lm = FakeLM()
    with TestClient(create_app([served("lm", lm)], LIMITS)) as c:
        assert c.post("/v1/models/lm/generate", json={"prompt": "Once", "max_tokens": 3}).status_code == 200
        assert lm.given == {"max_tokens": 3, "temperature": 1.0}  # no top_k/top_p/seed: the model's defaults stand
        for stream in (False, True):
            answer = c.post("/v1/models/lm/generate", json={"prompt": "  ", "stream": stream})
            assert answer.status_code == 422 and answer.json()["error"]["message"] == "the prompt is empty"
            assert answer.headers["content-type"] == "application/json"


def parse_sse(stream: str) -> list[tuple[str, dict]]:
    events = []
    for block in filter(None, stream.split("\n\n")):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((fields["event"], json.loads(fields["data"])))
    return events


@pytest.mark.slow  # the module's models train first (bag, RNN, translator: ~2 s)
def test_a_failure_mid_stream_is_an_error_event(models):
    with TestClient(create_app([served("lm", FakeLM(fail_after=2))], LIMITS)) as c:
        with c.stream("POST", "/v1/models/lm/generate", json={"prompt": "x", "max_tokens": 5, "stream": True}) as answer:
            events = parse_sse("".join(answer.iter_text()))
    assert [kind for kind, _ in events] == ["token", "token", "error"]
    assert events[-1][1]["error"]["code"] == "inference_failed"


# ---------------------------------------------------------------------------- errors
@pytest.mark.slow  # the module's models train first (bag, RNN, translator: ~2 s)
@pytest.mark.parametrize("path,body,code", [
    ("/v1/models/de-en/classify", {"texts": ["x"]}, "wrong_task"),
    ("/v1/models/bag/translate", {"texts": ["x"]}, "wrong_task"),
    ("/v1/models/tagger/generate", {"prompt": "x"}, "wrong_task"),
    ("/v1/models/lm/tag", {"texts": ["x"]}, "wrong_task"),
])
def test_a_route_of_another_task_is_400(client, path, body, code):
    answer = client.post(path, json=body)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == code
    assert "/v1/models/" in answer.json()["error"]["message"]  # says which route to use instead


@pytest.mark.slow  # the module's models train first (bag, RNN, translator: ~2 s)
@pytest.mark.parametrize("body,code", [
    ({"texts": ["x"] * 9}, "too_many_texts"),
    ({"texts": ["x" * 501]}, "text_too_long"),
    ({"texts": []}, "invalid_request"),
    ({"texts": "a string, not a list"}, "invalid_request"),
    ({"texts": ["x"], "explian": True}, "invalid_request"),  # a typo is not silently ignored
    ({}, "invalid_request"),
])
def test_invalid_requests_and_text_limits_are_422(client, body, code):
    answer = client.post("/v1/models/bag/classify", json=body)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == code and error["message"]


@pytest.mark.slow  # the module's models train first (bag, RNN, translator: ~2 s)
@pytest.mark.parametrize("body", [{"texts": ["x"], "beam": 0}, {"texts": ["x"], "beam": 17}, {"texts": ["x"], "nbest": 0}])
def test_out_of_range_options_are_422(client, body):
    assert client.post("/v1/models/de-en/translate", json=body).status_code == 422


@pytest.mark.slow  # the module's models train first (bag, RNN, translator: ~2 s)
def test_bad_json_and_unknown_model_and_path(client):
    bad = client.post("/v1/models/bag/classify", content=b"{not json", headers={"content-type": "application/json"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"
    unknown = client.post("/v1/models/nope/classify", json={"texts": ["x"]})
    assert unknown.status_code == 404 and "bag" in unknown.json()["error"]["message"]
    assert client.get("/v2/whatever").json()["error"]["status"] == 404
    assert client.get("/v1/models/bag/classify").status_code == 405


@pytest.mark.slow  # the module's models train first (bag, RNN, translator: ~2 s)
def test_a_body_over_the_limit_is_413_declared_or_streamed(client):
    big = json.dumps({"texts": ["x" * 400] * 30}).encode()
    answer = client.post("/v1/models/bag/classify", content=big, headers={"content-type": "application/json"})
    assert answer.status_code == 413 and answer.json()["error"]["code"] == "body_too_large"

    def chunks():  # no Content-Length: the limit is counted while the body arrives
        for i in range(0, len(big), 1000):
            yield big[i: i + 1000]

    streamed = client.post("/v1/models/bag/classify", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413 and streamed.json()["error"]["code"] == "body_too_large"


def test_a_model_failure_is_a_json_500():
    class Broken(SlowClassifier):
        def predict(self, texts, batch_size=64):
            raise RuntimeError("boom")

    with TestClient(create_app([served("broken", Broken())], LIMITS)) as c:
        answer = c.post("/v1/models/broken/classify", json={"texts": ["x"]})
    assert answer.status_code == 500 and answer.json()["error"]["code"] == "inference_failed"


def test_a_full_queue_is_503_with_retry_after_and_a_slow_answer_is_504():
    model = SlowClassifier()
    model.release.clear()  # the model holds its first batch until released
    limits = ServeLimits(max_batch=1, max_wait_ms=0, max_queue=2, max_texts=2, timeout=30)
    with TestClient(app := create_app([served("slow", model)], limits)) as c:
        answers = {}

        def post(i):
            answers[i] = c.post("/v1/models/slow/classify", json={"texts": [f"good {i}"]})

        threads = [threading.Thread(target=post, args=(i,)) for i in range(3)]
        threads[0].start()
        wait_for(lambda: len(model.calls) == 1)  # running, held by the model
        for t in threads[1:]:
            t.start()
        wait_for(lambda: app.state.batchers["slow"].queued == 2)  # two queued: the queue is full
        full = c.post("/v1/models/slow/classify", json={"texts": ["one too many"]})
        model.release.set()
        for t in threads:
            t.join(10)
    assert full.status_code == 503 and full.json()["error"]["code"] == "queue_full"
    assert int(full.headers["retry-after"]) >= 1
    assert [answers[i].status_code for i in range(3)] == [200, 200, 200]

    with TestClient(create_app([served("slow", SlowClassifier(delay=1.0))], ServeLimits(timeout=0.2))) as c:
        late = c.post("/v1/models/slow/classify", json={"texts": ["x"]})
    assert late.status_code == 504 and late.json()["error"]["code"] == "timeout"


def wait_for(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


# ---------------------------------------------------------------------------- API key
@pytest.mark.slow  # the module's models train first (bag, RNN, translator: ~2 s)
def test_the_api_key_guards_every_route_but_health(models):
    with TestClient(create_app(models[:1], LIMITS, api_key="s3cret")) as c:
        good = {"Authorization": "Bearer s3cret"}
        assert c.get("/health").status_code == 200
        for method, path, body in [("GET", "/ready", None), ("GET", "/v1/models", None), ("GET", "/metrics", None),
                                   ("POST", "/v1/models/bag/classify", {"texts": ["a superb film"]})]:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret"}):
                denied = c.request(method, path, json=body, headers=headers)
                assert denied.status_code == 401, (path, headers)
                assert denied.json()["error"]["code"] == "unauthorized"
                assert denied.headers["www-authenticate"] == "Bearer"
            assert c.request(method, path, json=body, headers=good).status_code == 200, path
        assert c.get("/").status_code == 200  # the page is static; its calls carry the key


# ---------------------------------------------------------------------------- metrics
@pytest.mark.slow  # the module's models train first (bag, RNN, translator: ~2 s)
def test_metrics_count_what_was_sent(models):
    with TestClient(create_app(models[:1], LIMITS)) as c:
        for _ in range(3):
            assert c.post("/v1/models/bag/classify", json={"texts": ["a superb film", "dull"]}).status_code == 200
        assert c.post("/v1/models/bag/classify", json={"texts": []}).status_code == 422
        assert c.post("/v1/models/nope/classify", json={"texts": ["x"]}).status_code == 404
        assert c.get("/nowhere").status_code == 404
        text = c.get("/metrics").text
    route = "/v1/models/{name}/classify"
    assert metric(text, "seqlab_requests_total", route=route, status="200") == 3
    assert metric(text, "seqlab_requests_total", route=route, status="422") == 1
    assert metric(text, "seqlab_requests_total", route=route, status="404") == 1
    assert metric(text, "seqlab_requests_total", route="unmatched", status="404") == 1
    assert metric(text, "seqlab_request_errors_total", route=route, status="422") == 1
    assert metric(text, "seqlab_request_errors_total", route=route, status="200") is None
    assert metric(text, "seqlab_request_seconds_count", route=route) == 5
    assert metric(text, "seqlab_batch_texts_sum", model="bag") == 6  # every text sent went through a batch
    assert metric(text, "seqlab_queue_texts", model="bag") == 0
    assert metric(text, "seqlab_model_load_seconds", model="bag") > 0


# ---------------------------------------------------------------------------- what the URL and headers decide first
@pytest.fixture(scope="module")
def fakes():
    """A classifier, a tagger and a language model that answer at once (no training): the fast error tests."""
    with TestClient(create_app([served("slow", SlowClassifier()), served("tagger", FakeTagger()), served("lm", FakeLM())],
                               LIMITS)) as c:
        yield c


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "application/jsonx", "json"])
def test_a_body_that_is_not_declared_json_is_415(fakes, content_type):
    headers = {"content-type": content_type} if content_type else {}
    answer = fakes.post("/v1/models/slow/classify", content=b'{"texts": ["good"]}', headers=headers)
    assert answer.status_code == 415, answer.text
    error = answer.json()["error"]
    assert error["status"] == 415 and error["code"] == "unsupported_media_type"
    assert error["message"].startswith("expected application/json")


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON",
                                          "application/vnd.seqlab+json"])
def test_json_content_types_are_read(fakes, content_type):
    answer = fakes.post("/v1/models/slow/classify", content=b'{"texts": ["good"]}', headers={"content-type": content_type})
    assert answer.status_code == 200 and answer.json()["results"][0]["label"] == "pos"


@pytest.mark.parametrize("body", [
    b'{"texts": ["Hund rot."], "beam": 2}',  # valid for translate
    b'{"texts": ["Hund rot."], "beam": 99}',  # beyond translate's bounds
    b'{"texts": []}', b"{}", b'{"prompt": "x"}', b"[1, 2]", b"{not json", b"",
])
@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
def test_another_tasks_route_is_400_whatever_the_body(fakes, body, content_type):
    """The model's task is checked before the body is read: the body of a wrong route is no reason for a 422."""
    answer = fakes.post("/v1/models/slow/translate", content=body, headers={"content-type": content_type})
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "wrong_task" and "/v1/models/slow/classify" in error["message"]
    unknown = fakes.post("/v1/models/nope/translate", content=body, headers={"content-type": content_type})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_model"


def test_without_the_key_a_task_route_is_401_before_it_says_anything_else():
    """The checks that run before the body keep the key first: no model name or task is told to a stranger."""
    with TestClient(create_app([served("slow", SlowClassifier())], LIMITS, api_key="s3cret")) as c:
        cases = [("/v1/models/nope/classify", b'{"texts": ["x"]}', "application/json", 404),
                 ("/v1/models/slow/translate", b"{", "application/json", 400),
                 ("/v1/models/slow/classify", b'{"texts": ["x"]}', "text/plain", 415),
                 ("/v1/models/slow/classify", b'{"texts": 1}', "application/json", 422)]
        for path, body, content_type, status in cases:
            for key in ({}, {"Authorization": "Bearer wrong"}):
                denied = c.post(path, content=body, headers={"content-type": content_type, **key})
                assert denied.status_code == 401 and denied.json()["error"]["code"] == "unauthorized", path
            good = {"content-type": content_type, "Authorization": "Bearer s3cret"}
            assert c.post(path, content=body, headers=good).status_code == status, path


def test_head_of_the_page_is_200(fakes):
    answer = fakes.head("/")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("path,body", [
    ("/v1/models/slow/classify", '{"texts": ["good", "bad \\ud800 film"], "explain": true}'),
    ("/v1/models/slow/classify", '{"texts": ["good", "bad \\ud800 film"]}'),
    ("/v1/models/slow/classify", '{"texts": ["good", "bad \\udfff film"]}'),  # a lone low surrogate
    ("/v1/models/tagger/tag", '{"texts": ["Ada", "Ada \\ud800 Paris"]}'),
    ("/v1/models/lm/generate", '{"prompt": "bad \\ud800"}'),
    ("/v1/models/lm/generate", '{"prompt": "bad \\ud800", "stream": true}'),
])
def test_text_that_is_not_valid_unicode_is_422_naming_where(fakes, path, body):
    """JSON can spell a lone surrogate; Python decodes it into a str no encoder writes: refused, never a 500."""
    answer = fakes.post(path, content=body.encode(), headers={"content-type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/json"
    error = answer.json()["error"]
    text = 0 if "prompt" in body else 1
    assert error["code"] == "invalid_text"
    assert f"text {text} " in error["message"] and "character 4 " in error["message"]


def test_a_surrogate_pair_is_one_valid_character(fakes):
    body = b'{"texts": ["Ada \\ud83d\\ude00 Paris"]}'  # U+1F600, spelled as JSON spells it
    answer = fakes.post("/v1/models/tagger/tag", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 200 and answer.json()["results"][0]["tokens"] == ["Ada", "\U0001f600", "Paris"]


def test_the_server_and_seqlab_generate_share_one_max_tokens_cap(fakes, capsys):
    from seqlab.cli import main
    from seqlab.tasks.lm import commands
    from seqlab.tasks.lm import serve as lm_serve

    limit = commands.MAX_NEW_TOKENS
    assert lm_serve.MAX_NEW_TOKENS == limit
    assert fakes.post("/v1/models/lm/generate", json={"prompt": "x", "max_tokens": limit}).status_code == 200
    for over in (0, limit + 1):
        answer = fakes.post("/v1/models/lm/generate", json={"prompt": "x", "max_tokens": over})
        assert answer.status_code == 422 and answer.json()["error"]["message"].startswith("max_tokens: ")
        assert main(["generate", "/no/such/lm", "--max-tokens", str(over)]) == 2  # refused before the model loads
        assert f"seqlab: error: --max-tokens must be between 1 and {limit} (got {over})" in capsys.readouterr().err


def test_the_app_serves_again_when_its_lifespan_starts_again(fakes):
    """A test client entered twice (or schemathesis, which ends the lifespan after each test) runs the startup
    again after a shutdown: the drained batchers take work again instead of answering 503 for ever."""
    app = create_app([served("slow", SlowClassifier())], LIMITS)
    for _ in range(2):
        with TestClient(app) as c:
            assert c.get("/ready").status_code == 200
            assert c.post("/v1/models/slow/classify", json={"texts": ["good"]}).status_code == 200
