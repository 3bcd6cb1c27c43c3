"""Tag schemes for sequence labelling: spans, conversions, detection, validation, allowed transitions.

Schemes (a tag is ``O`` or ``PREFIX-TYPE``; the type may itself hold ``-``):

- ``iob1`` (CoNLL-2003 as distributed): ``I-`` opens and continues an entity; ``B-`` appears only
  on the first token of an entity that directly follows another entity of the same type.
  ``Paris/I-LOC London/B-LOC``.
- ``bio`` (= IOB2; the Hugging Face hub copy of CoNLL-2003): every entity opens with ``B-``.
- ``bioes`` (= IOBES): ``S-`` for one-token entities, ``B-``/``I-``/``E-`` for begin/inside/end.
  Trains best per NCRF++'s measurements (Yang et al. 2018), so tasks convert to it internally.
- ``none``: a plain tag set (part of speech: ``NN``, ``VBD``): every tag stands alone, every
  transition is allowed, and entity spans are not defined.

Spans are read the way ``conlleval`` reads chunks (the CoNLL shared-task scorer), extended to
``E-``/``S-`` as ``seqeval`` does: a ``B-``/``S-`` tag, an ``I-``/``E-`` after ``O``/``E-``/``S-``
or a type change opens an entity. So ill-formed predictions (``O I-PER`` in BIO) still read as
entities, exactly as the scorer counts them.

Case patterns (:func:`case_pattern`) are here too: the word-shape feature a tagger embeds
beside the lower-cased word.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np

from seqlab.errors import SeqlabError

SCHEMES = ("iob1", "bio", "bioes", "none")
SCHEME_ALIASES = {"iob": "iob1", "iob2": "bio", "iobes": "bioes", "plain": "none"}
OUTSIDE = "O"
PREFIXES = {"iob1": ("B", "I"), "bio": ("B", "I"), "bioes": ("B", "I", "E", "S")}
_EXPECTED = {"iob1": "O, I-TYPE or B-TYPE", "bio": "O, B-TYPE or I-TYPE", "bioes": "O, B-TYPE, I-TYPE, E-TYPE or S-TYPE"}

Span = tuple[str, int, int]  # (type, start, end) with ``end`` exclusive


def normalize_scheme(scheme: str) -> str:
    """The canonical name of a scheme (``iob2`` -> ``bio``), or a SeqlabError listing the choices."""
    name = SCHEME_ALIASES.get(scheme.lower(), scheme.lower())
    if name not in SCHEMES:
        raise SeqlabError(f"unknown tag scheme {scheme!r}; choose one of iob1, bio (iob2), bioes (iobes), none")
    return name


def split_tag(tag: str) -> tuple[str, str]:
    """``"B-PER"`` -> ``("B", "PER")``; ``"O"`` -> ``("O", "")``; a tag without ``-`` -> ``(tag, "")``."""
    if tag == OUTSIDE:
        return OUTSIDE, ""
    prefix, sep, kind = tag.partition("-")
    return (prefix, kind) if sep else (tag, "")


def _is_entity_tag(tag: str, prefixes: Sequence[str]) -> bool:
    prefix, kind = split_tag(tag)
    return tag == OUTSIDE or (prefix in prefixes and kind != "")


def validate_tags(tags: Sequence[str], scheme: str, where: str = "", strict: bool = False) -> None:
    """Raise SeqlabError on the first tag that is no label of ``scheme`` (``E-PER`` in BIO, ``PER``, ``B-``).

    ``where`` names the sentence for the message (e.g. ``"train.txt: line 12"``). With ``strict``
    ill-formed sequences are refused too (``O I-PER`` in BIO, ``B-PER O`` in BIOES).
    """
    scheme = normalize_scheme(scheme)
    if scheme == "none":
        return
    prefixes = PREFIXES[scheme]
    at = f"{where}: " if where else ""
    for i, tag in enumerate(tags):
        if not _is_entity_tag(tag, prefixes):
            raise SeqlabError(f"{at}tag {tag!r} (token {i + 1}) is not valid in the {scheme} scheme "
                              f"(expected {_EXPECTED[scheme]}); choose the scheme with --scheme, or none for "
                              "plain tags such as part of speech")
    if strict:
        prev: str | None = None
        for i, nxt in enumerate([*tags, None]):
            if not _transition_ok(prev, nxt, scheme):
                what = (f"{prev!r} -> {nxt!r}" if prev is not None and nxt is not None
                        else f"a sentence starting with {nxt!r}" if prev is None else f"a sentence ending with {prev!r}")
                raise SeqlabError(f"{at}{what} (token {i + 1 if nxt is not None else i}) is not allowed in the "
                                  f"{scheme} scheme")
            prev = nxt


def _transition_ok(prev: str | None, tag: str | None, scheme: str) -> bool:
    """Whether ``tag`` may follow ``prev`` (None: the sentence's start or end) in a well-formed sequence."""
    if scheme == "none":
        return True
    p_prefix, p_type = split_tag(prev) if prev is not None else (OUTSIDE, "")
    t_prefix, t_type = split_tag(tag) if tag is not None else (OUTSIDE, "")
    continues = p_type == t_type and p_prefix != OUTSIDE
    if scheme == "iob1":
        return t_prefix != "B" or continues  # B- only separates two entities of one type
    if scheme == "bio":
        return t_prefix != "I" or continues  # I- only inside an entity opened by B-/I- of its type
    # bioes: B-/I- must be continued by I-/E- of their type; I-/E- must continue one
    open_before = p_prefix in ("B", "I")
    if t_prefix in ("I", "E"):
        return open_before and continues
    return not open_before


def allowed_transitions(labels: Sequence[str], scheme: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What a CRF may decode: ``allowed`` (K, K) bool ``[i, j]`` = tag j may follow tag i, and the
    tags a sentence may start and end with, ``start_allowed`` (K,) and ``end_allowed`` (K,).

    For ``bio``: ``O -> I-PER`` and ``I-PER -> I-LOC`` are forbidden; for ``bioes`` also
    ``B-PER -> O`` (B- must go on with I-/E- of its type) and ending on ``B-``/``I-``; for
    ``iob1``: ``O -> B-PER`` (B- only after an entity of its type). ``none`` allows everything.
    Numpy arrays (``torch.as_tensor`` turns them into what :class:`LinearChainCRF` takes).
    """
    scheme = normalize_scheme(scheme)
    labels = list(labels)
    validate_tags(labels, scheme, where="label set")
    k = len(labels)
    allowed = np.array([[_transition_ok(a, b, scheme) for b in labels] for a in labels], dtype=bool).reshape(k, k)
    start = np.array([_transition_ok(None, b, scheme) for b in labels], dtype=bool)
    end = np.array([_transition_ok(a, None, scheme) for a in labels], dtype=bool)
    return allowed, start, end


# ---- spans -----------------------------------------------------------------------------------------


def _ends(prev_prefix: str, prefix: str, prev_type: str, kind: str) -> bool:
    """conlleval's endOfChunk with seqeval's E-/S- rules: the entity before this token ends."""
    if prev_prefix in ("E", "S"):
        return True
    if prev_prefix in ("B", "I") and prefix in ("B", "S", OUTSIDE):
        return True
    return prev_prefix != OUTSIDE and prev_type != kind


def _starts(prev_prefix: str, prefix: str, prev_type: str, kind: str) -> bool:
    """conlleval's startOfChunk with seqeval's E-/S- rules: an entity opens at this token."""
    if prefix in ("B", "S"):
        return True
    if prefix in ("I", "E") and prev_prefix in ("E", "S", OUTSIDE):
        return True
    return prefix != OUTSIDE and prev_type != kind


def spans(tags: Sequence[str], scheme: str) -> list[Span]:
    """The entities of one sentence as ``(type, start, end_exclusive)``, read as conlleval reads them."""
    scheme = normalize_scheme(scheme)
    if scheme == "none":
        raise SeqlabError("entity spans are not defined for plain tags (scheme none); score them by token accuracy")
    validate_tags(tags, scheme)
    out: list[Span] = []
    prev_prefix, prev_type, begin = OUTSIDE, "", 0
    for i, tag in enumerate([*tags, OUTSIDE]):
        prefix, kind = split_tag(tag)
        if _ends(prev_prefix, prefix, prev_type, kind):
            out.append((prev_type, begin, i))
        if _starts(prev_prefix, prefix, prev_type, kind):
            begin = i
        prev_prefix, prev_type = prefix, kind
    return out


def from_spans(entities: Iterable[Span], length: int, scheme: str) -> list[str]:
    """Tags of a sentence of ``length`` tokens holding ``entities`` (non-overlapping) in ``scheme``."""
    scheme = normalize_scheme(scheme)
    if scheme == "none":
        raise SeqlabError("entity spans cannot be written as plain tags (scheme none)")
    tags = [OUTSIDE] * length
    prev_end, prev_type = -1, None
    for kind, start, end in sorted(entities, key=lambda s: s[1]):
        if not kind or not 0 <= start < end <= length:
            raise SeqlabError(f"entity {(kind, start, end)!r} does not fit a sentence of {length} tokens")
        if start < prev_end:
            raise SeqlabError(f"entity {(kind, start, end)!r} overlaps the one before it")
        if scheme == "bioes":
            if end - start == 1:
                tags[start] = f"S-{kind}"
            else:
                tags[start], tags[end - 1] = f"B-{kind}", f"E-{kind}"
                tags[start + 1:end - 1] = [f"I-{kind}"] * (end - start - 2)
        else:
            tags[start:end] = [f"I-{kind}"] * (end - start)
            if scheme == "bio" or (start == prev_end and kind == prev_type):  # iob1: B- only between same-type neighbours
                tags[start] = f"B-{kind}"
        prev_end, prev_type = end, kind
    return tags


def convert(tags: Sequence[str], src_scheme: str, dst_scheme: str) -> list[str]:
    """The same entities written in another scheme (ill-formed input is read as conlleval reads it)."""
    src, dst = normalize_scheme(src_scheme), normalize_scheme(dst_scheme)
    if src == dst:
        validate_tags(tags, src)
        return list(tags)
    if "none" in (src, dst):
        raise SeqlabError(f"cannot convert between plain tags (none) and entity tags ({src} -> {dst})")
    return from_spans(spans(tags, src), len(tags), dst)


def detect_scheme(sentences: Iterable[Sequence[str]]) -> str | None:
    """The scheme a corpus' tags are written in, where the tags decide it; None when they do not.

    The rule, in order:

    1. a tag that is neither ``O`` nor ``B-/I-/E-/S-TYPE`` (``NN``, ``VBD``, ``-LRB-``) -> ``none``;
    2. any ``E-`` or ``S-`` tag -> ``bioes``;
    3. with only ``B-``/``I-``/``O``: an ``I-X`` that opens an entity (at the start, after ``O`` or after
       another type) happens only in IOB1, a ``B-X`` that does not follow an ``X`` entity only in BIO:
       the one seen decides; both seen (inconsistent data) or neither (only ``O``, or no entity that
       tells: e.g. only ``B-X I-X`` after ``I-X``) -> None, and the caller uses its default.
    """
    iob1_evidence = bio_evidence = has_es = False
    for tags in sentences:
        prev_prefix, prev_type = OUTSIDE, ""
        for tag in tags:
            prefix, kind = split_tag(tag)
            if tag != OUTSIDE and (prefix not in ("B", "I", "E", "S") or not kind):
                return "none"
            if prefix in ("E", "S"):
                has_es = True
            continues = prev_prefix != OUTSIDE and prev_type == kind
            if prefix == "I" and not continues:
                iob1_evidence = True
            elif prefix == "B" and not continues:
                bio_evidence = True
            prev_prefix, prev_type = prefix, kind
    if has_es:
        return "bioes"
    if iob1_evidence != bio_evidence:
        return "iob1" if iob1_evidence else "bio"
    return None


# ---- word shape ------------------------------------------------------------------------------------

CASE_PATTERNS = ("pad", "lower", "capitalized", "upper", "mixed", "numeric", "has_digit", "punct", "other")
CASE_PAD = 0
_PUNCT = re.compile(r"^[^\w\s]+$")


def case_pattern(word: str) -> int:
    """The index in :data:`CASE_PATTERNS` of a word's shape: ``EU`` upper, ``German`` capitalized,
    ``1996-08-30`` numeric (digits and separators), ``3rd`` has_digit, ``--`` punct."""
    if not word:
        return CASE_PATTERNS.index("other")
    digits = sum(c.isdigit() for c in word)
    if digits:
        return CASE_PATTERNS.index("numeric" if all(c.isdigit() or c in ".,:-/" for c in word) else "has_digit")
    if _PUNCT.match(word):
        return CASE_PATTERNS.index("punct")
    if word.islower():
        return CASE_PATTERNS.index("lower")
    if word.isupper():
        return CASE_PATTERNS.index("upper")
    if word[0].isupper() and (word[1:].islower() or not any(c.isalpha() for c in word[1:])):
        return CASE_PATTERNS.index("capitalized")
    if any(c.isupper() for c in word):
        return CASE_PATTERNS.index("mixed")
    return CASE_PATTERNS.index("other")


__all__ = ["CASE_PAD", "CASE_PATTERNS", "OUTSIDE", "SCHEMES", "Span", "allowed_transitions", "case_pattern",
           "convert", "detect_scheme", "from_spans", "normalize_scheme", "spans", "split_tag", "validate_tags"]
