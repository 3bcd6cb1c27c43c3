"""Word vectors for ``seqlab vectors``: neighbours, analogies and maps, from any source of vectors.

A *source* is ``glove-6b-50d``, a word2vec/GloVe text file (``.txt``/``.vec``), or a model directory: a trained
model's input embedding table (a classifier's, a tagger's, a translator's source side, a language model's), so the
space a model learnt is explored like GloVe's. :func:`vector_source` is the one place that turns a name into
vectors; a task whose model directory holds vectors some other way adds one line to :data:`TABLE_READERS`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from seqlab.errors import SeqlabError
from seqlab.models.embeddings import PACKAGED, Vectors, analogy, load_vectors, nearest, word_vector

DEFAULT_TOP = 1000  # words on a map when neither --words nor --top says which
HIGHLIGHT_NEIGHBOURS = 8  # a highlighted word's group on a map: it and its nearest words among those mapped

# task -> "module:function" that reads (words, (V, D) matrix) from a model directory of that task without loading
# its predictor; any other task's predictor gives its embedding_table()
TABLE_READERS: dict[str, str] = {"embeddings": "seqlab.tasks.embeddings.vectors:read_word_vectors"}


def is_model_dir(source: str | Path) -> bool:
    return source not in PACKAGED and (Path(source).expanduser() / "config.json").is_file()


def vector_source(source: str, *, device: str = "cpu") -> Vectors:
    """The words and vectors of ``source``: ``glove-6b-50d``, a ``.txt``/``.vec`` file, or a model directory (its
    input embedding table; a model without one is refused, naming why)."""
    if is_model_dir(source):
        return model_vectors(source, device=device)
    return load_vectors(source)


def model_vectors(model_dir: str | Path, *, device: str = "cpu") -> Vectors:
    """A model directory's input embedding table as :class:`Vectors` (padding and special rows left out)."""
    from seqlab.export.format import is_export_dir
    from seqlab.modeldir import read_model_config

    if is_export_dir(model_dir):
        raise SeqlabError(f"{model_dir} is an export (seqlab export); give the model directory it was made from")
    task = read_model_config(model_dir).get("task", "")
    from seqlab.tasks.base import load_model, resolve

    if task in TABLE_READERS:
        words, matrix = resolve(TABLE_READERS[task])(Path(model_dir))
    else:
        words, matrix = load_model(model_dir, device=device).embedding_table()
    return Vectors(list(words), np.asarray(matrix, dtype=np.float32))


# ---------------------------------------------------------------------------- neighbours and analogies
def neighbours(vectors: Vectors, word: str, k: int = 10) -> list[tuple[str, float]]:
    """The ``k`` words closest to ``word`` (cosine)."""
    return nearest(vectors, word_vector(vectors, word), k=k, exclude={word})


def analogies(vectors: Vectors, a: str, b: str, c: str, k: int = 10) -> list[tuple[str, float]]:
    """``a`` is to ``b`` as ``c`` is to ...: the ``k`` best answers (3CosAdd)."""
    return analogy(vectors, a, b, c, k=k)


# ---------------------------------------------------------------------------- what a map shows
def read_word_list(path: str | Path) -> list[str]:
    """One word per line (the first tab- or space-separated field; blank lines and ``#`` comments skipped)."""
    from seqlab.data.readers import open_text_lines

    words = []
    for _, line in open_text_lines(Path(path)):
        field = line.strip().split("\t")[0].strip()
        if field and not field.startswith("#"):
            words.append(field.split(" ")[0])
    return list(dict.fromkeys(words))


def read_groups(path: str | Path) -> dict[str, str]:
    """``word<TAB>group`` lines -> {word: group}; a line without a tab is refused, naming it."""
    from seqlab.data.readers import open_text_lines

    groups: dict[str, str] = {}
    for number, line in open_text_lines(Path(path)):
        text = line.rstrip("\n")
        if not text.strip() or text.startswith("#"):
            continue
        word, tab, group = text.partition("\t")
        if not tab or not word.strip() or not group.strip():
            raise SeqlabError(f"{path}: line {number} is not 'word<TAB>group'")
        groups[word.strip()] = group.strip()
    return groups


def is_word(token: str) -> bool:
    """A token with a letter or a digit: punctuation (``,`` ``.`` ``"``) is left off a map's top words."""
    return any(ch.isalnum() for ch in token)


def choose(vectors: Vectors, *, words: Sequence[str] | None = None, top: int | None = None,
           highlight: Sequence[str] = (), groups: dict[str, str] | None = None,
           log: Callable[[str], Any] | None = None) -> tuple[list[int], list[int]]:
    """The rows to map and, among them, the highlighted ones: ``words`` (a word list), else the first ``top``
    words (frequency order, punctuation left out), else those of ``groups``, else the first :data:`DEFAULT_TOP`;
    highlighted words join them, each with its nearest neighbours. A list of which no word is known is refused."""
    index = vectors.index()
    if words is not None:
        rows = [index[w] for w in words if w in index]
        missing = len(words) - len(rows)
        if not rows:
            shown = ", ".join(list(words)[:5])
            raise SeqlabError(f"none of the {len(words)} words of the list is in the vectors ({shown}"
                              f"{', ...' if len(words) > 5 else ''})")
        if missing and log:
            log(f"{missing} of {len(words)} words are not in the vectors; mapping the other {len(rows)}")
    elif top is None and groups:
        rows = [index[w] for w in groups if w in index]
        if not rows:
            raise SeqlabError(f"none of the {len(groups)} words of --groups is in the vectors")
    else:
        want = DEFAULT_TOP if top is None else top
        if want < 1:
            raise SeqlabError(f"--top must be at least 1, got {want}")
        rows = [i for i, w in enumerate(vectors.words) if is_word(w)][:want]
    unknown = [w for w in highlight if w not in index]
    if unknown:
        raise SeqlabError(f"--highlight: not in the vectors: {', '.join(unknown)}")
    chosen = list(dict.fromkeys(rows))
    marked = []
    for word in highlight:
        i = index[word]
        marked.append(i)
        near = nearest(vectors, vectors.matrix[i], k=HIGHLIGHT_NEIGHBOURS, exclude={word})
        chosen.extend([i] + [index[w] for w, _ in near])
    chosen = list(dict.fromkeys(chosen))
    return chosen, marked


def plot(vectors: Vectors, out: str | Path, *, method: str = "tsne", words: Sequence[str] | None = None,
         top: int | None = None, highlight: Sequence[str] = (), groups: dict[str, str] | None = None,
         title: str = "", seed: int = 0, log: Callable[[str], Any] | None = None) -> dict[str, Any]:
    """Map words of ``vectors`` into ``out`` (.png or .html). Colours: ``groups`` ({word: group}) when given, else
    one group per highlighted word (it and its nearest neighbours), named in the legend."""
    from seqlab.maps import check_method, check_output, write_map

    check_output(out)
    check_method(method)
    rows, marked = choose(vectors, words=words, top=top, highlight=highlight, groups=groups, log=log)
    names = [vectors.words[i] for i in rows]
    position = {r: p for p, r in enumerate(rows)}
    if groups:
        colour_by: list[str | None] = [groups.get(w) for w in names]
    else:
        colour_by = [None] * len(rows)
        for word in highlight:  # a group per highlighted word: it and its neighbours, the first word's if shared
            i = vectors.index()[word]
            members = [i] + [vectors.index()[w] for w, _ in nearest(vectors, vectors.matrix[i], k=HIGHLIGHT_NEIGHBOURS,
                                                                   exclude={word})]
            for m in members:
                if colour_by[position[m]] is None:
                    colour_by[position[m]] = word
    summary = write_map(out, names, vectors.matrix[rows], method=method, groups=colour_by,
                        highlight=[position[i] for i in marked], title=title, kind="words", seed=seed, log=log)
    return summary
