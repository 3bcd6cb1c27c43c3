"""Training word vectors (seqlab train embeddings): planted structure learnt, subword vectors for unseen words,
word2vec's sampling as gensim computes it, the model directory and its word2vec-text export, resume, bad input."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

import seqlab
from seqlab.cli import main
from seqlab.errors import SeqlabError
from seqlab.models.configs import Word2VecConfig
from seqlab.tasks.embeddings.config import EmbeddingDataConfig, EmbeddingTextConfig
from seqlab.tasks.embeddings.corpus import encode, sentences
from seqlab.tasks.embeddings.vectors import StoredVectors, read_word_vectors
from seqlab.tasks.embeddings.windows import NOISE_GROUP, Windows, keep_probabilities
from seqlab.text.char_ngrams import char_ngrams, fnv1a

TOPIC_A = [f"alpha{w}" for w in "bcdfghjk"]
TOPIC_B = [f"omega{w}" for w in "bcdfghjk"]
FAMILY_A = [f"blorf{s}" for s in ("a", "e", "i", "o", "ing", "ed", "er")]  # one stem, several endings
FAMILY_B = [f"quim{s}" for s in ("a", "e", "i", "o", "ing", "ed", "er")]


def _corpus(path: Path, groups: list[list[str]], lines: int = 1500, seed: int = 0) -> Path:
    """Lines of eight words, each line drawn from one group: words of a group co-occur, of two groups never."""
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as fh:
        for _ in range(lines):
            group = rng.choice(groups)
            fh.write(" ".join(rng.choice(group) for _ in range(8)) + "\n")
    return path


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _within_minus_across(words: list[str], matrix: np.ndarray, a: list[str], b: list[str]) -> float:
    index = {w: i for i, w in enumerate(words)}
    within = [_cos(matrix[index[x]], matrix[index[y]]) for g in (a, b) for x in g for y in g if x < y]
    across = [_cos(matrix[index[x]], matrix[index[y]]) for x in a for y in b]
    return float(np.mean(within) - np.mean(across))


SMALL = {"dim": 16, "epochs": 3, "min_count": 1, "sample": 0.0, "progress": False, "threads": 1, "batch_size": 512}


@pytest.fixture(scope="module")
def topics(tmp_path_factory) -> Path:
    return _corpus(tmp_path_factory.mktemp("emb") / "topics.txt", [TOPIC_A, TOPIC_B])


@pytest.mark.parametrize("method", ["skipgram", "cbow"])
def test_words_that_co_occur_end_up_nearer(topics, tmp_path, method):
    summary = seqlab.train("embeddings", tmp_path / method, data=str(topics), method=method, log=lambda m: None,
                           **SMALL)
    words, matrix = read_word_vectors(tmp_path / method)
    assert sorted(words) == sorted(TOPIC_A + TOPIC_B) and matrix.shape == (16, 16)
    assert _within_minus_across(words, matrix, TOPIC_A, TOPIC_B) > 0.3
    assert summary["stats"]["corpus_words"] == 12_000 and summary["epochs_run"] == 3
    history = summary["history"]
    assert history[-1]["valid_loss"] < history[0]["valid_loss"]


def test_subword_vector_of_an_unseen_word_is_near_its_relatives(tmp_path):
    data = _corpus(tmp_path / "families.txt", [FAMILY_A, FAMILY_B])
    seqlab.train("embeddings", tmp_path / "ft", data=str(data), subword=True, buckets=50_000, log=lambda m: None,
                 **SMALL)
    model = seqlab.load(tmp_path / "ft")
    unseen = model.vector_of("blorfs")  # never in the corpus: its vector comes from its n-grams
    assert unseen is not None and "blorfs" not in model.words
    near_a = np.mean([_cos(unseen, model.vector_of(w)) for w in FAMILY_A])
    near_b = np.mean([_cos(unseen, model.vector_of(w)) for w in FAMILY_B])
    assert near_a > near_b + 0.3
    assert model.neighbours("blorfs", k=3)[0][0] in FAMILY_A
    stored = StoredVectors(tmp_path / "ft")
    assert stored.input.shape[0] > len(stored.words)  # the n-gram rows follow the words' own


def test_a_word_outside_the_vocabulary_without_subwords_is_one_clear_error(topics, tmp_path):
    seqlab.train("embeddings", tmp_path / "w2v", data=str(topics), log=lambda m: None, **{**SMALL, "epochs": 1})
    model = seqlab.load(tmp_path / "w2v")
    with pytest.raises(SeqlabError, match="not in the vocabulary.*no subwords"):
        model.neighbours("zebra")
    assert len(model.analogy(TOPIC_A[0], TOPIC_A[1], TOPIC_B[0], k=3)) == 3


def test_export_is_word2vec_text_that_gensim_reads(topics, tmp_path, capsys):
    gensim_models = pytest.importorskip("gensim.models")
    seqlab.train("embeddings", tmp_path / "w2v", data=str(topics), log=lambda m: None, **{**SMALL, "epochs": 1})
    assert main(["export-vectors", str(tmp_path / "w2v"), "--out", str(tmp_path / "v.txt")]) == 0
    words, matrix = read_word_vectors(tmp_path / "w2v")
    kv = gensim_models.KeyedVectors.load_word2vec_format(str(tmp_path / "v.txt"))
    assert kv.index_to_key == words
    np.testing.assert_allclose(kv.vectors, matrix, rtol=1e-5, atol=1e-6)
    assert main(["export-vectors", str(tmp_path / "w2v"), "--out", str(tmp_path / "top.txt"), "--top", "3"]) == 0
    assert (tmp_path / "top.txt").read_text().splitlines()[0] == "3 16"


def test_resume_continues_to_the_new_epoch_count(topics, tmp_path):
    seqlab.train("embeddings", tmp_path / "r", data=str(topics), log=lambda m: None, **{**SMALL, "epochs": 1})
    summary = seqlab.train("embeddings", tmp_path / "r", data=str(topics), resume=True, log=lambda m: None,
                           **{**SMALL, "epochs": 2})
    assert summary["epochs_run"] == 2 and len(summary["history"]) == 2


def test_same_vocabulary_and_subsampling_as_gensim(topics, tmp_path):
    gensim_models = pytest.importorskip("gensim.models")
    text = tmp_path / "zipf.txt"
    rng = np.random.default_rng(0)
    vocab = [f"w{i}" for i in range(300)]
    p = 1.0 / np.arange(1, 301)
    with open(text, "w") as fh:
        for _ in range(400):
            fh.write(" ".join(rng.choice(vocab, size=12, p=p / p.sum())) + "\n")
    data, tok = EmbeddingDataConfig(data=str(text)), EmbeddingTextConfig()
    config = Word2VecConfig(min_count=3, sample=1e-3)
    corpus = encode(data, tok, config)
    reference = gensim_models.Word2Vec(min_count=3, sample=1e-3)
    reference.build_vocab(list(sentences(data, tok)))
    assert corpus.words == reference.wv.index_to_key
    assert corpus.counts.tolist() == [reference.wv.get_vecattr(w, "count") for w in corpus.words]
    gensim_keep = np.array([reference.wv.get_vecattr(w, "sample_int") for w in corpus.words]) / 2**32
    np.testing.assert_allclose(keep_probabilities(corpus.counts.astype(float), 1e-3), gensim_keep, atol=1e-9)


def test_windows_stay_inside_sentences_and_noise_follows_unigram_075(tmp_path):
    text = tmp_path / "lines.txt"
    text.write_text("".join(" ".join(f"s{line}w{i}" for i in range(6)) + "\n" for line in range(50)))
    corpus = encode(EmbeddingDataConfig(data=str(text)), EmbeddingTextConfig(), Word2VecConfig(min_count=1))
    windows = Windows(corpus, Word2VecConfig(min_count=1, window=3, sample=0.0))
    batch = windows.batch(0, len(corpus.ids), np.random.default_rng(0))
    real = batch.weight > 0
    line_of = np.array([int(w[1:].split("w")[0]) for w in corpus.words])
    centre_words = batch.centres[batch.pair_centre[real]]
    assert (line_of[batch.inputs[real]] == line_of[centre_words]).all()  # no pair crosses a sentence
    assert len(batch.inputs) % NOISE_GROUP == 0 and batch.noise.shape == (len(batch.inputs) // NOISE_GROUP, 5)
    # noise words: unigram^0.75, checked on skewed counts
    counts = np.array([1000, 100, 10, 1])
    windows.noise_cdf = np.cumsum(counts ** 0.75)
    draws = windows.noise(np.random.default_rng(1), (200_000,))
    expected = counts ** 0.75 / (counts ** 0.75).sum()
    np.testing.assert_allclose(np.bincount(draws, minlength=4) / 200_000, expected, atol=0.005)


def test_character_ngrams_and_hash_are_fasttexts():
    inner = pytest.importorskip("gensim.models.fasttext_inner")
    for word in ("where", "naïve", "日本語", "a"):
        assert char_ngrams(word, 3, 6) == inner.compute_ngrams_bytes(word, 3, 6)
        for gram in char_ngrams(word, 3, 6):
            assert fnv1a(gram) == inner.ft_hash_bytes(gram)


def test_bad_input_is_one_clear_error(tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(SeqlabError, match="no words"):
        seqlab.train("embeddings", tmp_path / "e", data=str(empty), log=lambda m: None)
    rare = tmp_path / "rare.txt"
    rare.write_text("one two three\n")
    with pytest.raises(SeqlabError, match="no word occurs --min-count 5 times"):
        seqlab.train("embeddings", tmp_path / "e", data=str(rare), log=lambda m: None)
    with pytest.raises(SeqlabError, match="method: 'glove' is not one of skipgram, cbow"):
        seqlab.train("embeddings", tmp_path / "e", data=str(rare), method="glove", log=lambda m: None)
    with pytest.raises(SeqlabError, match="not a known corpus"):
        seqlab.train("embeddings", tmp_path / "e", data="no-such-corpus", log=lambda m: None)
    assert main(["train", "embeddings", "--data", str(rare), "--out", str(tmp_path / "e"), "--negative", "0"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == ["seqlab: error: --negative must be >= 1 (negative sampling), got 0"]
    assert not (tmp_path / "e").exists()


@pytest.mark.serve
def test_served_model_answers_neighbours(topics, tmp_path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from seqlab.serve.app import create_app
    from seqlab.serve.loading import load_models

    seqlab.train("embeddings", tmp_path / "w2v", data=str(topics), log=lambda m: None, **SMALL)
    with TestClient(create_app(load_models([f"vec={tmp_path / 'w2v'}"], log=lambda *_: None))) as client:
        answer = client.post("/v1/models/vec/neighbours", json={"words": [TOPIC_A[0], "zebra"], "k": 3})
        assert answer.status_code == 200
        first, unknown = answer.json()["results"]
        assert first["known"] and len(first["neighbours"]) == 3 and first["neighbours"][0]["word"] in TOPIC_A
        assert unknown == {"word": "zebra", "known": False, "neighbours": []}
        assert client.post("/v1/models/vec/neighbours", json={"words": ["x"], "k": 0}).status_code == 422
        info = client.get("/v1/models/vec").json()
        assert info["task"] == "embeddings" and "neighbours" in info["routes"]
        assert 'data-task="embeddings"' in client.get("/").text


@pytest.mark.parametrize("method", ["skipgram", "cbow"])
@pytest.mark.parametrize("subword", [False, True])
def test_written_out_gradient_equals_autograds(monkeypatch, method, subword):
    """The loss's hand-written backward against autograd on the same loss (CBOW's and fastText's sums handing
    each row the whole error, as word2vec and fastText do, written as value-of-mean / gradient-of-sum)."""
    import torch
    import torch.nn.functional as F

    import seqlab.models.word2vec as w2v

    monkeypatch.setattr(w2v, "ROW_STEP_CAP", 1e12)  # the cap aside: the plain gradient
    torch.manual_seed(0)
    words = [f"w{i}x" for i in range(20)]
    model = w2v.Word2Vec(Word2VecConfig(method=method, dim=8, subword=subword, buckets=100), 20, words)
    with torch.no_grad():
        model.output.weight.normal_()
    N, C, K = 32, 8, 3
    inputs, centres = torch.randint(20, (N,)), torch.randint(20, (C,))
    pair_centre = torch.sort(torch.randint(C, (N,))).values
    weight, centre_weight = torch.ones(N), torch.ones(C)
    if method == "skipgram":  # skip-gram pads pairs (weight 0); cbow pads centres
        weight[-3:] = 0
    else:
        centre_weight[-1] = 0
    noise = torch.randint(20, (N // 16 if method == "skipgram" else C // 8, K))
    loss, _ = model(inputs, pair_centre, weight, centres, centre_weight, noise)
    loss.backward()

    w_in = model.input.weight.detach().clone().requires_grad_()
    w_out = model.output.weight.detach().clone().requires_grad_()

    def mean_with_sum_gradient(total, count):
        return (total / count).detach() + total - total.detach()

    rows, lengths = model.input_rows(inputs)
    h = w_in[inputs] if lengths is None else mean_with_sum_gradient(
        F.embedding_bag(rows, w_in, torch.cumsum(lengths, 0) - lengths, mode="sum"), lengths[:, None].float())
    if method == "skipgram":
        target, scale = centres[pair_centre], weight
    else:
        count = torch.zeros(C).index_add(0, pair_centre, weight)
        h = mean_with_sum_gradient(torch.zeros(C, 8).index_add(0, pair_centre, h * weight[:, None]),
                                   count.clamp(min=1)[:, None])
        target, scale = centres, centre_weight
    G = h.size(0) // len(noise)
    positive = (h * w_out[target]).sum(-1)
    negative = torch.bmm(h.view(len(noise), G, -1), w_out[noise].transpose(1, 2)).view(-1, K)
    keep = (noise.repeat_interleave(G, 0) != target[:, None]).float() * scale[:, None]
    reference = (F.softplus(-positive) * scale).sum() + (F.softplus(negative) * keep).sum()
    reference.backward()
    assert loss.item() == pytest.approx(reference.item(), rel=1e-5)
    torch.testing.assert_close(model.input.weight.grad.to_dense(), w_in.grad, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(model.output.weight.grad.to_dense(), w_out.grad, atol=1e-5, rtol=1e-5)


def test_a_row_many_pairs_touch_takes_at_most_the_capped_step():
    import torch

    from seqlab.models.word2vec import ROW_STEP_CAP, _cap_steps

    rows = torch.tensor([0] * 200 + [1] * 3)
    values = torch.ones(203, 2)
    _cap_steps(values, rows, torch.ones(203), 2)
    assert float(values[:200].sum(0)[0]) == pytest.approx(ROW_STEP_CAP)  # 200 pairs' steps -> the cap's worth
    assert values[200:].eq(1).all()  # a row few pairs touch steps as word2vec steps it
