"""Temperature scaling (--calibrate): fitted on validation, folded into the output layer, predictions
unchanged, only confidences move."""

import csv
import json

import pytest
import torch
from conftest import make_reviews

import seqlab
from seqlab.tasks.classify.calibrate import fit_temperature, scaled_state, validation_loss


def test_the_fitted_temperature_undoes_a_known_overconfidence():
    gen = torch.Generator().manual_seed(0)
    true_logits = torch.randn(20000, 1, generator=gen) * 2
    targets = torch.bernoulli(torch.sigmoid(true_logits.squeeze(-1)), generator=gen).long()
    assert fit_temperature(true_logits * 3, targets) == pytest.approx(3.0, rel=0.05)  # 3x too sure -> T = 3
    assert fit_temperature(true_logits / 2, targets) == pytest.approx(0.5, rel=0.05)  # too timid -> T = 1/2
    many = torch.randn(5000, 4, generator=gen)
    classes = torch.multinomial(torch.softmax(many, -1), 1, generator=gen).squeeze(-1)
    t = fit_temperature(many * 2, classes)
    assert t == pytest.approx(2.0, rel=0.1)
    assert validation_loss(many * 2, classes, t) < validation_loss(many * 2, classes, 1.0)
    assert fit_temperature(torch.zeros(1, 1), torch.zeros(1, dtype=torch.long)) == 1.0


def test_scaled_state_divides_only_the_logit_parameters_and_leaves_the_model_alone():
    state = {"head.weight": torch.full((1, 3), 6.0), "head.bias": torch.tensor([3.0]), "enc": torch.ones(2)}
    out = scaled_state(state, ("head.weight", "head.bias"), 3.0)
    assert torch.equal(out["head.weight"], torch.full((1, 3), 2.0)) and torch.equal(out["head.bias"], torch.tensor([1.0]))
    assert out["enc"] is state["enc"] and torch.equal(state["head.weight"], torch.full((1, 3), 6.0))
    with pytest.raises(KeyError, match="not in its state"):
        scaled_state(state, ("classifier.weight",), 2.0)


@pytest.mark.parametrize("model,settings", [("bag", {}), ("rnn", {"emb_size": 8, "hidden_size": 8, "embeddings": None})])
def test_a_calibrated_model_predicts_the_same_labels_with_the_fitted_confidence(tmp_path, model, settings):
    data = tmp_path / "r.csv"
    with open(data, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        writer.writerows(make_reviews(300, seed=4))
    common = dict(data=str(data), model=model, epochs=2, progress=False, log=lambda *_: None, **settings)
    seqlab.train("classify", out=str(tmp_path / "raw"), **common)  # off by default
    seqlab.train("classify", out=str(tmp_path / "cal"), calibrate=True, **common)
    saved = json.loads((tmp_path / "cal" / "config.json").read_text())
    calibration = saved["calibration"]
    assert calibration["method"] == "temperature" and calibration["valid_loss_after"] <= calibration["valid_loss_before"]
    assert json.loads((tmp_path / "raw" / "config.json").read_text())["calibration"] is None
    texts = ["superb wonderful film.", "awful boring plot.", "a film.", "great but dull."]
    raw, cal = seqlab.load(tmp_path / "raw").predict(texts), seqlab.load(tmp_path / "cal").predict(texts)
    t = calibration["temperature"]
    for a, b in zip(raw, cal, strict=True):
        assert a["label"] == b["label"]  # same weights, same predictions
        logit = torch.logit(torch.tensor(a["probabilities"]["pos"], dtype=torch.float64))
        assert b["probabilities"]["pos"] == pytest.approx(float(torch.sigmoid(logit / t)), abs=1e-4)
