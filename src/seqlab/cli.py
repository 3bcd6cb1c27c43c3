"""The ``seqlab`` command line: parse arguments and call a task. No logic of its own, and no task names.

``seqlab train TASK ...``, ``seqlab evaluate MODEL_DIR ...``, ``seqlab vectors ...``, ``seqlab embed MODEL_DIR ...``
and ``seqlab serve ...`` are defined here; every task registers its own commands (``seqlab predict``, ``seqlab generate``, ...),
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
    if summary.get("rank", 0):  # under torchrun, rank 0 speaks for the job
        return 0
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
    if not export:
        from seqlab.vector_files import evaluate_vector_file, is_vector_file

        if is_vector_file(args.model_dir):  # pretrained word vectors: similarity and analogies
            return evaluate_vector_file(args.model_dir, args.task_options, as_json=args.json)
    meta = read_export_config(args.model_dir) if export else read_model_config(args.model_dir)
    if not export:
        from seqlab.extras import require_torch_for_model_dir

        require_torch_for_model_dir(args.model_dir)
    spec = get_task(meta.get("task", ""))
    options = vars(evaluate_parser(spec).parse_args(args.task_options))
    options["batch_size"] = args.batch_size
    if not export:  # an export sets ONNX Runtime's own threads, and imports no torch
        from seqlab.runtime import set_threads

        set_threads(args.threads)
    runtime_options = {"threads": args.threads} if export else {}
    predictor = load(args.model_dir, device=args.device, precision=args.precision, **runtime_options)
    data = args.data or predictor.config.data.data
    report = spec.evaluate(predictor, data=data, split=args.split, options=options, log=_log)
    print(json.dumps(report, ensure_ascii=False) if args.json else spec.format_report(report))
    return 0


def cmd_vectors(args: argparse.Namespace, _extra: dict) -> int:
    from seqlab import vectors as vec

    if args.plot:  # what is wrong with the request is said before the vectors are read
        from seqlab.maps import check_method, check_output

        check_output(args.plot)
        check_method(args.method)
    groups = vec.read_groups(args.groups) if args.groups else None
    words = vec.read_word_list(args.words) if args.words else None
    highlight = [w.strip() for w in (args.highlight or "").split(",") if w.strip()]
    vectors = vec.vector_source(args.vectors)
    if args.plot:
        summary = vec.plot(vectors, args.plot, method=args.method, words=words, top=args.top, highlight=highlight,
                           groups=groups, title=args.title or f"{Path(args.vectors).name}: {args.method}", log=_log)
        print(f"mapped {summary['points']} words ({summary['method']}, {summary['seconds']:.1f}s) into {args.plot}")
        return 0
    if args.analogy:
        a, b, c = args.analogy
        results = vec.analogies(vectors, a, b, c, k=args.k)
        print(f"{a} : {b} :: {c} : ?")
    else:
        results = vec.neighbours(vectors, args.neighbours, k=args.k)
    for word, sim in results:
        print(f"{word}\t{sim:.4f}")
    return 0


def cmd_embed(args: argparse.Namespace, _extra: dict) -> int:
    """Generic: any model directory's predictor gives one vector per text (its task decides how)."""
    from seqlab.commandline import read_inputs
    from seqlab.embedding_io import check_vectors_out, read_labels, write_vectors

    if not args.out and not args.plot:
        raise SeqlabError("say where the vectors go: --out vecs.npy|vecs.jsonl, --plot map.html|map.png, or both")
    if args.out:
        check_vectors_out(args.out)
    if args.plot:
        from seqlab.maps import check_method, check_output

        check_output(args.plot)
        check_method(args.method)
    texts = read_inputs(args)
    labels = read_labels(args.labels, len(texts)) if args.labels else None
    from seqlab.export.format import is_export_dir
    from seqlab.runtime import set_threads
    from seqlab.tasks.base import load_model

    if is_export_dir(args.model_dir):
        raise SeqlabError(f"{args.model_dir} is an export (seqlab export); embed with the model directory it was "
                          "made from")
    set_threads(args.threads)
    predictor = load_model(args.model_dir, device=args.device, precision=args.precision)
    vectors = predictor.embed(texts, batch_size=args.batch_size)
    what = predictor.capabilities.text_vector
    if args.out:
        write_vectors(args.out, texts, vectors, labels)
        _log(f"embedded {len(texts)} texts: {vectors.shape[1]}-d vectors ({what}) in {args.out}")
    if args.plot:
        from seqlab.maps import write_map

        summary = write_map(args.plot, texts, vectors, method=args.method, groups=labels, kind="texts",
                            title=args.title or f"{Path(args.model_dir).name}: {len(texts)} texts ({what})", log=_log)
        _log(f"mapped {summary['points']} texts ({summary['method']}, {summary['seconds']:.1f}s) into {args.plot}")
    return 0


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    import seqlab.tasks  # noqa: F401  (registers the built-in tasks)
    from seqlab import __version__
    from seqlab.commandline import add_runtime_options, options_among_texts
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

    ve = commands.add_parser("vectors", help="neighbours, analogies and maps of word vectors",
                             description="Nearest neighbours, analogies and 2-D maps (PNG or an interactive HTML page) "
                                         "of word vectors: GloVe, a .txt/.vec file, or a trained model's own input "
                                         "embedding table.")
    ve.add_argument("vectors", help="glove-6b-50d, a .txt/.vec file, or a model directory (its input embedding table)")
    group = ve.add_mutually_exclusive_group(required=True)
    group.add_argument("--neighbours", metavar="WORD")
    group.add_argument("--analogy", nargs=3, metavar=("A", "B", "C"), help="A is to B as C is to ?")
    group.add_argument("--plot", metavar="MAP", help="draw a map: MAP.png (a figure) or MAP.html (pan, zoom, hover, "
                                                     "search with neighbours)")
    ve.add_argument("-k", type=int, default=10, help="answers to list")
    _map_options(ve)
    ve.add_argument("--words", metavar="FILE", help="map these words (one per line)")
    ve.add_argument("--top", type=int, default=None, metavar="N",
                    help="map the N most frequent words (default 1000; punctuation left out)")
    ve.add_argument("--highlight", metavar="W1,W2", help="ring and label these words, each with its neighbours as a "
                                                          "group in the legend")
    ve.add_argument("--groups", metavar="FILE", help="colour by a grouping: word<TAB>group lines")
    ve.set_defaults(func=cmd_vectors)

    em = commands.add_parser("embed", help="one vector per text from any model (the representation it pools)",
                             description="One vector per text from a trained model: the pooled representation its "
                                         "answer is read from (a classifier's pooled vector, a tagger's, translator "
                                         "encoder's or language model's mean state), saved and/or mapped.")
    em.add_argument("model_dir")
    em.add_argument("texts", nargs="*", help="texts (else --file, else standard input)")
    em.add_argument("--file", default=None, help="one text per line")
    em.add_argument("--out", default=None, metavar="PATH", help="vectors.npy (an N x D float32 array) or "
                                                                 "vectors.jsonl (one {text, vector} per line)")
    em.add_argument("--plot", default=None, metavar="MAP", help="draw the texts as points: MAP.png or MAP.html")
    em.add_argument("--labels", default=None, metavar="FILE", help="one label per text (a line each): colours the map "
                                                                    "and goes into the .jsonl")
    _map_options(em)
    em.add_argument("--batch-size", type=int, default=64, help="texts per batch")
    add_runtime_options(em)
    options_among_texts(em)
    em.set_defaults(func=cmd_embed)
    for spec in TASKS.values():
        if spec.add_commands is not None:
            spec.add_commands(commands)
    from seqlab.export.command import add_export_command
    from seqlab.serve import add_serve_command

    add_export_command(commands)

    add_serve_command(commands)  # serves any task's models; needs the optional seqlab[serve] only to run
    return parser, task_parsers


def _map_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--method", default="tsne", metavar="METHOD",
                        help="how to lay out the map: tsne (neighbourhoods) | umap | pca (default tsne)")
    parser.add_argument("--title", default=None, help="the map's title")


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
    except ModuleNotFoundError as exc:  # a command that runs torch where it is not installed: say what to install
        if (exc.name or "").split(".")[0] != "torch":
            raise
        from seqlab.extras import torch_missing

        print(f"seqlab: error: {torch_missing(f'seqlab {args.command}')}", file=sys.stderr)
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
