"""Using a trained language model: perplexity and token log-probabilities, generation (streamed), evaluation,
and the ``seqlab generate`` command."""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from seqlab.data.corpus import LMDataConfig, load_split
from seqlab.decode import SamplingConfig, sample
from seqlab.errors import SeqlabError
from seqlab.metrics import bits_per_token, perplexity
from seqlab.modeldir import read_json
from seqlab.tasks.common import read_model_dir, restore_weights, training_metrics
from seqlab.tasks.lm import EVAL_STREAMS, SCHEMA, TEXT_FILE, LMConfig, build_model, stream_nll
from seqlab.text.stream import StreamTokenizer
from seqlab.train import autocast_context, effective_precision

DEFAULT_MAX_TOKENS = 50


class LanguageModel:
    """A loaded language model: ``perplexity``/``token_logprobs`` of texts, ``generate``/``stream`` from a prompt."""

    task = "lm"

    def __init__(self, model_dir: Path, device: str = "cpu", precision: str = "fp32") -> None:
        loaded = read_model_dir(model_dir, "lm", SCHEMA, device)
        self.model_dir, self.device = loaded.model_dir, loaded.device
        self.config: LMConfig = loaded.config
        self.precision = effective_precision(self.device, precision, log=_warn)
        self.tokenizer = StreamTokenizer.from_json(read_json(self.model_dir, TEXT_FILE))
        self.model: Any = restore_weights(loaded, build_model(self.config, len(self.tokenizer)))

    @property
    def context(self) -> int | None:
        return self.model.context

    # -- scoring
    def _stream(self, texts: list[str]) -> torch.Tensor:
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise SeqlabError("perplexity() takes a list of strings (one text: wrap it in a list)")
        # a leading <eos>: the first word is predicted as the start of a line, as in training
        return torch.as_tensor([self.tokenizer.eos_id, *self.tokenizer.encode_lines(texts).tolist()])

    def perplexity(self, texts: list[str]) -> float:
        """Perplexity of ``texts`` read as consecutive lines (each closed by ``<eos>``, which is scored too)."""
        with autocast_context(self.device, self.precision):
            total, count = stream_nll(self.model, self._stream(texts), self.device, streams=1)
        if count == 0:
            raise SeqlabError("nothing to score: the texts are empty")
        return perplexity(total, count)

    @torch.no_grad()
    def token_logprobs(self, texts: list[str]) -> list[list[dict[str, Any]]]:
        """Per text, each token (and the closing ``<eos>``) with its natural-log probability given the text before it."""
        out = []
        for text in texts:
            ids = self._stream([text])  # (<eos>, tokens..., <eos>)
            if self.context is not None and ids.numel() - 1 > self.context:
                raise SeqlabError(f"a text of {ids.numel() - 1} tokens is longer than the model's context "
                                  f"({self.context}); use perplexity() for long texts")
            x = ids[:-1].view(1, -1).to(self.device)
            with autocast_context(self.device, self.precision):
                hidden, _ = self.model(x)
            log_probs = self.model.output.log_probs(hidden[0])  # (T, V)
            targets = ids[1:].to(self.device)
            scores = log_probs.gather(1, targets[:, None]).squeeze(1).tolist()
            out.append([{"token": self.tokenizer.token(t), "logprob": s} for t, s in zip(targets.tolist(), scores,
                                                                                           strict=True)])
        return out

    # -- generation
    def encode_prompt(self, prompt: str) -> tuple[list[int], list[str]]:
        """Prompt -> ids after a line start, and the prompt words outside the vocabulary (read as ``<unk>``)."""
        if not isinstance(prompt, str):
            raise SeqlabError("the prompt must be a string")
        ids = [self.tokenizer.eos_id, *self.tokenizer.encode(prompt)]
        unknown = []
        if self.tokenizer.kind == "word":
            unknown = [w for w, i in zip(prompt.split(), ids[1:], strict=True)
                       if i == self.tokenizer.unk_id and w != "<unk>"]
        if self.context is not None and len(ids) > self.context:
            raise SeqlabError(f"the prompt has {len(ids) - 1} tokens, more than the model's context of "
                              f"{self.context - 1}; shorten it")
        return ids, unknown

    def stream(self, prompt: str, *, max_tokens: int = DEFAULT_MAX_TOKENS, temperature: float = 1.0, top_k: int = 0,
               top_p: float = 1.0, repetition_penalty: float = 1.0, seed: int | None = None,
               num_samples: int = 1, warn_unknown: bool = True) -> Iterator[dict[str, Any]]:
        """Yield each generated token as soon as it is chosen: ``{"sample", "id", "token", "text", "prob"}``.

        ``text`` is how the token reads in running text (a word with its leading space, a line break for
        ``<eos>``). All ``num_samples`` continuations are generated as one batch, so each step yields one
        dict per sample. The same ``seed`` gives the same text. ``temperature`` 0 is greedy.
        """
        config = SamplingConfig(temperature, top_k, top_p, repetition_penalty)
        config.validate()
        if max_tokens < 1 or num_samples < 1:
            raise SeqlabError("max_tokens and num_samples must be at least 1")
        ids, unknown = self.encode_prompt(prompt)
        if unknown and warn_unknown:  # (the CLI says so itself, in one line)
            warnings.warn(f"prompt words not in the vocabulary, read as <unk>: {', '.join(unknown)}", stacklevel=2)
        generator = torch.Generator(device=self.device)
        generator.manual_seed(seed if seed is not None else int(torch.randint(0, 2**31 - 1, (1,))))
        prompt_ids = torch.tensor([ids] * num_samples, dtype=torch.long, device=self.device)  # (N, T)
        with torch.no_grad(), autocast_context(self.device, self.precision):
            for tokens, probs in sample(self.model, prompt_ids, max_tokens, config, generator):
                for row, (token, prob) in enumerate(zip(tokens.tolist(), probs.tolist(), strict=True)):
                    yield {"sample": row, "id": token, "token": self.tokenizer.token(token),
                           "text": self.tokenizer.display(token), "prob": prob}

    def samples(self, prompt: str, num_samples: int = 1, **options: Any) -> list[str]:
        """``num_samples`` continuations of ``prompt`` (the generated text only), generated as one batch."""
        generated: list[list[int]] = [[] for _ in range(num_samples)]
        for item in self.stream(prompt, num_samples=num_samples, **options):
            generated[item["sample"]].append(item["id"])
        return [self.tokenizer.decode(ids) for ids in generated]

    def generate(self, prompt: str, **options: Any) -> str:
        """One continuation of ``prompt`` (options as :meth:`stream`: max_tokens, temperature, top_k, top_p, ...)."""
        return self.samples(prompt, 1, **options)[0]


def _warn(message: str) -> None:
    print(f"seqlab: {message}", file=sys.stderr)


def load(model_dir: Path, device: str = "cpu", precision: str = "fp32") -> LanguageModel:
    return LanguageModel(model_dir, device=device, precision=precision)


# ---------------------------------------------------------------------------- evaluation
def add_evaluate_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--streams", type=int, default=EVAL_STREAMS,
                        help=f"rnn: parallel streams the split is cut into (default {EVAL_STREAMS}, as the "
                             "PyTorch word_language_model example; 1 gives every token its full history)")


def evaluate(predictor: LanguageModel, *, data: str, split: str = "test", options: dict[str, Any] | None = None,
             log=print) -> dict[str, Any]:
    """Perplexity over a whole split as the standard protocol computes it: one stream, ``<eos>`` at each line
    end, every token scored once (stateful RNN over ``streams`` parts; overlapping windows for a Transformer)."""
    options = options or {}
    cfg = predictor.config.data
    corpus = load_split(LMDataConfig(data=data, split_seed=cfg.split_seed), split)
    stream = predictor.tokenizer.encode_lines(corpus.lines)
    streams = int(options.get("streams") or EVAL_STREAMS)
    started = time.monotonic()
    with autocast_context(predictor.device, predictor.precision):
        total, count = stream_nll(predictor.model, stream, predictor.device, streams=streams,
                                  segment=predictor.config.stream.bptt)
    seconds = time.monotonic() - started
    report = {"perplexity": perplexity(total, count), "bits_per_token": bits_per_token(total, count),
              "tokens": count + 1, "scored_tokens": count, "data": data, "split": split,
              "unk_tokens": int((stream == predictor.tokenizer.unk_id).sum()),
              "protocol": (f"stateful, {streams} parallel streams, segments of {predictor.config.stream.bptt}"
                           if predictor.model.stateful else
                           f"windows of {predictor.context} tokens overlapping by half, each token scored once"),
              "seconds": seconds, "tokens_per_s": count / max(seconds, 1e-9)}
    valid = training_metrics(predictor.model_dir).get("valid", {})
    if "perplexity" in valid:
        report["valid_perplexity"] = valid["perplexity"]
    return report


def format_report(report: dict[str, Any]) -> str:
    return (f"perplexity {report['perplexity']:.2f}   bits/token {report['bits_per_token']:.3f}   "
            f"({report['scored_tokens']:,} tokens of {report['data']} {report['split']}; {report['protocol']})")


# ---------------------------------------------------------------------------- the ``seqlab generate`` command
def cmd_generate(args: argparse.Namespace, _extra: dict) -> int:
    from seqlab.tasks.base import load_model

    model = load_model(args.model_dir, device=args.device, expect_task="lm", command="generate")
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
    p = subparsers.add_parser("generate", help="generate text from a language model, streamed as it is produced")
    p.add_argument("model_dir")
    p.add_argument("--prompt", default="", help="text to continue (default: start a new line)")
    p.add_argument("--max-tokens", type=int, default=DEFAULT_MAX_TOKENS, help="tokens to generate")
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
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=cmd_generate)
