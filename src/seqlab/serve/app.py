"""The FastAPI app: routes, authentication, limits, metrics and the web page, around one batcher per model.

Routes (JSON in and out; OpenAPI schema at ``/docs``):

- ``GET /health``: the process is alive (never needs the API key).
- ``GET /ready``: every model is loaded and its worker is running (503 while starting or draining).
- ``GET /v1/models``, ``GET /v1/models/{name}``: task, routes, labels or languages, config summary, metrics.json.
- ``POST /v1/models/{name}/{route}``: the routes each registered task declares in its ``serve.py``;
  requests are validated, limited, queued in the model's micro-batcher and answered with their own results.
- ``GET /metrics``: Prometheus text format.
- ``GET /``, ``HEAD /``: the web page to try the models (static: it holds no data; its calls send the key when one
  is set).

A task route answers what its URL and headers decide before it reads the body: 401 (the key), 404 (no such model),
400 ``wrong_task`` (a model of another task, whatever the body), 415 (not ``application/json``); then 422 for a body
that is not valid for the route, or holds text that is not valid Unicode (a lone surrogate such as ``"\\ud800"``).

With an API key every route but ``/health``, the page and the API docs needs ``Authorization: Bearer <key>``,
compared in constant time (hashes of equal length, ``hmac.compare_digest``).
"""

import asyncio
import hashlib
import hmac
import itertools
import json
import logging
import threading
from collections.abc import Awaitable, Callable, Generator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from seqlab import __version__
from seqlab.errors import SeqlabError

from .batcher import MicroBatcher, QueueFull, ShuttingDown
from .errors import ApiError, error_body, error_response, install_error_handlers
from .guards import BodyLimitMiddleware, check_json_content_type, check_texts
from .handlers import Handler
from .handlers import routes as task_routes
from .limits import ServeLimits
from .loading import ServedModel
from .metrics import MetricsMiddleware, ServeMetrics
from .page import page_html
from .schemas import ModelInfo, ModelList, error_responses, finite

log = logging.getLogger("seqlab.serve")
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # no proxy may hold the stream back


def create_app(models: list[ServedModel], limits: ServeLimits | None = None, api_key: str | None = None) -> FastAPI:
    """An app serving already loaded ``models`` (see :func:`seqlab.serve.loading.load_models`)."""
    limits = (limits or ServeLimits()).validate()
    metrics = ServeMetrics()
    by_name = {m.name: m for m in models}
    if len(by_name) != len(models):
        raise SeqlabError("two served models share a name")
    routes = task_routes()
    batchers = {m.name: MicroBatcher(m.name, _runner(m.predictor, routes), max_batch=limits.max_batch,
                                     max_wait=limits.max_wait_ms / 1000, max_queue=limits.max_queue,
                                     on_batch=metrics.batch_observer(m.name)) for m in models}
    for m in models:
        metrics.add_model(m.name, m.load_seconds, lambda b=batchers[m.name]: b.queued)
    state = {"ready": False}

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        for batcher in batchers.values():
            batcher.start(reopen=True)  # a lifespan may run again after a shutdown (test clients do)
        state["ready"] = True
        try:
            yield
        finally:  # uvicorn has waited for open requests; now let every queued batch finish
            state["ready"] = False
            await asyncio.to_thread(_close_all, list(batchers.values()), limits.timeout)

    app = FastAPI(title="seqlab", version=__version__, lifespan=lifespan,
                  description="Serve seqlab model directories: each task's routes, micro-batched.")
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_body=limits.max_body)
    app.add_middleware(MetricsMiddleware, metrics=metrics)  # outermost: counts 413s too
    app.state.metrics, app.state.batchers, app.state.limits = metrics, batchers, limits

    check_key, authorize = _bearer(api_key) if api_key else (None, None)
    public = APIRouter()
    protected = APIRouter(dependencies=[Depends(check_key)] if check_key else [],
                          responses=error_responses(e401="missing or wrong API key") if check_key else None)

    @public.get("/health", summary="The process is alive")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @public.api_route("/", methods=["GET", "HEAD"], response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(page_html())

    @protected.get("/ready", summary="Every model is loaded and its worker runs",
                   responses=error_responses(e503="starting or shutting down"))
    async def ready() -> Any:
        if not state["ready"] or not all(b.alive for b in batchers.values()):
            return error_response(503, "not_ready", "the server is starting or shutting down")
        return {"ready": True, "models": list(by_name)}

    @protected.get("/v1/models", response_model=ModelList, summary="The models served")
    async def list_models() -> Any:
        return {"models": [m.info for m in models]}

    @protected.get("/v1/models/{name}", response_model=ModelInfo, summary="One model",
                   responses=error_responses(e404="no such model"))
    async def get_model(name: str) -> Any:
        return _model(by_name, name).info

    @protected.get("/metrics", summary="Prometheus metrics", response_class=Response,  # errors stay JSON
                   responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                                    "description": "the Prometheus text format"}})
    async def prometheus() -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    for by_task in routes.values():
        _add_task_route(protected, by_task, routes, by_name, batchers, limits, authorize)
    app.include_router(public)
    app.include_router(protected)
    return app


def _close_all(batchers: list[MicroBatcher], timeout: float) -> None:
    for batcher in batchers:
        batcher.close(timeout)


def _runner(predictor: Any, routes: dict[str, dict[str, Handler]]):
    """The batcher's ``run_batch``: the key is (route, options); the route's handler of the model's task runs it."""

    def run(key: tuple, texts: list[str]) -> list[Any]:
        route, options = key
        return routes[route][predictor.task].infer(predictor, options, texts)

    return run


def _bearer(api_key: str):
    """The key check as a dependency (it documents the scheme in the OpenAPI schema) and as a function of a request
    (a task route runs it before anything else: see :func:`_checked_first`)."""
    expected = hashlib.sha256(api_key.encode()).digest()
    scheme = HTTPBearer(auto_error=False, description="the server's --api-key (or SEQLAB_API_KEY)")

    async def check(credentials: HTTPAuthorizationCredentials | None = Depends(scheme)) -> None:
        given = credentials.credentials if credentials is not None else ""
        # equal-length digests: the comparison time says nothing about the key or its length
        if not hmac.compare_digest(hashlib.sha256(given.encode()).digest(), expected):
            raise ApiError(401, "unauthorized", "missing or wrong API key: send 'Authorization: Bearer <key>'",
                           headers={"WWW-Authenticate": "Bearer"})

    async def authorize(request: Request) -> None:
        await check(await scheme(request))

    return check, authorize


def _model(by_name: dict[str, ServedModel], name: str) -> ServedModel:
    served = by_name.get(name)
    if served is None:
        known = ", ".join(sorted(by_name)) or "none"
        raise ApiError(404, "unknown_model", f"no model named {name!r} is served (served: {known})")
    return served


def _checked_first(check: Callable[[Request], Awaitable[None]]) -> type[APIRoute]:
    """A route class whose requests go through ``check`` before FastAPI reads and validates the body: what the URL
    and the headers decide (the key, the model, its task, the content type) is answered whatever the body holds."""

    class CheckedFirst(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Any]:
            handle = super().get_route_handler()

            async def checked(request: Request) -> Response:
                await check(request)
                return await handle(request)

            return checked

    return CheckedFirst


def _add_task_route(router: APIRouter, by_task: dict[str, Handler], routes: dict[str, dict[str, Handler]],
                    by_name: dict[str, ServedModel], batchers: dict[str, MicroBatcher], limits: ServeLimits,
                    authorize: Callable[[Request], Awaitable[None]] | None = None) -> None:
    route = next(iter(by_task.values()))  # what its tasks share: the path, the models, the summary
    request_model = route.request_model  # a real class in the signature: FastAPI validates and documents it

    async def check_first(request: Request) -> None:
        """401 without the key, 404 for an unknown model, 400 for another task's model or one without what the route
        needs, 415 for a body that is not JSON, in this order and before the body is read (else a body invalid for
        this route would be a 422)."""
        if authorize is not None:
            await authorize(request)
        name = request.path_params["name"]
        served = _model(by_name, name)
        handler = by_task.get(served.task)
        if handler is None:
            answers = ", ".join(f"/v1/models/{name}/{r}" for r, tasks in routes.items()
                                if served.task in tasks and tasks[served.task].unavailable(served.predictor) is None)
            needs = " or ".join(repr(t) for t in by_task)
            raise ApiError(400, "wrong_task", f"model {name!r} is a {served.task!r} model: "
                                              f"{route.route} needs a {needs} model "
                                              f"(this one answers {answers})")
        why = handler.unavailable(served.predictor)
        if why is not None:
            raise ApiError(400, "not_supported", f"model {name!r} cannot answer {route.route}: {why}")
        check_json_content_type(request.headers.get("content-type"))

    async def endpoint(name: str, body: request_model) -> Any:  # type: ignore[valid-type]
        served = _model(by_name, name)  # known, and of one of this route's tasks: check_first ran before
        handler = by_task[served.task]
        texts = handler.texts(body)
        check_texts(texts, limits)
        options = handler.options(served.predictor, body)
        batcher = batchers[name]
        if handler.streams(body):
            return await _stream(handler, served, body, batcher, limits)
        with _mapped_errors(name, limits):
            results = await batcher.run((handler.route, options), texts, limits.timeout)
        return handler.respond(name, body, results)

    responses = error_responses(e400="the model has another task, or lacks what the route needs",
                                e404="no such model", e413="body too large", e415="the body is not application/json",
                                e422="invalid request or over a limit",
                                e503="queue full (see Retry-After) or shutting down", e504="timed out")
    if route.streaming:
        responses[200] = {"content": {"text/event-stream": {}}, "description": "JSON, or SSE when stream is true"}
    router.add_api_route(f"/v1/models/{{name}}/{route.route}", endpoint, methods=["POST"],
                         response_model=route.response_model, summary=route.summary, name=route.route,
                         responses=responses, route_class_override=_checked_first(check_first))


@contextmanager
def _mapped_errors(name: str, limits: ServeLimits):
    """Batcher and model failures -> JSON errors: 503 queue full / draining, 504 timeout, 422 bad input, 500."""
    try:
        yield
    except ApiError:
        raise
    except QueueFull as exc:
        raise ApiError(503, "queue_full", f"model {name!r} has {exc.queued} texts waiting (--max-queue "
                                          f"{limits.max_queue}); retry after {exc.retry_after}s",
                       headers={"Retry-After": str(exc.retry_after)}) from None
    except ShuttingDown as exc:
        raise ApiError(503, "shutting_down", str(exc), headers={"Retry-After": "1"}) from None
    except TimeoutError:
        raise ApiError(504, "timeout", f"no answer within {limits.timeout:g}s (--timeout); the server is busy "
                                       "or the request is large") from None
    except SeqlabError as exc:
        raise ApiError(422, "invalid_request", str(exc)) from None
    except Exception as exc:
        log.error("model %s failed", name, exc_info=exc)
        raise ApiError(500, "inference_failed", f"model {name!r} failed: {type(exc).__name__}") from None


async def _stream(handler: Handler, served: ServedModel, body: Any, batcher: MicroBatcher,
                  limits: ServeLimits) -> StreamingResponse:
    """Server-Sent Events: the model's thread pushes tokens into an asyncio queue as it makes them.

    The stream holds the model's thread (queued like a batch, run alone). The status is decided before the
    first byte: 503/504 as for any request if it cannot start in time; once started, a failure is an
    ``error`` event. A client that goes away stops the generation at its next token.
    """
    loop = asyncio.get_running_loop()
    events: asyncio.Queue = asyncio.Queue()
    stop = threading.Event()

    def put(kind: str, data: Any) -> None:
        try:
            loop.call_soon_threadsafe(events.put_nowait, (kind, data))
        except RuntimeError:  # the loop is gone (shutdown): nobody is listening
            stop.set()

    def produce() -> None:
        try:  # a bad prompt fails before the first token, while a proper status can still be answered
            tokens = iter(handler.stream(served.predictor, body))
            first = next(tokens, None)
        except Exception as exc:
            put("fail", exc)
            return
        put("start", None)
        pieces = []
        try:
            for token in itertools.chain([] if first is None else [first], tokens):
                if stop.is_set():
                    return
                token = finite(dict(token))
                pieces.append(str(token.get("text", token.get("token", ""))))  # "text": the token as it reads
                put("token", token)
            put("done", {"text": "".join(pieces)})
        except Exception as exc:  # after the first byte the status is sent: report in the stream
            log.error("model %s failed while streaming", served.name, exc_info=exc)
            put("error", error_body(500, "inference_failed", f"model {served.name!r} failed: {type(exc).__name__}"))
        finally:
            if isinstance(tokens, Generator):
                tokens.close()  # a generator left early runs its clean-up now, on the model's thread

    with _mapped_errors(served.name, limits):
        job = batcher.call(produce)
        try:  # "start": our turn on the model came and the first token is made
            kind, data = await asyncio.wait_for(events.get(), limits.timeout)
        except (TimeoutError, asyncio.CancelledError):
            stop.set()
            batcher.cancel(job)
            raise
        if kind == "fail":
            raise data

    async def sse():
        try:
            while True:
                kind, data = await events.get()
                yield f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
                if kind in ("done", "error"):
                    return
        finally:
            stop.set()

    return StreamingResponse(sse(), media_type="text/event-stream", headers=SSE_HEADERS)


__all__ = ["create_app"]
