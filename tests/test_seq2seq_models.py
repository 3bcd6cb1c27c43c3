"""RNN and transformer encoder-decoders: shapes, masks, step-by-step decoding, state reordering."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seqlab.errors import SeqlabError
from seqlab.models.seq2seq import DecoderState, RNNSeq2Seq, RNNSeq2SeqConfig, Seq2SeqModel
from seqlab.models.transformer_seq2seq import TransformerSeq2Seq, TransformerSeq2SeqConfig

PAD, SOS, EOS = 0, 1, 2
SRC_V, TGT_V = 13, 11


def rnn(**kw) -> RNNSeq2Seq:
    cfg = {"emb_size": 8, "hidden_size": 12, "dropout": 0.1, **kw}
    return RNNSeq2Seq(RNNSeq2SeqConfig(**cfg), SRC_V, TGT_V, PAD)


def transformer(**kw) -> TransformerSeq2Seq:
    cfg = {"d_model": 16, "heads": 2, "encoder_layers": 2, "decoder_layers": 2, "ff_size": 32, "dropout": 0.1, **kw}
    return TransformerSeq2Seq(TransformerSeq2SeqConfig(**cfg), SRC_V, TGT_V, PAD)


MODELS = {
    "gru-additive": lambda: rnn(),
    "lstm-dot-2layers": lambda: rnn(cell="lstm", attention="dot", layers=2),
    "gru-general-tied": lambda: rnn(attention="general", tie_embeddings=True),
    "lstm-concat": lambda: rnn(cell="lstm", attention="concat"),
    "transformer": lambda: transformer(),
    "transformer-untied": lambda: transformer(tie_output=False),
}


def batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """3 sources of lengths 5, 3, 1 padded to 6, and targets starting with <sos>."""
    g = torch.Generator().manual_seed(1)
    lengths = torch.tensor([5, 3, 1])
    src = torch.randint(3, SRC_V, (3, 6), generator=g)
    src[torch.arange(6)[None, :] >= lengths[:, None]] = PAD
    tgt_in = torch.randint(3, TGT_V, (3, 4), generator=g)
    tgt_in[:, 0] = SOS
    tgt_in[2, 3] = PAD
    return src, lengths, tgt_in


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models run fastest on one thread, and do not thrash when the machine is busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(params=list(MODELS))
def model(request) -> nn.Module:
    torch.manual_seed(0)
    return MODELS[request.param]()


def test_implements_protocol(model) -> None:
    assert isinstance(model, Seq2SeqModel)
    src, lengths, _ = batch()
    assert isinstance(model.encode(src, lengths), DecoderState)


def test_forward_backward_shapes(model) -> None:
    src, lengths, tgt_in = batch()
    logits, attention = model(src, lengths, tgt_in)
    assert logits.shape == (3, 4, TGT_V) and attention.shape == (3, 4, 6)
    assert torch.allclose(attention.sum(-1), torch.ones(3, 4), atol=1e-5)
    assert (attention[1, :, 3:] == 0).all() and (attention[2, :, 1:] == 0).all()  # source padding
    F.cross_entropy(logits.reshape(-1, TGT_V), tgt_in.roll(-1, 1).reshape(-1), ignore_index=PAD).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, missing
    assert model.src_embed.weight.grad[PAD].abs().sum() == 0


def test_scheduled_sampling_runs_and_learns(model) -> None:
    src, lengths, tgt_in = batch()
    logits, attention = model(src, lengths, tgt_in, teacher_forcing=0.5)
    assert logits.shape == (3, 4, TGT_V) and attention.shape == (3, 4, 6)
    logits.sum().backward()


def test_attention_maps_shape(model) -> None:
    model.eval()
    src, lengths, tgt_in = batch()
    maps = model.attention_maps(src, lengths, tgt_in)
    layers, heads = (2, 2) if isinstance(model, TransformerSeq2Seq) else (1, 1)
    assert maps.shape == (3, layers, heads, 4, 6)
    _, attention = model(src, lengths, tgt_in)
    assert torch.allclose(maps[:, -1].mean(1), attention, atol=1e-6)  # forward gives last layer, mean of heads


def test_decode_step_matches_forward(model) -> None:
    """Step-by-step generation computes what teacher-forced training computes (KV cache included)."""
    model.eval()
    src, lengths, tgt_in = batch()
    logits, attention = model(src, lengths, tgt_in)
    state = model.encode(src, lengths)
    for t in range(tgt_in.size(1)):
        log_probs, attn, state = model.decode_step(state, tgt_in[:, t])
        assert log_probs.dtype == torch.float32
        assert torch.allclose(log_probs, F.log_softmax(logits[:, t], -1), atol=1e-5)
        assert torch.allclose(attn, attention[:, t], atol=1e-5)


def test_index_select_reorders_state(model) -> None:
    model.eval()
    src, lengths, tgt_in = batch()
    index = torch.tensor([2, 0, 0, 1, 2])  # expand and permute, as beam search does
    state = model.encode(src, lengths)
    for t in range(2):  # reorder mid-sentence, after the state has a history
        _, _, state = model.decode_step(state, tgt_in[:, t])
    expanded = state.index_select(index)
    lp_all, att_all, _ = model.decode_step(state, tgt_in[:, 2])
    lp_sel, att_sel, next_state = model.decode_step(expanded, tgt_in[index, 2])
    assert torch.allclose(lp_sel, lp_all[index], atol=1e-5) and torch.allclose(att_sel, att_all[index], atol=1e-6)
    lp_next, _, _ = model.decode_step(next_state, tgt_in[index, 3])  # the new state is reordered too
    assert lp_next.shape == (5, TGT_V)


def test_source_padding_does_not_change_outputs(model) -> None:
    model.eval()
    src, lengths, tgt_in = batch()
    logits, attention = model(src, lengths, tgt_in)
    longer = torch.cat([src, torch.full((3, 4), PAD)], dim=1)  # (3, 10)
    logits2, attention2 = model(longer, lengths, tgt_in)
    assert torch.allclose(logits, logits2, atol=1e-5)
    assert torch.allclose(attention, attention2[:, :, :6], atol=1e-6) and (attention2[:, :, 6:] == 0).all()


def test_transformer_is_causal() -> None:
    torch.manual_seed(0)
    model = transformer().eval()
    src, lengths, tgt_in = batch()
    logits = model(src, lengths, tgt_in)[0]
    for j in range(1, 4):
        changed = tgt_in.clone()
        changed[:, j] = (changed[:, j] + 1) % TGT_V
        logits2 = model(src, lengths, changed)[0]
        assert torch.allclose(logits[:, :j], logits2[:, :j], atol=1e-6)
        assert not torch.allclose(logits[:, j:], logits2[:, j:])


def test_rnn_without_teacher_forcing_ignores_gold_tokens() -> None:
    torch.manual_seed(0)
    model = rnn().eval()
    src, lengths, tgt_in = batch()
    other = tgt_in.clone()
    other[:, 1:] = (other[:, 1:] + 3) % TGT_V
    assert torch.allclose(model(src, lengths, tgt_in, 0.0)[0], model(src, lengths, other, 0.0)[0])
    assert not torch.allclose(model(src, lengths, tgt_in)[0], model(src, lengths, other)[0])


def test_empty_source_is_handled(model) -> None:
    model.eval()
    src, lengths, tgt_in = batch()
    lengths = torch.tensor([5, 3, 0])
    logits, attention = model(src, lengths, tgt_in)
    assert torch.isfinite(logits).all() and torch.isfinite(attention).all()


def test_transformer_long_inputs_beyond_position_table() -> None:
    torch.manual_seed(0)
    model = transformer(max_positions=4).eval()
    src, lengths, tgt_in = batch()  # source length 6 > 4
    tgt = torch.cat([tgt_in, tgt_in], dim=1)  # target length 8
    logits, _ = model(src, lengths, tgt)
    state = model.encode(src, lengths)
    for t in range(8):
        log_probs, _, state = model.decode_step(state, tgt[:, t])
    assert torch.allclose(log_probs, F.log_softmax(logits[:, -1], -1), atol=1e-5)


def test_shared_embeddings() -> None:
    model = TransformerSeq2Seq(TransformerSeq2SeqConfig(d_model=16, heads=2, share_embeddings=True), 11, 11, PAD)
    assert model.src_embed is model.tgt_embed
    with pytest.raises(SeqlabError, match="joint"):
        TransformerSeq2Seq(TransformerSeq2SeqConfig(share_embeddings=True), 11, 12, PAD)


def test_config_validation() -> None:
    with pytest.raises(SeqlabError):
        RNNSeq2SeqConfig(cell="rnn")
    with pytest.raises(SeqlabError):
        RNNSeq2SeqConfig(attention="cosine")
    with pytest.raises(SeqlabError):
        RNNSeq2SeqConfig(hidden_size=7)
    with pytest.raises(SeqlabError):
        RNNSeq2SeqConfig(teacher_forcing=1.5)
    with pytest.raises(SeqlabError):
        TransformerSeq2SeqConfig(d_model=30, heads=4)


def test_rnn_learns_to_copy() -> None:
    """A tiny GRU learns to copy 2-5 symbols: the loss falls far below its start within a few seconds."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    model = RNNSeq2Seq(RNNSeq2SeqConfig(emb_size=16, hidden_size=32, dropout=0.0), 10, 10, PAD)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(150):
        lengths = torch.randint(2, 6, (32,), generator=g)
        src = torch.randint(3, 10, (32, 5), generator=g)
        src[torch.arange(5)[None, :] >= lengths[:, None]] = PAD
        tgt_in = torch.cat([torch.full((32, 1), SOS), src], dim=1)  # (B, 6)
        tgt_out = torch.cat([src, torch.full((32, 1), PAD)], dim=1)
        tgt_out[torch.arange(32), lengths] = EOS
        logits, _ = model(src, lengths, tgt_in)
        loss = F.cross_entropy(logits.reshape(-1, 10), tgt_out.reshape(-1), ignore_index=PAD)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-10:]) / 10 < 0.2 * sum(losses[:10]) / 10, (losses[:10], losses[-10:])
