"""The batched CRF against brute-force enumeration of every tag sequence on tiny random inputs."""

from __future__ import annotations

import itertools

import pytest
import torch

from seqlab.models.crf import LinearChainCRF
from seqlab.text.tagging import allowed_transitions


def _crf(k: int, seed: int = 0, **constraints) -> LinearChainCRF:
    torch.manual_seed(seed)
    crf = LinearChainCRF(k, **constraints)
    with torch.no_grad():  # scores of the size a trained model has, not the tiny initial ones
        crf.transitions.normal_(0, 1)
        crf.start_transitions.normal_(0, 1)
        crf.end_transitions.normal_(0, 1)
    return crf


def _batch(lengths: list[int], k: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    emissions = torch.randn(len(lengths), max(lengths), k, generator=g) * 2  # (B, T, K)
    mask = torch.arange(max(lengths))[None, :] < torch.tensor(lengths)[:, None]  # (B, T)
    return emissions, mask


@torch.no_grad()
def _brute(crf: LinearChainCRF, emissions: torch.Tensor, length: int) -> list[tuple[float, tuple[int, ...]]]:
    """Every tag sequence of one sentence with its score, by the definition (forbidden ones excluded)."""
    trans, start, end = crf.transitions, crf.start_transitions, crf.end_transitions
    out = []
    for path in itertools.product(range(crf.num_tags), repeat=length):
        ok = bool(crf.start_allowed[path[0]]) and bool(crf.end_allowed[path[-1]])
        ok = ok and all(bool(crf.allowed[a, b]) for a, b in itertools.pairwise(path))
        if not ok:
            continue
        s = start[path[0]] + end[path[-1]] + sum(emissions[t, y] for t, y in enumerate(path))
        s = s + sum((trans[a, b] for a, b in itertools.pairwise(path)), torch.tensor(0.0))
        out.append((float(s), path))
    return sorted(out, key=lambda x: -x[0])


LENGTHS = [4, 1, 3, 2]


def test_log_partition_and_nll_match_brute_force():
    k = 3
    crf = _crf(k)
    emissions, mask = _batch(LENGTHS, k)
    log_z = crf.log_partition(emissions, mask)
    g = torch.Generator().manual_seed(5)
    tags = torch.randint(0, k, mask.shape, generator=g)
    nll = crf.neg_log_likelihood(emissions, tags, mask)
    for b, n in enumerate(LENGTHS):
        scored = _brute(crf, emissions[b], n)
        expected = torch.logsumexp(torch.tensor([s for s, _ in scored]), 0)
        assert log_z[b].item() == pytest.approx(expected.item(), abs=1e-4)
        gold = dict((p, s) for s, p in scored)[tuple(tags[b, :n].tolist())]
        assert nll[b].item() == pytest.approx(expected.item() - gold, abs=1e-4)
    assert crf.neg_log_likelihood(emissions, tags, mask, reduction="mean").item() == pytest.approx(nll.mean().item())
    total = crf.neg_log_likelihood(emissions, tags, mask, reduction="token_mean")
    assert total.item() == pytest.approx(nll.sum().item() / sum(LENGTHS), rel=1e-5)


def test_viterbi_and_nbest_match_brute_force():
    k = 3
    crf = _crf(k, seed=2)
    emissions, mask = _batch(LENGTHS, k, seed=3)
    paths = crf.decode(emissions, mask)
    tags, scores = crf.viterbi(emissions, mask)
    nb_tags, nb_scores = crf.nbest(emissions, mask, n=5)
    assert nb_tags.shape == (len(LENGTHS), 5, max(LENGTHS)) and nb_scores.shape == (len(LENGTHS), 5)
    for b, n in enumerate(LENGTHS):
        scored = _brute(crf, emissions[b], n)
        assert paths[b] == list(scored[0][1]) and len(paths[b]) == n
        assert scores[b].item() == pytest.approx(scored[0][0], abs=1e-4)
        assert tags[b, n:].eq(0).all()  # padding reads 0
        want = scored[:5]
        got = [(nb_scores[b, r].item(), tuple(nb_tags[b, r, :n].tolist())) for r in range(5)
               if nb_scores[b, r] > float("-inf")]
        assert len(got) == len(want)  # a one-token sentence has only 3 paths
        for (gs, gp), (ws, wp) in zip(got, want, strict=True):
            assert gs == pytest.approx(ws, abs=1e-4) and gp == wp
        assert nb_tags[b, 0, :n].tolist() == paths[b]  # the first of the n best is the Viterbi path


def test_marginals_sum_to_one_and_match_brute_force():
    k = 3
    crf = _crf(k, seed=4)
    emissions, mask = _batch(LENGTHS, k, seed=6)
    probs = crf.marginals(emissions, mask)
    assert probs.shape == emissions.shape
    torch.testing.assert_close(probs.sum(-1), mask.float())  # 1 at real tokens, 0 at padding
    for b, n in enumerate(LENGTHS):
        scored = _brute(crf, emissions[b], n)
        weights = torch.softmax(torch.tensor([s for s, _ in scored]), 0)
        expected = torch.zeros(n, k)
        for w, (_, path) in zip(weights, scored, strict=True):
            for t, y in enumerate(path):
                expected[t, y] += w
        torch.testing.assert_close(probs[b, :n], expected, atol=1e-5, rtol=1e-4)


def test_padding_changes_nothing():
    k = 4
    crf = _crf(k, seed=7)
    emissions, mask = _batch(LENGTHS, k, seed=8)
    tags = torch.randint(0, k, mask.shape)
    together = crf.neg_log_likelihood(emissions, tags, mask)
    marg = crf.marginals(emissions, mask)
    nb_tags, nb_scores = crf.nbest(emissions, mask, n=3)
    junk = emissions.clone()
    junk[~mask] = 1e3  # whatever sits in the padding is never read
    torch.testing.assert_close(crf.neg_log_likelihood(junk, tags, mask), together)
    assert crf.decode(junk, mask) == crf.decode(emissions, mask)
    for b, n in enumerate(LENGTHS):
        one_e, one_t = emissions[b:b + 1, :n], tags[b:b + 1, :n]
        assert crf.neg_log_likelihood(one_e, one_t).item() == pytest.approx(together[b].item(), abs=1e-4)
        assert crf.decode(one_e) == [crf.decode(emissions, mask)[b]]
        torch.testing.assert_close(crf.marginals(one_e)[0], marg[b, :n])
        alone_tags, alone_scores = crf.nbest(one_e, n=3)
        finite = nb_scores[b] > float("-inf")
        torch.testing.assert_close(alone_scores[0][finite], nb_scores[b][finite])
        assert alone_tags[0][finite].tolist() == nb_tags[b, :, :n][finite].tolist()


def test_gradients_flow_and_mask_defaults_to_full():
    crf = _crf(3)
    emissions = torch.randn(2, 5, 3, requires_grad=True)
    tags = torch.randint(0, 3, (2, 5))
    loss = crf(emissions, tags)  # forward: mean negative log-likelihood
    loss.backward()
    assert emissions.grad is not None and torch.isfinite(emissions.grad).all()
    assert crf.transitions.grad is not None and torch.isfinite(crf.transitions.grad).all()
    # the gradient of log Z with respect to the emissions is the marginals
    e = emissions.detach().requires_grad_(True)
    crf.log_partition(e).sum().backward()
    torch.testing.assert_close(e.grad, crf.marginals(emissions.detach()), atol=1e-5, rtol=1e-4)


def test_forbidden_transitions_are_never_decoded():
    labels = ["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC"]
    allowed, start, end = allowed_transitions(labels, "bioes")
    crf = _crf(len(labels), seed=9, allowed=allowed, start_allowed=start, end_allowed=end)
    g = torch.Generator().manual_seed(10)
    lengths = [1, 2, 5, 7, 9, 3] * 5
    emissions = torch.randn(len(lengths), max(lengths), len(labels), generator=g) * 5
    emissions[..., 2] += 4  # push towards I-PER, which may not open or close a sentence
    mask = torch.arange(max(lengths))[None, :] < torch.tensor(lengths)[:, None]
    decoded = crf.decode(emissions, mask)
    nb_tags, nb_scores = crf.nbest(emissions, mask, n=4)
    candidates = [p for p in decoded]
    candidates += [nb_tags[b, r, :n].tolist() for b, n in enumerate(lengths) for r in range(4)
                   if nb_scores[b, r] > -1e3]
    for path in candidates:
        assert start[path[0]] and end[path[-1]], path
        assert all(allowed[a, b] for a, b in itertools.pairwise(path)), path
    # training on a forbidden path is possible but hopeless: its probability is ~0, with a finite loss
    bad = torch.full((1, 3), 2)  # I-PER I-PER I-PER: may not start
    nll = crf.neg_log_likelihood(emissions[:1, :3], bad)
    assert torch.isfinite(nll).all() and nll.item() > 1e3
    marg = crf.marginals(emissions, mask)
    assert marg[:, 0, 2].max().item() < 1e-6  # no mass on I-PER at a sentence start
    assert torch.isfinite(marg).all()


def test_constraints_are_saved_with_the_weights():
    allowed, start, end = allowed_transitions(["O", "B-X", "I-X"], "bio")
    crf = _crf(3, allowed=allowed, start_allowed=start, end_allowed=end)
    state = crf.state_dict()
    assert {"allowed", "start_allowed", "end_allowed", "transitions"} <= set(state)
    other = LinearChainCRF(3)
    other.load_state_dict(state)
    assert torch.equal(other.allowed, torch.as_tensor(allowed))
    emissions = torch.randn(2, 4, 3)
    assert other.decode(emissions) == crf.decode(emissions)


def test_bf16_autocast_still_computes_in_fp32():
    crf = _crf(4, seed=11)
    emissions, mask = _batch([6, 3], 4, seed=12)
    tags = torch.randint(0, 4, mask.shape)
    expected = crf.neg_log_likelihood(emissions, tags, mask)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        # emissions as a bf16 model produces them: the loss is computed in fp32 from the rounded values
        low = emissions.bfloat16()
        nll = crf.neg_log_likelihood(low, tags, mask)
        probs = crf.marginals(low, mask)
        log_z = crf.log_partition(low, mask)
    assert nll.dtype == torch.float32 and probs.dtype == torch.float32 and log_z.dtype == torch.float32
    torch.testing.assert_close(nll, crf.neg_log_likelihood(low.float(), tags, mask))
    torch.testing.assert_close(nll, expected, atol=0.1, rtol=0.02)  # only the input rounding differs
    assert crf.decode(low, mask) == crf.decode(low.float(), mask)


def test_bad_inputs_are_refused():
    crf = LinearChainCRF(3)
    with pytest.raises(ValueError, match="emissions must be"):
        crf.log_partition(torch.randn(2, 4, 5))
    with pytest.raises(ValueError, match="at least one token"):
        crf.log_partition(torch.randn(2, 4, 3), torch.zeros(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="shape"):
        LinearChainCRF(3, allowed=torch.ones(2, 2, dtype=torch.bool))


def test_logsumexp_matches_torch_on_extreme_values():
    from seqlab.models.crf import FORBIDDEN, _logsumexp

    x = torch.randn(4, 6, 5) * 10
    x[:, 2] = FORBIDDEN  # whole rows far below the rest, as forbidden transitions are
    x[0, :, 0] = torch.tensor([FORBIDDEN, 3.0, FORBIDDEN, -200.0, 1.0, FORBIDDEN])
    a, b = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    ours, theirs = _logsumexp(a, 1), torch.logsumexp(b, 1)
    torch.testing.assert_close(ours, theirs)
    g = torch.randn_like(theirs)
    (ours * g).sum().backward()
    (theirs * g).sum().backward()
    torch.testing.assert_close(a.grad, b.grad, atol=1e-6, rtol=1e-5)


def test_non_finite_padding_is_harmless():
    crf = _crf(3, seed=13)
    emissions, mask = _batch([4, 2], 3, seed=14)
    tags = torch.randint(0, 3, mask.shape)
    junk = emissions.clone()
    junk[1, 2:] = float("nan")
    junk[1, 3, 0] = float("inf")
    junk.requires_grad_(True)
    nll = crf.neg_log_likelihood(junk, tags, mask)
    nll.sum().backward()
    assert torch.isfinite(junk.grad).all() and junk.grad[1, 2:].eq(0).all()
    torch.testing.assert_close(nll, crf.neg_log_likelihood(emissions, tags, mask))
    assert torch.isfinite(crf.marginals(junk.detach(), mask)).all()
