"""Bag of words and hashed word n-grams: fastText (Joulin et al. 2017, "Bag of Tricks").

Every token id (word or hashed n-gram, see :mod:`seqlab.text.ngrams`) indexes
one table; an ``EmbeddingBag`` averages a document's rows in one fused kernel
using the flat ids + offsets layout (torchtext's AG_NEWS pattern), and a linear
layer classifies the average. Fast enough to train on IMDB in about a minute.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from seqlab.models.base import ClassifierOutput


@dataclass
class BagConfig:
    emb_size: int = field(default=32, metadata={"help": "embedding size"})
    ngrams: int = field(default=2, metadata={"help": "bag model: use word n-grams up to this order (1 = words only)"})
    buckets: int = field(default=1_000_000, metadata={"help": "bag model: hash buckets for n-grams"})
    dropout: float = field(default=0.0, metadata={"help": "dropout"})
    token_dropout: float = field(default=0.0, metadata={
        "help": "bag model: drop each word/n-gram of a text with this probability while training (word dropout)"})


class BagClassifier(nn.Module):
    input_kind = "ngrams"  # the task appends hashed n-gram ids to each document

    def __init__(self, config: BagConfig, vocab_size: int, num_outputs: int, pad_id: int = 0) -> None:
        super().__init__()
        self.config = config
        self.embedding = nn.EmbeddingBag(vocab_size + (config.buckets if config.ngrams > 1 else 0),
                                         config.emb_size, mode="sum", padding_idx=pad_id,
                                         sparse=True)  # only the rows in a batch get updates
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.emb_size, num_outputs)
        nn.init.uniform_(self.embedding.weight, -0.5 / config.emb_size, 0.5 / config.emb_size)
        with torch.no_grad():
            self.embedding.weight[pad_id].zero_()

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> ClassifierOutput:
        # ids (B, T) right-padded; flatten to ids (N,) + offsets (B,) so no padding is summed
        mask = torch.arange(ids.size(1), device=ids.device)[None, :] < lengths[:, None]  # (B, T)
        if self.training and self.config.token_dropout > 0:
            # word dropout (Iyyer et al. 2015, "Deep Unordered Composition"): average a random subset
            mask = mask & (torch.rand(mask.shape, device=ids.device) >= self.config.token_dropout)
        counts = mask.sum(1)  # (B,)
        flat = ids[mask]  # (N,)
        offsets = torch.zeros_like(counts)
        offsets[1:] = torch.cumsum(counts, 0)[:-1]
        # a weighted sum with weights 1/count is the mean over the kept tokens
        weights = (1.0 / counts.clamp(min=1).float()).repeat_interleave(counts)  # (N,)
        pooled = self.embedding(flat, offsets, per_sample_weights=weights)  # (B, E); empty documents give zeros
        return ClassifierOutput(self.head(self.dropout(pooled)))
