"""seqlab export: ONNX graphs checked against torch at export time, int8, the torch-free runtime, serving, bad input."""

import csv
import json
from functools import cache, lru_cache
from pathlib import Path

import numpy as np
import pytest
from conftest import make_reviews
from test_runtime_install import run_torch_free

import seqlab
from seqlab.api import train
from seqlab.cli import main
from seqlab.errors import SeqlabError

pytestmark = pytest.mark.slow  # each export runs torch.onnx.export (1-5 s)

QUIET = {"progress": False, "log": lambda *_: None, "threads": 1}
TEXTS = ["A wonderful, moving film with a superb cast.", "Dull, boring and far too long.", "", "ok"]
SRC = str(Path(__file__).resolve().parents[1] / "src")


@lru_cache(maxsize=1)
def _root() -> Path:
    import tempfile

    return Path(tempfile.mkdtemp(prefix="seqlab-export-test-"))


@cache
def trained(model: str) -> Path:
    data = _root() / "reviews.csv"
    if not data.exists():
        with open(data, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["text", "label"])
            writer.writerows(make_reviews(300, seed=3))
    settings = {"bag": {"buckets": 65536, "epochs": 2},  # a table large enough for int8 to show in the size
                "bag-plain": {"buckets": 65536, "epochs": 2, "embeddings": None},  # n-grams only: no GloVe branch
                "rnn": {"model": "rnn", "embeddings": None, "emb_size": 16, "hidden_size": 16, "epochs": 1},
                "transformer": {"model": "transformer", "d_model": 16, "heads": 2, "layers": 1, "ff_size": 32,
                                "epochs": 1}}[model]
    out = _root() / model
    train("classify", out, data=str(data), min_freq=1, **settings, **QUIET)
    return out


@cache
def exported(model: str, quantize: str | None = None) -> Path:
    from seqlab.export.exporter import export_model

    out = _root() / f"{model}-{quantize or 'fp32'}.export"
    export_model(trained(model), out, quantize=quantize, log=lambda *_: None)
    return out


@pytest.mark.parametrize("model", ["bag", "bag-plain", "rnn", "transformer"])
def test_every_classifier_exports_verified_and_predicts_like_torch(model):
    folder = exported(model)
    config = json.loads((folder / "export.json").read_text())
    cases = config["verification"]["cases"]
    assert {c.split(",")[0] for c in cases} == {"batch 1", "batch 7", "batch 64"}
    assert any(c.endswith("length 1") for c in cases) and len(cases) == 12  # 1, 8, 64 and max_len at each batch
    assert max(config["verification"]["max_abs_diff"].values()) <= 1e-4
    onnx_model, torch_model = seqlab.load(folder), seqlab.load(trained(model))
    assert type(onnx_model).__name__ == "OnnxClassifier"
    got, want = onnx_model.predict(TEXTS), torch_model.predict(TEXTS)
    assert [g["label"] for g in got] == [w["label"] for w in want]
    for g, w in zip(got, want, strict=True):
        assert g["probabilities"] == pytest.approx(w["probabilities"], abs=1e-4)
    assert got[2]["probabilities"] == {"neg": 0.5, "pos": 0.5}  # an empty text: uniform, as the torch predictor says


def test_attention_survives_the_export_for_explanations():
    onnx_model, torch_model = seqlab.load(exported("rnn")), seqlab.load(trained("rnn"))
    got, want = onnx_model.explain(TEXTS[:2]), torch_model.explain(TEXTS[:2])
    for g, w in zip(got, want, strict=True):
        assert g["tokens"] == w["tokens"] and g["method"] == "attention"
        np.testing.assert_allclose(g["attention"], w["attention"], atol=1e-5)
    with pytest.raises(SeqlabError, match="without attention pooling"):
        seqlab.load(exported("bag")).explain(TEXTS[:1])


def test_int8_exports_are_smaller_score_the_validation_split_and_predict():
    folder = exported("bag", "int8")
    q = json.loads((folder / "export.json").read_text())["quantized"]
    assert q["kind"] == "int8" and "Gather" in q["ops"]
    assert q["int8_bytes"]["classifier"] < 0.5 * q["fp32_bytes"]["classifier"]
    assert q["fp32"]["examples"] == q["int8"]["examples"] > 0 and 0 <= q["int8"]["accuracy"] <= 1
    labels = [r["label"] for r in seqlab.load(folder).predict(TEXTS)]
    assert set(labels) <= {"neg", "pos"}


def test_cli_round_trip(tmp_path, capsys):
    out = tmp_path / "cli.export"
    assert main(["export", str(trained("bag")), "--out", str(out)]) == 0
    assert "exported classify model" in capsys.readouterr().out
    assert main(["predict", str(out), *TEXTS[:2], "--json", "--threads", "1"]) == 0
    got = [json.loads(line)["label"] for line in capsys.readouterr().out.splitlines()]
    assert got == [r["label"] for r in seqlab.load(trained("bag")).predict(TEXTS[:2])]
    assert main(["export", str(trained("bag")), "--out", str(out)]) == 2  # exists: refused without --overwrite
    assert "--overwrite" in capsys.readouterr().err


@pytest.mark.parametrize("model", ["bag", "rnn", "transformer"])
def test_the_runtime_needs_no_torch(model, tmp_path, capsys):
    """Predict and evaluate an export as a `seqlab[runtime]` install would: no torch, nor any of the train extra."""
    folder, data = exported(model), _root() / "reviews.csv"
    code = (f"import seqlab\nm = seqlab.load({str(folder)!r})\n"
            f"print(json.dumps([r['label'] for r in m.predict({TEXTS!r})]))\n")
    assert json.loads(run_torch_free(code)) == [r["label"] for r in seqlab.load(trained(model)).predict(TEXTS)]
    code = f"from seqlab.cli import main\nmain(['evaluate', {str(folder)!r}, '--data', {str(data)!r}, '--json'])\n"
    report = json.loads(run_torch_free(code).splitlines()[-1])
    assert main(["evaluate", str(trained(model)), "--data", str(data), "--json",
                 "--confusion", str(tmp_path / "confusion.png")]) == 0
    expected = json.loads(capsys.readouterr().out)
    assert report["examples"] == expected["examples"] and report["accuracy"] == expected["accuracy"]
    assert report["macro_f1"] == expected["macro_f1"] and "confusion_png" not in report  # no matplotlib there


def test_an_export_is_served_beside_a_model_directory():
    from fastapi.testclient import TestClient

    from seqlab.serve.app import create_app
    from seqlab.serve.loading import load_models

    models = load_models([f"onnx={exported('rnn')}", f"torch={trained('rnn')}"], log=lambda *_: None)
    with TestClient(create_app(models)) as client:
        answers = [client.post(f"/v1/models/{name}/classify", json={"texts": TEXTS[:2]}).json()
                   for name in ("onnx", "torch")]
        assert [r["label"] for r in answers[0]["results"]] == [r["label"] for r in answers[1]["results"]]
        assert client.get("/v1/models/onnx").json()["config"]["export"] == "onnx"


def test_an_export_is_served_without_torch():
    code = ("from fastapi.testclient import TestClient\nfrom seqlab.serve.app import create_app\n"
            "from seqlab.serve.loading import load_models\n"
            f"models = load_models(['onnx={exported('bag')}'], log=lambda *_: None)\n"
            "with TestClient(create_app(models)) as client:\n"
            f"    print(json.dumps(client.post('/v1/models/onnx/classify', json={{'texts': {TEXTS[:2]!r}}}).json()))\n")
    answer = json.loads(run_torch_free(code).splitlines()[-1])
    assert [r["label"] for r in answer["results"]] == [r["label"] for r in seqlab.load(trained("bag")).predict(TEXTS[:2])]


def test_damaged_foreign_and_unexportable_directories_get_one_clear_error(tmp_path, capsys):
    import shutil

    damaged = Path(shutil.copytree(exported("bag"), tmp_path / "damaged"))
    (damaged / "export.json").write_text("{not json", encoding="utf-8")
    truncated = Path(shutil.copytree(exported("bag"), tmp_path / "truncated"))
    graph = truncated / "classifier.onnx"
    graph.write_bytes(graph.read_bytes()[:100])
    missing = Path(shutil.copytree(exported("bag"), tmp_path / "missing"))
    (missing / "classifier.onnx").unlink()
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "export.json").write_text(json.dumps({"format": "something-else"}), encoding="utf-8")
    for folder, message in ((damaged, "damaged"), (truncated, "cannot run"), (missing, "incomplete"),
                            (foreign, "not a seqlab export")):
        assert main(["predict", str(folder), "text"]) == 2
        err = capsys.readouterr().err
        assert err.count("seqlab: error:") == 1 and message in err and "Traceback" not in err, err
    assert main(["translate", str(exported("bag")), "Hallo"]) == 2  # an export of another task
    assert "exported 'classify' model" in capsys.readouterr().err
    assert main(["export", str(trained("bag")), "--out", str(tmp_path / "x"), "--opset", "7"]) == 2
    assert "--opset 7" in capsys.readouterr().err and not (tmp_path / "x").exists()


@lru_cache(maxsize=1)
def tagger_dir() -> Path:
    from test_tag_task import SMALL, write_conll

    folder = _root() / "conll"
    folder.mkdir(exist_ok=True)
    write_conll(folder / "train.txt", 200, seed=1)
    write_conll(folder / "dev.txt", 40, seed=2)
    out = _root() / "ner"
    train("tag", out, data=str(folder), embeddings="none", **SMALL)
    return out


def test_a_tagger_exports_its_emissions_and_decodes_with_the_numpy_crf():
    from seqlab.export.exporter import export_model

    out = _root() / "ner.export"
    config = export_model(tagger_dir(), out, quantize="int8", log=lambda *_: None)
    diff = config["verification"]["max_abs_diff"]
    assert diff["emissions"] <= 1e-4 and diff["confidences"] <= 1e-3 and len(config["verification"]["cases"]) == 12
    assert config["quantized"]["int8"]["sentences"] > 0
    fp32 = _root() / "ner-fp32.export"
    export_model(tagger_dir(), fp32, log=lambda *_: None)
    texts = ["EU rejects German call to boycott British lamb .", "Peter Blackburn visited Paris", ""]
    onnx_model, torch_model = seqlab.load(fp32), seqlab.load(tagger_dir())
    assert type(onnx_model).__name__ == "OnnxTagger"
    got, want = onnx_model.tag(texts), torch_model.tag(texts)
    assert [g["tags"] for g in got] == [w["tags"] for w in want]
    for g, w in zip(got, want, strict=True):
        assert [(e["type"], e["start"], e["end"]) for e in g["entities"]] == \
            [(e["type"], e["start"], e["end"]) for e in w["entities"]]
        assert [e["confidence"] for e in g["entities"]] == pytest.approx([e["confidence"] for e in w["entities"]],
                                                                          abs=1e-4)
    code = f"import seqlab\nprint(json.dumps(seqlab.load({str(fp32)!r}).tag({texts!r})))\n"
    assert [r["tags"] for r in json.loads(run_torch_free(code))] == [w["tags"] for w in want]
    dev = tagger_dir().parent / "conll" / "dev.txt"
    code = f"from seqlab.cli import main\nmain(['evaluate', {str(fp32)!r}, '--data', {str(dev)!r}, '--json'])\n"
    report = json.loads(run_torch_free(code).splitlines()[-1])  # seqlab evaluate on the export, torch-free
    from seqlab.tasks.tag.evaluate import evaluate

    expected = evaluate(torch_model, data=str(dev), log=lambda *_: None)
    assert report["f1"] == pytest.approx(expected["f1"], abs=1e-9) and report["sentences"] == expected["sentences"]


def test_evaluate_runs_on_exports_with_the_same_report(capsys):
    data = _root() / "reviews.csv"
    exported("bag")
    reports = []
    for path in (trained("bag"), exported("bag")):
        assert main(["evaluate", str(path), "--data", str(data), "--json"]) == 0
        reports.append(json.loads(capsys.readouterr().out))
    assert reports[0]["accuracy"] == reports[1]["accuracy"] and reports[0]["examples"] == reports[1]["examples"]
    dev = tagger_dir().parent / "conll" / "dev.txt"  # written by the tagger's fixture
    tag_export = _root() / "ner-eval.export"
    if not tag_export.exists():
        from seqlab.export.exporter import export_model

        export_model(tagger_dir(), tag_export, log=lambda *_: None)
    f1 = []
    for path in (tagger_dir(), tag_export):
        assert main(["evaluate", str(path), "--data", str(dev), "--json"]) == 0
        f1.append(json.loads(capsys.readouterr().out)["f1"])
    assert f1[0] == pytest.approx(f1[1], abs=1e-9)
