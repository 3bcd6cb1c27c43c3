"""An embeddings model directory's vectors without torch, and the word2vec text format.

:func:`read_word_vectors` is what ``seqlab vectors EMB_DIR`` (and anything else that wants the learned space)
calls: ``(words, matrix)``, the vocabulary most frequent first and its (V, D) float32 vectors (with subwords, each
word's vector is the mean of its own and its n-grams' rows, as fastText gives it). :func:`subword_vector` gives a
word outside the vocabulary its vector from its character n-grams.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seqlab.errors import SeqlabError
from seqlab.files import atomic_path

TEXT_FILE = "text.json"


class StoredVectors:
    """The tables of an embeddings model directory, read once (safetensors through numpy)."""

    def __init__(self, model_dir: str | Path) -> None:
        from safetensors.numpy import load_file

        from seqlab.modeldir import WEIGHTS, read_json, read_model_config

        self.model_dir = Path(model_dir)
        meta = read_model_config(self.model_dir, expect_task="embeddings")
        self.model = dict(meta["config"]["model"])
        vocabulary = read_json(self.model_dir, TEXT_FILE)
        self.words: list[str] = list(vocabulary["words"])
        try:
            tables = load_file(str(self.model_dir / WEIGHTS))
        except Exception as exc:
            raise SeqlabError(f"{self.model_dir / WEIGHTS} is damaged or not a safetensors file: {exc}") from None
        self.subword = bool(self.model.get("subword"))
        try:
            self.input = tables["input.weight"]
            if self.subword:
                self.pieces, self.offsets = tables["piece_ids"], tables["piece_offsets"]
                self.used_buckets = tables["used_buckets"]
        except KeyError as exc:
            raise SeqlabError(f"{self.model_dir / WEIGHTS} lacks the table {exc}; the directory is damaged") from None

    def matrix(self) -> np.ndarray:
        V = len(self.words)
        if not self.subword:
            return np.ascontiguousarray(self.input[:V], dtype=np.float32)
        lengths = np.diff(self.offsets)  # (V,)
        sums = np.add.reduceat(self.input[self.pieces], self.offsets[:-1], axis=0)  # (V, D)
        return (sums / lengths[:, None]).astype(np.float32)

    def subword_vector(self, word: str) -> np.ndarray | None:
        """A word's vector from its n-grams that have a row (fastText's vector for an unseen word); None when the
        model has no subwords or none of the word's n-grams is known."""
        if not self.subword:
            return None
        from seqlab.models.configs import Word2VecConfig
        from seqlab.text.char_ngrams import ngram_buckets

        cfg = Word2VecConfig(**{k: v for k, v in self.model.items() if k != "name"})
        buckets = np.array(ngram_buckets(word, cfg.min_n, cfg.max_n, cfg.buckets), dtype=np.int64)
        at = np.searchsorted(self.used_buckets, buckets)
        found = (at < len(self.used_buckets)) & (self.used_buckets[np.minimum(at, len(self.used_buckets) - 1)] == buckets)
        if not found.any():
            return None
        return self.input[len(self.words) + at[found]].mean(0).astype(np.float32)


def read_word_vectors(model_dir: str | Path) -> tuple[list[str], np.ndarray]:
    """``(words, matrix)`` of an embeddings model directory: the vocabulary (most frequent first) and (V, D)."""
    stored = StoredVectors(model_dir)
    return stored.words, stored.matrix()


def write_word2vec_text(path: str | Path, words: list[str], matrix: np.ndarray) -> None:
    """The word2vec text format (a ``V D`` header, then ``word v1 ... vD`` a line), which gensim's
    ``KeyedVectors.load_word2vec_format``, fastText and GloVe's readers take; written atomically."""
    path = Path(path)
    if path.is_dir():
        raise SeqlabError(f"--out {path} is a folder; give a file name such as vectors.txt")
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(f"{len(words)} {matrix.shape[1]}\n")
        for word, row in zip(words, matrix, strict=True):
            fh.write(word + " " + " ".join(f"{x:.6g}" for x in row.tolist()) + "\n")
