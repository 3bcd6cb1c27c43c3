"""Parallel data: file pairs, tsv, folders, registered datasets via SEQLAB_DATA, filtering that is counted."""

from __future__ import annotations

from pathlib import Path

import pytest

from seqlab.data.parallel import (
    TranslateDataConfig,
    load_split,
    load_train_valid,
    read_parallel_files,
    read_parallel_tsv,
)
from seqlab.errors import SeqlabError


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_file_pair_strips_and_keeps_inner_tabs(tmp_path):
    src = write(tmp_path / "a.de", ["  Ein Mann. ", "Zwei\tHunde.", "Eine Frau."])
    tgt = write(tmp_path / "a.en", ["A man.", "Two dogs.", "A woman.  "])
    data = read_parallel_files(src, tgt)
    assert data.src == ["Ein Mann.", "Zwei\tHunde.", "Eine Frau."]
    assert data.tgt == ["A man.", "Two dogs.", "A woman."]
    assert data.dropped_empty == 0


def test_mismatched_line_counts_is_an_error(tmp_path):
    src = write(tmp_path / "a.de", ["a", "b", "c"])
    tgt = write(tmp_path / "a.en", ["x", "y"])
    with pytest.raises(SeqlabError, match="3 lines but .* has 2"):
        read_parallel_files(src, tgt)


def test_empty_lines_drop_the_whole_pair_and_are_counted(tmp_path):
    src = write(tmp_path / "a.de", ["eins", "", "drei", "vier"])
    tgt = write(tmp_path / "a.en", ["one", "two", "   ", "four"])
    data = read_parallel_files(src, tgt)
    assert list(zip(data.src, data.tgt, strict=True)) == [("eins", "one"), ("vier", "four")]
    assert data.dropped_empty == 2


def test_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(SeqlabError, match="not found"):
        read_parallel_files(tmp_path / "nope.de", tmp_path / "nope.en")


def test_tsv_two_columns_and_extra_columns(tmp_path):
    path = write(tmp_path / "pairs.tsv", ["Go.\tVa !\tCC-BY", "Hi.\tSalut !", "", "Run!\t"])
    data = read_parallel_tsv(path)
    assert data.src == ["Go.", "Hi."] and data.tgt == ["Va !", "Salut !"]
    assert data.dropped_empty == 2
    bad = write(tmp_path / "bad.tsv", ["Go.\tVa !", "no tab here"])
    with pytest.raises(SeqlabError, match="line 2 has no TAB"):
        read_parallel_tsv(bad)


def test_tsv_carves_seeded_disjoint_valid_and_test(tmp_path):
    lines = [f"sentence {i // 2}\tphrase {i}" for i in range(200)]  # each source twice
    path = write(tmp_path / "pairs.tsv", lines)
    cfg = TranslateDataConfig(data=str(path), src="en", tgt="fr", heldout=10)
    splits = {s: load_split(cfg, s) for s in ("train", "valid", "test")}
    assert sum(len(d) for d in splits.values()) == 200
    assert len(splits["valid"]) >= 10 and len(splits["test"]) >= 10
    # grouped by source sentence: no held-out source appears in training
    assert not set(splits["valid"].src) & set(splits["train"].src)
    assert not set(splits["test"].src) & set(splits["train"].src)
    again = load_split(cfg, "valid")
    assert again.src == splits["valid"].src and again.tgt == splits["valid"].tgt
    with pytest.raises(SeqlabError, match="carved"):
        load_split(cfg, "test_2016_flickr")


def test_comma_pair_and_folder(tmp_path):
    for split, n in (("train", 30), ("val", 5)):
        write(tmp_path / f"{split}.de", [f"de {split} {i}" for i in range(n)])
        write(tmp_path / f"{split}.en", [f"en {split} {i}" for i in range(n)])
    train, valid = load_train_valid(TranslateDataConfig(data=str(tmp_path), src="de", tgt="en"))
    assert len(train) == 30 and len(valid) == 5 and valid.src[0] == "de val 0"
    reverse = load_split(TranslateDataConfig(data=str(tmp_path), src="en", tgt="de"), "valid")
    assert reverse.src[0] == "en val 0"
    pair = TranslateDataConfig(data=f"{tmp_path / 'train.de'},{tmp_path / 'train.en'}", src="de", tgt="en",
                               heldout=3, limit=10)
    train, valid = load_train_valid(pair)
    assert len(train) == 10 and len(valid) == 3
    with pytest.raises(SeqlabError, match="no test split"):
        load_split(TranslateDataConfig(data=str(tmp_path), src="de", tgt="en"), "test")
    with pytest.raises(SeqlabError, match="languages there: de, en"):
        load_split(TranslateDataConfig(data=str(tmp_path), src="de", tgt="fr"), "train")


def test_multi30k_and_eng_fra_resolve_through_seqlab_data(tmp_path, monkeypatch):
    folder = tmp_path / "multi30k"
    folder.mkdir()
    for split in ("train", "val", "test_2016_flickr"):
        write(folder / f"{split}.de", [f"{split} Hund", f"{split} Katze"])
        write(folder / f"{split}.en", [f"{split} dog", f"{split} cat"])
    (tmp_path / "eng-fra").mkdir()
    write(tmp_path / "eng-fra" / "eng-fra.txt", [f"Hello {i}.\tBonjour {i}." for i in range(50)])
    monkeypatch.setenv("SEQLAB_DATA", str(tmp_path))
    cfg = TranslateDataConfig(data="multi30k", src="de", tgt="en")
    assert load_split(cfg, "valid").src == ["val Hund", "val Katze"]
    assert load_split(cfg, "test_2016_flickr").tgt == ["test_2016_flickr dog", "test_2016_flickr cat"]
    assert load_split(cfg, "test").tgt[0] == "test_2016_flickr dog"
    fr_en = TranslateDataConfig(data="eng-fra", src="fr", tgt="en", heldout=5)
    train = load_split(fr_en, "train")
    assert len(train) == 40 and train.src[0].startswith("Bonjour") and train.tgt[0].startswith("Hello")
    with pytest.raises(SeqlabError, match="holds en and fr"):
        load_split(TranslateDataConfig(data="eng-fra", src="de", tgt="en"), "train")
    with pytest.raises(SeqlabError, match="languages en, de, fr, cs"):
        load_split(TranslateDataConfig(data="multi30k", src="de", tgt="xx"), "train")


def test_missing_dataset_gives_one_clear_message(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQLAB_DATA", str(tmp_path))  # no multi30k folder in it
    monkeypatch.setitem(__import__("sys").modules, "datasets", None)  # as if 'datasets' were not installed
    with pytest.raises(SeqlabError, match="multi30k.*not found locally.*SEQLAB_DATA"):
        load_split(TranslateDataConfig(data="multi30k"), "train")
    with pytest.raises(SeqlabError, match="not a known dataset"):
        load_split(TranslateDataConfig(data="no-such-corpus"), "train")
    with pytest.raises(SeqlabError, match="two different languages"):
        load_split(TranslateDataConfig(data="multi30k", src="en", tgt="en"), "train")
