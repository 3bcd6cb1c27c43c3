"""The whole text-to-ids path of one model: cleaning, tokenizer, vocabulary, truncation.

Saved as one JSON (``text.json``) in the model directory so that prediction
reads text exactly as training did; the mismatched tokenizer at inference is
among the most reported problems of older toolkits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import partial
from itertools import chain
from typing import Any

import numpy as np

from seqlab.config import at_least, choices
from seqlab.text.clean import clean_text
from seqlab.text.ragged import split_ragged
from seqlab.text.tokenizers import Tokenizer, make_tokenizer, tokenizer_from_json
from seqlab.text.vocab import Vocab


@dataclass
class TextConfig:
    """How raw text becomes token ids."""

    lowercase: bool = field(default=True, metadata={"help": "lower-case the text"})
    strip_html: bool = field(default=True, metadata={"help": "replace HTML tags such as <br /> by a space"})
    strip_urls: bool = field(default=False, metadata={"help": "remove URLs"})
    tokenizer: str = field(default="regex", metadata={"help": "regex | whitespace | char | bpe",
                                                       "choices": ["regex", "whitespace", "char", "bpe"]})
    keep_punct: bool = field(default=True, metadata={"help": "regex tokenizer: keep punctuation marks as tokens"})
    bpe_vocab_size: int = field(default=16000, metadata={"help": "bpe tokenizer: number of merges + alphabet"})
    min_freq: int = field(default=2, metadata={"help": "drop tokens seen fewer times in training (become <unk>)"})
    max_vocab: int | None = field(default=None, metadata={"help": "keep at most this many tokens (most frequent)"})
    max_len: int = field(default=512, metadata={"help": "truncate texts to this many tokens"})
    truncate: str = field(default="head_tail", metadata={
        "help": "which part of a long text to keep: head | tail | head_tail (Sun et al. 2019: head+tail is best)",
        "choices": ["head", "tail", "head_tail"]})

    def __post_init__(self) -> None:
        choices(self)
        at_least(self, 1, "min_freq", "max_len")
        at_least(self, 3, "max_vocab")  # it counts <pad> and <unk>
        at_least(self, 10, "bpe_vocab_size")

    def cache_key(self) -> dict[str, Any]:
        """The settings that change tokenisation (vocabulary cut-offs and truncation do not)."""
        keys = ("lowercase", "strip_html", "strip_urls", "tokenizer", "keep_punct", "bpe_vocab_size")
        return {k: getattr(self, k) for k in keys}


def truncate(ids, max_len: int, mode: str):
    """Keep at most ``max_len`` ids of a list or 1-d array (same type back)."""
    if len(ids) <= max_len:
        return ids
    if mode == "head":
        return ids[:max_len]
    if mode == "tail":
        return ids[-max_len:]
    head = max_len // 4  # Sun et al. 2019 keep 128 head + 382 tail tokens of 512
    tail = ids[len(ids) - (max_len - head):]
    if isinstance(ids, list):
        return ids[:head] + tail
    return np.concatenate([ids[:head], tail])


class TextPipeline:
    """Clean, tokenise, numericalise; the one object prediction needs besides the model."""

    def __init__(self, config: TextConfig, tokenizer: Tokenizer, vocab: Vocab) -> None:
        self.config = config
        self.tokenizer = tokenizer
        self.vocab = vocab
        self.clean = partial(clean_text, strip_html=config.strip_html, strip_urls=config.strip_urls,
                             lowercase=config.lowercase, collapse_spaces=not tokenizer.ignores_whitespace_runs)

    def encode_many(self, texts: list[str], with_tokens: bool = False):
        """Ids as int64 arrays (and, with ``with_tokens``, the token strings) of many texts, truncated.

        Rule-based tokenizers run per text in Python's ``re``; BPE encodes the batch in Rust.
        All tokens are looked up in one pass into one array, then split per text.
        """
        token_lists = self.tokenizer.tokenize_many([self.clean(t) for t in texts])
        lengths = np.fromiter(map(len, token_lists), dtype=np.int64, count=len(token_lists))
        flat = self.vocab.encode_array(chain.from_iterable(token_lists), count=int(lengths.sum()))
        c = self.config
        docs = split_ragged(flat, lengths)
        ids = [truncate(doc, c.max_len, c.truncate) for doc in docs]
        if not with_tokens:
            return ids
        return ids, [truncate(t, c.max_len, c.truncate) for t in token_lists]

    def tokens(self, text: str) -> list[str]:
        return self.tokenizer.tokenize(self.clean(text))

    def encode(self, text: str) -> list[int]:
        return truncate(self.vocab.encode(self.tokens(text)), self.config.max_len, self.config.truncate)

    def encode_with_tokens(self, text: str) -> tuple[list[int], list[str]]:
        """Ids and the token strings they came from (after truncation), for explanations."""
        toks = self.tokens(text)
        kept = truncate(list(range(len(toks))), self.config.max_len, self.config.truncate)
        toks = [toks[i] for i in kept]
        return self.vocab.encode(toks), toks

    def to_json(self) -> dict[str, Any]:
        return {"config": asdict(self.config), "tokenizer": self.tokenizer.to_json(), "vocab": self.vocab.to_json()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TextPipeline:
        return cls(TextConfig(**data["config"]), tokenizer_from_json(data["tokenizer"]), Vocab.from_json(data["vocab"]))

    @staticmethod
    def new_tokenizer(config: TextConfig) -> Tokenizer:
        return make_tokenizer(config.tokenizer, keep_punct=config.keep_punct, bpe_vocab_size=config.bpe_vocab_size)
