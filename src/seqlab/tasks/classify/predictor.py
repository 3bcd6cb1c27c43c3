"""A loaded classifier: predict texts, explain them, evaluate on data."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqlab.data.batching import pad_batch
from seqlab.inference import Predictor, bucketed_map, check_texts, pooled_vectors
from seqlab.modeldir import read_json
from seqlab.models.pretrained import HFTextPipeline, load_hf_tokenizer
from seqlab.runtime import scoped_threads
from seqlab.tasks.classify.evaluate import eval_examples, evaluate, parse_label_map  # noqa: F401  (re-exported)
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

    def predict_proba(self, texts: list[str], batch_size: int = 64, workers: int | None = None) -> np.ndarray:
        """``(len(texts), len(self.labels))`` float32 class probabilities, columns in ``self.labels`` order (as
        scikit-learn's ``predict_proba``): what a teacher gives a student (--teacher), without a dict per text."""
        probs, _, _ = self._run(check_texts(texts, "predict_proba()"), batch_size, workers=workers)
        return probs.numpy().astype(np.float32)

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

    def _table(self) -> tuple[list[str], torch.Tensor]:
        """The words (or a pretrained encoder's word pieces) and their rows; a bag's hashed n-gram rows after the
        words stand for no word and are left out."""
        if reads_pretrained_text(self.config):
            tokens = self.pipeline.tokenizer.convert_ids_to_tokens(list(range(self.vocab_size)))
        else:
            tokens = list(self.pipeline.vocab.itos)
        return tokens, self.model.input_embedding().weight[: len(tokens)]

    def _embed(self, texts: list[str], batch_size: int) -> np.ndarray:
        docs, _ = encode_for_model(self.pipeline, self.model.featurizer, texts, with_tokens=False)

        def run(batch: list[int]) -> torch.Tensor:  # (len(batch), D) the vectors the output layer reads
            ids, lens = pad_batch([docs[i] for i in batch], self.pad_id, multiple=PAD_MULTIPLE)
            return self.model.pooled(ids.to(self.device), lens.to(self.device))[0]

        return pooled_vectors([len(d) for d in docs], run, batch_size, self.model.head.in_features)

    @property
    def has_attention(self) -> bool:
        return self.config.model.capabilities().attention_pooling


def load(model_dir: Path, device: str = "cpu", precision: str = "fp32") -> Classifier:
    return Classifier(model_dir, device=device, precision=precision)
