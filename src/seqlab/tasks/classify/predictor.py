"""A loaded classifier: predict texts, explain them, evaluate on data."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqlab.data.batching import pad_batch
from seqlab.data.classification import (
    ClassifyDataConfig,
    LabelledTexts,
    is_single_source,
    load_split,
    load_train_valid,
)
from seqlab.data.splits import WHOLE, same_data, scored_part
from seqlab.errors import SeqlabError
from seqlab.inference import Predictor, bucketed_map, check_texts, timed
from seqlab.metrics import calibration, classification_report
from seqlab.modeldir import read_json
from seqlab.models.pretrained import HFTextPipeline, load_hf_tokenizer
from seqlab.runtime import Timer, scoped_threads
from seqlab.tasks.classify.recipe import (
    HF_FOLDER,
    PAD_MULTIPLE,
    SCHEMA,
    TEXT_FILE,
    ClassifyConfig,
    build_model,
    model_inputs,
    num_outputs,
    probabilities,
    reads_pretrained_text,
)
from seqlab.text.pipeline import TextPipeline

ENCODE_CHUNK = 1024  # texts a prediction worker encodes at a time


def encode_for_model(pipeline: Any, featurizer: Any, texts: list[str],
                     with_tokens: bool) -> tuple[list[np.ndarray], list[list[str]] | None]:
    """Texts -> the model's input arrays (and the tokens, for explanations): all the work before the model."""
    if with_tokens:
        ids, tokens = pipeline.encode_many(texts, with_tokens=True)
    else:
        ids, tokens = pipeline.encode_many(texts), None
    return model_inputs(featurizer, [np.asarray(i, dtype=np.int64) for i in ids]), tokens


class _EncodedChunks(torch.utils.data.Dataset):
    """Consecutive chunks of texts, encoded by :func:`encode_for_model` in DataLoader worker processes."""

    def __init__(self, pipeline: Any, featurizer: Any, texts: list[str], with_tokens: bool) -> None:
        self.pipeline, self.featurizer, self.texts, self.with_tokens = pipeline, featurizer, texts, with_tokens

    def __len__(self) -> int:
        return -(-len(self.texts) // ENCODE_CHUNK)

    def __getitem__(self, index: int):
        part = self.texts[index * ENCODE_CHUNK: (index + 1) * ENCODE_CHUNK]
        return encode_for_model(self.pipeline, self.featurizer, part, self.with_tokens)


def _as_is(item):
    return item



# ---------------------------------------------------------------------------- prediction
class Classifier(Predictor):
    """A loaded classification model: ``predict`` texts, ``explain`` them, ``evaluate`` on data."""

    task = "classify"
    schema = SCHEMA
    config: ClassifyConfig

    def __init__(self, model_dir: Path, device: str = "cpu", precision: str = "fp32") -> None:
        super().__init__(model_dir, device, precision)
        self.labels: list[str] = self.meta["labels"]
        if reads_pretrained_text(self.config):
            folder = self.model_dir / HF_FOLDER
            self.pipeline: Any = HFTextPipeline(load_hf_tokenizer(str(folder)), self.config.text.max_len)
            vocab_size, self.pad_id = len(self.pipeline.tokenizer), self.pipeline.pad_id
            self.model: Any = build_model(self.config, vocab_size, num_outputs(self.labels), self.pad_id, str(folder))
        else:
            self.pipeline = TextPipeline.from_json(read_json(self.model_dir, TEXT_FILE))
            vocab_size, self.pad_id = len(self.pipeline.vocab), self.pipeline.vocab.pad_id
            self.model = build_model(self.config, vocab_size, num_outputs(self.labels), self.pad_id)
        self.vocab_size = vocab_size
        self.restore(self.model)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "max_len": self.config.text.max_len}

    def _workers(self, requested: int | None, count: int) -> int:
        """Encoding processes: as asked; by default all cores (at most 4) for a model whose cost is in
        reading the text (a bag), on inputs of several chunks; else none (encoding in this process)."""
        if count < 2 * ENCODE_CHUNK:
            return 0
        if requested is None:
            return min(4, os.cpu_count() or 1) if self.model.encode_bound else 0
        return max(0, requested)

    def _encoded(self, texts: list[str], with_tokens: bool, workers: int):
        """``(first index, model inputs, tokens)`` for consecutive parts of ``texts``.

        With workers, chunks are encoded in other processes (Python's tokenisation holds the
        GIL) while this one runs the model on the chunks already done.
        """
        featurizer = self.model.featurizer
        if workers < 1:
            yield 0, *encode_for_model(self.pipeline, featurizer, list(texts), with_tokens)
            return
        chunks = _EncodedChunks(self.pipeline, featurizer, list(texts), with_tokens)
        loader = torch.utils.data.DataLoader(chunks, batch_size=None, num_workers=workers, collate_fn=_as_is)
        for index, (docs, tokens) in enumerate(loader):
            yield index * ENCODE_CHUNK, docs, tokens

    @torch.no_grad()
    def _run(self, texts: list[str], batch_size: int, with_tokens: bool = False, workers: int | None = None):
        probs = torch.empty(len(texts), len(self.labels))
        attention: list = [None] * len(texts)
        all_tokens: list[list[str]] = []
        workers = self._workers(workers, len(texts))
        # one intra-op thread while workers keep the cores busy (OpenMP threads would spin against them), and
        # for a bag, whose gathers gain nothing from threads (IMDB, 2 cores, 2 workers: 5,745 reviews/s with
        # 1 thread, 4,951 with 2; no workers: 4,219 with 1 thread, 3,812 with 2)
        one_thread = workers >= 1 or self.model.encode_bound
        with scoped_threads(1) if one_thread else contextlib.nullcontext():
            for first, docs, tokens in self._encoded(texts, with_tokens, workers):
                self._score(first, docs, tokens, batch_size, probs, attention)
                all_tokens.extend(tokens or [])
        return probs, attention, all_tokens if with_tokens else None

    def _score(self, first: int, docs: list[np.ndarray], tokens: list[list[str]] | None, batch_size: int,
               probs: torch.Tensor, attention: list) -> None:
        """Run the model on encoded texts ``first, first + 1, ...``; fill their rows of ``probs``/``attention``."""

        def run(batch: list[int]) -> list[tuple[torch.Tensor, list[float] | None]]:  # (probabilities, attention)
            ids, lens = pad_batch([docs[i] for i in batch], self.pad_id, multiple=PAD_MULTIPLE)
            with self.autocast():
                out = self.model(ids.to(self.device), lens.to(self.device))
            p = probabilities(out.logits).cpu()
            if lens.eq(0).any():  # an empty text carries no evidence: the label prior is unknown, say so
                p[lens.eq(0)] = 1.0 / len(self.labels)
            weights: list[list[float] | None] = [None] * len(batch)
            if out.attention is not None and tokens is not None:
                weights = [out.attention[row, : len(tokens[i])].float().cpu().tolist() for row, i in enumerate(batch)]
            return list(zip(p, weights, strict=True))

        results = bucketed_map(run, [len(d) for d in docs], batch_size)
        if results:
            probs[first: first + len(results)] = torch.stack([p for p, _ in results])
        for i, (_, weights) in enumerate(results):
            if weights is not None:
                attention[first + i] = weights

    def predict(self, texts: list[str], batch_size: int = 64, workers: int | None = None) -> list[dict[str, Any]]:
        """One ``{"label", "confidence", "probabilities"}`` per text, in input order.

        Empty or whitespace-only texts are defined: uniform probabilities, the first label.
        ``workers``: processes that tokenise in parallel on large inputs (0: none; default: all cores
        for bag models, whose speed is the tokeniser's, none for the others).
        """
        probs, _, _ = self._run(check_texts(texts, "predict()"), batch_size, workers=workers)
        best = probs.argmax(-1).tolist()
        return [{"label": self.labels[b], "confidence": p[b], "probabilities": dict(zip(self.labels, p, strict=True))}
                for p, b in zip(probs.tolist(), best, strict=True)]

    def explain(self, texts: list[str], batch_size: int = 64, workers: int | None = None) -> list[dict[str, Any]]:
        """Predictions plus why: ``contributions`` (word or n-gram, signed score for the predicted label),
        ``token_scores`` (one per token, in order), ``method`` ("linear": exact, the scores and ``bias`` sum to
        ``logit``; "integrated gradients" otherwise), and ``attention`` weights where the model pools with attention."""
        from seqlab.tasks.classify.explain import bag_contributions, integrated_gradients

        texts = check_texts(texts, "explain()")
        probs, attention, tokens = self._run(texts, batch_size, with_tokens=True, workers=workers)
        out = []
        binary = len(self.labels) == 2  # one logit, for the second label
        for i, p in enumerate(probs):
            b = int(p.argmax())
            column, sign = (0, 1.0 if b == 1 else -1.0) if binary else (b, 1.0)
            result: dict[str, Any] = {"label": self.labels[b], "confidence": float(p[b]), "tokens": tokens[i],
                                      "attention": attention[i]}
            ids = np.asarray(self.pipeline.encode_many([texts[i]])[0], dtype=np.int64)
            if self.model.explanation == "linear":
                items, per_token, bias = bag_contributions(self.model, ids, tokens[i], column)
                result.update(method="linear", bias=sign * bias, logit=sign * (bias + sum(s for _, s in items)),
                              contributions=[(t, sign * s) for t, s in items],
                              token_scores=[(t, sign * s) for t, s in per_token])
            elif len(ids):
                x = torch.as_tensor(ids)[None].to(self.device)
                scores = integrated_gradients(self.model, x, torch.tensor([len(ids)], device=self.device),
                                              column).tolist()
                pairs = [(t, sign * s) for t, s in zip(tokens[i], scores, strict=False)]
                result.update(method="integrated gradients", contributions=pairs, token_scores=pairs)
            else:
                result.update(method="integrated gradients", contributions=[], token_scores=[])
            out.append(result)
        return out

    @property
    def has_attention(self) -> bool:
        return self.config.model.capabilities().attention_pooling


def load(model_dir: Path, device: str = "cpu", precision: str = "fp32") -> Classifier:
    return Classifier(model_dir, device=device, precision=precision)


def parse_label_map(text: str | None) -> dict[str, str]:
    """``"0=neg,1=pos"`` -> {"0": "neg", "1": "pos"}."""
    if not text:
        return {}
    pairs = [item.split("=", 1) for item in text.split(",") if item.strip()]
    if any(len(p) != 2 or not p[0].strip() or not p[1].strip() for p in pairs):
        raise SeqlabError(f"--label-map {text!r}: write DATA_LABEL=MODEL_LABEL pairs, e.g. 0=neg,1=pos")
    return {a.strip(): b.strip() for a, b in pairs}


def eval_examples(predictor: Classifier, data: str, split: str, options: dict[str, Any],
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

def evaluate(predictor: Classifier, *, data: str, split: str = "test", options: dict[str, Any] | None = None,
             log=print) -> dict[str, Any]:
    """Accuracy, balanced accuracy, per-class precision/recall/F1, macro-F1, the confusion matrix and the expected
    calibration error (``ece``, with its bins as ``calibration``) of ``split`` of ``data``; a file is scored whole
    (see :func:`eval_examples`). The report says what was scored: ``data``, ``split``, ``examples``; the confusion
    matrix and the reliability diagram are written as PNGs (``confusion_png``, ``reliability_png``)."""
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
        predictions = predictor.predict(examples.texts, batch_size=options.get("batch_size") or 256,
                                        workers=options.get("workers"))
    index = {lab: i for i, lab in enumerate(predictor.labels)}
    report = classification_report([index[g] for g in examples.labels], [index[p["label"]] for p in predictions],
                                   predictor.labels)
    reliability = calibration([p["confidence"] for p in predictions],
                              [p["label"] == g for p, g in zip(predictions, examples.labels, strict=True)])
    report.update({"ece": reliability["ece"], "calibration": reliability,
                   "data": data, "split": split, "examples": len(examples)})
    timed(report, timer, len(examples), "examples")
    from seqlab.plots import confusion_matrix, reliability_diagram

    shown = Path(data).name if split == WHOLE else split
    png = Path(options.get("confusion") or predictor.model_dir / f"confusion-{shown}.png")
    confusion_matrix(report["confusion"], report["labels"], png)
    report["confusion_png"] = str(png)
    reliability_png = Path(options.get("reliability") or png.with_name(f"reliability-{shown}.png"))
    reliability_diagram(reliability, reliability_png)
    report["reliability_png"] = str(reliability_png)
    return report
