"""Running text for word vectors: sources -> sentences of words -> a vocabulary and one id stream (cached).

A source is ``wikitext-2`` (its training text), ``imdb`` (its training reviews' text, labels unused), a plain text
file (one sentence or paragraph a line, ``.gz`` too), a ``.jsonl`` file (its ``text`` field) or a folder with
``train.*``; several are joined with commas. Sentences are streamed from the readers one at a time and encoded in
one pass (a provisional id per new word, counted afterwards), so memory holds ids, never lists of strings.
Like gensim, words seen fewer than ``--min-count`` times leave the stream before windows are drawn, and the
vocabulary is sorted by descending count (ties as gensim orders them: the last seen first).
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seqlab.errors import SeqlabError
from seqlab.models.configs import Word2VecConfig
from seqlab.tasks.embeddings.config import EmbeddingDataConfig, EmbeddingTextConfig

_WORD = re.compile(r"\w+")
NAMED = ("wikitext-2", "imdb")


@dataclass
class EncodedCorpus:
    """The vocabulary (most frequent first) with its counts, and the corpus as ids: sentence after sentence."""

    words: list[str]
    counts: np.ndarray  # (V,) int64
    ids: np.ndarray  # (N,) int32, words below --min-count removed
    lengths: np.ndarray  # (S,) int32 words of each sentence in ``ids``
    raw_words: int  # words read (before --min-count), what words/s counts

    def sentence_ids(self) -> np.ndarray:
        """(N,) int32: which sentence each position of ``ids`` belongs to (windows never cross one)."""
        return np.repeat(np.arange(len(self.lengths), dtype=np.int32), self.lengths)


def sources(data: str) -> list[str]:
    return [part.strip() for part in data.split(",") if part.strip()]


def _texts(source: str) -> Iterator[str]:
    """The texts of one source, one at a time (a line, a review)."""
    path = Path(source).expanduser()
    if not path.exists():
        name = source.lower()
        if name == "wikitext-2":
            from seqlab.data.corpus import LMDataConfig, load_split

            yield from load_split(LMDataConfig(data=name), "train").lines
            return
        if name == "imdb":
            from seqlab.data.classification import ClassifyDataConfig
            from seqlab.data.classification import load_split as load_labelled

            yield from load_labelled(ClassifyDataConfig(data=name), "train").texts
            return
        raise SeqlabError(f"--data {source!r}: no such file or folder, and not a known corpus "
                          f"({', '.join(NAMED)}; or give a text file)")
    if path.is_dir():
        from seqlab.data.corpus import LMDataConfig, load_split

        yield from load_split(LMDataConfig(data=str(path)), "train").lines
        return
    base = path.name[:-3] if path.name.endswith(".gz") else path.name
    if Path(base).suffix.lower() in (".jsonl", ".json", ".ndjson"):
        from seqlab.data.readers import read_jsonl

        yield from read_jsonl(path, "text", None)[0]
        return
    from seqlab.data.readers import open_text_lines

    for _, line in open_text_lines(path):
        yield line


def tokenize(text: str, cfg: EmbeddingTextConfig) -> list[str]:
    if cfg.tokenizer == "whitespace":
        return (text.lower() if cfg.lowercase else text).split()
    from seqlab.text.clean import clean_text

    return _WORD.findall(clean_text(text, lowercase=cfg.lowercase, collapse_spaces=False))


def sentences(data: EmbeddingDataConfig, text: EmbeddingTextConfig) -> Iterator[list[str]]:
    """Every non-empty sentence of the corpus as words, the first ``--max-words`` words only when set: what
    seqlab trains on, and what the benchmark hands gensim."""
    left = data.max_words
    for source in sources(data.data):
        for raw in _texts(source):
            words = tokenize(raw, text)
            if not words:
                continue
            if left is not None:
                words = words[:left]
                left -= len(words)
            yield words
            if left is not None and left <= 0:
                return


def encode(data: EmbeddingDataConfig, text: EmbeddingTextConfig, model: Word2VecConfig,
           fixed_words: list[str] | None = None) -> EncodedCorpus:
    """The corpus as ids, cached by its sources' fingerprints and the settings that change it. ``fixed_words``: a
    resumed run's vocabulary, kept exactly."""
    from seqlab.data.cache import cached_arrays

    key = {"kind": "embeddings-corpus-2", "sources": [_fingerprint(s) for s in sources(data.data)],
           "max_words": data.max_words, "tokenizer": text.tokenizer, "lowercase": text.lowercase,
           "min_count": model.min_count, "max_vocab": model.max_vocab, "fixed": fixed_words}

    def compute() -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        corpus = _encode(data, text, model, fixed_words)
        return ({"ids": corpus.ids, "lengths": corpus.lengths, "counts": corpus.counts},
                {"words": corpus.words, "raw_words": corpus.raw_words})

    arrays, meta = cached_arrays(key, compute)
    return EncodedCorpus(list(meta["words"]), arrays["counts"].astype(np.int64), arrays["ids"].astype(np.int32),
                         arrays["lengths"].astype(np.int32), int(meta["raw_words"]))


def _encode(data: EmbeddingDataConfig, text: EmbeddingTextConfig, model: Word2VecConfig,
            fixed_words: list[str] | None) -> EncodedCorpus:
    index: dict[str, int] = {}
    ids, lengths = array("i"), array("i")
    for words in sentences(data, text):
        ids.extend([index.setdefault(w, len(index)) for w in words])
        lengths.append(len(words))
    raw = np.frombuffer(ids, dtype=np.int32) if len(ids) else np.zeros(0, np.int32)
    if raw.size == 0:
        raise SeqlabError(f"--data {data.data}: the corpus has no words")
    seen = list(index)
    counts = np.bincount(raw, minlength=len(seen)).astype(np.int64)
    if fixed_words is not None:
        order = np.array([index.get(w, -1) for w in fixed_words], dtype=np.int64)
        if (order < 0).any():
            raise SeqlabError("--resume: the corpus lacks words of the vocabulary it was trained with; resume with "
                              "the same --data")
    else:
        kept = np.flatnonzero(counts >= model.min_count)  # in first-seen order
        # most frequent first; equal counts: the last seen first, as gensim's sort_by_descending_frequency orders
        order = kept[np.lexsort((-kept, -counts[kept]))][: model.max_vocab]
    if order.size == 0:
        raise SeqlabError(f"--data {data.data}: no word occurs --min-count {model.min_count} times "
                          f"({raw.size:,} words, {len(seen):,} distinct); lower --min-count or give more text")
    new_id = np.full(len(seen), -1, dtype=np.int32)
    new_id[order] = np.arange(order.size, dtype=np.int32)
    mapped = new_id[raw]
    keep = mapped >= 0
    sentence_of = np.repeat(np.arange(len(lengths)), np.frombuffer(lengths, dtype=np.int32))
    kept_lengths = np.bincount(sentence_of[keep], minlength=len(lengths)).astype(np.int32)
    return EncodedCorpus([seen[i] for i in order], counts[order], mapped[keep], kept_lengths, int(raw.size))


def _fingerprint(source: str) -> str:
    """A source's identity for the cache: a file's path, size and time; a named corpus's local files."""
    from seqlab.data.cache import fingerprint

    path = Path(source).expanduser()
    if path.exists():
        return f"{path.resolve()}@{fingerprint(path)}"
    import seqlab.data.corpus  # noqa: F401  (registers wikitext-2)
    from seqlab.data.registry import DATASETS, local_dataset_dir

    spec = DATASETS.get(source.lower())
    local = local_dataset_dir(spec) if spec is not None else None
    if spec is not None and local is not None:
        return f"{spec.name}@{fingerprint(local)}"
    return f"named:{source.lower()}"
