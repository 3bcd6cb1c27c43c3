"""Attention scorers for the RNN decoder, and attention pooling for classifiers.

Every scorer maps a query and a padded batch of keys to a distribution over the
keys and the weighted sum of the keys (the context)::

    context, weights = attn(query, keys, mask)   # (B, Q), (B, S, K), (B, S) -> (B, K), (B, S)

The kinds differ only in the score (Luong et al. 2015 for ``dot``/``general``/``concat``,
Bahdanau et al. 2015 for ``additive``). The part of the score that depends on the keys
alone is computed once per sentence by :meth:`Attention.precompute_keys` and passed
back at every decoder step, so a decoder of T steps projects the keys once, not T times.

Masks are boolean with True for a real token. Masked positions get exactly zero weight;
a row with no real token at all gets all-zero weights and a zero context instead of NaN.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.models.configs import ATTENTION_KINDS


def masked_softmax(scores: Tensor, mask: Tensor | None) -> Tensor:
    """Softmax over the last dim that gives masked positions exactly 0 and empty rows all 0.

    ``-inf`` before the softmax makes exp() exactly 0 (a large negative number would not);
    rows with nothing to attend to would be softmax(all -inf) = NaN, so they are scored 0
    first and zeroed after, which also keeps their gradient at 0 rather than NaN.
    """
    if mask is None:
        return torch.softmax(scores, dim=-1)
    empty = ~mask.any(dim=-1, keepdim=True)  # (..., 1)
    scores = scores.masked_fill(~mask, float("-inf")).masked_fill(empty, 0.0)
    return torch.softmax(scores, dim=-1).masked_fill(~mask, 0.0)


class Attention(nn.Module):
    """One query attending over a padded batch of keys; see :func:`make_attention` for kinds.

    ``hidden_size`` is the width of the tanh layer of ``concat`` and ``additive`` and is
    unused by ``dot`` and ``general``.
    """

    def __init__(self, kind: str, query_size: int, key_size: int, hidden_size: int) -> None:
        super().__init__()
        if kind not in ATTENTION_KINDS:
            raise ValueError(f"unknown attention kind {kind!r}; expected one of {', '.join(ATTENTION_KINDS)}")
        if kind == "dot" and query_size != key_size:
            raise ValueError(
                f"'dot' attention needs query_size == key_size, got {query_size} and {key_size}; "
                "use 'general' (a learned W_a between them) or make the sizes equal"
            )
        self.kind = kind
        self.query_size, self.key_size, self.hidden_size = query_size, key_size, hidden_size
        if kind == "general":
            # score = q^T W_a k; W_a k is computed once per sentence.
            self.key_proj = nn.Linear(key_size, query_size, bias=False)
        elif kind == "concat":
            # score = v^T tanh(W [q; k] + b). W is one matrix over the concatenation (Luong);
            # its key half is applied once per sentence, its query half at every step.
            self.concat_proj = nn.Linear(query_size + key_size, hidden_size)
            self.v = nn.Linear(hidden_size, 1, bias=False)
        elif kind == "additive":
            # score = v^T tanh(W_q q + W_k k) (Bahdanau et al. 2015).
            self.query_proj = nn.Linear(query_size, hidden_size, bias=False)
            self.key_proj = nn.Linear(key_size, hidden_size, bias=False)
            self.v = nn.Linear(hidden_size, 1, bias=False)

    def precompute_keys(self, keys: Tensor) -> Tensor:
        """The query-independent part of the score, to compute once per sentence.

        keys (B, S, K) -> (B, S, K) for ``dot``, (B, S, Q) for ``general``,
        (B, S, hidden) for ``concat`` and ``additive``.
        """
        if self.kind == "dot":
            return keys
        if self.kind == "concat":
            w_keys = self.concat_proj.weight[:, self.query_size:]  # (hidden, K)
            return F.linear(keys, w_keys, self.concat_proj.bias)  # (B, S, hidden)
        return self.key_proj(keys)  # (B, S, Q) or (B, S, hidden)

    def score(self, query: Tensor, proj_keys: Tensor) -> Tensor:
        """Unnormalised scores: query (B, Q), precomputed keys (B, S, *) -> (B, S)."""
        if self.kind in ("dot", "general"):
            return torch.bmm(proj_keys, query.unsqueeze(-1)).squeeze(-1)  # (B, S, Q) @ (B, Q, 1) -> (B, S)
        if self.kind == "concat":
            q = F.linear(query, self.concat_proj.weight[:, : self.query_size])  # (B, hidden)
        else:
            q = self.query_proj(query)  # (B, hidden)
        return self.v(torch.tanh(proj_keys + q.unsqueeze(1))).squeeze(-1)  # (B, S, hidden) -> (B, S)

    def forward(self, query: Tensor, keys: Tensor, mask: Tensor | None = None,
                proj_keys: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """query (B, Q), keys (B, S, K), mask (B, S) True = real -> context (B, K), weights (B, S).

        Pass ``proj_keys = precompute_keys(keys)`` when calling repeatedly with the same keys.
        """
        if proj_keys is None:
            proj_keys = self.precompute_keys(keys)
        weights = masked_softmax(self.score(query, proj_keys), mask)  # (B, S)
        context = torch.bmm(weights.unsqueeze(1), keys).squeeze(1)  # (B, 1, S) @ (B, S, K) -> (B, K)
        return context, weights

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, query_size={self.query_size}, key_size={self.key_size}"


def make_attention(kind: str, query_size: int, key_size: int, hidden_size: int) -> Attention:
    """Build a scorer: ``dot`` (Luong; needs query_size == key_size), ``general`` (Luong,
    q^T W_a k), ``concat`` (Luong, v^T tanh(W[q;k])) or ``additive`` (Bahdanau,
    v^T tanh(W_q q + W_k k)). Raises ValueError for an unknown kind or mismatched ``dot`` sizes."""
    return Attention(kind, query_size, key_size, hidden_size)


class AttentionPooling(nn.Module):
    """Pools a padded sequence of vectors into one by attending with a learned query.

    score_t = u^T tanh(W h_t + b), the additive score with the query folded into a
    learned vector u (Yang et al. 2016, hierarchical attention networks). Unlike mean or
    max pooling the weights say which tokens the classifier read, which is worth showing.
    """

    def __init__(self, input_size: int, hidden_size: int | None = None) -> None:
        super().__init__()
        hidden_size = hidden_size or input_size
        self.proj = nn.Linear(input_size, hidden_size)
        self.query = nn.Parameter(torch.randn(hidden_size) / hidden_size**0.5)

    def forward(self, outputs: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """outputs (B, T, H), mask (B, T) True = real -> pooled (B, H), weights (B, T)."""
        scores = torch.tanh(self.proj(outputs)) @ self.query  # (B, T, hidden) @ (hidden,) -> (B, T)
        weights = masked_softmax(scores, mask)  # (B, T)
        pooled = torch.bmm(weights.unsqueeze(1), outputs).squeeze(1)  # (B, 1, T) @ (B, T, H) -> (B, H)
        return pooled, weights
