"""What every classifier returns, so tasks and the trainer never look inside a model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from seqlab.models.configs import Capabilities  # noqa: F401  (re-exported)


@dataclass
class ClassifierOutput:
    logits: torch.Tensor  # (B, C), or (B, 1) for a binary task
    attention: torch.Tensor | None = None  # (B, T) pooling weights over the input tokens, when the model has them


def length_mask(lengths: torch.Tensor, width: int) -> torch.Tensor:
    """``(B, T)`` bool mask, True at real tokens."""
    return torch.arange(width, device=lengths.device)[None, :] < lengths[:, None]


class ClassifierModel(nn.Module):
    """What the classify task may ask of any classifier, declared once with the common answers.

    A model overrides what applies to it: the bag its ``featurizer`` (hashed n-grams instead of
    word ids), ``encode_bound`` (reading text costs more than the model, so prediction encodes in
    worker processes), ``explanation = "linear"`` and :meth:`fit_statistics` (its NB ratios).
    """

    # "linear": logits are sums over features, explained exactly; "gradient": integrated gradients at
    # :meth:`input_embedding` (tasks/classify_explain.py)
    explanation = "gradient"
    encode_bound = False
    featurizer: Any = None  # word ids -> model inputs; None: the ids themselves

    def input_embedding(self) -> nn.Module:
        """The module whose output is each token's input vector (explanations attribute scores to it)."""
        raise NotImplementedError

    def pooled(self, ids: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(B, D)`` the one vector of each text that the output layer reads (``seqlab embed``), and the ``(B, T)``
        attention weights it pooled with, when it pools with attention. Declared by ``Capabilities.text_vector``."""
        raise NotImplementedError

    # the state-dict entries whose scaling by f multiplies every logit by f (the output layer): temperature
    # scaling is folded into them when the model is saved, so predictors, explanations and exports need no step
    logit_parameters: tuple[str, ...] = ("head.weight", "head.bias")

    def fit_statistics(self, docs: list[np.ndarray], targets: torch.Tensor) -> None:
        """Statistics of the training data a model needs before training; most need none."""

    def export_graph(self) -> nn.Module:
        """The module ``seqlab export`` writes as ONNX: ``(ids (B, T), lengths (B,)) -> ClassifierOutput`` on padded
        ids, in eval mode. Most models export as they are; one whose forward uses ops that export poorly (the bag's
        EmbeddingBag and ragged sums) returns an equivalent padded form."""
        return self
