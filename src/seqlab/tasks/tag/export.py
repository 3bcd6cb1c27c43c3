"""The tagger's export: the emission network as one ONNX graph (words, case patterns, characters -> per-token scores);
the CRF's transition scores go into export.json and its Viterbi path and marginals run in numpy after the graph
(a loop as long as the sentence does not export). Checked against torch at several lengths and batch sizes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqlab.errors import SeqlabError
from seqlab.export.exporter import VERIFY_BATCHES, VerifyFigures, export_graph
from seqlab.tasks.tag.predictor import Tagger
from seqlab.tasks.tag.recipe import load_train_valid, reads_pretrained_text
from seqlab.tasks.tag.words import TEXT_FILE, to_scheme
from seqlab.text.tagging import CASE_PATTERNS

GRAPH = "tagger.onnx"
CONFIDENCE_TOLERANCE = 1e-3
LENGTHS = (1, 8, 64, 128)  # words per sentence checked
DYNAMIC = {"words": {0: "batch", 1: "time"}, "cases": {0: "batch", 1: "time"},
           "chars": {0: "batch", 1: "time", 2: "chars"}, "lengths": {0: "batch"}}


def _items(predictor: Tagger, batch: int, length: int, seed: int = 0) -> list[Any]:
    """Encoded sentences of real vocabulary ids: the first ``length`` words long, the others 1..length."""
    rng = np.random.default_rng(seed + 7919 * length + batch)
    vocab = predictor.vocab
    sizes = rng.integers(1, length + 1, size=batch)
    sizes[0] = length
    items = []
    for n in sizes.tolist():
        words = rng.integers(1, len(vocab.words) + len(vocab.extra), size=n).tolist()  # past <pad>
        cases = rng.integers(1, len(CASE_PATTERNS), size=n).tolist()
        chars = [rng.integers(1, len(vocab.chars), size=int(rng.integers(1, 12))).tolist() for _ in range(n)]
        items.append((words, cases, chars))
    return items


def _tensors(predictor: Tagger, items: list[Any]) -> tuple[torch.Tensor, ...]:
    arrays = predictor.features.padded(items)
    return tuple(torch.from_numpy(arrays[k]) for k in ("words", "cases", "chars", "lengths"))


def export(predictor: Tagger, folder: Path, *, opset: int, log=print) -> dict[str, Any]:
    config = predictor.config
    if reads_pretrained_text(config):
        raise SeqlabError("a --model pretrained tagger cannot be exported yet: its sub-word tokenizer has no torch-free "
                          "reader in seqlab's runtime; export a bilstm-crf or bilstm tagger")
    graph = predictor.model.export_graph().eval()
    export_graph(graph, _tensors(predictor, _items(predictor, 3, 8)), folder / GRAPH,
                 input_names=list(DYNAMIC), output_names=["emissions"], dynamic=DYNAMIC, opset=opset)
    from seqlab.modeldir import write_json

    write_json(folder / TEXT_FILE, predictor.vocab.to_json())
    crf = predictor.model.crf
    scores = None
    if crf is not None:
        trans, start, end = crf.decoding_scores()
        scores = {"transitions": trans.tolist(), "start": start.tolist(), "end": end.tolist()}
    return {"graphs": {"tagger": GRAPH},
            "settings": {"labels": predictor.labels, "scheme": predictor.scheme, "crf": scores,
                         "model": config.model_name}}


def verify(predictor: Tagger, runtime: Any) -> VerifyFigures:
    """Emissions within the tolerance, the same tags (Viterbi in numpy against the torch CRF), the same
    confidences, at batch sizes 1, 7 and 64 and sentences of 1, 8, 64 and 128 words."""
    figures = VerifyFigures()
    graph = predictor.model.export_graph().eval()
    for batch in VERIFY_BATCHES:
        for length in LENGTHS:
            items = _items(predictor, batch, length)
            tensors = _tensors(predictor, items)
            arrays = predictor.features.padded(items)
            name = f"batch {batch}, length {length}"
            with torch.no_grad():
                expected = graph(*tensors).numpy()
                want_tags, want_conf = predictor.model.decode(predictor.features.batch(items), True)
            real = (np.arange(expected.shape[1])[None, :] < arrays["lengths"][:, None])[..., None]
            figures.compare(name, "emissions", expected * real, runtime.run_padded(arrays) * real)
            tags, conf = runtime.decode_padded(arrays, True)
            got_tags = [tags[row, :n].tolist() for row, n in enumerate(arrays["lengths"].tolist())]
            figures.same_labels(name, np.array(sum(want_tags, [])), np.array(sum(got_tags, [])))
            got_conf = [conf[row, :n].tolist() for row, n in enumerate(arrays["lengths"].tolist())]
            # the torch CRF runs forward-backward in fp32 (the numpy twin in fp64): over 128 words its marginals drift
            # from the exact ones by up to ~3e-4 (measured), so confidences get a looser bound than the emissions
            figures.compare(name, "confidences", np.array(sum(want_conf or [], [])), np.array(sum(got_conf, [])),
                            tolerance=CONFIDENCE_TOLERANCE)
    return figures


def quality(runtime: Any, predictor: Tagger) -> dict[str, float]:
    """Span F1 (token accuracy for plain tags) on the validation split training used."""
    from seqlab.metrics import span_report

    valid = load_train_valid(predictor.config.data)[1]
    labels, _ = runtime.predict(valid.words, batch_size=256, confidences=False)
    report = span_report(valid.tags, [to_scheme(t, predictor.scheme) for t in labels], predictor.scheme)
    return {"f1": report["f1"], "accuracy": report["accuracy"], "sentences": len(valid)}
