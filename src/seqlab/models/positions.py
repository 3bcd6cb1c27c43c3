"""Fixed sinusoidal position encodings (Vaswani et al. 2017, section 3.5): one copy for every Transformer."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def sinusoidal_positions(length: int, size: int, offset: int = 0) -> Tensor:
    """(length, size) table for positions ``offset .. offset + length - 1``:
    PE[p, 2i] = sin(p / 10000^(2i/size)), PE[p, 2i+1] = cos(...). Works for odd sizes too."""
    position = torch.arange(offset, offset + length, dtype=torch.float32)[:, None]  # (L, 1)
    inv_freq = torch.exp(torch.arange(0, size, 2, dtype=torch.float32) * (-math.log(10000.0) / size))  # (ceil(size/2),)
    table = torch.zeros(length, size)
    table[:, 0::2] = torch.sin(position * inv_freq)  # (L, ceil(size/2))
    table[:, 1::2] = torch.cos(position * inv_freq[: size // 2])  # (L, floor(size/2))
    return table
