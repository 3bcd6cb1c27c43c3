"""Word vectors for the ``seqlab vectors`` command: nearest neighbours and analogies in any vectors source."""

from __future__ import annotations

from seqlab.models.embeddings import analogy, load_vectors, nearest, word_vector


def neighbours(source: str, word: str, k: int = 10) -> list[tuple[str, float]]:
    """The ``k`` words closest to ``word`` (cosine) in ``source`` (glove-6b-50d or a .txt/.vec file)."""
    vectors = load_vectors(source)
    return nearest(vectors, word_vector(vectors, word), k=k, exclude={word})


def analogies(source: str, a: str, b: str, c: str, k: int = 10) -> list[tuple[str, float]]:
    """``a`` is to ``b`` as ``c`` is to ...: the ``k`` best answers (3CosAdd)."""
    return analogy(load_vectors(source), a, b, c, k=k)
