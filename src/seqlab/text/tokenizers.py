"""Tokenizers behind one interface, each saved as JSON with the model.

``regex`` (``\\b\\w+\\b`` words, optionally keeping punctuation), ``whitespace``
and ``char`` need no training; ``bpe`` is trained on the training text with the
Hugging Face ``tokenizers`` library (fast Rust BPE, Sennrich et al. 2016) and
its whole state is stored as the library's own JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any, ClassVar

from seqlab.data.streaming import chunked
from seqlab.errors import SeqlabError

TRAIN_BATCH = 1000  # texts per list given to train_from_iterator: what it reads fastest, and all it holds at a time


class Tokenizer:
    """Splits text into string tokens. Subclasses that learn from data override :meth:`fit`."""

    kind: ClassVar[str] = ""
    needs_fit: ClassVar[bool] = False
    # True when runs of whitespace never change the tokens (so cleaning need not collapse them)
    ignores_whitespace_runs: ClassVar[bool] = False

    def tokenize(self, text: str) -> list[str]:
        raise NotImplementedError

    def tokenize_many(self, texts: Iterable[str]) -> list[list[str]]:
        return [self.tokenize(t) for t in texts]

    def fit(self, texts: Iterable[str]) -> None:
        """Learn from the training texts (no-op for rule-based tokenizers)."""

    def detokenize(self, tokens: list[str]) -> str:
        return " ".join(tokens)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind}


class RegexTokenizer(Tokenizer):
    """Words as ``\\b\\w+\\b``; with ``keep_punct`` also each punctuation mark as a token.

    Punctuation carries sentiment ("!!!", ":(") and is kept by default. Python's ``re``
    runs this pattern about 8x faster than a Rust ``tokenizers`` pre-tokenizer measured
    here (the Rust path tracks character offsets we do not need).
    """

    kind = "regex"
    ignores_whitespace_runs = True

    def __init__(self, keep_punct: bool = True) -> None:
        self.keep_punct = keep_punct
        self.findall = re.compile(r"\w+|[^\w\s]" if keep_punct else r"\w+").findall

    def tokenize(self, text: str) -> list[str]:
        return self.findall(text)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "keep_punct": self.keep_punct}


class WhitespaceTokenizer(Tokenizer):
    kind = "whitespace"
    ignores_whitespace_runs = True

    def tokenize(self, text: str) -> list[str]:
        return text.split()


class CharTokenizer(Tokenizer):
    kind = "char"

    def tokenize(self, text: str) -> list[str]:
        return list(text)

    def detokenize(self, tokens: list[str]) -> str:
        return "".join(tokens)


class BPETokenizer(Tokenizer):
    """Byte-level BPE trained with the ``tokenizers`` library; round-trips text exactly, but for whitespace at its
    ends (the encoder adds a leading space, which ``detokenize`` strips with any the text had)."""

    kind = "bpe"
    needs_fit = True

    def __init__(self, vocab_size: int = 16000, min_frequency: int = 2, state: str | None = None) -> None:
        self.vocab_size = vocab_size
        self.min_frequency = min_frequency
        self._tok = None
        if state is not None:
            from tokenizers import Tokenizer as HFTokenizer

            self._tok = HFTokenizer.from_str(state)

    def fit(self, texts: Iterable[str]) -> None:
        from tokenizers import Tokenizer as HFTokenizer
        from tokenizers import decoders, models, pre_tokenizers, trainers

        tok = HFTokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=self.vocab_size, min_frequency=self.min_frequency,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
        tok.train_from_iterator(chunked(texts, TRAIN_BATCH), trainer=trainer)
        self._tok = tok

    def _require(self):
        if self._tok is None:
            raise SeqlabError("the BPE tokenizer has not been trained; call fit() on the training texts first")
        return self._tok

    def tokenize(self, text: str) -> list[str]:
        return self._require().encode(text).tokens

    def tokenize_many(self, texts: Iterable[str]) -> list[list[str]]:
        return [e.tokens for e in self._require().encode_batch(list(texts))]

    def detokenize(self, tokens: list[str]) -> str:
        tok = self._require()
        ids = [i for i in (tok.token_to_id(t) for t in tokens) if i is not None]
        return tok.decode(ids).strip()

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "vocab_size": self.vocab_size, "min_frequency": self.min_frequency,
                "state": self._require().to_str()}



TOKENIZERS: dict[str, type[Tokenizer]] = {
    cls.kind: cls for cls in (RegexTokenizer, WhitespaceTokenizer, CharTokenizer, BPETokenizer)
}


def make_tokenizer(kind: str, **options: Any) -> Tokenizer:
    """Build a tokenizer by name, passing only the options it understands."""
    if kind not in TOKENIZERS:
        raise SeqlabError(f"unknown tokenizer {kind!r}; choose one of {', '.join(TOKENIZERS)}")
    cls = TOKENIZERS[kind]
    if cls is RegexTokenizer:
        return RegexTokenizer(keep_punct=options.get("keep_punct", True))
    if cls is BPETokenizer:
        return BPETokenizer(vocab_size=options.get("bpe_vocab_size", 16000),
                            min_frequency=options.get("bpe_min_frequency", 2))
    return cls()


def tokenizer_from_json(data: dict[str, Any]) -> Tokenizer:
    kind = data.get("kind")
    if kind == "regex":
        return RegexTokenizer(keep_punct=data.get("keep_punct", True))
    if kind == "bpe":
        return BPETokenizer(data["vocab_size"], data["min_frequency"], state=data["state"])
    if kind in TOKENIZERS:
        return TOKENIZERS[kind]()
    raise SeqlabError(f"unknown tokenizer kind {kind!r} in saved tokenizer: {json.dumps(data)[:80]}")
