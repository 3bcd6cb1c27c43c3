"""Greedy and beam search for any ``seqlab.models.seq2seq.Seq2SeqModel``, and sampling (top-k, nucleus,
temperature, repetition penalty) for decoder-only language models: pure batched functions.

Both search a whole batch at once: the only Python loop is over time steps. Beam search
flattens sentences x beams into B*K rows of the decoder state, picks candidates with one
``topk`` over K*V per sentence, and reorders the state with ``state.index_select``.

Lengths: sentence i may produce at most ``floor(max_len_a * src_len_i + max_len_b)``
tokens; at that step only ``<eos>`` is allowed, so every hypothesis ends in ``<eos>`` and
its score includes the ``<eos>`` log-probability. Returned tokens exclude ``<sos>``/``<eos>``.

The functions run under ``torch.no_grad`` and leave the model's mode alone: call
``model.eval()`` first, or dropout will perturb the search.

The greedy and beam search themselves are :mod:`seqlab.search`'s, written over a small array interface: here they
run over tensors (:class:`TorchOps`), in the ONNX runtime over numpy arrays, so an export searches with the same code.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import torch
from torch import Tensor

from seqlab import search as _search
from seqlab.models.seq2seq import Seq2SeqModel
from seqlab.search import (  # noqa: F401  (re-exported: one definition, shared with the ONNX runtime)
    Hypotheses,
    SamplingConfig,
    gnmt_length_penalty,
    max_lengths,
    unk_replace,
)


class TorchOps:
    """:class:`seqlab.search.ArrayOps` for tensors: the search of :mod:`seqlab.search` on any device."""

    KINDS = {"int": torch.long, "float": torch.float32, "bool": torch.bool}

    def full(self, shape, value, kind, like):
        return torch.full(shape, value, dtype=self.KINDS[kind], device=like.device)

    def arange(self, n, like):
        return torch.arange(n, device=like.device)

    def repeat(self, x, k):
        return x.repeat_interleave(k)

    def where(self, cond, a, b):
        return torch.where(cond, a, b)

    def isfinite(self, x):
        return x.isfinite()

    def max_last(self, x):
        return x.max(dim=-1)

    def topk(self, x, k):
        return x.topk(k, dim=-1)

    def take(self, x, index):
        return x.gather(1, index)

    def cat(self, xs, axis):
        return torch.cat(xs, dim=axis)

    def host(self, x):
        x = x.cpu()
        return x.float() if x.is_floating_point() else x

    def on(self, x, like):
        return x.to(like.device)


TORCH = TorchOps()


@torch.no_grad()
def greedy_search(model: Seq2SeqModel, src: Tensor, src_lengths: Tensor, sos_id: int, eos_id: int,
                  max_len_a: float = 1.5, max_len_b: float = 10, pad_id: int | None = None) -> Hypotheses:
    """Most probable next token at every step, for a batch src (B, S), src_lengths (B,).

    Stops early once every sentence has produced ``<eos>``. ``<sos>`` and ``pad_id`` are never produced.
    (:func:`seqlab.search.greedy` over tensors: the ONNX runtime runs the same function over numpy arrays.)
    """
    return _search.greedy(model, src, src_lengths, sos_id, eos_id, max_len_a, max_len_b, pad_id, ops=TORCH)


@torch.no_grad()
def beam_search(model: Seq2SeqModel, src: Tensor, src_lengths: Tensor, sos_id: int, eos_id: int,
                beam_size: int = 5, length_penalty: float = 0.6, max_len_a: float = 1.5,
                max_len_b: float = 10, nbest: int = 1, pad_id: int | None = None) -> Hypotheses:
    """Beam search over a batch src (B, S), src_lengths (B,), returning up to ``nbest`` hypotheses each.

    Finished hypotheses are ranked by log P / lp with the GNMT length penalty
    (Wu et al. 2016; ``length_penalty`` is alpha, 0 ranks by raw log-prob). The live beams
    at a step all have the same length, so they are compared by raw log-prob.

    Each step takes the 2K best extensions of a sentence's K beams: those among the first K
    that end in ``<eos>`` are finished (as fairseq does) and the K best others live on, so a
    finishing hypothesis never costs a live beam. Only the ``nbest`` best finished ones are
    kept. A sentence is done at its maximum length, or when its n-th best finished score is
    at least the best live log P divided by lp(next length). Log-probs only fall, so for
    alpha <= 0 that is exact: nothing live could still enter the n best. For alpha > 0 a
    longer hypothesis divides by a larger lp, and this is the usual heuristic (Hugging Face's
    ``early_stopping=False``). Stopping once K hypotheses have finished (fairseq) is cheaper
    but can end below greedy: a short hypothesis finishes while a better long one is live.
    ``<sos>`` and ``pad_id`` are never produced. With beam_size=1 and length_penalty=0 this is
    exactly :func:`greedy_search`. Done sentences stay in the batch until all are done (simple;
    dropping their rows, as fairseq does, would save work on batches of mixed lengths).
    The code is :func:`seqlab.search.beam`, over tensors here and over numpy arrays in the ONNX runtime.
    """
    return _search.beam(model, src, src_lengths, sos_id, eos_id, beam_size, length_penalty, max_len_a, max_len_b,
                        nbest, pad_id, ops=TORCH)


# ---------------------------------------------------------------------------- sampling from a decoder-only model
class DecoderOnlyLM(Protocol):
    """What sampling needs from a language model (``seqlab.models.lm``): log P(next) for a prompt, then per token."""

    def start(self, ids: Tensor) -> tuple[Tensor, Any]:
        """ids (B, T) -> log-probs (B, V) of the next token, state."""

    def step(self, tokens: Tensor, state: Any) -> tuple[Tensor, Any]:
        """tokens (B,) -> log-probs (B, V), state."""


def repetition_penalty(scores: Tensor, previous: Tensor, penalty: float) -> Tensor:
    """Make tokens already in ``previous`` (B, S) less likely (Keskar et al. 2019, CTRL).

    ``scores`` (B, V) are log-probabilities (all <= 0), so a penalised token's score is
    multiplied by ``penalty`` (> 1 lowers it); CTRL divides positive logits instead, which is
    the same direction. ``penalty`` 1 changes nothing.
    """
    if penalty == 1.0 or previous.numel() == 0:
        return scores
    seen = torch.zeros_like(scores, dtype=torch.bool).scatter_(1, previous, True)  # (B, V)
    penalised = torch.where(scores < 0, scores * penalty, scores / penalty)
    # a huge penalty leaves the lowest score, not -inf: a row whose every token was seen still has one to choose
    penalised = penalised.clamp(min=torch.finfo(scores.dtype).min).where(scores.isfinite(), scores)
    return torch.where(seen, penalised, scores)


def top_k_filter(scores: Tensor, k: int) -> Tensor:
    """Keep the ``k`` highest scores of each row (B, V), set the rest to -inf; k <= 0 keeps all."""
    if k <= 0 or k >= scores.size(-1):
        return scores
    kth = scores.topk(k, dim=-1).values[:, -1:]  # (B, 1)
    return scores.masked_fill(scores < kth, float("-inf"))


def top_p_filter(scores: Tensor, p: float) -> Tensor:
    """Nucleus filtering (Holtzman et al. 2019): keep the smallest set of most likely tokens whose
    probability reaches ``p`` (the most likely token always stays), per row of ``scores`` (B, V)."""
    if p >= 1.0:
        return scores
    sorted_scores, order = scores.sort(dim=-1, descending=True)  # (B, V)
    probs = torch.softmax(sorted_scores.float(), dim=-1)
    before = probs.cumsum(dim=-1) - probs  # probability mass of the tokens ranked above each one
    drop_sorted = before >= p  # a token is dropped once the ones above it already reach p
    drop_sorted[:, 0] = False  # the most likely stays even when p is below float32's range (1e-300 reads as 0)
    drop = torch.zeros_like(drop_sorted).scatter(1, order, drop_sorted)  # back to vocabulary order
    return scores.masked_fill(drop, float("-inf"))


def choose_next(log_probs: Tensor, previous: Tensor, config: SamplingConfig,
                generator: torch.Generator | None = None) -> Tensor:
    """log_probs (B, V), previous tokens (B, S) -> the next token of each row (B,)."""
    scores = repetition_penalty(log_probs.float(), previous, config.repetition_penalty)
    if config.temperature == 0:
        return scores.argmax(dim=-1)
    # the best score at 0: a tiny temperature (1e-300, 0 in float32) divides it into 0 and the rest into -inf, and a
    # huge one (1e300, inf in float32) everything into 0 but the -inf of banned tokens
    scores = scores - scores.max(dim=-1, keepdim=True).values
    finfo = torch.finfo(scores.dtype)
    temperature = min(max(config.temperature, finfo.tiny), finfo.max)
    scores = top_p_filter(top_k_filter(scores / temperature, config.top_k), config.top_p)
    probs = torch.softmax(scores, dim=-1)  # (B, V)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)


@torch.no_grad()
def sample(model: DecoderOnlyLM, prompt: Tensor, max_tokens: int, config: SamplingConfig,
           generator: torch.Generator | None = None, banned: Sequence[int] = ()) -> Iterator[tuple[Tensor, Tensor]]:
    """Generate ``max_tokens`` tokens after ``prompt`` (B, T) for every row at once, yielding each step's
    tokens (B,) and their probabilities under the model (B,) as soon as they are chosen.

    The model's own distribution (before temperature and filtering) gives the reported probability.
    ``banned`` ids are never chosen (``<unk>``, ``<pad>``: tokens that are not text). Call ``model.eval()`` first.
    The repetition penalty looks at the prompt and what was generated.
    """
    log_probs, state = model.start(prompt)
    previous = prompt
    banned = list(banned)
    for i in range(max_tokens):
        allowed = log_probs
        if banned:
            allowed = log_probs.clone()
            allowed[:, banned] = float("-inf")
        tokens = choose_next(allowed, previous, config, generator)  # (B,)
        yield tokens, log_probs.float().gather(1, tokens[:, None]).squeeze(1).exp()
        previous = torch.cat([previous, tokens[:, None]], dim=1)  # (B, S + 1)
        if i + 1 < max_tokens:
            log_probs, state = model.step(tokens, state)
