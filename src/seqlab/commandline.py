"""What every command shares below the CLI: reading the texts to work on, options among them, runtime flags.

Tasks add their own commands (``seqlab predict``, ``translate``, ``tag``, ``generate``) with these helpers, so the
faces (``cli.py``, ``api.py``) stay above the tasks and nothing below them imports the faces.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from seqlab.errors import SeqlabError

# seqlab.runtime.INFERENCE_PRECISIONS, written out so that building the parser imports no torch (a test holds the
# two equal)
PRECISION_CHOICES = ("auto", "fp32", "bf16")


def _not_utf8(data: bytes, what: str) -> str | None:
    """``"{what} is not valid UTF-8 (byte 0xff at position 4)"``, or None when ``data`` is valid UTF-8."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"{what} is not valid UTF-8 (byte 0x{data[exc.start]:02x} at position {exc.start})"
    return None


def check_argument(text: str, what: str) -> str:
    """A command-line argument that is text to work on, refused when it is not valid UTF-8.

    Python hands such an argument over with each undecodable byte as a lone surrogate (0xff as ``\\udcff``);
    replacing it would change what the model reads, so it is refused naming the byte (README, "User errors").
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        try:
            message = _not_utf8(os.fsencode(text), what)
        except UnicodeError:  # a surrogate that no byte stands for
            message = None
        raise SeqlabError(message or f"{what} is not valid Unicode (it holds a lone surrogate)") from None
    return text


INPUT_WINDOW = 16_384  # texts a command reads, runs and writes at a time from --file or standard input


def read_inputs(args: argparse.Namespace) -> list[str]:
    """The texts of a command: its arguments, else the lines of ``--file``, else standard input; text that is not
    valid UTF-8 is refused, naming where."""
    return [text for window in input_windows(args) for text in window]


def input_windows(args: argparse.Namespace, window: int | None = None) -> Iterator[list[str]]:
    """The texts of a command (as :func:`read_inputs` reads them) in consecutive lists of at most ``window``, read
    as they are asked for: a command that runs and writes each list before it asks for the next holds one window
    of a file of any size (``seqlab predict MODEL --file BIG``), and keeps the input's order. Undecodable input is
    refused where it is met: a file's later window after the earlier windows' output. At least one list comes,
    perhaps empty (an empty file), so a command answers an empty input as it always did."""
    if window is not None and window < 1:
        raise SeqlabError(f"--window must be at least 1, got {window}")
    window = window or INPUT_WINDOW
    if args.texts:
        yield [check_argument(t, f"argument {i}") for i, t in enumerate(args.texts, 1)]
        return
    if args.file:
        from seqlab.data.readers import open_text_lines

        lines: Iterator[str] = (line.rstrip("\n") for _, line in open_text_lines(Path(args.file)))
    else:
        if sys.stdin is None or sys.stdin.isatty():
            raise SeqlabError("give texts as arguments, with --file FILE, or on standard input")
        lines = _stdin_lines(sys.stdin.buffer)
    empty = True
    chunk: list[str] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) == window:
            yield chunk
            chunk, empty = [], False
    if chunk or empty:
        yield chunk


def _stdin_lines(stream) -> Iterator[str]:
    """Standard input's lines as ``bytes.decode("utf-8").splitlines()`` gives them (any line break Python knows),
    decoded a line at a time; undecodable bytes are refused naming the line and the byte's place in it."""
    for number, raw in enumerate(stream, 1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            message = _not_utf8(raw.rstrip(b"\n"), f"standard input, line {number},")
            raise SeqlabError(message or f"standard input is not valid UTF-8 ({exc.reason})") from None
        yield from text.splitlines()


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
    from seqlab.export.format import is_export_dir
    from seqlab.tasks.base import load_model

    if is_export_dir(args.model_dir):  # ONNX Runtime, with its own threads: no torch is imported
        return load_model(args.model_dir, device=args.device, expect_task=task, command=command,
                          precision=args.precision, threads=args.threads)
    from seqlab.extras import require_torch_for_model_dir

    require_torch_for_model_dir(args.model_dir)
    from seqlab.runtime import set_threads

    set_threads(args.threads)
    return load_model(args.model_dir, device=args.device, expect_task=task, command=command, precision=args.precision)


def add_runtime_options(parser: argparse.ArgumentParser) -> None:
    """``--device``, ``--precision`` and ``--threads``, the same on every command that runs a model."""
    parser.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    parser.add_argument("--precision", default="fp32", choices=list(PRECISION_CHOICES),
                        help="fp32 | bf16 (faster on AVX-512 BF16 CPUs and GPUs; fp32 where bf16 would be emulated) "
                             "| auto (bf16 where the hardware has it)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: $OMP_NUM_THREADS, else all cores)")
