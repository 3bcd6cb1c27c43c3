"""The BiLSTM(-CRF) tagger: forward/backward, padding invariance, decoding, save/load, learning a toy task."""

from __future__ import annotations

import random
from dataclasses import asdict

import pytest
import torch

from seqlab.errors import SeqlabError
from seqlab.models.tagger import PAD_TAG, BiLSTMTagger, TagBatch, TaggerConfig, case_ids, pad_batch
from seqlab.text.tagging import allowed_transitions

LABELS = ["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC"]
SMALL = dict(emb_size=12, case_emb_size=4, char_emb_size=6, char_filters=5, char_hidden=4, hidden_size=10)


def _sentences(n: int, seed: int = 0) -> list[list[str]]:
    rng = random.Random(seed)
    vocab = ["Paris", "the", "EU", "said", "1996", "--", "Smith", "O'Brien", "a"]
    return [[rng.choice(vocab) for _ in range(rng.randint(1, 7))] for _ in range(n)]


def _batch(sentences: list[list[str]], seed: int = 0, with_tags: bool = True) -> TagBatch:
    rng = random.Random(seed)
    words = [[1 + (hash(w) % 40) for w in s] for s in sentences]
    chars = [[[1 + (ord(c) % 20) for c in w] for w in s] for s in sentences]
    tags = [[rng.randrange(len(LABELS)) for _ in s] for s in sentences] if with_tags else None
    return pad_batch(words, [case_ids(s) for s in sentences], chars, tags)


def _model(**overrides) -> BiLSTMTagger:
    torch.manual_seed(0)
    config = TaggerConfig(**{**SMALL, **overrides})
    return BiLSTMTagger(config, vocab_size=41, num_tags=len(LABELS), char_vocab_size=21,
                        constraints=allowed_transitions(LABELS, "bioes") if config.crf else None)


VARIANTS = [dict(), dict(char="lstm"), dict(char="none", case_emb_size=0), dict(crf=False), dict(cell="gru", layers=2)]


@pytest.mark.parametrize("overrides", VARIANTS, ids=["cnn-crf", "lstm-crf", "word-only", "softmax", "gru-2layers"])
def test_forward_backward(overrides):
    model = _model(**overrides)
    batch = _batch(_sentences(6))
    emissions = model(batch)
    assert emissions.shape == (6, batch.words.size(1), len(LABELS))
    loss = model.loss(batch)
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert model.word_embedding.weight.grad[0].abs().sum() == 0  # padding row stays zero


@pytest.mark.parametrize("overrides", VARIANTS, ids=["cnn-crf", "lstm-crf", "word-only", "softmax", "gru-2layers"])
def test_padding_changes_nothing(overrides):
    model = _model(**overrides).eval()
    sentences = _sentences(5, seed=1)
    batch = _batch(sentences, seed=2)
    tags, conf = model.decode(batch)
    together = model(batch)
    losses = []
    for b, sentence in enumerate(sentences):
        one = TagBatch(batch.words[b:b + 1, :len(sentence)], batch.cases[b:b + 1, :len(sentence)],
                       batch.chars[b:b + 1, :len(sentence)], batch.lengths[b:b + 1], batch.tags[b:b + 1, :len(sentence)])
        torch.testing.assert_close(model(one)[0], together[b, :len(sentence)], atol=1e-5, rtol=1e-5)
        one_tags, one_conf = model.decode(one)
        assert one_tags == [tags[b]] and one_conf[0] == pytest.approx(conf[b], abs=1e-5)
        losses.append(model.loss(one))
    assert model.loss(batch).item() == pytest.approx(torch.stack(losses).mean().item(), rel=1e-5)


def test_decode_returns_valid_paths_and_confidences():
    model = _model().eval()
    sentences = _sentences(8, seed=3)
    tags, conf = model.decode(_batch(sentences, with_tags=False))
    allowed, start, end = allowed_transitions(LABELS, "bioes")
    for sentence, path, c in zip(sentences, tags, conf, strict=True):
        assert len(path) == len(sentence) == len(c)
        assert start[path[0]] and end[path[-1]] and all(allowed[a, b] for a, b in zip(path, path[1:], strict=False))
        assert all(0.0 < x <= 1.0 + 1e-6 for x in c)
    softmax_tags, softmax_conf = _model(crf=False).eval().decode(_batch(sentences))
    assert [len(t) for t in softmax_tags] == [len(s) for s in sentences]
    assert all(0.0 < x <= 1.0 for c in softmax_conf for x in c)


def test_state_dict_round_trip(tmp_path):
    from safetensors.torch import load_file, save_file

    model = _model(char="lstm").eval()
    batch = _batch(_sentences(4, seed=4))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "model.safetensors"))
    config = TaggerConfig(**asdict(model.config))  # configs are saved whole, as JSON-able dicts
    fresh = BiLSTMTagger(config, vocab_size=41, num_tags=len(LABELS), char_vocab_size=21)  # constraints come from the file
    fresh.load_state_dict(load_file(str(tmp_path / "model.safetensors")), strict=True)
    fresh.eval()
    torch.testing.assert_close(fresh(batch), model(batch))
    assert fresh.decode(batch) == model.decode(batch)
    assert torch.equal(fresh.crf.allowed, model.crf.allowed) and not fresh.crf.allowed.all()


def test_learns_a_toy_tagging_task():
    """Capitalised words after 'in' are LOC, other capitalised words PER: a few dozen steps learn it."""
    rng = random.Random(5)
    names, places, others = ["Smith", "Jones", "Brown"], ["Paris", "Bonn", "Rome"], ["met", "the", "a", "saw"]
    sentences, gold = [], []
    for _ in range(64):
        words, tags = [], []
        for _ in range(rng.randint(2, 6)):
            r = rng.random()
            if r < 0.3:
                words += ["in", rng.choice(places)]
                tags += ["O", "S-LOC"]
            elif r < 0.6:
                words.append(rng.choice(names))
                tags.append("S-PER")
            else:
                words.append(rng.choice(others))
                tags.append("O")
        sentences.append(words)
        gold.append([LABELS.index(t) for t in tags])
    vocab = {w: i + 1 for i, w in enumerate(sorted({w.lower() for s in sentences for w in s}))}
    chars = {c: i + 1 for i, c in enumerate(sorted({c for s in sentences for w in s for c in w}))}
    batch = pad_batch([[vocab[w.lower()] for w in s] for s in sentences], [case_ids(s) for s in sentences],
                      [[[chars[c] for c in w] for w in s] for s in sentences], gold)
    torch.manual_seed(0)
    model = BiLSTMTagger(TaggerConfig(**{**SMALL, "dropout": 0.1}), len(vocab) + 1, len(LABELS),
                         char_vocab_size=len(chars) + 1, constraints=allowed_transitions(LABELS, "bioes"))
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(60):
        opt.zero_grad()
        model.loss(batch).backward()
        opt.step()
    predicted, _ = model.eval().decode(batch)
    assert predicted == gold


def test_bf16_autocast_runs_and_the_crf_stays_fp32():
    # a GRU: nn.LSTM under CPU bf16 autocast fails in oneDNN on CPUs without hardware bf16 (where the trainer
    # runs fp32 anyway); the char CNN and the head do run in bf16 here
    model = _model(cell="gru")
    batch = _batch(_sentences(3, seed=6))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model.loss(batch)
        tags, conf = model.eval().decode(batch)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    assert len(tags) == 3


def test_config_and_batch_validation():
    with pytest.raises(SeqlabError, match="--char must be cnn, lstm or none"):
        TaggerConfig(char="rnn")
    with pytest.raises(SeqlabError, match="must be odd"):
        TaggerConfig(char_width=4)
    with pytest.raises(SeqlabError, match="dropout"):
        TaggerConfig(dropout=1.0)
    with pytest.raises(SeqlabError, match="character vocabulary"):
        BiLSTMTagger(TaggerConfig(), vocab_size=10, num_tags=3)
    with pytest.raises(SeqlabError, match="at least one word"):
        pad_batch([[1], []], [[1], []])
    batch = pad_batch([[3, 4], [5]], [[1, 2], [3]], tags=[[1, 2], [0]])
    assert batch.chars.shape == (2, 2, 1) and batch.tags.tolist() == [[1, 2], [0, PAD_TAG]]
    long_word = pad_batch([[1]], [[1]], [[list(range(1, 100))]])
    assert long_word.chars.shape == (1, 1, 30)
    defaults = TaggerConfig()
    assert (defaults.emb_size, defaults.char, defaults.char_filters, defaults.hidden_size, defaults.crf) == (50, "cnn", 30,
                                                                                                            200, True)
