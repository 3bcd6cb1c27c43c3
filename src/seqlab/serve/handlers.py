"""The contract of a task's route (``/v1/models/{name}/<route>``) and where the server finds the routes.

Each task declares its routes in its own ``serve.py`` (``seqlab/tasks/<name>/serve.py``, a list ``ROUTES`` of
:class:`Handler`): its request and response models, how a request becomes texts plus a batching key (the options that
must be equal within one model call), how to run a batch on the model (called on the model's worker thread, never on
the event loop), and how the results become the answer. The app builds its routes from :func:`handlers`; nothing in
the server knows a task by name.
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

    def warmup(self, predictor: Any) -> None:
        """Pay one-time costs (kernel set-up, lazy tables) before the first request does."""

    def describe(self, predictor: Any) -> dict[str, Any]:
        """What ``GET /v1/models`` adds about a model of this route's task (labels, languages, ...)."""
        return {}


def handlers() -> dict[str, Handler]:
    """Every registered task's routes, by route name (each task's ``serve.py``, imported here, not before)."""
    import seqlab.tasks  # noqa: F401  (registers the built-in tasks)
    from seqlab.tasks.base import TASKS
    found: dict[str, Handler] = {}
    for spec in TASKS.values():
        try:
            module = importlib.import_module(f"{spec.package}.serve")
        except ModuleNotFoundError as exc:
            if exc.name != f"{spec.package}.serve":
                raise
            continue  # a task without routes
        for handler in module.ROUTES:
            if handler.route in found:
                raise RuntimeError(f"tasks {found[handler.route].task!r} and {spec.name!r} both declare the route "
                                   f"{handler.route!r}")
            handler.task = spec.name
            found[handler.route] = handler
    return found


def routes_for(task: str) -> list[str]:
    return [h.route for h in handlers().values() if h.task == task]
