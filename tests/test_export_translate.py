"""Translator exports: encoder + decoder-step graphs verified against torch at export time, greedy/beam search over
ONNX Runtime with the search code torch runs (seqlab.search), int8, the torch-free runtime, CLI, serving, bad input."""

import json
import os
import shutil
import subprocess
import sys
from functools import cache, lru_cache
from pathlib import Path

import numpy as np
import pytest
import torch
from test_decode import EOS, PAD, SOS, TableModel, new_rnn, new_transformer, sources
from test_translate_task import COMMON, toy_corpus

import seqlab
from seqlab import search
from seqlab.cli import main
from seqlab.decode import beam_search, greedy_search
from seqlab.errors import SeqlabError

SRC = str(Path(__file__).resolve().parents[1] / "src")
TEXTS = ["Hund rot spielt.", "Katze läuft.", "", "Mann Frau Haus groß klein blau Hund Katze Mann Ball."]
MODELS = {"rnn": {"model": "rnn", "emb_size": 16, "hidden_size": 32, "dropout": 0.0},
          "lstm": {"model": "rnn", "cell": "lstm", "layers": 2, "emb_size": 16, "hidden_size": 32, "dropout": 0.0,
                   "attention": "general"},
          "transformer": {"model": "transformer", "d_model": 32, "heads": 2, "encoder_layers": 1, "decoder_layers": 2,
                          "ff_size": 64, "dropout": 0.0}}


# ---------------------------------------------------------------- one search, two array libraries (fast)
class NumpyView:
    """A torch seq2seq model seen through numpy arrays: what an export's predictor gives seqlab.search."""

    def __init__(self, model):
        self.model = model

    class State:
        def __init__(self, state):
            self.state = state

        def index_select(self, rows):
            return NumpyView.State(self.state.index_select(torch.from_numpy(np.asarray(rows))))

    def encode(self, src, lengths):
        return self.State(self.model.encode(torch.from_numpy(src), torch.from_numpy(lengths)))

    def decode_step(self, state, prev):
        log_probs, attention, new = self.model.decode_step(state.state, torch.from_numpy(prev))
        return log_probs.numpy(), attention.float().numpy(), self.State(new)


def assert_same(a, b, tol=1e-5):
    assert a.tokens == b.tokens
    for x, y in ((a.scores, b.scores), (a.normalized_scores, b.normalized_scores)):
        for sx, sy in zip(x, y, strict=True):
            assert sx == pytest.approx(sy, abs=tol)
    for ax, ay in zip(a.attention, b.attention, strict=True):
        for x, y in zip(ax, ay, strict=True):
            np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=tol)


@pytest.mark.parametrize("arch", ["rnn", "transformer", "table"])
def test_the_numpy_search_is_the_torch_search(arch):
    """seqlab.search over numpy arrays (the ONNX runtime) gives what seqlab.decode gives over tensors."""
    model = TableModel() if arch == "table" else {"rnn": new_rnn, "transformer": new_transformer}[arch](seed=5).eval()
    src, lengths = sources(9, seed=7) if arch != "table" else (torch.tensor([[5, 6, 7], [5, 6, 0]]), torch.tensor([3, 2]))
    view, s, n = NumpyView(model), src.numpy(), lengths.numpy()
    with torch.no_grad():
        assert_same(greedy_search(model, src, lengths, SOS, EOS, pad_id=PAD),
                    search.greedy(view, s, n, SOS, EOS, pad_id=PAD))
        for beam, alpha, nbest in ((1, 0.0, 1), (3, 0.6, 2), (5, 1.0, 5)):
            assert_same(beam_search(model, src, lengths, SOS, EOS, beam_size=beam, length_penalty=alpha, nbest=nbest,
                                    pad_id=PAD),
                        search.beam(view, s, n, SOS, EOS, beam_size=beam, length_penalty=alpha, nbest=nbest, pad_id=PAD))


def test_numpy_topk_orders_like_torch_and_breaks_ties_by_the_lower_index():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 40)).astype(np.float32)
    x[:, 3] = x[:, 7] = 9.0  # a tie at the top: the lower index first
    x[1, :] = -np.inf
    x[1, 2] = 0.0
    for k in (1, 4, 40):
        values, index = search.NUMPY.topk(x, k)
        want_v, want_i = torch.from_numpy(x).topk(k, dim=-1)
        np.testing.assert_array_equal(values, want_v.numpy())
        distinct = np.isfinite(values) & (values != 9.0)  # torch orders tied values as it likes
        np.testing.assert_array_equal(index[distinct], want_i.numpy()[distinct])
    assert search.NUMPY.topk(x, 2)[1][0].tolist() == [3, 7]


# ---------------------------------------------------------------- trained toy translators, exported
@lru_cache(maxsize=1)
def _root() -> Path:
    import tempfile

    return Path(tempfile.mkdtemp(prefix="seqlab-export-translate-"))


@cache
def corpus() -> Path:
    return toy_corpus(_root() / "toy", n=300)


@cache
def trained(kind: str) -> Path:
    out = _root() / kind
    os.environ.setdefault("SEQLAB_CACHE", str(_root() / "cache"))
    seqlab.train("translate", out, data=str(corpus()), log=lambda *_: None, **MODELS[kind],
                 **{**COMMON, "epochs": 4 if kind != "lstm" else 1, "max_src_len": 24, "max_tgt_len": 24})
    return out


@cache
def exported(kind: str, quantize: str | None = None) -> Path:
    from seqlab.export.exporter import export_model

    out = _root() / f"{kind}-{quantize or 'fp32'}.export"
    export_model(trained(kind), out, quantize=quantize, log=lambda *_: None)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(MODELS))
def test_every_translator_exports_verified_and_translates_like_torch(kind):
    folder = exported(kind)
    config = json.loads((folder / "export.json").read_text())
    cases = config["verification"]["cases"]
    assert {c.split(",")[0] for c in cases} == {"batch 1", "batch 7", "batch 64"} and len(cases) == 12
    assert {c.split(", ")[1] for c in cases} == {"length 1", "length 8", "length 24", "length 32"}
    assert config["verification"]["max_abs_diff"]["log_probs"] <= 1e-4
    assert set(config["graphs"]) == {"encoder", "decoder"}
    onnx_model, torch_model = seqlab.load(folder), seqlab.load(trained(kind))
    assert type(onnx_model).__name__ == "OnnxTranslator"
    for beam, nbest in ((1, 1), (4, 3)):
        got = onnx_model.translate_detailed(TEXTS, beam=beam, nbest=nbest)
        want = torch_model.translate_detailed(TEXTS, beam=beam, nbest=nbest)
        for g, w in zip(got, want, strict=True):
            assert [h["translation"] for h in g["nbest"]] == [h["translation"] for h in w["nbest"]]
            assert [h["score"] for h in g["nbest"]] == pytest.approx([h["score"] for h in w["nbest"]], abs=1e-4)
            assert g["tgt_tokens"] == w["tgt_tokens"] and g["src_tokens"] == w["src_tokens"]
            np.testing.assert_allclose(np.array(g["attention"]), np.array(w["attention"]), atol=1e-4)
    assert onnx_model.translate([TEXTS[2]]) == [""]  # an empty source: an empty translation, as torch
    pairs = (["Hund rot.", "Katze läuft."], ["dog red.", "cat runs."])
    assert onnx_model.perplexity(*pairs) == pytest.approx(torch_model.perplexity(*pairs), rel=1e-4)


@pytest.mark.slow
def test_int8_translator_scores_validation_bleu_and_translates():
    folder = exported("transformer", "int8")
    q = json.loads((folder / "export.json").read_text())["quantized"]
    assert q["kind"] == "int8" and q["fp32"]["sentences"] == q["int8"]["sentences"] == 40 and q["fp32"]["beam"] == 1
    assert 0 <= q["int8"]["bleu"] <= 100 and abs(q["int8"]["bleu"] - q["fp32"]["bleu"]) < 30
    assert sum(q["int8_bytes"].values()) < sum(q["fp32_bytes"].values())
    assert all(isinstance(t, str) for t in seqlab.load(folder).translate(TEXTS, beam=3))


@pytest.mark.slow
def test_the_translator_runtime_needs_no_torch():
    folder = exported("rnn")
    code = ("import sys, json; sys.modules['torch'] = None\nimport seqlab\n"
            f"m = seqlab.load({str(folder)!r})\n"
            f"print(json.dumps([m.translate({TEXTS!r}, beam=1), m.translate({TEXTS!r}, beam=3)]))\n"
            "assert sys.modules['torch'] is None\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": SRC}, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    torch_model = seqlab.load(trained("rnn"))
    assert json.loads(done.stdout) == [torch_model.translate(TEXTS, beam=1), torch_model.translate(TEXTS, beam=3)]


@pytest.mark.slow
def test_cli_translate_evaluate_and_attention_on_an_export(tmp_path, capsys):
    folder, model_dir = exported("transformer"), trained("transformer")
    outputs = []
    for path in (model_dir, folder):
        assert main(["translate", str(path), *TEXTS[:2], "--beam", "1", "--json", "--threads", "1"]) == 0
        outputs.append([json.loads(line)["translation"] for line in capsys.readouterr().out.splitlines()])
    assert outputs[0] == outputs[1]
    page = tmp_path / "att.html"
    assert main(["translate", str(folder), TEXTS[0], "--beam", "1", "--attention", str(page)]) == 0
    assert page.stat().st_size > 0 and "attention written" in capsys.readouterr().err
    reports = []
    for path in (model_dir, folder):
        assert main(["evaluate", str(path), "--data", str(corpus()), "--json", "--beam", "1"]) == 0
        reports.append(json.loads(capsys.readouterr().out))
    assert reports[0]["bleu"] == pytest.approx(reports[1]["bleu"], abs=1e-9)
    assert reports[0]["perplexity"] == pytest.approx(reports[1]["perplexity"], rel=1e-4)
    assert reports[0]["pairs"] == reports[1]["pairs"] == 40


@pytest.mark.slow
def test_a_translator_export_is_served_beside_its_model_directory():
    from fastapi.testclient import TestClient

    from seqlab.serve.app import create_app
    from seqlab.serve.loading import load_models

    models = load_models([f"onnx={exported('rnn')}", f"torch={trained('rnn')}"], log=lambda *_: None)
    with TestClient(create_app(models)) as client:
        answers = [client.post(f"/v1/models/{name}/translate", json={"texts": TEXTS[:2], "beam": 2, "nbest": 2,
                                                                      "attention": True}).json()
                   for name in ("onnx", "torch")]
        for got, want in zip(answers[0]["results"], answers[1]["results"], strict=True):
            assert got["translation"] == want["translation"] and got["tgt_tokens"] == want["tgt_tokens"]
            assert [h["translation"] for h in got["nbest"]] == [h["translation"] for h in want["nbest"]]
        assert client.get("/v1/models/onnx").json()["config"]["export"] == "onnx"


@pytest.mark.slow
def test_damaged_translator_exports_and_unexportable_parts_get_one_clear_error(tmp_path, capsys):
    truncated = Path(shutil.copytree(exported("rnn"), tmp_path / "truncated"))
    graph = truncated / "decoder.onnx"
    graph.write_bytes(graph.read_bytes()[:200])
    missing = Path(shutil.copytree(exported("rnn"), tmp_path / "missing"))
    (missing / "encoder.onnx").unlink()
    for folder, message in ((truncated, "cannot run"), (missing, "incomplete")):
        assert main(["translate", str(folder), "Hund"]) == 2
        err = capsys.readouterr().err
        assert err.count("seqlab: error:") == 1 and message in err and "Traceback" not in err, err
    assert main(["generate", str(exported("rnn")), "--prompt", "the"]) == 2  # an export of another task
    assert "exported 'translate' model" in capsys.readouterr().err
    onnx_model = seqlab.load(exported("transformer"))
    with pytest.raises(SeqlabError, match="target positions"):  # past the exported positions table
        onnx_model.translate(["Hund " * 400], beam=1)
    from seqlab.tasks.translate.export import _graphs

    with pytest.raises(SeqlabError, match="cannot export a Linear translator"):
        _graphs(torch.nn.Linear(2, 2))
