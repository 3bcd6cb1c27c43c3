"""Using a trained tagger: tag raw texts or pre-tokenised sentences, evaluate on a split, and the ``seqlab tag`` command.

    >>> tagger = seqlab.load("runs/ner")  # doctest: +SKIP
    >>> tagger.tag(["EU rejects German call to boycott British lamb ."])  # doctest: +SKIP
    [{'entities': [{'type': 'ORG', 'text': 'EU', 'start': 0, 'end': 2, 'confidence': 0.99}, ...],
      'tokens': ['EU', 'rejects', ...], 'tags': ['I-ORG', 'O', 'I-MISC', ...]}]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from seqlab.data.conll import split_words
from seqlab.inference import Predictor, masked_mean, pooled_vectors
from seqlab.modeldir import read_json
from seqlab.tasks.tag import DEFAULT_BATCH
from seqlab.tasks.tag.evaluate import eval_split, evaluate  # noqa: F401  (re-exported)
from seqlab.tasks.tag.recipe import (
    HF_FOLDER,
    SCHEMA,
    TEXT_FILE,
    TagConfig,
    TagVocab,
    build_model,
    make_features,
    predict_items,
    reads_pretrained_text,
    trained_embedding,
)
from seqlab.tasks.tag.words import TaggingMethods


class Tagger(Predictor, TaggingMethods):
    """A loaded sequence tagger: ``tag`` raw texts, ``tag_tokens`` pre-tokenised sentences."""

    task = "tag"
    schema = SCHEMA
    config: TagConfig

    def __init__(self, model_dir: Path, device: str = "cpu", precision: str = "fp32") -> None:
        super().__init__(model_dir, device, precision)
        self.vocab = TagVocab.from_json(read_json(self.model_dir, TEXT_FILE))
        hf = str(self.model_dir / HF_FOLDER) if reads_pretrained_text(self.config) else None
        self.features = make_features(self.config, self.vocab, hf)
        self.model = self.restore(build_model(self.config, self.vocab, hf_config_dir=hf))

    # -- prediction
    def predict(self, sentences: list[list[str]], batch_size: int = DEFAULT_BATCH,
                confidences: bool = True) -> tuple[list[list[str]], list[list[float]] | None]:
        """Each sentence's model tags (BIOES for entities) and, when asked, each tag's confidence."""
        items = self.features.encode(sentences)
        ids, conf = predict_items(self.model, self.features, items, self.device, confidences=confidences,
                                  batch_size=batch_size, autocast=self.autocast)
        return [[self.labels[i] for i in sent] for sent in ids], conf

    # -- vectors
    def _table(self) -> tuple[list[str], torch.Tensor]:
        """The lower-cased training words and their trained rows (a pretrained tagger: its encoder's word pieces)."""
        if reads_pretrained_text(self.config):
            tokenizer = self.features.tokenizer
            weight = self.model.encoder.get_input_embeddings().weight
            return tokenizer.convert_ids_to_tokens(list(range(weight.size(0)))), weight
        return list(self.vocab.words), trained_embedding(self.model).weight[: len(self.vocab.words)]

    def _embed(self, texts: list[str], batch_size: int) -> np.ndarray:
        """Each text split into words as :meth:`tag` splits it; its vector is the mean of the encoder's states."""
        sentences = [split_words(t)[0] for t in texts]
        items = self.features.encode(sentences)

        def run(batch: list[int]) -> torch.Tensor:
            states, mask = self.model.token_states(self.features.batch([items[i] for i in batch]).to(self.device))
            return masked_mean(states, mask)  # (B, D)

        lengths = [self.features.length(item) if words else 0 for words, item in zip(sentences, items, strict=True)]
        return pooled_vectors(lengths, run, batch_size, self.model.head.in_features)


def load(model_dir: Path, device: str = "cpu", precision: str = "fp32") -> Tagger:
    return Tagger(model_dir, device=device, precision=precision)
