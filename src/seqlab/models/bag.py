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
            return
        self.embedding = nn.EmbeddingBag(self.num_features, config.emb_size, mode="sum", padding_idx=pad_id,
                                         sparse=True)  # only the rows in a batch get updates
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.emb_size, num_outputs)
        nn.init.uniform_(self.embedding.weight, -0.5 / config.emb_size, 0.5 / config.emb_size)
        with torch.no_grad():
            self.embedding.weight[pad_id].zero_()

    def input_embedding(self) -> nn.Module:
        """The word (and n-gram) vectors of a mean-weighted bag, which pretrained vectors may initialise."""
        if self.config.weighting == "nb":
            raise SeqlabError("an nb-weighted bag has no word vectors")
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
        lengths = np.fromiter((len(d) for d in docs), dtype=np.int64, count=len(docs))
        flat = np.concatenate(docs) if docs else np.zeros(0, np.int64)
        flat, lengths = ragged_distinct(flat, lengths, self.num_features)  # no-op on features(): a safeguard
        owner_class = np.repeat(targets.cpu().numpy(), lengths)
        counts = np.bincount(owner_class * self.num_features + flat, minlength=classes * self.num_features)
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
            return ClassifierOutput(self._nb_logits(ids, mask))
        # ids (B, T) right-padded; flatten to ids (N,) + offsets (B,) so no padding is summed
        counts = mask.sum(1)  # (B,)
        flat = ids[mask]  # (N,)
        offsets = torch.zeros_like(counts)
        offsets[1:] = torch.cumsum(counts, 0)[:-1]
        # a weighted sum with weights 1/count is the mean over the kept tokens
        weights = (1.0 / counts.clamp(min=1).float()).repeat_interleave(counts)  # (N,)
        pooled = self.embedding(flat, offsets, per_sample_weights=weights)  # (B, E); empty documents give zeros
        return ClassifierOutput(self.head(self.dropout(pooled)))

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
            else:
                self.table = nn.Parameter(bag.embedding.weight.detach().clone(), requires_grad=False)  # (F, E)
                self.head = bag.head

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> ClassifierOutput:
        mask = length_mask(lengths, ids.size(1)).unsqueeze(-1).to(self.table.dtype)  # (B, T, 1)
        rows = nn.functional.embedding(ids, self.table)  # (B, T, C|E): an ONNX Gather, which int8 quantises
        summed = (rows * mask).sum(1)  # (B, C) or (B, E)
        if self.nb:
            return ClassifierOutput(summed + self.bias)
        mean = summed / lengths.clamp(min=1).unsqueeze(-1).to(summed.dtype)  # (B, E)
        return ClassifierOutput(self.head(mean))
