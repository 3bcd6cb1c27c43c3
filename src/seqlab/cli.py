"""The ``seqlab`` command line: parse arguments and call a task. No logic of its own.

Quick start (CPU)::

    SEQLAB_DATA=../shared/data seqlab train classify --data imdb --model bag --out runs/imdb-bag
    seqlab predict runs/imdb-bag "A wonderful, moving film."
    seqlab evaluate runs/imdb-bag --data imdb --split test

On a GPU add ``--device cuda --precision bf16``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from seqlab.errors import SeqlabError


def _read_inputs(args: argparse.Namespace) -> list[str]:
    if args.texts:
        return list(args.texts)
    if args.file:
        from seqlab.data.readers import open_text_lines

        return [line.rstrip("\n") for _, line in open_text_lines(Path(args.file))]
    if sys.stdin is None or sys.stdin.isatty():
        raise SeqlabError("give texts as arguments, with --file FILE, or on standard input")
    try:
        return [line.rstrip("\n") for line in sys.stdin.buffer.read().decode("utf-8").splitlines()]
    except UnicodeDecodeError as exc:
        raise SeqlabError(f"standard input is not valid UTF-8 (byte {exc.start})") from None


def cmd_train(args: argparse.Namespace, extra: dict) -> int:
    from seqlab.api import train

    summary = train(args.task, args.out, config=args.config, resume=args.resume, overwrite=args.overwrite,
                    **extra)
    best = summary["best"]
    shown = f"{best:.4f}" if isinstance(best, float) else best
    print(f"best valid {summary['metric']} {shown} at epoch {summary['best_epoch']}; "
          f"{summary['train_seconds']:.0f}s; model saved in {args.out}")
    return 0


def cmd_evaluate(args: argparse.Namespace, _extra: dict) -> int:
    from seqlab.api import load
    from seqlab.modeldir import read_model_config
    from seqlab.tasks.base import get_task

    options = {}
    if args.precision != "fp32":
        if read_model_config(args.model_dir).get("task") != "classify":
            raise SeqlabError("--precision applies to classifiers")
        options["precision"] = args.precision
    predictor = load(args.model_dir, **options)
    spec = get_task(predictor.task)
    data = args.data or predictor.config.data.data
    options = {k: getattr(args, k) for k in ("batch_size", "text_column", "label_column", "beam", "workers")}
    report = spec.evaluate(predictor, data=data, split=args.split, options=options, log=_log)
    if "confusion" in report:
        from seqlab.plots import confusion_matrix

        png = Path(args.confusion) if args.confusion else Path(args.model_dir) / f"confusion-{args.split}.png"
        confusion_matrix(report["confusion"], report["labels"], png)
        report["confusion_png"] = str(png)
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        from seqlab.metrics import format_report

        print(format_report(report) if "confusion" in report else json.dumps(report, indent=2))
        if "confusion_png" in report:
            print(f"\nconfusion matrix written to {report['confusion_png']}")
    return 0


def cmd_predict(args: argparse.Namespace, _extra: dict) -> int:
    from seqlab.api import load
    from seqlab.modeldir import read_model_config

    task = read_model_config(args.model_dir).get("task")
    if task != "classify":
        raise SeqlabError(f"{args.model_dir} holds a {task!r} model; 'predict' is for classifiers")
    model = load(args.model_dir, precision=args.precision)
    texts = _read_inputs(args)
    if args.explain:
        if not model.has_attention:
            raise SeqlabError("--explain needs a model that pools with attention (e.g. --model rnn --pooling attention)")
        results = model.explain(texts, batch_size=args.batch_size, workers=args.workers)
    else:
        results = model.predict(texts, batch_size=args.batch_size, workers=args.workers)
    for text, result in zip(texts, results, strict=True):
        if args.json:
            print(json.dumps({"text": text, **result}, ensure_ascii=False))
        else:
            print(f"{result['label']}\t{result['confidence']:.3f}\t{text[:80]}")
            if args.explain:
                pairs = sorted(zip(result["tokens"], result["attention"] or [], strict=False), key=lambda p: -p[1])
                print("\t" + "  ".join(f"{tok}:{w:.3f}" for tok, w in pairs[: args.top]))
    return 0


def cmd_vectors(args: argparse.Namespace, _extra: dict) -> int:
    from seqlab.models.embeddings import analogy, load_vectors, nearest, word_vector

    vectors = load_vectors(args.vectors)
    if args.analogy:
        a, b, c = args.analogy
        results = analogy(vectors, a, b, c, k=args.k)
        print(f"{a} : {b} :: {c} : ?")
    else:
        results = nearest(vectors, word_vector(vectors, args.neighbours), k=args.k, exclude={args.neighbours})
    for word, sim in results:
        print(f"{word}\t{sim:.4f}")
    return 0


WORKERS_HELP = "processes that tokenise large inputs in parallel (default: all cores for bag models, 0 for others)"


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    from seqlab import __version__
    from seqlab.tasks.base import TASKS, get_task

    get_task("classify")  # registers the built-in tasks
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
        spec.schema.add_flags(p)
        p.set_defaults(func=cmd_train)
        task_parsers[name] = p

    ev = commands.add_parser("evaluate", help="score a model on a dataset split")
    ev.add_argument("model_dir")
    ev.add_argument("--data", default=None, help="dataset name or path (default: the training data)")
    ev.add_argument("--split", default="test")
    ev.add_argument("--text-column", default=None)
    ev.add_argument("--label-column", default=None)
    ev.add_argument("--batch-size", type=int, default=256)
    ev.add_argument("--beam", type=int, default=None, help="beam size (translation)")
    ev.add_argument("--confusion", default=None, help="where to write the confusion-matrix PNG")
    ev.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                    help="classifiers: bf16 inference (faster on AVX-512 BF16 CPUs and GPUs)")
    ev.add_argument("--workers", type=int, default=None, help=WORKERS_HELP)
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.set_defaults(func=cmd_evaluate)

    pr = commands.add_parser("predict", help="classify texts (arguments, --file, or standard input)")
    pr.add_argument("model_dir")
    pr.add_argument("texts", nargs="*")
    pr.add_argument("--file", default=None, help="one text per line")
    pr.add_argument("--json", action="store_true", help="JSON lines with all probabilities")
    pr.add_argument("--explain", action="store_true", help="show the tokens the model attended to")
    pr.add_argument("--top", type=int, default=10, help="with --explain: how many tokens to show")
    pr.add_argument("--batch-size", type=int, default=64)
    pr.add_argument("--workers", type=int, default=None, help=WORKERS_HELP)
    pr.add_argument("--precision", default="fp32", choices=["fp32", "bf16"], help="bf16: faster on AVX-512 BF16 CPUs")
    pr.set_defaults(func=cmd_predict)

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
    return parser, task_parsers


def main(argv: list[str] | None = None) -> int:
    parser, _ = build_parser()
    args = parser.parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
