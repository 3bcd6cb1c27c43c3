"""The tagging task's config: its sections, model registry and recipes (``SCHEMA``). torch-free, so
``seqlab train tag --help`` and a bad flag answer without importing torch; :mod:`.recipe` re-exports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from seqlab.config import TaskConfigSchema, at_least, probability, require
from seqlab.data.conll import CONLL2003_COLUMNS
from seqlab.errors import SeqlabError
from seqlab.models.configs import PRETRAINED_TAGGER_RECIPE, TAGGER_RECIPE, PretrainedTaggerConfig, TaggerConfig
from seqlab.text.tagging import normalize_scheme
from seqlab.train_config import TrainConfig


@dataclass
class TagDataConfig:
    """Which tagged sentences to train on, which columns, and in which scheme the tags are written."""

    data: str = field(default="conll2003", metadata={
        "help": "conll2003 | a CoNLL column file (one 'WORD ... TAG' per line, blank lines between sentences) | "
                "a folder with train/dev(/test) files"})
    tag_column: str = field(default="ner", metadata={
        "help": "the tag column: ner | pos | chunk (columns of the CoNLL-2003 layout WORD POS CHUNK NER; in another "
                "layout ner is the last column) or a column index (-1: the last)"})
    word_column: int = field(default=0, metadata={"help": "the word column's index"})
    scheme: str = field(default="auto", metadata={
        "help": "the scheme the tags are written in: auto (detected; CoNLL-2003 is iob1) | iob1 | bio (iob2) | "
                "bioes (iobes) | none (plain tags such as part of speech)"})
    valid_data: str | None = field(default=None, metadata={
        "help": "a validation file (default: the dev split of --data, else sentences carved from the training file)"})
    valid_fraction: float = field(default=0.1, metadata={"help": "share of a single training file held out for validation"})
    split_seed: int = field(default=1234, metadata={"help": "seed of the validation carve-out"})
    limit: int | None = field(default=None, metadata={"help": "train on at most this many sentences (quick runs)"})

    def __post_init__(self) -> None:
        if self.scheme != "auto":  # its canonical name (iob2 -> bio), as the model directory records it
            try:
                self.scheme = normalize_scheme(self.scheme)
            except SeqlabError as exc:
                raise SeqlabError(f"--scheme: {exc}") from None
        name = self.tag_column.strip().lower()
        require(name.lstrip("-").isdigit() or name in CONLL2003_COLUMNS,
                f"--tag-column {self.tag_column!r}: give a column index or one of ner, pos, chunk")
        require(0.0 < self.valid_fraction < 0.9, f"--valid-fraction must be between 0 and 0.9, got {self.valid_fraction:g}")
        at_least(self, 1, "limit")

    def given_scheme(self) -> str | None:
        """The scheme to read with (None: detect it)."""
        return None if self.scheme == "auto" else normalize_scheme(self.scheme)


@dataclass
class TagVectorsConfig:
    """Pretrained word vectors, and how words the training data does not know are read."""

    embeddings: str | None = field(default="glove-6b-50d", metadata={
        "help": "initialise the (lower-cased) word embeddings: glove-6b-50d (offline package) or a .txt/.vec file; "
                "none: random"})
    extra_vectors: int | None = field(default=None, metadata={
        "help": "words that only the vectors know, kept as fixed rows so they stay usable when tagging: at most this "
                "many, most frequent first (default: sized from the data, 20 per training word and at least 1,000, "
                "so CoNLL-2003 keeps all of GloVe; 0: no extra rows)"})
    freeze_embeddings: bool = field(default=False, metadata={"help": "keep the pretrained rows of training words fixed"})
    singleton_unk: float = field(default=0.5, metadata={
        "help": "training: read a word seen once and without a pretrained vector as <unk> with this probability, so "
                "<unk> learns to stand for rare words (Lample et al. 2016)"})

    def __post_init__(self) -> None:
        probability(self, "singleton_unk")
        at_least(self, 0, "extra_vectors")


@dataclass
class SoftmaxTaggerConfig(TaggerConfig):
    """``--model bilstm``: the BiLSTM tagger with a per-token softmax instead of the CRF."""

    crf: bool = field(default=False, metadata={"help": "a CRF output layer (else a per-token softmax)"})


# name -> (config class, what the model reads: "words" or "subwords")
TAGGERS: dict[str, tuple[type, str]] = {
    "bilstm-crf": (TaggerConfig, "words"),
    "bilstm": (SoftmaxTaggerConfig, "words"),
    "pretrained": (PretrainedTaggerConfig, "subwords"),
}


@dataclass
class TagConfig:
    data: TagDataConfig = field(default_factory=TagDataConfig)
    vectors: TagVectorsConfig = field(default_factory=TagVectorsConfig)
    train: TrainConfig = field(default_factory=TrainConfig)  # each model's defaults: its RECIPE
    model_name: str = "bilstm-crf"
    model: Any = None


SCHEMA = TaskConfigSchema(TagConfig, {name: cfg for name, (cfg, _) in TAGGERS.items()},
                          {"bilstm-crf": TAGGER_RECIPE, "bilstm": TAGGER_RECIPE, "pretrained": PRETRAINED_TAGGER_RECIPE})
