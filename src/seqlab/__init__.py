"""seqlab: train, evaluate, explain and serve sequence models for text.

>>> import seqlab
>>> clf = seqlab.load("runs/imdb-bag")  # doctest: +SKIP
>>> clf.predict(["A wonderful, moving film."])  # doctest: +SKIP
"""

__version__ = "0.1.0"

from seqlab.api import load, train  # noqa: E402
from seqlab.errors import SeqlabError  # noqa: E402

__all__ = ["SeqlabError", "__version__", "load", "train"]
