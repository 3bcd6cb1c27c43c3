"""Model architectures, one file each, with their config dataclass beside them."""

from seqlab.models import bag, pretrained, rnn_classifier, transformer_classifier
from seqlab.models.bag import BagClassifier, BagConfig
from seqlab.models.pretrained import PretrainedClassifier, PretrainedConfig
from seqlab.models.rnn_classifier import RNNClassifier, RNNConfig
from seqlab.models.transformer_classifier import TransformerClassifier, TransformerConfig

# name -> (config class, model class); every model: Model(config, vocab_size, num_outputs, pad_id)
CLASSIFIERS = {
    "bag": (BagConfig, BagClassifier),
    "rnn": (RNNConfig, RNNClassifier),
    "transformer": (TransformerConfig, TransformerClassifier),
    "pretrained": (PretrainedConfig, PretrainedClassifier),
}

# name -> the model's best-known settings of the other config sections (next to each config dataclass)
CLASSIFIER_RECIPES = {"bag": bag.RECIPE, "rnn": rnn_classifier.RECIPE, "transformer": transformer_classifier.RECIPE,
                      "pretrained": pretrained.RECIPE}

__all__ = ["CLASSIFIERS", "CLASSIFIER_RECIPES"]
