"""Bag of words and hashed word n-grams, two ways.

``weighting="mean"`` is fastText (Joulin et al. 2017, "Bag of Tricks"): every token id
(word or hashed n-gram, see :mod:`seqlab.text.ngrams`) indexes one embedding table; an
``EmbeddingBag`` averages a document's rows in one fused kernel using the flat ids +
offsets layout (torchtext's AG_NEWS pattern), and a linear layer classifies the average.

``weighting="nb"`` is NBSVM-style logistic regression (Wang & Manning 2012; with trigrams,
Mesnil et al. 2015): each document is the *set* of its words and n-grams (binarised), each
feature scaled by its Naive-Bayes log-count ratio ``r = log(p / |p|) - log(q / |q|)``
measured on the training data, then one weight per feature and class. The ratios are a
strong prior (a feature seen mostly in positive reviews starts out pointing that way), so
the model generalises better than learned averages on long reviews: on IMDB it is the
stronger of the two (see benchmarks/RESULTS.md). Multi-class data gets one-vs-rest ratios.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from seqlab.errors import SeqlabError
from seqlab.models.base import ClassifierModel, ClassifierOutput, length_mask
from seqlab.models.configs import BAG_RECIPE as RECIPE  # noqa: F401  (re-exported)
from seqlab.models.configs import MAX_BUCKETS, WEIGHTINGS, BagConfig  # noqa: F401  (re-exported)
from seqlab.text.ngrams import BagFeatures, ragged_distinct

STATISTICS_CHUNK = 8192  # documents counted at once for the NB ratios (a corpus larger than memory streams past)


class BagClassifier(ClassifierModel):
    encode_bound = True  # reading the text costs more than the model: prediction encodes in worker processes
    explanation = "linear"  # its logits are sums over features: explained exactly (tasks/classify_explain.py)

    def __init__(self, config: BagConfig, vocab_size: int, num_outputs: int, pad_id: int = 0) -> None:
        super().__init__()
        self.config = config
        buckets = MAX_BUCKETS if config.buckets is None else config.buckets  # training sets it from the data
        self.featurizer = BagFeatures(vocab_size, config.ngrams, buckets, binarise=config.weighting == "nb")
        self.num_features = self.featurizer.num_features
        if config.weighting == "nb":
            # one weight per (feature, class), updated sparsely; the ratios are fixed data, saved with the model
            self.feature_weights = nn.Embedding(self.num_features, num_outputs, sparse=True)
            nn.init.zeros_(self.feature_weights.weight)
            self.bias = nn.Parameter(torch.zeros(num_outputs))
            self.nb_ratios: torch.Tensor
            self.register_buffer("nb_ratios", torch.zeros(self.num_features, num_outputs))
            if config.vector_features:
                # fixed pretrained vectors of the vocabulary's words (rows of words they lack stay zero), whose mean
                # over a text's known words feeds a linear layer: meaning beyond the words training saw with a label
                self.word_vectors = nn.Embedding(vocab_size, config.vector_features)
                nn.init.zeros_(self.word_vectors.weight)
                self.word_vectors.weight.requires_grad_(False)
                self.vector_head = nn.Linear(config.vector_features, num_outputs)
                nn.init.zeros_(self.vector_head.weight)
                nn.init.zeros_(self.vector_head.bias)
            return
        self.embedding = nn.EmbeddingBag(self.num_features, config.emb_size, mode="sum", padding_idx=pad_id,
                                         sparse=True)  # only the rows in a batch get updates
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.emb_size, num_outputs)
        nn.init.uniform_(self.embedding.weight, -0.5 / config.emb_size, 0.5 / config.emb_size)
        with torch.no_grad():
            self.embedding.weight[pad_id].zero_()

    @property
    def logit_parameters(self) -> tuple[str, ...]:  # type: ignore[override]
        if self.config.weighting != "nb":
            return ("head.weight", "head.bias")
        extra = ("vector_head.weight", "vector_head.bias") if self.config.vector_features else ()
        return ("feature_weights.weight", "bias", *extra)  # logit = sum(weight x ratio) + bias (+ vector head)

    def input_embedding(self) -> nn.Module:
        """The word (and n-gram) vectors of a mean-weighted bag, which pretrained vectors may initialise; an
        nb-weighted bag's fixed word vectors (--vector-features), which they fill."""
        if self.config.weighting == "nb":
            if not self.config.vector_features:
                raise SeqlabError("an nb-weighted bag without --embeddings has no word vectors")
            return self.word_vectors
        return self.embedding

    def features(self, ids: np.ndarray) -> np.ndarray:
        """One document's model input from its word ids (see :class:`BagFeatures`)."""
        return self.featurizer([ids])[0]

    @torch.no_grad()
    def fit_statistics(self, docs: list[np.ndarray], targets: torch.Tensor) -> None:
        """Naive-Bayes log-count ratios from the training documents (nb weighting; else nothing to do).

        Binary targets (one output): ratio of positive to negative. More classes: each class
        against the rest. Counts are of documents containing a feature (binarised).
        """
        if self.config.weighting != "nb":
            return
        outputs = self.nb_ratios.size(1)
        classes = 2 if outputs == 1 else outputs
        owners = targets.cpu().numpy()
        counts = np.zeros(classes * self.num_features, dtype=np.int64)
        for start in range(0, len(docs), STATISTICS_CHUNK):  # a chunk at a time: docs may be a memory map
            chunk = docs[start: start + STATISTICS_CHUNK]
            lengths = np.fromiter((len(d) for d in chunk), dtype=np.int64, count=len(chunk))
            flat = np.concatenate(chunk).astype(np.int64) if chunk else np.zeros(0, np.int64)
            flat, lengths = ragged_distinct(flat, lengths, self.num_features)  # no-op on features(): a safeguard
            owner_class = np.repeat(owners[start: start + len(chunk)], lengths)
            counts += np.bincount(owner_class * self.num_features + flat, minlength=classes * self.num_features)
        counts = counts.reshape(classes, self.num_features).astype(np.float64)  # (K, F) documents with the feature
        alpha = self.config.nb_alpha
        present = counts + alpha  # (K, F)
        absent = counts.sum(0, keepdims=True) - counts + alpha  # (K, F) the same feature in the other classes
        log_p = np.log(present / present.sum(1, keepdims=True))
        log_q = np.log(absent / absent.sum(1, keepdims=True))
        ratios = log_p - log_q  # (K, F)
        ratios = ratios[1:2] if outputs == 1 else ratios  # binary: class 1 against class 0
        self.nb_ratios.copy_(torch.from_numpy(ratios.T.astype(np.float32)))  # (F, C)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> ClassifierOutput:
        mask = length_mask(lengths, ids.size(1))  # (B, T)
        if self.training and self.config.token_dropout > 0:
            # word dropout (Iyyer et al. 2015, "Deep Unordered Composition"): use a random subset
            mask = mask & (torch.rand(mask.shape, device=ids.device) >= self.config.token_dropout)
        if self.config.weighting == "nb":
            logits = self._nb_logits(ids, mask)
            if self.config.vector_features:
                logits = logits + self._vector_logits(ids, mask)
            return ClassifierOutput(logits)
        return ClassifierOutput(self.head(self.dropout(self._mean(ids, mask))))

    def _vector_logits(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, T) -> (B, C) the vector head applied to the mean fixed vector of each text's known words."""
        table = self.word_vectors.weight.detach()  # never trained
        known = table.abs().sum(-1) > 0  # (V,) words with a pretrained vector
        return vector_logits(table @ self.vector_head.weight.t(), known, ids, mask) + self.vector_head.bias

    def vector_contributions(self, features: np.ndarray, column: int) -> np.ndarray:
        """Each feature's exact share of logit ``column`` through the averaged word vectors (zero for n-grams and
        words without one): head . vector / known words. The vector head's bias is returned by the caller."""
        if not self.config.vector_features:
            return np.zeros(len(features))
        index = torch.as_tensor(features, dtype=torch.long)
        is_word = index < self.word_vectors.num_embeddings
        rows = self.word_vectors.weight[index.clamp(max=self.word_vectors.num_embeddings - 1)]
        known = is_word & (rows.abs().sum(-1) > 0)
        first = torch.as_tensor(np.unique(features, return_index=True)[1])
        once = torch.zeros_like(known)
        once[first] = True  # a feature counts once (binarised)
        known = known & once
        share = (rows @ self.vector_head.weight[column]) / max(1, int(known.sum()))
        return (share * known).detach().numpy()

    def pooled(self, ids: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, None]:
        """The mean of a text's word and n-gram vectors (mean weighting; an nb-weighted bag has no vectors)."""
        if self.config.weighting == "nb":
            raise SeqlabError("an nb-weighted bag has no vector of a text (a linear model over n-gram features)")
        return self._mean(ids, length_mask(lengths, ids.size(1))), None

    def _mean(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, T) ids, (B, T) mask of the ones kept -> (B, E) the mean of their vectors."""
        # ids (B, T) right-padded; flatten to ids (N,) + offsets (B,) so no padding is summed
        counts = mask.sum(1)  # (B,)
        flat = ids[mask]  # (N,)
        offsets = torch.zeros_like(counts)
        offsets[1:] = torch.cumsum(counts, 0)[:-1]
        # a weighted sum with weights 1/count is the mean over the kept tokens
        weights = (1.0 / counts.clamp(min=1).float()).repeat_interleave(counts)  # (N,)
        return self.embedding(flat, offsets, per_sample_weights=weights)  # (B, E); empty documents give zeros

    def export_graph(self) -> nn.Module:
        return PaddedBag(self)

    def _nb_logits(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Sum over each document's features of weight x ratio: (B, T) -> (B, C).

        The features of a document are distinct already (see :meth:`features`): binarised.
        """
        rows = torch.arange(ids.size(0), device=ids.device)[:, None].expand_as(ids)[mask]  # (N,) document of each id
        feature = ids[mask]  # (N,)
        contributions = self.feature_weights(feature) * self.nb_ratios[feature]  # (N, C)
        logits = torch.zeros(ids.size(0), contributions.size(1), device=ids.device, dtype=contributions.dtype)
        return logits.index_add_(0, rows, contributions) + self.bias  # (B, C)


def vector_logits(scores: torch.Tensor, known: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, T) feature ids -> (B, C): the mean over each text's known words of their rows of ``scores`` (V, C).

    ``scores`` is the word vectors times the (linear) head, so this equals the head applied to the mean vector, in
    (B, T, C) instead of (B, T, D) work: a review has thousands of n-gram features and C is 1 or a few. Word features
    are the ids below V (n-grams are hashed above it), each once (binarised); ``known`` (V,) marks the words that
    have a pretrained vector (zeros if a text has none)."""
    size = scores.size(0)
    inside = ids.clamp(max=size - 1)
    words = mask & (ids < size) & known[inside]  # (B, T)
    rows = nn.functional.embedding(inside, scores) * words.unsqueeze(-1).to(scores.dtype)  # (B, T, C)
    return rows.sum(1) / words.sum(1, keepdim=True).clamp(min=1).to(scores.dtype)


class PaddedBag(nn.Module):
    """A bag model as padded ids + mask -> Gather -> weighted sum: the same logits as :class:`BagClassifier`, in ops
    that export to ONNX and quantise well (EmbeddingBag and ragged index sums export poorly and fail on empty bags).

    nb weighting folds each feature's weight and Naive-Bayes ratio into one table (weight x ratio), so a text's
    logit is the sum of its features' rows plus the bias; mean weighting averages the feature vectors, then the head.
    """

    def __init__(self, bag: BagClassifier) -> None:
        super().__init__()
        self.nb = bag.config.weighting == "nb"
        with torch.no_grad():
            if self.nb:
                self.table = nn.Parameter(bag.feature_weights.weight * bag.nb_ratios, requires_grad=False)  # (F, C)
                self.bias = nn.Parameter(bag.bias.detach().clone(), requires_grad=False)
                # the averaged word vectors (--embeddings), if any, and their linear layer
                self.vectors: nn.Parameter | None = None
                self.vector_bias: nn.Parameter | None = None
                self.known: torch.Tensor | None
                self.register_buffer("known", None)
                if bag.config.vector_features > 0:
                    table = bag.word_vectors.weight.detach()
                    # the head folded into the vectors: one score per word and class, and which words have a vector
                    self.vectors = nn.Parameter(table @ bag.vector_head.weight.detach().t(), requires_grad=False)
                    self.vector_bias = nn.Parameter(bag.vector_head.bias.detach().clone(), requires_grad=False)
                    self.known = table.abs().sum(-1) > 0
            else:
                self.table = nn.Parameter(bag.embedding.weight.detach().clone(), requires_grad=False)  # (F, E)
                self.head = bag.head

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> ClassifierOutput:
        mask = length_mask(lengths, ids.size(1)).unsqueeze(-1).to(self.table.dtype)  # (B, T, 1)
        rows = nn.functional.embedding(ids, self.table)  # (B, T, C|E): an ONNX Gather, which int8 quantises
        summed = (rows * mask).sum(1)  # (B, C) or (B, E)
        if self.nb:
            if self.vectors is not None and self.vector_bias is not None and self.known is not None:
                summed = summed + vector_logits(self.vectors, self.known, ids, mask.squeeze(-1) > 0) + self.vector_bias
            return ClassifierOutput(summed + self.bias)
        mean = summed / lengths.clamp(min=1).unsqueeze(-1).to(summed.dtype)  # (B, E)
        return ClassifierOutput(self.head(mean))
