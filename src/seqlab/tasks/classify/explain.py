"""Why a classifier chose its label: a signed score per word (or n-gram), for every kind of classifier.

- ``bag`` models are linear in their features, so the explanation is exact: each word's and
  n-gram's contribution to the logit, and the contributions plus the bias *are* the logit.
- Other models get integrated gradients (Sundararajan et al. 2017): the gradient of the explained
  logit along the path from an all-zero input embedding to the text's, averaged and dotted with
  each token's embedding; the scores add up to the logit's change along that path. Plain
  gradient x input was tried first and gave a small Transformer's strongest sentiment word the
  wrong sign (saturation); the path integral does not. Models that pool with attention also
  report their attention weights.

Scores are for the predicted label: positive supports it, negative speaks against it. For a
binary model (one logit) the logit of the second label is explained and the sign flipped when
the first label is predicted.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqlab.files import write_text_atomic
from seqlab.text.ngrams import add_hashed_ngrams


def ngram_labels(tokens: list[str], n: int) -> list[str]:
    """Labels of a document's features in :func:`add_hashed_ngrams` order: words, then bigrams, trigrams, ..."""
    labels = list(tokens)
    for order in range(2, n + 1):
        labels += [" ".join(tokens[i: i + order]) for i in range(len(tokens) - order + 1)]
    return labels


def bag_contributions(model: Any, ids: np.ndarray, tokens: list[str],
                      column: int) -> tuple[list[tuple[str, float]], list[tuple[str, float]], float]:
    """Exact contributions of a bag model to logit ``column``: per feature (word or n-gram; their sum plus the
    bias is the logit), per token (each word's own feature), and the bias.

    nb weighting: each distinct feature adds weight x Naive-Bayes ratio (features are binarised).
    mean weighting: each occurrence adds (head . embedding) / count, since the head is linear.
    """
    cfg = model.config
    features = np.asarray(ids, dtype=np.int64)
    if cfg.ngrams > 1:
        features = add_hashed_ngrams(features, cfg.ngrams, cfg.buckets, model.featurizer.vocab_size)
    labels = ngram_labels(tokens, cfg.ngrams)
    index = torch.as_tensor(features, dtype=torch.long)
    with torch.no_grad():
        if cfg.weighting == "nb":
            per_feature = (model.feature_weights.weight[index, column] * model.nb_ratios[index, column]).numpy()
            per_feature = (per_feature + model.vector_contributions(features, column)).tolist()
            bias = float(model.bias[column])
            if cfg.vector_features:
                bias += float(model.vector_head.bias[column])
        else:
            per_feature = ((model.embedding.weight[index] @ model.head.weight[column]) / max(1, len(features))).tolist()
            bias = float(model.head.bias[column])
    totals: dict[int, float] = {}
    names: dict[int, str] = {}
    for f, label, score in zip(features.tolist(), labels, per_feature, strict=True):
        if f in totals and cfg.weighting == "nb":
            continue  # binarised: a feature counts once, however often it occurs
        totals[f] = totals.get(f, 0.0) + score
        names.setdefault(f, label)
    per_token = [(t, per_feature[i]) for i, t in enumerate(tokens)]
    return [(names[f], totals[f]) for f in totals], per_token, bias


IG_STEPS = 16  # points on the path from the zero embedding to the input (midpoint rule), run as one batch


def integrated_gradients(model: Any, ids: torch.Tensor, lengths: torch.Tensor, column: int,
                         steps: int = IG_STEPS) -> torch.Tensor:
    """(T,) integrated gradients (Sundararajan et al. 2017) of logit ``column`` for one text ``ids`` (1, T),
    at each token's input embedding, from an all-zero embedding: their sum approximates
    logit(text) - logit(zero embeddings) (completeness). All ``steps`` points run as one batch."""
    alphas = (torch.arange(steps, dtype=torch.float32, device=ids.device) + 0.5) / steps  # (S,)
    captured: list[torch.Tensor] = []

    def scale(_module, _inputs, output):
        scaled = output * alphas.view(-1, 1, 1).to(output.dtype)  # (S, T, E): the path's points
        scaled.retain_grad()
        captured.extend([output, scaled])
        return scaled

    handle = model.input_embedding().register_forward_hook(scale)
    try:
        with torch.enable_grad():
            logits = model(ids.expand(steps, -1), lengths.expand(steps)).logits.float()  # (S, C)
            logits[:, column].sum().backward()
    finally:
        handle.remove()
    embedding, scaled = captured
    assert scaled.grad is not None  # retained by the hook
    return (embedding[0] * scaled.grad.mean(0)).sum(-1).detach()  # (T,)


def explanation_html(results: list[dict[str, Any]], path: Path, title: str = "seqlab: why this label") -> None:
    """One self-contained page colouring each text's words by their score (green for, red against the label)."""
    blocks = []
    for r in results:
        pairs = r["token_scores"]
        peak = max((abs(s) for _, s in pairs), default=0.0) or 1.0
        spans = []
        for token, score in pairs:
            alpha = min(1.0, abs(score) / peak)
            colour = f"rgba(22,163,74,{alpha:.2f})" if score >= 0 else f"rgba(220,38,38,{alpha:.2f})"
            spans.append(f'<span class="t" style="background:{colour}" title="{score:+.4f}">{html.escape(token)}</span>')
        top = sorted(r["contributions"], key=lambda p: -abs(p[1]))[:10]
        listing = "".join(f"<li><b>{html.escape(t)}</b> {s:+.4f}</li>" for t, s in top)
        blocks.append(f'<section><h2>{html.escape(r["label"])} <small>{r["confidence"]:.3f} - {html.escape(r["method"])}'
                      f'</small></h2><p class="text">{" ".join(spans)}</p><ol>{listing}</ol></section>')
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>"
            "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;line-height:1.8}"
            ".t{padding:0 2px;border-radius:3px}small{color:#555;font-weight:normal}section{margin-bottom:2rem}"
            f"</style></head><body><h1>{html.escape(title)}</h1>{''.join(blocks)}</body></html>")
    write_text_atomic(path, page)
