"""Language modelling: running text -> one id stream -> RNN (truncated BPTT) or Transformer -> perplexity.

CPU (WikiText-2; the defaults are the benchmark recipe)::

    SEQLAB_DATA=../shared/data seqlab train lm --data wikitext-2 --out runs/wt2
    seqlab evaluate runs/wt2 --split test
    seqlab generate runs/wt2 --prompt "the film" --max-tokens 50 --top-p 0.9 --seed 1

One GPU: add ``--device cuda --precision bf16``. Your own text: ``--data my_book.txt``
(BPE is trained on it; validation and test lines are carved out with a fixed seed).

The training text is tokenised once (cached) into one stream. The RNN reads it as B parallel
streams (the batch), in consecutive segments of about ``--bptt`` tokens, carrying (and
detaching) its state from one segment to the next: truncated back-propagation through time.
The Transformer reads shuffled windows of ``--context`` tokens.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqlab.data.corpus import Corpus, load_train_valid
from seqlab.errors import SeqlabError
from seqlab.metrics import perplexity
from seqlab.modeldir import save_model_dir
from seqlab.models.lm import LANGUAGE_MODELS
from seqlab.runtime import pick_device, to_device
from seqlab.tasks.common import cached_encoding, fit_task, resumed_json
from seqlab.tasks.lm import EVAL_STREAMS
from seqlab.tasks.lm.config import SCHEMA, LMConfig, LMTextConfig, StreamConfig  # noqa: F401  (re-exported)
from seqlab.text.stream import StreamTokenizer
from seqlab.train import TrainableTask

TEXT_FILE = "text.json"
BPTT_JITTER = 5  # standard deviation of the random segment length (Merity et al. 2017)


def tokenizer_kind(cfg: LMConfig) -> str:
    if cfg.text.tokenizer != "auto":
        return cfg.text.tokenizer
    return "word" if cfg.data.data.lower().startswith("wikitext") else "bpe"


def encode_corpora(splits: dict[str, Corpus], cfg: LMConfig,
                   fixed: dict[str, Any] | None = None) -> tuple[StreamTokenizer, dict[str, np.ndarray]]:
    """Train the tokenizer on the training lines (or use ``fixed``) and encode each split to one stream, cached."""
    kind = tokenizer_kind(cfg)
    key = {"kind": "lm-stream", "tokenizer": kind, "vocab_size": cfg.text.vocab_size, "min_freq": cfg.text.min_freq,
           "sources": {s: c.source for s, c in splits.items()}, "fixed": fixed}

    def compute():
        tok = StreamTokenizer.from_json(fixed) if fixed else StreamTokenizer.train(
            splits["train"].lines, kind, cfg.text.vocab_size, cfg.text.min_freq)
        return {s: [tok.encode_lines(c.lines)] for s, c in splits.items()}, tok.to_json()

    streams, meta = cached_encoding(key, compute)
    return StreamTokenizer.from_json(meta), {s: seqs[0] for s, seqs in streams.items()}


def build_model(config: LMConfig, vocab_size: int) -> torch.nn.Module:
    return LANGUAGE_MODELS[config.model_name][1](config.model, vocab_size)


# ---------------------------------------------------------------------------- scoring a stream
@torch.no_grad()
def stream_nll(model: Any, stream: np.ndarray | torch.Tensor, device: torch.device,
               streams: int = EVAL_STREAMS, segment: int = 70) -> tuple[float, int]:
    """Summed negative log-likelihood (nats) of every token of ``stream`` after the first, and the count.

    Stateful models (the RNN) read ``streams`` parallel contiguous parts, carrying the state
    from segment to segment; the few tokens past an even split continue the last part's state,
    so every token is scored once, with its full history. Windowed models (the Transformer)
    score overlapping windows of ``context`` tokens, each token once, with at least half a
    window of history (except the first ones).
    """
    data = torch.as_tensor(stream, dtype=torch.long)
    if data.numel() < 2:
        return 0.0, 0
    model.eval()
    if model.stateful:
        return _stateful_nll(model, data, device, streams, segment)
    return _windowed_nll(model, data, device, streams)


def _stateful_nll(model: Any, data: torch.Tensor, device: torch.device, streams: int,
                  segment: int) -> tuple[float, int]:
    targets = data.numel() - 1
    B = max(1, min(streams, targets))
    L = targets // B
    rows = data[: B * L + 1]
    inputs = to_device(rows[:-1].view(B, L), device)  # (B, L): row b holds tokens b*L .. (b+1)*L - 1
    outputs = to_device(data[1: B * L + 1].view(B, L), device)
    total, state = 0.0, model.init_state(B, device)
    for start in range(0, L, segment):
        hidden, state = model(inputs[:, start: start + segment], state)  # (B, t, D)
        total += _nll_sum(model, hidden, outputs[:, start: start + segment])
    rest = targets - B * L
    if rest:  # the tail follows the last row directly: continue its state
        last = model.select_streams(state, slice(-1, None))
        x = data[B * L: B * L + rest].view(1, -1).to(device)
        y = data[B * L + 1:].view(1, -1).to(device)
        hidden, _ = model(x, last)
        total += _nll_sum(model, hidden, y)
    return total, targets


def _nll_sum(model: Any, hidden: torch.Tensor, targets: torch.Tensor) -> float:
    """hidden (B, t, D), targets (B, t) -> summed NLL."""
    return model.output.nll(hidden.reshape(-1, hidden.size(-1)), targets.reshape(-1)).sum().item()


def _windowed_nll(model: Any, data: torch.Tensor, device: torch.device, batch: int) -> tuple[float, int]:
    targets = data.numel() - 1
    context = model.context
    stride = max(1, context // 2)
    # each window scores the targets the previous one did not reach: every token once, the first
    # window from its start, later ones with at least context - stride tokens of history
    starts = list(range(0, max(targets - context, 0) + 1, stride))
    if starts[-1] + context < targets:
        starts.append(targets - context)
    windows, scored = [], 0  # (start, first scored offset, length)
    for start in starts:
        length = min(context, targets - start)
        windows.append((start, scored - start, length))
        scored = start + length
    total = 0.0
    by_length: dict[int, list[tuple[int, int]]] = {}
    for s, first, length in windows:
        by_length.setdefault(length, []).append((s, first))
    for length, group in by_length.items():
        for i in range(0, len(group), batch):
            part = group[i: i + batch]
            x = to_device(torch.stack([data[s: s + length] for s, _ in part]), device)  # (b, length)
            y = to_device(torch.stack([data[s + 1: s + 1 + length] for s, _ in part]), device)
            hidden, _ = model(x)
            nll = model.output.nll(hidden.reshape(-1, hidden.size(-1)), y.reshape(-1)).view(len(part), length)
            keep = torch.arange(length, device=device)[None, :] >= torch.tensor([f for _, f in part], device=device)[:, None]
            total += nll[keep].sum().item()
    return total, targets


# ---------------------------------------------------------------------------- training task
class LMTask(TrainableTask):
    default_metric = "perplexity"
    metric_modes = {"perplexity": "min", "loss": "min"}

    def __init__(self, config: LMConfig, log=print, fixed_tokenizer: dict[str, Any] | None = None) -> None:
        self.config, self.log = config, log
        started = time.monotonic()
        train, valid = load_train_valid(config.data)
        self.tokenizer, streams = encode_corpora({"train": train, "valid": valid}, config, fixed_tokenizer)
        self.valid_stream = streams["valid"]
        t = config.train
        train_ids = torch.as_tensor(streams["train"], dtype=torch.long)
        if train_ids.numel() < 2 * t.batch_size + 1:
            raise SeqlabError(f"the training text has {train_ids.numel()} tokens: too few for --batch-size "
                              f"{t.batch_size}; give more text or a smaller --batch-size")
        length = (train_ids.numel() - 1) // t.batch_size
        # (B, L + 1): row b is the contiguous part b of the stream, one token longer for the last target
        self.rows = torch.stack([train_ids[b * length: (b + 1) * length + 1] for b in range(t.batch_size)])
        self.stats = {"train_tokens": int(train_ids.numel()), "valid_tokens": int(self.valid_stream.size),
                      "vocabulary": len(self.tokenizer), "tokenizer": self.tokenizer.kind}
        torch.manual_seed(t.seed)
        self.model: Any = build_model(config, len(self.tokenizer))
        self.device = pick_device(t.device)
        self.rows = self.rows.to(self.device)
        self.state: Any = None
        n_params = sum(p.numel() for p in self.model.parameters())
        log(f"data: {self.stats['train_tokens']:,} training / {self.stats['valid_tokens']:,} validation tokens; "
            f"{self.tokenizer.kind} vocabulary {len(self.tokenizer):,}; prepared in {time.monotonic() - started:.1f}s")
        log(f"model: {config.model_name} with {n_params:,} parameters")

    # -- the TrainableTask interface
    def train_batches(self, generator: torch.Generator) -> list[tuple[int, int]]:
        """(start, length) segments of the B streams: consecutive for the RNN, shuffled windows for the Transformer."""
        width = self.rows.size(1) - 1
        if not self.model.stateful:
            context = self.model.context
            starts = torch.arange(0, width - 1, context)
            order = torch.randperm(len(starts), generator=generator)
            return [(int(starts[i]), min(context, width - int(starts[i]))) for i in order]
        s = self.config.stream
        segments, start = [], 0
        while start < width - 1:
            length = s.bptt
            if s.random_bptt:  # Merity et al. 2017: N(bptt, 5), and bptt / 2 with probability 0.05
                base = s.bptt if torch.rand(1, generator=generator).item() < 0.95 else s.bptt / 2
                length = max(5, int(torch.normal(float(base), float(BPTT_JITTER), (1,), generator=generator).item()))
            length = min(length, width - start)
            segments.append((start, length))
            start += length
        return segments

    def loss(self, batch: tuple[int, int]) -> tuple[torch.Tensor, int]:
        start, length = batch
        x = self.rows[:, start: start + length]  # (B, t)
        y = self.rows[:, start + 1: start + 1 + length]  # (B, t) the next tokens
        if start == 0 or not self.model.stateful:  # a new epoch starts the streams afresh
            self.state = None
        hidden, state = self.model(x, self.state)  # (B, t, D)
        self.state = self.model.detach_state(state) if self.model.stateful else None
        nll = self.model.output.nll(hidden.reshape(-1, hidden.size(-1)), y.reshape(-1))
        return nll.mean(), y.numel()

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        total, count = stream_nll(self.model, self.valid_stream, self.device, segment=self.config.stream.bptt)
        return {"perplexity": perplexity(total, count), "loss": total / max(count, 1)}

    def save(self, out_dir: Path, metrics: dict[str, Any]) -> None:
        save_model_dir(out_dir, task="lm", config=SCHEMA.to_dict(self.config), state_dict=self.model.state_dict(),
                       extras={"data_stats": self.stats}, json_files={TEXT_FILE: self.tokenizer.to_json()},
                       metrics=metrics)


def train(config: LMConfig, out_dir: Path, *, resume: bool = False, log=print) -> dict[str, Any]:
    task = LMTask(config, log, fixed_tokenizer=resumed_json(out_dir, TEXT_FILE, resume))
    return fit_task(task, config, SCHEMA, out_dir, resume=resume, log=log)
