"""What a reader of an imbalanced, out-of-domain labelled set needs from ``seqlab evaluate``: balanced accuracy,
the expected calibration error and a reliability diagram, beside accuracy and macro-F1."""

import csv
import json
from pathlib import Path

import pytest
from conftest import make_reviews

import seqlab
from seqlab.cli import main
from seqlab.metrics import calibration, classification_report, format_report


def test_balanced_accuracy_and_macro_f1_see_what_accuracy_hides():
    gold = [0] * 90 + [1] * 10
    pred = [0] * 100  # always the majority class
    report = classification_report(gold, pred, ["neg", "pos"])
    assert report["accuracy"] == pytest.approx(0.9)
    assert report["balanced_accuracy"] == pytest.approx(0.5)  # recall 1.0 on neg, 0.0 on pos
    assert report["macro_f1"] == pytest.approx((2 * 0.9 / 1.9) / 2)  # neg F1 = 2*0.9*1/1.9, pos F1 = 0: ~0.4737
    assert report["macro_f1"] == pytest.approx(0.4737, abs=1e-4)
    line = format_report(report).splitlines()[0]
    assert "accuracy 0.9000" in line and "macro-F1 0.4737" in line and "balanced accuracy 0.5000" in line


def test_balanced_accuracy_averages_only_the_classes_the_gold_labels_have():
    # "mixed" never occurs in the gold labels: its recall is undefined, not 0
    report = classification_report([0, 0, 1, 1], [0, 1, 1, 2], ["neg", "pos", "mixed"])
    assert report["balanced_accuracy"] == pytest.approx((0.5 + 0.5) / 2)
    assert classification_report([], [], ["neg", "pos"])["balanced_accuracy"] == 0.0


def test_ece_on_hand_made_cases():
    # every confidence 0.9, 60% right: one bin, |0.6 - 0.9| = 0.3
    result = calibration([0.9] * 10, [True] * 6 + [False] * 4)
    assert result["ece"] == pytest.approx(0.3)
    assert len(result["bins"]) == 15
    full = [b for b in result["bins"] if b["count"]]
    assert len(full) == 1 and full[0]["count"] == 10
    assert full[0]["accuracy"] == pytest.approx(0.6) and full[0]["confidence"] == pytest.approx(0.9)
    assert full[0]["lo"] < 0.9 <= full[0]["hi"]
    # two bins, weighted by count: 4 at 0.55 all right (gap 0.45), 6 at 0.95 half right (gap 0.45) -> 0.45
    result = calibration([0.55] * 4 + [0.95] * 6, [1] * 4 + [1, 1, 1, 0, 0, 0])
    assert result["ece"] == pytest.approx(0.4 * 0.45 + 0.6 * 0.45)
    # perfectly calibrated and perfectly confident-and-right: 0
    assert calibration([1.0] * 5, [True] * 5)["ece"] == pytest.approx(0.0)
    assert calibration([0.5] * 4, [1, 0, 1, 0])["ece"] == pytest.approx(0.0)
    # the edges: 0 goes to the first bin, 1 (and rounding above it) to the last; a bin is (lo, hi]
    edges = calibration([0.0, 1.0, 1.0 + 1e-12, 1 / 15], [0, 1, 1, 0])["bins"]
    assert edges[0]["count"] == 2 and edges[-1]["count"] == 2
    assert calibration([], [])["ece"] == 0.0
    with pytest.raises(ValueError):
        calibration([0.5, 0.6], [True])


def test_evaluate_reports_balanced_accuracy_ece_and_a_reliability_diagram(tmp_path, capsys):
    train = tmp_path / "train.csv"
    with open(train, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([("review", "sentiment"), *make_reviews(200, seed=3)])
    out = tmp_path / "model"
    seqlab.train("classify", out, data=str(train), text_column="review", label_column="sentiment", model="bag",
                 emb_size=16, buckets=1000, lr=0.05, epochs=2, batch_size=16, min_freq=1, progress=False,
                 log=lambda *_: None)
    # an imbalanced held-out set: 45 negatives, 5 positives
    reviews = make_reviews(400, seed=4)
    rows = [r for r in reviews if r[1] == "neg"][:45] + [r for r in reviews if r[1] == "pos"][:5]
    held_out = tmp_path / "held-out.jsonl"
    held_out.write_text("".join(json.dumps({"review": t, "sentiment": s}) + "\n" for t, s in rows), encoding="utf-8")
    capsys.readouterr()
    assert main(["evaluate", str(out), "--data", str(held_out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["count"] == 50 and 0.0 <= report["balanced_accuracy"] <= 1.0 and 0.0 <= report["ece"] <= 1.0
    recalls = [report["per_class"][lab]["recall"] for lab in report["labels"]]
    assert report["balanced_accuracy"] == pytest.approx(sum(recalls) / len(recalls))
    assert sum(b["count"] for b in report["calibration"]["bins"]) == 50
    png = Path(report["reliability_png"])
    assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png == Path(report["confusion_png"]).with_name("reliability-held-out.jsonl.png")
    # the printed report and an explicit --reliability path
    chosen = tmp_path / "figures" / "calibration.png"
    chosen.parent.mkdir()
    assert main(["evaluate", str(out), "--data", str(held_out), "--reliability", str(chosen)]) == 0
    text = capsys.readouterr().out
    assert "balanced accuracy " in text and "ECE " in text and f"reliability diagram written to {chosen}" in text
    assert chosen.exists()
