"""The task registry: what the CLI, the Python API and the server know about a task.

A task is one package, ``seqlab/tasks/<name>/``, with the same modules in each: ``recipe.py`` (config, data ->
model -> loss/metrics: the trainer's :class:`~seqlab.train.TrainableTask`), ``predictor.py`` (load, predict,
evaluate), ``commands.py`` (its CLI commands, ``evaluate`` flags and report), ``serve.py`` (its HTTP routes) and
``page.js`` (its part of the server's page). Its ``__init__`` registers a :class:`TaskSpec` naming them. Adding a
task touches neither the trainer, the CLI nor the server (docs/adding-a-task.md).
"""

from __future__ import annotations

import argparse
import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar, overload

from seqlab.config import TaskConfigSchema
from seqlab.errors import SeqlabError

T = TypeVar("T")


def _json_report(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False)


def resolve(ref: Any) -> Any:
    """A :class:`TaskSpec` part given as ``"package.module:attribute"``, imported now; anything else as it is."""
    if not isinstance(ref, str):
        return ref
    module, _, attribute = ref.partition(":")
    return vars(importlib.import_module(module))[attribute]


class _Part(Generic[T]):
    """A part of a task (its schema, train, load, ...), given as the object or as ``"module:attribute"``, which is
    imported the first time the part is used. So registering a task imports none of its recipe, models or torch,
    and ``seqlab --help`` or a mistyped command answer at once; ``seqlab train classify`` imports what it uses."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = f"_{name}"

    @overload
    def __get__(self, spec: None, owner: type) -> _Part[T]: ...
    @overload
    def __get__(self, spec: TaskSpec, owner: type) -> T: ...
    def __get__(self, spec: TaskSpec | None, owner: type) -> T | _Part[T]:
        if spec is None:
            return self
        value = spec.__dict__[self.slot]
        if isinstance(value, str):
            value = resolve(value)
            setattr(spec, self.slot, value)
        return value


class TaskSpec:
    """What the CLI, the Python API and the server know about a task. ``schema``, ``train``, ``load``, ``evaluate``,
    ``add_commands``, ``add_evaluate_options``, ``format_report`` and ``page_script`` may each be given as the object
    or as ``"package.module:attribute"`` (imported on first use: the built-in tasks register that way)."""

    # the task's config schema: its sections, model registry and recipes (files, flags, saving)
    schema: _Part[TaskConfigSchema] = _Part()
    train: _Part[Callable[..., dict[str, Any]]] = _Part()  # (config, out_dir, *, resume, log) -> summary
    load: _Part[Callable[..., Any]] = _Part()  # (model_dir, *, device, precision) -> a predictor with the task's methods
    evaluate: _Part[Callable[..., dict[str, Any]]] = _Part()  # (predictor, *, data, split, options, log) -> report
    # adds the task's own commands (e.g. ``seqlab translate``) to the CLI's sub-parsers; each parser
    # must ``set_defaults(func=...)`` with ``func(args, extra) -> exit code``
    add_commands: _Part[Callable[[Any], None] | None] = _Part()
    # the task's own ``seqlab evaluate`` flags (e.g. ``--beam``); they reach ``evaluate`` as ``options``
    add_evaluate_options: _Part[Callable[[argparse.ArgumentParser], None] | None] = _Part()
    # the report as a person reads it (``--json`` prints the dict itself); may write files the report names
    format_report: _Part[Callable[[dict[str, Any]], str]] = _Part()
    # builds the task's part of the server's page; None: the package's page.js as it is (or no part without one)
    page_script: _Part[Callable[[], str] | None] = _Part()

    def __init__(self, *, name: str, description: str, package: str, schema: Any, train: Any, load: Any,
                 evaluate: Any, add_commands: Any = None, add_evaluate_options: Any = None,
                 format_report: Any = _json_report, page_script: Any = None) -> None:
        self.name, self.description = name, description
        # the task's package: the server imports ``<package>.serve`` (its routes) and reads ``<package>/page.js``
        # (its part of the page) from it, only when a server is built (they need the optional serve extra)
        self.package = package
        self._schema, self._train, self._load, self._evaluate = schema, train, load, evaluate
        self._add_commands, self._add_evaluate_options = add_commands, add_evaluate_options
        self._format_report, self._page_script = format_report, page_script

    def __repr__(self) -> str:
        return f"TaskSpec(name={self.name!r}, package={self.package!r})"


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

    With ``expect_task``, a directory of another task is refused naming ``command``. An export directory
    (``seqlab export``) loads its torch-free ONNX predictor instead.
    """
    from seqlab.export.format import is_export_dir

    if is_export_dir(model_dir):
        from seqlab.export.runtime import load_export

        _check_options(load_export, options)
        return load_export(model_dir, expect_task=expect_task, command=command, device=device, **options)
    from seqlab.extras import require_torch_for_model_dir
    from seqlab.modeldir import read_model_config

    task = read_model_config(model_dir).get("task", "")
    require_torch_for_model_dir(model_dir)
    if expect_task is not None and task != expect_task:
        needs = get_task(expect_task).description.split(" (")[0]
        raise SeqlabError(f"{model_dir} holds a {task!r} model; '{command or expect_task}' needs a {expect_task!r} "
                          f"model ({needs}; seqlab train {expect_task} ...)")
    loader = get_task(task).load
    _check_options(loader, options)
    return loader(Path(model_dir), device=device, **options)


def _check_options(loader: Callable[..., Any], options: dict[str, Any]) -> None:
    """Refuse an option the task's loader does not take (``precison="bf16"``), naming the closest one it does."""
    import inspect

    from seqlab.config import unknown_setting

    parameters = list(inspect.signature(loader).parameters.values())
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return
    known = [p.name for p in parameters[1:]]  # after the model directory
    for name in options:
        if name not in known:
            raise SeqlabError(f"seqlab.load(): {unknown_setting(name, known, 'option')}; it takes "
                              f"{', '.join(known)}")
