"""Scoring word vectors (seqlab.embedding_eval, seqlab evaluate EMB_DIR): the figures gensim's own
evaluate_word_pairs / evaluate_word_analogies give on the same vectors, out-of-vocabulary counts, the report,
GloVe and .txt vectors, and the errors."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from seqlab.embedding_eval import (
    VectorSpace,
    analogies,
    evaluate_vectors,
    rankdata,
    spearman,
    standard_file,
    word_pairs,
)
from seqlab.errors import SeqlabError

gensim_models = pytest.importorskip("gensim.models")
RESTRICT = 20_000  # gensim answers an analogy one question at a time: a small vocabulary keeps the test quick


@pytest.fixture(scope="module")
def glove() -> tuple[list[str], np.ndarray]:
    """GloVe 6B 50d's 30,000 most frequent words (real vectors: analogies well above chance)."""
    from seqlab.models.embeddings import load_vectors

    vectors = load_vectors("glove-6b-50d")
    return vectors.words[:30_000], vectors.matrix[:30_000]


def _keyed(words: list[str], matrix: np.ndarray):
    kv = gensim_models.KeyedVectors(matrix.shape[1])
    kv.add_vectors(words, matrix)
    return kv


@pytest.mark.parametrize("name", ["wordsim353", "simlex999"])
def test_word_pairs_match_gensim(glove, name, caplog):
    words, matrix = glove
    path = standard_file(name)
    assert path is not None  # gensim (a dev dependency) ships the file
    mine = word_pairs(VectorSpace.build(words, matrix, RESTRICT), path)
    with caplog.at_level(logging.WARNING):
        pearson, spearman_result, oov_ratio = _keyed(words, matrix).evaluate_word_pairs(str(path),
                                                                                        restrict_vocab=RESTRICT)
    assert mine["spearman"] == pytest.approx(spearman_result.statistic, abs=1e-6)
    assert mine["pearson"] == pytest.approx(pearson.statistic, abs=1e-6)
    assert mine["oov_ratio"] == pytest.approx(oov_ratio, abs=1e-9)
    assert mine["oov"] > 0 and mine["scored"] + mine["oov"] == mine["pairs"]


@pytest.mark.slow
def test_analogies_match_gensim_by_section(glove, tmp_path):
    words, matrix = glove
    path = standard_file("analogies")
    whole = analogies(VectorSpace.build(words, matrix, RESTRICT), path)
    assert whole["questions"] == 19_544 and whole["oov"] == 19_544 - whole["total"]
    # every section's first 60 questions: gensim answers one question at a time (30 s for the whole set here)
    part, taken = [], 0
    for line in path.read_text().splitlines():
        taken = 0 if line.startswith(":") else taken + 1
        if taken <= 60:
            part.append(line)
    subset = tmp_path / "questions.txt"
    subset.write_text("\n".join(part) + "\n")
    mine = analogies(VectorSpace.build(words, matrix, RESTRICT), subset)
    score, sections = _keyed(words, matrix).evaluate_word_analogies(str(subset), restrict_vocab=RESTRICT)
    assert mine["accuracy"] == pytest.approx(score, abs=1e-9) and mine["accuracy"] > 0.3
    theirs = {s["section"]: (len(s["correct"]), len(s["correct"]) + len(s["incorrect"])) for s in sections}
    for section in mine["sections"]:
        assert (section["correct"], section["total"]) == theirs[section["section"]]
    assert (mine["correct"], mine["total"]) == theirs["Total accuracy"]


def test_case_variants_and_dummy4unknown_match_gensim(tmp_path):
    rng = np.random.default_rng(0)
    words = ["king", "queen", "man", "woman", "King", "paris", "france", "rome", "italy", "Rome", "london", "the"]
    matrix = rng.normal(size=(len(words), 8)).astype(np.float32)
    matrix[1] = matrix[0] - matrix[2] + matrix[3] + 0.05 * rng.normal(size=8)  # queen = king - man + woman
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("# comment\nking\tqueen\t8\nKING\tman\t3\nparis\tfrance\t7\nrome\tunknown\t5\nthe\tman\t1\n")
    questions = tmp_path / "q.txt"
    questions.write_text(": royals\nman woman king queen\nman woman KING queen\nman woman emperor empress\n"
                         ": capitals\nparis france rome italy\nfrance paris italy rome\n")
    kv = _keyed(words, matrix)
    for dummy in (False, True):
        for case_insensitive in (True, False):
            space = VectorSpace.build(words, matrix, 300_000, case_insensitive)
            mine = word_pairs(space, pairs, dummy)
            pearson, rho, ratio = kv.evaluate_word_pairs(str(pairs), case_insensitive=case_insensitive,
                                                         dummy4unknown=dummy)
            assert (mine["spearman"], mine["oov_ratio"]) == pytest.approx((rho.statistic, ratio), abs=1e-6)
            got = analogies(space, questions, dummy)
            score, sections = kv.evaluate_word_analogies(str(questions), case_insensitive=case_insensitive,
                                                         dummy4unknown=dummy)
            assert got["accuracy"] == pytest.approx(score)
            assert [s["correct"] for s in got["sections"]] == [len(s["correct"]) for s in sections[:-1]]


def test_spearman_averages_tied_ranks_like_scipy():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 5, 200).astype(float), rng.normal(size=200)
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
    assert rankdata(np.array([3.0, 1.0, 3.0, 2.0])).tolist() == [3.5, 1.0, 3.5, 2.0]


def test_text_vectors_and_a_model_directory_evaluate_alike(tmp_path, capsys):
    from seqlab.tasks.embeddings.commands import evaluate_source, format_report
    from seqlab.tasks.embeddings.predictor import evaluate, load_source

    rng = np.random.default_rng(2)
    words = ["cat", "dog", "car", "bus", "tiger"]
    matrix = rng.normal(size=(5, 4)).astype(np.float32)
    path = tmp_path / "vectors.txt"
    path.write_text("5 4\n" + "".join(w + " " + " ".join(f"{x:.6f}" for x in row) + "\n"
                                      for w, row in zip(words, matrix, strict=True)))
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("cat\ttiger\t8\ncar\tbus\t7\ncat\tcar\t1\ndog\tzebra\t5\n")
    report = evaluate(load_source(str(path)), options={"wordsim": str(pairs), "simlex": str(pairs),
                                                       "analogies": str(standard_file("analogies"))})
    expected = word_pairs(VectorSpace.build(words, matrix), pairs)
    assert report["wordsim353"]["spearman"] == pytest.approx(expected["spearman"], abs=1e-5)
    assert report["wordsim353"]["oov"] == 1 and report["analogies"]["total"] == 0
    text = format_report(report)
    assert "WordSim-353  Spearman" in text and "3 of 4 pairs; 1 with unknown words, 25.0%" in text
    assert evaluate_source(str(path), ["--wordsim", str(pairs), "--simlex", str(pairs)]) == 0
    assert "SimLex-999" in capsys.readouterr().out


def test_cli_evaluates_an_embeddings_model_directory(tmp_path, capsys):
    import seqlab
    from seqlab.cli import main

    corpus = tmp_path / "c.txt"
    corpus.write_text("".join("the cat sat on the mat with a dog\n" for _ in range(50)))
    seqlab.train("embeddings", tmp_path / "m", data=str(corpus), dim=8, epochs=1, min_count=1, progress=False,
                 log=lambda m: None)
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("cat\tdog\t8\ncat\tmat\t3\nthe\ta\t5\nsat\tzebra\t1\n")
    assert main(["evaluate", str(tmp_path / "m"), "--wordsim", str(pairs), "--simlex", str(pairs), "--json"]) == 0
    import json

    report = json.loads(capsys.readouterr().out)
    assert report["wordsim353"]["scored"] == 3 and report["wordsim353"]["oov"] == 1
    assert report["vocabulary"] == 8 and "analogies" in report  # gensim's copy of the Google set


def test_errors(tmp_path):
    words, matrix = ["a", "b"], np.eye(2, dtype=np.float32)
    with pytest.raises(SeqlabError, match="--wordsim .*missing.tsv: file not found"):
        evaluate_vectors(words, matrix, wordsim=str(tmp_path / "missing.tsv"))
    bad = tmp_path / "bad.txt"
    bad.write_text("a b c d\n")
    with pytest.raises(SeqlabError, match="comes before any ': section' header"):
        analogies(VectorSpace.build(words, matrix), bad)
    empty = tmp_path / "empty.tsv"
    empty.write_text("# nothing\n")
    with pytest.raises(SeqlabError, match="no 'word1<TAB>word2<TAB>score' lines"):
        word_pairs(VectorSpace.build(words, matrix), empty)


def test_without_gensim_files_or_paths_the_error_says_how(monkeypatch):
    import seqlab.embedding_eval as ev

    monkeypatch.setattr(ev, "standard_file", lambda name: None)
    with pytest.raises(SeqlabError, match="no evaluation file found: install gensim.*--wordsim"):
        ev.evaluate_vectors(["a"], np.ones((1, 2), dtype=np.float32))


def test_standard_files_come_from_the_gensim_wheel():
    for name in ("wordsim353", "simlex999", "analogies"):
        path = standard_file(name)
        assert path is not None and Path(path).is_file() and "gensim" in str(path)
