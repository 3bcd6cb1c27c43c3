"""A pretrained encoder's tokenizer read from its ``tokenizer.json`` with 🤗 ``tokenizers`` alone: no transformers and
no torch, for the exports of ``--model pretrained`` models.

The torch path tokenises with ``transformers.AutoTokenizer`` (:class:`seqlab.models.pretrained.HFTextPipeline`), whose
fast tokenizers run this same Rust tokenizer from this same file. What transformers adds at call time is set here
explicitly: truncation to ``max_len`` counting the special tokens (longest-first, from the right), and no padding.
Both matter: the MiniLM package's ``tokenizer.json`` carries its own truncation (128) and a fixed padding to 128,
which would otherwise apply. The export checks the two give the same ids on real texts before it is kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seqlab.errors import SeqlabError


class PretrainedTokenizer:
    """The pretrained model's tokenizer behind the :class:`~seqlab.text.TextPipeline` interface (``encode``,
    ``encode_many``, ``encode_with_tokens``), as :class:`~seqlab.models.pretrained.HFTextPipeline` offers it."""

    def __init__(self, path: str | Path, max_len: int, pad_id: int) -> None:
        try:
            from tokenizers import Tokenizer
        except ImportError:
            raise SeqlabError("a pretrained model's export needs the tokenizers package: pip install tokenizers") from None
        try:
            self.tokenizer: Any = Tokenizer.from_file(str(path))
        except Exception as exc:  # the Rust side's own exception: a damaged or foreign file
            raise SeqlabError(f"cannot read the tokenizer {path}: {str(exc).splitlines()[0][:200]}") from None
        self.max_len, self.pad_id = int(max_len), int(pad_id)
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=self.max_len)

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text).ids

    def encode_many(self, texts: list[str], with_tokens: bool = False):
        encodings = self.tokenizer.encode_batch(list(texts))
        ids = [e.ids for e in encodings]
        return (ids, [e.tokens for e in encodings]) if with_tokens else ids

    def encode_with_tokens(self, text: str) -> tuple[list[int], list[str]]:
        encoding = self.tokenizer.encode(text)
        return encoding.ids, encoding.tokens
