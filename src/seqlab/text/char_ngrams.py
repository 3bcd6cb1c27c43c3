"""fastText's character n-grams of a word and their hash buckets (Bojanowski et al. 2017), torch-free: the model
(:mod:`seqlab.models.word2vec`) builds its subword rows with them, and a stored model's reader gives an unseen word
its vector with them. The n-grams and the hash are fastText's own (``dictionary.cc``), which gensim reproduces, so a
word's buckets are the same in all three.
"""

from __future__ import annotations

FNV_OFFSET, FNV_PRIME = 2166136261, 16777619


def fnv1a(data: bytes) -> int:
    """fastText's 32-bit FNV-1a hash of an n-gram's UTF-8 bytes, each byte taken as a signed char as fastText's
    C++ does (``dictionary.cc``; gensim's ``ft_hash_bytes`` reproduces it), so bucket ids match theirs."""
    h = FNV_OFFSET
    for b in data:
        h = ((h ^ ((b - 256) & 0xFFFFFFFF if b >= 128 else b)) * FNV_PRIME) & 0xFFFFFFFF
    return h


def char_ngrams(word: str, min_n: int, max_n: int) -> list[bytes]:
    """The character n-grams of ``<word>`` (the boundary marks make prefixes and suffixes their own n-grams),
    ``min_n`` to ``max_n`` characters, as UTF-8 bytes, in fastText's order (``computeSubwords``: by start, then
    length; a lone boundary mark is not one)."""
    chars = f"<{word}>"
    out = []
    for i in range(len(chars)):
        for n in range(max(1, min_n), max_n + 1):
            if i + n > len(chars):
                break
            if n == 1 and (i == 0 or i + n == len(chars)):
                continue
            out.append(chars[i: i + n].encode("utf-8"))
    return out


def ngram_buckets(word: str, min_n: int, max_n: int, buckets: int) -> list[int]:
    """The hash buckets of ``word``'s character n-grams."""
    return [fnv1a(g) % buckets for g in char_ngrams(word, min_n, max_n)]
