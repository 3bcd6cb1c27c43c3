import gzip
import json

import pytest

from seqlab.data.classification import ClassifyDataConfig, check_labels, load_split, load_train_valid
from seqlab.data.readers import read_labelled
from seqlab.errors import SeqlabError


def test_jsonl_gz_and_json_array(tmp_path):
    rows = [{"text": "good", "label": 1}, {"text": "bad", "label": 0}]
    gz = tmp_path / "d.jsonl.gz"
    with gzip.open(gz, "wt", encoding="utf-8") as fh:
        fh.write("\n".join(json.dumps(r) for r in rows))
    assert read_labelled(gz) == (["good", "bad"], ["1", "0"])
    arr = tmp_path / "d.json"
    arr.write_text(json.dumps(rows))
    assert read_labelled(arr) == (["good", "bad"], ["1", "0"])


def test_csv_tsv_with_chosen_columns(tmp_path):
    csv_path = tmp_path / "d.csv"
    csv_path.write_text('review,stars\n"fine, really",pos\nawful,neg\n', encoding="utf-8")
    assert read_labelled(csv_path, "review", "stars") == (["fine, really", "awful"], ["pos", "neg"])
    tsv = tmp_path / "d.tsv"
    tsv.write_text("text\tlabel\nok\ta\nno\tb\n", encoding="utf-8")
    assert read_labelled(tsv) == (["ok", "no"], ["a", "b"])


def test_bad_column_names_the_columns(tmp_path):
    csv_path = tmp_path / "d.csv"
    csv_path.write_text("review,stars\nx,1\n", encoding="utf-8")
    with pytest.raises(SeqlabError, match="no column 'text'.*review, stars"):
        read_labelled(csv_path)


def test_fasttext_lines(tmp_path):
    path = tmp_path / "d.txt"
    path.write_text("__label__pos great fun\n\n__label__neg __label__x dull\n", encoding="utf-8")
    assert read_labelled(path) == (["great fun", "dull"], ["pos", "neg"])
    path.write_text("no label here\n", encoding="utf-8")
    with pytest.raises(SeqlabError, match="line 1"):
        read_labelled(path)


def test_label_folders_like_aclimdb(tmp_path):
    for label, texts in {"pos": ["nice", "lovely"], "neg": ["bad"]}.items():
        (tmp_path / label).mkdir()
        for i, t in enumerate(texts):
            (tmp_path / label / f"{i}_9.txt").write_text(t, encoding="utf-8")
    texts, labels = read_labelled(tmp_path)
    assert sorted(zip(texts, labels, strict=True)) == [("bad", "neg"), ("lovely", "pos"), ("nice", "pos")]


def test_non_utf8_names_the_line(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"text": "ok", "label": 1}\n{"text": "caf\xe9", "label": 0}\n')
    with pytest.raises(SeqlabError, match="line 2 is not valid UTF-8"):
        read_labelled(path)


def test_missing_file_and_unknown_type(tmp_path):
    with pytest.raises(SeqlabError, match="not found"):
        read_labelled(tmp_path / "nope.csv")
    odd = tmp_path / "d.parquet"
    odd.write_text("x")
    with pytest.raises(SeqlabError, match="unknown file type"):
        read_labelled(odd)


def test_invalid_json_line(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a", "label": 1}\n{oops}\n', encoding="utf-8")
    with pytest.raises(SeqlabError, match="line 2 is not valid JSON"):
        read_labelled(path)


def test_validation_carve_out_is_seeded_and_disjoint(reviews_csv):
    cfg = ClassifyDataConfig(data=str(reviews_csv), text_column="review", label_column="sentiment")
    train, valid = load_train_valid(cfg)
    train2, valid2 = load_train_valid(cfg)
    assert len(valid) == 40 and len(train) == 360
    assert valid.texts == valid2.texts and train.texts == train2.texts
    other, _ = load_train_valid(ClassifyDataConfig(data=str(reviews_csv), text_column="review",
                                                   label_column="sentiment", split_seed=7))
    assert other.texts != train.texts


def test_split_folder_and_single_class(tmp_path):
    (tmp_path / "train.tsv").write_text("text\tlabel\na\tx\nb\tx\nc\tx\n", encoding="utf-8")
    (tmp_path / "test.tsv").write_text("text\tlabel\nd\tx\n", encoding="utf-8")
    cfg = ClassifyDataConfig(data=str(tmp_path))
    assert load_split(cfg, "test").texts == ["d"]
    with pytest.raises(SeqlabError, match="at least two classes"):
        check_labels(load_split(cfg, "train"))


def test_unknown_dataset_name_and_missing_local_data(monkeypatch, tmp_path):
    with pytest.raises(SeqlabError, match="not a known dataset"):
        load_split(ClassifyDataConfig(data="no-such-data"), "train")
    monkeypatch.setenv("SEQLAB_DATA", str(tmp_path))  # no imdb/ inside
    monkeypatch.setitem(__import__("sys").modules, "datasets", None)  # as if not installed
    with pytest.raises(SeqlabError, match="SEQLAB_DATA"):
        load_split(ClassifyDataConfig(data="imdb"), "train")
