"""The models a server serves: ``DIR`` or ``NAME=DIR`` arguments, each loaded once at start and described for
``GET /v1/models``. Nothing is loaded later: no request can name a filesystem path."""

from __future__ import annotations

import re
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqlab.errors import SeqlabError
from seqlab.reports import training_metrics  # torch-free: exports are served without torch

from .handlers import handlers_for
from .schemas import finite

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")  # fits a URL path segment as it is


@dataclass
class ServedModel:
    name: str
    predictor: Any
    model_dir: Path | None = None
    load_seconds: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def task(self) -> str:
        return self.predictor.task


def parse_spec(spec: str) -> tuple[str, Path]:
    """``runs/imdb-bag`` -> (``imdb-bag``, path); ``bag=runs/imdb-bag`` -> (``bag``, path)."""
    name, sep, path = spec.partition("=")
    if not sep:
        name, path = Path(spec.rstrip("/")).name, spec
    if not NAME.match(name):
        raise SeqlabError(f"model name {name!r} (from {spec!r}): use letters, digits, '.', '_' or '-' "
                          "(name it with NAME=DIR)")
    return name, Path(path)


def parse_specs(specs: list[str]) -> list[tuple[str, Path]]:
    named = [parse_spec(s) for s in specs]
    names = [n for n, _ in named]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SeqlabError(f"two models are named {', '.join(duplicates)}; name them apart with NAME=DIR")
    return named


def load_models(specs: list[str], device: str = "cpu", warmup: bool = True, log=print,
                precision: str = "fp32") -> list[ServedModel]:
    from seqlab.api import load

    models = []
    for name, path in parse_specs(specs):
        started = time.perf_counter()
        predictor = load(path, device=device, precision=precision)
        routes = handlers_for(predictor)
        if not routes:
            raise SeqlabError(f"{path} holds a {predictor.task!r} model, which the server has no route for")
        if warmup:
            with warnings.catch_warnings():  # e.g. an LM noting that the warm-up words are not in its vocabulary
                warnings.simplefilter("ignore")
                for handler in routes:
                    handler.warmup(predictor)
        seconds = time.perf_counter() - started
        log(f"loaded {name} ({predictor.task}) from {path} in {seconds:.2f}s")
        models.append(served(name, predictor, path, seconds))
    return models


def served(name: str, predictor: Any, model_dir: Path | None = None, load_seconds: float = 0.0) -> ServedModel:
    """Wrap a loaded predictor (or any object with the task's methods: tests use fakes)."""
    if not NAME.match(name):
        raise SeqlabError(f"model name {name!r}: use letters, digits, '.', '_' or '-'")
    return ServedModel(name, predictor, model_dir, load_seconds, describe(name, predictor, model_dir, load_seconds))


def describe(name: str, predictor: Any, model_dir: Path | None, load_seconds: float) -> dict[str, Any]:
    """What ``GET /v1/models`` says about a model: task, routes, its routes' details (labels, languages, ...),
    the predictor's config summary, and the model directory's metrics."""
    routes = handlers_for(predictor)
    info: dict[str, Any] = {"name": name, "task": predictor.task, "routes": [h.route for h in routes],
                            "load_seconds": round(load_seconds, 3)}
    for handler in routes:
        info.update(handler.describe(predictor))
    info["config"] = predictor.describe()
    info["metrics"] = _read_metrics(model_dir)
    return finite(info)


def _read_metrics(model_dir: Path | None) -> dict[str, Any] | None:
    if model_dir is None:
        return None
    metrics = training_metrics(Path(model_dir))
    return metrics or None
