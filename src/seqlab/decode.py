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
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import torch
from torch import Tensor

from seqlab.models.seq2seq import Seq2SeqModel

T = TypeVar("T")


@dataclass
class Hypotheses:
    """Search results for B sentences, each with up to ``nbest`` hypotheses, best first.

    ``tokens[i][n]``: ids without ``<sos>``/``<eos>``. ``scores[i][n]``: sum of token
    log-probs, ``<eos>`` included. ``normalized_scores[i][n]``: the score hypotheses were
    ranked by (beam: score / GNMT length penalty; greedy: equal to ``scores``).
    ``attention[i][n]``: (len(tokens[i][n]), src_len_i) float CPU tensor, row j = the
    attention when producing token j (the ``<eos>`` row and source padding are trimmed).
    """

    tokens: list[list[list[int]]]
    scores: list[list[float]]
    normalized_scores: list[list[float]]
    attention: list[list[Tensor]]

    @property
    def best(self) -> list[list[int]]:
        """The best hypothesis of each sentence."""
        return [hyps[0] for hyps in self.tokens]

    @property
    def best_attention(self) -> list[Tensor]:
        return [att[0] for att in self.attention]


def max_lengths(src_lengths: Tensor, max_len_a: float, max_len_b: float) -> Tensor:
    """(B,) source lengths -> (B,) long, the most tokens (before ``<eos>``) each sentence may get."""
    return (max_len_a * src_lengths.float() + max_len_b).floor().clamp(min=0).long()


def gnmt_length_penalty(length: Tensor | int, alpha: float) -> Tensor | float:
    """lp(Y) = ((5 + |Y|) / 6) ** alpha (Wu et al. 2016); hypotheses are ranked by log P(Y) / lp(Y).

    |Y| counts the ``<eos>``: it is the number of scored tokens."""
    return ((5.0 + length) / 6.0) ** alpha


def _restrict(log_probs: Tensor, force_eos: Tensor, eos_id: int, banned: list[int]) -> Tensor:
    """log_probs (N, V) with ``banned`` ids impossible and rows where ``force_eos`` (N,) holds
    allowed only ``<eos>``."""
    log_probs = log_probs.clone()
    log_probs[:, banned] = float("-inf")
    if bool(force_eos.any()):
        not_eos = torch.ones(log_probs.size(-1), dtype=torch.bool, device=log_probs.device)
        not_eos[eos_id] = False
        log_probs = log_probs.masked_fill(force_eos.unsqueeze(1) & not_eos, float("-inf"))  # (N, V)
    return log_probs


def _banned(sos_id: int, eos_id: int, pad_id: int | None) -> list[int]:
    """``<sos>`` (and ``<pad>`` when given) are never outputs; a model may still score them."""
    return [i for i in {sos_id, pad_id} if i is not None and i != eos_id]


def _package(tokens: Tensor, lengths: Tensor, scores: Tensor, normalized: Tensor, attention: Tensor,
             src_lengths: Tensor) -> Hypotheses:
    """Cut padded results (B, N, L), (B, N), (B, N), (B, N), (B, N, L, S) into per-sentence lists.

    Hypotheses with a -inf score (fewer than N found) are left out.
    """
    tokens, lengths, attention = tokens.cpu(), lengths.cpu(), attention.float().cpu()
    valid = normalized.isfinite().cpu().tolist()
    tok, lens, sc, norm = tokens.tolist(), lengths.tolist(), scores.cpu().tolist(), normalized.cpu().tolist()
    src_lens = src_lengths.cpu().tolist()
    out = Hypotheses([], [], [], [])
    for i, ok in enumerate(valid):
        keep = [n for n, v in enumerate(ok) if v]
        out.tokens.append([tok[i][n][: lens[i][n]] for n in keep])
        out.scores.append([sc[i][n] for n in keep])
        out.normalized_scores.append([norm[i][n] for n in keep])
        out.attention.append([attention[i, n, : lens[i][n], : src_lens[i]] for n in keep])
    return out


@torch.no_grad()
def greedy_search(model: Seq2SeqModel, src: Tensor, src_lengths: Tensor, sos_id: int, eos_id: int,
                  max_len_a: float = 1.5, max_len_b: float = 10, pad_id: int | None = None) -> Hypotheses:
    """Most probable next token at every step, for a batch src (B, S), src_lengths (B,).

    Stops early once every sentence has produced ``<eos>``. ``<sos>`` and ``pad_id`` are never produced.
    """
    banned = _banned(sos_id, eos_id, pad_id)
    B, S = src.shape
    limit = max_lengths(src_lengths, max_len_a, max_len_b).to(src.device)  # (B,)
    steps = int(limit.max()) + 1  # + 1 for the final <eos>
    state = model.encode(src, src_lengths)
    prev = src.new_full((B,), sos_id)  # (B,)
    tokens = src.new_full((B, steps), eos_id)  # (B, L)
    attention = torch.zeros(B, steps, S, device=src.device)  # (B, L, S)
    scores = torch.zeros(B, device=src.device)  # (B,)
    lengths = torch.zeros(B, dtype=torch.long, device=src.device)  # (B,) tokens before <eos>
    finished = torch.zeros(B, dtype=torch.bool, device=src.device)  # (B,)
    for t in range(steps):
        log_probs, attn, state = model.decode_step(state, prev)  # (B, V), (B, S)
        log_probs = _restrict(log_probs, t >= limit, eos_id, banned)
        best, prev = log_probs.max(dim=-1)  # (B,), (B,)
        alive = ~finished
        scores = torch.where(alive, scores + best, scores)
        tokens[:, t] = torch.where(alive, prev, eos_id)
        attention[:, t] = attn
        finished = finished | (prev == eos_id)
        lengths += alive & ~finished
        if bool(finished.all()):
            break
    return _package(tokens[:, None], lengths[:, None], scores[:, None], scores[:, None], attention[:, None],
                    src_lengths)


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
    """
    if beam_size < 1 or not 1 <= nbest <= beam_size:
        raise ValueError(f"need beam_size >= 1 and 1 <= nbest <= beam_size, got {beam_size} and {nbest}")
    B, S = src.shape
    K, N, dev = beam_size, nbest, src.device
    limit = max_lengths(src_lengths, max_len_a, max_len_b).to(dev)  # (B,)
    steps = int(limit.max()) + 1
    alpha = length_penalty
    banned = _banned(sos_id, eos_id, pad_id)

    state = model.encode(src, src_lengths).index_select(torch.arange(B, device=dev).repeat_interleave(K))  # B*K rows
    # The K copies of a sentence start identical: only the first is live, or the first step
    # would pick the same extension K times.
    beam_scores = torch.full((B, K), float("-inf"), device=dev)  # (B, K) log P of each live beam
    beam_scores[:, 0] = 0.0
    prev = src.new_full((B * K,), sos_id)  # (B*K,)
    alive_tokens = src.new_full((B * K, steps), eos_id)  # (B*K, L)
    alive_attn = torch.zeros(B * K, steps, S, device=dev)  # (B*K, L, S)

    # The N best finished hypotheses of each sentence.
    fin_tokens = src.new_full((B, N, steps), eos_id)  # (B, N, L)
    fin_attn = torch.zeros(B, N, steps, S, device=dev)  # (B, N, L, S)
    fin_scores = torch.full((B, N), float("-inf"), device=dev)  # (B, N) log P
    fin_norm = torch.full((B, N), float("-inf"), device=dev)  # (B, N) log P / lp, best first
    fin_len = torch.zeros(B, N, dtype=torch.long, device=dev)  # (B, N) tokens before <eos>
    done = torch.zeros(B, dtype=torch.bool, device=dev)  # (B,)
    first_row = (torch.arange(B, device=dev) * K).unsqueeze(1)  # (B, 1) row of each sentence's first beam
    batch = torch.arange(B, device=dev).unsqueeze(1)  # (B, 1)

    for t in range(steps):
        log_probs, attn, state = model.decode_step(state, prev)  # (B*K, V), (B*K, S)
        V = log_probs.size(-1)
        log_probs = _restrict(log_probs, (t >= limit).repeat_interleave(K), eos_id, banned)
        cand = (beam_scores.unsqueeze(-1) + log_probs.view(B, K, V)).view(B, K * V)  # (B, K*V)
        top_scores, top_idx = cand.topk(min(2 * K, K * V), dim=-1)  # (B, 2K), best first
        rows = first_row + top_idx // V  # (B, 2K) the beam row each candidate extends
        top_tokens = top_idx % V  # (B, 2K)
        is_eos = top_tokens == eos_id  # (B, 2K)

        # 1. <eos> among the K best candidates finishes; merge with the N best so far.
        new_fin = is_eos[:, :K] & top_scores[:, :K].isfinite() & ~done.unsqueeze(1)  # (B, K)
        if bool(new_fin.any()):
            new_rows = rows[:, :K]  # (B, K)
            new_attn = alive_attn[new_rows]  # (B, K, L, S)
            new_attn[:, :, t] = attn[new_rows]
            new_norm = (top_scores[:, :K] / gnmt_length_penalty(t + 1, alpha)).masked_fill(~new_fin, float("-inf"))
            fin_norm, keep = torch.cat([fin_norm, new_norm], dim=1).topk(N, dim=1)  # (B, N + K) -> (B, N)
            fin_scores = torch.cat([fin_scores, top_scores[:, :K]], dim=1).gather(1, keep)
            fin_len = torch.cat([fin_len, torch.full_like(new_rows, t)], dim=1).gather(1, keep)
            fin_tokens = torch.cat([fin_tokens, alive_tokens[new_rows]], dim=1)[batch, keep]  # column t is <eos>
            fin_attn = torch.cat([fin_attn, new_attn], dim=1)[batch, keep]  # (B, N, L, S)

        # 2. The K best candidates that do not end in <eos> live on.
        beam_scores, pick = top_scores.masked_fill(is_eos, float("-inf")).topk(K, dim=-1)  # (B, K)
        reorder = rows.gather(1, pick).view(-1)  # (B*K,)
        prev = top_tokens.gather(1, pick).view(-1)  # (B*K,)
        alive_tokens = alive_tokens[reorder]
        alive_tokens[:, t] = prev
        alive_attn = alive_attn[reorder]
        alive_attn[:, t] = attn[reorder]
        state = state.index_select(reorder)

        # 3. Done: maximum length reached, or nothing live is expected to enter the N best.
        bound = beam_scores[:, 0] / gnmt_length_penalty(t + 2, alpha)  # (B,)
        done = done | (t >= limit) | (fin_norm[:, -1] >= bound)
        if bool(done.all()):
            break

    return _package(fin_tokens, fin_len, fin_scores, fin_norm, fin_attn, src_lengths)


def unk_replace(tokens: Sequence[Sequence[int]], attention: Sequence[Tensor], src_tokens: Sequence[Sequence[T]],
                unk_id: int) -> list[list[int | T]]:
    """Replace each target ``<unk>`` by the source token it attended to most (Luong et al. 2015b).

    ``tokens``: per sentence, target ids (e.g. ``Hypotheses.best``). ``attention``: per
    sentence (>= len(tokens), >= len(src)) weights (e.g. ``Hypotheses.best_attention``).
    ``src_tokens``: per sentence, the source tokens as the caller wants them copied; pass
    the surface strings from the tokenizer (not ids: a source id means nothing in the
    target vocabulary), so that a rare name comes through verbatim. The result keeps the
    target ids and puts the source item (a string) where an ``<unk>`` was.
    """
    out: list[list[int | T]] = []
    for ids, att, src in zip(tokens, attention, src_tokens, strict=True):
        if not src or unk_id not in ids:
            out.append(list(ids))
            continue
        aligned = att[: len(ids), : len(src)].argmax(dim=-1).tolist()  # target position -> source position
        out.append([src[aligned[j]] if tok == unk_id else tok for j, tok in enumerate(ids)])
    return out


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


@dataclass
class SamplingConfig:
    """How each next token is chosen. ``temperature`` 0 means greedy (the most likely token)."""

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    repetition_penalty: float = 1.0

    def validate(self) -> None:
        from seqlab.errors import SeqlabError

        if self.temperature < 0:
            raise SeqlabError(f"--temperature must be >= 0 (0 is greedy), got {self.temperature}")
        if not 0.0 < self.top_p <= 1.0:
            raise SeqlabError(f"--top-p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise SeqlabError(f"--top-k must be >= 0 (0 keeps every token), got {self.top_k}")
        if self.repetition_penalty <= 0:
            raise SeqlabError(f"--repetition-penalty must be > 0 (1 is none), got {self.repetition_penalty}")


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
