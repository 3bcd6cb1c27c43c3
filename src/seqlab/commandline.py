"""What every command shares below the CLI: reading the texts to work on, options among them, runtime flags.

Tasks add their own commands (``seqlab predict``, ``translate``, ``tag``, ``generate``) with these helpers, so the
faces (``cli.py``, ``api.py``) stay above the tasks and nothing below them imports the faces.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from seqlab.errors import SeqlabError


def read_inputs(args: argparse.Namespace) -> list[str]:
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


def options_among_texts(parser: argparse.ArgumentParser) -> None:
    """Let options sit between the texts (``seqlab tag MODEL --json "text"``), not only before or after them.

    Plain argparse fills the ``texts`` positional once, from the words before the first option, and leaves the
    rest unrecognised; its intermixed parsing reads every positional word wherever it is. The sub-command's
    ``parse_known_args`` (what the top-level parser calls) is pointed at it.
    """
    plain = parser.parse_known_args

    def parse_known_args(args=None, namespace=None):
        parser.parse_known_args = plain  # the intermixed parser calls parse_known_args itself, twice
        try:
            return parser.parse_known_intermixed_args(args, namespace)
        finally:
            parser.parse_known_args = parse_known_args

    parser.parse_known_args = parse_known_args  # type: ignore[method-assign]


def load_for_command(args: argparse.Namespace, task: str, command: str):
    """The model of a task's command (``args.model_dir``) on ``--device`` in ``--precision``, with ``--threads`` set;
    a directory of another task is refused naming the command."""
    from seqlab.runtime import set_threads
    from seqlab.tasks.base import load_model

    set_threads(args.threads)
    return load_model(args.model_dir, device=args.device, expect_task=task, command=command, precision=args.precision)


def add_runtime_options(parser: argparse.ArgumentParser) -> None:
    """``--device``, ``--precision`` and ``--threads``, the same on every command that runs a model."""
    from seqlab.runtime import INFERENCE_PRECISIONS

    parser.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    parser.add_argument("--precision", default="fp32", choices=list(INFERENCE_PRECISIONS),
                        help="fp32 | bf16 (faster on AVX-512 BF16 CPUs and GPUs; fp32 where bf16 would be emulated) "
                             "| auto (bf16 where the hardware has it)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: $OMP_NUM_THREADS, else all cores)")
