"""Scoring a classifier on data: ``seqlab evaluate``'s report, for a model directory's torch predictor and an
export's ONNX predictor alike (:mod:`.onnx`). Imports no torch, so an export is evaluated where torch is not
installed; the confusion-matrix and reliability PNGs need matplotlib, and are left out, with a note, without it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from seqlab.data.classification import (
    ClassifyDataConfig,
    LabelledTexts,
    is_single_source,
    load_split,
    load_train_valid,
)
from seqlab.data.splits import WHOLE, same_data, scored_part
from seqlab.errors import SeqlabError
from seqlab.metrics import calibration, classification_report
from seqlab.reports import Timer, timed

EVAL_BATCH = 256  # texts per batch when evaluating


def parse_label_map(text: str | None) -> dict[str, str]:
    """``"0=neg,1=pos"`` -> {"0": "neg", "1": "pos"}."""
    if not text:
        return {}
    pairs = [item.split("=", 1) for item in text.split(",") if item.strip()]
    if any(len(p) != 2 or not p[0].strip() or not p[1].strip() for p in pairs):
        raise SeqlabError(f"--label-map {text!r}: write DATA_LABEL=MODEL_LABEL pairs, e.g. 0=neg,1=pos")
    return {a.strip(): b.strip() for a, b in pairs}


def eval_examples(predictor: Any, data: str, split: str, options: dict[str, Any],
                  log=print) -> tuple[LabelledTexts, str]:
    """The examples to score and the name of what they are. A file (or label-folder tree) is scored whole
    (``"whole"``) unless it is the model's own training data and ``split`` is train or valid: then exactly that
    part of it as training split it (the seeded carve-out, ``--limit`` too). Scoring what training learnt from is
    said with a warning through ``log``."""
    cfg = predictor.config.data
    own = same_data(data, cfg.data)
    data_cfg = ClassifyDataConfig(data=data, text_column=options.get("text_column") or cfg.text_column,
                                  label_column=options.get("label_column") or cfg.label_column,
                                  valid_fraction=cfg.valid_fraction, split_seed=cfg.split_seed,
                                  valid_data=cfg.valid_data if own else None, limit=cfg.limit if own else None)
    return scored_part(data, split, cfg.data, "examples", train_valid=lambda: load_train_valid(data_cfg),
                       whole=(lambda: load_split(data_cfg, "train")) if is_single_source(data) else None,
                       split_of=lambda name: load_split(data_cfg, name), log=log)  # a file: whole, whatever --split says


def evaluate(predictor: Any, *, data: str, split: str = "test", options: dict[str, Any] | None = None,
             log=print) -> dict[str, Any]:
    """Accuracy, balanced accuracy, per-class precision/recall/F1, macro-F1, the confusion matrix and the expected
    calibration error (``ece``, with its bins as ``calibration``) of ``split`` of ``data``; a file is scored whole
    (see :func:`eval_examples`). The report says what was scored: ``data``, ``split``, ``examples``; the confusion
    matrix and the reliability diagram are written as PNGs (``confusion_png``, ``reliability_png``) where matplotlib is
    installed. ``predictor``: a :class:`~seqlab.tasks.classify.predictor.Classifier` or an export's ``OnnxClassifier``
    (``config``, ``labels``, ``model_dir``, ``predict``)."""
    options = options or {}
    examples, split = eval_examples(predictor, data, split, options, log)
    label_map = parse_label_map(options.get("label_map"))
    if label_map:
        examples = LabelledTexts(examples.texts, [label_map.get(lab, lab) for lab in examples.labels], examples.source)
    unknown = sorted(set(examples.labels) - set(predictor.labels))
    if unknown:
        raise SeqlabError(f"{data} ({split}) has labels the model does not know: {', '.join(unknown[:5])} "
                          f"(model labels: {', '.join(predictor.labels)}); if they only differ in name, map them "
                          f"with --label-map {','.join(f'{u}={m}' for u, m in zip(unknown, predictor.labels, strict=False))}")
    with Timer() as timer:
        predictions = predictor.predict(examples.texts, batch_size=options.get("batch_size") or EVAL_BATCH,
                                        workers=options.get("workers"))
    index = {lab: i for i, lab in enumerate(predictor.labels)}
    report = classification_report([index[g] for g in examples.labels], [index[p["label"]] for p in predictions],
                                   predictor.labels)
    reliability = calibration([p["confidence"] for p in predictions],
                              [p["label"] == g for p, g in zip(predictions, examples.labels, strict=True)])
    report.update({"ece": reliability["ece"], "calibration": reliability,
                   "data": data, "split": split, "examples": len(examples)})
    timed(report, timer, len(examples), "examples")
    if importlib.util.find_spec("matplotlib") is None:  # a torch-free runtime install: the report, no figures
        log("note: no confusion-matrix or reliability PNG: matplotlib is not installed (pip install matplotlib)")
        return report
    from seqlab.plots import confusion_matrix, reliability_diagram

    shown = Path(data).name if split == WHOLE else split
    png = Path(options.get("confusion") or predictor.model_dir / f"confusion-{shown}.png")
    confusion_matrix(report["confusion"], report["labels"], png)
    report["confusion_png"] = str(png)
    reliability_png = Path(options.get("reliability") or png.with_name(f"reliability-{shown}.png"))
    reliability_diagram(reliability, reliability_png)
    report["reliability_png"] = str(reliability_png)
    return report
