"""The task registry: what the CLI, the Python API and the server know about a task.

A task is one package, ``seqlab/tasks/<name>/``, with the same modules in each: ``recipe.py`` (config, data ->
model -> loss/metrics: the trainer's :class:`~seqlab.train.TrainableTask`), ``predictor.py`` (load, predict,
evaluate), ``commands.py`` (its CLI commands, ``evaluate`` flags and report), ``serve.py`` (its HTTP routes) and
``page.js`` (its part of the server's page). Its ``__init__`` registers a :class:`TaskSpec` naming them. Adding a
task touches neither the trainer, the CLI nor the server (docs/adding-a-task.md).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqlab.config import TaskConfigSchema
from seqlab.errors import SeqlabError


def _json_report(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False)


@dataclass(frozen=True)
class TaskSpec:
    name: str
    description: str
    # the task's package: the server imports ``<package>.serve`` (its routes) and reads ``<package>/page.js``
    # (its part of the page) from it, only when a server is built (they need the optional serve extra)
    package: str
    schema: TaskConfigSchema
    train: Callable[..., dict[str, Any]]  # (config, out_dir, *, resume, log) -> summary
    load: Callable[..., Any]  # (model_dir, *, device, precision) -> a predictor with the task's methods
    evaluate: Callable[..., dict[str, Any]]  # (predictor, *, data, split, options, log) -> report
    # adds the task's own commands (e.g. ``seqlab translate``) to the CLI's sub-parsers; each parser
    # must ``set_defaults(func=...)`` with ``func(args, extra) -> exit code``
    add_commands: Callable[[Any], None] | None = None
    # the task's own ``seqlab evaluate`` flags (e.g. ``--beam``); they reach ``evaluate`` as ``options``
    add_evaluate_options: Callable[[argparse.ArgumentParser], None] | None = None
    # the report as a person reads it (``--json`` prints the dict itself); may write files the report names
    format_report: Callable[[dict[str, Any]], str] = _json_report
    # builds the task's part of the server's page; None: the package's page.js as it is (or no part without one)
    page_script: Callable[[], str] | None = None


TASKS: dict[str, TaskSpec] = {}


def register_task(spec: TaskSpec) -> TaskSpec:
    """Add a task to the registry; a name can be registered once (a second task of that name is an error)."""
    if spec.name in TASKS:
        raise SeqlabError(f"a task named {spec.name!r} is already registered (by {TASKS[spec.name].package})")
    TASKS[spec.name] = spec
    return spec


def unregister_task(name: str) -> None:
    """Remove a task (tests that register a toy task take it out again)."""
    TASKS.pop(name, None)


def get_task(name: str) -> TaskSpec:
    import seqlab.tasks  # noqa: F401  (registers the built-in tasks)

    if name not in TASKS:
        raise SeqlabError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    return TASKS[name]


def evaluate_parser(spec: TaskSpec) -> argparse.ArgumentParser:
    """A parser of the task's own ``evaluate`` flags (so a flag of another task is refused, not ignored)."""
    parser = argparse.ArgumentParser(prog=f"seqlab evaluate ({spec.name} model)", add_help=False)
    if spec.add_evaluate_options is not None:
        spec.add_evaluate_options(parser)
    return parser


def load_model(model_dir: str | Path, device: str = "cpu", *, expect_task: str | None = None,
               command: str | None = None, **options: Any) -> Any:
    """Load any model directory with its task's loader (``options`` such as ``precision`` go to it).

    With ``expect_task``, a directory of another task is refused naming ``command``.
    """
    from seqlab.modeldir import read_model_config

    task = read_model_config(model_dir).get("task", "")
    if expect_task is not None and task != expect_task:
        needs = get_task(expect_task).description.split(" (")[0]
        raise SeqlabError(f"{model_dir} holds a {task!r} model; '{command or expect_task}' needs a {expect_task!r} "
                          f"model ({needs}; seqlab train {expect_task} ...)")
    return get_task(task).load(Path(model_dir), device=device, **options)
