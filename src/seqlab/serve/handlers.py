"""The contract of a task's route (``/v1/models/{name}/<route>``) and where the server finds the routes.

Each task declares its routes in its own ``serve.py`` (``seqlab/tasks/<name>/serve.py``, a list ``ROUTES`` of
:class:`Handler`): its request and response models, how a request becomes texts plus a batching key (the options that
must be equal within one model call), how to run a batch on the model (called on the model's worker thread, never on
the event loop), and how the results become the answer. The app builds its routes from :func:`routes`; nothing in
the server knows a task by name. Several tasks may declare one route (``embed``: :mod:`.embed`) when they declare it
with the same request and response models: the server answers it with the handler of the served model's task.
"""

from __future__ import annotations

import importlib
from collections.abc import Hashable, Iterator
from typing import Any, ClassVar

from pydantic import BaseModel

from .schemas import finite

WARMUP_TEXT = "warm up"


class Handler:
    """The contract of one task route; subclasses set the class attributes and override what they need."""

    route: ClassVar[str]  # the last path segment: /v1/models/{name}/<route>
    task: str = ""  # the task whose serve.py declares it (set when the server collects the routes)
    request_model: ClassVar[type[BaseModel]]
    response_model: ClassVar[type[BaseModel]]
    summary: ClassVar[str]
    streaming: ClassVar[bool] = False  # may answer with Server-Sent Events (documented in the OpenAPI schema)

    def texts(self, request: Any) -> list[str]:
        """The texts of a request (what the limits count and what a batch concatenates)."""
        return request.texts

    def options(self, predictor: Any, request: Any) -> tuple[Hashable, ...]:
        """The options that must be equal within a batch (defaults resolved); raise ApiError(422) if invalid."""
        return ()

    def infer(self, predictor: Any, options: tuple, texts: list[str]) -> list[dict[str, Any]]:
        """Run the model on a batch (worker thread): one result per text, in order."""
        raise NotImplementedError

    def respond(self, name: str, request: Any, results: list[dict[str, Any]]) -> dict[str, Any]:
        return {"model": name, "results": finite(results)}

    def streams(self, request: Any) -> bool:
        return False

    def stream(self, predictor: Any, request: Any) -> Iterator[dict[str, Any]]:
        raise NotImplementedError

    def unavailable(self, predictor: Any) -> str | None:
        """Why this model of the route's task cannot answer the route (a capability it does not declare), or None.
        Answered as a 400 ``not_supported`` before the body is read, and the route is left out of its model info."""
        return None

    def warmup(self, predictor: Any) -> None:
        """Pay one-time costs (kernel set-up, lazy tables) before the first request does."""

    def describe(self, predictor: Any) -> dict[str, Any]:
        """What ``GET /v1/models`` adds about a model of this route's task (labels, languages, ...)."""
        return {}


def handlers() -> list[Handler]:
    """Every registered task's routes, one handler per (task, route) (each task's ``serve.py``, imported here, not
    before), with ``task`` set."""
    import seqlab.tasks  # noqa: F401  (registers the built-in tasks)
    from seqlab.tasks.base import TASKS
    found: list[Handler] = []
    for spec in TASKS.values():
        try:
            module = importlib.import_module(f"{spec.package}.serve")
        except ModuleNotFoundError as exc:
            if exc.name != f"{spec.package}.serve":
                raise
            continue  # a task without routes
        for handler in module.ROUTES:
            if any(h is handler for h in found):
                raise RuntimeError(f"task {spec.name!r} declares a route object that another task declares too: "
                                   f"give each task its own {type(handler).__name__}()")
            handler.task = spec.name
            found.append(handler)
    return found


def routes() -> dict[str, dict[str, Handler]]:
    """route -> task -> its handler. Tasks that share a route must give it the same request and response models (one
    URL has one schema); two handlers of one task for one route are an error."""
    found: dict[str, dict[str, Handler]] = {}
    for handler in handlers():
        by_task = found.setdefault(handler.route, {})
        if handler.task in by_task:
            raise RuntimeError(f"task {handler.task!r} declares the route {handler.route!r} twice")
        first = next(iter(by_task.values()), None)
        if first is not None and (first.request_model, first.response_model) != (handler.request_model,
                                                                                 handler.response_model):
            raise RuntimeError(f"tasks {first.task!r} and {handler.task!r} both declare the route {handler.route!r} "
                               "with different request or response models")
        by_task[handler.task] = handler
    return found


def handlers_for(predictor: Any) -> list[Handler]:
    """The routes a model answers: those of its task that it has what they need for."""
    return [h for h in handlers() if h.task == predictor.task and h.unavailable(predictor) is None]


def routes_for(task: str) -> list[str]:
    return [h.route for h in handlers() if h.task == task]
