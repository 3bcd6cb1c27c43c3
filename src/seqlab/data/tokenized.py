"""Tokenising a stream of texts into chunked, memory-mapped id arrays, in worker processes, and the frequency-ranked
vocabulary built from it without a token list in memory.

Tokenising is the cold-start cost of training on text (Python's ``re`` over every review), so it runs on chunks of
texts in worker processes (:func:`~seqlab.data.streaming.ordered_map`): each worker cleans and tokenises its chunk
with the model's own :class:`~seqlab.text.pipeline.TextPipeline` and numbers the chunk's tokens in order of first
appearance; this process renumbers them into one provisional vocabulary (a dictionary look-up per *distinct* token of
a chunk, not per token) and appends the ids to the cache. The tokens are therefore exactly the ones the pipeline
gives in one process, and so are the final ids: :func:`rank_vocabulary` orders the tokens by their count in the
training examples (ties alphabetically), as :class:`~seqlab.text.vocab.Vocab` does, and :func:`write_selected`
rewrites the examples in those ids. Counting is a ``numpy.bincount`` over the memory map, a span at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from functools import partial
from itertools import chain
from typing import Any

import numpy as np

from seqlab.data.cache import Ragged, RaggedWriter
from seqlab.data.streaming import CHUNK, chunked, ordered_map

SPAN = 16 * CHUNK  # examples counted or rewritten in one vectorised pass


class Interner(dict):
    """Token -> id in order of first appearance; a missing token gets the next id (looked up in C by ``map``)."""

    def __missing__(self, token: str) -> int:
        self[token] = index = len(self)
        return index


def _pipeline_from_json(blob: dict[str, Any]) -> Any:
    from seqlab.text.pipeline import TextPipeline

    return TextPipeline.from_json(blob)


def tokenize_chunk(pipeline: Any, texts: list[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A chunk's tokens as ``(flat ids, lengths, tokens)``: ids number the chunk's distinct tokens, ``tokens[i]``
    being the token of id ``i`` (first appearance first)."""
    token_lists = pipeline.tokenizer.tokenize_many([pipeline.clean(t) for t in texts])
    lengths = np.fromiter(map(len, token_lists), dtype=np.int64, count=len(token_lists))
    local = Interner()
    flat = np.fromiter(map(local.__getitem__, chain.from_iterable(token_lists)), dtype=np.int32,
                       count=int(lengths.sum()))
    return flat, lengths, list(local)


class ChunkTokenizer:
    """Tokenises streams of texts with one pipeline into provisional ids shared by every stream it is given."""

    def __init__(self, pipeline: Any, workers: int = 0) -> None:
        self.pipeline, self.workers = pipeline, workers
        self.vocab = Interner()  # token -> provisional id, over every stream tokenised so far

    def tokenize(self, texts: Iterable[str], writer: RaggedWriter) -> int:
        """Append the ids of ``texts`` to ``writer``; return how many texts there were."""
        setup = partial(_pipeline_from_json, self.pipeline.to_json()) if self.workers else (lambda: self.pipeline)
        count = 0
        lookup = self.vocab.__getitem__
        for flat, lengths, tokens in ordered_map(tokenize_chunk, chunked(texts, CHUNK), self.workers, setup=setup):
            remap = np.fromiter(map(lookup, tokens), dtype=np.int32, count=len(tokens))
            writer.append(remap[flat], lengths)
            count += len(lengths)
        return count

    @property
    def tokens(self) -> list[str]:
        return list(self.vocab)


def _spans(n: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, SPAN):
        yield start, min(start + SPAN, n)


def _member(n: int, selected: np.ndarray | None) -> np.ndarray:
    if selected is None:
        return np.ones(n, dtype=bool)
    member = np.zeros(n, dtype=bool)
    member[selected] = True
    return member


def count_selected(ragged: Ragged, selected: np.ndarray | None, size: int) -> np.ndarray:
    """How often each id ``0..size-1`` occurs in the examples ``selected`` (all: None) of ``ragged``."""
    member = _member(len(ragged), selected)
    counts = np.zeros(size, dtype=np.int64)
    for start, stop in _spans(len(ragged)):
        flat, lengths = ragged.span(start, stop)
        keep = np.repeat(member[start:stop], lengths)
        counts += np.bincount(np.asarray(flat)[keep], minlength=size)
        ragged.release(start, stop)  # one pass: its pages go back as it goes
    return counts


def rank_vocabulary(tokens: list[str], train_counts: np.ndarray, other_counts: np.ndarray,
                    specials: tuple[str, ...]) -> tuple[list[str], np.ndarray, list[int]]:
    """The vocabulary of :func:`seqlab.text.vocab.Vocab.from_counts` over the training counts, followed by the tokens
    only other splits have (sorted), and ``remap`` (provisional id -> final id) and each final token's training
    count. A token spelt like a special maps to that special."""
    seen = np.flatnonzero(train_counts).tolist()
    counts = dict(zip([tokens[i] for i in seen], train_counts[seen].tolist(), strict=True))
    ranked = sorted((t for t in counts if t not in specials), key=lambda t: (-counts[t], t))
    unseen = sorted({tokens[i] for i in np.flatnonzero(other_counts).tolist()} - set(counts) - set(specials))
    itos = [*specials, *ranked, *unseen]
    stoi = {t: i for i, t in enumerate(itos)}
    remap = np.fromiter(map(stoi.get, tokens, [-1] * len(tokens)), dtype=np.int64, count=len(tokens))
    return itos, remap, [counts.get(t, 0) for t in itos]


def write_selected(ragged: Ragged, selected: np.ndarray | None, writer: RaggedWriter,
                   transform: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
    """Append the examples ``selected`` (sorted; all: None) of ``ragged`` to ``writer``, their ids through
    ``transform`` (a provisional-to-final remap) if given."""
    member = _member(len(ragged), selected)
    for start, stop in _spans(len(ragged)):
        flat, lengths = ragged.span(start, stop)
        mine = member[start:stop]
        ids = np.asarray(flat)[np.repeat(mine, lengths)]
        writer.append(transform(ids) if transform is not None else ids, lengths[mine])
        ragged.release(start, stop)


__all__ = ["Interner", "ChunkTokenizer", "count_selected", "rank_vocabulary", "tokenize_chunk", "write_selected"]
