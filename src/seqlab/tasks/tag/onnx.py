"""A tagger export run by ONNX Runtime, without torch: the emission graph, then the CRF's Viterbi path and marginals
in numpy (seqlab.export.crf), with the same ``tag``/``tag_tokens``/``predict`` as the torch tagger.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from seqlab.data.batching import bucketed_map
from seqlab.export.crf import marginals, viterbi
from seqlab.export.format import read_export_json, session
from seqlab.export.runtime import ExportPredictor
from seqlab.tasks.tag import DEFAULT_BATCH
from seqlab.tasks.tag.words import TEXT_FILE, TaggingMethods, TagVocab, WordFeatures

INPUTS = ("words", "cases", "chars", "lengths")


class OnnxTagger(ExportPredictor, TaggingMethods):
    """A loaded tagger export: ``tag`` raw texts, ``tag_tokens`` pre-tokenised sentences."""

    task = "tag"

    def __init__(self, folder: Path, config: dict[str, Any], threads: int | None = None) -> None:
        super().__init__(folder, config)
        self.vocab = TagVocab.from_json(read_export_json(folder, TEXT_FILE))
        self.features = WordFeatures(self.vocab)
        crf = config["settings"]["crf"]
        self.crf = None if crf is None else tuple(np.asarray(crf[k], dtype=np.float64) for k in ("transitions", "start",
                                                                                                  "end"))
        self.session = session(self.model_dir / config["graphs"]["tagger"], threads)

    def run_padded(self, arrays: dict[str, np.ndarray]) -> np.ndarray:
        """Emissions (B, T, K) of padded inputs (``words``, ``cases``, ``chars``, ``lengths``)."""
        return self.session.run(None, {k: arrays[k].astype(np.int64) for k in INPUTS})[0]

    def decode_padded(self, arrays: dict[str, np.ndarray], confidences: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """Tag ids (B, T) and, when asked, each chosen tag's probability (B, T), as the torch tagger's ``decode``."""
        emissions = self.run_padded(arrays).astype(np.float64)
        lengths = arrays["lengths"]
        if self.crf is not None:
            tags = viterbi(emissions, lengths, *self.crf)
            probs = marginals(emissions, lengths, *self.crf) if confidences else None
        else:
            shifted = np.exp(emissions - emissions.max(-1, keepdims=True))
            probs = shifted / shifted.sum(-1, keepdims=True)
            tags = probs.argmax(-1)
        conf = None if probs is None else np.take_along_axis(probs, tags[..., None], axis=2)[..., 0]
        return tags, conf

    def predict(self, sentences: list[list[str]], batch_size: int = DEFAULT_BATCH,
                confidences: bool = True) -> tuple[list[list[str]], list[list[float]] | None]:
        """Each sentence's model tags (BIOES for entities) and, when asked, each tag's confidence."""
        items = self.features.encode(sentences)

        def run(batch: list[int]) -> list[tuple[list[int], list[float]]]:
            arrays = self.features.padded([items[i] for i in batch])
            tags, conf = self.decode_padded(arrays, confidences)
            return [(tags[row, :n].tolist(), conf[row, :n].tolist() if conf is not None else [])
                    for row, n in enumerate(arrays["lengths"].tolist())]

        results = bucketed_map(run, [len(i[0]) for i in items], batch_size)
        return ([[self.labels[t] for t in tags] for tags, _ in results],
                [c for _, c in results] if confidences else None)


def load(folder: Path, config: dict[str, Any], threads: int | None = None) -> OnnxTagger:
    return OnnxTagger(folder, config, threads)
