"""Tag schemes: spans, round trips between IOB1/BIO/BIOES, detection, validation, allowed transitions."""

from __future__ import annotations

import itertools
import random

import pytest

from seqlab.errors import SeqlabError
from seqlab.text.tagging import (
    CASE_PATTERNS,
    allowed_transitions,
    case_pattern,
    convert,
    detect_scheme,
    from_spans,
    normalize_scheme,
    spans,
    validate_tags,
)

# "EU rejects German call to boycott British lamb ." with two adjacent PERs and two adjacent LOCs added:
# the same entities written in each scheme
ENTITIES = [("ORG", 0, 1), ("MISC", 2, 3), ("PER", 4, 6), ("PER", 6, 7), ("LOC", 8, 9), ("LOC", 9, 11),
            ("MISC", 11, 12)]
IOB1 = ["I-ORG", "O", "I-MISC", "O", "I-PER", "I-PER", "B-PER", "O", "I-LOC", "B-LOC", "I-LOC", "I-MISC", "O"]
BIO = ["B-ORG", "O", "B-MISC", "O", "B-PER", "I-PER", "B-PER", "O", "B-LOC", "B-LOC", "I-LOC", "B-MISC", "O"]
BIOES = ["S-ORG", "O", "S-MISC", "O", "B-PER", "E-PER", "S-PER", "O", "S-LOC", "B-LOC", "E-LOC", "S-MISC", "O"]
WRITTEN = {"iob1": IOB1, "bio": BIO, "bioes": BIOES}


@pytest.mark.parametrize("scheme", ["iob1", "bio", "bioes"])
def test_spans_and_from_spans_on_hand_made_sequences(scheme):
    tags = WRITTEN[scheme]
    assert spans(tags, scheme) == ENTITIES
    assert from_spans(ENTITIES, len(tags), scheme) == tags


@pytest.mark.parametrize(("src", "dst"), list(itertools.product(["iob1", "bio", "bioes"], repeat=2)))
def test_conversions_round_trip(src, dst):
    assert convert(WRITTEN[src], src, dst) == WRITTEN[dst]
    assert convert(convert(WRITTEN[src], src, dst), dst, src) == WRITTEN[src]


def test_random_entity_layouts_round_trip_through_every_scheme():
    rng = random.Random(0)
    for _ in range(300):
        length, pos, entities = rng.randint(1, 12), 0, []
        while pos < length:
            if rng.random() < 0.5:
                end = min(length, pos + rng.randint(1, 3))
                entities.append((rng.choice(["PER", "LOC", "B-ish"]), pos, end))  # a type may contain "-"
                pos = end
            else:
                pos += 1
        for scheme in ("iob1", "bio", "bioes"):
            tags = from_spans(entities, length, scheme)
            validate_tags(tags, scheme, strict=True)  # what we write is well-formed
            assert spans(tags, scheme) == entities
            for other in ("iob1", "bio", "bioes"):
                assert convert(tags, scheme, other) == from_spans(entities, length, other)


def test_spans_read_ill_formed_sequences_as_conlleval_does():
    # BIO with an I- that opens an entity, and a type change inside an entity
    assert spans(["O", "I-PER", "I-PER", "I-LOC", "B-LOC"], "bio") == [("PER", 1, 3), ("LOC", 3, 4), ("LOC", 4, 5)]
    # BIOES: B- without an end, E- without a begin, S- followed by I-
    assert spans(["B-PER", "O", "E-PER", "S-LOC", "I-LOC"], "bioes") == [("PER", 0, 1), ("PER", 2, 3),
                                                                          ("LOC", 3, 4), ("LOC", 4, 5)]
    assert spans([], "bio") == [] and spans(["O", "O"], "iob1") == []


def test_detection():
    assert detect_scheme([IOB1]) == "iob1"
    assert detect_scheme([BIO]) == "bio"
    assert detect_scheme([BIOES]) == "bioes"
    assert detect_scheme([["I-PER", "I-PER"], ["O", "I-LOC"]]) == "iob1"
    assert detect_scheme([["B-PER", "I-PER"], ["O"]]) == "bio"
    assert detect_scheme([["DT", "NN", "VBD", "O"]]) == "none"  # part of speech (an "O" among them is fine)
    assert detect_scheme([["-LRB-", "NN"]]) == "none"
    assert detect_scheme([["O", "O"], []]) is None  # nothing to tell
    assert detect_scheme([["B-PER", "O"], ["O", "I-LOC"]]) is None  # evidence for both: inconsistent data


def test_invalid_tags_raise_one_clear_message():
    with pytest.raises(SeqlabError, match=r"train.txt: line 7: tag 'E-PER' \(token 2\) is not valid in the bio scheme"):
        validate_tags(["B-PER", "E-PER"], "bio", where="train.txt: line 7")
    with pytest.raises(SeqlabError, match="'PER'.*iob1 scheme.*--scheme"):
        validate_tags(["O", "PER"], "iob1")
    with pytest.raises(SeqlabError, match="'B-'"):
        validate_tags(["B-"], "bioes")
    with pytest.raises(SeqlabError, match="'S-PER'"):
        spans(["S-PER"], "iob1")
    validate_tags(["NN", "B-"], "none")  # plain tags: anything goes
    validate_tags(["O", "I-PER"], "bio")  # ill-formed but valid labels
    with pytest.raises(SeqlabError, match="'O' -> 'I-PER'.*not allowed in the bio scheme"):
        validate_tags(["O", "I-PER"], "bio", strict=True)
    with pytest.raises(SeqlabError, match="ending with 'B-PER'"):
        validate_tags(["O", "B-PER"], "bioes", strict=True)
    with pytest.raises(SeqlabError, match="unknown tag scheme 'bilou'"):
        normalize_scheme("bilou")
    with pytest.raises(SeqlabError, match="not defined for plain tags"):
        spans(["NN"], "none")
    with pytest.raises(SeqlabError, match="overlaps"):
        from_spans([("PER", 0, 2), ("LOC", 1, 3)], 4, "bio")
    with pytest.raises(SeqlabError, match="does not fit"):
        from_spans([("PER", 2, 5)], 4, "bio")
    with pytest.raises(SeqlabError, match="cannot convert"):
        convert(["NN"], "none", "bio")


def test_scheme_aliases():
    assert normalize_scheme("IOB2") == "bio" and normalize_scheme("iobes") == "bioes"
    assert convert(BIO, "iob2", "iobes") == BIOES


def test_allowed_transitions():
    labels = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    allowed, start, end = allowed_transitions(labels, "bio")
    i = {t: n for n, t in enumerate(labels)}
    assert allowed.shape == (5, 5) and allowed.dtype == bool
    assert not allowed[i["O"], i["I-PER"]] and not allowed[i["I-PER"], i["I-LOC"]] and not allowed[i["B-LOC"], i["I-PER"]]
    assert allowed[i["B-PER"], i["I-PER"]] and allowed[i["I-PER"], i["I-PER"]] and allowed[i["I-PER"], i["B-PER"]]
    assert allowed[i["O"], i["B-LOC"]] and allowed[i["I-LOC"], i["O"]]
    assert list(start) == [True, True, False, True, False] and end.all()

    bioes = ["O", "B-PER", "I-PER", "E-PER", "S-PER", "S-LOC"]
    allowed, start, end = allowed_transitions(bioes, "bioes")
    j = {t: n for n, t in enumerate(bioes)}
    assert not allowed[j["B-PER"], j["O"]] and not allowed[j["B-PER"], j["S-PER"]] and not allowed[j["O"], j["E-PER"]]
    assert allowed[j["B-PER"], j["I-PER"]] and allowed[j["B-PER"], j["E-PER"]] and allowed[j["E-PER"], j["S-LOC"]]
    assert not allowed[j["I-PER"], j["S-PER"]] and allowed[j["S-PER"], j["S-PER"]]
    assert list(start) == [True, True, False, False, True, True]
    assert list(end) == [True, False, False, True, True, True]

    iob1 = ["O", "I-PER", "B-PER", "I-LOC"]
    allowed, start, end = allowed_transitions(iob1, "iob1")
    assert not allowed[0, 2] and allowed[1, 2] and allowed[2, 2] and not allowed[3, 2] and allowed[0, 1]
    assert list(start) == [True, True, False, True]

    allowed, start, end = allowed_transitions(["NN", "VBD", "DT"], "none")
    assert allowed.all() and start.all() and end.all()
    with pytest.raises(SeqlabError, match="label set"):
        allowed_transitions(["O", "E-PER"], "bio")


def test_allowed_transitions_agree_with_strict_validation():
    labels = ["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC"]
    allowed, start, end = allowed_transitions(labels, "bioes")
    for length in (1, 2, 3):
        for path in itertools.product(range(len(labels)), repeat=length):
            ok = start[path[0]] and end[path[-1]] and all(allowed[a, b] for a, b in itertools.pairwise(path))
            tags = [labels[p] for p in path]
            try:
                validate_tags(tags, "bioes", strict=True)
                valid = True
            except SeqlabError:
                valid = False
            assert bool(ok) == valid, tags


def test_case_patterns():
    names = {w: CASE_PATTERNS[case_pattern(w)] for w in
             ["EU", "German", "lamb", "1996-08-30", "1,000", "3rd", "--", ".", "McDonald", "iPhone", "U.S.", "A", ""]}
    assert names == {"EU": "upper", "German": "capitalized", "lamb": "lower", "1996-08-30": "numeric",
                     "1,000": "numeric", "3rd": "has_digit", "--": "punct", ".": "punct", "McDonald": "mixed",
                     "iPhone": "mixed", "U.S.": "upper", "A": "upper", "": "other"}
    assert CASE_PATTERNS[0] == "pad"
