"""A classifier export run by ONNX Runtime, without torch: the same ``predict`` (and, for a model that pools with
attention, ``explain``) as :class:`~seqlab.tasks.classify.predictor.Classifier`.

Imports numpy, ONNX Runtime and seqlab's text pipeline only (``pip install "seqlab[runtime]"`` is enough); a
``pretrained`` model's export reads its encoder's ``tokenizer.json`` with ``tokenizers`` (no transformers).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from seqlab.data.batching import bucketed_map, pad_arrays
from seqlab.errors import SeqlabError
from seqlab.export.format import read_export_json, session
from seqlab.export.runtime import ExportPredictor
from seqlab.export.tokenizer import PretrainedTokenizer
from seqlab.text.ngrams import BagFeatures
from seqlab.text.pipeline import TextPipeline
from seqlab.text.validity import check_texts

TEXT_FILE = "text.json"


class OnnxClassifier(ExportPredictor):
    """A loaded classifier export: ``predict`` texts (and ``explain`` them by attention where the model has it)."""

    task = "classify"

    def __init__(self, folder: Path, config: dict[str, Any], threads: int | None = None) -> None:
        super().__init__(folder, config)
        settings = config["settings"]
        self.labels: list[str] = list(settings["labels"])
        self.pad_id, self.pad_multiple = int(settings["pad_id"]), int(settings["pad_multiple"])
        self.has_attention = bool(settings["attention"])
        self.pipeline: Any
        if settings.get("text", "words") == "pretrained":  # the encoder's own sub-word tokenizer
            self.pipeline = PretrainedTokenizer(self.model_dir / settings["tokenizer"], settings["max_len"], self.pad_id)
        else:
            self.pipeline = TextPipeline.from_json(read_export_json(folder, TEXT_FILE))
        spec = settings.get("featurizer")
        self.featurizer = BagFeatures(**spec) if spec else None
        self.session = session(self.model_dir / config["graphs"]["classifier"], threads)

    def run_padded(self, ids: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
        """The graph on padded model inputs: ``[probabilities (B, C)]`` (+ ``attention (B, T)``)."""
        return self.session.run(None, {"ids": ids.astype(np.int64), "lengths": lengths.astype(np.int64)})

    def _run(self, texts: list[str], batch_size: int, with_tokens: bool):
        texts = check_texts(texts, "predict()")  # the one Unicode rule (README, "User errors")
        if with_tokens:
            ids, tokens = self.pipeline.encode_many(list(texts), with_tokens=True)
        else:
            ids, tokens = self.pipeline.encode_many(list(texts)), None
        docs = [np.asarray(i, dtype=np.int64) for i in ids]
        if self.featurizer is not None:
            docs = self.featurizer(docs)

        def run(batch: list[int]) -> list[tuple[np.ndarray, list[float] | None]]:
            padded, lengths = pad_arrays([docs[i] for i in batch], self.pad_id, multiple=self.pad_multiple)
            out = self.run_padded(padded, lengths)
            attention = [None] * len(batch)
            if self.has_attention and tokens is not None:
                attention = [out[1][row, : len(tokens[i])].tolist() for row, i in enumerate(batch)]
            return list(zip(out[0], attention, strict=True))

        return bucketed_map(run, [len(d) for d in docs], batch_size), tokens

    def predict(self, texts: list[str], batch_size: int = 64, workers: int | None = None) -> list[dict[str, Any]]:
        """One ``{"label", "confidence", "probabilities"}`` per text, in input order (``workers`` is accepted for the
        same call as the torch predictor; the export encodes in this process)."""
        results, _ = self._run(texts, batch_size, with_tokens=False)
        out = []
        for probs, _ in results:
            best = int(np.argmax(probs))
            out.append({"label": self.labels[best], "confidence": float(probs[best]),
                        "probabilities": {label: float(p) for label, p in zip(self.labels, probs, strict=True)}})
        return out

    def explain(self, texts: list[str], batch_size: int = 64, workers: int | None = None) -> list[dict[str, Any]]:
        """Predictions with each token's attention weight (``method`` "attention"): an export keeps the model's
        attention pooling; exact contributions and integrated gradients need the model directory and torch."""
        if not self.has_attention:
            raise SeqlabError(f"{self.model_dir} is an export of a model without attention pooling: explain it from "
                              "its model directory (exact contributions or integrated gradients need torch)")
        results, tokens = self._run(texts, batch_size, with_tokens=True)
        out = []
        for (probs, attention), toks in zip(results, tokens or [], strict=True):
            best = int(np.argmax(probs))
            weights = attention or []
            out.append({"label": self.labels[best], "confidence": float(probs[best]), "tokens": toks,
                        "attention": weights, "method": "attention", "token_scores": list(zip(toks, weights, strict=False)),
                        "contributions": list(zip(toks, weights, strict=False))})
        return out

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "max_len": self.export_config["settings"]["max_len"]}


def load(folder: Path, config: dict[str, Any], threads: int | None = None) -> OnnxClassifier:
    return OnnxClassifier(folder, config, threads)
