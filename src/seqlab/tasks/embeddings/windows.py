"""word2vec's sampling, vectorised in numpy: one batch is a stretch of the id stream turned into centre words, their
context words and their noise words.

- frequent-word subsampling (Mikolov et al. 2013, as word2vec.c and gensim compute it): a word seen ``f`` times
  among ``T`` is kept with probability ``(sqrt(f / (s T)) + 1) (s T) / f``, drawn for each occurrence before the
  windows, so the window reaches past the dropped words;
- the shrinking window: each centre draws its own reach in ``1..window``, so near words count more often;
- noise words from the unigram distribution raised to 0.75: ``negative`` words for each group of
  ``NOISE_GROUP`` consecutive centres, shared by their (context, centre) pairs (Ji et al. 2016 share them within
  a window): each pair still sees ``negative`` noise words.
Windows never cross a sentence (a line, a review). Every draw comes from the batch's own seeded generator, so a
resumed run draws what the uninterrupted one would have.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seqlab.models.configs import Word2VecConfig
from seqlab.tasks.embeddings.corpus import EncodedCorpus

NOISE_POWER = 0.75  # Mikolov et al. 2013: unigram^(3/4) beat the plain and the uniform distribution
# consecutive centres that share their noise words: one (G * 2W, D) x (D, K) product per group, where one tiny
# product per centre cost more in per-matrix overhead than in arithmetic (measured: 7 ms for 3,000 centres)
NOISE_GROUP = 16


@dataclass
class Batch:
    """(context, centre) pairs, flat: only real pairs, padded to whole noise groups (``weight`` 0 on padding)."""

    inputs: np.ndarray  # (N,) int64 the context word of each pair (the input side)
    pair_centre: np.ndarray  # (N,) int64 which centre (a row of ``centres``) each pair belongs to
    weight: np.ndarray  # (N,) float32 1 for a real pair, 0 for padding
    centres: np.ndarray  # (C,) int64 the centre words (the output side; padded for cbow's groups)
    centre_weight: np.ndarray  # (C,) float32 1 for a centre with a context word, 0 for padding
    noise: np.ndarray  # (groups, K) int64: noise words of each group of NOISE_GROUP pairs (skip-gram) or
    #                    centres (cbow)


def keep_probabilities(counts: np.ndarray, sample: float) -> np.ndarray:
    """(V,) the chance each occurrence of a word survives subsampling (1 everywhere with ``sample`` 0)."""
    if sample <= 0:
        return np.ones(len(counts), dtype=np.float64)
    threshold = sample * counts.sum()
    return np.minimum(1.0, (np.sqrt(counts / threshold) + 1) * threshold / counts)


class Windows:
    """Batches of an encoded corpus for one model config."""

    def __init__(self, corpus: EncodedCorpus, config: Word2VecConfig) -> None:
        self.ids, self.sentence = corpus.ids, corpus.sentence_ids()
        self.window, self.negative = config.window, config.negative
        self.keep = keep_probabilities(corpus.counts.astype(np.float64), config.sample)
        self.noise_cdf = np.cumsum(corpus.counts.astype(np.float64) ** NOISE_POWER)
        # context words come from a margin around the stretch too, so no window is cut at a batch's edge; four
        # windows' reach covers what subsampling (which drops words before the windows) lets a window span
        self.margin = 4 * config.window
        offsets = np.arange(-config.window, config.window + 1)
        self.offsets = offsets[offsets != 0]  # (2W,)

    def __len__(self) -> int:
        return len(self.ids)

    def noise(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        """Noise word ids drawn from unigram^0.75 (inverse CDF: exact, no table to build)."""
        u = rng.random(shape) * self.noise_cdf[-1]
        return np.minimum(np.searchsorted(self.noise_cdf, u, side="right"), len(self.noise_cdf) - 1)

    def batch(self, start: int, end: int, rng: np.random.Generator, cbow: bool = False) -> Batch:
        """The pairs of the centres at stream positions ``start:end``, centre by centre."""
        lo, hi = max(0, start - self.margin), min(len(self.ids), end + self.margin)
        ids, sentence = self.ids[lo:hi].astype(np.int64), self.sentence[lo:hi]
        centre = np.zeros(hi - lo, dtype=bool)
        centre[start - lo: end - lo] = True
        kept = rng.random(hi - lo) < self.keep[ids]
        ids, sentence, centre = ids[kept], sentence[kept], centre[kept]
        n = len(ids)
        reach = rng.integers(1, self.window + 1, n)  # (n,) each word's shrinking window
        where = np.flatnonzero(centre)  # (C0,) positions of this batch's centres among the kept words
        pos = where[:, None] + self.offsets[None, :]  # (C0, 2W)
        inside = (pos >= 0) & (pos < n)
        pos = np.clip(pos, 0, max(n - 1, 0))
        mask = inside & (np.abs(self.offsets)[None, :] <= reach[where][:, None])
        mask &= sentence[pos] == sentence[where][:, None]
        has = mask.any(1)
        pos, mask, where = pos[has], mask[has], where[has]
        row, slot = np.nonzero(mask)  # (N,) pairs, centre by centre
        inputs, pair_centre = ids[pos[row, slot]] if n else np.zeros(0, np.int64), row.astype(np.int64)
        centres = ids[where]
        weight = np.ones(len(inputs), dtype=np.float32)
        centre_weight = np.ones(len(centres), dtype=np.float32)
        # the members of a noise group are drawn at random from the batch: consecutive pairs (or centres) share
        # context words, and a group of them would push its noise words all the same way (measured on a planted
        # two-topic corpus: groups of 16 consecutive pairs halved the topics' separation; shuffled, they kept it)
        if cbow:
            order = rng.permutation(len(centres))
            pair_centre = np.argsort(order)[pair_centre]
            centres = _pad(centres[order], NOISE_GROUP)
            centre_weight = _pad(centre_weight, NOISE_GROUP)
            groups = len(centres) // NOISE_GROUP
        else:
            order = rng.permutation(len(inputs))
            inputs, pair_centre, weight = (_pad(a[order], NOISE_GROUP) for a in (inputs, pair_centre, weight))
            groups = len(inputs) // NOISE_GROUP
        if len(centres) == 0:  # nothing to learn in this stretch: a padding centre keeps the shapes valid
            centres, centre_weight = np.zeros(1, np.int64), np.zeros(1, np.float32)
        return Batch(inputs, pair_centre, weight, centres, centre_weight, self.noise(rng, (groups, self.negative)))


def _pad(values: np.ndarray, multiple: int) -> np.ndarray:
    """``values`` with zeros appended up to a multiple of ``multiple`` (at least one: a stretch without pairs, all
    subsampled away, is one padding group)."""
    return np.concatenate([values, np.zeros(-len(values) % multiple if len(values) else multiple, dtype=values.dtype)])
