"""The embeddings task's config: its sections, model registry and recipe (``SCHEMA``). torch-free, so
``seqlab train embeddings --help`` and a bad flag answer without importing torch; :mod:`.recipe` re-exports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from seqlab.config import TaskConfigSchema, at_least, choices, require
from seqlab.models.configs import EMBEDDING_CONFIGS, EMBEDDING_RECIPES
from seqlab.train_config import TrainConfig

TOKENIZERS = ("words", "whitespace")


@dataclass
class EmbeddingDataConfig:
    """Which running text to learn from: one source or several joined with commas."""

    data: str = field(default="wikitext-2", metadata={
        "help": "wikitext-2 | imdb (its training reviews' text) | a text file (one sentence or paragraph a line; "
                ".gz too) | a .jsonl file (its text field) | several joined with commas (wikitext-2,imdb)"})
    max_words: int | None = field(default=None, metadata={
        "help": "use only the first N words of the corpus (after tokenising)"})

    def __post_init__(self) -> None:
        require(bool(self.data.strip()), "--data may not be empty")
        at_least(self, 1, "max_words")


@dataclass
class EmbeddingTextConfig:
    tokenizer: str = field(default="words", metadata={
        "help": "words (HTML tags dropped, \\w+ runs: punctuation dropped) | whitespace (the text is tokenised "
                "already)", "choices": list(TOKENIZERS)})
    lowercase: bool = field(default=True, metadata={"help": "lower-case the text (the evaluation sets are)"})

    def __post_init__(self) -> None:
        choices(self)


@dataclass
class EmbeddingsConfig:
    data: EmbeddingDataConfig = field(default_factory=EmbeddingDataConfig)
    text: EmbeddingTextConfig = field(default_factory=EmbeddingTextConfig)
    train: TrainConfig = field(default_factory=TrainConfig)  # the model's defaults: its RECIPE (gensim's)
    model_name: str = "word2vec"
    model: Any = None


SCHEMA = TaskConfigSchema(EmbeddingsConfig, EMBEDDING_CONFIGS, EMBEDDING_RECIPES)
