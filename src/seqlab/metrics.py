"""Evaluation metrics: classification report, perplexity; BLEU/chrF come from sacrebleu in the translation task."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

MAX_LOG_PERPLEXITY = 50.0  # exp(50) ~ 5e21: an untrained model's perplexity is still a finite number


def classification_report(gold: list[int], pred: list[int], labels: list[str]) -> dict[str, Any]:
    """Accuracy, balanced accuracy, per-class precision/recall/F1/support, macro-F1 and the confusion matrix.

    ``balanced_accuracy`` is the mean recall over the classes the gold labels have (as scikit-learn's
    ``balanced_accuracy_score``): on imbalanced data it shows what accuracy hides, e.g. 0.5 for a predictor that
    always says the majority class of a two-class set. ``confusion[i][j]`` counts examples of gold class ``i`` predicted as ``j``.
    """
    k = len(labels)
    gold_a, pred_a = np.asarray(gold, dtype=np.int64), np.asarray(pred, dtype=np.int64)
    confusion = np.bincount(gold_a * k + pred_a, minlength=k * k).reshape(k, k)
    tp = np.diag(confusion).astype(float)
    predicted, actual = confusion.sum(0).astype(float), confusion.sum(1).astype(float)
    precision = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros(k), where=actual > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(k), where=(precision + recall) > 0)
    per_class = {labels[i]: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                             "support": int(actual[i])} for i in range(k)}
    present = actual > 0
    balanced = float(recall[present].mean()) if present.any() else 0.0
    return {"accuracy": float(tp.sum() / max(1, len(gold))), "macro_f1": float(f1.mean()) if k else 0.0,
            "balanced_accuracy": balanced, "per_class": per_class, "confusion": confusion.tolist(),
            "labels": list(labels), "count": len(gold)}


CALIBRATION_BINS = 15  # Guo et al. (2017), "On Calibration of Modern Neural Networks"


def calibration(confidences: Any, correct: Any, bins: int = CALIBRATION_BINS) -> dict[str, Any]:
    """Expected calibration error and the reliability diagram's bins (Guo et al. 2017).

    ``confidences``: each prediction's confidence (the predicted label's probability), ``correct``: whether it was
    right. The interval [0, 1] is cut in ``bins`` equal-width bins, ``(lo, hi]`` (the first also takes 0); ``ece``
    is the count-weighted mean of ``|accuracy - mean confidence|`` over the bins. Each of ``bins`` is
    ``{"lo", "hi", "count", "accuracy", "confidence"}`` (accuracy and confidence None for an empty bin).
    """
    conf = np.asarray(confidences, dtype=np.float64).reshape(-1)
    right = np.asarray(correct, dtype=np.float64).reshape(-1)
    if conf.shape != right.shape:
        raise ValueError(f"{conf.size} confidences but {right.size} correctness flags")
    if bins < 1:
        raise ValueError(f"bins must be at least 1, not {bins}")
    edges = np.linspace(0.0, 1.0, bins + 1)
    # bin b holds (edges[b], edges[b + 1]]; 0 goes to the first, anything above 1 (rounding) to the last
    which = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    sum_conf = np.bincount(which, weights=conf, minlength=bins)
    sum_right = np.bincount(which, weights=right, minlength=bins)
    ece = float(np.abs(sum_right - sum_conf).sum() / conf.size) if conf.size else 0.0
    out = []
    for b in range(bins):
        n = int(counts[b])
        out.append({"lo": float(edges[b]), "hi": float(edges[b + 1]), "count": n,
                    "accuracy": float(sum_right[b] / n) if n else None,
                    "confidence": float(sum_conf[b] / n) if n else None})
    return {"ece": ece, "bins": out}


def format_report(report: dict[str, Any]) -> str:
    labels = report["labels"]
    width = max(8, *(len(lab) for lab in labels))
    head = f"accuracy {report['accuracy']:.4f}   macro-F1 {report['macro_f1']:.4f}"
    if "balanced_accuracy" in report:
        head += f"   balanced accuracy {report['balanced_accuracy']:.4f}"
    if "ece" in report:
        head += f"   ECE {report['ece']:.4f}"
    lines = [f"{head}   ({report['count']} examples)",
             "", f"{'class':<{width}}  precision  recall     f1  support"]
    for lab in labels:
        c = report["per_class"][lab]
        lines.append(f"{lab:<{width}}  {c['precision']:9.4f}  {c['recall']:6.4f}  {c['f1']:.4f}  {c['support']:7d}")
    lines += ["", "confusion (rows: gold, columns: predicted)", " " * (width + 2) + "  ".join(f"{lab:>8}" for lab in labels)]
    for lab, row in zip(labels, report["confusion"], strict=True):
        lines.append(f"{lab:<{width}}  " + "  ".join(f"{v:>8d}" for v in row))
    return "\n".join(lines)


# ---- sequence tagging: entity spans scored as the CoNLL shared tasks' conlleval script does -----------

NO_SPAN = "(none)"  # the confusion's extra row/column: a predicted span with no gold one (spurious) or vice versa


def _prf(correct: int, found: int, gold: int) -> dict[str, float]:
    precision = correct / found if found else 0.0
    recall = correct / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def span_report(gold: list[list[str]], pred: list[list[str]], scheme: str) -> dict[str, Any]:
    """Entity-level precision/recall/F1 per type and micro-averaged, counted as ``conlleval`` counts.

    An entity is correct when its type and both boundaries match a gold entity; entities
    are read from each sentence with :func:`seqlab.text.tagging.spans` (conlleval's chunk
    rules). ``found``/``gold``/``correct`` are conlleval's "found", "phrases" and "correct"
    counts; ``accuracy`` is the share of tokens whose whole tag matches. ``confusion`` pairs
    gold and predicted spans with the *same boundaries*: ``matrix[g][p]`` counts gold type ``g``
    predicted as ``p``, the last column (``(none)``) gold spans whose boundaries no prediction
    has (missed), the last row predicted spans with no gold boundaries (spurious).

    With ``scheme="none"`` (plain tags such as part of speech) every token is its own unit:
    the per-tag figures are token precision/recall and the micro F1 equals the accuracy.
    """
    from seqlab.errors import SeqlabError
    from seqlab.text.tagging import normalize_scheme, spans

    scheme = normalize_scheme(scheme)
    if len(gold) != len(pred):
        raise SeqlabError(f"{len(gold)} gold sentences but {len(pred)} predicted ones")
    found: dict[str, int] = {}
    actual: dict[str, int] = {}
    correct: dict[str, int] = {}
    pairs: dict[tuple[str, str], int] = {}  # (gold type or NO_SPAN, predicted type or NO_SPAN) -> count
    tokens = right_tags = 0
    for n, (g_tags, p_tags) in enumerate(zip(gold, pred, strict=True)):
        if len(g_tags) != len(p_tags):
            raise SeqlabError(f"sentence {n + 1}: {len(g_tags)} gold tags but {len(p_tags)} predicted ones")
        tokens += len(g_tags)
        right_tags += sum(g == p for g, p in zip(g_tags, p_tags, strict=True))
        if scheme == "none":
            g_spans = {(i, i + 1): t for i, t in enumerate(g_tags)}
            p_spans = {(i, i + 1): t for i, t in enumerate(p_tags)}
        else:
            g_spans = {(s, e): t for t, s, e in spans(g_tags, scheme)}
            p_spans = {(s, e): t for t, s, e in spans(p_tags, scheme)}
        for bounds, t in g_spans.items():
            actual[t] = actual.get(t, 0) + 1
            p = p_spans.get(bounds, NO_SPAN)
            pairs[t, p] = pairs.get((t, p), 0) + 1
            if p == t:
                correct[t] = correct.get(t, 0) + 1
        for bounds, p in p_spans.items():
            found[p] = found.get(p, 0) + 1
            if bounds not in g_spans:
                pairs[NO_SPAN, p] = pairs.get((NO_SPAN, p), 0) + 1
    types = sorted(set(found) | set(actual))
    per_type = {t: {**_prf(correct.get(t, 0), found.get(t, 0), actual.get(t, 0)), "found": found.get(t, 0),
                    "gold": actual.get(t, 0), "correct": correct.get(t, 0)} for t in types}
    totals = {"found": sum(found.values()), "gold": sum(actual.values()), "correct": sum(correct.values())}
    labels = [*types, NO_SPAN]
    matrix = [[pairs.get((g, p), 0) for p in labels] for g in labels]
    return {"scheme": scheme, "sentences": len(gold), "tokens": tokens, "accuracy": right_tags / tokens if tokens else 0.0,
            **_prf(totals["correct"], totals["found"], totals["gold"]), **totals, "types": types, "per_type": per_type,
            "confusion": {"labels": labels, "matrix": matrix}}


def format_span_report(report: dict[str, Any]) -> str:
    """The report as conlleval prints it (percentages, types sorted, found count last), then the confusion."""
    unit = "tokens" if report["scheme"] == "none" else "phrases"
    lines = [f"processed {report['tokens']} tokens with {report['gold']} {unit}; "
             f"found: {report['found']} {unit}; correct: {report['correct']}.",
             f"accuracy: {100 * report['accuracy']:6.2f}%; precision: {100 * report['precision']:6.2f}%; "
             f"recall: {100 * report['recall']:6.2f}%; FB1: {100 * report['f1']:6.2f}"]
    for t in report["types"]:
        c = report["per_type"][t]
        lines.append(f"{t:>17}: precision: {100 * c['precision']:6.2f}%; recall: {100 * c['recall']:6.2f}%; "
                     f"FB1: {100 * c['f1']:6.2f}  {c['found']}")
    labels, matrix = report["confusion"]["labels"], report["confusion"]["matrix"]
    if report["scheme"] != "none" and labels:
        width = max(8, *(len(lab) for lab in labels))
        lines += ["", "confusion of spans with the same boundaries (rows: gold, columns: predicted; "
                  f"{NO_SPAN}: no span there)", " " * (width + 2) + "  ".join(f"{lab:>{width}}" for lab in labels)]
        for lab, row in zip(labels, matrix, strict=True):
            lines.append(f"{lab:<{width}}  " + "  ".join(f"{v:>{width}d}" for v in row))
    return "\n".join(lines)


def perplexity(total_nll: float, count: int) -> float:
    """exp(mean negative log-likelihood in nats), capped to stay finite for an untrained model."""
    return math.exp(min(total_nll / max(count, 1), MAX_LOG_PERPLEXITY))


def bits_per_token(total_nll: float, count: int) -> float:
    """Mean negative log2-likelihood: the cross-entropy in bits (log2 of the perplexity)."""
    return total_nll / max(count, 1) / math.log(2)
