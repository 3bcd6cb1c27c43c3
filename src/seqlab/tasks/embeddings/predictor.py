"""A loaded embeddings model: its vectors, neighbours and analogies, and evaluation.

``evaluate`` scores word similarity (WordSim-353, SimLex-999: Spearman) and the Google analogies (3CosAdd, by
section) with :mod:`seqlab.embedding_eval`, gensim's rules; :func:`load_source` gives GloVe (``glove-6b-50d``) or
any ``.txt``/``.vec`` file the same methods, so ``evaluate`` scores them alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from seqlab.embedding_eval import RESTRICT_VOCAB, evaluate_vectors
from seqlab.errors import SeqlabError
from seqlab.inference import Predictor
from seqlab.runtime import Timer
from seqlab.tasks.embeddings.config import SCHEMA
from seqlab.tasks.embeddings.vectors import StoredVectors

DEFAULT_NEIGHBOURS = 10


class WordSpace:
    """Words and their vectors, with cosine neighbours and analogies; a word outside the vocabulary gets a vector
    from its character n-grams when the model has subwords (``vector_of``)."""

    words: list[str]
    matrix: np.ndarray  # (V, D) float32
    name: str  # where the vectors came from, for the report
    subword: bool = False  # a word outside the vocabulary gets a vector from its character n-grams

    def _prepare(self) -> None:
        self.index = {w: i for i, w in enumerate(self.words)}
        norms = np.linalg.norm(self.matrix, axis=1, keepdims=True)
        self.unit = self.matrix / np.where(norms > 0, norms, 1.0)  # (V, D)

    def vector_of(self, word: str) -> np.ndarray | None:
        i = self.index.get(word)
        return self.matrix[i] if i is not None else None

    def _vector(self, word: str) -> np.ndarray:
        vector = self.vector_of(word)
        if vector is None:
            raise SeqlabError(f"{word!r} is not in the vocabulary ({len(self.words):,} words)"
                              f"{'' if self.subword else ' and the model has no subwords'}")
        return vector

    def neighbours(self, word: str, k: int = DEFAULT_NEIGHBOURS) -> list[tuple[str, float]]:
        """The ``k`` words nearest ``word`` (cosine), the word itself excluded."""
        return self.nearest_to(self._vector(word), k, {word})

    def analogy(self, a: str, b: str, c: str, k: int = DEFAULT_NEIGHBOURS) -> list[tuple[str, float]]:
        """``a`` is to ``b`` as ``c`` is to ...: 3CosAdd over unit vectors (Mikolov et al. 2013), a, b, c excluded."""
        unit = [v / max(float(np.linalg.norm(v)), 1e-12) for v in (self._vector(a), self._vector(b), self._vector(c))]
        return self.nearest_to(unit[1] - unit[0] + unit[2], k, {a, b, c})

    def nearest_to(self, query: np.ndarray, k: int, exclude: set[str]) -> list[tuple[str, float]]:
        sims = self.unit @ (query / max(float(np.linalg.norm(query)), 1e-12))  # (V,)
        order = np.argsort(-sims)[: k + len(exclude)]
        return [(self.words[i], float(sims[i])) for i in order if self.words[i] not in exclude][:k]


class EmbeddingsPredictor(Predictor, WordSpace):
    """An embeddings model directory (``seqlab.load``)."""

    task = "embeddings"
    schema = SCHEMA

    def __init__(self, model_dir: str | Path, device: str = "cpu", precision: str = "fp32") -> None:
        super().__init__(model_dir, device, precision)
        self.stored = StoredVectors(self.model_dir)
        self.words, self.matrix = self.stored.words, self.stored.matrix()
        self.subword = self.stored.subword
        self.name = str(model_dir)
        self._prepare()

    def vector_of(self, word: str) -> np.ndarray | None:
        vector = WordSpace.vector_of(self, word)
        return vector if vector is not None else self.stored.subword_vector(word)

    def describe(self) -> dict[str, Any]:
        summary = super().describe()
        summary["vocabulary"] = len(self.words)
        return summary


class VectorsSource(WordSpace):
    """Pretrained vectors by name (``glove-6b-50d``) or a ``.txt``/``.vec`` file, scored like a model directory."""

    task = "embeddings"
    subword = False

    def __init__(self, source: str) -> None:
        from seqlab.models.embeddings import load_vectors

        vectors = load_vectors(source)
        if not vectors.words:
            raise SeqlabError(f"{source}: no vectors found")
        self.words, self.matrix, self.name = vectors.words, vectors.matrix, source
        self._prepare()


def load(model_dir: Path, device: str = "cpu", precision: str = "fp32") -> EmbeddingsPredictor:
    return EmbeddingsPredictor(model_dir, device=device, precision=precision)


def load_source(source: str) -> WordSpace:
    """A model directory, or pretrained vectors (``glove-6b-50d``, a ``.txt``/``.vec`` file): what
    ``seqlab evaluate`` takes."""
    path = Path(source).expanduser()
    if path.is_dir():
        return load(path)
    return VectorsSource(source)


def evaluate(predictor: WordSpace, *, data: str | None = None, split: str | None = None,
             options: dict[str, Any] | None = None, log=print) -> dict[str, Any]:
    """Word similarity and analogies of the vectors (``data`` and ``split`` do not apply: the evaluation sets are
    the options' files, or gensim's copies)."""
    options = options or {}
    timer = Timer()
    with timer:
        report = evaluate_vectors(predictor.words, predictor.matrix, wordsim=options.get("wordsim"),
                                  simlex=options.get("simlex"), analogy_file=options.get("analogies"),
                                  restrict_vocab=options.get("restrict_vocab") or RESTRICT_VOCAB,
                                  case_insensitive=not options.get("case_sensitive", False),
                                  dummy4unknown=bool(options.get("dummy4unknown", False)))
    report["vectors"] = predictor.name
    report["seconds"] = timer.seconds
    return report
