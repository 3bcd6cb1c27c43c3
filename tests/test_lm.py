"""Language models: models, scoring, sampling, the task end to end (CLI and API), user errors."""

from __future__ import annotations

import json
import math
import random
import shutil

import numpy as np
import pytest
import torch

import seqlab
from seqlab.cli import main
from seqlab.decode import SamplingConfig, choose_next, sample, top_k_filter, top_p_filter
from seqlab.modeldir import read_model_config, save_model_dir
from seqlab.models.lm import RNNLM, RNNLMConfig, TransformerLM, TransformerLMConfig
from seqlab.tasks.lm.recipe import stream_nll

WORDS = "the cat sat on a mat and dog ran to park with big red ball".split()


@pytest.fixture
def text_file(tmp_path):
    rng = random.Random(0)
    path = tmp_path / "story.txt"
    path.write_text("\n".join(" ".join(rng.choices(WORDS, k=rng.randint(3, 10))) for _ in range(300)) + "\n",
                    encoding="utf-8")
    return path


def tiny_rnn(vocab: int = 12, **kw) -> RNNLM:
    torch.manual_seed(0)
    cfg = RNNLMConfig(emb_size=8, hidden_size=8, layers=2, dropout=0.0, emb_dropout=0.0, input_dropout=0.0,
                      hidden_dropout=0.0, **kw)
    return RNNLM(cfg, vocab).eval()


def tiny_transformer(vocab: int = 12, context: int = 16, **kw) -> TransformerLM:
    torch.manual_seed(0)
    return TransformerLM(TransformerLMConfig(d_model=16, heads=2, layers=2, ff_size=32, dropout=0.0, context=context,
                                             **kw), vocab).eval()


# ---------------------------------------------------------------------------- scoring
def test_stream_perplexity_matches_a_hand_computation():
    """One forward over the whole stream, softmax and log by hand: the same total as the stateful scorer."""
    model = tiny_rnn()
    stream = torch.randint(0, 12, (57,), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        hidden, _ = model(stream[None, :-1])
        logits = model.output.linear(hidden[0])  # (56, V)
        probs = logits.exp() / logits.exp().sum(-1, keepdim=True)
        by_hand = -sum(math.log(probs[t, stream[t + 1]].item()) for t in range(56))
    for segment in (5, 7, 56):  # the state carried between segments: the segment length changes nothing
        total, count = stream_nll(model, stream, torch.device("cpu"), streams=1, segment=segment)
        assert count == 56
        assert total == pytest.approx(by_hand, rel=1e-5)
    total3, _ = stream_nll(model, stream, torch.device("cpu"), streams=3, segment=5)
    assert total3 != pytest.approx(by_hand, rel=1e-7)  # three streams start from zero state: a little worse
    assert seqlab.metrics.perplexity(by_hand, 56) == pytest.approx(math.exp(by_hand / 56))


def test_bptt_with_carried_state_equals_one_forward_over_the_stream():
    model = tiny_rnn(cell="gru")
    ids = torch.randint(0, 12, (3, 40), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        whole, _ = model(ids)
        state, parts = None, []
        for start in (0, 13, 20, 33):
            end = {0: 13, 13: 20, 20: 33, 33: 40}[start]
            out, state = model(ids[:, start:end], state)
            state = model.detach_state(state)
            parts.append(out)
    torch.testing.assert_close(torch.cat(parts, dim=1), whole, rtol=1e-5, atol=1e-6)


def test_windowed_scoring_scores_every_token_once_with_the_right_history():
    model = tiny_transformer(context=8)
    stream = torch.randint(0, 12, (30,), generator=torch.Generator().manual_seed(3))
    total, count = stream_nll(model, stream, torch.device("cpu"), streams=4)
    assert count == 29
    expected = 0.0
    with torch.no_grad():  # by hand: target t is scored in the window the scorer gives it (starts 0, 4, ..., 21)
        starts = [0, 4, 8, 12, 16, 20, 21]
        scored = 0
        for s in starts:
            length = min(8, 29 - s)
            hidden, _ = model(stream[None, s: s + length])
            logp = model.output.log_probs(hidden[0])
            for j in range(scored - s, length):
                expected -= logp[j, stream[s + j + 1]].item()
            scored = s + length
    assert total == pytest.approx(expected, rel=1e-5)


def test_kv_cache_gives_the_logits_of_a_full_recompute():
    for positions in ("learned", "sinusoidal"):
        model = tiny_transformer(context=16, positions=positions)
        ids = torch.randint(0, 12, (2, 12), generator=torch.Generator().manual_seed(4))
        with torch.no_grad():
            log_probs, state = model.start(ids[:, :5])
            cached = [log_probs]
            for t in range(5, 12):
                log_probs, state = model.step(ids[:, t], state)
                cached.append(log_probs)
            hidden, _ = model(ids)
            full = model.output.log_probs(hidden.reshape(-1, 16)).view(2, 12, -1)[:, 4:]
        torch.testing.assert_close(torch.stack(cached, dim=1), full, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_rnn_one_step_equals_the_module_forward(cell):
    torch.manual_seed(0)
    model = RNNLM(RNNLMConfig(cell=cell, emb_size=12, hidden_size=10, layers=2), 40).eval()  # projection 10 -> 12
    ids = torch.randint(0, 40, (3, 6))
    with torch.no_grad():
        expected, _ = model.start(ids)  # the whole sequence through nn.LSTM/nn.GRU
        log_probs, state = model.start(ids[:, :1])
        for t in range(1, 6):
            log_probs, state = model.step(ids[:, t], state)  # the cell equations, one position at a time
    torch.testing.assert_close(log_probs, expected, atol=1e-5, rtol=1e-5)


def test_generation_past_the_context_keeps_going():
    model = tiny_transformer(context=8)
    prompt = torch.randint(0, 12, (1, 3))
    steps = list(sample(model, prompt, 20, SamplingConfig(temperature=0)))
    assert len(steps) == 20


@pytest.mark.parametrize("tied", [True, False])
def test_adaptive_softmax_is_a_distribution_and_trains(tied):
    torch.manual_seed(0)
    model = RNNLM(RNNLMConfig(emb_size=8, hidden_size=8, softmax="adaptive", cutoffs="4,8", tie_weights=tied), 20)
    hidden = torch.randn(5, 8)
    targets = torch.tensor([0, 3, 5, 9, 19])  # head, head, cluster 0, cluster 1, cluster 1
    log_probs = model.output.log_probs(hidden)
    assert log_probs.exp().sum(-1).tolist() == pytest.approx([1.0] * 5, rel=1e-5)
    nll = model.output.nll(hidden, targets)
    # the training loss (each cluster scoring only its own targets) is the full distribution's
    assert nll.tolist() == pytest.approx((-log_probs.gather(1, targets[:, None]).squeeze(1)).tolist(), rel=1e-5)
    nll.mean().backward()
    assert nll.shape == (5,) and all(p.grad is not None for p in model.output.parameters())


def test_tied_adaptive_softmax_scores_words_with_their_embeddings():
    torch.manual_seed(0)
    model = RNNLM(RNNLMConfig(emb_size=8, hidden_size=8, softmax="adaptive", cutoffs="4,8"), 12)
    out = model.output.adaptive
    assert out.weight is model.embedding.weight and not model.embedding.sparse
    h = torch.randn(1, 8)
    emb = model.embedding.weight
    # head word 2: log_softmax over [h . e_0..e_3 + b, cluster logits] at position 2, by hand
    head = torch.log_softmax(torch.cat([h @ emb[:4].t() + out.head_bias, out.cluster_logits(h)], dim=-1), -1)
    assert model.output.nll(h, torch.tensor([2])).item() == pytest.approx(-head[0, 2].item(), rel=1e-5)
    # word 9 of cluster 1 (ids 8..11): (A_1 h) . (B_1 e_9) + b, in the cluster's narrower space
    a1, b1 = out.hidden_projections[1].weight, out.embedding_projections[1].weight
    within = torch.log_softmax((h @ a1.t()) @ (emb[8:] @ b1.t()).t() + out.tail_biases[1], -1)[0, 1]
    expected = -(head[0, 5] + within).item()
    assert model.output.nll(h, torch.tensor([9])).item() == pytest.approx(expected, rel=1e-5)
    # the embedding learns from the output layer: rows of the head and of the target's cluster get gradients
    model.output.nll(h, torch.tensor([9])).sum().backward()
    grad_rows = emb.grad.abs().sum(-1) > 0
    assert grad_rows[:4].all() and grad_rows[8:].all() and not grad_rows[4:8].any()


def test_tied_adaptive_softmax_keeps_cluster_vectors_only_while_the_weights_stay():
    torch.manual_seed(0)
    model = RNNLM(RNNLMConfig(emb_size=8, hidden_size=8, softmax="adaptive", cutoffs="4,8"), 12)
    h = torch.randn(3, 8)
    with torch.no_grad():
        first = model.output.log_probs(h)
        assert torch.equal(model.output.log_probs(h), first)  # kept: the same vectors
        model.embedding.weight.add_(0.5)  # an optimizer step or a loaded checkpoint changes the table
        after = model.output.log_probs(h)
    assert not torch.allclose(after, first)
    assert torch.allclose(after, model.output.log_probs(h), atol=1e-6)  # = computed afresh with gradients on
    # a fused AdamW step changes the weights without bumping versions: a train/eval round forgets the vectors
    model.train()
    model.output.nll(h, torch.tensor([9, 10, 11])).sum().backward()
    torch.optim.AdamW(model.parameters(), lr=0.5, fused=True).step()
    model.eval()
    with torch.no_grad():
        stepped = model.output.log_probs(h)
    assert torch.allclose(stepped, model.output.log_probs(h), atol=1e-6)


# ---------------------------------------------------------------------------- sampling
def test_top_k_keeps_exactly_the_k_best():
    scores = torch.log(torch.tensor([[0.1, 0.4, 0.2, 0.3], [0.25, 0.05, 0.6, 0.1]]))
    kept = torch.isfinite(top_k_filter(scores, 2))
    assert kept.tolist() == [[False, True, False, True], [True, False, True, False]]
    assert torch.isfinite(top_k_filter(scores, 0)).all()


def test_top_p_keeps_the_smallest_set_reaching_p():
    scores = torch.log(torch.tensor([[0.1, 0.4, 0.2, 0.3], [0.05, 0.05, 0.8, 0.1]]))
    # row 0: 0.4 + 0.3 = 0.7 < 0.75, + 0.2 = 0.9 -> {1, 3, 2}; row 1: 0.8 >= 0.75 -> {2}
    kept = torch.isfinite(top_p_filter(scores, 0.75))
    assert kept.tolist() == [[False, True, True, True], [False, False, True, False]]
    assert torch.isfinite(top_p_filter(scores, 0.7)).tolist()[0] == [False, True, False, True]  # exactly p
    assert torch.isfinite(top_p_filter(scores, 0.01)).sum(-1).tolist() == [1, 1]  # the best always stays
    assert torch.isfinite(top_p_filter(scores, 1.0)).all()


def test_sampling_respects_the_filters_and_greedy_is_argmax():
    log_probs = torch.log(torch.tensor([[0.1, 0.4, 0.2, 0.3]])).repeat(500, 1)
    gen = torch.Generator().manual_seed(0)
    picks = choose_next(log_probs, torch.empty(500, 0, dtype=torch.long), SamplingConfig(top_k=2), gen)
    assert set(picks.tolist()) == {1, 3}
    greedy = choose_next(log_probs[:2], torch.empty(2, 0, dtype=torch.long), SamplingConfig(temperature=0))
    assert greedy.tolist() == [1, 1]
    # a repetition penalty pushes the argmax off a token already seen
    penalised = choose_next(log_probs[:1], torch.tensor([[1]]), SamplingConfig(temperature=0, repetition_penalty=3.0))
    assert penalised.tolist() == [3]


# ---------------------------------------------------------------------------- the task end to end
@pytest.fixture
def trained(tmp_path, text_file):
    out = tmp_path / "lm"
    seqlab.train("lm", out, data=str(text_file), emb_size=16, hidden_size=16, batch_size=4, bptt=12, epochs=3,
                 lr=0.01, warmup=0,
                 max_time=None, progress=False, log=lambda *_: None)
    return out


def test_train_evaluate_generate_and_score_through_the_api(trained, text_file):
    lm = seqlab.load(trained)
    assert lm.task == "lm"
    assert lm.tokenizer.kind == "bpe"  # a user's own raw text gets BPE
    ppl = lm.perplexity(["the cat sat on a mat", "a dog ran to the park"])
    assert 1.0 < ppl < len(lm.tokenizer) / 3  # far better than uniform over the vocabulary
    scores = lm.token_logprobs(["the cat sat"])[0]
    assert scores[-1]["token"] == "<eos>" and all(s["logprob"] <= 0 for s in scores)
    a = lm.generate("the cat", max_tokens=12, seed=7)
    b = lm.generate("the cat", max_tokens=12, seed=7)
    assert a == b and a  # the same seed gives the same text
    streamed = [item["id"] for item in lm.stream("the cat", max_tokens=12, seed=7)]
    assert lm.tokenizer.decode(streamed) == a  # streaming yields the tokens of the plain call
    many = lm.samples("the cat", num_samples=3, max_tokens=8, seed=1)
    assert len(many) == 3
    greedy = lm.generate("the cat", max_tokens=8, temperature=0)
    assert greedy == lm.generate("the cat", max_tokens=8, temperature=0, seed=99)
    report = seqlab.tasks.get_task("lm").evaluate(lm, data=str(text_file), split="test")
    metrics = json.loads((trained / "metrics.json").read_text())
    assert report["perplexity"] == pytest.approx(2 ** report["bits_per_token"], rel=1e-6)
    assert report["perplexity"] != pytest.approx(metrics["valid"]["perplexity"], rel=1e-9)  # another split


def test_save_load_round_trip_gives_the_same_scores(trained, tmp_path):
    lm = seqlab.load(trained)
    torch.manual_seed(0)
    with torch.no_grad():  # weights no training would give, so a loader that re-initialised anything would show
        for parameter in lm.model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.1)
    saved = read_model_config(trained)
    copy = tmp_path / "copy"
    shutil.copytree(trained, copy)
    save_model_dir(copy, task="lm", config=saved["config"], state_dict=lm.model.state_dict(),
                   extras={"data_stats": saved["data_stats"]})
    again = seqlab.load(copy)
    assert again.token_logprobs(["the red ball"]) == lm.token_logprobs(["the red ball"])
    assert again.perplexity(["the cat sat on a mat"]) == lm.perplexity(["the cat sat on a mat"])
    for name, tensor in lm.model.state_dict().items():
        assert torch.equal(tensor, again.model.state_dict()[name]), name
    assert not torch.equal(again.model.embedding.weight, seqlab.load(trained).model.embedding.weight)


def test_transformer_trains_and_generates_on_a_word_level_corpus(tmp_path, text_file):
    out = tmp_path / "tf"
    seqlab.train("lm", out, data=str(text_file), model="transformer", tokenizer="word", d_model=16, heads=2, layers=1,
                 ff_size=32, context=16, batch_size=8, epochs=2, max_time=None, progress=False, log=lambda *_: None)
    lm = seqlab.load(out)
    assert lm.tokenizer.kind == "word"
    tokens = [item["token"] for item in lm.stream("the cat", max_tokens=30, seed=3)]  # longer than the context
    assert len(tokens) == 30 and all(t in WORDS or t in ("<eos>", "<unk>") for t in tokens)


def test_cli_generate_streams_and_json(trained, capsys):
    assert main(["generate", str(trained), "--prompt", "the cat", "--max-tokens", "6", "--seed", "3"]) == 0
    streamed = capsys.readouterr().out
    assert streamed.startswith("the cat")
    assert main(["generate", str(trained), "--prompt", "the cat", "--max-tokens", "6", "--seed", "3", "--json",
                 "--num-samples", "2"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["sample"] for r in rows] == [0, 1] and all(len(r["tokens"]) == 6 for r in rows)
    assert all(0 < t["prob"] <= 1 for r in rows for t in r["tokens"])
    lm = seqlab.load(trained)
    pieces = [item["text"] for item in lm.stream("the cat", max_tokens=6, seed=3)]
    assert streamed == "the cat" + "".join(pieces) + "\n"  # printed as produced, nothing else
    assert main(["generate", str(trained), "--prompt", "the cat", "--max-tokens", "6", "--seed", "3", "--json"]) == 0
    single = json.loads(capsys.readouterr().out)
    assert single["text"] == lm.generate("the cat", max_tokens=6, seed=3)  # --json: the same sample as the API


def test_cli_evaluate_prints_perplexity_and_refuses_other_tasks_flags(trained, text_file, capsys):
    assert main(["evaluate", str(trained), "--data", str(text_file), "--split", "valid", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["perplexity"] > 1 and "protocol" in report
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", str(trained), "--beam", "5"])
    assert exc.value.code == 2
    assert "unrecognized arguments: --beam" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--top-p", "0"], "--top-p must be in (0, 1]"),
    (["--top-p", "1.5"], "--top-p must be in (0, 1]"),
    (["--temperature", "-1"], "--temperature must be >= 0"),
])
def test_cli_generate_bad_sampling_options(trained, capsys, argv, message):
    assert main(["generate", str(trained), "--prompt", "the", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_prompt_longer_than_the_context_is_refused(tmp_path, text_file, capsys):
    out = tmp_path / "tf"
    seqlab.train("lm", out, data=str(text_file), model="transformer", tokenizer="word", d_model=16, heads=2, layers=1,
                 ff_size=32, context=8, batch_size=8, epochs=1, max_time=None, progress=False, log=lambda *_: None)
    assert main(["generate", str(out), "--prompt", " ".join(["the"] * 20)]) == 2
    assert "more than the model's context" in capsys.readouterr().err


def test_unknown_prompt_words_are_said(tmp_path, text_file, capsys):
    out = tmp_path / "w"
    seqlab.train("lm", out, data=str(text_file), tokenizer="word", emb_size=8, hidden_size=8, batch_size=4, epochs=1,
                 max_time=None, progress=False, log=lambda *_: None)
    assert main(["generate", str(out), "--prompt", "the zebra", "--max-tokens", "3"]) == 0
    assert "read as <unk>: zebra" in capsys.readouterr().err


def test_bad_training_text(tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n  \n" * 5, encoding="utf-8")
    assert main(["train", "lm", "--data", str(empty), "--out", str(tmp_path / "x"), "--no-progress"]) == 2
    assert "is empty" in capsys.readouterr().err
    latin = tmp_path / "latin.txt"
    latin.write_bytes(("good line\n" * 20).encode() + "caf\xe9 au lait\n".encode("latin-1"))
    assert main(["train", "lm", "--data", str(latin), "--out", str(tmp_path / "y"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "line 21 is not valid UTF-8" in err and "Traceback" not in err
    assert main(["train", "lm", "--data", str(tmp_path / "missing.txt"), "--out", str(tmp_path / "z")]) == 2
    assert "no such file" in capsys.readouterr().err


@pytest.mark.slow  # trains a classifier first
def test_generate_refuses_a_classifier(tmp_path, reviews_csv, capsys):
    out = tmp_path / "clf"
    seqlab.train("classify", out, data=str(reviews_csv), text_column="review", label_column="sentiment", model="bag",
                 epochs=1, progress=False, log=lambda *_: None)
    assert main(["generate", str(out), "--prompt", "x"]) == 2
    assert "'generate' needs a 'lm' model" in capsys.readouterr().err


@pytest.mark.real_data
def test_wikitext2_counts_match_the_reference(monkeypatch):
    """The real data: every WikiText-2 type in the vocabulary and the token counts of the reference LM code."""
    from conftest import shared_data

    from seqlab.data.corpus import LMDataConfig, load_split
    from seqlab.text.stream import StreamTokenizer

    monkeypatch.setenv("SEQLAB_DATA", str(shared_data()))
    train = load_split(LMDataConfig("wikitext-2"), "train")
    valid = load_split(LMDataConfig("wikitext-2"), "valid")
    tok = StreamTokenizer.train(train.lines, "word")
    assert len(tok) == 33278
    assert tok.encode_lines(train.lines).size == 2088628
    assert np.count_nonzero(tok.encode_lines(valid.lines) == tok.eos_id) == 3760
