"""Translation end to end on a generated toy language: train (API and CLI), save/load, batched = one by one,
beam 1 = greedy, evaluate, attention PNG/HTML, user errors; plus one real-data check on Multi30k."""

from __future__ import annotations

import json
import os
import random
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import seqlab
from seqlab.cli import main
from seqlab.errors import SeqlabError
from seqlab.tasks.translate.recipe import SCHEMA, TranslateTask, search
from seqlab.train import Trainer

DE = ["Hund", "Katze", "Mann", "Frau", "rot", "blau", "läuft", "spielt", "Ball", "Haus", "groß", "klein"]
EN = ["dog", "cat", "man", "woman", "red", "blue", "runs", "plays", "ball", "house", "big", "small"]
SENTENCES = ["Hund rot spielt.", "Katze läuft.", "Mann Frau Haus groß.", "Ball.", "klein blau Hund Katze Mann."]
TINY_RNN = {"model": "rnn", "emb_size": 32, "hidden_size": 64, "dropout": 0.0, "teacher_forcing": 0.8}
TINY_TF = {"model": "transformer", "d_model": 32, "heads": 2, "encoder_layers": 1, "decoder_layers": 2,
           "ff_size": 64, "dropout": 0.0}
COMMON = {"vocab_size": 100, "epochs": 10, "lr": 3e-3, "warmup": 20, "max_tokens": 150, "patience": 20,
          "threads": 1, "progress": False}


def toy_corpus(folder: Path, n: int = 400, seed: int = 0) -> Path:
    """A word-for-word mapping language: German-like words -> English-like words, same order."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, count in (("train", n), ("val", 40), ("test", 40)):
        src, tgt = [], []
        for _ in range(count):
            idx = [rng.randrange(len(DE)) for _ in range(rng.randint(2, 6))]
            src.append(" ".join(DE[i] for i in idx) + ".")
            tgt.append(" ".join(EN[i] for i in idx) + ".")
        (folder / f"{split}.de").write_text("\n".join(src) + "\n", encoding="utf-8")
        (folder / f"{split}.en").write_text("\n".join(tgt) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("translate")
    old = os.environ.get("SEQLAB_CACHE")
    os.environ["SEQLAB_CACHE"] = str(root / "cache")
    yield root
    if old is None:
        os.environ.pop("SEQLAB_CACHE", None)
    else:
        os.environ["SEQLAB_CACHE"] = old


@pytest.fixture(scope="module")
def corpus(env) -> Path:
    return toy_corpus(env / "toy")


@pytest.fixture(scope="module")
def rnn_dir(env, corpus) -> Path:
    out = env / "rnn"
    summary = seqlab.train("translate", out, data=str(corpus), log=lambda *_: None, **TINY_RNN, **COMMON)
    assert summary["best"] > 20, summary["history"][-1]  # the toy language is learnt quickly
    assert summary["stats"]["train_pairs"] == 400
    return out


@pytest.fixture(scope="module")
def tf_dir(env, corpus) -> Path:
    out = env / "tf"
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in {**TINY_TF, **COMMON}.items() if k != "progress"]
    assert main(["train", "translate", "--data", str(corpus), "--out", str(out), "--no-progress", *flags]) == 0
    assert (out / "model.safetensors").is_file() and (out / "text.json").is_file()
    return out


@pytest.mark.slow  # trains the module's tiny translators (~4 s and ~2 s)
def test_rnn_learns_and_translates(rnn_dir):
    model = seqlab.load(rnn_dir)
    out = model.translate(["Hund rot spielt."], beam=3)
    assert isinstance(out[0], str) and out[0]
    metrics = json.loads((rnn_dir / "metrics.json").read_text())
    assert metrics["valid"]["bleu"] > 20
    config = json.loads((rnn_dir / "config.json").read_text())
    assert config["task"] == "translate" and config["config"]["model"]["name"] == "rnn"
    assert config["languages"] == {"src": "de", "tgt": "en"}


@pytest.mark.slow  # trains the module's tiny translators (~4 s and ~2 s)
@pytest.mark.parametrize("which", ["rnn_dir", "tf_dir"])
def test_batched_equals_one_by_one_and_beam1_equals_greedy(which, request):
    model = seqlab.load(request.getfixturevalue(which))
    for beam in (1, 3):
        batched = model.translate(SENTENCES, beam=beam, batch_size=8)
        single = [model.translate([s], beam=beam)[0] for s in SENTENCES]
        assert batched == single
    greedy = model.translate_detailed(SENTENCES, beam=1, method="greedy")
    beam1 = model.translate_detailed(SENTENCES, beam=1, method="beam", length_penalty=0.0)
    assert [g["translation"] for g in greedy] == [b["translation"] for b in beam1]
    assert [g["score"] for g in greedy] == pytest.approx([b["score"] for b in beam1], abs=1e-4)


@pytest.mark.slow  # trains the module's tiny translators (~4 s and ~2 s)
def test_nbest_and_attention_shapes(tf_dir):
    model = seqlab.load(tf_dir)
    r = model.translate_detailed(["Mann Frau Haus groß."], beam=4, nbest=3)[0]
    assert 1 <= len(r["nbest"]) <= 3
    norms = [h["normalized_score"] for h in r["nbest"]]
    assert norms == sorted(norms, reverse=True)
    assert len(r["attention"]) == len(r["tgt_tokens"]) and len(r["attention"][0]) == len(r["src_tokens"])
    src_toks, tgt_toks, maps = model.attention_maps("Mann Frau Haus groß.", r["tgt_ids"])
    assert maps.shape == (2, 2, len(tgt_toks), len(src_toks))
    np.testing.assert_allclose(maps.sum(-1), 1.0, atol=1e-4)
    with pytest.raises(SeqlabError, match="nbest"):
        model.translate_detailed(["Ball."], beam=2, nbest=3)


def test_save_load_round_trip_is_identical(env, corpus):
    config = SCHEMA.apply_flags({}, {"data": str(corpus), "model_name": "rnn", "emb_size": 16, "hidden_size": 32,
                                     "vocab_size": 100, "epochs": 1, "max_tokens": 300, "threads": 1,
                                     "progress": False, "tokenizer": "word"})
    task = TranslateTask(config, log=lambda *_: None)
    Trainer(task, config.train, env / "roundtrip", log=lambda *_: None).fit()
    task.save(env / "roundtrip", {})
    task.model.eval()
    src = [np.asarray(task.toks.src.encode_with_tokens(s)[0]) for s in SENTENCES]
    before = [r["tokens"][0] for r in search(task.model, src, torch.device("cpu"), beam=3)]
    loaded = seqlab.load(env / "roundtrip")
    after = [r["tgt_ids"] for r in loaded.translate_detailed(SENTENCES, beam=3)]
    assert before == after
    assert loaded.toks.src.decode(loaded.toks.src.encode_with_tokens("Hund rot.")[0]) == "Hund rot."


def test_filters_are_counted(env, tmp_path):
    folder = toy_corpus(tmp_path / "c", n=60)
    src = (folder / "train.de").read_text().splitlines()
    tgt = (folder / "train.en").read_text().splitlines()
    src[3], tgt[7] = "", "   "
    src[10] = " ".join(["Hund"] * 30) + "."
    tgt[10] = " ".join(["dog"] * 30) + "."
    (folder / "train.de").write_text("\n".join(src) + "\n")
    (folder / "train.en").write_text("\n".join(tgt) + "\n")
    config = SCHEMA.apply_flags({}, {"data": str(folder), "vocab_size": 60, "max_src_len": 12,
                                     "max_tgt_len": 12, "tokenizer": "word", **{k: TINY_TF[k] for k in TINY_TF
                                                                                if k != "model"}})
    task = TranslateTask(config, log=lambda *_: None)
    assert task.stats["train_dropped_empty"] == 2
    assert task.stats["train_dropped_too_long"] >= 1
    assert task.stats["train_pairs"] == 60 - 2 - task.stats["train_dropped_too_long"]


@pytest.mark.slow  # trains the module's tiny translators (~4 s and ~2 s)
def test_evaluate_reports_bleu(rnn_dir, corpus, capsys):
    assert main(["evaluate", str(rnn_dir), "--data", str(corpus), "--split", "test", "--beam", "2", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    for key in ("bleu", "chrf", "signature", "perplexity", "sentences_per_s", "split", "data"):
        assert key in report
    assert report["bleu"] > 20 and report["pairs"] == 40 and "case:mixed" in report["signature"]


@pytest.mark.slow  # trains the module's tiny translators (~4 s and ~2 s)
def test_cli_translate_json_nbest_and_attention(tf_dir, rnn_dir, tmp_path, capsys):
    assert main(["translate", str(tf_dir), "Hund rot spielt.", "Katze läuft.", "--json", "--beam", "3",
                 "--nbest", "2"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [x["source"] for x in lines] == ["Hund rot spielt.", "Katze läuft."]
    assert all("score" in x and len(x["nbest"]) <= 2 for x in lines)
    png, page = tmp_path / "att.png", tmp_path / "att.html"
    assert main(["translate", str(tf_dir), "Hund rot spielt.", "--attention", str(png), "--layer", "1",
                 "--head", "2"]) == 0
    assert png.stat().st_size > 1000
    assert main(["translate", str(tf_dir), "Hund rot spielt.", "Ball.", "--attention", str(page)]) == 0
    text = page.read_text(encoding="utf-8")
    assert "<script>" in text and "attention-data" in text and "layer 2, head 1" in text
    assert not re.search(r"""(src|href)\s*=\s*["']?https?:""", text)
    assert main(["translate", str(rnn_dir), "Hund.", "--attention", str(tmp_path / "rnn.png")]) == 0
    capsys.readouterr()
    assert main(["translate", str(tf_dir), "Ball.", "--attention", str(tmp_path / "x.png"), "--layer", "5"]) == 2
    assert "--layer 5" in capsys.readouterr().err


def test_tf_schedule_is_refused_for_the_transformer(env, corpus, tmp_path, capsys):
    # the Transformer trains on the gold previous words: a teacher-forcing schedule would do nothing
    args = ["train", "translate", "--data", str(corpus), "--src", "de", "--tgt", "en", "--model", "transformer",
            "--tf-schedule", "constant", "--out", str(tmp_path / "m")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "--tf-schedule applies to the rnn translator" in err and "Traceback" not in err
    assert not (tmp_path / "m").exists()


@pytest.mark.slow  # trains the module's tiny translators (~4 s and ~2 s)
def test_user_errors_exit_2(tf_dir, tmp_path, capsys):
    fake = tmp_path / "clf"
    fake.mkdir()
    (fake / "config.json").write_text(json.dumps({"format": "seqlab-model", "format_version": 1,
                                                  "task": "classify", "config": {}}))
    (fake / "model.safetensors").write_bytes(b"")
    assert main(["translate", str(fake), "Hallo."]) == 2
    assert "'classify' model" in capsys.readouterr().err
    with pytest.raises(SeqlabError, match="not a 'translate' model"):
        seqlab.tasks.translate.predictor.Translator(fake)
    assert main(["translate", str(tmp_path / "none"), "Hallo."]) == 2
    src = tmp_path / "a.de"
    src.write_text("eins\nzwei\n")
    (tmp_path / "a.en").write_text("one\n")
    assert main(["train", "translate", "--data", f"{src},{tmp_path / 'a.en'}", "--out", str(tmp_path / "m")]) == 2
    assert "2 lines but" in capsys.readouterr().err
    assert main(["train", "translate", "--data", f"{src},{tmp_path / 'missing.en'}",
                 "--out", str(tmp_path / "m")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["translate", str(tf_dir), "--file", str(tmp_path / "missing.txt")]) == 2


# ---------------------------------------------------------------------------- real data
def _real_data() -> Path | None:
    root = Path(os.environ.get("SEQLAB_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
    folder = root / "multi30k"
    if folder.is_dir():
        return root
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI needs the real data: {folder} is missing")
    pytest.skip(f"{folder} is not here (set SEQLAB_DATA)")


@pytest.mark.real_data
def test_multi30k_counts_and_bpe_round_trip(monkeypatch, tmp_path):
    root = _real_data()
    monkeypatch.setenv("SEQLAB_DATA", str(root))
    from seqlab.data.parallel import TranslateDataConfig, load_split
    from seqlab.text.subword import SubwordTokenizer

    cfg = TranslateDataConfig(data="multi30k", src="de", tgt="en")
    counts = {s: len(load_split(cfg, s)) for s in ("train", "valid", "test_2016_flickr")}
    assert counts == {"train": 29000, "valid": 1014, "test_2016_flickr": 1000}
    train = load_split(cfg, "train")
    assert train.dropped_empty == 0
    assert "\t" in train.src[7365]  # the one German line with a TAB inside stays whole and aligned
    tok = SubwordTokenizer.train(train.src + train.tgt, "bpe", 8000)
    test = load_split(cfg, "test_2016_flickr")
    for text in [*test.src[:20], *test.tgt[:20], train.src[7365]]:
        ids, _ = tok.encode_with_tokens(text)
        assert tok.decode(ids) == text
