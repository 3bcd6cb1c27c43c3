"""Greedy and beam search: parity (beam 1 = greedy, batched = one by one), a hand-made case
where beam beats greedy, beam vs greedy on tiny trained models, lengths, n-best, unk replacement."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.decode import beam_search, gnmt_length_penalty, greedy_search, unk_replace
from seqlab.models.seq2seq import RNNSeq2Seq, RNNSeq2SeqConfig
from seqlab.models.transformer_seq2seq import TransformerSeq2Seq, TransformerSeq2SeqConfig

PAD, SOS, EOS = 0, 1, 2
V = 12  # 3 specials + 9 symbols


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models run fastest on one thread, and do not thrash when the machine is busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def new_rnn(seed: int = 0) -> RNNSeq2Seq:
    torch.manual_seed(seed)
    return RNNSeq2Seq(RNNSeq2SeqConfig(emb_size=16, hidden_size=32, dropout=0.0), V, V, PAD)


def new_transformer(seed: int = 0) -> TransformerSeq2Seq:
    torch.manual_seed(seed)
    cfg = TransformerSeq2SeqConfig(d_model=32, heads=2, encoder_layers=1, decoder_layers=2, ff_size=64, dropout=0.0)
    return TransformerSeq2Seq(cfg, V, V, PAD)


NEW = {"rnn": new_rnn, "transformer": new_transformer}


def sources(n: int, seed: int, min_len: int = 2, max_len: int = 6) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(min_len, max_len + 1, (n,), generator=g)
    src = torch.randint(3, V, (n, max_len), generator=g)
    src[torch.arange(max_len)[None, :] >= lengths[:, None]] = PAD
    return src, lengths


def reverse_batch(n: int, seed: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Toy task: the target is the source reversed."""
    src, lengths = sources(n, seed)
    B, S = src.shape
    pos = torch.arange(S)[None, :]
    rev_index = (lengths[:, None] - 1 - pos).clamp(min=0)  # (B, S)
    tgt = src.gather(1, rev_index).masked_fill(pos >= lengths[:, None], PAD)  # (B, S)
    tgt_in = torch.cat([torch.full((B, 1), SOS), tgt], dim=1)  # (B, S + 1)
    tgt_out = torch.cat([tgt, torch.full((B, 1), PAD)], dim=1)
    tgt_out[torch.arange(B), lengths] = EOS
    return src, lengths, tgt_in, tgt_out


def train(model: nn.Module, steps: int, lr: float) -> nn.Module:
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for step in range(steps):
        src, lengths, tgt_in, tgt_out = reverse_batch(32, seed=1000 + step)
        logits, _ = model(src, lengths, tgt_in)
        loss = F.cross_entropy(logits.reshape(-1, V), tgt_out.reshape(-1), ignore_index=PAD)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


@pytest.fixture(scope="module")
def trained() -> dict[str, nn.Module]:
    """Tiny models trained briefly on reversal: good, not perfect, so beam search has work to do."""
    return {"rnn": train(new_rnn(), 120, 1e-2), "transformer": train(new_transformer(), 120, 3e-3)}


def assert_same(a, b, *, scores_tol: float = 1e-5) -> None:
    assert a.tokens == b.tokens
    for sa, sb in zip(a.scores, b.scores, strict=True):
        assert sa == pytest.approx(sb, abs=scores_tol)
    for sa, sb in zip(a.normalized_scores, b.normalized_scores, strict=True):
        assert sa == pytest.approx(sb, abs=scores_tol)
    for atts_a, atts_b in zip(a.attention, b.attention, strict=True):
        for x, y in zip(atts_a, atts_b, strict=True):
            assert x.shape == y.shape and torch.allclose(x, y, atol=1e-5)


# ---------------------------------------------------------------- parity


@pytest.mark.parametrize("arch", list(NEW))
def test_beam_one_is_greedy_on_random_models(arch: str) -> None:
    model = NEW[arch](seed=3).eval()
    src, lengths = sources(6, seed=0)
    greedy = greedy_search(model, src, lengths, SOS, EOS, max_len_a=1.0, max_len_b=4)
    beam = beam_search(model, src, lengths, SOS, EOS, beam_size=1, length_penalty=0.0, max_len_a=1.0, max_len_b=4)
    assert_same(greedy, beam, scores_tol=0.0)


@pytest.mark.slow  # trains the module's reversal models first (~1 s)
@pytest.mark.parametrize("arch", list(NEW))
def test_beam_one_is_greedy_on_trained_models(arch: str, trained) -> None:
    src, lengths = sources(16, seed=1)
    greedy = greedy_search(trained[arch], src, lengths, SOS, EOS)
    beam = beam_search(trained[arch], src, lengths, SOS, EOS, beam_size=1, length_penalty=0.0)
    assert_same(greedy, beam, scores_tol=0.0)


@pytest.mark.slow  # trains the module's reversal models first (~1 s)
@pytest.mark.parametrize("arch", list(NEW))
def test_batched_equals_one_by_one(arch: str, trained) -> None:
    model = trained[arch]
    src, lengths = sources(6, seed=2)
    searches = {
        "greedy": lambda s, n: greedy_search(model, s, n, SOS, EOS),
        "beam": lambda s, n: beam_search(model, s, n, SOS, EOS, beam_size=4, length_penalty=0.6, nbest=2),
    }
    for search in searches.values():
        together = search(src, lengths)
        for i in range(len(src)):
            alone = search(src[i:i + 1, : lengths[i]], lengths[i:i + 1])  # no padding at all
            assert alone.tokens[0] == together.tokens[i]
            assert alone.scores[0] == pytest.approx(together.scores[i], abs=1e-4)
            assert torch.allclose(alone.attention[0][0], together.attention[i][0], atol=1e-5)


# ---------------------------------------------------------------- beam search quality


@dataclass(frozen=True)
class TableState:
    mask: Tensor  # (N, S)

    def index_select(self, indices: Tensor) -> TableState:
        return TableState(self.mask.index_select(0, indices))


class TableModel:
    """P(next | previous token) from a fixed table: the textbook case where greedy loses.

    Greedy takes "a" (0.6) and ends with P = 0.6 * 0.45 = 0.27; "b" (0.4) ends with
    P = 0.4 * 0.9 = 0.36, which a beam of 2 finds.
    """

    def __init__(self) -> None:
        p = torch.full((5, 5), 1e-9)  # pad, sos, eos, a, b
        p[SOS, 3], p[SOS, 4] = 0.6, 0.4
        p[3, EOS], p[3, 3], p[3, 4] = 0.45, 0.3, 0.25
        p[4, EOS], p[4, 3], p[4, 4] = 0.9, 0.05, 0.05
        p[EOS, EOS] = p[PAD, EOS] = 1.0
        self.log_probs = (p / p.sum(-1, keepdim=True)).log()

    def encode(self, src: Tensor, src_lengths: Tensor) -> TableState:
        return TableState(torch.arange(src.size(1))[None, :] < src_lengths[:, None])

    def decode_step(self, state: TableState, prev: Tensor) -> tuple[Tensor, Tensor, TableState]:
        attention = state.mask.float() / state.mask.sum(-1, keepdim=True)
        return self.log_probs[prev], attention, state


def test_beam_finds_what_greedy_misses() -> None:
    model, src, lengths = TableModel(), torch.tensor([[5, 6, 7], [5, 6, 0]]), torch.tensor([3, 2])
    greedy = greedy_search(model, src, lengths, SOS, EOS)  # type: ignore[arg-type]
    assert greedy.tokens == [[[3]], [[3]]]
    assert greedy.scores[0][0] == pytest.approx(math.log(0.6 * 0.45), abs=1e-5)
    beam = beam_search(model, src, lengths, SOS, EOS, beam_size=2, length_penalty=1.0, nbest=2)  # type: ignore[arg-type]
    assert beam.tokens == [[[4], [3]], [[4], [3]]]
    assert beam.scores[1] == pytest.approx([math.log(0.36), math.log(0.27)], abs=1e-5)
    lp = ((5 + 2) / 6) ** 1.0  # two scored tokens: the symbol and <eos>
    assert beam.normalized_scores[1] == pytest.approx([math.log(0.36) / lp, math.log(0.27) / lp], abs=1e-5)
    assert beam.attention[1][0].shape == (1, 2) and torch.allclose(beam.attention[1][0], torch.tensor([[0.5, 0.5]]))


@pytest.mark.slow  # trains the module's reversal models first (~1 s)
@pytest.mark.parametrize("arch", list(NEW))
def test_beam_never_worse_than_greedy_on_trained_models(arch: str, trained) -> None:
    model = trained[arch]
    src, lengths = sources(64, seed=3)
    greedy = greedy_search(model, src, lengths, SOS, EOS)
    beam = beam_search(model, src, lengths, SOS, EOS, beam_size=5, length_penalty=0.0)
    for g, b in zip(greedy.scores, beam.scores, strict=True):
        assert b[0] >= g[0] - 1e-5


@pytest.mark.slow  # trains the module's reversal models first (~1 s)
def test_trained_model_mostly_reverses(trained) -> None:
    src, lengths = sources(32, seed=4)
    hyps = beam_search(trained["rnn"], src, lengths, SOS, EOS, beam_size=3)
    correct = sum(h == src[i, : lengths[i]].flip(0).tolist() for i, h in enumerate(hyps.best))
    assert correct >= 16


# ---------------------------------------------------------------- lengths, n-best, attention


@pytest.mark.parametrize("arch", list(NEW))
def test_max_length(arch: str) -> None:
    model = NEW[arch](seed=1).eval()
    src, lengths = sources(5, seed=5)
    for search in (greedy_search, beam_search):
        hyps = search(model, src, lengths, SOS, EOS, max_len_a=0.5, max_len_b=1, pad_id=PAD)
        for i, best in enumerate(hyps.best):
            assert len(best) <= int(0.5 * lengths[i].item() + 1)
            assert not {EOS, SOS, PAD} & set(best)
        empty = search(model, src, lengths, SOS, EOS, max_len_a=0.0, max_len_b=0)  # only <eos> allowed
        assert empty.best == [[]] * 5
        state = model.encode(src, lengths)
        eos_log_prob = model.decode_step(state, torch.full((5,), SOS))[0][:, EOS]
        assert [s[0] for s in empty.scores] == pytest.approx(eos_log_prob.tolist(), abs=1e-5)


@pytest.mark.slow  # trains the module's reversal models first (~1 s)
def test_nbest_sorted_and_normalised(trained) -> None:
    src, lengths = sources(8, seed=6)
    alpha = 0.6
    hyps = beam_search(trained["transformer"], src, lengths, SOS, EOS, beam_size=4, length_penalty=alpha, nbest=3)
    for tokens, scores, norm, att, n in zip(hyps.tokens, hyps.scores, hyps.normalized_scores, hyps.attention,
                                            lengths.tolist(), strict=True):
        assert 1 <= len(tokens) <= 3 and len(scores) == len(norm) == len(att) == len(tokens)
        assert norm == sorted(norm, reverse=True)
        for tok, s, ns, a in zip(tokens, scores, norm, att, strict=True):
            assert ns == pytest.approx(s / gnmt_length_penalty(len(tok) + 1, alpha), abs=1e-5)
            assert a.shape == (len(tok), n)
            assert torch.allclose(a.sum(-1), torch.ones(len(tok)), atol=1e-5)
    with pytest.raises(ValueError):
        beam_search(trained["rnn"], src, lengths, SOS, EOS, beam_size=2, nbest=3)


def test_unk_replace() -> None:
    unk = 3
    tokens = [[5, unk, 6, unk], [7, 8]]
    attention = [
        torch.tensor([[0.9, 0.1, 0.0], [0.1, 0.2, 0.7], [0.5, 0.5, 0.0], [0.6, 0.3, 0.1]]),
        torch.tensor([[1.0, 0.0], [0.0, 1.0]]),
    ]
    src_tokens = [["Müller", "sagt", "Zürich"], ["ja", "nein"]]
    assert unk_replace(tokens, attention, src_tokens, unk) == [[5, "Zürich", 6, "Müller"], [7, 8]]
