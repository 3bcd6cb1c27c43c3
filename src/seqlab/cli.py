"""The ``seqlab`` command line: parse arguments and call a task. No logic of its own, and no task names.

``seqlab train TASK ...``, ``seqlab evaluate MODEL_DIR ...``, ``seqlab vectors ...`` and ``seqlab serve ...`` are
defined here; every task registers its own commands (``seqlab predict``, ``seqlab generate``, ...),
``evaluate`` options and report in its package (``seqlab/tasks/<name>/commands.py``). The README's quick start shows
the short commands; on a GPU add ``--device cuda`` (``--precision auto``, the default, then trains in bf16).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from seqlab.errors import SeqlabError


def cmd_train(args: argparse.Namespace, extra: dict) -> int:
    from seqlab.api import train

    try:
        summary = train(args.task, args.out, config=args.config, resume=args.resume, overwrite=args.overwrite,
                        **extra)
    except KeyboardInterrupt:
        from seqlab.modeldir import CHECKPOINT

        if (Path(args.out) / CHECKPOINT).is_file():
            again = "the same command" if args.resume else "the same command and --resume"
            print(f"seqlab: interrupted; continue from the last checkpoint in {args.out} with {again}",
                  file=sys.stderr)
        else:
            print("seqlab: interrupted before the first checkpoint; nothing was saved", file=sys.stderr)
        return 130
    best = summary["best"]
    shown = f"{best:.4f}" if isinstance(best, float) else best
    print(f"best valid {summary['metric']} {shown} at epoch {summary['best_epoch']}; "
          f"{summary['train_seconds']:.0f}s; model saved in {args.out}")
    return 0


def cmd_evaluate(args: argparse.Namespace, _extra: dict) -> int:
    """Generic: find the model's task, parse that task's own flags, evaluate, print the task's report."""
    from seqlab.api import load
    from seqlab.export.format import is_export_dir, read_export_config
    from seqlab.modeldir import read_model_config
    from seqlab.tasks.base import evaluate_parser, get_task

    export = is_export_dir(args.model_dir)
    meta = read_export_config(args.model_dir) if export else read_model_config(args.model_dir)
    spec = get_task(meta.get("task", ""))
    options = vars(evaluate_parser(spec).parse_args(args.task_options))
    options["batch_size"] = args.batch_size
    from seqlab.runtime import set_threads

    set_threads(args.threads)
    runtime_options = {"threads": args.threads} if export else {}  # ONNX Runtime's own threads
    predictor = load(args.model_dir, device=args.device, precision=args.precision, **runtime_options)
    data = args.data or predictor.config.data.data
    report = spec.evaluate(predictor, data=data, split=args.split, options=options, log=_log)
    print(json.dumps(report, ensure_ascii=False) if args.json else spec.format_report(report))
    return 0


def cmd_vectors(args: argparse.Namespace, _extra: dict) -> int:
    from seqlab.vectors import analogies, neighbours

    if args.analogy:
        a, b, c = args.analogy
        results = analogies(args.vectors, a, b, c, k=args.k)
        print(f"{a} : {b} :: {c} : ?")
    else:
        results = neighbours(args.vectors, args.neighbours, k=args.k)
    for word, sim in results:
        print(f"{word}\t{sim:.4f}")
    return 0


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    import seqlab.tasks  # noqa: F401  (registers the built-in tasks)
    from seqlab import __version__
    from seqlab.commandline import add_runtime_options
    from seqlab.tasks.base import TASKS
    parser = argparse.ArgumentParser(prog="seqlab", description="Train, evaluate and use sequence models for text.")
    parser.add_argument("--version", action="version", version=f"seqlab {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    train_parser = commands.add_parser("train", help="train a model and write a model directory")
    tasks = train_parser.add_subparsers(dest="task", required=True)
    task_parsers = {}
    for name, spec in TASKS.items():
        p = tasks.add_parser(name, help=spec.description, argument_default=argparse.SUPPRESS)
        p.add_argument("--out", required=True, help="the model directory to write")
        p.add_argument("--config", default=None, help="a TOML/YAML/JSON config file; flags override it")
        p.add_argument("--resume", action="store_true", default=False, help="continue from the last checkpoint in --out")
        p.add_argument("--overwrite", action="store_true", default=False, help="replace a model already in --out")
        _settings_when_used(p, spec)
        p.set_defaults(func=cmd_train)
        task_parsers[name] = p

    ev = commands.add_parser("evaluate", help="score a model on a dataset split",
                             description="Score a model on a dataset split. Each task adds its own options "
                                         "(listed below); a flag of another task is refused.",
                             epilog=_task_evaluate_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    ev.add_argument("model_dir")
    ev.add_argument("--data", default=None, help="dataset name or path (default: the training data)")
    ev.add_argument("--split", default="test")
    ev.add_argument("--batch-size", type=int, default=None, help="examples per batch (default: the task's)")
    add_runtime_options(ev)
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.set_defaults(func=cmd_evaluate, task_options=[])

    ve = commands.add_parser("vectors", help="nearest neighbours and analogies in word vectors")
    ve.add_argument("vectors", help="glove-6b-50d or a .txt/.vec file")
    group = ve.add_mutually_exclusive_group(required=True)
    group.add_argument("--neighbours", metavar="WORD")
    group.add_argument("--analogy", nargs=3, metavar=("A", "B", "C"), help="A is to B as C is to ?")
    ve.add_argument("-k", type=int, default=10)
    ve.set_defaults(func=cmd_vectors)
    for spec in TASKS.values():
        if spec.add_commands is not None:
            spec.add_commands(commands)
    from seqlab.export.command import add_export_command
    from seqlab.serve import add_serve_command

    add_export_command(commands)

    add_serve_command(commands)  # serves any task's models; needs the optional seqlab[serve] only to run
    return parser, task_parsers


def _settings_when_used(parser: argparse.ArgumentParser, spec) -> None:
    """Add the task's setting flags (``spec.schema.add_flags``) when ``seqlab train TASK`` is parsed or its help
    shown, not when the parser is built: the schema imports the task's models, and so torch, which ``seqlab --help``
    or ``seqlab predict ...`` need not wait for."""
    added = False

    def add() -> None:
        nonlocal added
        if not added:
            added = True
            spec.schema.add_flags(parser)

    for method in ("parse_known_args", "format_help", "format_usage"):
        plain = getattr(parser, method)

        def deferred(*args, _plain=plain, **kwargs):
            add()
            return _plain(*args, **kwargs)

        setattr(parser, method, deferred)


def _task_evaluate_help() -> str:
    from seqlab.tasks.base import TASKS, evaluate_parser

    parts = []
    for spec in TASKS.values():
        help_text = evaluate_parser(spec).format_help().split("\n", 2)[-1].strip()
        if spec.add_evaluate_options is not None and help_text:
            parts.append(f"{spec.name} models:\n{help_text}")
    return "\n\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser, task_parsers = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        if args.command != "evaluate":
            hint = _closest_flag(task_parsers[args.task], unknown) if args.command == "train" else ""
            parser.error(f"unrecognized arguments: {' '.join(unknown)}{hint}")
        args.task_options = unknown  # parsed by the model's task once the model directory is read
    extra = {}
    if args.command == "train":
        fixed = {"out", "config", "resume", "overwrite", "func", "task", "command"}
        extra = {k: v for k, v in vars(args).items() if k not in fixed}
        if "model_name" in extra:
            extra["model"] = extra.pop("model_name")
    try:
        return args.func(args, extra)
    except SeqlabError as exc:
        print(f"seqlab: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("seqlab: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:  # the file system's answer (no space left, permission denied, ...), in one line
        where = f": {exc.filename}" if exc.filename else ""
        print(f"seqlab: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2


def _closest_flag(parser: argparse.ArgumentParser, unknown: list[str]) -> str:
    """`` (did you mean --epochs?)`` for the first mistyped flag among ``unknown`` that is close to one."""
    import difflib

    flags = [f for f in parser._option_string_actions if f.startswith("--")]
    for word in unknown:
        if word.startswith("--"):
            close = difflib.get_close_matches(word.split("=", 1)[0], flags, n=1)
            if close:
                return f" (did you mean {close[0]}?)"
    return ""


if __name__ == "__main__":
    sys.exit(main())
