import gzip

import numpy as np
import pytest
import torch

from seqlab.errors import SeqlabError
from seqlab.models.embeddings import analogy, init_embedding, load_vectors, nearest, word_vector


@pytest.fixture
def vec_file(tmp_path):
    path = tmp_path / "tiny.vec"
    rows = {"king": [1, 1, 0], "queen": [1, 0, 1], "man": [0, 1, 0], "woman": [0, 0, 1], "apple": [-1, 0, 0]}
    path.write_text("5 3\n" + "\n".join(f"{w} {' '.join(map(str, v))}" for w, v in rows.items()) + "\n")
    return path


def test_text_vectors_with_header_and_filter(vec_file):
    vectors = load_vectors(str(vec_file))
    assert vectors.words == ["king", "queen", "man", "woman", "apple"] and vectors.dim == 3
    assert load_vectors(str(vec_file), {"man"}).words == ["man"]


def test_gzipped_glove_file_without_header(tmp_path):
    path = tmp_path / "g.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("a 0.5 0.5\nb 1 2\n")
    assert load_vectors(str(path)).matrix.tolist() == [[0.5, 0.5], [1.0, 2.0]]


def test_init_embedding_reports_coverage_and_copies_rows(vec_file):
    weight = torch.zeros(5, 3)
    itos = ["<pad>", "<unk>", "King", "man", "zebra"]
    coverage = init_embedding(weight, itos, str(vec_file), {"<pad>", "<unk>"})
    assert coverage["found"] == 2 and coverage["vocab"] == 3
    assert coverage["coverage"] == pytest.approx(2 / 3)
    assert weight[2].tolist() == [1, 1, 0]  # found through lower-casing
    assert weight[4].tolist() == [0, 0, 0]
    with pytest.raises(SeqlabError, match="--emb-size 3"):
        init_embedding(torch.zeros(5, 4), itos, str(vec_file), set())


def test_neighbours_and_analogy(vec_file):
    vectors = load_vectors(str(vec_file))
    assert nearest(vectors, word_vector(vectors, "king"), k=1, exclude={"king"})[0][0] in {"queen", "man"}
    assert analogy(vectors, "man", "king", "woman", k=1)[0][0] == "queen"


def test_packaged_glove_analogy():
    vectors = load_vectors("glove-6b-50d", {"king", "man", "woman", "queen", "prince", "girl", "daughter"})
    assert vectors.dim == 50
    top = [w for w, _ in analogy(vectors, "man", "king", "woman", k=3)]
    assert "queen" in top
    assert np.isfinite(vectors.matrix).all()


def test_bad_vector_sources(tmp_path):
    with pytest.raises(SeqlabError, match="not a known name"):
        load_vectors(str(tmp_path / "none.vec"))
    bad = tmp_path / "bad.vec"
    bad.write_text("a 1 2\nb 1\n")
    with pytest.raises(SeqlabError, match="line 2"):
        load_vectors(str(bad))
