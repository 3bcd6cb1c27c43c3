"""BiLSTM(-CRF) sequence tagger: named entities, part of speech, chunks.

    words (B, T)    -> word embedding (lower-cased words; GloVe-initialised by the task) (B, T, E)
    cases (B, T)    -> case-pattern embedding (EU / German / lamb / 1996 / --)           (B, T, Ec)
    chars (B, T, C) -> char CNN + max-pool (Ma & Hovy 2016) or char BiLSTM (Lample et al. 2016) (B, T, F)
    concat -> dropout -> length-aware BiLSTM/BiGRU -> dropout -> linear -> emissions (B, T, K)
    -> linear-chain CRF (Lample et al. 2016; seqlab.models.crf) or a per-token softmax

The word is looked up lower-cased so that ``EU``/``Eu``/``eu`` share one (pretrained) vector,
and its case comes back through the small case-pattern embedding and the characters.
Each direction of the word encoder runs unpacked over the right-padded batch, the
backward one over each sentence reversed within its own length (as the RNN classifier
does, see seqlab.models.rnn_classifier: states equal a packed run's, and it trains much faster on a
CPU). Character features are computed for real tokens only, not for padding.

The defaults are a CoNLL-2003 NER recipe in the range of NCRF++'s "char CNN + word LSTM
+ CRF" (Yang et al. 2018): 50-d GloVe, 30 char filters of width 3 over 30-d char
embeddings, 200 hidden units per direction, dropout 0.5, CRF. Train it with a BIOES tag
set (:func:`seqlab.text.tagging.convert`) and its :func:`~seqlab.text.tagging.allowed_transitions`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.data.batching import pad_tagged
from seqlab.errors import SeqlabError
from seqlab.models.base import length_mask
from seqlab.models.configs import TAGGER_RECIPE as RECIPE  # noqa: F401  (re-exported)
from seqlab.models.configs import TaggerConfig  # noqa: F401  (re-exported)
from seqlab.models.crf import LinearChainCRF
from seqlab.models.rnn_classifier import _gather_time, _within_length_reversal
from seqlab.runtime import to_device
from seqlab.text.tagging import CASE_PAD, CASE_PATTERNS, case_pattern

PAD_TAG = -100  # tag id at padded positions (cross-entropy's ignore_index; the CRF masks them)
MAX_WORD_CHARS = 30  # longer words are cut to this many characters for the character features

@dataclass
class TagBatch:
    """A right-padded batch of sentences: ids of words, case patterns, characters, and tags when training."""

    words: Tensor  # (B, T) word ids, pad_id at padding
    cases: Tensor  # (B, T) case-pattern ids, CASE_PAD at padding
    chars: Tensor  # (B, T, C) character ids, char_pad_id at padding
    lengths: Tensor  # (B,) number of words, each >= 1
    tags: Tensor | None = None  # (B, T) tag ids, PAD_TAG at padding

    def to(self, device: torch.device | str) -> TagBatch:
        return TagBatch(to_device(self.words, device), to_device(self.cases, device), to_device(self.chars, device),
                        to_device(self.lengths, device), None if self.tags is None else to_device(self.tags, device))

    def __len__(self) -> int:
        return int(self.words.size(0))


def case_ids(words: Sequence[str]) -> list[int]:
    """The case-pattern id of each word (:func:`seqlab.text.tagging.case_pattern`)."""
    return [case_pattern(w) for w in words]


def pad_batch(words: Sequence[Sequence[int]], cases: Sequence[Sequence[int]],
              chars: Sequence[Sequence[Sequence[int]]] | None = None, tags: Sequence[Sequence[int]] | None = None,
              pad_id: int = 0, char_pad_id: int = 0) -> TagBatch:
    """Pad id lists into a :class:`TagBatch`; words longer than MAX_WORD_CHARS keep their first characters.

    ``chars`` None (a model with ``char="none"``) gives an all-padding (B, T, 1) character tensor.
    """
    if not words or any(len(s) == 0 for s in words):
        raise SeqlabError("every sentence of a batch needs at least one word")
    a = pad_tagged(words, cases, chars, pad_id, char_pad_id, CASE_PAD, MAX_WORD_CHARS)  # the ONNX runtime's too
    tag_t = None
    if tags is not None:
        tag_t = torch.full(a["words"].shape, PAD_TAG, dtype=torch.long)
        for b, sent in enumerate(tags):
            tag_t[b, :len(sent)] = torch.tensor(sent, dtype=torch.long)
    return TagBatch(torch.from_numpy(a["words"]), torch.from_numpy(a["cases"]), torch.from_numpy(a["chars"]),
                    torch.from_numpy(a["lengths"]), tag_t)


def _uniform_embedding(num: int, dim: int, pad_id: int) -> nn.Embedding:
    """An embedding initialised U(-sqrt(3/d), sqrt(3/d)) (unit variance per vector, as NCRF++), zero at padding."""
    emb = nn.Embedding(num, dim, padding_idx=pad_id)
    bound = math.sqrt(3.0 / dim)
    nn.init.uniform_(emb.weight, -bound, bound)
    with torch.no_grad():
        emb.weight[pad_id].zero_()
    return emb


class CharCNN(nn.Module):
    """Character CNN with max-pooling over each word's characters (Ma & Hovy 2016)."""

    def __init__(self, vocab_size: int, emb_size: int, filters: int, width: int, pad_id: int, dropout: float) -> None:
        super().__init__()
        self.pad_id = pad_id
        self.embedding = _uniform_embedding(vocab_size, emb_size, pad_id)
        self.dropout = nn.Dropout(dropout)  # on the character embeddings, as Ma & Hovy
        self.conv = nn.Conv1d(emb_size, filters, width, padding=width // 2)

    def forward(self, chars: Tensor) -> Tensor:
        """chars (N, C) -> features (N, F)."""
        mask = chars != self.pad_id  # (N, C)
        mask[:, 0] = True  # a word without characters still pools over one position
        x = self.dropout(self.embedding(chars))  # (N, C, E)
        h = self.conv(x.transpose(1, 2))  # (N, F, C): conv1d wants channels before time
        return h.masked_fill(~mask[:, None, :], float("-inf")).max(dim=2).values  # (N, F)


class CharLSTM(nn.Module):
    """Character BiLSTM: each word's last forward and first backward state (Lample et al. 2016)."""

    def __init__(self, vocab_size: int, emb_size: int, hidden: int, pad_id: int, dropout: float) -> None:
        super().__init__()
        self.pad_id = pad_id
        self.embedding = _uniform_embedding(vocab_size, emb_size, pad_id)
        self.dropout = nn.Dropout(dropout)
        self.forward_rnn = nn.LSTM(emb_size, hidden, batch_first=True)
        self.backward_rnn = nn.LSTM(emb_size, hidden, batch_first=True)

    def forward(self, chars: Tensor) -> Tensor:
        """chars (N, C) -> features (N, 2H)."""
        lengths = (chars != self.pad_id).sum(1).clamp(min=1)  # (N,)
        x = self.dropout(self.embedding(chars))  # (N, C, E)
        reverse = _within_length_reversal(lengths, chars.size(1))  # (N, C): each word reversed, padding after it
        last = (lengths - 1)[:, None, None]  # (N, 1, 1) index of each word's last step
        fwd = self.forward_rnn(x)[0]  # (N, C, H)
        bwd = self.backward_rnn(_gather_time(x, reverse))[0]  # (N, C, H) reading from the last character
        pick = last.expand(-1, 1, fwd.size(-1))  # (N, 1, H)
        return torch.cat([fwd.gather(1, pick), bwd.gather(1, pick)], dim=-1).squeeze(1)  # (N, 2H)


class BiRNN(nn.Module):
    """Length-aware bidirectional LSTM/GRU over right-padded input: (B, T, D) -> (B, T, 2H).

    Each direction is its own unidirectional RNN; the backward one reads every sentence
    reversed within its length, so padding never reaches a real token's state.
    """

    def __init__(self, input_size: int, hidden: int, layers: int, cell: str, dropout: float) -> None:
        super().__init__()
        rnn_cls = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]
        sizes = [input_size] + [2 * hidden] * (layers - 1)
        self.forward_layers = nn.ModuleList(rnn_cls(size, hidden, batch_first=True) for size in sizes)
        self.backward_layers = nn.ModuleList(rnn_cls(size, hidden, batch_first=True) for size in sizes)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        reverse = _within_length_reversal(lengths, x.size(1))  # (B, T), its own inverse
        for i, (fwd, bwd) in enumerate(zip(self.forward_layers, self.backward_layers, strict=True)):
            if i > 0:
                x = self.dropout(x)  # between layers
            back = _gather_time(bwd(_gather_time(x, reverse))[0], reverse)  # (B, T, H) back in reading order
            x = torch.cat([fwd(x)[0], back], dim=-1)  # (B, T, 2H)
        return x


class EmissionTagger(nn.Module):
    """What every tagger shares on top of its per-token emission scores: the loss and decoding.

    A subclass sets ``num_tags`` and ``crf`` (a :class:`LinearChainCRF` or None for a softmax) and
    maps a batch (with ``lengths`` (B,) and, for training, ``tags`` (B, T)) to emissions (B, T, K).
    """

    num_tags: int
    crf: LinearChainCRF | None

    def loss(self, batch: Any) -> Tensor:
        """Mean over sentences of each sentence's loss: CRF negative log-likelihood, or summed token cross-entropy."""
        if batch.tags is None:
            raise ValueError("loss() needs a batch with tags")
        emissions = self(batch)  # (B, T, K)
        mask = length_mask(batch.lengths, emissions.size(1))  # (B, T)
        if self.crf is not None:
            return self.crf.neg_log_likelihood(emissions, batch.tags, mask, reduction="mean")
        ce = F.cross_entropy(emissions.float().reshape(-1, self.num_tags), batch.tags.reshape(-1),  # (B*T, K), (B*T,)
                             ignore_index=PAD_TAG, reduction="sum")
        return ce / len(batch)

    @torch.no_grad()
    def decode(self, batch: Any, confidences: bool = True) -> tuple[list[list[int]], list[list[float]] | None]:
        """Tag ids of each sentence (its own length) and each tag's confidence.

        With a CRF the tags are the Viterbi path and a confidence is the CRF marginal
        p(y_t = tag | sentence) of the chosen tag (forward-backward); with a softmax they are
        each token's most probable tag and its probability. ``confidences=False`` skips them
        (and the forward-backward pass): the tags alone, as validation needs them.
        """
        emissions = self(batch)  # (B, T, K)
        lengths = batch.lengths.tolist()
        mask = length_mask(batch.lengths, emissions.size(1))  # (B, T)
        if self.crf is not None:
            tags, _ = self.crf.viterbi(emissions, mask)  # (B, T)
            probs = self.crf.marginals(emissions, mask) if confidences else None  # (B, T, K)
        else:
            probs = emissions.float().softmax(-1)  # (B, T, K)
            tags = probs.argmax(-1)  # (B, T)
        paths = [row[:n] for row, n in zip(tags.tolist(), lengths, strict=True)]
        if not confidences or probs is None:
            return paths, None
        conf = probs.gather(2, tags[..., None]).squeeze(-1)  # (B, T)
        return paths, [row[:n] for row, n in zip(conf.tolist(), lengths, strict=True)]


class BiLSTMTagger(EmissionTagger):
    """Word + case + character features -> BiLSTM/BiGRU -> emissions -> CRF or softmax.

    ``constraints`` is ``(allowed (K, K), start_allowed (K,), end_allowed (K,))`` from
    :func:`seqlab.text.tagging.allowed_transitions`, given to the CRF (unused without one).
    """

    def __init__(self, config: TaggerConfig, vocab_size: int, num_tags: int, pad_id: int = 0,
                 char_vocab_size: int = 0, char_pad_id: int = 0,
                 constraints: tuple[Tensor, Tensor, Tensor] | Sequence | None = None) -> None:
        super().__init__()
        self.config = config
        self.num_tags = num_tags
        self.word_embedding = _uniform_embedding(vocab_size, config.emb_size, pad_id)  # the task copies GloVe in
        self.case_embedding = (_uniform_embedding(len(CASE_PATTERNS), config.case_emb_size, CASE_PAD)
                               if config.case_emb_size else None)
        self.chars: nn.Module | None = None
        if config.char != "none":
            if char_vocab_size < 1:
                raise SeqlabError(f"--char {config.char} needs a character vocabulary (char_vocab_size)")
            self.chars = (CharCNN(char_vocab_size, config.char_emb_size, config.char_filters, config.char_width,
                                  char_pad_id, config.dropout) if config.char == "cnn" else
                          CharLSTM(char_vocab_size, config.char_emb_size, config.char_hidden, char_pad_id, config.dropout))
        input_size = config.emb_size + config.case_emb_size + config.char_size
        self.dropout = nn.Dropout(config.dropout)
        self.encoder = BiRNN(input_size, config.hidden_size, config.layers, config.cell, config.dropout)
        self.head = nn.Linear(2 * config.hidden_size, num_tags)
        allowed = tuple(constraints) if constraints is not None else (None, None, None)
        self.crf = LinearChainCRF(num_tags, *allowed) if config.crf else None

    def forward(self, batch: TagBatch) -> Tensor:
        """Emission scores (B, T, K) (meaningless at padding)."""
        return self.head(self.dropout(self.token_states(batch)[0]))  # (B, T, K)

    def token_states(self, batch: TagBatch) -> tuple[Tensor, Tensor]:
        """The encoder's output at each word (B, T, 2H), what the emissions are read from, and the (B, T) mask of
        real words: a text's vector (``seqlab embed``) is their mean."""
        lengths = batch.lengths.clamp(min=1)
        mask = length_mask(lengths, batch.words.size(1))  # (B, T)
        parts = [self.word_embedding(batch.words)]  # (B, T, E)
        if self.case_embedding is not None:
            parts.append(self.case_embedding(batch.cases))  # (B, T, Ec)
        if self.chars is not None:
            feats = self.chars(batch.chars[mask])  # (N, F) for the N real tokens only
            char_out = feats.new_zeros(*mask.shape, feats.size(-1))  # (B, T, F)
            char_out[mask] = feats
            parts.append(char_out)
        x = self.dropout(torch.cat(parts, dim=-1))  # (B, T, E + Ec + F)
        return self.encoder(x, lengths), mask  # (B, T, 2H), (B, T)

    def export_graph(self) -> nn.Module:
        """The emission network as ``seqlab export`` writes it (:class:`PaddedTagger`); the CRF's decoding is not in
        the graph (its loop runs as long as the sentence) but in numpy after it (seqlab.export.crf)."""
        return PaddedTagger(self)


class PaddedTagger(nn.Module):
    """``(words, cases, chars, lengths) -> emissions (B, T, K)`` of a :class:`BiLSTMTagger` on padded tensors.

    The character features run at every position (then zeroed at padding) instead of on the real tokens picked out
    by a mask, whose count depends on the data and exports poorly. Equal to the tagger's own forward at real tokens.
    """

    def __init__(self, tagger: BiLSTMTagger) -> None:
        super().__init__()
        self.tagger = tagger

    def forward(self, words: Tensor, cases: Tensor, chars: Tensor, lengths: Tensor) -> Tensor:
        tg = self.tagger
        lengths = lengths.clamp(min=1)
        mask = length_mask(lengths, words.size(1))  # (B, T)
        parts = [tg.word_embedding(words)]  # (B, T, E)
        if tg.case_embedding is not None:
            parts.append(tg.case_embedding(cases))  # (B, T, Ec)
        if tg.chars is not None:
            B, T, C = chars.shape
            feats = tg.chars(chars.reshape(B * T, C)).reshape(B, T, -1)  # (B, T, F)
            parts.append(feats * mask.unsqueeze(-1).to(feats.dtype))
        x = torch.cat(parts, dim=-1)  # (B, T, E + Ec + F)
        return tg.head(tg.encoder(x, lengths))  # (B, T, K)


__all__ = ["MAX_WORD_CHARS", "PAD_TAG", "BiLSTMTagger", "BiRNN", "CharCNN", "CharLSTM", "EmissionTagger", "PaddedTagger",
           "TagBatch", "TaggerConfig", "case_ids", "pad_batch"]
