"""Transformer encoder-decoder (Vaswani et al. 2017) with pre-layer-norm blocks.

    src (B, S) -> embed * sqrt(d) + sinusoid -> N x EncoderBlock -> LayerNorm -> memory (B, S, D)
    tgt (B, T) -> embed * sqrt(d) + sinusoid -> N x DecoderBlock(memory) -> LayerNorm -> logits (B, T, V)

Blocks are pre-LN (Xiong et al. 2020: x + f(LN(x)), a final LayerNorm after the stack),
which trains without the warm-up sensitivity of post-LN. Attention runs through
``F.scaled_dot_product_attention`` (fused kernels); when the cross-attention weights are
wanted for display they are computed explicitly instead, softmax(QK^T / sqrt(d_head))
with the same mask, which gives the same output.

Generation (:meth:`TransformerSeq2Seq.decode_step`) keeps a key/value cache: each step
runs the decoder on the new token only, attending to the cached keys and values of the
prefix, so a sentence of T tokens costs O(T) per step instead of re-running the prefix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.errors import SeqlabError
from seqlab.models.configs import TRANSFORMER_SEQ2SEQ_RECIPE as RECIPE  # noqa: F401  (re-exported)
from seqlab.models.configs import TransformerSeq2SeqConfig  # noqa: F401  (re-exported)
from seqlab.models.positions import sinusoidal_positions
from seqlab.models.seq2seq import source_mask

KV = tuple[Tensor, Tensor]  # keys, values, each (B, heads, length, d_head)


class MultiHeadAttention(nn.Module):
    """Multi-head attention whose keys/values are projected separately (:meth:`project_kv`),
    so that cross-attention projects the memory once and self-attention can cache them."""

    def __init__(self, d_model: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.d_head, self.dropout = heads, d_model // heads, dropout
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def _split(self, x: Tensor) -> Tensor:
        B, T, _ = x.shape
        return x.view(B, T, self.heads, self.d_head).transpose(1, 2)  # (B, T, D) -> (B, h, T, d_head)

    def project_kv(self, x: Tensor) -> KV:
        """x (B, S, D) -> keys, values (B, h, S, d_head)."""
        return self._split(self.k_proj(x)), self._split(self.v_proj(x))

    def forward(self, x: Tensor, kv: KV, mask: Tensor | None = None, is_causal: bool = False,
                need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        """x (B, T, D) queries; kv from :meth:`project_kv`; mask broadcastable to (B, h, T, S),
        True = may attend. -> output (B, T, D), weights (B, h, T, S) if ``need_weights`` else None."""
        B, T, D = x.shape
        q = self._split(self.q_proj(x))  # (B, h, T, d_head)
        k, v = kv  # (B, h, S, d_head)
        p = self.dropout if self.training else 0.0
        weights = None
        if need_weights:
            scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_head)  # (B, h, T, S)
            if is_causal:
                causal = torch.ones(T, k.size(2), dtype=torch.bool, device=x.device).tril()  # (T, S)
                mask = causal if mask is None else mask & causal
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            weights = torch.softmax(scores, dim=-1)  # (B, h, T, S)
            out = F.dropout(weights, p, self.training) @ v  # (B, h, T, d_head)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p, is_causal=is_causal)
        out = out.transpose(1, 2).reshape(B, T, D)  # (B, h, T, d_head) -> (B, T, D)
        return self.out_proj(out), weights


class FeedForward(nn.Sequential):
    def __init__(self, d_model: int, ff_size: int, dropout: float) -> None:
        super().__init__(nn.Linear(d_model, ff_size), nn.ReLU(), nn.Dropout(dropout), nn.Linear(ff_size, d_model))


class EncoderBlock(nn.Module):
    """x + SelfAttn(LN(x)), then x + FF(LN(x))."""

    def __init__(self, c: TransformerSeq2SeqConfig) -> None:
        super().__init__()
        self.ln_attn, self.ln_ff = nn.LayerNorm(c.d_model), nn.LayerNorm(c.d_model)
        self.attn = MultiHeadAttention(c.d_model, c.heads, c.dropout)
        self.ff = FeedForward(c.d_model, c.ff_size, c.dropout)
        self.drop = nn.Dropout(c.dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """x (B, S, D), mask (B, 1, 1, S) -> (B, S, D)."""
        h = self.ln_attn(x)
        x = x + self.drop(self.attn(h, self.attn.project_kv(h), mask)[0])
        return x + self.drop(self.ff(self.ln_ff(x)))


class DecoderBlock(nn.Module):
    """x + CausalSelfAttn(LN(x)), x + CrossAttn(LN(x), memory), x + FF(LN(x))."""

    def __init__(self, c: TransformerSeq2SeqConfig) -> None:
        super().__init__()
        self.ln_self, self.ln_cross, self.ln_ff = (nn.LayerNorm(c.d_model) for _ in range(3))
        self.self_attn = MultiHeadAttention(c.d_model, c.heads, c.dropout)
        self.cross_attn = MultiHeadAttention(c.d_model, c.heads, c.dropout)
        self.ff = FeedForward(c.d_model, c.ff_size, c.dropout)
        self.drop = nn.Dropout(c.dropout)

    def forward(self, x: Tensor, memory_kv: KV, src_mask: Tensor, cache: KV | None = None,
                need_weights: bool = False) -> tuple[Tensor, Tensor | None, KV]:
        """x (B, T, D); memory_kv from ``cross_attn.project_kv(memory)``; src_mask (B, 1, 1, S).

        Without ``cache`` x is the whole target prefix and self-attention is causal. With a
        cache (keys/values of the earlier positions) x holds only the new positions, which
        may see every cached one. Returns x (B, T, D), cross weights (B, h, T, S) or None,
        and the self-attention keys/values of all positions so far (the next cache).
        """
        h = self.ln_self(x)
        k, v = self.self_attn.project_kv(h)  # (B, h, T, d_head)
        if cache is not None:
            k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)  # (B, h, t + T, d_head)
        x = x + self.drop(self.self_attn(h, (k, v), is_causal=cache is None)[0])
        attended, weights = self.cross_attn(self.ln_cross(x), memory_kv, src_mask, need_weights=need_weights)
        x = x + self.drop(attended)
        return x + self.drop(self.ff(self.ln_ff(x))), weights, (k, v)


@dataclass(frozen=True)
class TransformerDecoderState:
    """Decoder state of :class:`TransformerSeq2Seq` for N rows, all at the same position."""

    src_mask: Tensor  # (N, S) True = real source token
    memory_kv: list[KV]  # per decoder layer, cross-attention keys/values (N, h, S, d_head)
    cache: list[KV]  # per decoder layer, self-attention keys/values of the prefix (N, h, t, d_head)
    step: int  # t, the position of the next input token

    def index_select(self, indices: Tensor) -> TransformerDecoderState:
        def sel(kv: KV) -> KV:
            return kv[0].index_select(0, indices), kv[1].index_select(0, indices)

        return TransformerDecoderState(
            src_mask=self.src_mask.index_select(0, indices),
            memory_kv=[sel(kv) for kv in self.memory_kv],
            cache=[sel(kv) for kv in self.cache],
            step=self.step,
        )


class TransformerSeq2Seq(nn.Module):
    """Pre-LN transformer encoder-decoder; implements ``seqlab.models.seq2seq.Seq2SeqModel``."""

    positions: Tensor  # (max_positions, D) sinusoid table, a non-persistent buffer

    def __init__(self, config: TransformerSeq2SeqConfig, src_vocab_size: int, tgt_vocab_size: int,
                 pad_id: int) -> None:
        super().__init__()
        c = self.config = config
        self.pad_id = pad_id
        self.memory_size = c.d_model  # the width of the encoder's outputs
        if c.share_embeddings and src_vocab_size != tgt_vocab_size:
            raise SeqlabError(
                f"transformer seq2seq: share_embeddings needs one joint source/target vocabulary, but the "
                f"sizes differ ({src_vocab_size} vs {tgt_vocab_size}); build a joint vocabulary or turn it off"
            )
        self.tgt_embed = nn.Embedding(tgt_vocab_size, c.d_model, padding_idx=pad_id)
        self.src_embed = self.tgt_embed if c.share_embeddings else nn.Embedding(src_vocab_size, c.d_model,
                                                                                 padding_idx=pad_id)
        self.register_buffer("positions", sinusoidal_positions(c.max_positions, c.d_model), persistent=False)
        self.drop = nn.Dropout(c.dropout)
        self.encoder = nn.ModuleList(EncoderBlock(c) for _ in range(c.encoder_layers))
        self.decoder = nn.ModuleList(DecoderBlock(c) for _ in range(c.decoder_layers))
        self.encoder_norm, self.decoder_norm = nn.LayerNorm(c.d_model), nn.LayerNorm(c.d_model)
        self.output = None if c.tie_output else nn.Linear(c.d_model, tgt_vocab_size)
        for emb in [self.tgt_embed] if c.share_embeddings else [self.src_embed, self.tgt_embed]:
            # N(0, d^-1/2) so that the sqrt(d)-scaled embedding has unit variance (as fairseq does).
            nn.init.normal_(emb.weight, std=c.d_model**-0.5)
            nn.init.zeros_(emb.weight[pad_id])

    # ---------------------------------------------------------------- pieces

    def _embed(self, emb: nn.Embedding, tokens: Tensor, offset: int = 0) -> Tensor:
        """tokens (B, T) -> (B, T, D), scaled by sqrt(d) (Vaswani et al. 2017) plus sinusoid positions."""
        T, D = tokens.size(1), self.config.d_model
        if offset + T <= self.positions.size(0):
            pos = self.positions[offset:offset + T]  # (T, D)
        else:
            pos = sinusoidal_positions(T, D, offset).to(self.positions.device)
        return self.drop(emb(tokens) * math.sqrt(D) + pos)

    def _logits(self, h: Tensor) -> Tensor:
        """(..., D) -> (..., V); tied output uses the target embedding (Press & Wolf 2017)."""
        return F.linear(h, self.tgt_embed.weight) if self.output is None else self.output(h)

    def encode_source(self, src: Tensor, src_lengths: Tensor) -> tuple[Tensor, Tensor]:
        """src (B, S), src_lengths (B,) -> the encoder's outputs (B, S, D) and the (B, S) mask of real tokens: what
        cross-attention reads, and (their mean) a source text's vector (``seqlab embed``)."""
        mask = source_mask(src_lengths.to(src.device), src.size(1))  # (B, S); lengths may arrive on the CPU
        x = self._embed(self.src_embed, src)  # (B, S, D)
        for block in self.encoder:
            x = block(x, mask[:, None, None, :])  # mask (B, 1, 1, S)
        return self.encoder_norm(x), mask  # (B, S, D), (B, S)

    def encode(self, src: Tensor, src_lengths: Tensor) -> TransformerDecoderState:
        """src (B, S), src_lengths (B,) -> state before the first target token."""
        memory, mask = self.encode_source(src, src_lengths)  # (B, S, D), (B, S)
        B, h, dh = src.size(0), self.config.heads, self.config.d_model // self.config.heads
        empty = memory.new_zeros(B, h, 0, dh)  # (B, h, 0, d_head): no prefix yet
        return TransformerDecoderState(
            src_mask=mask,
            memory_kv=[cast(DecoderBlock, block).cross_attn.project_kv(memory) for block in self.decoder],
            cache=[(empty, empty) for _ in self.decoder],
            step=0,
        )

    def _decode(self, state: TransformerDecoderState, tgt_in: Tensor,
                all_layers: bool = False) -> tuple[Tensor, list[Tensor]]:
        """Whole teacher-forced target tgt_in (B, T) -> logits (B, T, V) and the explicit
        cross-attention weights (B, h, T, S) of the last layer, or of every layer."""
        x = self._embed(self.tgt_embed, tgt_in)  # (B, T, D)
        mask = state.src_mask[:, None, None, :]  # (B, 1, 1, S)
        weights = []
        last = len(self.decoder) - 1
        for i, (block, memory_kv) in enumerate(zip(self.decoder, state.memory_kv, strict=True)):
            x, w, _ = block(x, memory_kv, mask, need_weights=all_layers or i == last)
            if w is not None:
                weights.append(w)
        return self._logits(self.decoder_norm(x)), weights

    # ---------------------------------------------------------------- interface

    def forward(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor,
                teacher_forcing: float = 1.0) -> tuple[Tensor, Tensor]:
        """src (B, S), src_lengths (B,), tgt_in (B, T) -> logits (B, T, V), attention (B, T, S).

        The attention is the last decoder layer's cross-attention averaged over heads (only
        that layer is computed explicitly; the others use the fused kernel). With
        ``teacher_forcing`` < 1 it does two-pass scheduled sampling (Mihaylova & Martins 2019):
        a gradient-free teacher-forced pass predicts every position, then each input token
        after <sos> is replaced by the previous position's prediction with probability 1 - ratio.
        """
        state = self.encode(src, src_lengths)
        if teacher_forcing < 1.0:
            with torch.no_grad():
                predicted = self._decode(state, tgt_in)[0].argmax(dim=-1)  # (B, T)
            own = torch.cat([tgt_in[:, :1], predicted[:, :-1]], dim=1)  # prediction for position t sits at t-1
            use_own = torch.rand(tgt_in.shape, device=tgt_in.device) >= teacher_forcing  # (B, T)
            use_own[:, 0] = False
            tgt_in = torch.where(use_own, own, tgt_in)
        logits, weights = self._decode(state, tgt_in)
        return logits, weights[-1].mean(dim=1)  # (B, T, V), (B, h, T, S) -> (B, T, S)

    def attention_maps(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor) -> Tensor:
        """Teacher-forced cross-attention of every decoder layer and head: (B, layers, heads, T, S)."""
        _, weights = self._decode(self.encode(src, src_lengths), tgt_in, all_layers=True)
        return torch.stack(weights, dim=1)  # layers x (B, h, T, S) -> (B, L, h, T, S)

    def decode_step(self, state: TransformerDecoderState,
                    prev_tokens: Tensor) -> tuple[Tensor, Tensor, TransformerDecoderState]:
        """prev_tokens (N,) -> log_probs (N, V) float32, attention (N, S) (last layer, mean over
        heads), new state with the token's keys/values appended to the cache."""
        x = self._embed(self.tgt_embed, prev_tokens.unsqueeze(1), offset=state.step)  # (N, 1, D)
        mask = state.src_mask[:, None, None, :]  # (N, 1, 1, S)
        cache = []
        weights: Tensor | None = None
        last = len(self.decoder) - 1
        for i, (block, memory_kv, kv) in enumerate(zip(self.decoder, state.memory_kv, state.cache, strict=True)):
            x, w, kv = block(x, memory_kv, mask, cache=kv, need_weights=i == last)
            cache.append(kv)
            weights = w if w is not None else weights
        assert weights is not None
        log_probs = F.log_softmax(self._logits(self.decoder_norm(x)).squeeze(1).float(), dim=-1)  # (N, V)
        new_state = TransformerDecoderState(state.src_mask, state.memory_kv, cache, state.step + 1)
        return log_probs, weights.mean(dim=1).squeeze(1), new_state  # (N, h, 1, S) -> (N, S)
