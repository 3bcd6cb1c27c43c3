"""Scoring a tagger on data: ``seqlab evaluate``'s report (conlleval's entity counts), for a model directory's torch
tagger and an export's ONNX tagger alike (:mod:`.onnx`). Imports no torch, so an export is evaluated where torch is
not installed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seqlab.data.conll import TaggedSentences, load_split, read_conll
from seqlab.data.splits import scored_part
from seqlab.errors import SeqlabError
from seqlab.metrics import span_report
from seqlab.reports import Timer, timed, with_valid_metric
from seqlab.tasks.tag.data import load_train_valid
from seqlab.tasks.tag.words import to_scheme
from seqlab.text.tagging import OUTSIDE, normalize_scheme, split_tag

EVAL_BATCH = 256  # sentences per batch when evaluating


def eval_split(predictor: Any, data: str, split: str, options: dict[str, Any],
               log=print) -> tuple[TaggedSentences, str]:
    """The sentences to score and the name of what they are. A single file is read whole (``"whole"``) unless it
    is the model's own training file and ``split`` is train or valid: then exactly the part training used (the
    seeded carve-out, ``--valid-data``, ``--limit``); a dataset or folder gives its split. Scoring what training
    learnt from is said with a warning through ``log``."""
    from dataclasses import replace

    cfg = predictor.config.data
    word_column = options.get("word_column")
    tag_column = options.get("tag_column") or cfg.tag_column
    word_column = cfg.word_column if word_column is None else word_column
    scheme = normalize_scheme(options["scheme"]) if options.get("scheme") else None
    path = Path(data).expanduser()
    same = replace(cfg, data=data, tag_column=tag_column, word_column=word_column, scheme=scheme or cfg.scheme)
    return scored_part(data, split, cfg.data, "sentences", train_valid=lambda: load_train_valid(same),  # --limit too
                       whole=(lambda: read_conll(path, word_column, tag_column, scheme)) if path.is_file() else None,
                       split_of=lambda name: load_split(data, name, word_column, tag_column, scheme), log=log)


def evaluate(predictor: Any, *, data: str, split: str = "test", options: dict[str, Any] | None = None,
             log=print) -> dict[str, Any]:
    """Entity precision/recall/F1 per type and micro-averaged as ``conlleval`` counts (token accuracy and the
    per-type confusion too), or token accuracy for plain tags."""
    options = options or {}
    gold, split = eval_split(predictor, data, split, options, log)
    scheme = gold.scheme or predictor.scheme
    if (scheme == "none") != (predictor.scheme == "none"):
        what = "plain tags (scheme none)" if predictor.scheme == "none" else f"entity tags ({predictor.scheme})"
        raise SeqlabError(f"the model predicts {what}, but the tags of {data} read as {scheme}; "
                          "choose the column with --tag-column (or the scheme with --scheme)")
    with Timer() as timer:
        labels, _ = predictor.predict(gold.words, batch_size=options.get("batch_size") or EVAL_BATCH, confidences=False)
    pred = [to_scheme(tags, scheme) for tags in labels]
    report = span_report(gold.tags, pred, scheme)
    report.update({"data": data, "split": split, "sentences": len(gold), "model_scheme": predictor.scheme})
    timed(report, timer, len(gold), "sentences")
    unknown = sorted(_kinds(gold.tags, scheme) - _kinds([predictor.labels], predictor.scheme))
    if unknown:
        report["tags_the_model_does_not_know"] = unknown
    return with_valid_metric(report, predictor, "f1")


def _kinds(tags: list[list[str]], scheme: str) -> set[str]:
    """Entity types (plain tags for scheme none) among ``tags``."""
    if scheme == "none":
        return {t for sent in tags for t in sent}
    return {split_tag(t)[1] for sent in tags for t in sent if t != OUTSIDE}
