"""Model directories written by an older seqlab still load and give the same outputs.

tests/fixtures/model-dirs-8706680/ holds one tiny model per task written at commit 8706680 (before the tasks moved
into packages and the configs changed shape), with their outputs then in expected.json
(tests/fixtures/make_old_model_dirs.py made them).
"""

import json
import shutil
from pathlib import Path

import pytest

import seqlab

FIXTURES = Path(__file__).parent / "fixtures" / "model-dirs-8706680"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))
REVIEWS = ["a wonderful moving film", "the plot was dull and boring", "", "superb cast but a weak story"]
SENTENCES = ["Hund läuft .", "Mann spielt rot .", "Katze"]
TAG_TEXTS = ["Ada lives in Paris .", "Grace met Alan in Oslo ."]


@pytest.fixture()
def copy_of(tmp_path):
    """A copy of a fixture directory (loading must not need to write, but evaluate may write plots beside it)."""
    def copy(name: str) -> Path:
        return Path(shutil.copytree(FIXTURES / name, tmp_path / name))
    return copy


@pytest.mark.parametrize("name", ["classify-bag", "classify-rnn"])
def test_old_classifiers_predict_the_same(copy_of, name):
    got = seqlab.load(copy_of(name)).predict(REVIEWS)
    for g, e in zip(got, EXPECTED[name], strict=True):
        assert g["label"] == e["label"]
        assert g["probabilities"] == pytest.approx(e["probabilities"], abs=1e-6)


def test_an_old_translator_translates_the_same(copy_of):
    mt = seqlab.load(copy_of("translate-rnn"))
    assert mt.translate(SENTENCES, beam=1) == EXPECTED["translate-rnn"]["greedy"]
    assert mt.translate(SENTENCES, beam=3) == EXPECTED["translate-rnn"]["beam"]


def test_an_old_tagger_tags_the_same(copy_of):
    got = seqlab.load(copy_of("tag-bilstm-crf")).tag(TAG_TEXTS)
    for g, e in zip(got, EXPECTED["tag-bilstm-crf"], strict=True):
        assert g["tags"] == e["tags"] and g["tokens"] == e["tokens"]
        assert [(x["type"], x["start"], x["end"]) for x in g["entities"]] == \
            [(x["type"], x["start"], x["end"]) for x in e["entities"]]
        assert [x["confidence"] for x in g["entities"]] == pytest.approx([x["confidence"] for x in e["entities"]],
                                                                          abs=1e-5)


def test_an_old_language_model_scores_and_generates_the_same(copy_of):
    lm = seqlab.load(copy_of("lm-rnn"))
    assert lm.perplexity(["the film was great"]) == pytest.approx(EXPECTED["lm-rnn"]["perplexity"], rel=1e-5)
    # 8706680 drew <pad> first here (decoded as nothing); <pad>, <unk> and <sos> are never drawn now, so that draw
    # gives "b", and the same seeded draws after it give the old text
    assert lm.generate("the film", max_tokens=5, seed=1) == "b" + EXPECTED["lm-rnn"]["generate"]
