import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_reviews
from safetensors.torch import load_file

import seqlab
from seqlab.cli import main
from seqlab.data.batching import pad_batch
from seqlab.errors import SeqlabError

COLUMNS = {"text_column": "review", "label_column": "sentiment"}


def _train(data, out, **settings):
    base = {"data": str(data), **COLUMNS, "epochs": 3, "progress": False, "batch_size": 16, "min_freq": 1}
    return seqlab.train("classify", out, log=lambda *_: None, **{**base, **settings})


@pytest.mark.parametrize("settings", [
    {"model": "bag", "weighting": "mean", "emb_size": 16, "buckets": 1000, "lr": 0.05},
    {"model": "bag", "weighting": "nb", "ngrams": 2, "buckets": 1000, "lr": 0.05},
    {"model": "rnn", "emb_size": 16, "hidden_size": 16, "lr": 0.01},
    {"model": "transformer", "d_model": 16, "heads": 2, "layers": 1, "ff_size": 32, "lr": 0.003, "epochs": 4,
     "schedule": "none"},  # the recipe's cosine decay is for IMDB-sized runs
])
def test_each_model_learns_and_reloads_identically(tmp_path, reviews_csv, settings):
    out = tmp_path / "model"
    summary = _train(reviews_csv, out, **settings)
    assert summary["best"] >= 0.9, summary["history"]
    for name in ("config.json", "text.json", "model.safetensors", "metrics.json", "curves.png", "metrics.jsonl"):
        assert (out / name).exists(), name
    texts = ["A wonderful superb film.", "Dull and tedious plot.", "", "   "]
    first = seqlab.load(out).predict(texts)
    second = seqlab.load(out).predict(texts)
    assert first == second
    assert first[0]["label"] == "pos" and first[1]["label"] == "neg"
    assert first[2]["confidence"] == pytest.approx(0.5)  # empty text: defined, uniform
    config = json.loads((out / "config.json").read_text())
    assert config["task"] == "classify" and config["labels"] == ["neg", "pos"]
    assert config["config"]["model"]["name"] == settings["model"]
    assert "torch" in config["versions"]


def test_multiclass_cross_entropy_and_explain(tmp_path, reviews_jsonl):
    out = tmp_path / "m"
    summary = seqlab.train("classify", out, data=str(reviews_jsonl), model="rnn", emb_size=16, hidden_size=16,
                           epochs=4, lr=0.01, min_freq=1, progress=False, log=lambda *_: None)
    assert summary["best"] > 0.8
    clf = seqlab.load(out)
    assert clf.labels == ["mixed", "neg", "pos"]
    result = clf.explain(["a superb and wonderful movie"])[0]
    assert result["label"] == "pos"
    assert result["tokens"] == ["a", "superb", "and", "wonderful", "movie"]
    assert len(result["attention"]) == 5 and sum(result["attention"]) == pytest.approx(1.0, abs=1e-4)
    assert all(w > 0 for w in result["attention"])


def test_batched_prediction_equals_one_by_one(tmp_path, reviews_csv):
    out = tmp_path / "m"
    _train(reviews_csv, out, model="rnn", emb_size=8, hidden_size=8, epochs=1)
    clf = seqlab.load(out)
    texts = ["great film", "a dull, dull, boring and terrible story of a camera", "plot", "superb"]
    together = clf.predict(texts, batch_size=3)
    alone = [clf.predict([t])[0] for t in texts]
    for a, b in zip(together, alone, strict=True):
        assert a["label"] == b["label"] and a["confidence"] == pytest.approx(b["confidence"], abs=1e-5)
    with pytest.raises(SeqlabError, match="list of strings"):  # not one prediction per character
        clf.predict("great film")


@pytest.mark.parametrize("model", ["bag", "rnn"])
def test_worker_processes_give_the_same_predictions_and_explanations(tmp_path, reviews_csv, monkeypatch, model):
    out = tmp_path / "m"
    sizes = {"buckets": 1000} if model == "bag" else {"hidden_size": 8}
    _train(reviews_csv, out, model=model, emb_size=8, epochs=1, **sizes)
    monkeypatch.setattr("seqlab.tasks.classify.predictor.ENCODE_CHUNK", 7)  # many small chunks, the last one short
    clf = seqlab.load(out)
    texts = [text for text, _ in make_reviews(40, seed=5)] + ["", "superb"]
    alone = clf.predict(texts, batch_size=8, workers=0)
    seen: list[int] = []  # the intra-op threads of each model call
    hook = clf.model.register_forward_pre_hook(lambda module, args: seen.append(torch.get_num_threads()))
    threads = torch.get_num_threads()
    torch.set_num_threads(3)  # not the conftest's 1, which a missing restore would leave behind unseen
    try:
        parallel = clf.predict(texts, batch_size=8, workers=2)  # other batches: equal up to float rounding
        assert seen and set(seen) == {1}  # prediction runs on one thread meanwhile (pytest runs it on the main thread)
        assert torch.get_num_threads() == 3  # then gives them back
    finally:
        torch.set_num_threads(threads)
        hook.remove()
    assert [p["label"] for p in parallel] == [p["label"] for p in alone]
    assert [p["confidence"] for p in parallel] == pytest.approx([p["confidence"] for p in alone], abs=1e-5)
    assert clf._workers(None, len(texts)) == (min(4, os.cpu_count() or 1) if model == "bag" else 0)
    if model == "rnn":
        explained, expected = clf.explain(texts, workers=2), clf.explain(texts, workers=0)
        assert [e["tokens"] for e in explained] == [e["tokens"] for e in expected]
        for e, x in zip(explained, expected, strict=True):
            assert e["attention"] == pytest.approx(x["attention"], abs=1e-5)


@pytest.mark.slow  # trains three times
def test_resume_continues_exactly(tmp_path, reviews_csv):
    """2 epochs straight == 1 epoch, stop, resume for the 2nd (weights, RNG, optimizer all restored)."""
    settings = {"model": "rnn", "emb_size": 8, "hidden_size": 8, "patience": None}
    _train(reviews_csv, tmp_path / "straight", epochs=2, **settings)
    _train(reviews_csv, tmp_path / "resumed", epochs=1, **settings)
    summary = _train(reviews_csv, tmp_path / "resumed", epochs=2, resume=True, **settings)
    assert summary["epochs_run"] == 2
    a = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=True)["model"]
    for name in a:
        assert torch.equal(a[name], b[name]), name
    lines = (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [1, 2]


@pytest.mark.slow  # trains twice
def test_refuses_to_overwrite_and_resume_without_checkpoint(tmp_path, reviews_csv):
    out = tmp_path / "m"
    _train(reviews_csv, out, model="bag", buckets=1000, epochs=1)
    with pytest.raises(SeqlabError, match="already holds a model"):
        _train(reviews_csv, out, model="bag", buckets=1000, epochs=1)
    with pytest.raises(SeqlabError, match="no checkpoint"):
        _train(reviews_csv, tmp_path / "fresh", model="bag", resume=True)


def test_cli_train_predict_evaluate(tmp_path, reviews_csv, capsys):
    out = tmp_path / "cli"
    code = main(["train", "classify", "--data", str(reviews_csv), "--text-column", "review", "--label-column",
                 "sentiment", "--model", "bag", "--emb-size", "16", "--buckets", "1000", "--lr", "0.05", "--epochs", "2",
                 "--min-freq", "1", "--no-progress", "--out", str(out)])
    assert code == 0
    capsys.readouterr()
    assert main(["predict", str(out), "superb wonderful", "awful dull", "--json"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["label"] for x in lines] == ["pos", "neg"] and 0.5 < lines[0]["confidence"] <= 1
    assert main(["evaluate", str(out), "--data", str(reviews_csv), "--split", "test", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["accuracy"] > 0.9 and report["count"] == 400
    assert sum(map(sum, report["confusion"])) == 400
    assert Path(report["confusion_png"]).exists() and report["split"] == "whole"  # a file: evaluated whole


def test_cli_user_errors_exit_2_without_traceback(tmp_path, reviews_csv, capsys):
    cases = [
        ["train", "classify", "--data", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "a")],
        ["train", "classify", "--data", str(reviews_csv), "--out", str(tmp_path / "b")],  # wrong columns
        ["train", "classify", "--model", "bag", "--cell", "gru", "--out", str(tmp_path / "c")],
        ["predict", str(tmp_path / "no-model"), "text"],
        ["evaluate", str(tmp_path)],
    ]
    for argv in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("seqlab: error:") and "Traceback" not in err


def test_damaged_or_foreign_model_directory(tmp_path, reviews_csv, capsys):
    out = tmp_path / "m"
    _train(reviews_csv, out, model="bag", weighting="mean", buckets=1000, epochs=1)
    config = json.loads((out / "config.json").read_text())
    config["task"] = "translate"
    (out / "config.json").write_text(json.dumps(config))
    assert main(["predict", str(out), "hello"]) == 2
    assert "translate" in capsys.readouterr().err
    config["task"] = "classify"
    (out / "config.json").write_text(json.dumps(config))
    state = {k: v.clone() for k, v in load_file(str(out / "model.safetensors")).items()}  # no mmap kept
    (out / "model.safetensors").write_bytes(b"not weights")
    with pytest.raises(SeqlabError, match="damaged"):
        seqlab.load(out)
    from safetensors.torch import save_file

    state.pop("head.bias")
    save_file(state, str(out / "model.safetensors"))
    with pytest.raises(SeqlabError, match="does not fit"):
        seqlab.load(out)


def test_non_utf8_training_file(tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"text,label\ngood,1\nbad \xff,0\n")
    assert main(["train", "classify", "--data", str(path), "--out", str(tmp_path / "m")]) == 2
    assert "line 3 is not valid UTF-8" in capsys.readouterr().err


def test_long_texts_are_truncated_and_counted(tmp_path):
    path = tmp_path / "long.tsv"
    rows = [f"{' '.join(['great'] * 300)}\tpos" if i % 2 else f"{' '.join(['awful'] * 300)}\tneg" for i in range(40)]
    path.write_text("text\tlabel\n" + "\n".join(rows) + "\n", encoding="utf-8")
    summary = seqlab.train("classify", tmp_path / "m", data=str(path), model="bag", buckets=1000, max_len=50, epochs=1,
                           min_freq=1, progress=False, log=lambda *_: None)
    assert summary["stats"]["train_truncated_at_max_len"] == summary["stats"]["train_examples"]


def test_cli_config_file_and_stdin(tmp_path, reviews_csv, capsys, monkeypatch):
    config = tmp_path / "run.toml"
    config.write_text(f'[data]\ndata = "{reviews_csv}"\ntext_column = "review"\nlabel_column = "sentiment"\n\n'
                      '[model]\nname = "bag"\nbuckets = 1000\nemb_size = 16\n\n[text]\nmin_freq = 1\n\n'
                      '[train]\nepochs = 1\nlr = 0.05\nprogress = false\n')
    out = tmp_path / "m"
    assert main(["train", "classify", "--config", str(config), "--epochs", "2", "--out", str(out)]) == 0
    saved = json.loads((out / "config.json").read_text())["config"]
    assert saved["train"]["epochs"] == 2 and saved["model"]["buckets"] == 1000  # flag beat the file
    capsys.readouterr()

    class Stdin:
        buffer = __import__("io").BytesIO(b"superb wonderful\nawful dull\n")

        def isatty(self):
            return False

    monkeypatch.setattr("sys.stdin", Stdin())
    assert main(["predict", str(out)]) == 0
    assert [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()] == ["pos", "neg"]


def test_hub_fallback_when_nothing_local(monkeypatch, tmp_path):
    """No path, no $SEQLAB_DATA/imdb: the hub is asked (a stand-in `datasets` module here, as CI is offline)."""
    import sys
    import types

    class FakeSplit(dict):
        features = {"label": types.SimpleNamespace(names=["neg", "pos"])}

    calls = []

    def load_dataset(name, split):
        calls.append((name, split))
        return FakeSplit(text=["good", "bad"], label=[1, 0])

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    monkeypatch.setenv("SEQLAB_DATA", str(tmp_path))
    from seqlab.data.classification import ClassifyDataConfig, load_split

    data = load_split(ClassifyDataConfig(data="imdb"), "test")
    assert calls == [("stanfordnlp/imdb", "test")]
    assert data.texts == ["good", "bad"] and data.labels == ["pos", "neg"]


def test_embeddings_that_do_not_fit_the_model_are_refused_clearly(tmp_path, reviews_csv, capsys):
    vectors = tmp_path / "tiny.txt"
    vectors.write_text("great 1 2 3 4 5 6\nawful 6 5 4 3 2 1\n", encoding="utf-8")
    common = ["train", "classify", "--data", str(reviews_csv), "--text-column", "review", "--label-column",
              "sentiment", "--no-progress", "--embeddings", str(vectors)]
    # an nb bag takes them now, as averaged features beside its n-grams (issue 21), sized from the file
    assert main([*common, "--model", "bag", "--weighting", "nb", "--epochs", "1", "--out", str(tmp_path / "a")]) == 0
    assert json.loads((tmp_path / "a" / "config.json").read_text())["config"]["model"]["vector_features"] == 6
    capsys.readouterr()
    assert main([*common, "--model", "transformer", "--heads", "4", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "6-dimensional vectors, which 4 attention heads do not divide" in err and "Traceback" not in err


def test_evaluate_rebuilds_the_validation_split_and_takes_a_file_whole(tmp_path, reviews_csv, capsys):
    out = tmp_path / "m"
    summary = _train(reviews_csv, out, model="bag", emb_size=16, buckets=1000, lr=0.05)
    assert main(["evaluate", str(out), "--split", "valid", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["accuracy"] == pytest.approx(summary["best"])  # the very split training validated on
    assert report["count"] == 40  # 10% of 400
    numeric = tmp_path / "numeric.jsonl"  # the user's own file, labelled 0/1 instead of neg/pos
    rows = make_reviews(50, seed=9)
    numeric.write_text("".join(json.dumps({"text": t, "label": int(lab == "pos")}) + "\n" for t, lab in rows))
    assert main(["evaluate", str(out), "--data", str(numeric), "--text-column", "text", "--label-column", "label"]) == 2
    assert "--label-map 0=neg,1=pos" in capsys.readouterr().err
    assert main(["evaluate", str(out), "--data", str(numeric), "--text-column", "text", "--label-column", "label",
                 "--label-map", "0=neg,1=pos", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["count"] == 50 and report["accuracy"] > 0.8  # the whole file, whatever --split says
    assert main(["predict", str(out), "--json", "Superb, moving film.", "--batch-size", "2", "Dull and tedious."]) == 0
    assert [json.loads(line)["text"] for line in capsys.readouterr().out.splitlines()] == [
        "Superb, moving film.", "Dull and tedious."]  # options may sit among the texts


@pytest.mark.parametrize("weighting", ["nb", "mean"])
def test_bag_explanations_are_exact_contributions_that_sum_to_the_logit(tmp_path, reviews_csv, weighting):
    out = tmp_path / "bag"
    _train(reviews_csv, out, model="bag", weighting=weighting, ngrams=2, buckets=5000, emb_size=16, lr=0.05)
    clf = seqlab.load(out)
    text = "A superb and moving film, superb acting."
    result = clf.explain([text])[0]
    assert result["method"] == "linear"
    ids = [clf.model.features(np.asarray(clf.pipeline.encode_many([text])[0], dtype=np.int64))]
    padded, lengths = pad_batch(ids, clf.pad_id)
    with torch.no_grad():
        logit = float(clf.model(padded, lengths).logits[0, 0])
    sign = 1.0 if result["label"] == "pos" else -1.0
    assert result["logit"] == pytest.approx(sign * logit, abs=1e-4)
    assert result["bias"] + sum(s for _, s in result["contributions"]) == pytest.approx(result["logit"], abs=1e-4)
    assert any(" " in t for t, _ in result["contributions"])  # bigrams are explained too
    best = max(result["contributions"], key=lambda p: p[1])[0]
    assert "superb" in best or "moving" in best


def test_every_classifier_explains_itself_and_writes_a_page(tmp_path, reviews_csv, capsys):
    out = tmp_path / "tf"
    _train(reviews_csv, out, model="transformer", d_model=16, heads=2, layers=1, ff_size=32, lr=0.003, epochs=4,
           max_len=64)
    clf = seqlab.load(out)
    result = clf.explain(["A superb film.", "Dull, boring, tedious."])
    for r, word in zip(result, ["superb", "boring"], strict=True):
        assert r["method"] == "integrated gradients" and len(r["token_scores"]) == len(r["tokens"])
        top = max(r["token_scores"], key=lambda p: abs(p[1]))
        assert top[0] in (word, "dull", "tedious", "superb") and top[1] > 0  # the evidence supports the label
    page = tmp_path / "why.html"
    assert main(["predict", str(out), "--explain", "--html", str(page), "A superb film."]) == 0
    printed = capsys.readouterr().out
    assert "integrated gradients" in printed and "superb:+" in printed
    html = page.read_text(encoding="utf-8")
    assert "superb" in html and "<script" not in html and "http" not in html.split("<body>")[1]
