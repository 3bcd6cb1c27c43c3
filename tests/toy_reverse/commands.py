"""``seqlab reverse MODEL_DIR TEXT...``, the evaluate options and the report."""

from __future__ import annotations

import argparse
from typing import Any

from seqlab.commandline import add_runtime_options, load_for_command, options_among_texts, read_inputs


def cmd_reverse(args: argparse.Namespace, _extra: dict) -> int:
    model = load_for_command(args, "reverse", "reverse")
    for text in model.reverse(read_inputs(args)):
        print(text)
    return 0


def add_commands(subparsers) -> None:
    p = subparsers.add_parser("reverse", help="spell words backwards with a reverse model")
    p.add_argument("model_dir")
    p.add_argument("texts", nargs="*")
    p.add_argument("--file", default=None, help="one text per line")
    add_runtime_options(p)
    p.set_defaults(func=cmd_reverse)
    options_among_texts(p)


def add_evaluate_options(parser: argparse.ArgumentParser) -> None:
    """No options of its own."""


def format_report(report: dict[str, Any]) -> str:
    return f"accuracy {report['accuracy']:.3f} on {report['words']} words of {report['data']}"
