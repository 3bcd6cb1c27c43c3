"""Model architectures, one file each; their config dataclasses, RECIPEs and capabilities in :mod:`.configs`.

Importing this package imports no torch: ``CLASSIFIERS`` (which holds the model classes) is built when first
read; ``CLASSIFIER_CONFIGS`` and ``CLASSIFIER_RECIPES`` are all a task's config schema needs.
"""

from __future__ import annotations

import importlib
from typing import Any

from seqlab.models.configs import (  # noqa: F401  (as before: the classifiers' configs from here)
    CLASSIFIER_CONFIGS,
    CLASSIFIER_RECIPES,
    BagConfig,
    PretrainedConfig,
    RNNConfig,
    TransformerConfig,
)

# what this package offered before it imported its models lazily: attribute -> its module
_LAZY = {"bag": "bag", "pretrained": "pretrained", "rnn_classifier": "rnn_classifier",
         "transformer_classifier": "transformer_classifier", "BagClassifier": "bag",
         "PretrainedClassifier": "pretrained", "RNNClassifier": "rnn_classifier",
         "TransformerClassifier": "transformer_classifier"}


def _classifiers() -> dict[str, tuple[type, type]]:
    """name -> (config class, model class); every model: Model(config, vocab_size, num_outputs, pad_id)."""
    from seqlab.models.bag import BagClassifier
    from seqlab.models.pretrained import PretrainedClassifier
    from seqlab.models.rnn_classifier import RNNClassifier
    from seqlab.models.transformer_classifier import TransformerClassifier

    models = {"bag": BagClassifier, "rnn": RNNClassifier, "transformer": TransformerClassifier,
              "pretrained": PretrainedClassifier}
    return {name: (CLASSIFIER_CONFIGS[name], model) for name, model in models.items()}


def __getattr__(name: str) -> Any:
    if name == "CLASSIFIERS":
        value = globals()["CLASSIFIERS"] = _classifiers()
        return value
    if name in _LAZY:
        module = importlib.import_module(f"{__name__}.{_LAZY[name]}")
        return module if name == _LAZY[name] else getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["CLASSIFIERS", "CLASSIFIER_CONFIGS", "CLASSIFIER_RECIPES"]
