"""The language model's front end: the ``seqlab generate`` command, its ``evaluate`` options and report."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from seqlab.errors import SeqlabError
from seqlab.tasks.lm import DEFAULT_MAX_TOKENS, EVAL_STREAMS

MAX_NEW_TOKENS = 1024  # the most tokens one generation may ask for: seqlab generate --max-tokens and the served route


def check_max_tokens(value: int) -> int:
    """Refuse a ``--max-tokens`` outside 1..MAX_NEW_TOKENS, as the server's generate route refuses such a
    ``max_tokens`` (422: its request model's bounds are these)."""
    if not 1 <= value <= MAX_NEW_TOKENS:
        raise SeqlabError(f"--max-tokens must be between 1 and {MAX_NEW_TOKENS} (got {value})")
    return value


def add_evaluate_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--streams", type=int, default=EVAL_STREAMS,
                        help=f"rnn: parallel streams the split is cut into (default {EVAL_STREAMS}, as the "
                             "PyTorch word_language_model example; 1 gives every token its full history)")



def format_report(report: dict[str, Any]) -> str:
    from seqlab.data.splits import scored_line

    scored = scored_line(report["data"], report["split"], report["scored_tokens"], "tokens")
    return (f"perplexity {report['perplexity']:.2f}   bits/token {report['bits_per_token']:.3f}   "
            f"({scored}; {report['protocol']})")


# ---------------------------------------------------------------------------- the ``seqlab generate`` command
def cmd_generate(args: argparse.Namespace, _extra: dict) -> int:
    from seqlab.commandline import check_argument, load_for_command

    check_max_tokens(args.max_tokens)  # before the model loads
    check_argument(args.prompt, "--prompt")
    model = load_for_command(args, "lm", "generate")
    options = {"max_tokens": args.max_tokens, "temperature": args.temperature, "top_k": args.top_k,
               "top_p": args.top_p, "repetition_penalty": args.repetition_penalty, "seed": args.seed,
               "warn_unknown": False}
    _, unknown = model.encode_prompt(args.prompt)
    if unknown:
        print(f"seqlab: note: not in the vocabulary, read as <unk>: {', '.join(unknown)}", file=sys.stderr)
    if args.json:
        ids: list[list[int]] = [[] for _ in range(args.num_samples)]
        tokens: list[list[dict[str, Any]]] = [[] for _ in range(args.num_samples)]
        for item in model.stream(args.prompt, num_samples=args.num_samples, **options):
            ids[item["sample"]].append(item["id"])
            tokens[item["sample"]].append({"token": item["token"], "prob": item["prob"]})
        for row in range(args.num_samples):
            print(json.dumps({"prompt": args.prompt, "sample": row, "text": model.tokenizer.decode(ids[row]),
                              "tokens": tokens[row]}, ensure_ascii=False))
        return 0
    if args.num_samples == 1:  # stream: each token is printed (and flushed) as soon as it is chosen
        print(args.prompt, end="", flush=True)
        for item in model.stream(args.prompt, **options):
            print(item["text"], end="", flush=True)
        print()
        return 0
    for row, text in enumerate(model.samples(args.prompt, args.num_samples, **options), 1):
        print(f"[{row}] {args.prompt} {text}")
    return 0


def add_commands(subparsers) -> None:
    from seqlab.commandline import add_runtime_options

    p = subparsers.add_parser("generate", help="generate text from a language model, streamed as it is produced")
    p.add_argument("model_dir")
    p.add_argument("--prompt", default="", help="text to continue (default: start a new line)")
    p.add_argument("--max-tokens", type=int, default=DEFAULT_MAX_TOKENS,
                   help=f"tokens to generate (default {DEFAULT_MAX_TOKENS}, at most {MAX_NEW_TOKENS})")
    p.add_argument("--temperature", type=float, default=1.0, help="sharpen (<1) or flatten (>1); 0 is greedy")
    p.add_argument("--top-k", type=int, default=0, help="sample among the k most likely tokens (0: all)")
    p.add_argument("--top-p", type=float, default=1.0,
                   help="nucleus sampling (Holtzman et al. 2019): the smallest set of likely tokens whose "
                        "probability reaches p, in (0, 1]")
    p.add_argument("--repetition-penalty", type=float, default=1.0, help="> 1 discourages repeating tokens (CTRL)")
    p.add_argument("--seed", type=int, default=None, help="the same seed gives the same text")
    p.add_argument("--num-samples", type=int, default=1,
                   help="continuations generated as one batch (one is streamed; several print when done)")
    p.add_argument("--json", action="store_true", help="JSON lines: each sample's text and tokens with probabilities")
    add_runtime_options(p)
    p.set_defaults(func=cmd_generate)
