"""The classify task's config: its sections, model registry and recipes (``SCHEMA``). torch-free, so
``seqlab train classify --help`` and a bad flag answer without importing torch; :mod:`.recipe` re-exports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from seqlab.config import TaskConfigSchema
from seqlab.data.classification import ClassifyDataConfig
from seqlab.models.configs import CLASSIFIER_CONFIGS, CLASSIFIER_RECIPES
from seqlab.text.pipeline import TextConfig
from seqlab.train_config import TrainConfig


@dataclass
class VectorsConfig:
    embeddings: str | None = field(default=None, metadata={
        "help": "initialise word embeddings from pretrained vectors: glove-6b-50d or a .txt/.vec file"})
    freeze_embeddings: bool = field(default=False, metadata={"help": "keep the pretrained embeddings fixed"})


@dataclass
class ClassifyConfig:
    data: ClassifyDataConfig = field(default_factory=ClassifyDataConfig)
    text: TextConfig = field(default_factory=TextConfig)
    vectors: VectorsConfig = field(default_factory=VectorsConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    model_name: str = "bag"  # the fastest to train and the most accurate on IMDB here (benchmarks/RESULTS.md)
    model: Any = None


SCHEMA = TaskConfigSchema(ClassifyConfig, CLASSIFIER_CONFIGS, CLASSIFIER_RECIPES)
