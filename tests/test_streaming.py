"""Corpora larger than memory (issue 18, item 4): streaming readers, the chunked memory-mapped token cache, shards,
windowed batches, tokenising in worker processes with the tokens and ids of one process, training streamed from
the cache, and ``predict|tag|translate --file`` a window at a time in input order."""

from __future__ import annotations

import csv
import gzip
import io
import json
import shutil
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_reviews

from seqlab.data import readers
from seqlab.data.batching import bucket_batches
from seqlab.data.cache import Ragged, cached_entry, to_ragged
from seqlab.data.classification import ClassifyDataConfig, load_train_valid, plan_train_valid
from seqlab.data.conll import iter_conll, read_conll
from seqlab.data.corpus import iter_lines, read_lines
from seqlab.data.parallel import iter_parallel_files, iter_parallel_tsv, read_parallel_files, read_parallel_tsv
from seqlab.data.streaming import Shard, WindowBatch, ordered_map, shard, window_batches, windows, worker_shard
from seqlab.errors import SeqlabError

FIXTURES = Path(__file__).parent / "fixtures" / "model-dirs-8706680"


# ---------------------------------------------------------------------------- readers stream
def _write_jsonl(path: Path, rows: list[tuple[str, str]], broken_at: int | None = None) -> Path:
    lines = [json.dumps({"text": t, "label": lab}) for t, lab in rows]
    if broken_at is not None:
        lines[broken_at - 1] = "{not json"
    data = ("\n".join(lines) + "\n").encode("utf-8")
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


@pytest.mark.parametrize("name", ["d.jsonl", "d.jsonl.gz", "d.csv", "d.tsv.gz", "d.txt"])
def test_each_reader_streams_what_read_labelled_reads(tmp_path, name):
    rows = make_reviews(50, seed=3)
    path = tmp_path / name
    if ".jsonl" in name:
        _write_jsonl(path, rows)
    elif ".txt" in name:
        path.write_text("".join(f"__label__{lab} {t}\n" for t, lab in rows), encoding="utf-8")
    else:
        buffer = io.StringIO(newline="")
        csv.writer(buffer, delimiter="\t" if ".tsv" in name else ",").writerows([("text", "label"), *rows])
        data = buffer.getvalue().encode("utf-8")
        path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    assert list(readers.iter_labelled(path)) == list(zip(*readers.read_labelled(path), strict=True)) == rows


def test_a_stream_holds_one_record_and_fails_where_the_file_does(tmp_path):
    """Records before a broken line come out before the error: nothing reads ahead of what is asked for."""
    path = _write_jsonl(tmp_path / "d.jsonl.gz", make_reviews(30, seed=4), broken_at=21)
    stream = readers.iter_labelled(path)
    got = [next(stream) for _ in range(20)]
    assert len(got) == 20
    with pytest.raises(SeqlabError, match="line 21 is not valid JSON"):
        next(stream)


@pytest.mark.parametrize("text", ["text,label\r\na,x\rb,y\r\n", 'text,label\n"a\rb",x\n"c\r\nd",y\r', "text,label\rq,z"])
def test_csv_line_ends_are_read_as_the_whole_file_reader_read_them(tmp_path, text):
    """Lone carriage returns end lines for csv as they did when the whole file was one ``StringIO``."""
    path = tmp_path / "d.csv"
    path.write_bytes(text.encode("utf-8"))
    reader = csv.reader(io.StringIO(text, newline=""))
    next(reader)
    assert list(readers.iter_labelled(path)) == [tuple(row) for row in reader if row]


def test_conll_parallel_and_lines_stream_what_the_readers_read(tmp_path):
    conll = tmp_path / "t.conll"
    conll.write_text("-DOCSTART- O\n\nEU B-ORG\nrejects O\n\nPeter B-PER\nBlackburn I-PER\n", encoding="utf-8")
    whole = read_conll(conll)
    assert [(w, t) for w, t, _ in iter_conll(conll)] == list(zip(whole.words, whole.tags, strict=True))
    assert [line for _, _, line in iter_conll(conll)] == whole.lines == [3, 6]
    (tmp_path / "a.de").write_text("ein Hund\n\nzwei\n", encoding="utf-8")
    (tmp_path / "a.en").write_text("a dog\nx\ntwo\n", encoding="utf-8")
    pairs = read_parallel_files(tmp_path / "a.de", tmp_path / "a.en")
    assert list(iter_parallel_files(tmp_path / "a.de", tmp_path / "a.en")) == list(zip(pairs.src, pairs.tgt,
                                                                                      strict=True))
    (tmp_path / "b.en").write_text("a dog\nx\n", encoding="utf-8")
    with pytest.raises(SeqlabError, match="has 3 lines but .*b.en has 2"):
        list(iter_parallel_files(tmp_path / "a.de", tmp_path / "b.en"))
    tsv = tmp_path / "p.tsv"
    tsv.write_text("Go.\tVa !\n\nHi.\t\nRun!\tCours !\n", encoding="utf-8")
    assert list(iter_parallel_tsv(tsv)) == list(zip(*(lambda p: (p.src, p.tgt))(read_parallel_tsv(tsv)),
                                                    strict=True))
    assert list(iter_lines(tsv)) == read_lines(tsv)


# ---------------------------------------------------------------------------- the chunked cache
def test_a_ragged_array_written_in_chunks_reads_back_memory_mapped(tmp_path):
    rng = np.random.default_rng(0)
    seqs = [rng.integers(0, 1000, size=rng.integers(0, 30)).tolist() for _ in range(500)]

    def build(builder):
        writer = builder.ragged("docs")
        for start in range(0, len(seqs), 64):  # chunk by chunk, as a stream arrives
            part = to_ragged(seqs[start: start + 64])
            writer.append(part["ids"], np.diff(part["offsets"]))
        builder.add_ragged(writer)
        builder.array("labels", np.arange(len(seqs), dtype=np.int32))
        return {"note": "built"}

    entry = cached_entry({"test": "ragged"}, build)
    docs = entry.ragged("docs")
    assert isinstance(docs.ids, np.memmap) and entry.meta == {"note": "built"}
    assert len(docs) == 500 and [d.tolist() for d in docs] == seqs
    assert [d.tolist() for d in docs[10:13]] == seqs[10:13]
    docs.release()  # the pages go back; the data is still there
    assert docs[499].tolist() == seqs[499] and entry.array("labels")[7] == 7
    again = cached_entry({"test": "ragged"}, lambda _: pytest.fail("a cached entry is not built again"))
    assert [d.tolist() for d in again.ragged("docs")] == seqs


def test_an_interrupted_or_damaged_entry_is_never_used(tmp_path):
    def failing(builder):
        writer = builder.ragged("docs")
        writer.append(np.arange(3), np.array([3]))
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cached_entry({"test": "interrupted"}, failing)
    from seqlab.data.cache import cache_dir

    assert not any(cache_dir().iterdir())  # no entry, no temporary folder left behind

    def build(builder):
        writer = builder.ragged("docs")
        writer.append(np.arange(6), np.array([2, 4]))
        builder.add_ragged(writer)
        return {}

    entry = cached_entry({"test": "damaged"}, build)
    ids = entry.folder / "docs.ids"
    ids.write_bytes(ids.read_bytes()[:8])  # cut short
    rebuilt = cached_entry({"test": "damaged"}, build)
    assert [d.tolist() for d in rebuilt.ragged("docs")] == [[0, 1], [2, 3, 4, 5]]


def test_an_entry_is_built_in_a_temporary_folder_when_the_cache_is_off(tmp_path):
    entry = cached_entry({"test": "off"}, lambda b: {"x": 1}, enabled=False)
    from seqlab.data.cache import cache_dir

    assert entry.meta == {"x": 1} and cache_dir() not in entry.folder.parents


# ---------------------------------------------------------------------------- shards
@pytest.mark.parametrize("n, count, size", [(0, 3, 4), (10, 3, 4), (1000, 7, 16), (5, 8, 1)])
def test_shards_split_a_stream_without_overlap(n, count, size):
    items = list(range(n))
    parts = [list(Shard(i, count).of(items, size)) for i in range(count)]
    assert sorted(x for part in parts for x in part) == items
    assert [Shard(i, count).indices(n, size).tolist() for i in range(count)] == parts
    # a rank's shard split among its loader workers: still each example once
    ranks = [shard(r, 2) for r in range(2)]
    workers = [list(r.split(w, 3).of(items, size)) for r in ranks for w in range(3)]
    assert sorted(x for part in workers for x in part) == items


def test_shards_are_checked():
    with pytest.raises(SeqlabError, match="shard 3 of 3"):
        shard(3, 3)


class _Stream(torch.utils.data.IterableDataset):
    def __init__(self, n: int, rank: Shard) -> None:
        self.n, self.rank = n, rank

    def __iter__(self):
        return worker_shard(self.rank).of(range(self.n), 5)


@pytest.mark.slow  # starts loader worker processes (~1 s)
def test_loader_workers_of_two_ranks_see_each_example_once():
    seen = [int(x) for r in range(2) for x in torch.utils.data.DataLoader(_Stream(103, shard(r, 2)), batch_size=None,
                                                                          num_workers=2)]
    assert sorted(seen) == list(range(103))


# ---------------------------------------------------------------------------- parallel work in order
def _square(context, x):
    if x == 13:
        raise SeqlabError("13 is refused")
    return context * x * x


def _ten():
    return 10


@pytest.mark.slow  # starts worker processes (~0.5 s)
def test_ordered_map_keeps_the_order_bounds_the_work_in_flight_and_passes_errors_on():
    pulled = []

    def items(n):
        for i in range(n):
            pulled.append(i)
            yield i

    out = ordered_map(_square, items(12), 2, setup=_ten, inflight=3)
    first = next(out)
    assert first == 0 and len(pulled) <= 4  # not the whole stream handed out at once
    assert [first, *out] == [10 * i * i for i in range(12)]
    with pytest.raises(SeqlabError, match="13 is refused"):
        list(ordered_map(_square, range(20), 2, setup=_ten))
    assert list(ordered_map(_square, range(5), 0, setup=_ten)) == [10 * i * i for i in range(5)]


# ---------------------------------------------------------------------------- windowed batches
def test_data_that_fits_one_window_gets_exactly_the_in_memory_batches():
    lengths = np.random.default_rng(1).integers(1, 300, size=5000)
    windowed = window_batches(lengths, batch_size=32, generator=torch.Generator().manual_seed(5), window=8192)
    plain = bucket_batches(lengths, batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(5))
    assert [list(b) for b in windowed] == plain


@pytest.mark.parametrize("max_tokens", [None, 2000])
def test_windowed_batches_take_each_example_once_a_window_at_a_time(max_tokens):
    lengths = np.random.default_rng(2).integers(1, 300, size=10_000)
    batches = window_batches(lengths, batch_size=32, max_tokens=max_tokens, window=2048, chunk=256,
                             generator=torch.Generator().manual_seed(0))
    assert sorted(i for b in batches for i in b) == list(range(10_000))
    assert all(isinstance(b, WindowBatch) and 0 < len(b) <= 32 for b in batches)
    if max_tokens:
        assert all(max(lengths[b]) * len(b) <= max_tokens or len(b) == 1 for b in batches)
    order = [b.window for b in batches]
    assert order == sorted(order) and len(set(order)) == 5  # the windows follow one another
    plan = windows(10_000, window=2048, chunk=256, generator=torch.Generator().manual_seed(0))
    for b in batches:  # each batch's examples are of its window
        assert set(b) <= set(plan[b.window].tolist())
    again = window_batches(lengths, batch_size=32, max_tokens=max_tokens, window=2048, chunk=256,
                           generator=torch.Generator().manual_seed(0))
    assert [list(b) for b in again] == [list(b) for b in batches]
    json.dumps(batches[0])  # the trainer's batch trace writes batches as JSON lists


# ---------------------------------------------------------------------------- tokenising: same tokens, same ids
def _reference_encoding(train_texts, valid_texts, pipe):
    """The one-process encoding the cache held before streaming (tokens counted with a Counter)."""
    from seqlab.text.vocab import PAD, UNK

    cleaned = {"train": [pipe.clean(t) for t in train_texts], "valid": [pipe.clean(t) for t in valid_texts]}
    pipe.tokenizer.fit(cleaned["train"])
    tokens = {s: pipe.tokenizer.tokenize_many(c) for s, c in cleaned.items()}
    counts = Counter(tok for toks in tokens["train"] for tok in toks)
    ranked = sorted((t for t in counts if t not in (PAD, UNK)), key=lambda t: (-counts[t], t))
    unseen = sorted({t for toks in tokens["valid"] for t in toks} - set(counts) - {PAD, UNK})
    itos = [PAD, UNK, *ranked, *unseen]
    stoi = {t: i for i, t in enumerate(itos)}
    return itos, {s: [[stoi[t] for t in doc] for doc in toks] for s, toks in tokens.items()}


def _corpus(tmp_path: Path, n: int = 3000) -> Path:
    rows = make_reviews(n, seed=7)
    rows[5] = ("<br />Café, naïve — 10/10!!! <pad> <unk>", rows[5][1])
    rows[9] = ("   ", rows[9][1])  # empty after cleaning
    return _write_jsonl(tmp_path / "reviews.jsonl.gz", rows)


@pytest.mark.parametrize("tokenizer", ["regex", "whitespace", "bpe"])
@pytest.mark.parametrize("settings", [{}, {"limit": 1000}, {"valid": True}])
@pytest.mark.slow  # tokenises 3,000 reviews twice, once in 2 processes (~1 s each)
def test_streamed_tokenising_gives_the_ids_of_one_process(tmp_path, tokenizer, settings):
    from seqlab.tasks.classify.recipe import _Docs, _encode_words
    from seqlab.text.pipeline import TextConfig, TextPipeline
    from seqlab.text.vocab import PAD, UNK, Vocab

    path = _corpus(tmp_path)
    valid_file = None
    if settings.get("valid"):
        valid_file = _write_jsonl(tmp_path / "valid.jsonl", make_reviews(300, seed=8))
    data = ClassifyDataConfig(data=str(path), valid_data=str(valid_file) if valid_file else None,
                              limit=settings.get("limit"))
    text = TextConfig(tokenizer=tokenizer, bpe_vocab_size=300, min_freq=1)

    def factory():
        return TextPipeline(text, TextPipeline.new_tokenizer(text), Vocab([PAD, UNK], [PAD, UNK]))

    train, valid = load_train_valid(data)
    itos, expected = _reference_encoding(train.texts, valid.texts, factory())
    for workers in (0, 2):
        shutil.rmtree(Path(__import__("os").environ["SEQLAB_CACHE"]), ignore_errors=True)
        pipeline, splits = _encode_words(plan_train_valid(data), text, factory, workers)
        assert pipeline.vocab.itos == itos
        for split in ("train", "valid"):
            assert splits[split].labels == (train if split == "train" else valid).labels
            docs = _Docs(splits[split].ids, pipeline.vocab, text)
            assert [d.tolist() for d in docs.materialize()] == [d[: text.max_len] for d in expected[split]]


# ---------------------------------------------------------------------------- training streamed from the cache
@pytest.mark.slow  # trains two small bags (~3 s)
def test_a_corpus_over_the_window_trains_streamed_and_each_example_once_an_epoch(tmp_path):
    from seqlab.api import make_config
    from seqlab.tasks.classify.recipe import ClassifyTask

    path = _corpus(tmp_path, 4000)
    small = dict(data=str(path), epochs=1, batch_size=32, max_time=None, crops=0)  # crops: cut per chunk (below)
    streamed = ClassifyTask(make_config("classify", settings={**small, "stream_window": 1024}), log=lambda *_: None)
    whole = ClassifyTask(make_config("classify", settings=small), log=lambda *_: None)
    assert streamed.streamed and not whole.streamed
    assert isinstance(streamed.inputs["train"], Ragged)
    # the same examples, features and Naive-Bayes ratios either way: only the batches' order differs
    assert streamed.stats == whole.stats
    assert [d.tolist() for d in streamed.inputs["train"]] == [d.tolist() for d in whole.inputs["train"]]
    assert torch.equal(streamed.model.nb_ratios, whole.model.nb_ratios)
    assert torch.equal(streamed.targets["train"], whole.targets["train"])
    batches = streamed.train_batches(torch.Generator().manual_seed(3))
    assert sorted(i for b in batches for i in b) == list(range(len(streamed.inputs["train"])))
    assert len({b.window for b in batches}) == -(-len(streamed.inputs["train"]) // 1024)
    for batch in batches[:5]:
        loss, count = streamed.loss(batch)
        assert torch.isfinite(loss) and count == len(batch)
    assert 0.5 < streamed.validate()["accuracy"] <= 1.0


@pytest.mark.slow  # prepares a small bag (~2 s)
def test_crops_of_a_streamed_corpus_are_cut_a_chunk_at_a_time_and_labelled_like_their_text(tmp_path):
    from seqlab.api import make_config
    from seqlab.tasks.classify.recipe import ClassifyTask

    rows = [(f"{t} {t.lower()} It was {lab}. Then {t.lower()}", lab) for t, lab in make_reviews(3000, seed=11)]
    path = _write_jsonl(tmp_path / "long.jsonl", rows)
    task = ClassifyTask(make_config("classify", settings=dict(data=str(path), crops=2, stream_window=1024,
                                                              embeddings=None)), log=lambda *_: None)
    assert task.streamed and task.stats["train_crops"] > 0
    assert len(task.inputs["train"]) == task.stats["train_examples"] + task.stats["train_crops"]
    assert len(task.targets["train"]) == len(task.inputs["train"])
    batches = task.train_batches(torch.Generator().manual_seed(0))
    assert sorted(i for b in batches for i in b) == list(range(len(task.inputs["train"])))


@pytest.mark.slow  # trains a small bag (~2 s)
def test_training_streamed_saves_a_model_that_predicts(tmp_path):
    import seqlab

    path = _corpus(tmp_path, 3000)
    seqlab.train("classify", tmp_path / "m", data=str(path), stream_window=1024, epochs=1, max_time=None,
                 log=lambda *_: None)
    model = seqlab.load(tmp_path / "m")
    assert model.predict(["great wonderful film"])[0]["label"] == "pos"


# ---------------------------------------------------------------------------- predict/tag/translate --file
def _cli(argv: list[str], capsys) -> str:
    from seqlab.cli import main

    assert main(argv) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("command, model, extra", [
    ("predict", "classify-bag", ["--json"]), ("predict", "classify-bag", []),
    ("tag", "tag-bilstm-crf", ["--json"]), ("translate", "translate-rnn", []),
])
def test_file_commands_write_a_window_at_a_time_in_input_order(tmp_path, capsys, monkeypatch, command, model, extra):
    lines = [t for t, _ in make_reviews(23, seed=9)]
    lines[4] = ""
    big = tmp_path / "big.txt"
    big.write_text("\n".join(lines) + "\n", encoding="utf-8")
    target = shutil.copytree(FIXTURES / model, tmp_path / model)
    whole = _cli([command, str(target), "--file", str(big), *extra], capsys)
    import seqlab.commandline

    windows_read: list[int] = []
    real = seqlab.commandline.input_windows

    def spy(args, window=None):
        for chunk in real(args, 5):
            windows_read.append(len(chunk))
            yield chunk

    monkeypatch.setattr(seqlab.commandline, "input_windows", spy)
    assert _cli([command, str(target), "--file", str(big), *extra], capsys) == whole
    assert windows_read == [5, 5, 5, 5, 3]


def test_input_windows_read_no_further_than_asked(monkeypatch):
    from argparse import Namespace

    from seqlab.commandline import input_windows

    read = []

    class Stdin:
        def isatty(self):
            return False

        @property
        def buffer(self):
            def lines():
                for i in range(1000):
                    read.append(i)
                    yield f"line {i}\r\n".encode()
            return lines()

    monkeypatch.setattr(sys, "stdin", Stdin())
    windows_ = input_windows(Namespace(texts=[], file=None), 10)
    assert next(windows_) == [f"line {i}" for i in range(10)]
    assert len(read) == 10
    assert sum(len(w) for w in windows_) == 990


def test_tag_holds_blank_lines_until_the_first_text_and_refuses_an_input_without_any(tmp_path, capsys, monkeypatch):
    import seqlab.commandline
    from seqlab.cli import main

    target = shutil.copytree(FIXTURES / "tag-bilstm-crf", tmp_path / "tagger")
    real = seqlab.commandline.input_windows
    monkeypatch.setattr(seqlab.commandline, "input_windows", lambda args, window=None: real(args, 2))
    blank = tmp_path / "blank.txt"
    blank.write_text("\n \n\n\n", encoding="utf-8")
    assert main(["tag", str(target), "--file", str(blank)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "nothing to tag" in captured.err
    late = tmp_path / "late.txt"
    late.write_text("\n\n\n\nPeter Blackburn visited Paris.\n", encoding="utf-8")
    out = _cli(["tag", str(target), "--file", str(late), "--json"], capsys).splitlines()
    assert [json.loads(line)["text"] for line in out] == ["", "", "", "", "Peter Blackburn visited Paris."]
