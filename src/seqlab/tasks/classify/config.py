"""The classify task's config: its sections, model registry and recipes (``SCHEMA``). torch-free, so
``seqlab train classify --help`` and a bad flag answer without importing torch; :mod:`.recipe` re-exports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from seqlab.config import TaskConfigSchema, at_least, probability, require
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
class AugmentConfig:
    """Extra training examples made from the training texts (seqlab.text.crops): robustness to short texts."""

    crops: int = field(default=0, metadata={
        "help": "add this many crops of 1..--crop-sentences sentences of each training text, labelled like it "
                "(short texts out of domain: tweets, snippets); 0 = none"})
    crop_sentences: int = field(default=3, metadata={"help": "the longest crop, in sentences"})

    def __post_init__(self) -> None:
        at_least(self, 0, "crops")
        at_least(self, 1, "crop_sentences")


@dataclass
class CalibrationConfig:
    # off by default: measured on the bag, a temperature fitted on IMDB validation made the tweets' confidences
    # worse (ECE 0.139 -> 0.169, benchmarks/RESULTS.md "Out-of-domain probes") while fixing IMDB's own
    calibrate: bool = field(default=False, metadata={
        "help": "fit a temperature on the validation split and fold it into the output layer, so confidences "
                "match accuracy there (predictions do not change; in domain only: see benchmarks/RESULTS.md)"})


@dataclass
class DistillConfig:
    """Learning from a trained classifier's probabilities (knowledge distillation: tasks/classify/distill.py)."""

    teacher: str | None = field(default=None, metadata={
        "help": "a trained classifier's model directory (e.g. a fine-tuned --model pretrained) whose probabilities "
                "on every training text and crop are the targets (computed once, cached)"})
    teacher_weight: float = field(default=0.5, metadata={
        "help": "with --teacher: the share of the loss on the teacher's probabilities; the rest is on the gold labels"})

    def __post_init__(self) -> None:
        probability(self, "teacher_weight", upper="]")
        require(self.teacher is None or bool(str(self.teacher).strip()),
                "--teacher may not be empty: give a classifier's model directory")


@dataclass
class ClassifyConfig:
    data: ClassifyDataConfig = field(default_factory=ClassifyDataConfig)
    text: TextConfig = field(default_factory=TextConfig)
    vectors: VectorsConfig = field(default_factory=VectorsConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    model_name: str = "bag"  # the fastest to train and the most accurate on IMDB here (benchmarks/RESULTS.md)
    model: Any = None


SCHEMA = TaskConfigSchema(ClassifyConfig, CLASSIFIER_CONFIGS, CLASSIFIER_RECIPES)
