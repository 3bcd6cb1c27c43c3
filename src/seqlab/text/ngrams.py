"""Hashed word n-grams for bag models (fastText, Joulin et al. 2017), vectorised with numpy.

The work runs on many documents at once in their ragged layout (one flat id array and
one length per document): a handful of numpy calls per batch instead of a handful per
document, which was the largest cost of bag prediction after tokenisation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seqlab.text.ragged import split_ragged

_MULTIPLIER = np.uint64(116049371)  # odd constant, as in fastText's bigram hashing


def add_hashed_ngrams(ids: np.ndarray, n: int, buckets: int, offset: int) -> np.ndarray:
    """Return ``ids`` followed by the hashed ids of its 2..n-grams (one document).

    N-gram ids live in ``[offset, offset + buckets)`` so that they share one
    embedding table with the words (``offset`` is the vocabulary size).
    """
    ids = np.asarray(ids, dtype=np.int64)
    flat, _ = ragged_hashed_ngrams(ids, np.array([len(ids)]), n, buckets, offset)
    return flat


def ragged_hashed_ngrams(flat: np.ndarray, lengths: np.ndarray, n: int, buckets: int,
                         offset: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`add_hashed_ngrams` of every document of a ragged batch: ``(flat ids, lengths)`` back.

    Each document's output is its words, then its bigrams, then its trigrams, ... in
    position order, exactly as for one document; n-grams never cross a document boundary.
    """
    flat = np.asarray(flat, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    if n < 2 or len(flat) == 0:
        return flat, lengths
    per_order = np.maximum(lengths[None, :] - np.arange(n)[:, None], 0)  # (n, D) k-grams of each document
    block_start = np.cumsum(per_order, axis=0) - per_order  # (n, D) where each order's block begins in a document
    out_lengths = per_order.sum(0)  # (D,)
    out_start = np.cumsum(out_lengths) - out_lengths  # (D,)
    doc_of = np.repeat(np.arange(len(lengths)), lengths)  # (N,) document of each word
    position = np.arange(len(flat)) - (np.cumsum(lengths) - lengths)[doc_of]  # (N,) index within its document
    remaining = lengths[doc_of] - position  # (N,) words from here to the end of the document
    out = np.empty(int(out_lengths.sum()), dtype=np.int64)
    out[out_start[doc_of] + position] = flat  # the words first
    words = flat.astype(np.uint64)
    for order in range(2, n + 1):
        count = len(flat) - order + 1
        if count <= 0:
            break
        h = words[:count]
        for j in range(1, order):
            h = h * _MULTIPLIER + words[j: j + count]  # wraps mod 2**64, as fastText's hash does
        inside = remaining[:count] >= order  # the n-gram starting here ends in the same document
        doc = doc_of[:count][inside]
        gram_ids = (h[inside] % np.uint64(buckets)).astype(np.int64) + offset
        out[out_start[doc] + block_start[order - 1, doc] + position[:count][inside]] = gram_ids  # scatter, no sort
    return out, out_lengths


def ragged_distinct(flat: np.ndarray, lengths: np.ndarray, num_values: int) -> tuple[np.ndarray, np.ndarray]:
    """Each document's distinct values, sorted (a binarised bag), for a ragged batch: ``(flat, lengths)``.

    One sort of ``document * num_values + value`` keys for the whole batch.
    """
    doc_of = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    keys = np.sort(doc_of * num_values + np.asarray(flat, dtype=np.int64))
    if len(keys):
        keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
    docs, values = np.divmod(keys, num_values)
    return values, np.bincount(docs, minlength=len(lengths))


FEATURE_CHUNK = 4096  # documents whose features are built in one vectorised pass (bounds temporary memory)


@dataclass(frozen=True)
class BagFeatures:
    """A bag model's input from word ids: the words, then their hashed n-grams; binarised for nb.

    Plain numpy and small, so prediction workers in other processes can run it without the model.
    """

    vocab_size: int
    ngrams: int
    buckets: int
    binarise: bool

    @property
    def num_features(self) -> int:
        return self.vocab_size + (self.buckets if self.ngrams > 1 else 0)

    def __call__(self, docs: list[np.ndarray]) -> list[np.ndarray]:
        """Computed once per document before training or prediction, not per epoch, and for a
        whole chunk of documents in a few numpy calls; binarising also makes the input shorter."""
        out: list[np.ndarray] = []
        for start in range(0, len(docs), FEATURE_CHUNK):
            chunk = docs[start: start + FEATURE_CHUNK]
            lengths = np.fromiter((len(d) for d in chunk), dtype=np.int64, count=len(chunk))
            flat = np.concatenate([np.asarray(d, dtype=np.int64) for d in chunk])
            if self.ngrams > 1:
                flat, lengths = ragged_hashed_ngrams(flat, lengths, self.ngrams, self.buckets, offset=self.vocab_size)
            if self.binarise:
                flat, lengths = ragged_distinct(flat, lengths, self.num_features)
            out.extend(split_ragged(flat, lengths))
        return out
