"""Fuzzing the server, bounded and reproducible (a fixed seed, a fixed number of requests per route).

1. Schemathesis reads the OpenAPI schema the app serves and generates requests for every route of every task, valid
   ones and (its negative mode) invalid ones, sent to the app in-process: to each task's own models (tiny real ones:
   bag and RNN classifiers, an RNN translator, an RNN language model and a tagger; and the fakes of
   ``serve_models``), to a model of another task and to an unknown one. No answer may be a 5xx; every 4xx is
   ``{"error": {"status", "code", "message"}}`` with its own status; status codes, content types and bodies are the
   ones the schema documents (schemathesis' own checks).
2. Hypothesis sends what no schema describes: arbitrary bytes, any content type, JSON with lone surrogates, NaN,
   huge numbers and wrong types in every field a route has; the same two rules hold.

The counts of what was sent are printed at the end of the module (``pytest -s``).
"""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest

pytest.importorskip("fastapi")
schemathesis = pytest.importorskip("schemathesis")
from fastapi.testclient import TestClient  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import (  # noqa: E402
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from serve_models import FakeLM, FakeTagger, bag_dir, rnn_dir, translator_dir  # noqa: E402

import seqlab  # noqa: E402
from seqlab.serve.app import create_app  # noqa: E402
from seqlab.serve.handlers import handlers, routes  # noqa: E402
from seqlab.serve.limits import ServeLimits  # noqa: E402
from seqlab.serve.loading import load_models, served  # noqa: E402

pytestmark = [pytest.mark.serve, pytest.mark.slow]  # tiny models train first; then ~1,000 requests

LIMITS = ServeLimits(max_texts=8, max_chars=500, max_body=16_384, max_wait_ms=1, timeout=30)
TASK_ROUTES = sorted(routes())  # classify, embed, generate, tag, translate (and any task registered before this module)
OPERATIONS = ["GET /health", "GET /ready", "GET /v1/models", "GET /v1/models/{name}", "GET /metrics",
              *(f"POST /v1/models/{{name}}/{route}" for route in TASK_ROUTES)]
PER_TASK_ROUTE, PER_OTHER_ROUTE, RAW_REQUESTS, WITHOUT_KEY = 150, 10, 600, 20
# schemathesis' checks, but for one: the server's limits (--max-texts, --max-chars) and a model refusing an empty
# prompt are 422s that no static schema can tell, so a schema-valid request may rightly be refused
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, negative_data_rejection]
FUZZ = settings(derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
SENT: Counter = Counter()  # (operation, status) -> requests


# ---------------------------------------------------------------------------- the models and the app
def _tiny_lm(folder) -> object:
    rng = random.Random(0)
    words = "the a cat dog sat ran on under mat tree and big small".split()
    text = folder / "story.txt"
    text.write_text("".join(" ".join(rng.choices(words, k=rng.randint(3, 10))) + "\n" for _ in range(200)),
                    encoding="utf-8")
    seqlab.train("lm", folder / "lm", data=str(text), emb_size=16, hidden_size=16, batch_size=4, bptt=12, epochs=1,
                 max_time=None, threads=1, progress=False, log=lambda *_: None)
    return folder / "lm"


def _tiny_tagger(folder) -> object:
    from test_tag_task import write_conll

    (folder / "ner").mkdir()
    write_conll(folder / "ner" / "train.txt", 120, seed=1)
    write_conll(folder / "ner" / "dev.txt", 20, seed=2)
    seqlab.train("tag", folder / "tagger", data=str(folder / "ner"), embeddings=None, emb_size=8, case_emb_size=2,
                 char_emb_size=4, char_filters=4, hidden_size=8, batch_size=16, epochs=1, max_time=None, threads=1,
                 progress=False, log=lambda *_: None)
    return folder / "tagger"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz-models")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEQLAB_CACHE", str(folder / "cache"))
        lm, tagger = _tiny_lm(folder), _tiny_tagger(folder)
    loaded = load_models([str(bag_dir()), str(rnn_dir()), f"de-en={translator_dir()}", f"lm={lm}", f"ner={tagger}"],
                         log=lambda *_: None)
    return [*loaded, served("fake-tagger", FakeTagger()), served("fake-lm", FakeLM())]


@pytest.fixture(scope="module")
def api(models):
    """The schema as the app serves it; schemathesis runs the app's lifespan and sends each request in-process."""
    app = create_app(models, LIMITS)
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    from schemathesis.python import asgi

    asgi.shutdown_lifespans()  # the batchers' threads stop with this module


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    if SENT:
        by_operation = Counter()
        for (operation, _), n in SENT.items():
            by_operation[operation] += n
        lines = [f"  {op}: {n} ({', '.join(f'{s}: {SENT[op, s]}' for s in sorted(s for o, s in SENT if o == op))})"
                 for op, n in sorted(by_operation.items())]
        print(f"\nfuzzed {sum(SENT.values())} requests, no 5xx:\n" + "\n".join(lines))


def _tasks_of(route: str) -> set[str]:
    return set(routes()[route])  # embed: every task with vectors of a text


def _names(models, route: str) -> list[str]:
    """The models a route is sent to: mostly its own tasks' (their answers are the point), another task's (when
    there is one), none."""
    own = [m.name for m in models if m.task in _tasks_of(route)]
    other = [m.name for m in models if m.task not in _tasks_of(route)][:1]
    return own * 4 + other + ["nope"]


def _error_shape(status: int, content_type: str, body: bytes) -> None:
    assert status < 500, body[:300]
    if status >= 400:
        assert content_type.startswith("application/json"), content_type
        error = json.loads(body)["error"]
        assert set(json.loads(body)) == {"error"} and error["status"] == status, body[:300]
        assert isinstance(error["code"], str) and error["code"] and isinstance(error["message"], str) and error["message"]


# ---------------------------------------------------------------------------- 1. from the schema
def test_the_fuzzing_covers_every_operation_of_the_schema(api):
    assert sorted(result.ok().label for result in api.get_all_operations()) == sorted(OPERATIONS)


@pytest.mark.parametrize("operation", OPERATIONS)
def test_no_generated_request_gets_a_5xx_and_every_error_is_json(api, models, operation):
    method, path = operation.split(" ", 1)
    endpoint = api[path][method]
    if "{name}" not in path:
        names: list[str | None] = [None]
        examples = PER_OTHER_ROUTE
    elif path == "/v1/models/{name}":
        names, examples = [m.name for m in models] + ["nope"], PER_OTHER_ROUTE
    else:
        names, examples = _names(models, path.rsplit("/", 1)[1]), PER_TASK_ROUTE
    cases = st.one_of([endpoint.as_strategy(mode, path_parameters={"name": name} if name else None)
                       for name in names for mode in GenerationMode])

    @settings(FUZZ, max_examples=examples)
    @given(case=cases)
    def fuzz(case):
        response = case.call()
        SENT[operation, response.status_code] += 1
        content_type = (response.headers.get("content-type") or [""])[0]
        _error_shape(response.status_code, content_type, response.content)
        case.validate_response(response, checks=CHECKS)

    fuzz()


# ---------------------------------------------------------------------------- 2. what no schema describes
@pytest.fixture(scope="module")
def client(models):
    with TestClient(create_app(models, LIMITS), raise_server_exceptions=False) as c:
        yield c


SURROGATES = st.sampled_from(["\ud800", "\udbff", "\udc00", "\udcff", "\udfff"])  # JSON spells them, UTF-8 cannot
ANY_TEXT = st.lists(st.one_of(st.text(max_size=8), SURROGATES), max_size=6).map("".join)  # lone ones, or pairs
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True) | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4), max_leaves=12)
FIELDS = sorted({name for h in handlers() for name in h.request_model.model_fields})  # texts, prompt, beam, ...
REQUESTS = st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES | st.lists(ANY_TEXT, min_size=1, max_size=9), max_size=5)
NEARLY_VALID = st.one_of(  # the right shapes, with any text in them (lone surrogates: 422, never a 500)
    st.fixed_dictionaries({"texts": st.lists(ANY_TEXT, min_size=1, max_size=3)}, optional={"explain": st.booleans()}),
    st.fixed_dictionaries({"prompt": ANY_TEXT}, optional={"max_tokens": st.integers(1, 8), "stream": st.booleans()}))
BODIES = st.one_of(
    st.binary(max_size=200),  # not JSON at all, maybe not even UTF-8
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),  # any JSON (NaN and Infinity too: Python's parser takes them)
    REQUESTS.map(lambda r: json.dumps(r).encode()),  # the routes' own fields with any values
    NEARLY_VALID.map(lambda r: json.dumps(r).encode()),
)
CONTENT_TYPES = st.one_of(st.just("application/json"),
                          st.sampled_from(["application/json; charset=utf-8", "text/plain", "application/problem+json",
                                           "application/x-www-form-urlencoded", None]),
                          st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=30))


def test_no_raw_request_gets_a_5xx_and_every_error_is_json(client, models):
    codes: Counter = Counter()
    targets = st.sampled_from(TASK_ROUTES).flatmap(lambda r: st.tuples(st.just(r), st.sampled_from(_names(models, r))))

    @settings(FUZZ, max_examples=RAW_REQUESTS)
    @given(target=targets, body=BODIES, content_type=CONTENT_TYPES)
    def fuzz(target, body, content_type):
        route, name = target
        headers = {"content-type": content_type} if content_type is not None else {}
        answer = client.post(f"/v1/models/{name}/{route}", content=body, headers=headers)
        SENT[f"POST /v1/models/{{name}}/{route} (raw)", answer.status_code] += 1
        _error_shape(answer.status_code, answer.headers.get("content-type", ""), answer.content)
        codes[answer.json()["error"]["code"] if answer.status_code >= 400 else answer.status_code] += 1
        if answer.status_code == 200 and answer.headers["content-type"].startswith("application/json"):
            answer.content.decode("utf-8")  # what was answered is valid UTF-8 JSON
            answer.json()

    fuzz()
    assert {200, "invalid_text", "unsupported_media_type", "wrong_task", "unknown_model"} <= set(codes), codes


def test_with_a_key_no_generated_request_without_it_gets_further_than_401(models):
    """With ``--api-key``, whatever schemathesis sends (it knows the scheme from the schema, not the key) is a 401
    in the error shape, but for /health; nothing about the models is told."""
    api = schemathesis.openapi.from_asgi("/openapi.json", create_app(models, LIMITS, api_key="s3cret"))
    statuses: Counter = Counter()
    for result in api.get_all_operations():
        statuses.update(_fuzz_without_key(result.ok()))
    assert statuses[401] > 0 and set(statuses) <= {200, 401}, statuses  # 200 only for /health


def _fuzz_without_key(endpoint) -> Counter:
    seen: Counter = Counter()
    names = {"name": "bag"} if "{name}" in endpoint.path else None
    cases = st.one_of([endpoint.as_strategy(mode, path_parameters=names) for mode in GenerationMode])

    @settings(FUZZ, max_examples=WITHOUT_KEY)
    @given(case=cases)
    def fuzz(case):
        case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"} or None
        response = case.call()
        SENT[f"{endpoint.label} (no key)", response.status_code] += 1
        content_type = (response.headers.get("content-type") or [""])[0]
        _error_shape(response.status_code, content_type, response.content)
        assert response.status_code == (200 if endpoint.path == "/health" else 401), response.content[:200]
        case.validate_response(response, checks=CHECKS)  # the 401 is documented, with its JSON shape
        seen[response.status_code] += 1

    fuzz()
    return seen
