"""Vectors of any model: ``seqlab embed`` (one vector per text: the pooled representation the model answers from),
``seqlab vectors MODEL_DIR`` (its input embedding table) and ``POST /v1/models/{name}/embed``, on tiny models trained
here (the serve tests' bag, RNN and translator, and a transformer, a mean bag, a tagger and a language model)."""

from __future__ import annotations

import json
from functools import cache, lru_cache

import numpy as np
import pytest
import torch
from serve_models import _train, bag_dir, lm_dir, reviews_csv, rnn_dir, tagger_dir, translator_dir

import seqlab
from seqlab import vectors as vec
from seqlab.cli import main
from seqlab.errors import SeqlabError
from seqlab.tasks.classify.recipe import probabilities

SLOW = pytest.mark.slow  # the tiny models train first (a few seconds each, once per test process)

TEXTS = ["A wonderful superb film.", "Dull and tedious plot, awful acting.", "", "the movie was a film of it",
         "great great great moving brilliant story and a superb camera and a delightful actor"]
COLUMNS = {"text_column": "review", "label_column": "sentiment"}


@lru_cache(maxsize=1)
def transformer_dir():
    return _train("classify", "transformer", data=str(reviews_csv()), **COLUMNS, model="transformer", d_model=16,
                  heads=2, layers=1, ff_size=32, epochs=1, batch_size=16, min_freq=1, threads=1)


@lru_cache(maxsize=1)
def mean_bag_dir():
    return _train("classify", "bag-mean", data=str(reviews_csv()), **COLUMNS, model="bag", weighting="mean",
                  emb_size=8, buckets=512, lr=0.05, epochs=1, batch_size=16, min_freq=1)


MODELS = {"rnn": rnn_dir, "transformer": transformer_dir, "bag-mean": mean_bag_dir, "tagger": tagger_dir,
          "translator": translator_dir, "lm": lm_dir}


@cache
def loaded(name: str):
    return seqlab.load(MODELS[name]())


# ---------------------------------------------------------------------------- the vector of a text
@SLOW
@pytest.mark.parametrize("name", ["rnn", "transformer", "bag-mean"])
def test_a_classifiers_vector_is_what_its_output_layer_reads(name):
    """The head applied to the vector gives exactly the probabilities predict() gives: it is the model's own
    pooled representation (attention-pooled GRU states, mean-pooled transformer outputs, the bag's mean)."""
    predictor = loaded(name)
    texts = [t for t in TEXTS if t]
    vectors = predictor.embed(texts)
    with torch.no_grad():
        probs = probabilities(predictor.model.head(torch.from_numpy(vectors)))
    expected = [[p["probabilities"][label] for label in predictor.labels] for p in predictor.predict(texts)]
    assert probs.numpy() == pytest.approx(np.array(expected), abs=1e-5)
    assert predictor.capabilities.text_vector.endswith("(what its output layer reads)")


@SLOW
@pytest.mark.parametrize("name", list(MODELS))
def test_batched_vectors_equal_one_by_one_and_an_empty_text_is_zero(name):
    predictor = loaded(name)
    texts = TEXTS if name != "translator" else ["Hund rot spielt.", "Katze.", "", "Mann Frau Ball Haus groß."]
    batched = predictor.embed(texts, batch_size=2)  # several length-sorted batches
    alone = np.stack([predictor.embed([t])[0] for t in texts])
    assert batched.dtype == np.float32 and batched.shape == (len(texts), alone.shape[1]) and alone.shape[1] > 1
    assert batched == pytest.approx(alone, abs=1e-5)
    empty = texts.index("")
    assert not batched[empty].any()  # no token: the zero vector, for every model alike
    assert np.abs(np.delete(batched, empty, 0)).sum(1).min() > 0
    assert len({tuple(np.round(v, 5)) for v in np.delete(batched, empty, 0)}) == len(texts) - 1


@SLOW
def test_a_model_without_vectors_is_refused_in_one_line():
    nb = seqlab.load(bag_dir())  # the NBSVM-style bag: a linear model over n-gram features
    with pytest.raises(SeqlabError, match=r"classify bag model \(--weighting nb\), which has no vector of a text"):
        nb.embed(["a film"])
    with pytest.raises(SeqlabError, match="which has no input embedding table"):
        nb.embedding_table()


# ---------------------------------------------------------------------------- a model's input table
@SLOW
def test_the_input_table_is_the_models_own_rows_without_specials():
    rnn = loaded("rnn")
    words, matrix = rnn.embedding_table()
    itos = rnn.pipeline.vocab.itos
    assert "<pad>" not in words and "<unk>" not in words and set(words) == set(itos) - {"<pad>", "<unk>"}
    rows = [itos.index(w) for w in words]
    assert matrix == pytest.approx(rnn.model.embedding.weight.detach().numpy()[rows])
    pieces, table = loaded("translator").embedding_table()  # the source side's sub-word pieces
    assert "hund" in {p.lower() for p in pieces} and table.shape == (len(pieces), 16)
    lm_words, _ = loaded("lm").embedding_table()  # BPE pieces: a word's first piece as the word, the rest as ##piece
    assert {"cat", "dog", "the"} <= set(lm_words) and all(w.isalpha() or w.startswith("##") for w in lm_words)
    tag_words, tag_table = loaded("tagger").embedding_table()
    assert tag_table.shape == (len(tag_words), 8) and all(w == w.lower() for w in tag_words)


@SLOW
def test_vectors_of_a_model_dir_answer_neighbours_analogies_and_maps(tmp_path, capsys):
    lm = str(lm_dir())
    words, _ = loaded("lm").embedding_table()
    assert main(["vectors", lm, "--neighbours", "cat", "-k", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and all(line.split("\t")[0] in set(words) - {"cat"} for line in lines)
    assert main(["vectors", lm, "--analogy", "cat", "dog", "mat", "-k", "2"]) == 0
    assert capsys.readouterr().out.startswith("cat : dog :: mat : ?")
    assert main(["vectors", lm, "--plot", str(tmp_path / "lm.html"), "--method", "pca", "--highlight", "dog"]) == 0
    mapped = sum(vec.is_word(w) for w in words)  # all (fewer than --top's 1,000) but punctuation
    assert f"mapped {mapped} words" in capsys.readouterr().out
    assert main(["vectors", str(bag_dir()), "--neighbours", "film"]) == 2
    assert "no input embedding table" in capsys.readouterr().err


# ---------------------------------------------------------------------------- seqlab embed
@SLOW
def test_embed_writes_npy_and_jsonl_and_a_map_coloured_by_label(tmp_path, capsys):
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(t for t in TEXTS if t) + "\n", encoding="utf-8")
    labels = tmp_path / "labels.txt"
    labels.write_text("pos\nneg\nneutral\npos\n", encoding="utf-8")
    model = str(rnn_dir())
    assert main(["embed", model, "--file", str(texts), "--out", str(tmp_path / "v.npy")]) == 0
    saved = np.load(tmp_path / "v.npy", allow_pickle=False)
    assert saved == pytest.approx(loaded("rnn").embed([t for t in TEXTS if t]), abs=1e-6)
    assert "embedded 4 texts: 32-d vectors (attention-pooled gru states" in capsys.readouterr().err
    assert main(["embed", model, "--file", str(texts), "--labels", str(labels), "--out", str(tmp_path / "v.jsonl"),
                 "--plot", str(tmp_path / "map.html"), "--method", "pca"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "v.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["text"] for r in rows] == [t for t in TEXTS if t] and [r["label"] for r in rows][:2] == ["pos", "neg"]
    assert np.array([r["vector"] for r in rows]) == pytest.approx(saved, abs=1e-5)
    from test_maps import page_data

    data = page_data(tmp_path / "map.html")
    assert data["kind"] == "texts" and data["names"] == [r["text"] for r in rows]
    assert [data["groups"][g]["name"] for g in data["group"]] == ["pos", "neg", "neutral", "pos"]
    assert main(["embed", model, "A superb film.", "--plot", str(tmp_path / "one.png"), "--method", "pca"]) == 0


@pytest.mark.parametrize("argv, message", [
    (["--out", "v.csv"], "write the vectors as .npy"),
    (["--plot", "m.html", "--method", "tnse"], "unknown --method 'tnse'"),
    (["--plot", "m.pdf"], "write the map as a .png"),
    ([], "say where the vectors go"),
])
def test_embed_says_what_is_wrong_before_it_loads_anything(argv, message, tmp_path, capsys):
    assert main(["embed", str(tmp_path / "no-such-model"), "a text", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("seqlab: error: ") and message in err and err.count("\n") == 1


@SLOW
def test_embed_refuses_labels_that_do_not_match_and_models_without_vectors(tmp_path, capsys):
    labels = tmp_path / "labels.txt"
    labels.write_text("pos\n", encoding="utf-8")
    assert main(["embed", str(rnn_dir()), "a", "b", "--labels", str(labels), "--plot", str(tmp_path / "m.html")]) == 2
    assert "has 1 lines for 2 texts" in capsys.readouterr().err
    assert main(["embed", str(bag_dir()), "a film", "--out", str(tmp_path / "v.npy")]) == 2
    assert "no vector of a text" in capsys.readouterr().err
    assert not (tmp_path / "v.npy").exists()


# ---------------------------------------------------------------------------- the server's route
@pytest.fixture(scope="module")
def client():
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient
    from serve_models import FakeTagger

    from seqlab.serve.app import create_app
    from seqlab.serve.loading import load_models, served

    models = load_models([str(rnn_dir()), str(bag_dir()), f"ner={tagger_dir()}", f"lm={lm_dir()}"],
                         log=lambda *_: None)
    with TestClient(create_app([*models, served("fake-tagger", FakeTagger())])) as c:
        yield c


@SLOW
@pytest.mark.serve
def test_the_embed_route_answers_the_predictors_vectors(client):
    texts = ["A wonderful superb film.", "awful"]
    answer = client.post("/v1/models/rnn/embed", json={"texts": texts})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model"] == "rnn" and body["dim"] == 32 and len(body["results"]) == 2
    assert np.array([r["vector"] for r in body["results"]]) == pytest.approx(loaded("rnn").embed(texts), abs=1e-5)
    unit = client.post("/v1/models/rnn/embed", json={"texts": texts, "normalize": True}).json()
    assert np.linalg.norm([r["vector"] for r in unit["results"]], axis=1) == pytest.approx([1.0, 1.0], abs=1e-5)
    for name in ("ner", "lm"):  # every task with vectors answers on the one route
        assert client.post(f"/v1/models/{name}/embed", json={"texts": texts}).status_code == 200


@SLOW
@pytest.mark.serve
def test_a_model_without_vectors_gets_a_400_and_no_embed_route(client):
    answer = client.post("/v1/models/bag/embed", json={"texts": ["a film"]})
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "not_supported" and "no vector of a text" in error["message"]
    info = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert info["rnn"]["routes"] == ["classify", "embed"] and info["bag"]["routes"] == ["classify"]
    assert info["rnn"]["text_vector"].startswith("attention-pooled gru states") and info["bag"]["text_vector"] is None
    assert info["fake-tagger"]["routes"] == ["tag"]  # a predictor that declares no vectors
    schema = client.get("/openapi.json").json()
    assert "/v1/models/{name}/embed" in schema["paths"] and "EmbedRequest" in schema["components"]["schemas"]
    wrong = client.post("/v1/models/rnn/embed", json={"texts": []})
    assert wrong.status_code == 422 and wrong.json()["error"]["status"] == 422


@pytest.mark.parametrize("name", ["classify-rnn", "tag-bilstm-crf", "translate-rnn", "lm-rnn"])
def test_model_directories_saved_by_an_older_seqlab_give_vectors_and_tables(name):
    """The directories tests/fixtures keeps from an earlier format: their configs declare what they have, so
    nothing is stored for the vectors and old models embed as new ones."""
    from pathlib import Path

    predictor = seqlab.load(Path(__file__).parent / "fixtures" / "model-dirs-8706680" / name)
    vectors = predictor.embed(["Ein Hund läuft.", "EU rejects German call ."])
    assert vectors.shape[0] == 2 and np.isfinite(vectors).all() and np.abs(vectors).sum(1).min() > 0
    words, matrix = predictor.embedding_table()
    assert len(words) == len(matrix) > 0 and matrix.dtype == np.float32


@SLOW
def test_an_embeddings_model_directory_is_a_source_of_vectors(tmp_path, capsys):
    """``seqlab train embeddings`` writes vectors that ``seqlab vectors DIR`` reads (without loading torch models)."""
    import random

    rng = random.Random(0)
    words = "the a cat dog sat ran on under mat tree and big small".split()
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(" ".join(rng.choices(words, k=8)) + "\n" for _ in range(300)), encoding="utf-8")
    seqlab.train("embeddings", tmp_path / "emb", data=str(corpus), dim=8, epochs=1, min_count=1, progress=False,
                 log=lambda *_: None)
    source = vec.vector_source(str(tmp_path / "emb"))
    assert sorted(source.words) == sorted(words) and source.matrix.shape == (13, 8)
    assert main(["vectors", str(tmp_path / "emb"), "--plot", str(tmp_path / "emb.png"), "--method", "pca"]) == 0
    assert "mapped 13 words" in capsys.readouterr().out


def test_tasks_share_a_route_only_with_the_same_request_and_response(monkeypatch):
    pytest.importorskip("fastapi")
    from seqlab.serve import handlers as module
    from seqlab.serve.embed import EmbedHandler, EmbedRequest

    class OtherRequest(EmbedRequest):
        pass

    class OtherEmbed(EmbedHandler):
        request_model = OtherRequest

    def made(*pairs):
        out = []
        for task, handler in pairs:
            handler.task = task
            out.append(handler)
        return out

    monkeypatch.setattr(module, "handlers", lambda: made(("a", EmbedHandler()), ("b", EmbedHandler())))
    assert sorted(module.routes()["embed"]) == ["a", "b"]
    monkeypatch.setattr(module, "handlers", lambda: made(("a", EmbedHandler()), ("b", OtherEmbed())))
    with pytest.raises(RuntimeError, match="tasks 'a' and 'b' both declare the route 'embed' with different request"):
        module.routes()
    monkeypatch.setattr(module, "handlers", lambda: made(("a", EmbedHandler()), ("a", EmbedHandler())))
    with pytest.raises(RuntimeError, match="task 'a' declares the route 'embed' twice"):
        module.routes()
