"""What every classifier returns, so tasks and the trainer never look inside a model."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class ClassifierOutput:
    logits: torch.Tensor  # (B, C), or (B, 1) for a binary task
    attention: torch.Tensor | None = None  # (B, T) pooling weights over the input tokens, when the model has them


def length_mask(lengths: torch.Tensor, width: int) -> torch.Tensor:
    """``(B, T)`` bool mask, True at real tokens."""
    return torch.arange(width, device=lengths.device)[None, :] < lengths[:, None]
