"""A generation prompt as token ids, for a model directory and an export alike (torch-free)."""

from __future__ import annotations

from typing import Any

from seqlab.errors import SeqlabError
from seqlab.text.validity import check_text


def encode_prompt(tokenizer: Any, context: int | None, prompt: str) -> tuple[list[int], list[str]]:
    """Prompt -> ids after a line start, and the prompt words outside the vocabulary (read as ``<unk>``); a prompt
    longer than the model's ``context`` (a Transformer's window; None: no limit) is refused."""
    check_text(prompt, "the prompt")
    ids = [tokenizer.eos_id, *tokenizer.encode(prompt)]
    unknown = []
    if tokenizer.kind == "word":
        unknown = [w for w, i in zip(prompt.split(), ids[1:], strict=True) if i == tokenizer.unk_id and w != "<unk>"]
    if context is not None and len(ids) > context:
        raise SeqlabError(f"the prompt has {len(ids) - 1} tokens, more than the model's context of {context - 1}; "
                          "shorten it")
    return ids, unknown
