"""The classifier's export: one ONNX graph, padded ids + lengths in, probabilities out (and attention weights for a
model that pools with them), checked against torch at several lengths and batch sizes before the export is kept.

The graph starts where the text pipeline ends: tokenising, the vocabulary and (for a bag) the hashed n-grams run in
numpy in the ONNX predictor (:mod:`.onnx`), from the same JSON the model directory holds. A ``pretrained`` model's
text is its encoder's own tokenizer: its ``tokenizer.json`` (saved in the model directory's ``hf/``) travels in the
export and is read with ``tokenizers`` alone (:mod:`seqlab.export.tokenizer`); the export checks that it gives the
torch path's ids.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from seqlab.errors import SeqlabError
from seqlab.export.exporter import VERIFY_BATCHES, VerifyFigures, export_graph
from seqlab.tasks.classify.predictor import Classifier
from seqlab.tasks.classify.recipe import HF_FOLDER, PAD_MULTIPLE, TEXT_FILE, probabilities, reads_pretrained_text

GRAPH = "classifier.onnx"
TOKENIZER_FILE = "tokenizer.json"  # a pretrained model's tokenizer, as transformers saved it in the model's hf/
SHORT, LONG = 8, 64  # the lengths checked besides 1 and the model's max_len
# texts checked end to end (the same labels, and the same token ids from the export's own tokenizer)
CHECK_TEXTS = ["A wonderful, moving film.", "Dull and far too long.", "", "ok", "  Café au lait — naïve résumé!  ",
               "<br />Ten/10, WOULD watch again :) 😀", "word " * 600]


class ClassifierGraph(nn.Module):
    """``(ids (B, T), lengths (B,)) -> probabilities (B, C)`` (+ attention (B, T)): the exported computation."""

    def __init__(self, model: Any, with_attention: bool) -> None:
        super().__init__()
        self.model, self.with_attention = model, with_attention

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor):
        out = self.model(ids, lengths)
        probs = probabilities(out.logits)  # (B, C)
        empty = (lengths == 0).unsqueeze(-1)  # an empty text carries no evidence: uniform, as the predictor says
        probs = torch.where(empty, torch.full_like(probs, 1.0 / probs.size(-1)), probs)
        return (probs, out.attention.float()) if self.with_attention else probs


def export(predictor: Classifier, folder: Path, *, opset: int, log=print) -> dict[str, Any]:
    """Write the graph and the text pipeline's JSON into ``folder``; return the export config's task part."""
    config = predictor.config
    attention = predictor.has_attention
    graph = ClassifierGraph(predictor.model.export_graph(), attention).eval()
    sample_ids, sample_lengths = _inputs(predictor, batch=3, length=SHORT)
    outputs = ["probabilities", "attention"] if attention else ["probabilities"]
    export_graph(graph, (sample_ids, sample_lengths), folder / GRAPH, input_names=["ids", "lengths"],
                 output_names=outputs, dynamic={"ids": {0: "batch", 1: "time"}, "lengths": {0: "batch"}}, opset=opset)
    text: dict[str, Any] = {"text": "words"}
    if reads_pretrained_text(config):
        saved = predictor.model_dir / HF_FOLDER / TOKENIZER_FILE
        if not saved.is_file():
            raise SeqlabError(f"cannot export {predictor.model_dir}: its encoder's tokenizer has no {TOKENIZER_FILE} "
                              f"(in {HF_FOLDER}/), which the torch-free runtime reads; only a fast (Rust) tokenizer can "
                              "be exported")
        shutil.copyfile(saved, folder / TOKENIZER_FILE)
        text = {"text": "pretrained", "tokenizer": TOKENIZER_FILE}
    else:
        from seqlab.modeldir import write_json

        write_json(folder / TEXT_FILE, predictor.pipeline.to_json())
    featurizer = predictor.model.featurizer
    return {"graphs": {"classifier": GRAPH},
            "settings": {**text, "labels": predictor.labels, "pad_id": predictor.pad_id, "pad_multiple": PAD_MULTIPLE,
                         "attention": attention, "max_len": max_len(predictor), "model": config.model_name,
                         "featurizer": None if featurizer is None else {
                             "vocab_size": featurizer.vocab_size, "ngrams": featurizer.ngrams,
                             "buckets": featurizer.buckets, "binarise": featurizer.binarise}}}


def max_len(predictor: Classifier) -> int:
    """The longest input the model reads: ``--max-len``, or for a pretrained encoder the lesser of it and the
    tokenizer's own limit (what its pipeline truncates to)."""
    return int(predictor.pipeline.max_len if reads_pretrained_text(predictor.config) else predictor.config.text.max_len)


def _inputs(predictor: Classifier, batch: int, length: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Padded model inputs made of real ids (words of the vocabulary, or a bag's features of them; a pretrained
    encoder's sub-word ids): the first text ``length`` long, the others between 1 and ``length``, one empty when the
    batch has room (a pretrained tokenizer never gives an empty text: it adds its special tokens)."""
    rng = np.random.default_rng(seed + 7919 * length + batch)
    words = predictor.vocab_size
    lengths = rng.integers(1, length + 1, size=batch)
    lengths[0] = length
    if batch > 2 and not reads_pretrained_text(predictor.config):
        lengths[-1] = 0
    docs = [rng.integers(2, max(3, words), size=int(n)) for n in lengths]  # past <pad>, <unk>
    featurizer = predictor.model.featurizer
    if featurizer is not None:
        docs = featurizer(docs)
    from seqlab.data.batching import pad_batch

    return pad_batch(docs, predictor.pad_id, multiple=PAD_MULTIPLE)


def verify(predictor: Classifier, runtime: Any) -> VerifyFigures:
    """ONNX Runtime against torch on the same padded inputs: batch sizes 1, 7 and 64 at lengths 1, 8, 64 and the
    model's max_len; probabilities within the tolerance, the same labels, the same attention."""
    figures = VerifyFigures()
    graph = ClassifierGraph(predictor.model.export_graph(), predictor.has_attention).eval()
    for batch in VERIFY_BATCHES:
        for length in sorted({min(n, max_len(predictor)) for n in (1, SHORT, LONG)} | {max_len(predictor)}):
            ids, lengths = _inputs(predictor, batch, length)
            with torch.no_grad():
                expected = graph(ids, lengths)
            got = runtime.run_padded(ids.numpy(), lengths.numpy())
            expected = expected if isinstance(expected, tuple) else (expected,)
            name = f"batch {batch}, length {length}"
            figures.compare(name, "probabilities", expected[0].numpy(), got[0])
            figures.same_labels(name, expected[0].numpy().argmax(-1), got[0].argmax(-1))
            if len(expected) > 1:
                real = (np.arange(ids.size(1))[None, :] < lengths.numpy()[:, None])
                figures.compare(name, "attention", expected[1].numpy() * real, got[1] * real)
    want, got = predictor.pipeline.encode_many(CHECK_TEXTS), runtime.pipeline.encode_many(CHECK_TEXTS)
    for i, (w, g) in enumerate(zip(want, got, strict=True)):
        if list(w) != list(g):
            figures.failures.append(f"text {i + 1}: the export's tokenizer gives other ids than the model's "
                                    f"({len(g)} ids, torch's pipeline {len(w)})")
    figures.same_labels("texts", np.array([r["label"] for r in predictor.predict(CHECK_TEXTS)]),
                        np.array([r["label"] for r in runtime.predict(CHECK_TEXTS)]))
    return figures


def quality(runtime: Any, predictor: Classifier) -> dict[str, float]:
    """Accuracy and macro-F1 on the validation split training used (the carve-out is rebuilt with its seed)."""
    from seqlab.data.classification import load_train_valid
    from seqlab.metrics import classification_report

    valid = load_train_valid(predictor.config.data)[1]
    predictions = runtime.predict(valid.texts, batch_size=256)
    index = {label: i for i, label in enumerate(predictor.labels)}
    known = [i for i, label in enumerate(valid.labels) if label in index]
    report = classification_report([index[valid.labels[i]] for i in known],
                                   [index[predictions[i]["label"]] for i in known], predictor.labels)
    return {"accuracy": report["accuracy"], "macro_f1": report["macro_f1"], "examples": len(known)}


