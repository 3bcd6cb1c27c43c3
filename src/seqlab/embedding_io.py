"""Files of ``seqlab embed``: the vectors it writes (``.npy`` or ``.jsonl``) and the labels it reads for a map.

``.npy`` is numpy's own format, (N, D) float32, read back with ``np.load`` (no pickle: a plain array); ``.jsonl``
is one ``{"text", "vector"}`` object per line (and ``"label"`` when labels were given), for tools that read JSON.
Torch-free.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from seqlab.errors import SeqlabError

FORMATS = (".npy", ".jsonl")


def check_vectors_out(path: str | Path) -> Path:
    out = Path(path)
    if out.suffix.lower() not in FORMATS:
        raise SeqlabError(f"--out {path}: write the vectors as .npy (an N x D array) or .jsonl (one text a line)")
    return out


def write_vectors(path: str | Path, texts: Sequence[str], vectors: np.ndarray,
                  labels: Sequence[str] | None = None) -> None:
    from seqlab.files import write_bytes_atomic, write_text_atomic

    out = check_vectors_out(path)
    if out.suffix.lower() == ".npy":
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(vectors, dtype=np.float32), allow_pickle=False)
        write_bytes_atomic(out, buffer.getvalue())
        return
    lines = []
    for i, (text, row) in enumerate(zip(texts, vectors, strict=True)):
        item: dict = {"text": text, "vector": [round(float(v), 6) for v in row]}
        if labels is not None:
            item["label"] = labels[i]
        lines.append(json.dumps(item, ensure_ascii=False))
    write_text_atomic(out, "".join(line + "\n" for line in lines))


def read_labels(path: str | Path, count: int) -> list[str]:
    """One label per line, as many as there are texts (a mismatch is refused: the colours would be shifted)."""
    from seqlab.data.readers import open_text_lines

    labels = [line.rstrip("\n").strip() for _, line in open_text_lines(Path(path))]
    if len(labels) != count:
        raise SeqlabError(f"--labels {path} has {len(labels)} lines for {count} texts; give one label per text")
    return labels
