"""The task registry: what the CLI and the Python API know about a task.

A task is one module in ``seqlab.tasks`` that registers a :class:`TaskSpec`;
adding one touches neither the trainer nor the CLI's internals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqlab.config import TaskConfigSchema
from seqlab.errors import SeqlabError


@dataclass(frozen=True)
class TaskSpec:
    name: str
    description: str
    schema: TaskConfigSchema
    train: Callable[..., dict[str, Any]]  # (config, out_dir, *, resume, log) -> summary
    load: Callable[..., Any]  # (model_dir, *, device) -> a predictor with the task's methods
    evaluate: Callable[..., dict[str, Any]]  # (predictor, *, data, split, options, log) -> report
    # adds the task's own commands (e.g. ``seqlab translate``) to the CLI's sub-parsers; each parser
    # must ``set_defaults(func=...)`` with ``func(args, extra) -> exit code``
    add_commands: Callable[[Any], None] | None = None


TASKS: dict[str, TaskSpec] = {}


def register_task(spec: TaskSpec) -> TaskSpec:
    TASKS[spec.name] = spec
    return spec


def get_task(name: str) -> TaskSpec:
    import seqlab.tasks  # noqa: F401  (registers the built-in tasks)

    if name not in TASKS:
        raise SeqlabError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    return TASKS[name]


def load_model(model_dir: str | Path, device: str = "cpu", **options: Any) -> Any:
    """Load any model directory with its task's loader (``options`` such as ``precision`` go to it)."""
    from seqlab.modeldir import read_model_config

    task = read_model_config(model_dir).get("task", "")
    return get_task(task).load(Path(model_dir), device=device, **options)
