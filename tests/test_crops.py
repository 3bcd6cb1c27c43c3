"""Sentence-length crops of training texts (``--crops``): cut at sentence ends, deterministic, labelled like their text."""

import csv
import json

import numpy as np
import pytest
from conftest import make_reviews

import seqlab
from seqlab.errors import SeqlabError
from seqlab.tasks.classify.config import AugmentConfig
from seqlab.text.crops import MIN_SENTENCE_TOKENS, sentence_crops, sentence_spans

END = 9  # the id of "." in these hand-made documents


def test_sentence_spans_end_at_the_marks_and_skip_fragments():
    doc = np.array([1, 2, 3, 4, END, 5, END, 6, 7, 8, 1, END, 2, 3, 4, 5])
    # "1 2 3 4 ." | "5 ." (too short) | "6 7 8 1 ." | "2 3 4 5" (no mark at the end: still a sentence)
    assert sentence_spans(doc, np.array([END])) == [(0, 5), (7, 12), (12, 16)]
    assert all(b - a >= MIN_SENTENCE_TOKENS for a, b in sentence_spans(doc, np.array([END])))
    assert sentence_spans(np.array([1, 2, 3, 4, 5]), np.array([END])) == [(0, 5)]


def test_crops_are_runs_of_whole_sentences_never_the_whole_text_and_repeatable():
    rng = np.random.default_rng(0)
    docs = [np.concatenate([np.append(rng.integers(10, 50, size=rng.integers(4, 9)), END)
                            for _ in range(rng.integers(1, 7))]) for _ in range(50)]
    crops, owners = sentence_crops(docs, np.array([END]), per_doc=3, max_sentences=3, seed=7)
    multi = [i for i, d in enumerate(docs) if len(sentence_spans(d, np.array([END]))) >= 2]
    assert sorted(set(owners.tolist())) == multi  # one-sentence texts give none
    assert len(crops) == 3 * len(multi)
    for crop, owner in zip(crops, owners, strict=True):
        doc = docs[owner]
        assert 0 < len(crop) < len(doc) and crop[-1] == END
        starts = [a for a, _ in sentence_spans(doc, np.array([END]))]
        # the crop is a contiguous slice of its document starting at a sentence start
        assert any(np.array_equal(doc[s: s + len(crop)], crop) for s in starts)
        assert 1 <= int((crop == END).sum()) <= 3
    again, owners_again = sentence_crops(docs, np.array([END]), per_doc=3, max_sentences=3, seed=7)
    assert all(np.array_equal(a, b) for a, b in zip(crops, again, strict=True)) and np.array_equal(owners, owners_again)
    one = sentence_crops(docs, np.array([END]), per_doc=2, max_sentences=1, seed=7)[0]
    assert all(int((c == END).sum()) == 1 for c in one)


def test_augment_settings_are_checked_when_built():
    with pytest.raises(SeqlabError, match="--crops must be >= 0"):
        AugmentConfig(crops=-1)
    with pytest.raises(SeqlabError, match="--crop-sentences must be >= 1"):
        AugmentConfig(crop_sentences=0)


def _long_reviews(path, n=200):
    """n texts of three generated sentences sharing one label."""
    pools = {"neg": [], "pos": []}
    for text, label in make_reviews(8 * n, seed=3):
        pools[label].append(text)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        for i in range(n):
            label = ("neg", "pos")[i % 2]
            writer.writerow([" ".join(pools[label][3 * i: 3 * i + 3]), label])
    return path


def test_training_with_crops_adds_labelled_crops_and_records_them(tmp_path):
    data = _long_reviews(tmp_path / "long.csv")
    plain = seqlab.train("classify", data=str(data), out=str(tmp_path / "plain"), epochs=1, crops=0, progress=False)
    cropped = seqlab.train("classify", data=str(data), out=str(tmp_path / "cropped"), epochs=1, crops=3,
                           progress=False)
    assert plain is not None and cropped is not None
    saved = json.loads((tmp_path / "cropped" / "config.json").read_text())
    stats = saved["data_stats"]
    assert stats["train_crops"] == 3 * stats["train_examples"]  # every generated text has three sentences
    assert "train_crops" not in json.loads((tmp_path / "plain" / "config.json").read_text())["data_stats"]
    assert saved["config"]["augment"] == {"crops": 3, "crop_sentences": 3}
    model = seqlab.load(tmp_path / "cropped")
    assert model.predict(["great wonderful superb."])[0]["label"] == "pos"


def test_the_bag_recipe_crops_twice_and_data_without_sentence_marks_gets_none(tmp_path):
    data = _long_reviews(tmp_path / "long.csv", n=60)
    seqlab.train("classify", data=str(data), out=str(tmp_path / "default"), epochs=1, progress=False)
    saved = json.loads((tmp_path / "default" / "config.json").read_text())
    assert saved["config"]["augment"]["crops"] == 2 and saved["data_stats"]["train_crops"] == 2 * 54
    unmarked = tmp_path / "unmarked.csv"
    unmarked.write_text(data.read_text(encoding="utf-8").replace(".", ""), encoding="utf-8")
    lines = []
    seqlab.train("classify", data=str(unmarked), out=str(tmp_path / "none"), epochs=1, progress=False, log=lines.append)
    assert "train_crops" in json.loads((tmp_path / "none" / "config.json").read_text())["data_stats"]
    assert any(line.startswith("crops: none") for line in lines)


def test_a_pretrained_tokenizer_gets_crops_framed_by_its_special_tokens(monkeypatch):
    """--crops on --model pretrained: cut from the word pieces between [CLS] and [SEP], each crop framed again."""
    from types import SimpleNamespace

    from seqlab.models.pretrained import HFTextPipeline, load_hf_tokenizer
    from seqlab.tasks.classify.config import AugmentConfig
    from seqlab.tasks.classify.recipe import ClassifyTask

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pipeline = HFTextPipeline(load_hf_tokenizer("minilm"), max_len=256)
    texts = ["A superb film. The plot is thin! Still, I loved it.", "Dull.", "The acting is awful. The plot is boring and slow."]
    docs = [np.asarray(ids, dtype=np.int64) for ids in pipeline.encode_many(texts)]
    task = SimpleNamespace(pipeline=pipeline, log=lambda *_: None,
                           config=SimpleNamespace(augment=AugmentConfig(crops=3, crop_sentences=2),
                                                  train=SimpleNamespace(seed=0)))
    crops, owners = ClassifyTask._encoder_crops(task, docs)
    tok = pipeline.tokenizer
    assert len(crops) == 6 and sorted(set(owners.tolist())) == [0, 2]  # the one-sentence text is its own crop
    for crop, owner in zip(crops, owners, strict=True):
        assert crop[0] == tok.cls_token_id and crop[-1] == tok.sep_token_id
        inner, whole = crop[1:-1].tolist(), docs[owner][1:-1].tolist()
        assert 0 < len(inner) < len(whole) and tok.convert_ids_to_tokens(inner[-1]) in {".", "!", "?"}
        assert any(whole[i: i + len(inner)] == inner for i in range(len(whole)))  # a contiguous slice of its text
