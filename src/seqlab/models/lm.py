"""Language models: a word-level LSTM/GRU (AWD-LSTM style) and a decoder-only Transformer (GPT style).

    ids (B, T) -> embed -> RNN layers (state carried) -> [proj] -> output layer -> log P(next token)
    ids (B, T) -> embed * sqrt(d) + positions -> N x causal pre-LN block -> LayerNorm -> output layer

Both models give the same small interface, which the LM task, the trainer and the sampling
functions in :mod:`seqlab.decode` rely on and nothing else:

- ``forward(ids, state) -> (hidden (B, T, D), state)``: hidden states before the output layer;
- ``output``: an :class:`OutputLayer` (full softmax, tied or not, or adaptive softmax);
- ``start(ids) -> (log_probs (B, V) of the next token, state)`` and
  ``step(tokens (B,), state) -> (log_probs (B, V), state)`` for generation.

For the RNN the state is its hidden state, carried across truncated-BPTT batches; for the
Transformer it is a key/value cache, so that each generated token costs one position.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.errors import SeqlabError
from seqlab.models.configs import (  # noqa: F401  (re-exported)
    LM_RECIPES,
    SOFTMAX_CHOICES,
    UNKNOWN_VOCAB,
    RNNLMConfig,
    TransformerLMConfig,
    _parse_cutoffs,
)
from seqlab.models.configs import RNN_LM_RECIPE as RNN_RECIPE  # noqa: F401  (re-exported)
from seqlab.models.configs import TRANSFORMER_LM_RECIPE as TRANSFORMER_RECIPE  # noqa: F401  (re-exported)
from seqlab.models.positions import sinusoidal_positions
from seqlab.models.rnn_step import rnn_step
from seqlab.models.transformer_seq2seq import KV, FeedForward, MultiHeadAttention


class TiedAdaptiveSoftmax(nn.Module):
    """Adaptive softmax whose word vectors are the input embedding's rows (tied; Baevski & Auli 2019).

    Words are ranked by frequency. The head scores the ``cutoffs[0]`` most frequent words as
    ``h . e_w + b_w`` plus one logit per cluster of rarer words; a word in cluster ``i`` gets
    ``log p(cluster i) + log p(w | cluster i)``, the latter scored in a narrower space of width
    ``D / div_value^(i+1)``: ``(A_i h) . (B_i e_w) + b_w``. Every output vector is thus made from
    the word's own embedding, as in a tied full softmax (Press & Wolf 2017), while a token pays
    for its cluster only when it is the target (training), and the narrow clusters keep scoring
    the whole vocabulary cheap when generating (full-width clusters read the whole embedding
    table for every generated token: measured 7.7 vs 0.6 ms a step for 33k words of width 256).
    The loop is over clusters (two by default), never over examples.
    """

    def __init__(self, embedding: nn.Embedding, cutoffs: list[int], div_value: float = 4.0) -> None:
        super().__init__()
        vocab_size, size = embedding.weight.shape
        self._tied = [embedding]  # a plain list: the parent owns (and saves) the embedding
        self.bounds = [*cutoffs, vocab_size]  # cluster i holds ids [bounds[i], bounds[i + 1])
        widths = [max(1, int(size // div_value ** (i + 1))) for i in range(len(cutoffs))]
        self.head_bias = nn.Parameter(torch.zeros(cutoffs[0]))
        self.cluster_logits = nn.Linear(size, len(cutoffs))
        self.hidden_projections = nn.ModuleList(nn.Linear(size, w, bias=False) for w in widths)
        self.embedding_projections = nn.ModuleList(nn.Linear(size, w, bias=False) for w in widths)
        self.tail_biases = nn.ParameterList(nn.Parameter(torch.zeros(self.bounds[i + 1] - self.bounds[i]))
                                            for i in range(len(cutoffs)))
        self._frozen: dict[int, tuple[tuple, Tensor]] = {}  # cluster -> (weight versions, projected embeddings)

    @property
    def weight(self) -> Tensor:
        return self._tied[0].weight  # (V, D)

    def train(self, mode: bool = True) -> TiedAdaptiveSoftmax:
        """Forget the kept cluster vectors whenever training starts or stops: a fused optimizer updates the
        weights in place without bumping their version counters, so versions alone would keep stale vectors."""
        self._frozen.clear()
        return super().train(mode)

    def _cluster_vectors(self, i: int) -> Tensor:
        """The output vectors (size of cluster i, width i) of cluster i's words: their projected embeddings.

        Without gradients (generation, scoring) they are computed once and kept until a weight changes."""
        lo, hi = self.bounds[i], self.bounds[i + 1]
        project = cast(nn.Linear, self.embedding_projections[i])
        proj = project.weight
        if torch.is_grad_enabled():
            return project(self.weight[lo:hi])
        key = (self.weight._version, proj._version, self.weight.data_ptr(), proj.data_ptr(), proj.dtype)
        kept = self._frozen.get(i)
        if kept is None or kept[0] != key:
            kept = self._frozen[i] = (key, project(self.weight[lo:hi]))
        return kept[1]

    def _head_log_probs(self, hidden: Tensor) -> Tensor:
        """hidden (N, D) -> (N, cutoffs[0] + clusters) log-probabilities of the head's words and clusters."""
        words = hidden @ self.weight[: self.bounds[0]].t() + self.head_bias
        return torch.log_softmax(torch.cat([words, self.cluster_logits(hidden)], dim=-1), dim=-1)

    def _cluster_log_probs(self, hidden: Tensor, i: int) -> Tensor:
        """hidden (M, D) -> (M, size of cluster i) log p(word | cluster i)."""
        logits = self.hidden_projections[i](hidden) @ self._cluster_vectors(i).t() + self.tail_biases[i]
        return torch.log_softmax(logits, dim=-1)

    def nll(self, hidden: Tensor, targets: Tensor) -> Tensor:
        """hidden (N, D), targets (N,) -> (N,) negative log-likelihoods; each cluster scores only its own targets."""
        head = self._head_log_probs(hidden)
        boundaries = torch.tensor(self.bounds[:-1], device=targets.device)
        bucket = torch.bucketize(targets, boundaries, right=True)  # 0: head, i + 1: cluster i
        head_index = torch.where(bucket == 0, targets, self.bounds[0] + bucket - 1)
        log_p = head.gather(1, head_index[:, None]).squeeze(1)
        for i in range(len(self.tail_biases)):
            rows = (bucket == i + 1).nonzero().squeeze(1)
            if rows.numel():
                within = self._cluster_log_probs(hidden[rows], i)
                log_p = log_p.index_add(0, rows, within.gather(1, (targets[rows] - self.bounds[i])[:, None]).squeeze(1))
        return -log_p

    def log_prob(self, hidden: Tensor) -> Tensor:
        """hidden (N, D) -> (N, V) log-probabilities over the whole vocabulary."""
        head = self._head_log_probs(hidden)
        first = self.bounds[0]
        parts = [head[:, :first]]
        for i in range(len(self.tail_biases)):
            parts.append(head[:, first + i: first + i + 1] + self._cluster_log_probs(hidden, i))
        return torch.cat(parts, dim=-1)


class OutputLayer(nn.Module):
    """Hidden states -> next-token log-probabilities.

    ``full``: one linear layer and a softmax over the vocabulary. ``adaptive`` (Grave et al.
    2017): frequent words in a small head, rare ones in clusters, so most tokens never pay for
    the full vocabulary; it needs ids ranked by frequency, which seqlab's vocabularies are.
    Either is tied to the input embedding when given one (Press & Wolf 2017): the tied adaptive
    softmax is :class:`TiedAdaptiveSoftmax`, the untied one ``nn.AdaptiveLogSoftmaxWithLoss``
    with clusters of reduced width.
    """

    def __init__(self, size: int, vocab_size: int, kind: str, tied: nn.Embedding | None, cutoffs: str,
                 div_value: float = 4.0) -> None:
        super().__init__()
        self.kind = kind
        self.adaptive: nn.AdaptiveLogSoftmaxWithLoss | TiedAdaptiveSoftmax | None = None
        self.linear: nn.Linear | None = None
        cuts = _parse_cutoffs(cutoffs, vocab_size) if kind == "adaptive" else []
        if kind == "adaptive" and cuts:
            # each cluster's width is size / div_value^i; small models keep every cluster at least 1 wide
            # (0.999: size / root^n in floating point can land just under 1, a zero-width cluster)
            div_value = min(div_value, max(1.0, 0.999 * size ** (1.0 / len(cuts))))
        if kind == "adaptive" and cuts and tied is not None:
            self.adaptive = TiedAdaptiveSoftmax(tied, cuts, div_value)
        elif kind == "adaptive" and cuts:
            self.adaptive = nn.AdaptiveLogSoftmaxWithLoss(size, vocab_size, cuts, div_value=div_value)
        else:
            self.linear = nn.Linear(size, vocab_size)
            if tied is not None:
                self.linear.weight = tied.weight  # (V, D) shared with the input embedding

    def nll(self, hidden: Tensor, targets: Tensor) -> Tensor:
        """hidden (N, D), targets (N,) -> (N,) negative log-likelihoods, in fp32."""
        if self.adaptive is not None:
            with torch.autocast(hidden.device.type, enabled=False):
                if isinstance(self.adaptive, TiedAdaptiveSoftmax):
                    return self.adaptive.nll(hidden.float(), targets)
                return -self.adaptive(hidden.float(), targets).output
        logits = self.linear(hidden)  # type: ignore[misc]  # (N, V)
        return F.cross_entropy(logits.float(), targets, reduction="none")

    def log_probs(self, hidden: Tensor) -> Tensor:
        """hidden (N, D) -> (N, V) log-probabilities over the whole vocabulary, in fp32."""
        if self.adaptive is not None:
            with torch.autocast(hidden.device.type, enabled=False):
                return self.adaptive.log_prob(hidden.float())
        return torch.log_softmax(self.linear(hidden).float(), dim=-1)  # type: ignore[misc]


# ---------------------------------------------------------------------------- the RNN language model
def locked_dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """x (B, T, D): one dropout mask per sequence, shared by every time step (Gal & Ghahramani 2016)."""
    if not training or p == 0.0:
        return x
    mask = x.new_empty(x.size(0), 1, x.size(2)).bernoulli_(1 - p) / (1 - p)  # (B, 1, D)
    return x * mask


def embedding_dropout(embedding: nn.Embedding, ids: Tensor, p: float, training: bool) -> Tensor:
    """Drop whole rows of the embedding matrix (a word is dropped everywhere in the batch; AWD-LSTM)."""
    if not training or p == 0.0:
        return embedding(ids)
    keep = embedding.weight.new_empty(embedding.weight.size(0), 1).bernoulli_(1 - p) / (1 - p)  # (V, 1)
    return F.embedding(ids, embedding.weight * keep, embedding.padding_idx)


class RNNLM(nn.Module):
    """Stacked LSTM/GRU over a token stream; the state is carried between batches by the caller."""

    stateful = True  # scored and trained over contiguous streams, state carried (truncated BPTT)
    context: int | None = None  # no window: the state summarises everything before

    def __init__(self, config: RNNLMConfig, vocab_size: int) -> None:
        super().__init__()
        c = self.config = config
        self.vocab_size = vocab_size
        tie = c.tie_weights
        # untied and without embedding dropout, only the rows of a batch's words get gradients: a sparse table
        # (SparseAdam in the trainer) skips the dense 33k x 400 gradient and update of every step
        self.embedding = nn.Embedding(vocab_size, c.emb_size, sparse=not tie and c.emb_dropout == 0)
        cell = nn.LSTM if c.cell == "lstm" else nn.GRU
        # one module per layer, so locked dropout can sit between layers
        self.rnns = nn.ModuleList(cell(c.emb_size if i == 0 else c.hidden_size, c.hidden_size, batch_first=True)
                                  for i in range(c.layers))
        out_size = c.emb_size if tie else c.hidden_size
        self.state_size = out_size  # the width of the states forward() returns
        # tying needs the output size of the embedding: project when the sizes differ (Press & Wolf 2017)
        self.projection = nn.Linear(c.hidden_size, out_size) if out_size != c.hidden_size else None
        self.output = OutputLayer(out_size, vocab_size, c.softmax, self.embedding if tie else None, c.cutoffs)
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)

    def init_state(self, batch_size: int, device: torch.device | str = "cpu") -> list[Any]:
        zeros = torch.zeros(1, batch_size, self.config.hidden_size, device=device)
        return [(zeros, zeros.clone()) if self.config.cell == "lstm" else zeros.clone() for _ in self.rnns]

    @staticmethod
    def detach_state(state: list[Any]) -> list[Any]:
        """Cut the graph between BPTT segments: gradients stop here, the values carry on."""
        return [tuple(s.detach() for s in layer) if isinstance(layer, tuple) else layer.detach() for layer in state]

    @staticmethod
    def select_streams(state: list[Any], index: slice) -> list[Any]:
        """The state of the streams ``index`` picks (the batch axis: 1 in each layer's ``(1, B, H)``)."""
        return [tuple(s[:, index] for s in layer) if isinstance(layer, tuple) else layer[:, index] for layer in state]

    def forward(self, ids: Tensor, state: list[Any] | None = None) -> tuple[Tensor, list[Any]]:
        """ids (B, T) -> hidden (B, T, D_out) before the output layer, new state."""
        c = self.config
        if state is None:
            state = self.init_state(ids.size(0), ids.device)
        x = embedding_dropout(self.embedding, ids, c.emb_dropout, self.training)  # (B, T, E)
        x = locked_dropout(x, c.input_dropout, self.training)
        new_state = []
        for i, rnn in enumerate(self.rnns):
            x, s = rnn(x, state[i])  # (B, T, H)
            new_state.append(s)
            x = locked_dropout(x, c.hidden_dropout if i < len(self.rnns) - 1 else c.dropout, self.training)
        if self.projection is not None:
            x = self.projection(x)  # (B, T, E)
        return x, new_state

    def start(self, ids: Tensor, state: list[Any] | None = None) -> tuple[Tensor, list[Any]]:
        """Prompt ids (B, T >= 1) -> log P(next) (B, V) and the state after the prompt."""
        hidden, state = self(ids, state)
        return self.output.log_probs(hidden[:, -1]), state

    def step(self, tokens: Tensor, state: list[Any]) -> tuple[Tensor, list[Any]]:
        """tokens (B,) -> log P(next) (B, V), state: one position through each layer with
        :func:`~seqlab.models.rnn_step.rnn_step` (an LSTM several times faster than its module at one step)."""
        if self.training:  # dropout masks: the module path
            return self.start(tokens[:, None], state)
        x = self.embedding(tokens)  # (B, E)
        new_state = []
        for rnn, layer_state in zip(self.rnns, state, strict=True):
            x, layer_state = rnn_step(cast(nn.LSTM | nn.GRU, rnn), x, layer_state)  # (B, H)
            new_state.append(layer_state)
        if self.projection is not None:
            x = self.projection(x)  # (B, E)
        return self.output.log_probs(x), new_state


# ---------------------------------------------------------------------------- the Transformer language model
class CausalBlock(nn.Module):
    """Pre-LN block (Xiong et al. 2020): x + SelfAttention(LN(x)), then x + FF(LN(x))."""

    def __init__(self, d_model: int, heads: int, ff_size: int, dropout: float) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attention = MultiHeadAttention(d_model, heads, 0.0)  # no attention dropout: keeps the fused kernel
        self.ff = FeedForward(d_model, ff_size, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, cache: KV | None) -> tuple[Tensor, KV]:
        """x (B, T, D) new positions; cache: keys/values (B, h, S, d_head) of earlier positions or None.
        -> (B, T, D), the cache extended by these T positions."""
        h = self.norm1(x)
        k, v = self.attention.project_kv(h)  # (B, h, T, d_head)
        if cache is not None:
            k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)  # (B, h, S + T, d_head)
        # a causal mask over the new positions; with a cache and one new token there is nothing to mask
        causal = cache is None or x.size(1) == 1
        mask = None
        if not causal:  # several new positions after a cache: bottom-right aligned causal mask
            S, T = k.size(2), x.size(1)
            mask = torch.ones(T, S, dtype=torch.bool, device=x.device).tril(S - T)  # (T, S)
        out, _ = self.attention(h, (k, v), mask=mask, is_causal=cache is None)
        x = x + self.drop(out)
        x = x + self.drop(self.ff(self.norm2(x)))
        return x, (k, v)


class TransformerLM(nn.Module):
    """Decoder-only Transformer; attention through ``scaled_dot_product_attention`` with a causal mask."""

    stateful = False  # trained on windows of ``context`` tokens; scored with overlapping windows

    def __init__(self, config: TransformerLMConfig, vocab_size: int) -> None:
        super().__init__()
        c = self.config = config
        self.vocab_size = vocab_size
        self.context = c.context
        self.state_size = c.d_model  # the width of the states forward() returns
        self.embedding = nn.Embedding(vocab_size, c.d_model)
        nn.init.normal_(self.embedding.weight, std=c.d_model ** -0.5)
        self.position_table: nn.Embedding | None = None
        if c.positions == "learned":
            self.position_table = nn.Embedding(c.context, c.d_model)
            nn.init.normal_(self.position_table.weight, std=0.02)
        else:
            self.register_buffer("sinusoid", sinusoidal_positions(c.context, c.d_model), persistent=False)
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(CausalBlock(c.d_model, c.heads, c.ff_size, c.dropout) for _ in range(c.layers))
        self.norm = nn.LayerNorm(c.d_model)
        tie = c.tie_weights
        self.output = OutputLayer(c.d_model, vocab_size, c.softmax, self.embedding if tie else None, c.cutoffs)

    def _positions(self, start: int, length: int, device: torch.device) -> Tensor:
        if start + length > self.config.context:
            raise SeqlabError(f"the input is longer than the model's context of {self.config.context} tokens")
        if self.position_table is not None:
            return self.position_table(torch.arange(start, start + length, device=device))  # (T, D)
        table: Tensor = self.sinusoid  # type: ignore[assignment]  # a registered buffer
        return table[start: start + length]  # (T, D)

    def init_state(self, batch_size: int, device: torch.device | str = "cpu") -> None:
        return None  # no carried state in training: each window is attended to on its own

    @staticmethod
    def detach_state(state: Any) -> Any:
        return state

    def forward(self, ids: Tensor, state: Any = None, cache: list[KV] | None = None) -> tuple[Tensor, list[KV]]:
        """ids (B, T) -> hidden (B, T, D) and the key/value cache after them (one (k, v) per layer).

        ``cache`` holds earlier positions (generation); ``state`` is accepted for the common interface.
        """
        start = cache[0][0].size(2) if cache else 0
        x = self.embedding(ids) * math.sqrt(self.config.d_model)  # (B, T, D)
        x = self.drop(x + self._positions(start, ids.size(1), ids.device))
        new_cache = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, cache[i] if cache else None)
            new_cache.append(kv)
        return self.norm(x), new_cache

    def start(self, ids: Tensor, state: Any = None) -> tuple[Tensor, TransformerState]:
        """Prompt ids (B, T) -> log P(next) (B, V) and the state: key/value cache plus the ids it covers."""
        hidden, cache = self(ids)
        return self.output.log_probs(hidden[:, -1]), TransformerState(cache, ids)

    def step(self, tokens: Tensor, state: TransformerState) -> tuple[Tensor, TransformerState]:
        """tokens (B,) -> log P(next) (B, V) and the state one position longer: one position of work.

        When the cache holds a whole context window, positions must restart at 0: the newest half of
        the window is recomputed once (so this happens once every ``context / 2`` tokens).
        """
        ids = torch.cat([state.ids, tokens[:, None]], dim=1)  # (B, S + 1)
        if state.ids.size(1) >= self.config.context:
            return self.start(ids[:, -(self.config.context // 2):])
        hidden, cache = self(tokens[:, None], cache=state.cache)
        return self.output.log_probs(hidden[:, -1]), TransformerState(cache, ids)


@dataclass
class TransformerState:
    """What generation carries between steps: per layer (keys, values) (B, h, S, d_head), and the ids (B, S)."""

    cache: list[KV]
    ids: Tensor

    def index_select(self, rows: Tensor) -> TransformerState:
        return TransformerState([(k[rows], v[rows]) for k, v in self.cache], self.ids[rows])


LANGUAGE_MODELS: dict[str, tuple[type, type]] = {
    "rnn": (RNNLMConfig, RNNLM),
    "transformer": (TransformerLMConfig, TransformerLM),
}
