"""The translate task's per-sentence results from a search's hypotheses: one shape for a model directory and an
export (torch-free, so the ONNX predictor shares it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

EMPTY = {"translation": "", "score": 0.0, "normalized_score": 0.0}  # an empty (or blank) source translates to ""


def detailed_results(found: dict[int, dict[str, Any]], src_tokens: list[list[str]],
                     detok: Callable[[list[int], Any, list[str]], str],
                     target_tokens: Callable[[list[int]], list[str]]) -> list[dict[str, Any]]:
    """Per source sentence (``found``: its search result by sentence index; the ones absent were empty):
    ``translation``, ``score``, ``normalized_score``, ``nbest``, ``src_tokens``, ``tgt_ids``, ``tgt_tokens``,
    ``attention``. ``detok(ids, attention, src_tokens)`` writes one hypothesis out."""
    out: list[dict[str, Any]] = []
    for i in range(len(src_tokens)):
        if i not in found:
            out.append({**EMPTY, "nbest": [dict(EMPTY)], "src_tokens": [], "tgt_ids": [], "tgt_tokens": [],
                        "attention": []})
            continue
        r = found[i]
        hyps = [{"translation": detok(toks, att, src_tokens[i]), "score": score, "normalized_score": norm}
                for toks, att, score, norm in zip(r["tokens"], r["attention"], r["scores"], r["normalized"],
                                                  strict=True)]
        best = hyps[0] if hyps else {"translation": "", "score": float("-inf"), "normalized_score": float("-inf")}
        out.append({**best, "nbest": hyps, "src_tokens": src_tokens[i],
                    "tgt_ids": r["tokens"][0] if r["tokens"] else [],
                    "tgt_tokens": target_tokens(r["tokens"][0]) if r["tokens"] else [],
                    "attention": r["attention"][0].tolist() if r["attention"] else []})
    return out
