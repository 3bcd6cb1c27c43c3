"""The tagger's text side, shared by the torch predictor and the torch-free export: the vocabulary, words as
arrays, the model's BIOES tags written back in the data's scheme, and the ``tag``/``tag_tokens`` methods.

Imports no torch: an export (``seqlab export``) tags with these and ONNX Runtime.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from seqlab.data.batching import pad_tagged
from seqlab.data.conll import split_words
from seqlab.errors import SeqlabError
from seqlab.tasks.tag import DEFAULT_BATCH
from seqlab.text.tagging import CASE_PAD, case_pattern, convert, spans
from seqlab.text.validity import check_text, check_texts
from seqlab.text.vocab import PAD, UNK

TEXT_FILE = "text.json"
INTERNAL_SCHEME = "bioes"  # what entity tags are trained in
MAX_WORD_CHARS = 30  # longer words are cut to this many characters for the character features


def to_internal(tags: list[str], scheme: str) -> list[str]:
    """A sentence's tags in the scheme the model is trained in (BIOES for entities, as they are for plain tags)."""
    return list(tags) if scheme == "none" else convert(tags, scheme, INTERNAL_SCHEME)


def to_scheme(labels: list[str], scheme: str) -> list[str]:
    """The model's tags written back in the data's scheme."""
    return list(labels) if scheme == "none" else convert(labels, INTERNAL_SCHEME, scheme)


@dataclass
class TagVocab:
    """How words become ids, and the tag set: everything a tagger needs besides its weights (``text.json``)."""

    words: list[str]  # trained rows: <pad>, <unk>, the training words (lower-cased), most frequent first
    extra: list[str]  # fixed rows after them: words only the pretrained vectors know
    chars: list[str]  # <pad>, <unk>, the training characters, most frequent first
    labels: list[str]  # the model's tags (BIOES for entities)
    scheme: str  # the data's scheme: predictions are written back in it

    def __post_init__(self) -> None:
        self.word_index = {w: i for i, w in enumerate([*self.words, *self.extra])}
        self.char_index = {c: i for i, c in enumerate(self.chars)}
        self.label_index = {t: i for i, t in enumerate(self.labels)}

    @property
    def unk_id(self) -> int:
        return self.word_index[UNK]

    def encode(self, words: list[str]) -> tuple[list[int], list[int], list[list[int]]]:
        """One sentence -> (word ids, case-pattern ids, character ids of each word)."""
        unk, char_unk = self.word_index[UNK], self.char_index[UNK]
        return ([self.word_index.get(w.lower(), unk) for w in words], [case_pattern(w) for w in words],
                [[self.char_index.get(c, char_unk) for c in w] for w in words])

    def to_json(self) -> dict[str, Any]:
        return {"words": self.words, "extra": self.extra, "chars": self.chars, "labels": self.labels,
                "scheme": self.scheme, "lowercase": True}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TagVocab:
        return cls(data["words"], data.get("extra", []), data["chars"], data["labels"], data["scheme"])


class WordFeatures:
    """Sentences -> lower-cased word ids, case patterns and characters: the BiLSTM tagger's input."""

    names = ("words", "cases", "chars")

    def __init__(self, vocab: TagVocab) -> None:
        self.vocab = vocab

    def encode(self, sentences: list[list[str]]) -> list[Any]:
        return [self.vocab.encode(words) for words in sentences]

    @staticmethod
    def to_arrays(items: list[Any]) -> dict[str, list[list[int]]]:
        """For the cache: one id sequence per sentence (characters: one per word)."""
        return {"words": [i[0] for i in items], "cases": [i[1] for i in items],
                "chars": [c for i in items for c in i[2]]}

    @staticmethod
    def from_arrays(arrays: dict[str, list[np.ndarray]]) -> list[Any]:
        items, at = [], 0
        chars = arrays["chars"]
        for words, cases in zip(arrays["words"], arrays["cases"], strict=True):
            n = len(words)
            items.append((words.tolist(), cases.tolist(), [c.tolist() for c in chars[at: at + n]]))
            at += n
        return items

    def padded(self, items: list[Any]) -> dict[str, np.ndarray]:
        """Padded numpy inputs of a batch (``words``, ``cases``, ``chars``, ``lengths``), as the export's graph reads."""
        return pad_tagged([i[0] for i in items], [i[1] for i in items], [i[2] for i in items],
                          self.vocab.word_index[PAD], self.vocab.char_index[PAD], CASE_PAD, MAX_WORD_CHARS)

    def batch(self, items: list[Any], tags: list[list[int]] | None = None) -> Any:
        """A :class:`~seqlab.models.tagger.TagBatch` of tensors (torch is imported here, for the torch tagger)."""
        from seqlab.models.tagger import pad_batch

        return pad_batch([i[0] for i in items], [i[1] for i in items], [i[2] for i in items], tags,
                         pad_id=self.vocab.word_index[PAD], char_pad_id=self.vocab.char_index[PAD])

    @staticmethod
    def length(item: Any) -> int:
        return len(item[0])


class TaggingMethods:
    """``tag`` raw texts and ``tag_tokens`` pre-tokenised sentences, for any tagger predictor that gives
    ``predict(sentences, batch_size, confidences)`` (its BIOES tags and confidences) and a ``vocab``."""

    vocab: TagVocab

    @property
    def scheme(self) -> str:
        """The scheme of the training data's tags, in which predictions are written."""
        return self.vocab.scheme

    @property
    def labels(self) -> list[str]:
        """The tags the model predicts (BIOES for entities; the data's tags for plain ones)."""
        return self.vocab.labels

    def predict(self, sentences: list[list[str]], batch_size: int = DEFAULT_BATCH,
                confidences: bool = True) -> tuple[list[list[str]], list[list[float]] | None]:
        raise NotImplementedError

    def _results(self, sentences: list[list[str]], batch_size: int) -> list[tuple[list[str], list[tuple], list[float]]]:
        """(tags in the data's scheme, entity spans (type, first, end) of the model's tags, confidences) per sentence."""
        out: list[tuple[list[str], list[tuple], list[float]]] = [([], [], []) for _ in sentences]
        keep = [i for i, s in enumerate(sentences) if s]
        labels, conf = self.predict([sentences[i] for i in keep], batch_size)
        for i, tags, c in zip(keep, labels, conf or [], strict=True):
            found = [] if self.scheme == "none" else spans(tags, INTERNAL_SCHEME)
            out[i] = (to_scheme(tags, self.scheme), found, c)
        return out

    def tag(self, texts: list[str], batch_size: int = DEFAULT_BATCH) -> list[dict[str, Any]]:
        """Raw texts, split into words as the CoNLL data is; per text ``{"entities", "tokens", "tags"}``, each
        entity ``{"type", "text", "start", "end", "confidence"}`` with character offsets (``text[start:end]``) and
        the mean CRF marginal (softmax probability without a CRF) of its tokens' tags. An empty text gives no tokens."""
        texts = check_texts(texts, "tag()")
        split = [split_words(t) for t in texts]
        results = self._results([words for words, _ in split], batch_size)
        out = []
        for text, (words, offsets), (tags, found, conf) in zip(texts, split, results, strict=True):
            entities = []
            for kind, first, end in found:
                start, stop = offsets[first][0], offsets[end - 1][1]
                entities.append({"type": kind, "text": text[start:stop], "start": start, "end": stop,
                                 "confidence": sum(conf[first:end]) / (end - first)})
            out.append({"entities": entities, "tokens": words, "tags": tags})
        return out

    def tag_tokens(self, sentences: list[list[str]], batch_size: int = DEFAULT_BATCH) -> list[dict[str, Any]]:
        """Pre-tokenised sentences; as :meth:`tag`, but an entity's ``start``/``end`` are *token* indices (end
        exclusive) and its ``text`` the tokens joined by spaces."""
        if isinstance(sentences, str) or not all(isinstance(s, (list, tuple)) and all(isinstance(w, str) for w in s)
                                                 for s in sentences):
            raise SeqlabError("tag_tokens() takes a list of sentences, each a list of words")
        if any(not w or any(c.isspace() for c in w) for s in sentences for w in s):
            raise SeqlabError("tag_tokens(): a word may not be empty or hold spaces")
        for i, words in enumerate(sentences, 1):
            for j, word in enumerate(words, 1):
                check_text(word, f"sentence {i}, word {j}")
        out = []
        for words, (tags, found, conf) in zip(sentences, self._results([list(s) for s in sentences], batch_size),
                                              strict=True):
            entities = [{"type": kind, "text": " ".join(words[first:end]), "start": first, "end": end,
                         "confidence": sum(conf[first:end]) / (end - first)} for kind, first, end in found]
            out.append({"entities": entities, "tokens": list(words), "tags": tags})
        return out
