"""The translation task's config: its sections, model registry and recipes (``SCHEMA``). torch-free, so
``seqlab train translate --help`` and a bad flag answer without importing torch; :mod:`.recipe` re-exports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from seqlab.config import TaskConfigSchema, at_least, choices, non_negative, probability, require
from seqlab.data.parallel import TranslateDataConfig
from seqlab.models.configs import (
    RNN_SEQ2SEQ_RECIPE,
    TRANSFORMER_SEQ2SEQ_RECIPE,
    RNNSeq2SeqConfig,
    TransformerSeq2SeqConfig,
)
from seqlab.text.subword import KINDS
from seqlab.train_config import TrainConfig


@dataclass
class TranslateTextConfig:
    tokenizer: str = field(default="bpe", metadata={
        "help": "bpe (subwords, Sennrich et al. 2016) | word (words and punctuation, rare ones -> <unk>)",
        "choices": list(KINDS)})
    vocab_size: int = field(default=8000, metadata={"help": "vocabulary size (BPE merges + alphabet, or words)"})
    joint_vocab: bool = field(default=True, metadata={
        "help": "one vocabulary for source and target (needed by --share-embeddings)"})
    min_frequency: int = field(default=2, metadata={"help": "a BPE merge or word must occur this often"})
    max_src_len: int = field(default=100, metadata={"help": "drop training pairs with a longer source (tokens)"})
    max_tgt_len: int = field(default=100, metadata={"help": "drop training pairs with a longer target (tokens)"})

    def __post_init__(self) -> None:
        choices(self)
        at_least(self, 10, "vocab_size")
        at_least(self, 1, "min_frequency", "max_src_len", "max_tgt_len")


@dataclass
class ObjectiveConfig:
    label_smoothing: float = field(default=0.1, metadata={
        "help": "label smoothing of the cross-entropy (Szegedy et al. 2016); padding is ignored"})
    tf_schedule: str = field(default="linear", metadata={
        "help": "rnn teacher forcing over epochs: linear (1.0 -> --teacher-forcing) | constant",
        "choices": ["linear", "constant"]})

    def __post_init__(self) -> None:
        choices(self)
        probability(self, "label_smoothing")


@dataclass
class DecodingConfig:
    beam: int = field(default=5, metadata={"help": "beam size for translate/evaluate (1: greedy)"})
    length_penalty: float = field(default=0.6, metadata={"help": "GNMT length penalty alpha (Wu et al. 2016)"})
    max_len_ratio: float = field(default=1.5, metadata={"help": "at most ratio * source length + extra tokens"})
    max_len_extra: int = field(default=10, metadata={"help": "see --max-len-ratio"})

    def __post_init__(self) -> None:
        at_least(self, 1, "beam")
        non_negative(self, "length_penalty", "max_len_ratio")
        at_least(self, 0, "max_len_extra")
        require(self.max_len_ratio > 0 or self.max_len_extra > 0,
                "--max-len-ratio 0 with --max-len-extra 0 would allow no target tokens at all")


@dataclass
class TranslateConfig:
    data: TranslateDataConfig = field(default_factory=TranslateDataConfig)
    text: TranslateTextConfig = field(default_factory=TranslateTextConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    decoding: DecodingConfig = field(default_factory=DecodingConfig)
    train: TrainConfig = field(default_factory=TrainConfig)  # each model's defaults: its RECIPE
    model_name: str = "transformer"
    model: Any = None


# name -> config class (the models themselves: recipe.TRANSLATORS)
TRANSLATOR_CONFIGS: dict[str, type] = {"transformer": TransformerSeq2SeqConfig, "rnn": RNNSeq2SeqConfig}

SCHEMA = TaskConfigSchema(TranslateConfig, TRANSLATOR_CONFIGS,
                          {"transformer": TRANSFORMER_SEQ2SEQ_RECIPE, "rnn": RNN_SEQ2SEQ_RECIPE})
