"""Hardening of what data a command reads and what it says about it: evaluation states what it scored, defaults
sized from the data, csv fields of any size, the README's commands as written, and exact resume after SIGKILL."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from seqlab.data.readers import read_labelled
from seqlab.errors import SeqlabError


# ---------------------------------------------------------------------------- csv fields (item 7)
def test_csv_field_over_csvs_default_limit_reads_as_jsonl_does(tmp_path):
    big = "word " * 40_000  # 200,000 characters: over csv's default field limit of 131,072
    path = tmp_path / "big.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([["text", "label"], ["short one", "neg"], [big, "pos"]])
    jsonl = tmp_path / "big.jsonl"
    jsonl.write_text("".join(json.dumps({"text": t, "label": lab}) + "\n"
                             for t, lab in [("short one", "neg"), (big, "pos")]), encoding="utf-8")
    assert read_labelled(path) == read_labelled(jsonl) == (["short one", big], ["neg", "pos"])
    assert csv.field_size_limit() == 131_072  # the process-wide setting is left as it was


def test_csv_errors_name_the_line_the_record_starts_on(tmp_path):
    path = tmp_path / "d.csv"
    # lines 2-3 hold one record (a quoted field with a newline); the record starting on line 4 spans lines 4-5
    # and has no text column
    path.write_text('label,text\npos,"two\nlines"\n"neg\nstill the label"\nneg,fine\n', encoding="utf-8")
    with pytest.raises(SeqlabError, match=r"d\.csv: line 4 has fewer columns than the header"):
        read_labelled(path)


def test_csv_quote_left_open_is_an_error_at_its_line_not_a_silent_label(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('text,label\nok,pos\n"never closed,neg\nmore,pos\nlast,neg\n', encoding="utf-8")
    with pytest.raises(SeqlabError, match=r"line 3 has fewer columns than the header \(the record runs to line 5"):
        read_labelled(path)


def test_csv_multiline_records_and_blank_lines_read(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('text,label\n"a\nb",pos\n\nc,neg\n', encoding="utf-8")
    assert read_labelled(path) == (["a\nb", "c"], ["pos", "neg"])


# ---------------------------------------------------------------------------- what evaluate scores (item 5)
def _evaluate(argv: list[str], capsys) -> tuple[dict, str]:
    """``seqlab evaluate ... --json``: the report, and what it wrote to standard error."""
    from seqlab.cli import main

    assert main(["evaluate", *argv, "--json"]) == 0
    captured = capsys.readouterr()
    return json.loads(captured.out), captured.err


def _printed(argv: list[str], capsys) -> str:
    from seqlab.cli import main

    assert main(["evaluate", *argv]) == 0
    return capsys.readouterr().out


@pytest.mark.slow  # trains a small bag (~1 s)
def test_classify_evaluate_scores_a_file_whole_unless_its_own_split_is_asked(tmp_path, capsys):
    import seqlab

    data = _reviews_file(tmp_path / "r.jsonl", 120, seed=5)
    out = tmp_path / "bag"
    seqlab.train("classify", out, data=str(data), epochs=1, buckets=1000, **QUIET)
    valid_accuracy = json.loads((out / "metrics.json").read_text())["valid"]["accuracy"]
    # no --data: the training file, scored whole and said so
    report, err = _evaluate([str(out)], capsys)
    assert (report["data"], report["split"], report["examples"]) == (str(data), "whole", 120)
    assert f"seqlab: warning: {data} is the model's training data: scoring all 120 examples, 108 of which" in err
    # its own validation part, however the path and the split are spelt: exactly what training validated on
    for spelt, split in ((str(data), "valid"), (str(tmp_path / "." / "r.jsonl"), "dev")):
        report, err = _evaluate([str(out), "--data", spelt, "--split", split], capsys)
        assert (report["split"], report["examples"]) == ("valid", 12) and report["accuracy"] == valid_accuracy
        assert "warning" not in err
    report, err = _evaluate([str(out), "--split", "train"], capsys)
    assert (report["split"], report["examples"]) == ("train", 108)
    assert "is the model's training data: scoring the 108 examples training learnt from" in err
    other = _reviews_file(tmp_path / "other.jsonl", 30, seed=9)
    report, err = _evaluate([str(out), "--data", str(other), "--split", "valid"], capsys)
    assert (report["split"], report["examples"]) == ("whole", 30) and "warning" not in err
    assert "is not the model's training data and has no splits of its own: scoring it whole" in err
    assert _printed([str(out), "--data", str(other)], capsys).startswith(f"scored 30 examples: all of {other}\n")


def _parallel_files(folder: Path, n: int = 40) -> str:
    import random

    de = ["Hund", "Katze", "Mann", "Frau", "rot", "blau", "läuft", "spielt"]
    en = ["dog", "cat", "man", "woman", "red", "blue", "runs", "plays"]
    rng = random.Random(0)
    pairs = [[rng.randrange(len(de)) for _ in range(rng.randint(2, 5))] for _ in range(n)]
    (folder / "a.de").write_text("".join(" ".join(de[i] for i in p) + " .\n" for p in pairs), encoding="utf-8")
    (folder / "a.en").write_text("".join(" ".join(en[i] for i in p) + " .\n" for p in pairs), encoding="utf-8")
    return f"{folder / 'a.de'},{folder / 'a.en'}"


@pytest.mark.slow  # trains a tiny translator (~1 s)
def test_translate_evaluate_scores_a_file_pair_whole(tmp_path, capsys):
    import seqlab

    data = _parallel_files(tmp_path)
    out = tmp_path / "mt"
    seqlab.train("translate", out, data=data, model="rnn", emb_size=8, hidden_size=8, tokenizer="word", epochs=1,
                 batch_size=8, max_time=None, **QUIET)
    report, err = _evaluate([str(out), "--data", data, "--beam", "1"], capsys)
    assert (report["split"], report["pairs"]) == ("whole", 40)  # was the carved test part: 4 pairs
    assert f"seqlab: warning: {data} is the model's training data: scoring all 40 pairs, 32 of which" in err
    report, err = _evaluate([str(out), "--split", "valid", "--beam", "1"], capsys)
    assert (report["split"], report["pairs"]) == ("valid", 4) and "warning" not in err
    assert "(scored 40 pairs: all of " in _printed([str(out), "--beam", "1"], capsys)


@pytest.mark.slow  # trains a tiny language model (~1 s)
def test_lm_evaluate_scores_a_text_file_whole(tmp_path, capsys):
    import random

    import seqlab

    rng = random.Random(0)
    book = tmp_path / "book.txt"
    book.write_text("".join(" ".join(rng.choices("the cat sat on a mat and ran".split(), k=6)) + "\n"
                            for _ in range(60)), encoding="utf-8")
    out = tmp_path / "lm"
    seqlab.train("lm", out, data=str(book), emb_size=8, hidden_size=8, batch_size=4, bptt=8, epochs=1,
                 max_time=None, **QUIET)
    report, err = _evaluate([str(out), "--data", str(book)], capsys)
    assert (report["split"], report["lines"], report["tokens"]) == ("whole", 60, report["scored_tokens"] + 1)
    assert f"{book} is the model's training data: scoring all 60 lines, 54 of which training learnt from" in err
    report, err = _evaluate([str(out), "--split", "train"], capsys)
    assert (report["split"], report["lines"]) == ("train", 54) and "scoring the 54 lines training learnt" in err
    assert "(scored " in _printed([str(out), "--split", "valid"], capsys)


@pytest.mark.slow  # trains a tiny tagger (~1 s)
def test_tag_evaluate_states_what_it_scored(tmp_path, capsys):
    import seqlab

    data = _two_column_file(tmp_path / "my.conll")
    out = tmp_path / "pos"
    seqlab.train("tag", out, data=str(data), tag_column="1", embeddings=None, **TAG_SMALL, **QUIET)
    report, err = _evaluate([str(out)], capsys)
    assert (report["split"], report["sentences"]) == ("whole", 40)
    assert "is the model's training data: scoring all 40 sentences, 36 of which training learnt from" in err
    report, err = _evaluate([str(out), "--split", "valid"], capsys)
    assert (report["split"], report["sentences"]) == ("valid", 4) and "warning" not in err
    assert _printed([str(out), "--split", "dev"], capsys).startswith(f"scored 4 sentences: the valid split of {data};")


# ---------------------------------------------------------------------------- sizes from the data (item 6)
def _reviews_file(path: Path, n: int, seed: int, classes: tuple[str, ...] = ("neg", "pos")) -> Path:
    from conftest import make_reviews

    path.write_text("".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in make_reviews(n, seed, classes)),
                    encoding="utf-8")
    return path


QUIET = {"progress": False, "threads": 1, "log": lambda *_: None}


@pytest.mark.slow  # trains twice (~2 s)
def test_bag_hash_table_is_sized_from_the_data_and_recorded(tmp_path):
    import seqlab
    from seqlab.modeldir import read_model_config
    from seqlab.tasks.classify.recipe import MIN_BUCKETS

    data = _reviews_file(tmp_path / "r240.jsonl", 240, seed=7, classes=("neg", "pos", "mixed"))
    out = tmp_path / "bag"
    logged: list[str] = []
    seqlab.train("classify", out, data=str(data), epochs=1, **{**QUIET, "log": logged.append})
    buckets = read_model_config(out)["config"]["model"]["buckets"]
    # 240 short reviews hold a few thousand distinct n-grams: a table of a few times that, not the recipe's 4M
    assert MIN_BUCKETS <= buckets <= 65_536 and buckets & (buckets - 1) == 0, buckets
    assert any(f"buckets: {buckets:,} n-gram hash buckets" in line for line in logged)
    weights, checkpoint = (out / "model.safetensors").stat().st_size, (out / "checkpoint.pt").stat().st_size
    assert weights < 1_000_000  # was 96,001,228 bytes (3 classes x 4,000,038 features, weights and NB ratios)
    assert checkpoint <= weights  # was 192,016,713: weights, NB ratios and two dense SparseAdam tables
    clf = seqlab.load(out)  # the saved config rebuilds the same model: its weights load strictly
    assert clf.model.num_features == clf.vocab_size + buckets
    assert clf.predict(["superb wonderful film", "dull awful plot"])[0]["label"] == "pos"
    small = tmp_path / "explicit"
    seqlab.train("classify", small, data=str(data), epochs=1, buckets=3000, **QUIET)  # a given --buckets is kept
    assert read_model_config(small)["config"]["model"]["buckets"] == 3000


def test_imdb_sized_data_still_gets_the_recipes_table():
    import numpy as np

    from seqlab.api import make_config
    from seqlab.models.bag import MAX_BUCKETS
    from seqlab.tasks.classify.recipe import bag_buckets

    assert make_config("classify", settings={"data": "imdb"}).model.buckets is None  # unset: sized when training
    # IMDB's first 8,000 reviews, roughly: 100-500 Zipf-distributed words from a 45k vocabulary (counting stops
    # within them; the real-data test below runs the real thing)
    rng = np.random.default_rng(0)
    lengths = rng.integers(100, 500, size=8_000)
    docs = np.split(rng.zipf(1.3, size=int(lengths.sum())).clip(max=45_000), np.cumsum(lengths)[:-1])
    assert bag_buckets(docs, 3, 45_092) == (MAX_BUCKETS, None)  # over a million distinct n-grams: counting stops
    assert bag_buckets(docs[:2], 3, 45_092)[0] < MAX_BUCKETS


@pytest.mark.slow
@pytest.mark.real_data
def test_real_imdb_training_path_keeps_four_million_buckets(monkeypatch):
    from conftest import shared_data

    from seqlab.api import make_config
    from seqlab.tasks.classify.recipe import ClassifyTask

    monkeypatch.setenv("SEQLAB_DATA", str(shared_data()))
    config = make_config("classify", settings={"data": "imdb", "limit": 3000})  # 3,000 reviews: 825k n-grams
    ClassifyTask(config, log=lambda *_: None)
    assert config.model.buckets == 4_000_000


def _vectors_file(path: Path, words: list[str], dim: int = 8) -> Path:
    import random

    rng = random.Random(0)
    path.write_text("".join(f"{w} {' '.join(f'{rng.uniform(-1, 1):.3f}' for _ in range(dim))}\n" for w in words),
                    encoding="utf-8")
    return path


TAG_SMALL = dict(emb_size=8, case_emb_size=4, char_emb_size=8, char_filters=8, hidden_size=8, epochs=1,
                 max_time=None, batch_size=16)


@pytest.mark.slow  # trains twice (~1-2 s)
def test_tagger_keeps_few_fixed_vector_rows_for_small_data(tmp_path):
    import seqlab
    from seqlab.modeldir import read_model_config

    data = _two_column_file(tmp_path / "my.conll")
    vectors = _vectors_file(tmp_path / "vectors.txt", [w.lower() for w, _ in POS_WORDS] + [f"w{i}" for i in range(5000)])
    out = tmp_path / "pos"
    seqlab.train("tag", out, data=str(data), tag_column="1", embeddings=str(vectors), **TAG_SMALL, **QUIET)
    meta = read_model_config(out)
    assert meta["config"]["vectors"]["extra_vectors"] == 1000  # 9 training words: the floor, not all 5,009 vectors
    text = json.loads((out / "text.json").read_text())
    assert len(text["extra"]) == 1000 and meta["embeddings"]["found"] == len(POS_WORDS)  # its words: from the vectors
    given = tmp_path / "given"
    seqlab.train("tag", given, data=str(data), tag_column="1", embeddings=str(vectors), extra_vectors=10,
                 **TAG_SMALL, **QUIET)
    assert len(json.loads((given / "text.json").read_text())["extra"]) == 10


def test_conll_sized_data_keeps_every_glove_word():
    from types import SimpleNamespace

    from seqlab.data.conll import TaggedSentences
    from seqlab.tasks.tag.recipe import extra_vectors_for

    glove = SimpleNamespace(words=[f"v{i}" for i in range(400_000)])
    conll = TaggedSentences([[f"t{i}" for i in range(j, j + 10)] for j in range(0, 21_009, 10)], [], "conll")
    assert extra_vectors_for(conll, glove, log=lambda *_: None) == 400_000  # CoNLL-2003 has 21,009 words
    tiny = TaggedSentences([["EU", "rejects", "it"]], [], "tiny")
    assert extra_vectors_for(tiny, glove, log=lambda *_: None) == 1000


def test_resume_refuses_a_checkpoint_whose_rebuilt_buffers_differ(tmp_path):
    import seqlab

    data = _reviews_file(tmp_path / "r.jsonl", 200, seed=4)
    out = tmp_path / "m"
    seqlab.train("classify", out, data=str(data), epochs=1, **QUIET)
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    for row in rows[::3]:  # the same texts, some labels changed: the same table, other Naive-Bayes ratios
        row["label"] = "pos" if row["label"] == "neg" else "neg"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(SeqlabError, match="nb_ratios as built from the data now differ"):
        seqlab.train("classify", out, data=str(data), epochs=2, resume=True, **QUIET)


# ---------------------------------------------------------------------------- SIGKILL, then --resume


def _weights(model_dir: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(model_dir / "model.safetensors"))


TIMING = {"examples_per_s", "epoch_seconds"}  # the only fields of a metrics.jsonl record that may differ


@pytest.mark.slow  # three trainings, one in a fresh interpreter (~4 s)
def test_sigkill_mid_epoch_then_resume_equals_an_uninterrupted_run(tmp_path):
    import signal
    import subprocess
    import sys

    import torch
    from conftest import REPO, wait_until

    from seqlab.cli import main

    data = _reviews_file(tmp_path / "reviews.jsonl", 2000, seed=3)
    # token dropout draws from the global RNG each step: the resumed run must restore it exactly
    settings = ["--data", str(data), "--epochs", "3", "--batch-size", "8", "--eval-every", "40", "--patience", "100",
                "--token-dropout", "0.2", "--lr", "0.01", "--threads", "1", "--no-progress"]
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    process = subprocess.Popen([sys.executable, "-m", "seqlab.cli", "train", "classify", *settings, "--out", str(killed)],
                               cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        def in_epoch_2() -> bool:  # the first checkpoint is there and epoch 2 has evaluated once: mid-epoch
            log = killed / "metrics.jsonl"
            return (killed / "checkpoint.pt").exists() and log.exists() and '"epoch": 2' in log.read_text()

        wait_until(lambda: in_epoch_2() or process.poll() is not None, timeout=120, message="the first checkpoint")
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL, process.stderr.read().decode() if process.stderr else ""
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    blob = torch.load(killed / "checkpoint.pt", weights_only=True)
    assert json.loads(blob["state"])["epoch"] == 1  # killed in epoch 2 (the checkpoint is written at epoch ends)
    logged = [json.loads(line) for line in (killed / "metrics.jsonl").read_text().splitlines()]
    assert max(r["epoch"] for r in logged) == 2 and not logged[-1]["epoch"] == 3  # killed mid-epoch 2

    assert main(["train", "classify", *settings, "--out", str(killed), "--resume"]) == 0
    assert main(["train", "classify", *settings, "--out", str(whole)]) == 0
    resumed, uninterrupted = _weights(killed), _weights(whole)
    assert resumed.keys() == uninterrupted.keys()
    for name in resumed:
        assert torch.equal(resumed[name], uninterrupted[name]), name
    assert json.loads((killed / "metrics.json").read_text()) == json.loads((whole / "metrics.json").read_text())
    records = [[{k: v for k, v in json.loads(line).items() if k not in TIMING} for line in
                (run / "metrics.jsonl").read_text().splitlines()] for run in (killed, whole)]
    assert records[0] == records[1]  # the killed run's evaluations after its checkpoint are not left in the log
    final = [torch.load(run / "checkpoint.pt", weights_only=True) for run in (killed, whole)]
    for a, b in zip(*(blob["model"].values() for blob in final), strict=True):
        assert torch.equal(a, b)


# ---------------------------------------------------------------------------- two-column tag files (item 9)
POS_WORDS = [("John", "NNP"), ("Mary", "NNP"), ("met", "VBD"), ("saw", "VBD"), ("the", "DT"), ("dog", "NN"),
             ("in", "IN"), ("Paris", "NNP"), (".", ".")]


def _two_column_file(path: Path, sentences: int = 40) -> Path:
    import random

    rng = random.Random(0)
    lines = []
    for _ in range(sentences):
        lines += [f"{w} {t}" for w, t in rng.sample(POS_WORDS, 5)] + [""]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ---------------------------------------------------------------------------- the README's commands, as written (item 9)
README_SKIPS = {  # a part of a command -> why the test does not run it
    "seqlab serve": "starts a server that runs until it is stopped (tests/test_serve_*.py run one)",
    "--model pretrained": "fine-tunes the MiniLM encoder (the hf extra): minutes, not seconds",
    "classify ...": "'...' stands for the flags of an earlier command",
    "--device cuda": "needs a CUDA GPU (none here; the CPU paths of the same code run in these tests)",
    "torchrun": "launches several processes (tests/test_distributed.py runs torchrun, two nodes included)",
    "--top 5000": "a 5,000-word t-SNE map: about 45 s here (tests/test_maps.py draws small ones)",
    "big/": "needs the 10x IMDB corpus that benchmarks/make_big_imdb.py writes (tests/test_streaming.py streams small ones)",
    "docs/glove-map.png": "redraws the README's figure: 13 s of t-SNE (tests/test_maps.py draws small maps)",
}
# appended to every `seqlab train` so that the recipes (up to 60-minute budgets) make one pass over the tiny data;
# everything else runs exactly as the README writes it
ONE_PASS = ["--epochs", "1", "--max-time", "none", "--no-progress"]


def readme_commands(text: str) -> list[tuple[int, str, list[str] | None, str | None]]:
    """``(bash block, line, seqlab argv or None, why not run)`` for every ``seqlab ...`` command of the README's
    bash blocks: chains (``&&``) split, ``[A | B]`` read as ``A``, ``cat FILE | seqlab ...`` kept as a pipe."""
    import re
    import shlex

    out: list[tuple[int, str, list[str] | None, str | None]] = []
    for number, block in enumerate(re.findall(r"```bash\n(.*?)```", text, re.S)):
        for line in block.replace("\\\n", " ").splitlines():
            for part in line.split("&&"):
                if not re.search(r"(^|[\s|])seqlab\s", part):
                    continue
                shown = re.sub(r"\[([^\]|]+?)(?: \|[^\]]*)?\]", r"\1", part).strip()
                skip = next((why for key, why in README_SKIPS.items() if key in shown), None)
                words = shlex.split(shown, comments=True)
                out.append((number, shown, None if skip else words, skip))
    return out


def _fake_datasets(root: Path) -> None:
    """Tiny stand-ins for $SEQLAB_DATA's imdb, multi30k, wikitext-2 and conll2003, in their own layouts."""
    import gzip
    import random

    from conftest import make_reviews

    rng = random.Random(0)
    (root / "imdb").mkdir(parents=True)
    for split, n in (("train", 80), ("test", 20)):
        with gzip.open(root / "imdb" / f"{split}.jsonl.gz", "wt", encoding="utf-8") as fh:
            for text, label in make_reviews(n, seed=len(split)):
                fh.write(json.dumps({"text": text, "label": int(label == "pos")}) + "\n")
    de = ["Ein", "Mann", "Hund", "Hut", "spielen", "im", "Schnee", "Zwei", "Hunde", "mit", "einem"]
    en = ["A", "man", "dog", "hat", "play", "in", "snow", "Two", "dogs", "with", "a"]
    (root / "multi30k").mkdir()
    for split, n in (("train", 80), ("val", 10), ("test_2016_flickr", 10)):
        pairs = [[rng.randrange(len(de)) for _ in range(rng.randint(3, 7))] for _ in range(n)]
        for lang, words in (("de", de), ("en", en)):
            (root / "multi30k" / f"{split}.{lang}").write_text(
                "".join(" ".join(words[i] for i in p) + ".\n" for p in pairs), encoding="utf-8")
    (root / "wikitext-2").mkdir()
    for split, n in (("train", 80), ("valid", 10), ("test", 10)):
        (root / "wikitext-2" / f"{split}.txt").write_text(
            "".join(" " + " ".join(rng.choices("the film was released in 1999 and it is good".split(), k=8)) + " \n"
                    for _ in range(n)), encoding="utf-8")
    (root / "conll2003").mkdir()
    for split, n in (("train", 40), ("dev", 10)):
        lines = ["-DOCSTART- -X- -X- O", ""]
        for _ in range(n):
            lines += ["EU NNP I-NP I-ORG", "rejects VBZ I-VP O", "German JJ I-NP I-MISC", "call NN I-NP O",
                      f"{rng.choice(['Peter', 'Anna'])} NNP I-NP I-PER", ". . O O", ""]
        (root / "conll2003" / f"{split}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _user_files(cwd: Path) -> None:
    """The README's own files: reviews.csv, my_reviews.jsonl, reviews.txt, many.txt, my_book.txt, my.conll."""
    from conftest import make_reviews

    rows = make_reviews(60, seed=11)
    with open(cwd / "reviews.csv", "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([["review", "stars"], *[(t, "5" if lab == "pos" else "1") for t, lab in rows]])
    (cwd / "my_reviews.jsonl").write_text("".join(json.dumps({"text": t, "label": int(lab == "pos")}) + "\n"
                                                  for t, lab in rows[:20]), encoding="utf-8")
    (cwd / "reviews.txt").write_text("".join(t + "\n" for t, _ in rows[:5]), encoding="utf-8")
    (cwd / "many.txt").write_text("".join(t + "\n" for t, _ in rows), encoding="utf-8")
    (cwd / "my_book.txt").write_text("".join(t + "\n" for t, _ in rows), encoding="utf-8")
    _two_column_file(cwd / "my.conll")
    # the embeddings sections' files: a corpus, word lists for maps, similarity pairs, analogy questions, labels
    (cwd / "my_corpus.txt").write_text("".join(t + "\n" for t, _ in rows * 3), encoding="utf-8")
    (cwd / "words.txt").write_text("king\nqueen\nfrance\nparis\nfootball\ncomputer\n", encoding="utf-8")
    (cwd / "topics.tsv").write_text("king\troyalty\nqueen\troyalty\nfrance\tplaces\nparis\tplaces\n", encoding="utf-8")
    (cwd / "my_pairs.tsv").write_text("film\tmovie\t9\ngreat\tgood\t8\nfilm\tgood\t2\n", encoding="utf-8")
    (cwd / "my_questions.txt").write_text(": words\nfilm movie good great\n", encoding="utf-8")
    (cwd / "labels.txt").write_text("".join(lab + "\n" for _, lab in rows[:5]), encoding="utf-8")


@pytest.mark.slow  # every runnable README command on tiny data (~15 s)
def test_every_readme_command_runs_as_written(tmp_path, monkeypatch, capsys):
    import io
    import sys

    from conftest import REPO

    from seqlab.cli import main

    commands = readme_commands((REPO / "README.md").read_text(encoding="utf-8"))
    skipped = [(line, why) for _, line, argv, why in commands if argv is None]
    assert {why for _, why in skipped} <= set(README_SKIPS.values())
    assert len(commands) - len(skipped) >= 30, commands  # the README's commands were found
    _fake_datasets(tmp_path / "data")
    monkeypatch.setenv("SEQLAB_DATA", str(tmp_path / "data"))
    failures = []
    for block in sorted({b for b, *_ in commands}):
        cwd = tmp_path / f"block{block}"  # each block from a fresh folder, as a reader would run it
        cwd.mkdir()
        _user_files(cwd)
        monkeypatch.chdir(cwd)
        for _, line, argv, _why in (c for c in commands if c[0] == block):
            if argv is None:
                continue
            start = argv.index("seqlab")
            if argv[:start][:1] == ["cat"] and argv[start - 1] == "|":  # cat FILE | seqlab ...
                monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO((cwd / argv[1]).read_bytes())))
            args = argv[start + 1:]
            if args[0] == "train" and "--help" not in args:
                args = [*args, *ONE_PASS]
            try:
                code = main(args)
            except SystemExit as exc:  # --help
                code = exc.code or 0
            captured = capsys.readouterr()
            if code != 0:
                failures.append(f"{line}\n    exit {code}: {captured.err.strip()[-400:]}")
    assert not failures, "README commands that fail as written:\n" + "\n".join(failures)
    print("skipped:\n" + "\n".join(f"  {line}: {why}" for line, why in skipped))
