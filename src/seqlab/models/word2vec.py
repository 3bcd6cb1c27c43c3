"""Word vectors with negative sampling: skip-gram and CBOW (Mikolov et al. 2013), and fastText's subword vectors
(Bojanowski et al. 2017): one readable file (the n-grams and their hashing: :mod:`seqlab.text.char_ngrams`).

The model holds two tables, as word2vec does: ``input`` (the word vectors one keeps; with subwords also one row
per hashed character n-gram the vocabulary uses) and ``output`` (the context vectors the negative-sampling
classifier scores against, zero at the start). A batch is the (context, centre) pairs of a run of centre words (each
with its own shrinking window); every pair is scored against ``negative`` noise words, which a group of consecutive
pairs shares (Ji et al. 2016 share them within a window to turn word2vec's vector products into matrix products;
here a small group of pairs does, for the same reason). The loss is word2vec's summed logistic loss, so
plain SGD with a linearly decaying rate (the trainer's ``--optimizer sgd --schedule linear``) is word2vec's update:
the tables are sparse embeddings and each step touches only the rows of the batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from seqlab.models.configs import WORD2VEC_METHODS, Word2VecConfig  # noqa: F401  (re-exported)
from seqlab.text.char_ngrams import ngram_buckets


# ---------------------------------------------------------------------------- subword rows (fastText)
def subword_pieces(words: list[str], config: Word2VecConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each vocabulary word's rows of the input table: its own row, then one row per n-gram bucket it uses.

    Only buckets some vocabulary word uses get a row (fastText allocates all ``--buckets``; the others are never
    trained), so returns ``(pieces, offsets, used_buckets)``: word ``i``'s rows are ``pieces[offsets[i]:offsets[i+1]]``
    and bucket ``used_buckets[r]`` is row ``len(words) + r``.
    """
    # a repeated n-gram counts twice, as in fastText ("aaaa" has "aaa" twice)
    per_word = [ngram_buckets(w, config.min_n, config.max_n, config.buckets) for w in words]
    used = np.unique(np.fromiter((b for bs in per_word for b in bs), dtype=np.int64))
    row_of = {int(b): len(words) + r for r, b in enumerate(used)}
    lengths = np.array([1 + len(bs) for bs in per_word], dtype=np.int64)
    offsets = np.zeros(len(words) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    pieces = np.fromiter((x for i, bs in enumerate(per_word) for x in (i, *(row_of[b] for b in bs))),
                         dtype=np.int64, count=int(offsets[-1]))
    return pieces, offsets, used


# ---------------------------------------------------------------------------- the loss and its gradient
ROW_STEP_CAP = 64.0  # the most pairs' worth of step one row takes in one batch


def _cap_steps(values: torch.Tensor, rows: torch.Tensor, counts: torch.Tensor, num_rows: int) -> None:
    """Scale, in place, the gradient of each row that more than ``ROW_STEP_CAP`` pairs of the batch touch, so that its
    summed step is at most that many pairs' worth.

    word2vec applies each pair's step one after another, so a frequent word's vector moves, and its next steps
    shrink, within one sentence; a batch sums its steps at the old vectors instead. For most rows that is the same
    step, but the most frequent words are among hundreds of a batch's pairs (and noise words), and their summed
    step overshoots: measured, training diverged within one epoch of WikiText-2 at word2vec's rate with batches of
    4,096 words. The cap leaves every row that fewer pairs touch exactly as word2vec steps it (a cap of 8 cost
    quality on WikiText-2, 64 matched gensim's figures there as closely as no cap with 1,024-word batches).
    """
    per_row = torch.zeros(num_rows, device=values.device, dtype=values.dtype).index_add_(0, rows, counts)
    factor = (ROW_STEP_CAP / per_row.clamp(min=ROW_STEP_CAP))[rows]  # (R,) 1 for rows at or under the cap
    over = torch.nonzero(factor < 1).squeeze(1)  # only these rows change (the frequent words' share of the batch)
    values[over] = values[over] * factor[over, None]


class _NegativeSampling(torch.autograd.Function):
    """word2vec's summed logistic loss with its gradient written out: the tables' gradients are the batch's rows
    only (sparse), built straight from the pair products, without autograd's intermediate copies (measured: about
    half the time of the same loss through autograd and sparse embeddings)."""

    @staticmethod
    def forward(ctx, input_table: torch.Tensor, output_table: torch.Tensor, model: Word2Vec, inputs: torch.Tensor,
                pair_centre: torch.Tensor, weight: torch.Tensor, centres: torch.Tensor, centre_weight: torch.Tensor,
                noise: torch.Tensor) -> torch.Tensor:
        groups, K = noise.shape
        # the rows each context word's vector averages; with subwords once per distinct word of the batch (its
        # n-grams are many: ~20 rows a word), which the pairs then index
        if model.config.subword:
            words, inverse = inputs.unique(return_inverse=True)
            rows, lengths = model.input_rows(words)
            hidden = model.average(rows, lengths, input_table)[inverse]  # (N, D)
        else:
            words = inverse = rows = inputs
            lengths = None
            hidden = input_table[inputs]  # (N, D)
        noise_out = output_table[noise]  # (groups, K, D)
        if model.config.method == "skipgram":  # each context word predicts its centre
            target, scale, h = centres[pair_centre], weight, hidden
        else:  # cbow: the mean of a centre's context words predicts it (gensim's cbow_mean=1)
            count = torch.zeros(len(centres), device=hidden.device).index_add_(0, pair_centre, weight)  # (C,)
            # (cbow pads centres, never pairs: every pair's weight is 1)
            h = torch.zeros(len(centres), hidden.size(1), device=hidden.device).index_add_(
                0, pair_centre, hidden) / count.clamp(min=1.0)[:, None]  # (C, D)
            target, scale = centres, centre_weight
        G = h.size(0) // groups
        out = output_table[target]  # (M, D): M pairs (skip-gram) or centres (cbow)
        positive = torch.linalg.vecdot(h, out)  # (M,)
        negative = torch.bmm(h.view(groups, G, -1), noise_out.transpose(1, 2)).view(-1, K)  # (M, K)
        keep = (noise.repeat_interleave(G, 0) != target[:, None]).to(h.dtype) * scale[:, None]  # (M, K)
        loss = (F.softplus(-positive) * scale).sum() + (F.softplus(negative) * keep).sum()
        ctx.save_for_backward(h, out, noise_out, positive, negative, keep, scale, target, noise, rows, lengths,
                              pair_centre, weight, inverse, words)
        ctx.shapes = (input_table.shape, output_table.shape, model.config.method)
        return loss

    @staticmethod
    def backward(ctx, grad_loss: torch.Tensor):  # type: ignore[override]
        (h, out, noise_out, positive, negative, keep, scale, target, noise, rows, lengths, pair_centre, weight,
         inverse, words) = ctx.saved_tensors
        input_shape, output_shape, method = ctx.shapes
        groups, K = noise.shape
        G = h.size(0) // groups
        g_pos = -torch.sigmoid(-positive) * scale * grad_loss  # (M,) d loss / d positive
        g_neg = torch.sigmoid(negative) * keep * grad_loss  # (M, K)
        grad_h = torch.baddbmm((g_pos[:, None] * out).view(groups, G, -1), g_neg.view(groups, G, K),
                               noise_out).view(-1, h.size(1))  # (M, D)
        # the output table's rows: the targets', then the noise words', written in place into one buffer
        M, D = h.shape
        grad_out = h.new_empty(M + groups * K, D)
        torch.mul(g_pos[:, None], h, out=grad_out[:M])  # (M, D)
        torch.bmm(g_neg.view(groups, G, K).transpose(1, 2), h.view(groups, G, -1),
                  out=grad_out[M:].view(groups, K, D))  # (groups, K, D)
        if method == "cbow":  # word2vec adds the hidden layer's whole error to every context word
            grad_h = grad_h[pair_centre]  # (N, D)
        # fastText adds a word's whole error to each of its rows (its own and its n-grams'), not 1/count of it
        if lengths is None:
            grad_rows = grad_h
        else:  # summed per distinct word first, then handed to each of its rows
            per_word = grad_h.new_zeros(len(words), grad_h.size(1)).index_add_(0, inverse, grad_h)  # (U, D)
            grad_rows = per_word.repeat_interleave(lengths, 0)
        # how many pairs' steps each row takes in this batch: a noise slot stands for its group's G pairs
        pair_count = scale
        input_counts = weight if method == "cbow" else scale
        if lengths is not None:
            input_counts = grad_h.new_zeros(len(words)).index_add_(0, inverse, input_counts).repeat_interleave(lengths)
        _cap_steps(grad_rows, rows, input_counts, input_shape[0])
        output_rows = torch.cat([target, noise.reshape(-1)])
        output_counts = torch.cat([pair_count, keep.view(groups, G, K).sum(1).reshape(-1)])
        _cap_steps(grad_out, output_rows, output_counts, output_shape[0])
        grad_input = torch.sparse_coo_tensor(rows[None, :], grad_rows, input_shape, check_invariants=False)
        grad_output = torch.sparse_coo_tensor(output_rows[None, :], grad_out, output_shape, check_invariants=False)
        return grad_input, grad_output, None, None, None, None, None, None, None


# ---------------------------------------------------------------------------- the model
class Word2Vec(nn.Module):
    """Skip-gram or CBOW with negative sampling over ``vocab_size`` words, with or without subword rows."""

    # subword models only: each word's rows of the input table, and the n-gram buckets that have a row
    piece_ids: torch.Tensor  # (P,) rows of the input table, word by word
    piece_offsets: torch.Tensor  # (V + 1,) word i's rows are piece_ids[piece_offsets[i]:piece_offsets[i + 1]]
    used_buckets: torch.Tensor  # (R,) sorted; bucket used_buckets[r] is row V + r

    def __init__(self, config: Word2VecConfig, vocab_size: int, words: list[str] | None = None) -> None:
        super().__init__()
        self.config, self.vocab_size = config, vocab_size
        D = config.dim
        rows = vocab_size
        if config.subword:  # the subword rows' layout, rebuilt from the words (and saved, for readers without it)
            if words is None or len(words) != vocab_size:
                raise ValueError("a subword model is built from its vocabulary's words")
            pieces, offsets, used = subword_pieces(words, config)
            self.register_buffer("piece_ids", torch.from_numpy(pieces))
            self.register_buffer("piece_offsets", torch.from_numpy(offsets))
            self.register_buffer("used_buckets", torch.from_numpy(used))
            rows += len(used)
        # word2vec's initialisation: input rows uniform in +-0.5/D, output rows zero (gensim's is the same);
        # sparse, so the optimizer (SGD) updates only the rows a batch touched
        self.input = nn.Embedding(rows, D, sparse=True)
        self.output = nn.Embedding(vocab_size, D, sparse=True)
        with torch.no_grad():
            self.input.weight.uniform_(-0.5 / D, 0.5 / D)
            self.output.weight.zero_()

    # -- the input side: a word's vector
    def input_rows(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The input-table rows of words ``ids`` (N,): the words' own rows, or with subwords each word's own and
        its n-grams' rows, flat, with the count per word."""
        if not self.config.subword:
            return ids, None
        starts = self.piece_offsets[ids]
        lengths = self.piece_offsets[ids + 1] - starts  # (N,)
        bag_starts = torch.cumsum(lengths, 0) - lengths  # (N,) where each word's rows begin in the flat list
        flat = torch.repeat_interleave(starts - bag_starts, lengths) + torch.arange(int(lengths.sum()),
                                                                                    device=ids.device)
        return self.piece_ids[flat], lengths

    @staticmethod
    def average(rows: torch.Tensor, lengths: torch.Tensor | None, table: torch.Tensor) -> torch.Tensor:
        """(N, D) each word's vector: its row, or the mean of its rows (fastText's word vector)."""
        if lengths is None:
            return table[rows]
        bag_starts = torch.cumsum(lengths, 0) - lengths
        return F.embedding_bag(rows, table, bag_starts, mode="sum") / lengths[:, None].to(table.dtype)

    def word_inputs(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (N,) -> (N, D): the words' vectors."""
        rows, lengths = self.input_rows(ids)
        return self.average(rows, lengths, self.input.weight)

    # -- the loss of a batch
    def forward(self, inputs: torch.Tensor, pair_centre: torch.Tensor, weight: torch.Tensor, centres: torch.Tensor,
                centre_weight: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed negative-sampling loss and the number of (context, centre) pairs (cbow: centres) it covers.

        inputs (N,) the context word of each pair, pair_centre (N,) its centre's row in centres (C,), weight (N,)
        and centre_weight (C,) 0 on padding; noise (groups, K): the noise words each group of G consecutive pairs
        (skip-gram, N = groups * G) or centres (cbow, C = groups * G) shares, so the noise side is one matrix
        product per group rather than a tiny one per pair. A noise word equal to the centre is skipped, as word2vec
        skips it.
        """
        loss = _NegativeSampling.apply(self.input.weight, self.output.weight, self, inputs, pair_centre, weight,
                                       centres, centre_weight, noise)
        return loss, (weight if self.config.method == "skipgram" else centre_weight).sum()

    # -- reading the vectors out
    @torch.no_grad()
    def word_vectors(self) -> torch.Tensor:
        """(V, D): every vocabulary word's vector (with subwords, the mean of its rows, as fastText gives it)."""
        if not self.config.subword:
            return self.input.weight[: self.vocab_size].detach().clone()
        ids = torch.arange(self.vocab_size, device=self.input.weight.device)
        return torch.cat([self.word_inputs(chunk) for chunk in ids.split(65536)]).detach()


def build_word2vec(config: Word2VecConfig, vocab_size: int, words: list[str] | None = None) -> Word2Vec:
    return Word2Vec(config, vocab_size, words)


def config_summary(config: Word2VecConfig) -> dict[str, Any]:
    return {"method": config.method, "dim": config.dim, "window": config.window, "negative": config.negative,
            "subword": config.subword}
