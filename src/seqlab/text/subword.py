"""Translation tokenizers that give text back: subword BPE or words, cased, saved as JSON.

Both are Hugging Face ``tokenizers`` pipelines with a Metaspace pre-tokenizer and decoder
(the SentencePiece convention, Kudo & Richardson 2018): every space becomes ``▁`` at the
start of the next piece, so decoding joins the pieces and turns ``▁`` back into spaces.
Detokenised output is therefore normal, cased text (``Hut.`` not ``Hut .``), which is what
sacreBLEU must score against the raw references. ``bpe`` is byte-pair encoding
(Sennrich et al. 2016); ``word`` also isolates punctuation and maps rare words to ``<unk>``.

The four specials have fixed ids: ``<pad>`` 0, ``<unk>`` 1, ``<sos>`` 2, ``<eos>`` 3.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from seqlab.data.streaming import chunked
from seqlab.errors import SeqlabError
from seqlab.text.tokenizers import TRAIN_BATCH
from seqlab.text.vocab import EOS, PAD, SOS, UNK

SPECIALS = [PAD, UNK, SOS, EOS]
PAD_ID, UNK_ID, SOS_ID, EOS_ID = 0, 1, 2, 3
SPACE = "▁"
KINDS = ("bpe", "word")


class SubwordTokenizer:
    """Text <-> ids for one language (or a joint vocabulary of two)."""

    def __init__(self, tok: Any, kind: str) -> None:
        self._tok = tok
        self.kind = kind
        ids = [tok.token_to_id(s) for s in SPECIALS]
        if ids != [PAD_ID, UNK_ID, SOS_ID, EOS_ID]:
            raise SeqlabError(f"saved tokenizer has special ids {ids}, expected 0..3; it was not made by seqlab")

    @classmethod
    def train(cls, texts: Iterable[str], kind: str = "bpe", vocab_size: int = 8000,
              min_frequency: int = 2) -> SubwordTokenizer:
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

        if kind not in KINDS:
            raise SeqlabError(f"unknown translation tokenizer {kind!r}; choose one of {', '.join(KINDS)}")
        metaspace = pre_tokenizers.Metaspace(replacement=SPACE, prepend_scheme="always")
        if kind == "bpe":
            tok = Tokenizer(models.BPE(unk_token=UNK))
            tok.pre_tokenizer = metaspace
            trainer: Any = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                               special_tokens=SPECIALS, show_progress=False)
        else:
            tok = Tokenizer(models.WordLevel(unk_token=UNK))
            tok.pre_tokenizer = pre_tokenizers.Sequence([metaspace, pre_tokenizers.Punctuation("isolated")])
            trainer = trainers.WordLevelTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                                special_tokens=SPECIALS, show_progress=False)
        tok.decoder = decoders.Metaspace(replacement=SPACE, prepend_scheme="always")
        tok.train_from_iterator(chunked(texts, TRAIN_BATCH), trainer=trainer)  # streamed: a list of texts is never needed
        return cls(tok, kind)

    def __len__(self) -> int:
        return self._tok.get_vocab_size()

    def encode_many(self, texts: Sequence[str]) -> list[list[int]]:
        return [e.ids for e in self._tok.encode_batch(list(texts), add_special_tokens=False)]

    def encode_with_tokens(self, text: str) -> tuple[list[int], list[str]]:
        enc = self._tok.encode(text, add_special_tokens=False)
        return enc.ids, enc.tokens

    def id_to_token(self, i: int) -> str:
        return self._tok.id_to_token(int(i)) or UNK

    def tokens(self, ids: Sequence[int]) -> list[str]:
        return [self.id_to_token(i) for i in ids]

    def decode_tokens(self, tokens: Sequence[str]) -> str:
        """Pieces (possibly with source pieces copied in for ``<unk>``) -> text; specials other than
        ``<unk>`` are dropped."""
        kept = [t for t in tokens if t not in (PAD, SOS, EOS)]
        return self._tok.decoder.decode(kept).strip() if kept else ""

    def decode(self, ids: Sequence[int]) -> str:
        return self.decode_tokens(self.tokens(ids))

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "state": self._tok.to_str()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SubwordTokenizer:
        from tokenizers import Tokenizer

        try:
            return cls(Tokenizer.from_str(data["state"]), data["kind"])
        except (KeyError, TypeError, Exception) as exc:
            if isinstance(exc, SeqlabError):
                raise
            raise SeqlabError(f"the saved translation tokenizer cannot be read ({exc})") from None


def display_token(token: str) -> str:
    """A piece as a person reads it: ``▁Mann`` -> ``Mann``, a word-inner piece ``ge`` -> ``·ge``."""
    if token.startswith(SPACE):
        return token[len(SPACE):] or SPACE
    if token in SPECIALS or not any(ch.isalnum() for ch in token):
        return token
    return "·" + token

