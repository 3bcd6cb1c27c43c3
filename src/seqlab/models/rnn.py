"""Recurrent classifier: RNN/LSTM/GRU, stacked, bidirectional, over packed sequences.

Packing matters: an LSTM that reads right-padded batches and takes the last
hidden state sees mostly padding and stays at chance on IMDB. We pack
(``pack_padded_sequence``) so the final state is the state at each text's own
last token, and pooling over outputs (attention, mean, max) is masked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqlab.models.attention import AttentionPooling
from seqlab.models.base import ClassifierOutput, length_mask


@dataclass
class RNNConfig:
    emb_size: int = field(default=100, metadata={"help": "embedding size (50 with glove-6b-50d)"})
    hidden_size: int = field(default=128, metadata={"help": "hidden size per direction"})
    layers: int = field(default=1, metadata={"help": "number of stacked layers"})
    cell: str = field(default="gru", metadata={"help": "rnn | lstm | gru", "choices": ["rnn", "lstm", "gru"]})
    bidirectional: bool = field(default=True, metadata={"help": "read the text in both directions"})
    dropout: float = field(default=0.3, metadata={"help": "dropout"})
    pooling: str = field(default="attention", metadata={
        "help": "how to summarise the outputs: attention | final | mean | max",
        "choices": ["attention", "final", "mean", "max"]})


class RNNClassifier(nn.Module):
    input_kind = "tokens"

    def __init__(self, config: RNNConfig, vocab_size: int, num_outputs: int, pad_id: int = 0) -> None:
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(vocab_size, config.emb_size, padding_idx=pad_id)
        rnn_cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[config.cell]
        self.rnn = rnn_cls(config.emb_size, config.hidden_size, num_layers=config.layers, batch_first=True,
                           bidirectional=config.bidirectional, dropout=config.dropout if config.layers > 1 else 0.0)
        out_size = config.hidden_size * (2 if config.bidirectional else 1)
        self.pool = AttentionPooling(out_size) if config.pooling == "attention" else None
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(out_size, num_outputs)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> ClassifierOutput:
        # ids (B, T); empty texts are read as one <pad> token so packing has something to read
        safe_lengths = lengths.clamp(min=1)
        emb = self.dropout(self.embedding(ids))  # (B, T, E)
        packed = pack_padded_sequence(emb, safe_lengths.cpu(), batch_first=True, enforce_sorted=False)
        packed_out, hidden = self.rnn(packed)
        if isinstance(hidden, tuple):  # LSTM: (h_n, c_n)
            hidden = hidden[0]
        attention = None
        if self.config.pooling == "final":
            # hidden (layers * dirs, B, H): last layer, both directions
            dirs = 2 if self.config.bidirectional else 1
            pooled = torch.cat([hidden[-d] for d in range(dirs, 0, -1)], dim=-1)  # (B, dirs*H)
        else:
            out, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=ids.size(1))  # (B, T, D)
            mask = length_mask(safe_lengths, ids.size(1))  # (B, T)
            if self.pool is not None:
                pooled, attention = self.pool(out, mask)  # (B, D), (B, T)
            elif self.config.pooling == "mean":
                pooled = (out * mask[..., None]).sum(1) / safe_lengths[:, None].to(out.dtype)
            else:  # max
                pooled = out.masked_fill(~mask[..., None], float("-inf")).max(1).values
        return ClassifierOutput(self.head(self.dropout(pooled)), attention)
