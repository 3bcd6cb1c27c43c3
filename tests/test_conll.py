"""CoNLL column files: reading, bad input with file:line, splits, the real CoNLL-2003 files, and split_words."""

from __future__ import annotations

import pytest
from conftest import shared_data

from seqlab.data.conll import TaggedSentences, load_split, read_conll, split_words
from seqlab.errors import SeqlabError

SAMPLE = """-DOCSTART- -X- O O

EU NNP I-NP I-ORG
rejects VBZ I-VP O
German JJ I-NP I-MISC
call NN I-NP O
. . O O

Peter NNP I-NP I-PER
Blackburn NNP I-NP I-PER


-DOCSTART- -X- O O

BRUSSELS NNP I-NP I-LOC
"""


def _write(tmp_path, name: str, text: str | bytes):
    path = tmp_path / name
    (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
    return path


def test_reads_sentences_skipping_docstart_and_blank_lines(tmp_path):
    path = _write(tmp_path, "train.txt", SAMPLE)
    data = read_conll(path, tag_column="ner")
    assert isinstance(data, TaggedSentences) and len(data) == 3 and data.num_tokens == 8
    assert data.words == [["EU", "rejects", "German", "call", "."], ["Peter", "Blackburn"], ["BRUSSELS"]]
    assert data.tags[0] == ["I-ORG", "O", "I-MISC", "O", "O"]
    assert data.scheme == "iob1"  # detected: I- opens entities
    assert data.lines == [3, 9, 15]
    assert str(path) in data.source and "@" in data.source
    assert read_conll(path).tags == data.tags  # default: the last column
    assert read_conll(path, tag_column="pos").tags[1] == ["NNP", "NNP"]
    assert read_conll(path, tag_column="pos").scheme == "none"
    assert read_conll(path, tag_column="chunk").tags[0][:2] == ["I-NP", "I-VP"]
    assert read_conll(path, tag_column=1).tags == read_conll(path, tag_column="pos").tags
    sub = data.subset([2, 0], "x")
    assert sub.words[0] == ["BRUSSELS"] and sub.lines == [15, 3] and sub.scheme == "iob1"


def test_two_column_files_tabs_and_detection(tmp_path):
    path = _write(tmp_path, "mine.tsv", "Paris\tB-LOC\nis\tO\n\nnice\tO\n")
    data = read_conll(path)
    assert data.words == [["Paris", "is"], ["nice"]] and data.scheme == "bio"
    assert read_conll(path, tag_column="ner").tags == data.tags  # ner: the last column of any layout
    with pytest.raises(SeqlabError, match="4-column CoNLL-2003 layout.*2 columns"):
        read_conll(path, tag_column="pos")
    with pytest.raises(SeqlabError, match="out of range"):
        read_conll(path, tag_column=5)
    with pytest.raises(SeqlabError, match="give a column index or one of ner, pos, chunk"):
        read_conll(path, tag_column="lemma")
    with pytest.raises(SeqlabError, match="both column 1"):
        read_conll(path, word_column=1)


def test_malformed_line_names_file_and_line(tmp_path):
    path = _write(tmp_path, "bad.txt", "EU NNP I-NP I-ORG\nrejects VBZ I-VP\n")
    with pytest.raises(SeqlabError, match=r"bad.txt: line 2 has 3 columns, but line 1 \(the first token line\) has 4"):
        read_conll(path)
    one = _write(tmp_path, "one.txt", "EU\n")
    with pytest.raises(SeqlabError, match="line 1 has one column"):
        read_conll(one)
    empty = _write(tmp_path, "empty.txt", "-DOCSTART- -X- O O\n\n")
    with pytest.raises(SeqlabError, match="no tagged sentences"):
        read_conll(empty)
    with pytest.raises(SeqlabError, match="file not found"):
        read_conll(tmp_path / "missing.txt")


def test_invalid_tag_for_the_scheme_names_file_and_line(tmp_path):
    path = _write(tmp_path, "train.txt", "EU I-ORG\nrejects O\n\nPeter E-PER\n")
    with pytest.raises(SeqlabError, match=r"train.txt: line 4: tag 'E-PER' \(token 1\) is not valid in the bio scheme"):
        read_conll(path, scheme="bio")
    assert read_conll(path).scheme == "bioes"  # detected from the E- tag
    assert read_conll(path, scheme="none").tags[1] == ["E-PER"]


def test_non_utf8_names_file_and_line(tmp_path):
    path = _write(tmp_path, "latin1.txt", b"EU I-ORG\n" + "Zürich I-LOC\n".encode("latin-1"))
    with pytest.raises(SeqlabError, match=r"latin1.txt: line 2 is not valid UTF-8"):
        read_conll(path)


def test_load_split_from_a_folder_and_a_file(tmp_path):
    _write(tmp_path, "train.txt", SAMPLE)
    _write(tmp_path, "dev.txt", "Bonn NNP I-NP I-LOC\n")
    assert len(load_split(str(tmp_path), "train")) == 3
    assert load_split(str(tmp_path), "valid").words == [["Bonn"]]  # valid finds dev.txt
    assert load_split(str(tmp_path), "dev").words == [["Bonn"]]
    with pytest.raises(SeqlabError, match="no test split"):
        load_split(str(tmp_path), "test")
    assert len(load_split(str(tmp_path / "train.txt"), "train")) == 3
    with pytest.raises(SeqlabError, match="single file"):
        load_split(str(tmp_path / "train.txt"), "valid")
    with pytest.raises(SeqlabError, match="not a known dataset name"):
        load_split("no-such-data", "train")


def test_conll2003_resolves_under_seqlab_data(tmp_path, monkeypatch):
    (tmp_path / "conll2003").mkdir()
    _write(tmp_path / "conll2003", "train.txt", SAMPLE)
    monkeypatch.setenv("SEQLAB_DATA", str(tmp_path))
    data = load_split("conll2003", "train")
    assert len(data) == 3 and data.scheme == "iob1"
    assert load_split("conll2003", "train", tag_column="pos").scheme == "none"


@pytest.mark.real_data
def test_real_conll2003(monkeypatch):
    """The shared CoNLL-2003 files: sentence and token counts of the shared-task paper (runs, never skips, in CI)."""
    root = shared_data()
    monkeypatch.setenv("SEQLAB_DATA", str(root))
    dev = load_split("conll2003", "valid")
    assert (len(dev), dev.num_tokens, dev.scheme) == (3250, 51_362, "iob1")
    assert dev.words[0] == ["CRICKET", "-", "LEICESTERSHIRE", "TAKE", "OVER", "AT", "TOP", "AFTER", "INNINGS", "VICTORY", "."]
    assert dev.tags[0][2] == "I-ORG"
    assert sorted({t for s in dev.tags for t in s}) == ["B-MISC", "I-LOC", "I-MISC", "I-ORG", "I-PER", "O"]
    train = load_split("conll2003", "train")
    assert (len(train), train.num_tokens) == (14_041, 203_621)
    pos = load_split("conll2003", "dev", tag_column="pos")
    assert pos.scheme == "none" and pos.words == dev.words


@pytest.mark.parametrize(("text", "words"), [
    ("EU rejects German call to boycott British lamb.",
     ["EU", "rejects", "German", "call", "to", "boycott", "British", "lamb", "."]),
    ("The U.S. added 1,000 jobs, up 6.0% on 1996-08-30.",
     ["The", "U.S.", "added", "1,000", "jobs", ",", "up", "6.0", "%", "on", "1996-08-30", "."]),
    ("I don't think it's O'Brien's one-day match.",
     ["I", "do", "n't", "think", "it", "'s", "O'Brien", "'s", "one-day", "match", "."]),
    ('Mr. J. Smith of AT&T Inc. said -- "no"...', ["Mr.", "J.", "Smith", "of", "AT&T", "Inc.", "said", "--", '"', "no", '"',
                                                   "..."]),
    ("(Reuters) $5 at 10:30 a.m.", ["(", "Reuters", ")", "$", "5", "at", "10:30", "a.m."]),
    ("  ", []),
])
def test_split_words_and_offsets(text, words):
    got, offsets = split_words(text)
    assert got == words
    assert [text[a:b] for a, b in offsets] == words
    assert all(a < b for a, b in offsets) and offsets == sorted(offsets)


def test_split_words_offsets_map_entities_back_to_characters():
    text = "Zürich-based   UBS hired Peter Blackburn."
    words, offsets = split_words(text)
    assert words == ["Zürich-based", "UBS", "hired", "Peter", "Blackburn", "."]
    start, end = offsets[3][0], offsets[4][1]  # the PER entity over words 3..4
    assert text[start:end] == "Peter Blackburn"
