"""A generation prompt as token ids, and generation from it, for a model directory and an export alike (torch-free)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

from seqlab.errors import SeqlabError
from seqlab.search import SamplingConfig
from seqlab.tasks.lm import DEFAULT_MAX_TOKENS
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


class PromptedGeneration:
    """Generation from a prompt, the same for a model directory (torch) and its export (onnxruntime): the prompt
    and the settings checked, each step's tokens as items, a batch of samples. A subclass has ``tokenizer``,
    ``context`` and ``not_text``, and draws the tokens in :meth:`_draw` with its own sampler
    (:func:`seqlab.decode.sample` or its numpy twin :func:`seqlab.search.sample`)."""

    tokenizer: Any
    context: int | None

    def encode_prompt(self, prompt: str) -> tuple[list[int], list[str]]:
        """Prompt -> ids after a line start, and the prompt words outside the vocabulary (read as ``<unk>``)."""
        return encode_prompt(self.tokenizer, self.context, prompt)

    def _draw(self, prompts: list[list[int]], max_tokens: int, config: SamplingConfig,
              seed: int | None) -> Iterator[tuple[Any, Any]]:
        """Each step's tokens (N,) and their probabilities (N,) after the ``prompts`` (N rows of one length)."""
        raise NotImplementedError

    def stream(self, prompt: str, *, max_tokens: int = DEFAULT_MAX_TOKENS, temperature: float = 1.0, top_k: int = 0,
               top_p: float = 1.0, repetition_penalty: float = 1.0, seed: int | None = None,
               num_samples: int = 1, warn_unknown: bool = True) -> Iterator[dict[str, Any]]:
        """Yield each generated token as soon as it is chosen: ``{"sample", "id", "token", "text", "prob"}``.

        ``text`` is how the token reads in running text (a word with its leading space, a line break for
        ``<eos>``). All ``num_samples`` continuations are generated as one batch, so each step yields one
        dict per sample. The same ``seed`` gives the same text. ``temperature`` 0 is greedy.
        """
        config = SamplingConfig(temperature, top_k, top_p, repetition_penalty)
        config.validate()
        if max_tokens < 1 or num_samples < 1:
            raise SeqlabError("max_tokens and num_samples must be at least 1")
        ids, unknown = self.encode_prompt(prompt)
        if unknown and warn_unknown:  # (the CLI says so itself, in one line)
            warnings.warn(f"prompt words not in the vocabulary, read as <unk>: {', '.join(unknown)}", stacklevel=2)
        for tokens, probs in self._draw([ids] * num_samples, max_tokens, config, seed):
            for row, (token, prob) in enumerate(zip(tokens.tolist(), probs.tolist(), strict=True)):
                yield {"sample": row, "id": token, "token": self.tokenizer.token(token),
                       "text": self.tokenizer.display(token), "prob": prob}

    def samples(self, prompt: str, num_samples: int = 1, **options: Any) -> list[str]:
        """``num_samples`` continuations of ``prompt`` (the generated text only), generated as one batch."""
        generated: list[list[int]] = [[] for _ in range(num_samples)]
        for item in self.stream(prompt, num_samples=num_samples, **options):
            generated[item["sample"]].append(item["id"])
        return [self.tokenizer.decode(ids) for ids in generated]

    def generate(self, prompt: str, **options: Any) -> str:
        """One continuation of ``prompt`` (options as :meth:`stream`: max_tokens, temperature, top_k, top_p, ...)."""
        return self.samples(prompt, 1, **options)[0]
