"""Fine-tune a pretrained Hugging Face encoder (MiniLM by default) for token classification, CRF optional.

    words -> each word's sub-tokens ([CLS] w1a w1b w2a ... [SEP])         (B, S)
    -> encoder (all-MiniLM-L6-v2, offline; any hub name when online)     (B, S, H)
    -> each word's first sub-token (as BERT tags CoNLL, Devlin et al. 2019) (B, T, H)
    -> dropout -> linear -> emissions (B, T, K) -> linear-chain CRF or softmax

Needs the optional extra ``seqlab[hf]``. The tokenizer and the encoder's config are written
into the model directory, so loading never needs the hub. all-MiniLM-L6-v2 is uncased: a
word's case reaches it only through the sub-tokens it splits into, not as a feature.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from seqlab.errors import SeqlabError
from seqlab.models.base import length_mask
from seqlab.models.configs import PRETRAINED_TAGGER_RECIPE as RECIPE  # noqa: F401  (re-exported)
from seqlab.models.configs import PretrainedTaggerConfig  # noqa: F401  (re-exported)
from seqlab.models.crf import LinearChainCRF
from seqlab.models.pretrained import load_hf_encoder, load_hf_tokenizer
from seqlab.models.tagger import PAD_TAG, EmissionTagger
from seqlab.runtime import to_device


@dataclass
class SubwordBatch:
    """Right-padded sub-token ids, the position of each word's first sub-token, and tags when training."""

    ids: Tensor  # (B, S) sub-token ids, pad at padding
    subword_lengths: Tensor  # (B,) sub-tokens per sentence, specials included
    first: Tensor  # (B, T) position of each word's first sub-token (0 at padding)
    lengths: Tensor  # (B,) words per sentence
    tags: Tensor | None = None  # (B, T) tag ids, PAD_TAG at padding

    def to(self, device: torch.device | str) -> SubwordBatch:
        return SubwordBatch(to_device(self.ids, device), to_device(self.subword_lengths, device),
                            to_device(self.first, device), to_device(self.lengths, device),
                            None if self.tags is None else to_device(self.tags, device))

    def __len__(self) -> int:
        return int(self.ids.size(0))


class SubwordFeatures:
    """Sentences -> sub-token ids with [CLS]/[SEP] and each word's first sub-token position (the task's featurizer)."""

    names = ("ids", "first")

    def __init__(self, name_or_dir: str, max_subtokens: int) -> None:
        self.tokenizer = load_hf_tokenizer(name_or_dir)
        self.max_subtokens = min(max_subtokens, getattr(self.tokenizer, "model_max_length", max_subtokens) or max_subtokens)
        self.pad_id = self.tokenizer.pad_token_id or 0

    def encode(self, sentences: list[list[str]]) -> list[tuple[list[int], list[int]]]:
        words = [w for sent in sentences for w in sent]
        pieces = self.tokenizer(words, add_special_tokens=False)["input_ids"] if words else []
        unk, cls, sep = self.tokenizer.unk_token_id, self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        items, at = [], 0
        for sent in sentences:
            word_pieces = [p or [unk] for p in pieces[at: at + len(sent)]]  # a word the tokenizer drops reads as [UNK]
            at += len(sent)
            if sum(len(p) for p in word_pieces) + 2 > self.max_subtokens:
                if len(sent) + 2 > self.max_subtokens:
                    raise SeqlabError(f"a sentence of {len(sent)} words is longer than the pretrained tagger reads "
                                      f"({self.max_subtokens - 2} words); split it")
                word_pieces = [p[:1] for p in word_pieces]  # too long: each word's first sub-token only
            ids, first = [cls], []
            for p in word_pieces:
                first.append(len(ids))
                ids.extend(p)
            items.append(([*ids, sep], first))
        return items

    @staticmethod
    def to_arrays(items: list[Any]) -> dict[str, list[list[int]]]:
        return {"ids": [i[0] for i in items], "first": [i[1] for i in items]}

    @staticmethod
    def from_arrays(arrays: dict[str, list[np.ndarray]]) -> list[Any]:
        return [(ids.tolist(), first.tolist()) for ids, first in zip(arrays["ids"], arrays["first"], strict=True)]

    def batch(self, items: list[Any], tags: list[list[int]] | None = None) -> SubwordBatch:
        B, S, T = len(items), max(len(i[0]) for i in items), max(len(i[1]) for i in items)
        ids = torch.full((B, S), self.pad_id, dtype=torch.long)
        first = torch.zeros((B, T), dtype=torch.long)
        tag_t = torch.full((B, T), PAD_TAG, dtype=torch.long) if tags is not None else None
        for b, (sub, pos) in enumerate(items):
            ids[b, :len(sub)] = torch.tensor(sub)
            first[b, :len(pos)] = torch.tensor(pos)
            if tag_t is not None:
                tag_t[b, :len(pos)] = torch.tensor(tags[b])  # type: ignore[index]
        return SubwordBatch(ids, torch.tensor([len(i[0]) for i in items]), first,
                            torch.tensor([len(i[1]) for i in items]), tag_t)

    @staticmethod
    def length(item: Any) -> int:
        return len(item[0])


class PretrainedTagger(EmissionTagger):
    """A pretrained encoder -> each word's first sub-token -> emissions -> CRF or softmax."""

    def __init__(self, config: PretrainedTaggerConfig, num_tags: int,
                 constraints: tuple[Tensor, Tensor, Tensor] | Any | None = None, hf_config_dir: str | None = None) -> None:
        """Load pretrained weights by ``config.encoder``, or (``hf_config_dir``) only the architecture."""
        super().__init__()
        self.config, self.num_tags = config, num_tags
        self.encoder = load_hf_encoder(config.encoder, hf_config_dir)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(self.encoder.config.hidden_size, num_tags)
        allowed = tuple(constraints) if constraints is not None else (None, None, None)
        self.crf = LinearChainCRF(num_tags, *allowed) if config.crf else None

    def forward(self, batch: SubwordBatch) -> Tensor:
        """Emission scores (B, T, K) of the words (meaningless at padding)."""
        h, _ = self.token_states(batch)  # (B, S, H)
        words = h.gather(1, batch.first[..., None].expand(-1, -1, h.size(-1)))  # (B, T, H) at first sub-tokens
        return self.head(self.dropout(words))  # (B, T, K)

    def token_states(self, batch: SubwordBatch) -> tuple[Tensor, Tensor]:
        """The encoder's last layer at every sub-token (B, S, H) and the (B, S) mask of real ones ([CLS] and [SEP]
        too): a text's vector (``seqlab embed``) is their mean, as sentence-transformers pools all-MiniLM-L6-v2."""
        mask = length_mask(batch.subword_lengths, batch.ids.size(1))  # (B, S)
        return self.encoder(input_ids=batch.ids, attention_mask=mask.long()).last_hidden_state, mask

    def save_encoder_files(self, folder: Path) -> None:
        self.encoder.config.save_pretrained(str(folder))


__all__ = ["PretrainedTagger", "PretrainedTaggerConfig", "SubwordBatch", "SubwordFeatures"]
