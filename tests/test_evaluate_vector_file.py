"""``seqlab evaluate VECTORS.txt`` (or glove-6b-50d): a file of pretrained vectors is scored like a trained
embeddings model, not refused as a missing model directory."""

import json

import numpy as np

from seqlab.cli import main


def test_evaluate_scores_a_vectors_file_given_instead_of_a_model_dir(tmp_path, capsys):
    rng = np.random.default_rng(0)
    words = ["king", "queen", "man", "woman", "cat", "dog", "car", "bus"]
    base = {w: rng.normal(size=6) for w in words}
    base["queen"] = base["king"] - base["man"] + base["woman"] + rng.normal(size=6) * 0.01
    vectors = tmp_path / "v.txt"
    vectors.write_text("".join(f"{w} {' '.join(f'{x:.5f}' for x in v)}\n" for w, v in base.items()), encoding="utf-8")
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("cat\tdog\t9\ncar\tbus\t8\nking\tqueen\t7\ncat\tcar\t1\nnope\tcat\t3\n", encoding="utf-8")
    questions = tmp_path / "q.txt"
    questions.write_text(": family\nman woman king queen\nman woman king nope\n", encoding="utf-8")
    code = main(["evaluate", str(vectors), "--wordsim", str(pairs), "--simlex", str(pairs), "--analogies",
                 str(questions), "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["vocabulary"] == len(words)
    assert report["wordsim353"]["oov"] == 1 and report["wordsim353"]["scored"] == 4  # "nope": counted, skipped
    analogies = report["analogies"]
    assert (analogies["correct"], analogies["total"], analogies["oov"]) == (1, 1, 1)  # queen = king - man + woman
    assert analogies["sections"] == [{"section": "family", "correct": 1, "total": 1, "oov": 1, "accuracy": 1.0}]
