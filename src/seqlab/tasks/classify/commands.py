"""The classifier's front end: the ``seqlab predict`` command, its ``evaluate`` options and report."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

WINDOW_HELP = ("texts read from --file or standard input, run and written at a time (default 16,384): the "
               "memory a big input needs")
WORKERS_HELP = "processes that tokenise large inputs in parallel (default: all cores for bag models, 0 for others)"


def cmd_predict(args: argparse.Namespace, _extra: dict) -> int:
    """Classify the texts and print one line each, a window of the input at a time (``--file BIG`` runs in the
    memory of one window, in input order); ``--html`` draws one page of every text, so it reads them all first."""
    from seqlab.commandline import input_windows, load_for_command, read_inputs
    model = load_for_command(args, "classify", "predict")
    explain = args.explain or args.html is not None
    kept: list[dict[str, Any]] = []  # every explanation, for the page
    for texts in ([read_inputs(args)] if args.html else input_windows(args, args.window)):
        if explain:
            results = model.explain(texts, batch_size=args.batch_size, workers=args.workers)
        else:
            results = model.predict(texts, batch_size=args.batch_size, workers=args.workers)
        for text, result in zip(texts, results, strict=True):
            if args.json:
                print(json.dumps({"text": text, **result}, ensure_ascii=False))
            else:
                print(f"{result['label']}\t{result['confidence']:.3f}\t{text[:80]}")
                if explain:  # the words and n-grams that weighed most, for (+) or against (-) the label
                    top = sorted(result["contributions"], key=lambda p: -abs(p[1]))[: args.top]
                    print("\t" + "  ".join(f"{tok}:{score:+.3f}" for tok, score in top) + f"   ({result['method']})")
        if args.html:
            kept.extend(results)
    if args.html:
        from pathlib import Path

        from seqlab.tasks.classify.explain import explanation_html

        explanation_html(kept, Path(args.html))
        print(f"explanations written to {args.html}", file=sys.stderr)
    return 0


def add_commands(subparsers) -> None:
    from seqlab.commandline import add_runtime_options, options_among_texts

    pr = subparsers.add_parser("predict", help="classify texts (arguments, --file, or standard input)")
    pr.add_argument("model_dir")
    pr.add_argument("texts", nargs="*")
    pr.add_argument("--file", default=None, help="one text per line")
    pr.add_argument("--json", action="store_true", help="JSON lines with all probabilities")
    pr.add_argument("--explain", action="store_true",
                    help="show why: each word's (and n-gram's) signed score for the label; exact for bag models, "
                         "integrated gradients for the others; attention weights too where the model pools with them")
    pr.add_argument("--html", default=None, metavar="FILE.html",
                    help="write the explanations as a page colouring each text by its words' scores")
    pr.add_argument("--top", type=int, default=10, help="with --explain: how many words to show")
    pr.add_argument("--batch-size", type=int, default=64)
    pr.add_argument("--window", type=int, default=None, metavar="N", help=WINDOW_HELP)
    pr.add_argument("--workers", type=int, default=None, help=WORKERS_HELP)
    add_runtime_options(pr)
    pr.set_defaults(func=cmd_predict)
    options_among_texts(pr)


def add_evaluate_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--text-column", default=None, help="column/field holding the text (default: the model's)")
    parser.add_argument("--label-column", default=None, help="column/field holding the label")
    parser.add_argument("--workers", type=int, default=None, help=WORKERS_HELP)
    parser.add_argument("--label-map", default=None, metavar="A=X,B=Y",
                        help="rename the data's labels to the model's (a file labelled 0/1 for a neg/pos model: 0=neg,1=pos)")
    parser.add_argument("--confusion", default=None,
                        help="where to write the confusion-matrix PNG (default: MODEL_DIR/confusion-SPLIT.png)")
    parser.add_argument("--reliability", default=None,
                        help="where to write the reliability-diagram PNG, accuracy against confidence in 15 bins "
                             "(default: reliability-SPLIT.png beside the confusion matrix)")


def format_report(report: dict[str, Any]) -> str:
    from seqlab.data.splits import scored_line
    from seqlab.metrics import format_report as classification_table

    text = classification_table(report)
    if "data" in report:
        text = scored_line(report["data"], report["split"], report.get("examples", report["count"]), "examples") \
            + "\n" + text
    if "confusion_png" in report:
        text += f"\n\nconfusion matrix written to {report['confusion_png']}"
    if "reliability_png" in report:
        text += f"\nreliability diagram written to {report['reliability_png']}"
    return text
