"""Temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural Networks"): one number T > 0 fitted on the
validation split so that softmax(logits / T) minimises the log-loss there.

Dividing every logit by the same T > 0 keeps each prediction (the order of the logits) and changes only how sure
it is, so accuracy and F1 stay as they are. T is folded into the output layer when the model is saved
(``ClassifierModel.logit_parameters``), so the model directory, its exports and its explanations need nothing more.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

MIN_LOG_T, MAX_LOG_T = math.log(0.05), math.log(20.0)  # a T outside [0.05, 20] says the fit went wrong


def validation_loss(logits: torch.Tensor, targets: torch.Tensor, temperature: float) -> float:
    """The mean log-loss of ``logits`` (N, C) divided by ``temperature`` (one column: the sigmoid of class 1)."""
    scaled = logits.double() / temperature
    if scaled.size(-1) == 1:
        return float(F.binary_cross_entropy_with_logits(scaled.squeeze(-1), targets.double()))
    return float(F.cross_entropy(scaled, targets))


def fit_temperature(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """The T in [0.05, 20] with the lowest validation log-loss; 1.0 for fewer than two examples.

    The loss is convex in 1/T, so a golden-section search over log T (60 steps: to ~1e-12) finds its minimum
    without learning-rate settings to get wrong."""
    if len(targets) < 2:
        return 1.0
    ratio = (math.sqrt(5) - 1) / 2
    lo, hi = MIN_LOG_T, MAX_LOG_T
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = validation_loss(logits, targets, math.exp(a)), validation_loss(logits, targets, math.exp(b))
    for _ in range(60):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = validation_loss(logits, targets, math.exp(a))
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = validation_loss(logits, targets, math.exp(b))
    return math.exp((lo + hi) / 2)


def scaled_state(state: dict[str, torch.Tensor], names: tuple[str, ...], temperature: float) -> dict[str, torch.Tensor]:
    """A copy of ``state`` whose logit parameters are divided by ``temperature`` (the live model is not touched)."""
    missing = [n for n in names if n not in state]
    if missing:
        raise KeyError(f"the model's logit parameters are not in its state: {', '.join(missing)}")
    return {k: (v / temperature if k in names else v) for k, v in state.items()}
