"""The task registry: what the CLI, the Python API and the server know about a task.

A task is one module in ``seqlab.tasks`` that registers a :class:`TaskSpec`: its config
schema, how to train, load and evaluate, its own commands (``seqlab translate``,
``seqlab generate``, ...), its own ``evaluate`` options and how its report prints. Adding a
task touches neither the trainer nor the CLI.
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


TASKS: dict[str, TaskSpec] = {}


def register_task(spec: TaskSpec) -> TaskSpec:
    TASKS[spec.name] = spec
    return spec


def register_task_with_front_end(name: str, description: str, schema: TaskConfigSchema,
                                 train: Callable[..., dict[str, Any]], front_end: Any) -> TaskSpec:
    """Register a task whose predictor module (``front_end``) defines ``load``, ``evaluate``, ``add_commands``,
    ``add_evaluate_options`` and ``format_report``: the layout of tasks/lm_predictor.py and tasks/tag_predictor.py."""
    return register_task(TaskSpec(name=name, description=description, schema=schema, train=train,
                                  load=front_end.load, evaluate=front_end.evaluate,
                                  add_commands=front_end.add_commands,
                                  add_evaluate_options=front_end.add_evaluate_options,
                                  format_report=front_end.format_report))


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
