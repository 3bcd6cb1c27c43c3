"""Evaluation metrics: classification report, and (via sacrebleu) BLEU/chrF."""

from __future__ import annotations

from typing import Any

import numpy as np


def classification_report(gold: list[int], pred: list[int], labels: list[str]) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/F1/support, macro-F1 and the confusion matrix.

    ``confusion[i][j]`` counts examples of gold class ``i`` predicted as ``j``.
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
    return {"accuracy": float(tp.sum() / max(1, len(gold))), "macro_f1": float(f1.mean()) if k else 0.0,
            "per_class": per_class, "confusion": confusion.tolist(), "labels": list(labels), "count": len(gold)}


def format_report(report: dict[str, Any]) -> str:
    labels = report["labels"]
    width = max(8, *(len(lab) for lab in labels))
    lines = [f"accuracy {report['accuracy']:.4f}   macro-F1 {report['macro_f1']:.4f}   ({report['count']} examples)",
             "", f"{'class':<{width}}  precision  recall     f1  support"]
    for lab in labels:
        c = report["per_class"][lab]
        lines.append(f"{lab:<{width}}  {c['precision']:9.4f}  {c['recall']:6.4f}  {c['f1']:.4f}  {c['support']:7d}")
    lines += ["", "confusion (rows: gold, columns: predicted)", " " * (width + 2) + "  ".join(f"{lab:>8}" for lab in labels)]
    for lab, row in zip(labels, report["confusion"], strict=True):
        lines.append(f"{lab:<{width}}  " + "  ".join(f"{v:>8d}" for v in row))
    return "\n".join(lines)
