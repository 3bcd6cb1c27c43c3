"""The span scorer on hand-counted cases and against seqeval (default mode, conlleval-compatible)."""

from __future__ import annotations

import random

import pytest
from conftest import shared_data

from seqlab.errors import SeqlabError
from seqlab.metrics import format_span_report, span_report
from seqlab.text.tagging import convert

GOLD = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O", "B-PER"]]
PRED = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "I-ORG", "O"]]


def test_hand_counted_case():
    r = span_report(GOLD, PRED, "bio")
    # gold: PER(0,2) LOC(3,4) | ORG(0,1) PER(2,3); predicted: PER(0,2) ORG(3,4) | ORG(0,2); only PER(0,2) is right
    assert (r["gold"], r["found"], r["correct"]) == (4, 3, 1)
    assert r["precision"] == pytest.approx(1 / 3) and r["recall"] == pytest.approx(1 / 4)
    assert r["f1"] == pytest.approx(2 / 7) and r["accuracy"] == pytest.approx(4 / 7)
    assert r["types"] == ["LOC", "ORG", "PER"]
    assert r["per_type"]["PER"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "found": 1, "gold": 2,
                                    "correct": 1}
    assert r["per_type"]["ORG"]["found"] == 2 and r["per_type"]["ORG"]["f1"] == 0.0
    assert r["per_type"]["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "found": 0, "gold": 1, "correct": 0}
    # rows gold, columns predicted, (none) = no span with these boundaries
    assert r["confusion"]["labels"] == ["LOC", "ORG", "PER", "(none)"]
    assert r["confusion"]["matrix"] == [[0, 1, 0, 0],   # LOC(3,4) predicted as ORG
                                        [0, 0, 0, 1],   # ORG(0,1) missed (ORG(0,2) has other boundaries)
                                        [0, 0, 1, 1],   # PER(0,2) right, PER(2,3) missed
                                        [0, 1, 0, 0]]   # ORG(0,2) spurious
    text = format_span_report(r)
    assert text.splitlines()[:5] == [
        "processed 7 tokens with 4 phrases; found: 3 phrases; correct: 1.",
        "accuracy:  57.14%; precision:  33.33%; recall:  25.00%; FB1:  28.57",
        "              LOC: precision:   0.00%; recall:   0.00%; FB1:   0.00  0",
        "              ORG: precision:   0.00%; recall:   0.00%; FB1:   0.00  2",
        "              PER: precision: 100.00%; recall:  50.00%; FB1:  66.67  1"]
    assert "confusion of spans" in text


def test_schemes_give_the_same_scores_for_the_same_entities():
    bio = span_report(GOLD, PRED, "bio")
    for scheme in ("iob1", "bioes"):
        gold = [convert(s, "bio", scheme) for s in GOLD]
        pred = [convert(s, "bio", scheme) for s in PRED]
        r = span_report(gold, pred, scheme)
        assert (r["precision"], r["recall"], r["f1"], r["per_type"]) == (bio["precision"], bio["recall"], bio["f1"],
                                                                         bio["per_type"])


def test_plain_tags_score_by_token():
    r = span_report([["DT", "NN", "VBD"], ["NN"]], [["DT", "NN", "NN"], ["NN"]], "none")
    assert r["accuracy"] == pytest.approx(3 / 4) and r["f1"] == pytest.approx(3 / 4)
    assert r["per_type"]["NN"] == {"precision": pytest.approx(2 / 3), "recall": 1.0, "f1": pytest.approx(0.8),
                                   "found": 3, "gold": 2, "correct": 2}
    assert "processed 4 tokens with 4 tokens" in format_span_report(r)


def test_empty_and_mismatched_inputs():
    r = span_report([], [], "bio")
    assert r["f1"] == 0.0 and r["tokens"] == 0 and r["types"] == []
    format_span_report(r)
    with pytest.raises(SeqlabError, match="sentence 2: 3 gold tags but 2 predicted"):
        span_report([["O"], ["O", "O", "O"]], [["O"], ["O", "O"]], "bio")
    with pytest.raises(SeqlabError, match="2 gold sentences but 1"):
        span_report([["O"], ["O"]], [["O"]], "bio")


def _random_tags(rng: random.Random, labels: list[str], n: int) -> list[list[str]]:
    return [[rng.choice(labels) for _ in range(rng.randint(1, 10))] for _ in range(n)]


def _corrupt(rng: random.Random, sentences: list[list[str]], labels: list[str], rate: float) -> list[list[str]]:
    return [[rng.choice(labels) if rng.random() < rate else t for t in s] for s in sentences]


def _seqeval(gold, pred):
    seqeval = pytest.importorskip("seqeval.metrics")  # a test dependency only (pip install 'seqlab[dev]')
    per = seqeval.classification_report(gold, pred, output_dict=True, zero_division=0)
    return seqeval.precision_score(gold, pred), seqeval.recall_score(gold, pred), seqeval.f1_score(gold, pred), per


def assert_agrees_with_seqeval(gold, pred, scheme):
    mine = span_report(gold, pred, scheme)
    p, r, f, per = _seqeval(gold, pred)
    assert mine["precision"] == pytest.approx(p) and mine["recall"] == pytest.approx(r)
    assert mine["f1"] == pytest.approx(f)
    for t in mine["types"]:
        assert mine["per_type"][t]["precision"] == pytest.approx(per[t]["precision"]), t
        assert mine["per_type"][t]["recall"] == pytest.approx(per[t]["recall"]), t
        assert mine["per_type"][t]["gold"] == per[t]["support"], t


@pytest.mark.parametrize("scheme", ["iob1", "bio", "bioes"])
def test_random_sequences_agree_with_seqeval(scheme):
    """Ill-formed sequences too: both read chunks by conlleval's rules."""
    rng = random.Random({"iob1": 1, "bio": 2, "bioes": 3}[scheme])
    prefixes = {"iob1": "BI", "bio": "BI", "bioes": "BIES"}[scheme]
    labels = ["O", *(f"{p}-{t}" for p in prefixes for t in ("PER", "LOC", "ORG"))]
    gold = _random_tags(rng, labels, 300)
    assert_agrees_with_seqeval(gold, _corrupt(rng, gold, labels, 0.2), scheme)


@pytest.mark.real_data
def test_conll2003_dev_counts_and_agreement_with_seqeval(monkeypatch):
    """The real dev set: entity counts as in the shared-task paper; a corrupted copy scored as seqeval scores it."""
    root = shared_data()
    monkeypatch.setenv("SEQLAB_DATA", str(root))
    from seqlab.data.conll import load_split

    dev = load_split("conll2003", "valid")
    perfect = span_report(dev.tags, dev.tags, dev.scheme)
    assert {t: c["gold"] for t, c in perfect["per_type"].items()} == {"LOC": 1837, "MISC": 922, "ORG": 1341, "PER": 1842}
    assert perfect["f1"] == 1.0 and perfect["tokens"] == 51_362
    rng = random.Random(4)
    labels = sorted({t for s in dev.tags for t in s})
    assert_agrees_with_seqeval(dev.tags, _corrupt(rng, dev.tags, labels, 0.05), "iob1")
