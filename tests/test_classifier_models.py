import pytest
import torch

from seqlab.data.batching import pad_batch
from seqlab.models.bag import BagClassifier, BagConfig
from seqlab.models.rnn import RNNClassifier, RNNConfig
from seqlab.models.transformer import TransformerClassifier, TransformerConfig

VOCAB = 50
SEQS = [[3, 4, 5, 6, 7], [8, 9], [10], []]


def _forward_backward(model, num_outputs):
    ids, lengths = pad_batch(SEQS)
    out = model(ids, lengths)
    assert out.logits.shape == (4, num_outputs)
    assert torch.isfinite(out.logits).all()
    out.logits.sum().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    return out


@pytest.mark.parametrize("ngrams", [1, 2, 3])
def test_bag_forward_backward(ngrams):
    model = BagClassifier(BagConfig(emb_size=8, ngrams=ngrams, buckets=100), VOCAB, 3)
    _forward_backward(model, 3)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("pooling", ["attention", "final", "mean", "max"])
def test_rnn_variants_forward_backward(cell, pooling):
    torch.manual_seed(0)
    model = RNNClassifier(RNNConfig(emb_size=8, hidden_size=6, layers=2, cell=cell, pooling=pooling), VOCAB, 1)
    out = _forward_backward(model, 1)
    if pooling == "attention":
        weights = out.attention
        assert torch.allclose(weights.sum(-1), torch.ones(4))
        assert weights[1, 2:].abs().sum() == 0  # padding gets no attention


@pytest.mark.parametrize("pooling", ["mean", "cls", "attention"])
def test_transformer_forward_backward(pooling):
    torch.manual_seed(0)
    model = TransformerClassifier(TransformerConfig(d_model=16, heads=2, layers=2, ff_size=32, pooling=pooling),
                                  VOCAB, 2)
    _forward_backward(model, 2)


@pytest.mark.parametrize("make", [
    lambda: RNNClassifier(RNNConfig(emb_size=8, hidden_size=6, cell="lstm", pooling="final"), VOCAB, 2),
    lambda: RNNClassifier(RNNConfig(emb_size=8, hidden_size=6, cell="gru", pooling="attention"), VOCAB, 2),
    lambda: TransformerClassifier(TransformerConfig(d_model=16, heads=2, layers=1, ff_size=32), VOCAB, 2),
    lambda: BagClassifier(BagConfig(emb_size=8, ngrams=2, buckets=100), VOCAB, 2),
])
def test_padding_does_not_change_predictions(make):
    """Right-padding is invisible: a short text scores the same alone and beside a long one."""
    torch.manual_seed(0)
    model = make().eval()
    with torch.no_grad():
        alone = model(*pad_batch([[8, 9]])).logits
        batched = model(*pad_batch([[3, 4, 5, 6, 7, 11, 12], [8, 9]])).logits
    assert torch.allclose(alone[0], batched[1], atol=1e-5)
