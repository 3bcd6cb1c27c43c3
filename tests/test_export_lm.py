"""Language-model exports: the step graph with its state / key-value cache verified against torch at export time,
perplexity and generation (sampling options as torch's) over ONNX Runtime, int8, torch-free, CLI, serving."""

import json
import os
import random
import subprocess
import sys
from functools import cache, lru_cache
from pathlib import Path

import numpy as np
import pytest
import torch

import seqlab
from seqlab import decode, search
from seqlab.cli import main

SRC = str(Path(__file__).resolve().parents[1] / "src")
WORDS = "the cat sat on a mat and dog ran to park with big red ball first in".split()
COMMON = {"tokenizer": "word", "epochs": 2, "max_time": None, "progress": False, "log": lambda *_: None, "threads": 1}
MODELS = {"rnn": {"emb_size": 16, "hidden_size": 16, "batch_size": 4, "bptt": 12, "cutoffs": "6,12"},  # adaptive
          "gru": {"cell": "gru", "layers": 1, "emb_size": 16, "hidden_size": 24, "batch_size": 4, "bptt": 12,
                  "softmax": "full", "tie_weights": False},
          "transformer": {"model": "transformer", "d_model": 16, "heads": 2, "layers": 2, "ff_size": 32,
                          "context": 16, "batch_size": 8, "positions": "sinusoidal"}}


# ---------------------------------------------------------------- the numpy sampling filters are torch's (fast)
@pytest.mark.parametrize("seed", range(3))
def test_numpy_sampling_filters_equal_torch(seed):
    rng = np.random.default_rng(seed)
    scores = np.log(rng.dirichlet(np.ones(30), size=4)).astype(np.float32)
    scores[0, 5] = -np.inf
    previous = rng.integers(0, 30, size=(4, 6))
    t_scores, t_prev = torch.from_numpy(scores), torch.from_numpy(previous)
    for penalty in (1.0, 1.3, 0.7):
        np.testing.assert_allclose(search.repetition_penalty(scores, previous, penalty),
                                   decode.repetition_penalty(t_scores, t_prev, penalty).numpy(), rtol=1e-6)
    for k in (0, 1, 5, 29):
        np.testing.assert_array_equal(search.top_k_filter(scores, k), decode.top_k_filter(t_scores, k).numpy())
    for p in (0.1, 0.5, 0.9, 1.0):
        np.testing.assert_array_equal(np.isfinite(search.top_p_filter(scores, p)),
                                      np.isfinite(decode.top_p_filter(t_scores, p).numpy()))
    config = search.SamplingConfig(temperature=0)
    assert search.choose_next(scores, previous, config, np.random.default_rng(0)).tolist() == \
        decode.choose_next(t_scores, t_prev, config).tolist()


def test_numpy_sampling_draws_only_allowed_tokens_and_follows_the_distribution():
    rng = np.random.default_rng(1)
    probs = np.array([[0.5, 0.3, 0.15, 0.05, 0.0]], dtype=np.float32)
    with np.errstate(divide="ignore"):
        log_probs = np.log(np.repeat(probs, 4000, axis=0))  # a token of probability 0: -inf
    top2 = search.choose_next(log_probs, np.zeros((4000, 0), dtype=np.int64), search.SamplingConfig(top_k=2), rng)
    assert set(top2.tolist()) == {0, 1}
    drawn = search.choose_next(log_probs, np.zeros((4000, 0), dtype=np.int64), search.SamplingConfig(), rng)
    counts = np.bincount(drawn, minlength=5) / 4000
    np.testing.assert_allclose(counts, probs[0], atol=0.03)
    assert counts[4] == 0


# ---------------------------------------------------------------- trained toy language models, exported
@lru_cache(maxsize=1)
def _root() -> Path:
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="seqlab-export-lm-"))
    rng = random.Random(0)
    (root / "story.txt").write_text(
        "\n".join(" ".join(rng.choices(WORDS, k=rng.randint(3, 10))) for _ in range(300)) + "\n", encoding="utf-8")
    return root


@cache
def trained(kind: str) -> Path:
    out = _root() / kind
    os.environ.setdefault("SEQLAB_CACHE", str(_root() / "cache"))
    seqlab.train("lm", out, data=str(_root() / "story.txt"), **MODELS[kind], **COMMON)
    return out


@cache
def exported(kind: str, quantize: str | None = None) -> Path:
    from seqlab.export.exporter import export_model

    out = _root() / f"{kind}-{quantize or 'fp32'}.export"
    export_model(trained(kind), out, quantize=quantize, log=lambda *_: None)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(MODELS))
def test_every_language_model_exports_verified_and_scores_like_torch(kind):
    folder = exported(kind)
    config = json.loads((folder / "export.json").read_text())
    cases = config["verification"]["cases"]
    assert {c.split(",")[0] for c in cases} == {"batch 1", "batch 7", "batch 64"}
    assert {c.split(", ")[1] for c in cases} == {"length 1", "length 8", "length 12" if kind != "transformer"
                                                  else "length 16"}
    diff = config["verification"]["max_abs_diff"]
    assert max(diff.values()) <= 1e-4 and {"log_probs", "nll", "step_log_probs"} <= set(diff)
    onnx_model, torch_model = seqlab.load(folder), seqlab.load(trained(kind))
    assert type(onnx_model).__name__ == "OnnxLanguageModel"
    lines = ["the cat sat on a mat", "a dog ran to the park with a big red ball", "the cat"]
    assert onnx_model.perplexity(lines) == pytest.approx(torch_model.perplexity(lines), rel=1e-5)
    for g, w in zip(onnx_model.token_logprobs(lines[:2]), torch_model.token_logprobs(lines[:2]), strict=True):
        assert [t["token"] for t in g] == [t["token"] for t in w]
        assert [t["logprob"] for t in g] == pytest.approx([t["logprob"] for t in w], abs=1e-4)
    # greedy generation longer than the Transformer's context: the window restart is torch's
    greedy = {"max_tokens": 40, "temperature": 0}
    assert onnx_model.samples("the cat", 3, **greedy) == torch_model.samples("the cat", 3, **greedy)
    probs = [item["prob"] for item in onnx_model.stream("the", max_tokens=5, temperature=0)]
    want = [item["prob"] for item in torch_model.stream("the", max_tokens=5, temperature=0)]
    assert probs == pytest.approx(want, abs=1e-5)


@pytest.mark.slow
def test_sampling_on_an_export_is_seeded_and_keeps_the_options():
    onnx_model = seqlab.load(exported("rnn"))
    first = onnx_model.samples("the", 4, max_tokens=12, seed=7, top_k=3, top_p=0.9, repetition_penalty=1.2)
    assert first == onnx_model.samples("the", 4, max_tokens=12, seed=7, top_k=3, top_p=0.9, repetition_penalty=1.2)
    assert len(set(onnx_model.samples("the", 8, max_tokens=12, seed=1))) > 1  # samples differ from each other
    for item in onnx_model.stream("the", max_tokens=30, seed=3):
        assert item["id"] not in onnx_model.not_text and 0 < item["prob"] <= 1


@pytest.mark.slow
def test_int8_language_model_scores_validation_perplexity():
    folder = exported("rnn", "int8")
    q = json.loads((folder / "export.json").read_text())["quantized"]
    assert q["kind"] == "int8" and q["fp32"]["tokens"] == q["int8"]["tokens"] > 0
    assert q["int8"]["perplexity"] == pytest.approx(q["fp32"]["perplexity"], rel=0.5)
    assert isinstance(seqlab.load(folder).generate("the", max_tokens=5, seed=0), str)


@pytest.mark.slow
def test_the_language_model_runtime_needs_no_torch():
    folder = exported("transformer")
    code = ("import sys, json; sys.modules['torch'] = None\nimport seqlab\n"
            f"m = seqlab.load({str(folder)!r})\n"
            "print(json.dumps([m.generate('the cat', max_tokens=30, temperature=0), m.perplexity(['the cat sat'])]))\n"
            "assert sys.modules['torch'] is None\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": SRC}, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    text, ppl = json.loads(done.stdout)
    torch_model = seqlab.load(trained("transformer"))
    assert text == torch_model.generate("the cat", max_tokens=30, temperature=0)
    assert ppl == pytest.approx(torch_model.perplexity(["the cat sat"]), rel=1e-5)


@pytest.mark.slow
def test_cli_generate_and_evaluate_on_an_export(capsys):
    outputs = []
    for path in (trained("gru"), exported("gru")):
        assert main(["generate", str(path), "--prompt", "the dog", "--max-tokens", "15", "--temperature", "0",
                     "--threads", "1"]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1] and outputs[0].startswith("the dog")
    reports = []
    for path in (trained("gru"), exported("gru")):
        assert main(["evaluate", str(path), "--data", str(_root() / "story.txt"), "--json"]) == 0
        reports.append(json.loads(capsys.readouterr().out))
    assert reports[0]["perplexity"] == pytest.approx(reports[1]["perplexity"], rel=1e-5)
    assert reports[0]["scored_tokens"] == reports[1]["scored_tokens"] and reports[0]["protocol"] == reports[1]["protocol"]


@pytest.mark.slow
def test_a_language_model_export_is_served():
    from fastapi.testclient import TestClient

    from seqlab.serve.app import create_app
    from seqlab.serve.loading import load_models

    models = load_models([f"onnx={exported('rnn')}", f"torch={trained('rnn')}"], log=lambda *_: None)
    with TestClient(create_app(models)) as client:
        texts = [client.post(f"/v1/models/{name}/generate", json={"prompt": "the cat", "max_tokens": 8,
                                                                   "temperature": 0}).json()["text"]
                 for name in ("onnx", "torch")]
        assert texts[0] == texts[1] and texts[0]
        streamed = client.post("/v1/models/onnx/generate", json={"prompt": "the", "max_tokens": 4, "stream": True,
                                                                 "seed": 1})
        assert streamed.status_code == 200 and "event: done" in streamed.text
