"""Real-data tests: read IMDB from $SEQLAB_DATA (../shared/data). They run, never skip, when CI=true."""

import pytest
from conftest import shared_data

import seqlab
from seqlab.data.classification import ClassifyDataConfig, load_split, load_train_valid

pytestmark = pytest.mark.real_data


@pytest.fixture
def data_root(monkeypatch):
    root = shared_data()
    monkeypatch.setenv("SEQLAB_DATA", str(root))
    return root


def test_imdb_splits_counts_and_labels(data_root):
    test = load_split(ClassifyDataConfig(data="imdb"), "test")
    assert len(test) == 25_000 and test.labels.count("pos") == 12_500 and test.labels.count("neg") == 12_500
    train, valid = load_train_valid(ClassifyDataConfig(data="imdb"))
    assert len(train) == 22_500 and len(valid) == 2_500
    assert not set(valid.texts) & set(train.texts) - _duplicates(train.texts + valid.texts)
    assert "<br />" in " ".join(train.texts[:200])  # raw text, cleaned later by the pipeline


def _duplicates(texts):
    seen, dup = set(), set()
    for t in texts:
        (dup if t in seen else seen).add(t)
    return dup


@pytest.mark.slow
def test_imdb_bag_learns_on_a_subset(data_root, tmp_path):
    """3,000 real reviews, one minute budget: a bigram bag must beat chance clearly."""
    out = tmp_path / "imdb-bag"
    summary = seqlab.train("classify", out, data="imdb", model="bag", buckets=200_000, emb_size=16, limit=3000,
                           epochs=3, lr=0.02, max_len=400, progress=False, log=lambda *_: None)
    assert summary["best"] > 0.75
    clf = seqlab.load(out)
    preds = clf.predict(["One of the best films I have seen: moving, funny and beautifully acted.",
                         "A waste of time. Terrible acting and a boring, stupid plot."])
    assert [p["label"] for p in preds] == ["pos", "neg"]
