"""Transformer encoder classifier (Vaswani et al. 2017), pre-layer-norm (Xiong et al. 2020).

Uses ``nn.TransformerEncoderLayer`` so PyTorch's fused attention kernels run;
padding is masked with ``src_key_padding_mask`` and pooling is masked too.
Positions are sinusoidal, so texts longer than seen in training still work.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from seqlab.models.attention import AttentionPooling
from seqlab.models.base import ClassifierModel, ClassifierOutput, length_mask
from seqlab.models.configs import TRANSFORMER_CLASSIFIER_RECIPE as RECIPE  # noqa: F401  (re-exported)
from seqlab.models.configs import TransformerConfig  # noqa: F401  (re-exported)
from seqlab.models.positions import sinusoidal_positions


class TransformerClassifier(ClassifierModel):
    input_kind = "tokens"

    def input_embedding(self) -> nn.Module:
        """The module whose output is each token's input vector (explanations attribute scores to it)."""
        return self.embedding

    def __init__(self, config: TransformerConfig, vocab_size: int, num_outputs: int, pad_id: int = 0) -> None:
        super().__init__()
        self.config = config  # valid: TransformerConfig checks that its heads divide d_model
        self.embedding = nn.Embedding(vocab_size, config.d_model, padding_idx=pad_id)
        self.cls = nn.Parameter(torch.zeros(1, 1, config.d_model)) if config.pooling == "cls" else None
        layer = nn.TransformerEncoderLayer(config.d_model, config.heads, config.ff_size, config.dropout,
                                           activation="gelu", batch_first=True, norm_first=True)
        layer.self_attn.dropout = config.attention_dropout  # the layer's one dropout would apply here too
        self.encoder = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(config.d_model)
        self.pool = AttentionPooling(config.d_model) if config.pooling == "attention" else None
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.d_model, num_outputs)
        self.positions: torch.Tensor
        self.register_buffer("positions", sinusoidal_positions(4096, config.d_model), persistent=False)

    def _positions(self, length: int) -> torch.Tensor:
        if length > self.positions.size(0):
            return sinusoidal_positions(length, self.config.d_model).to(self.positions.device)
        return self.positions[:length]

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> ClassifierOutput:
        pooled, attention = self.pooled(ids, lengths)  # (B, D), (B, T) or None
        return ClassifierOutput(self.head(self.dropout(pooled)), attention)

    def pooled(self, ids: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        safe_lengths = lengths.clamp(min=1)
        x = self.embedding(ids) * math.sqrt(self.config.d_model)  # (B, T, D)
        mask = length_mask(safe_lengths, ids.size(1))  # (B, T) True at tokens
        if self.cls is not None:
            x = torch.cat([self.cls.expand(ids.size(0), -1, -1), x], dim=1)  # (B, 1+T, D)
            mask = torch.cat([mask.new_ones(ids.size(0), 1), mask], dim=1)
        x = self.dropout(x + self._positions(x.size(1)).to(x.dtype))
        h = self.norm(self.encoder(x, src_key_padding_mask=~mask))  # (B, T', D)
        attention = None
        if self.cls is not None:
            pooled = h[:, 0]
        elif self.pool is not None:
            pooled, attention = self.pool(h, mask)
        else:
            pooled = (h * mask[..., None]).sum(1) / safe_lengths[:, None].to(h.dtype)
        return pooled, attention
