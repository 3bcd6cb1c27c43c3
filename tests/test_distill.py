"""Knowledge distillation (--teacher): the student learns the teacher's probabilities, mixed with the gold labels
by --teacher-weight; the teacher runs once per training set (cached); a wrong teacher is refused before training."""

import csv
import json

import numpy as np
import pytest
import torch
from conftest import make_reviews

import seqlab
from seqlab.errors import SeqlabError
from seqlab.tasks.classify import distill
from seqlab.tasks.classify.distill import mixed_targets

QUIET = dict(progress=False, log=lambda *_: None)


def _write(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return str(path)


def test_mixed_targets_are_the_weighted_sum_of_teacher_and_one_hot_gold():
    teacher = np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]], dtype=np.float32)
    gold = torch.tensor([1, 1, 0])
    assert torch.allclose(mixed_targets(teacher, gold, 1.0), torch.tensor([0.1, 0.8, 0.5]))
    assert torch.allclose(mixed_targets(teacher, gold, 0.0), torch.tensor([1.0, 1.0, 0.0]))
    assert torch.allclose(mixed_targets(teacher, gold, 0.25), torch.tensor([0.775, 0.95, 0.125]))
    three = np.array([[0.7, 0.2, 0.1]], dtype=np.float32)
    out = mixed_targets(three, torch.tensor([2]), 0.5)
    assert out.shape == (1, 3) and torch.allclose(out, torch.tensor([[0.35, 0.1, 0.55]]))


def test_the_student_follows_the_teacher_not_the_gold_labels_when_told_to(tmp_path):
    """A teacher trained on the true labels; the student's data has every label flipped. With --teacher-weight 1
    the student predicts what the teacher does; with weight 0 it learns the (flipped) gold labels."""
    rows = make_reviews(400, seed=2)
    flip = {"neg": "pos", "pos": "neg"}
    true_csv = _write(tmp_path / "true.csv", rows)
    flipped_csv = _write(tmp_path / "flipped.csv", [(t, flip[lab]) for t, lab in rows])
    common = dict(model="bag", epochs=4, embeddings="none", crops=0, **QUIET)
    seqlab.train("classify", data=true_csv, out=str(tmp_path / "teacher"), **common)
    seqlab.train("classify", data=flipped_csv, out=str(tmp_path / "follows"), teacher=str(tmp_path / "teacher"),
                 teacher_weight=1.0, **common)
    seqlab.train("classify", data=flipped_csv, out=str(tmp_path / "gold"), teacher=str(tmp_path / "teacher"),
                 teacher_weight=0.0, **common)
    texts = [t for t, _ in make_reviews(200, seed=9)]
    teacher_model = seqlab.load(tmp_path / "teacher")
    predictions = teacher_model.predict(texts)
    proba = teacher_model.predict_proba(texts)  # what the student learns from: the same numbers, as an array
    assert proba.shape == (len(texts), 2) and proba.dtype == np.float32
    assert np.allclose(proba, [[p["probabilities"][lab] for lab in teacher_model.labels] for p in predictions])
    teacher = [p["label"] for p in predictions]
    follows = [p["label"] for p in seqlab.load(tmp_path / "follows").predict(texts)]
    gold = [p["label"] for p in seqlab.load(tmp_path / "gold").predict(texts)]
    assert np.mean([a == b for a, b in zip(teacher, follows, strict=True)]) > 0.9
    assert np.mean([a != b for a, b in zip(teacher, gold, strict=True)]) > 0.9
    saved = json.loads((tmp_path / "follows" / "config.json").read_text())
    assert saved["config"]["distill"]["teacher"] == str(tmp_path / "teacher")
    assert saved["data_stats"]["teacher_agreement"] < 0.1  # the teacher disagrees with the flipped labels


def test_the_teacher_labels_each_training_set_once_then_comes_from_the_cache(tmp_path, monkeypatch):
    rows = make_reviews(400, seed=5)
    by_label = {lab: [t for t, label in rows if label == lab] for lab in ("neg", "pos")}
    two_sentences = [(f"{a} {b}", lab) for lab, texts in by_label.items() for a, b in zip(texts[::2], texts[1::2], strict=False)]
    data = _write(tmp_path / "r.csv", two_sentences)  # 200 texts of two sentences: crops to cut
    common = dict(data=data, model="bag", epochs=1, embeddings="none", **QUIET)
    seqlab.train("classify", out=str(tmp_path / "teacher"), crops=0, **common)
    calls = []
    real = distill.cached_arrays

    def counting(key, compute):
        def counted():
            calls.append(key["count"])
            return compute()
        return real(key, counted)

    monkeypatch.setattr(distill, "cached_arrays", counting)
    for out in ("s1", "s2"):
        seqlab.train("classify", out=str(tmp_path / out), crops=2, teacher=str(tmp_path / "teacher"), **common)
    assert len(calls) == 1 and calls[0] > 300  # the ~180 training texts and their crops, labelled once
    seqlab.train("classify", out=str(tmp_path / "s3"), crops=1, teacher=str(tmp_path / "teacher"), **common)
    assert len(calls) == 2  # other crops: other texts, labelled again


def test_a_missing_or_wrong_teacher_is_refused_before_training(tmp_path):
    data = _write(tmp_path / "r.csv", make_reviews(120, seed=1))
    with pytest.raises(SeqlabError, match="no such model directory"):
        seqlab.train("classify", data=str(tmp_path / "absent.csv"), out=str(tmp_path / "s"),
                     teacher=str(tmp_path / "nope"), **QUIET)  # before the (missing) data is read
    three = _write(tmp_path / "three.csv", make_reviews(150, seed=1, classes=("neg", "pos", "mixed")))
    seqlab.train("classify", data=three, out=str(tmp_path / "t3"), model="bag", epochs=1, embeddings="none",
                 **QUIET)
    with pytest.raises(SeqlabError, match="must know the same classes"):
        seqlab.train("classify", data=data, out=str(tmp_path / "s"), teacher=str(tmp_path / "t3"), epochs=1,
                     embeddings="none", **QUIET)
    with pytest.raises(SeqlabError, match="teacher-weight"):
        seqlab.train("classify", data=data, out=str(tmp_path / "s"), teacher=str(tmp_path / "t3"),
                     teacher_weight=1.5, **QUIET)
