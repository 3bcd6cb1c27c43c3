"""Sentence- and snippet-length crops of long training texts: training data for the length shift.

A model trained only on 230-word reviews meets tweets and one-line snippets out of domain: few
features fire, and those that do were weighed against a whole review's evidence. Training on crops of
1 to a few sentences of each review as well, labelled like their review, shows the model short texts
(measured on tweets-airline: macro-F1 0.578 -> 0.673 for seqlab's bag with 2 crops per review, IMDB
validation 92.08 -> 92.00%; see benchmarks/RESULTS.md, "IMDB sentiment" and "Out-of-domain probes"). Crops are
cut on token ids after tokenisation (sentence ends are the ``.``/``!``/``?`` tokens), so they reuse the token
cache and need no second pass over the raw text.
torch-free.
"""

from __future__ import annotations

import numpy as np

SENTENCE_ENDS = (".", "!", "?")
MIN_SENTENCE_TOKENS = 4  # a fragment shorter than this ("Wow !") is not a crop worth its label


def sentence_spans(doc: np.ndarray, end_ids: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) token spans of a document's sentences (a sentence runs to and includes its end mark)."""
    ends = np.flatnonzero(np.isin(doc, end_ids)) + 1
    stops = np.unique(np.concatenate([ends, [len(doc)]]))
    starts = np.concatenate([[0], stops[:-1]])
    return [(int(a), int(b)) for a, b in zip(starts, stops, strict=True) if b - a >= MIN_SENTENCE_TOKENS]


def sentence_crops(docs: list[np.ndarray], end_ids: np.ndarray, per_doc: int, max_sentences: int,
                   seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Up to ``per_doc`` crops of 1..``max_sentences`` consecutive sentences from each document with at least two
    sentences (a one-sentence text is its own crop already): (crops, the index of each crop's document).

    Lengths are drawn so half the crops are one sentence (a tweet-sized text) and the rest spread over 2..max.
    The same seed gives the same crops, so the token-id cache and a resumed run see the same training set.
    """
    rng = np.random.default_rng(seed)
    crops: list[np.ndarray] = []
    owners: list[int] = []
    for index, doc in enumerate(docs):
        spans = sentence_spans(doc, end_ids)
        if len(spans) < 2:
            continue
        for _ in range(per_doc):
            size = 1 if max_sentences == 1 or rng.random() < 0.5 else int(rng.integers(2, max_sentences + 1))
            size = min(size, len(spans) - 1)  # never the whole document again
            first = int(rng.integers(0, len(spans) - size + 1))
            crops.append(doc[spans[first][0]: spans[first + size - 1][1]])
            owners.append(index)
    return crops, np.asarray(owners, dtype=np.int64)
