"""The language-model task's config: its sections, model registry and recipes (``SCHEMA``). torch-free, so
``seqlab train lm --help`` and a bad flag answer without importing torch; :mod:`.recipe` re-exports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from seqlab.config import TaskConfigSchema, at_least, choices
from seqlab.data.corpus import LMDataConfig
from seqlab.models.configs import LANGUAGE_MODEL_CONFIGS, LM_RECIPES
from seqlab.train_config import TrainConfig


@dataclass
class LMTextConfig:
    tokenizer: str = field(default="auto", metadata={
        "help": "auto (word for wikitext-2, bpe for your own text) | word (whitespace, every training type) | bpe",
        "choices": ["auto", "word", "bpe"]})
    vocab_size: int = field(default=8000, metadata={"help": "bpe vocabulary size"})
    min_freq: int = field(default=1, metadata={"help": "word tokenizer: keep words seen this often (else <unk>)"})

    def __post_init__(self) -> None:
        choices(self)
        at_least(self, 10, "vocab_size")
        at_least(self, 1, "min_freq")


@dataclass
class StreamConfig:
    bptt: int = field(default=70, metadata={"help": "rnn: tokens per truncated-BPTT segment"})
    random_bptt: bool = field(default=True, metadata={
        "help": "rnn: vary the segment length around --bptt (and halve it 5%% of the time; Merity et al. 2017), "
                "so every token is at every position of a segment over the epochs"})

    def __post_init__(self) -> None:
        at_least(self, 2, "bptt")


@dataclass
class LMConfig:
    data: LMDataConfig = field(default_factory=LMDataConfig)
    text: LMTextConfig = field(default_factory=LMTextConfig)
    stream: StreamConfig = field(default_factory=StreamConfig)
    train: TrainConfig = field(default_factory=TrainConfig)  # each model's defaults: its RECIPE
    model_name: str = "rnn"
    model: Any = None


SCHEMA = TaskConfigSchema(LMConfig, LANGUAGE_MODEL_CONFIGS, LM_RECIPES)
