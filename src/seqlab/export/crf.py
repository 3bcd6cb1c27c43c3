"""The linear-chain CRF's decoding in numpy, for the torch-free runtime: Viterbi and forward-backward marginals.

The twin of :meth:`seqlab.models.crf.LinearChainCRF.viterbi` and ``.marginals``, batched over sentences and vectorised
over tags in the same way (the Viterbi loop does not export to ONNX: its length is the data's, so the emission
network is the graph and this runs after it). tests/test_export_crf.py holds the two equal on random cases.
Scores come as exported: transitions, start and end with the forbidden entries already set to ``FORBIDDEN``.
"""

from __future__ import annotations

import numpy as np


def _logsumexp(x: np.ndarray, axis: int) -> np.ndarray:
    top = x.max(axis=axis, keepdims=True)
    return np.squeeze(top, axis) + np.log(np.exp(x - top).sum(axis=axis))


def viterbi(emissions: np.ndarray, lengths: np.ndarray, trans: np.ndarray, start: np.ndarray,
            end: np.ndarray) -> np.ndarray:
    """The best tag sequence (B, T) (0 at padding) of emissions (B, T, K), each sentence ``lengths[b] >= 1`` long."""
    B, T, K = emissions.shape
    mask = np.arange(T)[None, :] < lengths[:, None]  # (B, T)
    emissions = np.where(mask[..., None], emissions, 0.0).astype(np.float64)
    keep = np.broadcast_to(np.arange(K), (B, K))  # back-pointer of a padded step: the same tag
    score = start[None, :] + emissions[:, 0]  # (B, K)
    history = []
    for t in range(1, T):
        cand = score[:, :, None] + trans[None, :, :]  # (B, K_prev, K_next)
        prev, best = cand.argmax(axis=1), cand.max(axis=1)  # (B, K)
        step = mask[:, t, None]
        score = np.where(step, best + emissions[:, t], score)
        history.append(np.where(step, prev, keep))
    tag = (score + end[None, :]).argmax(axis=1)  # (B,)
    path = [tag]
    for prev in reversed(history):
        tag = np.take_along_axis(prev, tag[:, None], axis=1)[:, 0]
        path.append(tag)
    tags = np.stack(path[::-1], axis=1)  # (B, T)
    return np.where(mask, tags, 0)


def marginals(emissions: np.ndarray, lengths: np.ndarray, trans: np.ndarray, start: np.ndarray,
              end: np.ndarray) -> np.ndarray:
    """p(y_t = k | x) (B, T, K) by forward-backward; rows sum to 1 at real tokens, 0 at padding."""
    B, T, K = emissions.shape
    mask = np.arange(T)[None, :] < lengths[:, None]
    emissions = np.where(mask[..., None], emissions, 0.0).astype(np.float64)
    alpha = start[None, :] + emissions[:, 0]
    alphas = [alpha]
    for t in range(1, T):
        alpha = _logsumexp(alpha[:, :, None] + trans[None, :, :], axis=1) + emissions[:, t]
        alphas.append(alpha)
    alpha_all = np.stack(alphas, axis=1)  # (B, T, K)
    beta = np.broadcast_to(end[None, :], (B, K))
    betas = [beta]
    for t in range(T - 2, -1, -1):
        nxt = _logsumexp(trans[None, :, :] + (emissions[:, t + 1] + beta)[:, None, :], axis=2)
        beta = np.where(mask[:, t + 1, None], nxt, np.broadcast_to(end[None, :], (B, K)))
        betas.append(beta)
    beta_all = np.stack(betas[::-1], axis=1)
    last = alpha_all[np.arange(B), lengths - 1]  # (B, K)
    log_z = _logsumexp(last + end[None, :], axis=1)  # (B,)
    probs = np.exp(alpha_all + beta_all - log_z[:, None, None])
    return np.where(mask[..., None], probs, 0.0)
