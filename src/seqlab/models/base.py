"""What every classifier returns, so tasks and the trainer never look inside a model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class Capabilities:
    """What a task may ask of a model, declared by its config (``config.capabilities()``).

    Tasks read these instead of probing a model's name or attributes, so a new model states each answer once
    and cannot silently miss a hook (the role of Hugging Face's ``PreTrainedModel`` class attributes).
    """

    # "words": seqlab's tokenizer and vocabulary (text.json); "pretrained": the encoder's own tokenizer and
    # files, saved beside the weights (hf/)
    text: str = "words"
    # the config field that sets the width of the input word vectors (pretrained vectors set it), and a field
    # that must divide that width (attention heads); None: no word-vector table to initialise
    vector_width: str | None = None
    vector_width_divisor: str | None = None
    # why --embeddings does not apply (vector_width None): it ends "--embeddings does not apply to --model NAME"
    no_vectors_reason: str = "(it has no word-vector table)"
    attention_pooling: bool = False  # pools its outputs with attention weights over the tokens (shown as such)
    # seq2seq: the share of gold previous words it ends training with under scheduled sampling (Bengio et al.
    # 2015); None: it always trains on the gold previous words (--tf-schedule does not apply)
    teacher_forcing: float | None = None


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

    def fit_statistics(self, docs: list[np.ndarray], targets: torch.Tensor) -> None:
        """Statistics of the training data a model needs before training; most need none."""

    def export_graph(self) -> nn.Module:
        """The module ``seqlab export`` writes as ONNX: ``(ids (B, T), lengths (B,)) -> ClassifierOutput`` on padded
        ids, in eval mode. Most models export as they are; one whose forward uses ops that export poorly (the bag's
        EmbeddingBag and ragged sums) returns an equivalent padded form."""
        return self
