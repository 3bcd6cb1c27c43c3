"""Attention scorers against hand-computed numbers, plus masking and pooling."""

from __future__ import annotations

import math

import pytest
import torch

from seqlab.models.attention import ATTENTION_KINDS, AttentionPooling, make_attention, masked_softmax

# One query of size 3 and two keys of size 3: query (1, 3), keys (1, 2, 3).
Q = torch.tensor([[1.0, 0.0, 1.0]])
KEYS = torch.tensor([[[1.0, 2.0, 0.0], [2.0, 0.0, 1.0]]])
W_Q = [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]  # (hidden=2, Q=3): W_q q = [1, 1]
W_K = [[0.0, 1.0, 0.0], [1.0, 0.0, -1.0]]  # (hidden=2, K=3): W_k k1 = [2, 1], W_k k2 = [0, 1]
V = [1.0, -1.0]


def softmax2(s1: float, s2: float) -> list[float]:
    z = math.exp(s1) + math.exp(s2)
    return [math.exp(s1) / z, math.exp(s2) / z]


def expected_context(w: list[float]) -> list[float]:
    k1, k2 = KEYS[0].tolist()
    return [w[0] * a + w[1] * b for a, b in zip(k1, k2, strict=True)]


def check(attn, scores: tuple[float, float]) -> None:
    context, weights = attn(Q, KEYS, torch.tensor([[True, True]]))
    w = softmax2(*scores)
    assert weights.shape == (1, 2) and context.shape == (1, 3)
    assert weights[0].tolist() == pytest.approx(w, abs=1e-6)
    assert context[0].tolist() == pytest.approx(expected_context(w), abs=1e-6)


def test_dot_by_hand() -> None:
    # s_j = q . k_j: q.k1 = 1*1 + 0*2 + 1*0 = 1, q.k2 = 1*2 + 0*0 + 1*1 = 3
    check(make_attention("dot", 3, 3, 8), (1.0, 3.0))


def test_general_by_hand() -> None:
    attn = make_attention("general", 3, 3, 8)
    with torch.no_grad():
        attn.key_proj.weight.copy_(torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]))
    # W_a k1 = [2, 0, 1] -> q . = 3;  W_a k2 = [0, 0, 2] -> q . = 2
    check(attn, (3.0, 2.0))


def test_additive_by_hand() -> None:
    attn = make_attention("additive", 3, 3, 2)
    with torch.no_grad():
        attn.query_proj.weight.copy_(torch.tensor(W_Q))
        attn.key_proj.weight.copy_(torch.tensor(W_K))
        attn.v.weight.copy_(torch.tensor([V]))
    # W_q q + W_k k1 = [1, 1] + [2, 1] = [3, 2];  W_q q + W_k k2 = [1, 1] + [0, 1] = [1, 2]
    check(attn, (math.tanh(3) - math.tanh(2), math.tanh(1) - math.tanh(2)))


def test_concat_by_hand() -> None:
    attn = make_attention("concat", 3, 3, 2)
    with torch.no_grad():
        attn.concat_proj.weight.copy_(torch.cat([torch.tensor(W_Q), torch.tensor(W_K)], dim=1))  # W = [W_q | W_k]
        attn.concat_proj.bias.copy_(torch.tensor([0.5, -0.5]))
        attn.v.weight.copy_(torch.tensor([V]))
    # W [q; k1] + b = [3.5, 1.5];  W [q; k2] + b = [1.5, 1.5]
    check(attn, (math.tanh(3.5) - math.tanh(1.5), 0.0))


def test_dot_needs_equal_sizes() -> None:
    with pytest.raises(ValueError, match="query_size == key_size"):
        make_attention("dot", 4, 6, 8)
    with pytest.raises(ValueError, match="unknown attention kind"):
        make_attention("cosine", 4, 4, 8)


@pytest.mark.parametrize("kind", ATTENTION_KINDS)
def test_masking_and_normalisation(kind: str) -> None:
    torch.manual_seed(0)
    attn = make_attention(kind, 5, 5, 7)
    query, keys = torch.randn(3, 5), torch.randn(3, 4, 5)  # (B, Q), (B, S, K)
    mask = torch.tensor([[True, True, True, True], [True, False, True, False], [True, False, False, False]])
    context, weights = attn(query, keys, mask)
    assert context.shape == (3, 5) and weights.shape == (3, 4)
    assert torch.allclose(weights.sum(-1), torch.ones(3))
    assert (weights[~mask] == 0).all()  # exactly zero, not just small
    assert torch.allclose(context[2], keys[2, 0])  # one real key: all weight on it
    # Changing a masked key changes nothing.
    keys2 = keys.clone()
    keys2[1, 3] = 100.0
    assert torch.equal(attn(query, keys2, mask)[1][1], weights[1])


@pytest.mark.parametrize("kind", ATTENTION_KINDS)
def test_precomputed_keys_give_same_result(kind: str) -> None:
    torch.manual_seed(0)
    attn = make_attention(kind, 6, 6, 4)
    query, keys, mask = torch.randn(2, 6), torch.randn(2, 5, 6), torch.ones(2, 5, dtype=torch.bool)
    c1, w1 = attn(query, keys, mask)
    c2, w2 = attn(query, keys, mask, proj_keys=attn.precompute_keys(keys))
    assert torch.allclose(c1, c2) and torch.allclose(w1, w2)


def test_different_query_and_key_sizes() -> None:
    for kind in ("general", "concat", "additive"):
        context, weights = make_attention(kind, 4, 6, 5)(torch.randn(2, 4), torch.randn(2, 3, 6))
        assert context.shape == (2, 6) and weights.shape == (2, 3)


def test_fully_masked_row_is_zero_without_nan() -> None:
    torch.manual_seed(0)
    attn = make_attention("additive", 4, 4, 4)
    query = torch.randn(2, 4, requires_grad=True)
    keys = torch.randn(2, 3, 4, requires_grad=True)
    mask = torch.tensor([[True, True, False], [False, False, False]])
    context, weights = attn(query, keys, mask)
    assert torch.equal(weights[1], torch.zeros(3)) and torch.equal(context[1], torch.zeros(4))
    (context.sum() + weights.sum()).backward()
    assert torch.isfinite(query.grad).all() and torch.isfinite(keys.grad).all()


def test_masked_softmax_without_mask_is_softmax() -> None:
    x = torch.randn(2, 5)
    assert torch.allclose(masked_softmax(x, None), torch.softmax(x, -1))


def test_attention_pooling_by_hand() -> None:
    pool = AttentionPooling(3, hidden_size=2)
    with torch.no_grad():
        pool.proj.weight.copy_(torch.tensor(W_K))
        pool.proj.bias.zero_()
        pool.query.copy_(torch.tensor(V))
    outputs = KEYS  # (1, T=2, H=3): W h1 = [2, 1], W h2 = [0, 1]
    pooled, weights = pool(outputs, torch.tensor([[True, True]]))
    w = softmax2(math.tanh(2) - math.tanh(1), math.tanh(0) - math.tanh(1))
    assert weights[0].tolist() == pytest.approx(w, abs=1e-6)
    assert pooled[0].tolist() == pytest.approx(expected_context(w), abs=1e-6)


def test_attention_pooling_masks_padding() -> None:
    torch.manual_seed(0)
    pool = AttentionPooling(8)
    outputs, mask = torch.randn(2, 5, 8), torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    pooled, weights = pool(outputs, mask)
    assert pooled.shape == (2, 8) and weights.shape == (2, 5)
    assert (weights[0, 3:] == 0).all() and torch.allclose(weights.sum(-1), torch.ones(2))
    # Padding outputs do not matter.
    outputs2 = outputs.clone()
    outputs2[0, 3:] = 1e3
    assert torch.allclose(pool(outputs2, mask)[0], pooled)
