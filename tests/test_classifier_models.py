import numpy as np
import pytest
import torch

from seqlab.data.batching import pad_batch
from seqlab.models.bag import BagClassifier, BagConfig
from seqlab.models.rnn_classifier import RNNClassifier, RNNConfig
from seqlab.models.transformer_classifier import TransformerClassifier, TransformerConfig

VOCAB = 50
SEQS = [[3, 4, 5, 6, 7], [8, 9], [10], []]


def check_forward_backward(model, num_outputs):
    ids, lengths = pad_batch(SEQS)
    out = model(ids, lengths)
    assert out.logits.shape == (4, num_outputs)
    assert torch.isfinite(out.logits).all()
    out.logits.sum().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    return out


@pytest.mark.parametrize("ngrams", [1, 2, 3])
def test_bag_forward_backward_and_ngram_features_after_the_words(ngrams):
    model = BagClassifier(BagConfig(emb_size=8, ngrams=ngrams, buckets=100), VOCAB, 3)
    check_forward_backward(model, 3)
    features = model.features(np.array([3, 4, 5]))
    assert features[:3].tolist() == [3, 4, 5] and len(features) == 3 + 2 * (ngrams >= 2) + (ngrams >= 3)
    assert (features[3:] >= VOCAB).all() and (features < VOCAB + 100).all()  # n-grams live after the words


@pytest.mark.parametrize("outputs", [1, 3])
def test_nb_weighted_bag_forward_backward(outputs):
    model = BagClassifier(BagConfig(ngrams=2, buckets=100, weighting="nb"), VOCAB, outputs)
    model.fit_statistics([np.array([3, 4]), np.array([8, 9]), np.array([10])], torch.tensor([0, 1, 2]) % max(2, outputs))
    with torch.no_grad():
        model.feature_weights.weight.normal_()
    check_forward_backward(model, outputs)


def test_nb_ratios_by_hand_and_binarised_documents():
    # feature 3 in both positive documents and one negative, feature 4 in the negative one only
    model = BagClassifier(BagConfig(ngrams=1, weighting="nb", nb_alpha=1.0), 6, 1)
    model.fit_statistics([np.array([3, 3, 3]), np.array([3]), np.array([3, 4])], torch.tensor([1, 1, 0]))
    # p = alpha + positive counts, q = alpha + negative counts; r = log(p / |p|) - log(q / |q|)
    p = np.array([1, 1, 1, 3, 1, 1.0])
    q = np.array([1, 1, 1, 2, 2, 1.0])
    expected = np.log(p / p.sum()) - np.log(q / q.sum())
    assert np.allclose(model.nb_ratios[:, 0].numpy(), expected, atol=1e-6)
    with torch.no_grad():
        model.feature_weights.weight.fill_(1.0)
    docs = [model.features(np.array(d)) for d in ([3, 4], [3, 3, 4, 4, 4])]
    assert [d.tolist() for d in docs] == [[3, 4], [3, 4]]  # binarised: a repeated feature counts once
    ids, lengths = pad_batch(docs)
    logits = model(ids, lengths).logits
    assert logits[0].item() == pytest.approx(expected[3] + expected[4], abs=1e-5)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("pooling", ["attention", "final", "mean", "max"])
def test_rnn_forward_backward_for_every_cell_and_pooling_and_no_attention_on_padding(cell, pooling):
    torch.manual_seed(0)
    model = RNNClassifier(RNNConfig(emb_size=8, hidden_size=6, layers=2, cell=cell, pooling=pooling), VOCAB, 1)
    out = check_forward_backward(model, 1)
    if pooling == "attention":
        weights = out.attention
        assert torch.allclose(weights.sum(-1), torch.ones(4))
        assert weights[1, 2:].abs().sum() == 0  # padding gets no attention


@pytest.mark.parametrize("pooling", ["mean", "cls", "attention"])
def test_transformer_forward_backward_for_every_pooling_and_attention_only_when_pooled_by_it(pooling):
    torch.manual_seed(0)
    model = TransformerClassifier(TransformerConfig(d_model=16, heads=2, layers=2, ff_size=32, pooling=pooling),
                                  VOCAB, 2)
    out = check_forward_backward(model, 2)
    assert (out.attention is not None) == (pooling == "attention")  # weights to show, only when pooling has them


def _fitted_nb_bag() -> BagClassifier:
    model = BagClassifier(BagConfig(ngrams=2, buckets=100, weighting="nb"), VOCAB, 2)
    model.fit_statistics([np.array([3, 4, 8]), np.array([8, 9, 12]), np.array([10, 5])], torch.tensor([0, 1, 1]))
    with torch.no_grad():
        model.feature_weights.weight.normal_()
    return model


@pytest.mark.parametrize("make", [
    lambda: RNNClassifier(RNNConfig(emb_size=8, hidden_size=6, cell="lstm", pooling="final"), VOCAB, 2),
    lambda: RNNClassifier(RNNConfig(emb_size=8, hidden_size=6, cell="gru", pooling="attention"), VOCAB, 2),
    lambda: TransformerClassifier(TransformerConfig(d_model=16, heads=2, layers=1, ff_size=32), VOCAB, 2),
    lambda: BagClassifier(BagConfig(emb_size=8, ngrams=2, buckets=100), VOCAB, 2),
    lambda: _fitted_nb_bag(),
])
def test_padding_does_not_change_predictions(make):
    """Right-padding is invisible: a short text scores the same alone and beside a long one."""
    torch.manual_seed(0)
    model = make().eval()
    with torch.no_grad():
        alone = model(*pad_batch([[8, 9]])).logits
        batched = model(*pad_batch([[3, 4, 5, 6, 7, 11, 12], [8, 9]])).logits
    assert torch.allclose(alone[0], batched[1], atol=1e-5)


@pytest.mark.parametrize("cell", ["gru", "lstm", "rnn"])
@pytest.mark.parametrize("bidirectional,layers", [(True, 2), (False, 1)])
def test_rnn_states_equal_a_packed_run(cell, bidirectional, layers):
    """Unpacked directions (the backward one reversed within each length) == pack_padded_sequence."""
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    torch.manual_seed(0)
    model = RNNClassifier(RNNConfig(emb_size=8, hidden_size=6, cell=cell, bidirectional=bidirectional,
                                    layers=layers, dropout=0.0), VOCAB, 2).eval()
    ids, lengths = pad_batch([[3, 4, 5, 6, 7, 8, 9], [10, 11], [12], [13, 14, 15, 16]])
    x = model.embedding(ids)
    ours = model._encode(x, lengths)  # (B, T, dirs*H)
    packed, hidden = model.rnn(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
    reference, _ = pad_packed_sequence(packed, batch_first=True, total_length=ids.size(1))
    real = lengths[:, None] > torch.arange(ids.size(1))[None, :]
    assert torch.allclose(ours[real], reference[real], atol=1e-6)
    assert torch.allclose(model._packed(x, lengths)[real], ours[real], atol=1e-6)  # the GPU path
    hidden = hidden[0] if isinstance(hidden, tuple) else hidden
    final = torch.cat([hidden[-d] for d in range(2 if bidirectional else 1, 0, -1)], dim=-1)  # (B, dirs*H)
    model.config.pooling = "final"
    with torch.no_grad():  # the head reads the same final states as a packed run
        model.pool = None
        expected = model.head(final)
        assert torch.allclose(model(ids, lengths).logits, expected, atol=1e-6)
