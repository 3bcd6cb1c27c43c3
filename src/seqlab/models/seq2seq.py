"""RNN encoder-decoder with attention (Bahdanau et al. 2015; Luong et al. 2015).

Shape of the model, for a batch of B sources of length S and targets of length T::

    src (B, S) -> embed -> bidirectional GRU/LSTM (packed) -> memory (B, S, H)
                                            final states -> bridge -> decoder state
    for t in 0..T-1:
        x_t = [embed(y_{t-1}); context_{t-1}]            input feeding (Luong et al. 2015)
        h_t = RNN(x_t, h_{t-1})                          (B, H)
        context_t, a_t = attention(h_t, memory, mask)    (B, H), (B, S)
        logits_t = W [embed(y_{t-1}); h_t; context_t]    (B, V)

Each direction of the encoder has H/2 units so that the memory has the decoder's size H
(as OpenNMT-py's ``brnn``); every attention kind, ``dot`` included, then works unchanged.

This file also holds :class:`Seq2SeqModel`, the decoding interface that the search
functions in ``seqlab.decode`` use and that both this model and
``seqlab.models.transformer_seq2seq.TransformerSeq2Seq`` implement.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Protocol, Self, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqlab.models.attention import make_attention
from seqlab.models.configs import RNN_SEQ2SEQ_RECIPE as RECIPE  # noqa: F401  (re-exported)
from seqlab.models.configs import RNNSeq2SeqConfig  # noqa: F401  (re-exported)
from seqlab.models.rnn_step import rnn_step


@runtime_checkable
class DecoderState(Protocol):
    """Everything a decoder needs between steps, batched along dim 0 of its rows."""

    def index_select(self, indices: Tensor) -> Self:
        """Rows ``indices`` (N',) of this state: expands B -> B*K and reorders beams."""
        ...


@runtime_checkable
class Seq2SeqModel(Protocol):
    """What training and ``seqlab.decode`` need from a translation model.

    ``forward`` is teacher-forced training; ``encode`` + ``decode_step`` is generation,
    one token at a time for N rows (sentences, or sentences x beams). Both give the same
    numbers: the log-softmax of ``forward``'s logits equals the step-by-step log-probs.
    """

    def __call__(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor,
                 teacher_forcing: float = 1.0) -> tuple[Tensor, Tensor]:
        """src (B, S), src_lengths (B,), tgt_in (B, T) -> logits (B, T, V), attention (B, T, S)."""
        ...

    def encode(self, src: Tensor, src_lengths: Tensor) -> DecoderState:
        """src (B, S), src_lengths (B,) -> the state before the first target token."""
        ...

    def decode_step(self, state: DecoderState, prev_tokens: Tensor) -> tuple[Tensor, Tensor, DecoderState]:
        """prev_tokens (N,) -> log_probs (N, V) float32, attention (N, S), new state."""
        ...

    def encode_source(self, src: Tensor, src_lengths: Tensor) -> tuple[Tensor, Tensor]:
        """src (B, S), src_lengths (B,) -> the encoder's outputs (B, S, D) and the (B, S) mask of real tokens."""
        ...

    def attention_maps(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor) -> Tensor:
        """Teacher-forced cross-attention of every layer and head: (B, layers, heads, T, S)."""
        ...


def source_mask(src_lengths: Tensor, max_len: int) -> Tensor:
    """(B,) lengths -> (B, S) bool, True for a real token.

    An empty source is read as one ``<pad>`` token, so that no attention row is empty and
    packing (which rejects length 0) works; both models use this same rule.
    """
    lengths = src_lengths.clamp(min=1)
    return torch.arange(max_len, device=src_lengths.device).unsqueeze(0) < lengths.unsqueeze(1)  # (B, S)


RNNHidden = Tensor | tuple[Tensor, Tensor]  # GRU: h (L, N, H); LSTM: (h, c)


@dataclass(frozen=True)
class RNNDecoderState:
    """Decoder state of :class:`RNNSeq2Seq` for N rows."""

    memory: Tensor  # (N, S, H) encoder outputs
    proj_keys: Tensor  # (N, S, A) attention's key projection, computed once in encode()
    mask: Tensor  # (N, S) True = real source token
    hidden: RNNHidden  # (layers, N, H), or (h, c) for an LSTM
    context: Tensor  # (N, H) previous attention context, fed back as input

    def index_select(self, indices: Tensor) -> RNNDecoderState:
        hidden: RNNHidden
        if isinstance(self.hidden, tuple):
            hidden = (self.hidden[0].index_select(1, indices), self.hidden[1].index_select(1, indices))
        else:
            hidden = self.hidden.index_select(1, indices)
        return RNNDecoderState(
            memory=self.memory.index_select(0, indices),
            proj_keys=self.proj_keys.index_select(0, indices),
            mask=self.mask.index_select(0, indices),
            hidden=hidden,
            context=self.context.index_select(0, indices),
        )


class RNNSeq2Seq(nn.Module):
    """Bidirectional GRU/LSTM encoder, attentive GRU/LSTM decoder with input feeding."""

    def __init__(self, config: RNNSeq2SeqConfig, src_vocab_size: int, tgt_vocab_size: int, pad_id: int) -> None:
        super().__init__()
        self.config = config
        self.pad_id = pad_id
        E, H, L, c = config.emb_size, config.hidden_size, config.layers, config
        rnn_cls = nn.GRU if c.cell == "gru" else nn.LSTM
        between_layers = c.dropout if L > 1 else 0.0

        self.memory_size = H  # the width of the encoder's outputs (both directions)
        self.src_embed = nn.Embedding(src_vocab_size, E, padding_idx=pad_id)
        self.tgt_embed = nn.Embedding(tgt_vocab_size, E, padding_idx=pad_id)
        self.dropout = nn.Dropout(c.dropout)
        self.encoder = rnn_cls(E, H // 2, L, batch_first=True, bidirectional=True, dropout=between_layers)
        # One bridge per recurrent state (h, and c for an LSTM): [fwd; bwd] final state -> decoder init.
        self.bridge = nn.ModuleList(nn.Linear(H, H) for _ in range(2 if c.cell == "lstm" else 1))
        self.decoder = rnn_cls(E + H, H, L, batch_first=True, dropout=between_layers)
        self.attention = make_attention(c.attention, query_size=H, key_size=H, hidden_size=H)
        if c.tie_embeddings:
            # Output embedding = input embedding (Press & Wolf 2017), reached through a projection to E.
            self.pre_output: nn.Module = nn.Linear(E + 2 * H, E)
            self.output_bias = nn.Parameter(torch.zeros(tgt_vocab_size))
        else:
            self.pre_output = nn.Identity()
            self.output = nn.Linear(E + 2 * H, tgt_vocab_size)

    # ---------------------------------------------------------------- encoder

    def encode_source(self, src: Tensor, src_lengths: Tensor) -> tuple[Tensor, Tensor]:
        """src (B, S), src_lengths (B,) -> the encoder's outputs (B, S, H) and the (B, S) mask of real tokens: what
        attention reads, and (their mean) a source text's vector (``seqlab embed``)."""
        return self._encode(src, src_lengths)[:2]

    def _encode(self, src: Tensor, src_lengths: Tensor) -> tuple[Tensor, Tensor, Any]:
        S = src.size(1)
        mask = source_mask(src_lengths.to(src.device), S)  # (B, S); lengths may arrive on the CPU
        emb = self.dropout(self.src_embed(src))  # (B, S, E)
        packed = pack_padded_sequence(emb, src_lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False)
        packed_out, final = self.encoder(packed)
        memory, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=S)  # (B, S, H)
        return memory, mask, final

    def encode(self, src: Tensor, src_lengths: Tensor) -> RNNDecoderState:
        """src (B, S), src_lengths (B,) -> decoder state before the first target token."""
        B = src.size(0)
        memory, mask, final = self._encode(src, src_lengths)
        finals = final if isinstance(final, tuple) else (final,)
        states = []
        for state, bridge in zip(finals, self.bridge, strict=True):
            L2, _, half = state.shape  # (layers * 2, B, H/2), directions innermost
            both = state.view(L2 // 2, 2, B, half).transpose(1, 2).reshape(L2 // 2, B, 2 * half)  # (L, B, H)
            states.append(torch.tanh(bridge(both)))  # (L, B, H)
        hidden: RNNHidden = (states[0], states[1]) if len(states) == 2 else states[0]
        return RNNDecoderState(
            memory=memory,
            proj_keys=self.attention.precompute_keys(memory),
            mask=mask,
            hidden=hidden,
            context=memory.new_zeros(B, memory.size(-1)),
        )

    # ---------------------------------------------------------------- decoder

    def _step(self, state: RNNDecoderState, emb: Tensor) -> tuple[Tensor, Tensor, RNNDecoderState]:
        """One decoder step from the embedded previous token emb (N, E).

        Returns the pre-output features [emb; h; context] (N, E + 2H), attention (N, S), new state.
        """
        x = torch.cat([emb, state.context], dim=-1)  # (N, E + H)
        if self.training:  # the module (dropout between layers; its kernel's backward)
            out, hidden = self.decoder(x.unsqueeze(1), state.hidden)
            out = out.squeeze(1)  # (N, H)
        else:  # decoding: one step the fastest way (an LSTM through its cell equations)
            out, hidden = rnn_step(self.decoder, x, state.hidden)  # (N, H)
        context, weights = self.attention(out, state.memory, state.mask, proj_keys=state.proj_keys)  # (N, H), (N, S)
        features = torch.cat([emb, out, context], dim=-1)  # (N, E + 2H)
        return features, weights, replace(state, hidden=hidden, context=context)

    def _logits(self, features: Tensor) -> Tensor:
        """(..., E + 2H) -> (..., V)."""
        x = self.pre_output(self.dropout(features))
        if self.config.tie_embeddings:
            return F.linear(x, self.tgt_embed.weight, self.output_bias)
        return self.output(x)

    def decode_step(self, state: RNNDecoderState, prev_tokens: Tensor) -> tuple[Tensor, Tensor, RNNDecoderState]:
        """prev_tokens (N,) -> log_probs (N, V) float32, attention (N, S), new state."""
        emb = self.dropout(self.tgt_embed(prev_tokens))  # (N, E)
        features, weights, state = self._step(state, emb)
        return F.log_softmax(self._logits(features).float(), dim=-1), weights, state

    def forward(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor,
                teacher_forcing: float = 1.0) -> tuple[Tensor, Tensor]:
        """src (B, S), src_lengths (B,), tgt_in (B, T) starting with <sos> -> logits (B, T, V), attention (B, T, S).

        With ``teacher_forcing`` < 1 each sentence, at each step after the first, is fed the
        model's own previous argmax instead of the gold token with probability 1 - ratio
        (scheduled sampling, Bengio et al. 2015).
        """
        state = self.encode(src, src_lengths)
        T = tgt_in.size(1)
        gold = self.dropout(self.tgt_embed(tgt_in))  # (B, T, E)
        sampling = teacher_forcing < 1.0
        features: list[Tensor] = []
        attention: list[Tensor] = []
        logits: list[Tensor] = []
        for t in range(T):
            emb = gold[:, t]  # (B, E)
            if sampling and t > 0:
                own = logits[-1].argmax(dim=-1)  # (B,)
                use_own = torch.rand(own.shape, device=own.device) >= teacher_forcing  # (B,)
                emb = torch.where(use_own.unsqueeze(1), self.dropout(self.tgt_embed(own)), emb)  # (B, E)
            feat, weights, state = self._step(state, emb)
            attention.append(weights)
            if sampling:
                logits.append(self._logits(feat))  # needed now to choose the next input
            else:
                features.append(feat)
        out = torch.stack(logits, dim=1) if sampling else self._logits(torch.stack(features, dim=1))  # (B, T, V)
        return out, torch.stack(attention, dim=1)  # (B, T, V), (B, T, S)

    def attention_maps(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor) -> Tensor:
        """Teacher-forced attention as (B, layers=1, heads=1, T, S), the transformer's layout."""
        _, attention = self.forward(src, src_lengths, tgt_in)
        return attention[:, None, None]  # (B, 1, 1, T, S)
