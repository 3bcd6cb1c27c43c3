"""Greedy and beam search over a small array interface, so that torch and the torch-free ONNX runtime run the very
same search; and sampling (top-k, nucleus, temperature, repetition penalty) in numpy for the ONNX runtime.

:mod:`seqlab.decode` runs :func:`greedy` and :func:`beam` with :class:`~seqlab.decode.TorchOps` (tensors, any
device); the exported translators (``seqlab/tasks/translate/onnx.py``) run them with :data:`NUMPY` on arrays from
ONNX Runtime. The algorithm, its lengths rule and its tie rules are described in :mod:`seqlab.decode`; it uses only
indexing, ``where``, ``topk``, ``gather`` and concatenation, which every array library has, spelled through ``ops``.

A model for the search has ``encode(src, src_lengths) -> state`` and ``decode_step(state, prev) -> (log_probs (N, V),
attention (N, S), state)``; a state has ``index_select(rows)``. Sampling is a numpy twin of :mod:`seqlab.decode`'s
(the random draws cannot match torch's generator; the filters are held equal by tests/test_export_lm.py). This module
imports no torch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import numpy as np

T = TypeVar("T")
NEG_INF = float("-inf")


class ArrayOps(Protocol):
    """The array operations the search needs beyond indexing and arithmetic, for one array library."""

    def full(self, shape: tuple[int, ...], value: Any, kind: str, like: Any) -> Any:
        """A new array of ``shape`` filled with ``value``; ``kind`` "int" | "float" | "bool"; on ``like``'s device."""

    def arange(self, n: int, like: Any) -> Any: ...

    def repeat(self, x: Any, k: int) -> Any:
        """Each element ``k`` times in a row (1-D)."""

    def where(self, cond: Any, a: Any, b: Any) -> Any: ...

    def isfinite(self, x: Any) -> Any: ...

    def max_last(self, x: Any) -> tuple[Any, Any]:
        """Largest value and its index along the last axis (the first on ties)."""

    def topk(self, x: Any, k: int) -> tuple[Any, Any]:
        """The ``k`` largest along the last axis of a 2-D array, best first: values, indices."""

    def take(self, x: Any, index: Any) -> Any:
        """``x[i, index[i, j]]`` for 2-D arrays (gather along the last axis)."""

    def cat(self, xs: list[Any], axis: int) -> Any: ...

    def host(self, x: Any) -> Any:
        """``x`` on the CPU as float32 where it is floating point (what :class:`Hypotheses` holds)."""

    def on(self, x: Any, like: Any) -> Any:
        """``x`` where ``like`` is (its device)."""


class NumpyOps:
    """:class:`ArrayOps` for numpy arrays (the ONNX runtime)."""

    KINDS = {"int": np.int64, "float": np.float32, "bool": np.bool_}

    def full(self, shape, value, kind, like=None):
        return np.full(shape, value, dtype=self.KINDS[kind])

    def arange(self, n, like=None):
        return np.arange(n, dtype=np.int64)

    def repeat(self, x, k):
        return np.repeat(x, k)

    def where(self, cond, a, b):
        dtype = b.dtype if isinstance(b, np.ndarray) else np.asarray(a).dtype
        return np.where(cond, a, b).astype(dtype, copy=False)

    def isfinite(self, x):
        return np.isfinite(x)

    def max_last(self, x):
        index = x.argmax(axis=-1)
        return np.take_along_axis(x, index[..., None], axis=-1)[..., 0], index

    def topk(self, x, k):
        n = x.shape[-1]
        if k < n:  # the k best in linear time, then ordered: best first, the lower index first on ties (as torch)
            part = np.argpartition(-x, k - 1, axis=-1)[:, :k]
        else:
            part = np.broadcast_to(np.arange(n), x.shape)
        values = np.take_along_axis(x, part, axis=-1)
        order = np.lexsort((part, -values), axis=-1)
        index = np.take_along_axis(part, order, axis=-1)
        return np.take_along_axis(values, order, axis=-1), index

    def take(self, x, index):
        return np.take_along_axis(x, index, axis=1)

    def cat(self, xs, axis):
        return np.concatenate(xs, axis=axis)

    def host(self, x):
        return x.astype(np.float32, copy=False) if np.issubdtype(x.dtype, np.floating) else x

    def on(self, x, like):
        return x


NUMPY = NumpyOps()


@dataclass
class Hypotheses:
    """Search results for B sentences, each with up to ``nbest`` hypotheses, best first.

    ``tokens[i][n]``: ids without ``<sos>``/``<eos>``. ``scores[i][n]``: sum of token
    log-probs, ``<eos>`` included. ``normalized_scores[i][n]``: the score hypotheses were
    ranked by (beam: score / GNMT length penalty; greedy: equal to ``scores``).
    ``attention[i][n]``: (len(tokens[i][n]), src_len_i) float CPU array (a tensor from torch), row j = the
    attention when producing token j (the ``<eos>`` row and source padding are trimmed).
    """

    tokens: list[list[list[int]]]
    scores: list[list[float]]
    normalized_scores: list[list[float]]
    attention: list[list[Any]]

    @property
    def best(self) -> list[list[int]]:
        """The best hypothesis of each sentence."""
        return [hyps[0] for hyps in self.tokens]

    @property
    def best_attention(self) -> list[Any]:
        return [att[0] for att in self.attention]


def max_lengths(src_lengths: Any, max_len_a: float, max_len_b: float) -> Any:
    """(B,) source lengths -> (B,) int, the most tokens (before ``<eos>``) each sentence may get:
    ``floor(max_len_a * src_len + max_len_b)`` in float32 (a numpy array or a tensor, as given)."""
    if isinstance(src_lengths, np.ndarray):
        limit = np.floor(np.float32(max_len_a) * src_lengths.astype(np.float32) + np.float32(max_len_b))
        return np.maximum(limit, 0).astype(np.int64)
    return (max_len_a * src_lengths.float() + max_len_b).floor().clamp(min=0).long()


def gnmt_length_penalty(length: Any, alpha: float) -> Any:
    """lp(Y) = ((5 + |Y|) / 6) ** alpha (Wu et al. 2016); hypotheses are ranked by log P(Y) / lp(Y).

    |Y| counts the ``<eos>``: it is the number of scored tokens."""
    return ((5.0 + length) / 6.0) ** alpha


def banned_ids(sos_id: int, eos_id: int, pad_id: int | None) -> list[int]:
    """``<sos>`` (and ``<pad>`` when given) are never outputs; a model may still score them."""
    return [i for i in {sos_id, pad_id} if i is not None and i != eos_id]


def restrict(log_probs: Any, force_eos: Any, eos_id: int, banned: list[int], ops: ArrayOps) -> Any:
    """log_probs (N, V) with ``banned`` ids impossible and rows where ``force_eos`` (N,) holds allowed only ``<eos>``."""
    V = log_probs.shape[-1]
    ban = ops.full((V,), False, "bool", log_probs)
    if banned:
        ban[banned] = True
    drop = ban[None, :]
    if bool(force_eos.any()):
        not_eos = ops.full((V,), True, "bool", log_probs)
        not_eos[eos_id] = False
        drop = drop | (force_eos[:, None] & not_eos[None, :])  # (N, V)
    return ops.where(drop, NEG_INF, log_probs)


def package(tokens: Any, lengths: Any, scores: Any, normalized: Any, attention: Any, src_lengths: Any,
            ops: ArrayOps) -> Hypotheses:
    """Cut padded results (B, N, L), (B, N), (B, N), (B, N), (B, N, L, S) into per-sentence lists.

    Hypotheses with a -inf score (fewer than N found) are left out.
    """
    attention = ops.host(attention)
    valid = ops.host(ops.isfinite(normalized)).tolist()
    tok, lens = ops.host(tokens).tolist(), ops.host(lengths).tolist()
    sc, norm, src_lens = ops.host(scores).tolist(), ops.host(normalized).tolist(), ops.host(src_lengths).tolist()
    out = Hypotheses([], [], [], [])
    for i, ok in enumerate(valid):
        keep = [n for n, v in enumerate(ok) if v]
        out.tokens.append([tok[i][n][: lens[i][n]] for n in keep])
        out.scores.append([sc[i][n] for n in keep])
        out.normalized_scores.append([norm[i][n] for n in keep])
        out.attention.append([attention[i, n, : lens[i][n], : src_lens[i]] for n in keep])
    return out


def greedy(model: Any, src: Any, src_lengths: Any, sos_id: int, eos_id: int, max_len_a: float = 1.5,
           max_len_b: float = 10, pad_id: int | None = None, ops: ArrayOps = NUMPY) -> Hypotheses:
    """Most probable next token at every step, for a batch src (B, S), src_lengths (B,) (:func:`seqlab.decode.greedy_search`)."""
    banned = banned_ids(sos_id, eos_id, pad_id)
    B, S = src.shape
    limit = ops.on(max_lengths(src_lengths, max_len_a, max_len_b), src)  # (B,)
    steps = int(limit.max()) + 1  # + 1 for the final <eos>
    state = model.encode(src, src_lengths)
    prev = ops.full((B,), sos_id, "int", src)  # (B,)
    tokens = ops.full((B, steps), eos_id, "int", src)  # (B, L)
    attention = ops.full((B, steps, S), 0.0, "float", src)  # (B, L, S)
    scores = ops.full((B,), 0.0, "float", src)  # (B,)
    lengths = ops.full((B,), 0, "int", src)  # (B,) tokens before <eos>
    finished = ops.full((B,), False, "bool", src)  # (B,)
    for t in range(steps):
        log_probs, attn, state = model.decode_step(state, prev)  # (B, V), (B, S)
        log_probs = restrict(log_probs, t >= limit, eos_id, banned, ops)
        best, prev = ops.max_last(log_probs)  # (B,), (B,)
        alive = ~finished
        scores = ops.where(alive, scores + best, scores)
        tokens[:, t] = ops.where(alive, prev, eos_id)
        attention[:, t] = attn
        finished = finished | (prev == eos_id)
        lengths += alive & ~finished
        if bool(finished.all()):
            break
    return package(tokens[:, None], lengths[:, None], scores[:, None], scores[:, None], attention[:, None],
                   src_lengths, ops)


def beam(model: Any, src: Any, src_lengths: Any, sos_id: int, eos_id: int, beam_size: int = 5,
         length_penalty: float = 0.6, max_len_a: float = 1.5, max_len_b: float = 10, nbest: int = 1,
         pad_id: int | None = None, ops: ArrayOps = NUMPY) -> Hypotheses:
    """Beam search over a batch src (B, S), src_lengths (B,); the algorithm is :func:`seqlab.decode.beam_search`'s."""
    if beam_size < 1 or not 1 <= nbest <= beam_size:
        raise ValueError(f"need beam_size >= 1 and 1 <= nbest <= beam_size, got {beam_size} and {nbest}")
    B, S = src.shape
    K, N = beam_size, nbest
    limit = ops.on(max_lengths(src_lengths, max_len_a, max_len_b), src)  # (B,)
    steps = int(limit.max()) + 1
    alpha = length_penalty
    banned = banned_ids(sos_id, eos_id, pad_id)

    state = model.encode(src, src_lengths).index_select(ops.repeat(ops.arange(B, src), K))  # B*K rows
    # The K copies of a sentence start identical: only the first is live, or the first step
    # would pick the same extension K times.
    beam_scores = ops.full((B, K), NEG_INF, "float", src)  # (B, K) log P of each live beam
    beam_scores[:, 0] = 0.0
    prev = ops.full((B * K,), sos_id, "int", src)  # (B*K,)
    alive_tokens = ops.full((B * K, steps), eos_id, "int", src)  # (B*K, L)
    alive_attn = ops.full((B * K, steps, S), 0.0, "float", src)  # (B*K, L, S)

    # The N best finished hypotheses of each sentence.
    fin_tokens = ops.full((B, N, steps), eos_id, "int", src)  # (B, N, L)
    fin_attn = ops.full((B, N, steps, S), 0.0, "float", src)  # (B, N, L, S)
    fin_scores = ops.full((B, N), NEG_INF, "float", src)  # (B, N) log P
    fin_norm = ops.full((B, N), NEG_INF, "float", src)  # (B, N) log P / lp, best first
    fin_len = ops.full((B, N), 0, "int", src)  # (B, N) tokens before <eos>
    done = ops.full((B,), False, "bool", src)  # (B,)
    first_row = (ops.arange(B, src) * K)[:, None]  # (B, 1) row of each sentence's first beam
    batch = ops.arange(B, src)[:, None]  # (B, 1)

    for t in range(steps):
        log_probs, attn, state = model.decode_step(state, prev)  # (B*K, V), (B*K, S)
        V = log_probs.shape[-1]
        log_probs = restrict(log_probs, ops.repeat(t >= limit, K), eos_id, banned, ops)
        cand = (beam_scores[:, :, None] + log_probs.reshape(B, K, V)).reshape(B, K * V)  # (B, K*V)
        top_scores, top_idx = ops.topk(cand, min(2 * K, K * V))  # (B, 2K), best first
        rows = first_row + top_idx // V  # (B, 2K) the beam row each candidate extends
        top_tokens = top_idx % V  # (B, 2K)
        is_eos = top_tokens == eos_id  # (B, 2K)

        # 1. <eos> among the K best candidates finishes; merge with the N best so far.
        new_fin = is_eos[:, :K] & ops.isfinite(top_scores[:, :K]) & ~done[:, None]  # (B, K)
        if bool(new_fin.any()):
            new_rows = rows[:, :K]  # (B, K)
            new_attn = alive_attn[new_rows]  # (B, K, L, S)
            new_attn[:, :, t] = attn[new_rows]
            new_norm = ops.where(new_fin, top_scores[:, :K] / gnmt_length_penalty(t + 1, alpha), NEG_INF)
            fin_norm, keep = ops.topk(ops.cat([fin_norm, new_norm], 1), N)  # (B, N + K) -> (B, N)
            fin_scores = ops.take(ops.cat([fin_scores, top_scores[:, :K]], 1), keep)
            fin_len = ops.take(ops.cat([fin_len, ops.full(tuple(new_rows.shape), t, "int", src)], 1), keep)
            fin_tokens = ops.cat([fin_tokens, alive_tokens[new_rows]], 1)[batch, keep]  # column t is <eos>
            fin_attn = ops.cat([fin_attn, new_attn], 1)[batch, keep]  # (B, N, L, S)

        # 2. The K best candidates that do not end in <eos> live on.
        beam_scores, pick = ops.topk(ops.where(is_eos, NEG_INF, top_scores), K)  # (B, K)
        reorder = ops.take(rows, pick).reshape(-1)  # (B*K,)
        prev = ops.take(top_tokens, pick).reshape(-1)  # (B*K,)
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

    return package(fin_tokens, fin_len, fin_scores, fin_norm, fin_attn, src_lengths, ops)


def unk_replace(tokens: Sequence[Sequence[int]], attention: Sequence[Any], src_tokens: Sequence[Sequence[T]],
                unk_id: int) -> list[list[int | T]]:
    """Replace each target ``<unk>`` by the source token it attended to most (Luong et al. 2015b).

    ``tokens``: per sentence, target ids (e.g. ``Hypotheses.best``). ``attention``: per
    sentence (>= len(tokens), >= len(src)) weights (e.g. ``Hypotheses.best_attention``; arrays or CPU tensors).
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
        aligned = np.asarray(att)[: len(ids), : len(src)].argmax(axis=-1).tolist()  # target -> source position
        out.append([src[aligned[j]] if tok == unk_id else tok for j, tok in enumerate(ids)])
    return out


# ---------------------------------------------------------------------------- sampling (numpy)
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


def repetition_penalty(scores: np.ndarray, previous: np.ndarray, penalty: float) -> np.ndarray:
    """Tokens already in ``previous`` (B, S) made less likely in ``scores`` (B, V) (CTRL; as seqlab.decode's)."""
    if penalty == 1.0 or previous.size == 0:
        return scores
    seen = np.zeros(scores.shape, dtype=bool)
    np.put_along_axis(seen, previous, True, axis=1)  # (B, V)
    with np.errstate(over="ignore", invalid="ignore"):
        penalised = np.where(scores < 0, scores * penalty, scores / penalty).astype(scores.dtype)
    penalised = np.where(np.isfinite(scores), np.maximum(penalised, np.finfo(scores.dtype).min), scores)
    return np.where(seen, penalised, scores)


def top_k_filter(scores: np.ndarray, k: int) -> np.ndarray:
    """Keep the ``k`` highest scores of each row (B, V), set the rest to -inf; k <= 0 keeps all."""
    if k <= 0 or k >= scores.shape[-1]:
        return scores
    kth = np.partition(scores, -k, axis=-1)[:, -k:].min(axis=-1, keepdims=True)  # (B, 1)
    return np.where(scores < kth, NEG_INF, scores).astype(scores.dtype)


def _softmax(scores: np.ndarray) -> np.ndarray:
    top = scores.max(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore"):
        e = np.exp(scores - np.where(np.isfinite(top), top, 0.0))
    return e / e.sum(axis=-1, keepdims=True)


def top_p_filter(scores: np.ndarray, p: float) -> np.ndarray:
    """Nucleus filtering (Holtzman et al. 2019): the smallest set of most likely tokens whose probability reaches
    ``p`` (the most likely always stays), per row of ``scores`` (B, V)."""
    if p >= 1.0:
        return scores
    order = np.argsort(-scores, axis=-1, kind="stable")  # (B, V) best first
    sorted_scores = np.take_along_axis(scores, order, axis=-1)
    probs = _softmax(sorted_scores.astype(np.float32))
    before = probs.cumsum(axis=-1) - probs  # the mass ranked above each token
    drop_sorted = before >= p
    drop_sorted[:, 0] = False
    drop = np.zeros_like(drop_sorted)
    np.put_along_axis(drop, order, drop_sorted, axis=1)  # back to vocabulary order
    return np.where(drop, NEG_INF, scores).astype(scores.dtype)


def choose_next(log_probs: np.ndarray, previous: np.ndarray, config: SamplingConfig,
                rng: np.random.Generator) -> np.ndarray:
    """log_probs (B, V), previous tokens (B, S) -> the next token of each row (B,)."""
    scores = repetition_penalty(log_probs.astype(np.float32), previous, config.repetition_penalty)
    if config.temperature == 0:
        return scores.argmax(axis=-1)
    scores = scores - scores.max(axis=-1, keepdims=True)  # the best at 0 (see seqlab.decode.choose_next)
    finfo = np.finfo(np.float32)
    temperature = np.float32(min(max(config.temperature, float(finfo.tiny)), float(finfo.max)))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        scaled = (scores / temperature).astype(np.float32)
    scaled = np.where(np.isnan(scaled), NEG_INF, scaled)  # -inf / huge stays -inf
    probs = _softmax(top_p_filter(top_k_filter(scaled, config.top_k), config.top_p)).astype(np.float64)
    cumulative = probs.cumsum(axis=-1)
    draws = rng.random(len(probs))[:, None] * cumulative[:, -1:]
    chosen = (cumulative <= draws).sum(axis=-1)  # the first token whose cumulative probability passes the draw
    return np.minimum(chosen, probs.shape[-1] - 1).astype(np.int64)


class StepLM(Protocol):
    """What sampling needs from a language model: log P(next) for a prompt, then per token."""

    def start(self, ids: np.ndarray) -> tuple[np.ndarray, Any]: ...

    def step(self, tokens: np.ndarray, state: Any) -> tuple[np.ndarray, Any]: ...


def sample(model: StepLM, prompt: np.ndarray, max_tokens: int, config: SamplingConfig, rng: np.random.Generator,
           banned: Sequence[int] = ()) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Generate ``max_tokens`` tokens after ``prompt`` (B, T) for every row at once, yielding each step's tokens (B,)
    and their probabilities under the model (B,): :func:`seqlab.decode.sample` in numpy."""
    log_probs, state = model.start(prompt)
    previous = prompt
    banned = list(banned)
    for i in range(max_tokens):
        allowed = log_probs
        if banned:
            allowed = log_probs.copy()
            allowed[:, banned] = NEG_INF
        tokens = choose_next(allowed, previous, config, rng)  # (B,)
        yield tokens, np.exp(np.take_along_axis(log_probs.astype(np.float32), tokens[:, None], axis=1)[:, 0])
        previous = np.concatenate([previous, tokens[:, None]], axis=1)  # (B, S + 1)
        if i + 1 < max_tokens:
            log_probs, state = model.step(tokens, state)
