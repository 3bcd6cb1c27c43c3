"""Tokenizers for running text (language models): text lines <-> one stream of ids with ``<eos>`` at line ends.

``word`` splits on whitespace and keeps every training type (the WikiText convention: the
corpus is already tokenised and rare words are already ``<unk>``); unseen words become
``<unk>``. ``bpe`` trains byte-pair encoding on the training text (Sennrich et al. 2016) for a
user's raw text, so only a character the training text never had is out of vocabulary, and decoding gives any other
text back (each line stripped at its ends).
Ids are ranked by training frequency, which the adaptive softmax needs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from seqlab.errors import SeqlabError
from seqlab.text.subword import EOS_ID, UNK_ID, SubwordTokenizer
from seqlab.text.vocab import EOS, UNK, Vocab

KINDS = ("word", "bpe")


class StreamTokenizer:
    def __init__(self, kind: str, vocab: Vocab | None = None, subword: SubwordTokenizer | None = None) -> None:
        if kind not in KINDS:
            raise SeqlabError(f"unknown language-model tokenizer {kind!r}; choose one of {', '.join(KINDS)}")
        if (vocab is None) != (kind == "bpe") or (subword is None) != (kind == "word"):
            # built only by train() and from_json(), never from a setting: this is a programming error
            raise TypeError("StreamTokenizer('word') takes a vocab, StreamTokenizer('bpe') a subword tokenizer")
        self.kind, self.vocab, self.subword = kind, vocab, subword
        if vocab is not None:
            self.eos_id, self.unk_id = vocab.stoi[EOS], vocab.stoi[UNK]
        else:
            self.eos_id, self.unk_id = EOS_ID, UNK_ID

    @classmethod
    def train(cls, lines: Iterable[str], kind: str, vocab_size: int = 8000, min_freq: int = 1) -> StreamTokenizer:
        """Learn from the training lines, read once as they come (a list, or a stream such as
        :func:`seqlab.data.corpus.iter_lines` of a file larger than memory)."""
        if kind == "word":
            counts: Counter[str] = Counter()
            lines_seen = 0
            for line in lines:
                counts.update(line.split())
                lines_seen += 1
            counts[EOS] += lines_seen
            vocab = Vocab.from_counts(counts, min_freq=min_freq, specials=(EOS, UNK))
            return cls("word", vocab=vocab)
        return cls("bpe", subword=SubwordTokenizer.train((line.strip() for line in lines), "bpe", vocab_size, 2))

    def __len__(self) -> int:
        return len(self.vocab) if self.vocab is not None else len(self.subword)  # type: ignore[arg-type]

    def encode(self, text: str) -> list[int]:
        """One text -> ids, without a closing ``<eos>`` (a prompt or a line's words)."""
        if self.vocab is not None:
            lookup = self.vocab.stoi
            return [lookup.get(tok, self.unk_id) for tok in text.split()]
        return self.subword.encode_many([text.strip()])[0] if text.strip() else []  # type: ignore[union-attr]

    def encode_lines(self, lines: Sequence[str]) -> np.ndarray:
        """Lines -> one int64 stream, each line followed by ``<eos>`` (empty lines too, as WikiText counts)."""
        if self.vocab is not None:
            lookup = self.vocab.stoi
            ids = [i for line in lines for i in (*[lookup.get(t, self.unk_id) for t in line.split()], self.eos_id)]
        else:
            encoded = self.subword.encode_many([line.strip() for line in lines])  # type: ignore[union-attr]
            ids = [i for line_ids in encoded for i in (*line_ids, self.eos_id)]
        return np.asarray(ids, dtype=np.int64)

    def token(self, i: int) -> str:
        if self.vocab is not None:
            return self.vocab.itos[int(i)]
        return self.subword.id_to_token(int(i))  # type: ignore[union-attr]

    def decode(self, ids: Sequence[int]) -> str:
        """Ids -> text; ``<eos>`` becomes a line break (each line decoded alone: no space around the breaks)."""
        lines: list[str] = []
        current: list[int] = []
        for i in ids:
            if int(i) == self.eos_id:
                lines.append(self._decode_line(current))
                current = []
            else:
                current.append(int(i))
        return "\n".join([*lines, self._decode_line(current)])

    def _decode_line(self, ids: list[int]) -> str:
        if self.vocab is not None:
            return " ".join(self.vocab.itos[i] for i in ids)
        return self.subword.decode(ids)  # type: ignore[union-attr]

    def display(self, i: int) -> str:
        """How one generated token is printed when streamed: a word with its leading space, a BPE piece as text."""
        if int(i) == self.eos_id:
            return "\n"
        if self.vocab is not None:
            return " " + self.vocab.itos[int(i)]
        return self.subword.id_to_token(int(i)).replace("▁", " ")  # type: ignore[union-attr]

    def to_json(self) -> dict[str, Any]:
        if self.vocab is not None:
            return {"kind": "word", "itos": self.vocab.itos}
        return {"kind": "bpe", "subword": self.subword.to_json()}  # type: ignore[union-attr]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StreamTokenizer:
        try:
            if data["kind"] == "word":
                return cls("word", vocab=Vocab(data["itos"], [EOS, UNK]))
            return cls("bpe", subword=SubwordTokenizer.from_json(data["subword"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise SeqlabError(f"the saved language-model tokenizer cannot be read ({exc})") from None
