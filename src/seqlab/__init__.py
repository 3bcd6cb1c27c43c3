"""seqlab: train, evaluate, explain and serve sequence models for text.

>>> import seqlab
>>> clf = seqlab.load("runs/imdb-bag")  # doctest: +SKIP
>>> clf.predict(["A wonderful, moving film."])  # doctest: +SKIP
"""

__version__ = "0.1.0"

import sys  # noqa: E402
import types  # noqa: E402

from seqlab.api import load, train  # noqa: E402
from seqlab.errors import SeqlabError  # noqa: E402

__all__ = ["SeqlabError", "__version__", "load", "train"]


class _Package(types.ModuleType):
    """``seqlab.train`` stays the function: the trainer's module, ``seqlab/train.py``, is imported only when a task
    trains (so ``import seqlab`` and ``seqlab --help`` need no torch), and importing it must not rebind the name."""

    def __setattr__(self, name: str, value: object) -> None:
        if name == "train" and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
