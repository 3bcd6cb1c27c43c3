"""The tagger's front end: the ``seqlab tag`` command, its ``evaluate`` options and report."""

from __future__ import annotations

import argparse
import json
from typing import Any

from seqlab.errors import SeqlabError
from seqlab.tasks.tag import DEFAULT_BATCH


def add_evaluate_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tag-column", default=None, help="the tag column: ner | pos | chunk | an index (default: the "
                                                           "model's)")
    parser.add_argument("--word-column", type=int, default=None, help="the word column's index (default: the model's)")
    parser.add_argument("--scheme", default=None, help="the scheme of the data's tags: iob1 | bio | bioes | none "
                                                       "(default: detected, else the model's)")


def format_report(report: dict[str, Any]) -> str:
    from seqlab.data.splits import scored_line
    from seqlab.metrics import format_span_report

    unit = "token accuracy" if report["scheme"] == "none" else "entity spans counted as conlleval counts"
    scored = scored_line(report["data"], report["split"], report["sentences"], "sentences")
    lines = [f"{scored}; tags in {report['scheme']} ({unit})",
             format_span_report(report)]
    if report.get("tags_the_model_does_not_know"):
        lines.append(f"\nnote: tags the model never predicts: {', '.join(report['tags_the_model_does_not_know'][:10])}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- the ``seqlab tag`` command
def cmd_tag(args: argparse.Namespace, _extra: dict) -> int:
    """Tag the texts and print them, a window of the input at a time (``--file BIG`` runs in the memory of one
    window, in input order). Blank lines before the first text are held until it comes: an input with no text at
    all is refused before anything is printed."""
    from seqlab.commandline import input_windows, load_for_command
    model = load_for_command(args, "tag", "tag")
    fmt = "json" if args.json else args.format
    held: list[str] = []  # blank lines before the first text
    seen_text = False
    for window in input_windows(args, args.window):
        if not seen_text:
            held.extend(window)
            if not any(t.strip() for t in window):
                continue
            seen_text, window, held = True, held, []
            if args.batch_size < 1:
                raise SeqlabError("--batch-size must be at least 1")
        _print_tagged(model, window, model.tag(window, batch_size=args.batch_size), fmt)
    if not seen_text:
        raise SeqlabError("nothing to tag: the input is empty")
    return 0


def _print_tagged(model, texts: list[str], results: list[dict[str, Any]], fmt: str) -> None:
    for text, result in zip(texts, results, strict=True):
        if fmt == "json":
            print(json.dumps({"text": text, **result}, ensure_ascii=False))
        elif fmt == "conll":  # token-per-line in the data's scheme, a blank line after each sentence
            for word, tag in zip(result["tokens"], result["tags"], strict=True):
                print(f"{word} {tag}")
            print()
        elif model.scheme == "none":
            print(" ".join(f"{w}/{t}" for w, t in zip(result["tokens"], result["tags"], strict=True)))
        else:
            print(text)
            for e in result["entities"]:
                print(f"  {e['type']:<8} {e['start']:>5}-{e['end']:<5} {e['confidence']:.3f}  {e['text']}")
            if not result["entities"]:
                print("  (no entities)")


WINDOW_HELP = ("texts read from --file or standard input, run and written at a time (default 16,384): the "
               "memory a big input needs")


def add_commands(subparsers) -> None:
    from seqlab.commandline import add_runtime_options, options_among_texts

    p = subparsers.add_parser("tag", help="tag texts with a sequence tagger: entities with character offsets and "
                                          "confidences (arguments, --file, or standard input)")
    p.add_argument("model_dir")
    p.add_argument("texts", nargs="*", help="texts to tag (raw text: punctuation is split off as in CoNLL)")
    p.add_argument("--file", default=None, help="one text per line")
    p.add_argument("--format", default="text", choices=["text", "conll", "json"],
                   help="text: entities with type, character offsets and confidence; conll: one 'WORD TAG' line per "
                        "token in the training data's scheme; json: JSON lines")
    p.add_argument("--json", action="store_true", help="JSON lines: entities, tokens and tags (= --format json)")
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH, help="sentences per batch")
    p.add_argument("--window", type=int, default=None, metavar="N", help=WINDOW_HELP)
    add_runtime_options(p)
    p.set_defaults(func=cmd_tag)
    options_among_texts(p)
