"""An nb-weighted bag with ``--embeddings``: the mean of fixed pretrained word vectors as features beside the
n-grams (meaning beyond the words training saw with a label); exact explanations and the export graph keep up."""

import csv
import json
import math

import numpy as np
import pytest
import torch
from conftest import NEGATIVE, NEUTRAL, POSITIVE, make_reviews

import seqlab
from seqlab.errors import SeqlabError
from seqlab.models.bag import PaddedBag
from seqlab.models.configs import BagConfig


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("bagvec")
    rng = np.random.default_rng(0)
    vectors = root / "vectors.txt"
    with open(vectors, "w", encoding="utf-8") as fh:  # dimension 0 carries the sentiment of a word
        for word in sorted(set(NEGATIVE + POSITIVE + NEUTRAL)):
            v = rng.normal(size=8) * 0.1
            v[0] = -1.0 if word in NEGATIVE else 1.0 if word in POSITIVE else v[0]
            fh.write(word + " " + " ".join(f"{x:.4f}" for x in v) + "\n")
    data = root / "reviews.csv"
    with open(data, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        writer.writerows(make_reviews(400, seed=1))
    out = root / "model"
    seqlab.train("classify", data=str(data), out=str(out), embeddings=str(vectors), epochs=3, lr=0.01,
                 progress=False, log=lambda *_: None)
    return out


def test_the_vectors_set_the_feature_width_and_are_kept_fixed(trained):
    config = json.loads((trained / "config.json").read_text())
    assert config["config"]["model"]["vector_features"] == 8
    assert config["embeddings"]["found"] > 0
    clf = seqlab.load(trained)
    table = clf.model.word_vectors.weight
    assert not table.requires_grad
    # the rows are the file's vectors, untouched by training (sentiment words keep +-1 in dimension 0)
    stoi = clf.pipeline.vocab.stoi
    assert table[stoi[POSITIVE[0]], 0].item() == pytest.approx(1.0)
    assert table[stoi[NEGATIVE[0]], 0].item() == pytest.approx(-1.0)
    # and training used them: the vector head learned that dimension 0 means positive
    assert clf.model.vector_head.weight[0, 0].item() > 0


def test_explanations_stay_exact_with_the_vector_features(trained):
    clf = seqlab.load(trained)
    texts = [f"{POSITIVE[0]} {NEUTRAL[0]} {NEUTRAL[1]} {POSITIVE[0]}.", f"{NEGATIVE[1]} {NEUTRAL[2]}."]
    for result, predicted in zip(clf.explain(texts), clf.predict(texts), strict=True):
        assert result["method"] == "linear"
        total = result["bias"] + sum(score for _, score in result["contributions"])
        assert total == pytest.approx(result["logit"], abs=1e-5)
        p = predicted["probabilities"][result["label"]]
        assert 1 / (1 + math.exp(-result["logit"])) == pytest.approx(p, abs=1e-5)  # the logit it predicts with


def test_the_export_graph_gives_the_same_logits(trained):
    clf = seqlab.load(trained)
    model = clf.model.eval()
    docs = [model.features(np.asarray(d)) for d in clf.pipeline.encode_many(
        [f"{POSITIVE[0]} {NEUTRAL[0]}.", f"{NEGATIVE[0]} and {NEGATIVE[2]} {NEUTRAL[3]} {NEUTRAL[4]}.", "zzz"])]
    width = max(len(d) for d in docs)
    ids = torch.zeros(len(docs), width, dtype=torch.long)
    for i, d in enumerate(docs):
        ids[i, : len(d)] = torch.as_tensor(d)
    lengths = torch.tensor([len(d) for d in docs])
    with torch.no_grad():
        assert torch.allclose(PaddedBag(model)(ids, lengths).logits, model(ids, lengths).logits, atol=1e-6)


def test_vector_features_are_for_the_nb_bag_only():
    with pytest.raises(SeqlabError, match="--vector-features is for --weighting nb"):
        BagConfig(weighting="mean", vector_features=50)
    with pytest.raises(SeqlabError, match="--vector-features must be >= 0"):
        BagConfig(vector_features=-1)
