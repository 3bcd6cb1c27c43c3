"""Vocabulary: token <-> id with special tokens, ``min_freq`` and ``max_size``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

import numpy as np

PAD, UNK, SOS, EOS = "<pad>", "<unk>", "<sos>", "<eos>"


class _WithDefault(dict):
    """A dict whose missing keys give ``default``, so a lookup loop can stay in C (``map``)."""

    def __init__(self, items: dict[str, int], default: int) -> None:
        super().__init__(items)
        self.default = default

    def __missing__(self, key: str) -> int:
        return self.default


class Vocab:
    """Ids are stable: specials first (``<pad>`` is always 0), then tokens by falling frequency.

    Ties are broken alphabetically so that the same corpus always gives the same ids.
    """

    def __init__(self, itos: list[str], specials: list[str]) -> None:
        self.itos = list(itos)
        self.specials = list(specials)
        self.stoi = {tok: i for i, tok in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise ValueError("vocabulary has duplicate tokens")
        self.pad_id = self.stoi.get(PAD, 0)
        self.unk_id = self.stoi.get(UNK, self.pad_id)
        self._lookup = _WithDefault(self.stoi, self.unk_id)

    @classmethod
    def build(cls, token_lists: Iterable[list[str]], *, min_freq: int = 1, max_size: int | None = None,
              specials: tuple[str, ...] = (PAD, UNK)) -> Vocab:
        counts: Counter[str] = Counter()
        for tokens in token_lists:
            counts.update(tokens)
        return cls.from_counts(counts, min_freq=min_freq, max_size=max_size, specials=specials)

    @classmethod
    def from_counts(cls, counts: Counter[str], *, min_freq: int = 1, max_size: int | None = None,
                    specials: tuple[str, ...] = (PAD, UNK)) -> Vocab:
        ranked = sorted((t for t, c in counts.items() if c >= min_freq and t not in specials),
                        key=lambda t: (-counts[t], t))
        if max_size is not None:
            ranked = ranked[: max(0, max_size - len(specials))]
        return cls(list(specials) + ranked, list(specials))

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def id(self, token: str) -> int:
        return self.stoi.get(token, self.unk_id)

    def encode(self, tokens: list[str]) -> list[int]:
        return list(map(self._lookup.__getitem__, tokens))  # a C loop; unknown tokens -> <unk>

    def encode_array(self, tokens: Iterable[str], count: int = -1) -> np.ndarray:
        """Ids as an int64 array straight from the lookup loop (no list in between); ``count`` if known."""
        return np.fromiter(map(self._lookup.__getitem__, tokens), dtype=np.int64, count=count)

    def decode(self, ids: Iterable[int], *, skip_specials: bool = True) -> list[str]:
        special = set(self.specials) if skip_specials else set()
        out = []
        for i in ids:
            tok = self.itos[i]
            if tok not in special or tok == UNK:
                out.append(tok)
        return out

    def to_json(self) -> dict[str, Any]:
        return {"itos": self.itos, "specials": self.specials}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Vocab:
        return cls(data["itos"], data["specials"])
