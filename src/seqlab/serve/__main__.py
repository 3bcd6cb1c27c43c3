"""``python -m seqlab.serve MODEL_DIR ...``: the ``seqlab serve`` command on its own."""

import argparse
import sys

from seqlab.errors import SeqlabError

from .command import add_serve_command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seqlab.serve")
    commands = parser.add_subparsers(dest="command")
    add_serve_command(commands)
    args = parser.parse_args(["serve", *(sys.argv[1:] if argv is None else argv)])
    try:
        return args.func(args, {})
    except SeqlabError as exc:
        print(f"seqlab: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
