"""Linear-chain conditional random field over per-token emission scores.

A sentence of T tokens with tag sequence y scores

    s(x, y) = start[y_1] + sum_t emit[t, y_t] + sum_t trans[y_{t-1}, y_t] + end[y_T]

and the CRF models p(y | x) = exp s(x, y) / Z(x) over all K^T tag sequences
(Lafferty et al. 2001; on top of a BiLSTM as in Lample et al. 2016). Everything here runs
*batched over sentences and vectorised over tags*: the only Python loop is over time
steps, each step one (B, K, K) log-sum-exp or max.

- :meth:`LinearChainCRF.log_partition`: log Z by the forward algorithm in log space.
- :meth:`LinearChainCRF.neg_log_likelihood`: log Z - s(x, y), the training loss.
- :meth:`LinearChainCRF.viterbi` / :meth:`decode`: the best sequence; :meth:`nbest`: the n best.
- :meth:`LinearChainCRF.marginals`: p(y_t = k | x) by forward-backward, the per-token confidence.

Batches are right-padded: ``mask`` (B, T) is True at real tokens and every sentence has at
least one token. Emissions at padding are zeroed; the forward algorithm runs on through
them and each sentence's scores are then read at its own last token (where its end
transition is taken), and Viterbi carries a padded step's scores over unchanged: padding
changes nothing.

Transitions the tag scheme forbids (``O -> I-PER`` in BIO; see
:func:`seqlab.text.tagging.allowed_transitions`) are replaced by :data:`FORBIDDEN`, a
large negative *finite* score, in training and decoding alike. Finite rather than -inf
so that a log-sum-exp over only forbidden paths stays finite (no NaN gradients); at
-10,000 per forbidden step such a path is never the best one while an allowed one exists.

All scores are computed in float32 with autocast turned off: under bf16 autocast the
emissions arrive in bf16, and log-sum-exp over many steps in bf16 loses the loss.

Log-sum-exp is :class:`_LogSumExp`, not ``torch.logsumexp``: terms more than 80 nats below
the maximum are clamped there (their exp underflows anyway, and the CPU exp slows down
10x on such inputs, which every forbidden transition is), and its backward reuses the
forward's softmax weights. Training ran 1.3-2x faster with it on a CPU.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

FORBIDDEN = -1e4  # score of a transition the tag scheme forbids
EXP_FLOOR = -80.0  # log-sum-exp terms further below the maximum count as e^-80 (fp32 resolves ~e^-16)


class _LogSumExp(torch.autograd.Function):
    """log sum_i exp(x_i) over ``dim`` for finite x; the gradient is the softmax weights, kept from the forward."""

    @staticmethod
    def forward(ctx, x: Tensor, dim: int) -> Tensor:  # type: ignore[override]
        top = x.amax(dim, keepdim=True)  # (..., 1, ...)
        weights = (x - top).clamp_(min=EXP_FLOOR).exp_()  # (..., n, ...) in (0, 1], the maximum's is 1
        total = weights.sum(dim, keepdim=True)  # >= 1
        ctx.save_for_backward(weights.div_(total))  # softmax over dim
        ctx.dim = dim
        return (top + total.log()).squeeze(dim)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        (softmax,) = ctx.saved_tensors
        return grad.unsqueeze(ctx.dim) * softmax, None


def _logsumexp(x: Tensor, dim: int) -> Tensor:
    return _LogSumExp.apply(x, dim)


def _fp32(device: torch.device):
    """A region where autocast is off, so the CRF's arithmetic stays in float32."""
    return torch.autocast(device_type=device.type, enabled=False)


class LinearChainCRF(nn.Module):
    """A linear-chain CRF with start, end and tag-to-tag transition scores.

    ``allowed`` (K, K) bool, ``[i, j]`` True when tag ``j`` may follow tag ``i``;
    ``start_allowed``/``end_allowed`` (K,) bool, the tags a sentence may start/end with.
    Missing constraints allow everything (a POS tag set, say). The constraints are
    buffers, saved with the weights.
    """

    def __init__(self, num_tags: int, allowed: Tensor | Sequence | None = None,
                 start_allowed: Tensor | Sequence | None = None, end_allowed: Tensor | Sequence | None = None) -> None:
        super().__init__()
        if num_tags < 1:
            raise ValueError(f"a CRF needs at least one tag, got num_tags={num_tags}")
        self.num_tags = num_tags
        self.transitions = nn.Parameter(torch.empty(num_tags, num_tags))  # (K, K): from tag i to tag j
        self.start_transitions = nn.Parameter(torch.empty(num_tags))  # (K,)
        self.end_transitions = nn.Parameter(torch.empty(num_tags))  # (K,)
        self.allowed: Tensor
        self.start_allowed: Tensor
        self.end_allowed: Tensor
        self.register_buffer("allowed", self._bool(allowed, (num_tags, num_tags)))
        self.register_buffer("start_allowed", self._bool(start_allowed, (num_tags,)))
        self.register_buffer("end_allowed", self._bool(end_allowed, (num_tags,)))
        self.reset_parameters()

    @staticmethod
    def _bool(value: Tensor | Sequence | None, shape: tuple[int, ...]) -> Tensor:
        if value is None:
            return torch.ones(shape, dtype=torch.bool)
        out = torch.as_tensor(value).to(torch.bool)
        if tuple(out.shape) != shape:
            raise ValueError(f"CRF constraint has shape {tuple(out.shape)}, expected {shape}")
        return out.clone()

    def reset_parameters(self) -> None:
        nn.init.uniform_(self.transitions, -0.1, 0.1)
        nn.init.uniform_(self.start_transitions, -0.1, 0.1)
        nn.init.uniform_(self.end_transitions, -0.1, 0.1)

    def extra_repr(self) -> str:
        return f"num_tags={self.num_tags}, forbidden={int((~self.allowed).sum())}"

    # ---- the constrained scores, in float32 -------------------------------------------------------

    def _scores(self) -> tuple[Tensor, Tensor, Tensor]:
        """(transitions (K, K), start (K,), end (K,)) in fp32 with forbidden entries set to FORBIDDEN."""
        trans = self.transitions.float().masked_fill(~self.allowed, FORBIDDEN)
        start = self.start_transitions.float().masked_fill(~self.start_allowed, FORBIDDEN)
        end = self.end_transitions.float().masked_fill(~self.end_allowed, FORBIDDEN)
        return trans, start, end

    def decoding_scores(self) -> tuple[Tensor, Tensor, Tensor]:
        """(transitions, start, end) as decoding uses them, forbidden entries included: what an export stores."""
        return tuple(s.detach() for s in self._scores())  # type: ignore[return-value]

    def _check(self, emissions: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        """Emissions as fp32 (B, T, K) and a bool mask (B, T) whose first column is all True."""
        if emissions.dim() != 3 or emissions.size(-1) != self.num_tags:
            raise ValueError(f"emissions must be (B, T, {self.num_tags}), got {tuple(emissions.shape)}")
        if mask is None:
            mask = torch.ones(emissions.shape[:2], dtype=torch.bool, device=emissions.device)
        mask = mask.to(device=emissions.device, dtype=torch.bool)
        if mask.shape != emissions.shape[:2]:
            raise ValueError(f"mask must be {tuple(emissions.shape[:2])}, got {tuple(mask.shape)}")
        if emissions.size(1) == 0 or not bool(mask[:, 0].all()):
            raise ValueError("every sentence needs at least one token (mask[:, 0] must be True)")
        return emissions.float().masked_fill(~mask[..., None], 0.0), mask  # padding: finite whatever came in

    # ---- training --------------------------------------------------------------------------------

    def forward(self, emissions: Tensor, tags: Tensor, mask: Tensor | None = None, reduction: str = "mean") -> Tensor:
        """The training loss: :meth:`neg_log_likelihood` averaged over the batch by default."""
        return self.neg_log_likelihood(emissions, tags, mask, reduction)

    def neg_log_likelihood(self, emissions: Tensor, tags: Tensor, mask: Tensor | None = None,
                           reduction: str = "none") -> Tensor:
        """-log p(tags | emissions) per sentence (B,); ``reduction`` "none" | "sum" | "mean" | "token_mean".

        ``token_mean`` divides the sum by the number of real tokens (the scale of a token-level
        cross-entropy). Tags at padded positions are ignored (any valid index).
        """
        with _fp32(emissions.device):
            emissions, mask = self._check(emissions, mask)
            nll = self._log_partition(emissions, mask) - self._path_score(emissions, tags, mask)  # (B,)
        if reduction == "none":
            return nll
        if reduction == "sum":
            return nll.sum()
        if reduction == "mean":
            return nll.mean()
        if reduction == "token_mean":
            return nll.sum() / mask.sum().clamp(min=1)
        raise ValueError(f"reduction must be none, sum, mean or token_mean, got {reduction!r}")

    def log_partition(self, emissions: Tensor, mask: Tensor | None = None) -> Tensor:
        """log Z(x) per sentence (B,): the log-sum-exp of the scores of all tag sequences."""
        with _fp32(emissions.device):
            emissions, mask = self._check(emissions, mask)
            return self._log_partition(emissions, mask)

    def score(self, emissions: Tensor, tags: Tensor, mask: Tensor | None = None) -> Tensor:
        """s(x, y) of the given tag sequences (B,), forbidden transitions included at their FORBIDDEN score."""
        with _fp32(emissions.device):
            emissions, mask = self._check(emissions, mask)
            return self._path_score(emissions, tags, mask)

    def _path_score(self, emissions: Tensor, tags: Tensor, mask: Tensor) -> Tensor:
        trans, start, end = self._scores()
        B, T, _ = emissions.shape
        tags = tags.to(emissions.device).long().masked_fill(~mask, 0)  # (B, T); padding -> any valid index
        fmask = mask.float()  # (B, T)
        emit = emissions.gather(2, tags[..., None]).squeeze(-1)  # (B, T): emission of each gold tag
        score = start[tags[:, 0]] + (emit * fmask).sum(1)  # (B,)
        if T > 1:
            step = trans[tags[:, :-1], tags[:, 1:]]  # (B, T-1): transition into each step t >= 1
            score = score + (step * fmask[:, 1:]).sum(1)
        last = mask.sum(1) - 1  # (B,) index of each sentence's last real token
        last_tags = tags.gather(1, last[:, None]).squeeze(1)  # (B,)
        return score + end[last_tags]

    def _forward_scores(self, emissions: Tensor) -> Tensor:
        """alpha (B, T, K): log-sum of the scores of all prefixes ending in tag k at step t.

        The recursion runs on through padding (a where() per step cost more than the steps it
        would skip); alpha at padded steps is never read.
        """
        trans, start, _ = self._scores()
        steps = emissions.unbind(1)  # T x (B, K); one backward node, not one full-size gradient per step
        alpha = start[None, :] + steps[0]  # (B, K)
        alphas = [alpha]
        for t in range(1, len(steps)):
            # (B, K_prev, 1) + (1, K_prev, K_next) -> log-sum-exp over K_prev -> (B, K_next)
            alpha = _logsumexp(alpha[:, :, None] + trans[None, :, :], dim=1) + steps[t]
            alphas.append(alpha)
        return torch.stack(alphas, dim=1)  # (B, T, K)

    @staticmethod
    def _at_last(alpha: Tensor, mask: Tensor) -> Tensor:
        """alpha (B, T, K) at each sentence's last real token -> (B, K)."""
        last = mask.sum(1) - 1  # (B,)
        return alpha[torch.arange(alpha.size(0), device=alpha.device), last]

    def _log_partition(self, emissions: Tensor, mask: Tensor) -> Tensor:
        _, _, end = self._scores()
        alpha = self._at_last(self._forward_scores(emissions), mask)  # (B, K) at each last token
        return _logsumexp(alpha + end[None, :], dim=1)  # (B,)

    # ---- decoding ----------------------------------------------------------------------------------

    @torch.no_grad()
    def viterbi(self, emissions: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The best tag sequence (B, T) (0 at padding) and its score (B,)."""
        with _fp32(emissions.device):
            emissions, mask = self._check(emissions, mask)
            trans, start, end = self._scores()
            B, T, K = emissions.shape
            keep = torch.arange(K, device=emissions.device).expand(B, K)  # (B, K): back-pointer of a padded step
            score = start[None, :] + emissions[:, 0]  # (B, K)
            history = []
            for t in range(1, T):
                # (B, K_prev, 1) + (1, K_prev, K_next) -> best previous tag for each next tag
                best, prev = (score[:, :, None] + trans[None, :, :]).max(dim=1)  # (B, K), (B, K)
                score = torch.where(mask[:, t, None], best + emissions[:, t], score)
                history.append(torch.where(mask[:, t, None], prev, keep))  # padding points to the same tag
            best_score, tag = (score + end[None, :]).max(dim=1)  # (B,), (B,)
            # walk back from the last column: through padding the tag stays, reaching each sentence's last token
            path = [tag]
            for prev in reversed(history):
                tag = prev.gather(1, tag[:, None]).squeeze(1)  # (B,)
                path.append(tag)
            tags = torch.stack(path[::-1], dim=1)  # (B, T)
            return tags.masked_fill(~mask, 0), best_score

    def decode(self, emissions: Tensor, mask: Tensor | None = None) -> list[list[int]]:
        """The best tag sequence of each sentence as a list of tag ids, its own length."""
        tags, _ = self.viterbi(emissions, mask)
        lengths = _lengths(emissions, mask)
        return [row[:n] for row, n in zip(tags.tolist(), lengths, strict=True)]

    @torch.no_grad()
    def nbest(self, emissions: Tensor, mask: Tensor | None = None, n: int = 5) -> tuple[Tensor, Tensor]:
        """The ``n`` best tag sequences (B, n, T) (0 at padding), best first, and their scores (B, n).

        List Viterbi: each (tag, step) keeps its ``n`` best prefixes, and a step chooses the
        ``n`` best among the K * n extensions, so paths stay distinct. A sentence with fewer
        than ``n`` tag sequences gets score -inf (and meaningless tags) in the spare rows.
        """
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        with _fp32(emissions.device):
            emissions, mask = self._check(emissions, mask)
            trans, start, end = self._scores()
            B, T, K = emissions.shape
            score = emissions.new_full((B, K, n), float("-inf"))  # (B, K, n): the n best prefixes ending in tag k
            score[:, :, 0] = start[None, :] + emissions[:, 0]
            # back-pointer of a padded step: (tag k, rank r) points to itself, flattened as k * n + r
            keep = torch.arange(K * n, device=emissions.device).view(1, K, n).expand(B, K, n)
            history = []
            for t in range(1, T):
                # (B, K_prev, n, 1) + (1, K_prev, 1, K_next) -> (B, K_prev * n, K_next) candidates for each next tag
                cand = (score[:, :, :, None] + trans[:, None, :][None]).reshape(B, K * n, K)
                top, prev = cand.topk(n, dim=1)  # (B, n, K): best n, back-pointers into K_prev * n
                top, prev = top.transpose(1, 2), prev.transpose(1, 2)  # (B, K, n)
                step = mask[:, t, None, None]  # (B, 1, 1)
                score = torch.where(step, top + emissions[:, t, :, None], score)
                history.append(torch.where(step, prev, keep))
            final = (score + end[None, :, None]).reshape(B, K * n)  # (B, K * n)
            best_scores, flat = final.topk(n, dim=1)  # (B, n), (B, n): flat index k * n + r
            path = [flat // n]
            for prev in reversed(history):
                flat = prev.reshape(B, K * n).gather(1, flat)  # (B, n)
                path.append(flat // n)
            tags = torch.stack(path[::-1], dim=2)  # (B, n, T)
            return tags.masked_fill(~mask[:, None, :], 0), best_scores

    @torch.no_grad()
    def marginals(self, emissions: Tensor, mask: Tensor | None = None) -> Tensor:
        """p(y_t = k | x) (B, T, K) by forward-backward; rows sum to 1 at real tokens, 0 at padding."""
        with _fp32(emissions.device):
            emissions, mask = self._check(emissions, mask)
            trans, _, end = self._scores()
            B, T, K = emissions.shape
            alpha = self._forward_scores(emissions)  # (B, T, K), meaningless at padding
            # beta[t, i]: log-sum of the scores of all suffixes after step t, given tag i at t
            beta = end[None, :].expand(B, K)  # (B, K) at each sentence's last token
            betas = [beta]
            for t in range(T - 2, -1, -1):
                # (1, K_i, K_j) + (B, 1, K_j) -> log-sum-exp over K_j -> (B, K_i)
                nxt = _logsumexp(trans[None, :, :] + (emissions[:, t + 1] + beta)[:, None, :], dim=2)
                beta = torch.where(mask[:, t + 1, None], nxt, end[None, :].expand(B, K))  # (B, K)
                betas.append(beta)
            beta_all = torch.stack(betas[::-1], dim=1)  # (B, T, K)
            log_z = _logsumexp(self._at_last(alpha, mask) + end[None, :], dim=1)  # (B,)
            log_probs = alpha + beta_all - log_z[:, None, None]  # (B, T, K)
            return log_probs.masked_fill(~mask[:, :, None], float("-inf")).exp()  # 0 at padding


def _lengths(emissions: Tensor, mask: Tensor | None) -> list[int]:
    if mask is None:
        return [emissions.size(1)] * emissions.size(0)
    return mask.sum(1).tolist()


__all__ = ["FORBIDDEN", "LinearChainCRF"]
