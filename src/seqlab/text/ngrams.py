"""Hashed word n-grams for bag models (fastText, Joulin et al. 2017), vectorised with numpy."""

from __future__ import annotations

import numpy as np

_MULTIPLIER = np.uint64(116049371)  # odd constant, as in fastText's bigram hashing


def add_hashed_ngrams(ids: np.ndarray, n: int, buckets: int, offset: int) -> np.ndarray:
    """Return ``ids`` followed by the hashed ids of its 2..n-grams.

    N-gram ids live in ``[offset, offset + buckets)`` so that they share one
    embedding table with the words (``offset`` is the vocabulary size).
    """
    ids = np.asarray(ids, dtype=np.int64)
    parts = [ids]
    for order in range(2, n + 1):
        if len(ids) < order:
            break
        h = ids[: len(ids) - order + 1].astype(np.uint64)
        for k in range(1, order):
            h = h * _MULTIPLIER + ids[k: len(ids) - order + 1 + k].astype(np.uint64)
        parts.append((h % np.uint64(buckets)).astype(np.int64) + offset)
    return np.concatenate(parts)
