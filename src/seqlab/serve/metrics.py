"""Prometheus metrics (``GET /metrics``): requests and errors by route and status, latency, batch sizes, queue depth,
inference time and model load time. Each app has its own registry, so several apps (tests) never collide."""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.routing import Route

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
DOC_PATHS = ("/docs", "/openapi.json", "/docs/oauth2-redirect", "/redoc")  # Starlette routes, no route object
UNMATCHED = "unmatched"  # the route label of requests for paths the app does not have (keeps label values bounded)


class ServeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("seqlab_requests", "HTTP requests answered, by route and status",
                                ["route", "status"], registry=r)
        self.errors = Counter("seqlab_request_errors", "HTTP requests answered with a status of 400 or more",
                              ["route", "status"], registry=r)
        self.latency = Histogram("seqlab_request_seconds", "time from request to the last byte of the answer",
                                 ["route"], buckets=LATENCY_BUCKETS, registry=r)
        self.batch_texts = Histogram("seqlab_batch_texts", "texts per model call (dynamic micro-batching)",
                                     ["model"], buckets=BATCH_BUCKETS, registry=r)
        self.batch_seconds = Histogram("seqlab_batch_seconds", "time of one model call", ["model"],
                                       buckets=LATENCY_BUCKETS, registry=r)
        self.queue_wait = Histogram("seqlab_queue_wait_seconds", "how long the oldest request of a batch waited",
                                    ["model"], buckets=LATENCY_BUCKETS, registry=r)
        self.queue_depth = Gauge("seqlab_queue_texts", "texts waiting for their model", ["model"], registry=r)
        self.load_seconds = Gauge("seqlab_model_load_seconds", "time to load the model directory", ["model"],
                                  registry=r)

    def add_model(self, name: str, load_seconds: float, queued) -> None:
        """Register a served model: its load time and a callable giving its queue depth at scrape time."""
        self.load_seconds.labels(name).set(load_seconds)
        self.queue_depth.labels(name).set_function(queued)

    def batch_observer(self, name: str):
        texts, seconds, wait = self.batch_texts.labels(name), self.batch_seconds.labels(name), self.queue_wait.labels(name)

        def observe(count: int, waited: float, took: float) -> None:
            texts.observe(count)
            wait.observe(waited)
            seconds.observe(took)

        return observe

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route, str(status)).inc()
        if status >= 400:
            self.errors.labels(route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Pure ASGI middleware timing every request to its last byte (a token stream included) and counting it
    under its route template (``/v1/models/{name}/<route>``), never the raw path."""

    def __init__(self, app, metrics: ServeMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500

        async def send_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")  # FastAPI's routes put themselves in the scope
            label = route.path if isinstance(route, Route) else None
            if label is None:
                label = scope["path"] if scope["path"] in DOC_PATHS else UNMATCHED
            self.metrics.observe_request(label, status, time.perf_counter() - started)
