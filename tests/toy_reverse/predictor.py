"""A loaded reverser: ``reverse`` texts word by word, ``evaluate`` on a word file."""

from __future__ import annotations

from typing import Any

import torch

from seqlab.errors import SeqlabError
from seqlab.inference import Predictor, bucketed_map, timed
from seqlab.modeldir import read_json
from seqlab.runtime import Timer
from toy_reverse.recipe import SCHEMA, TEXT_FILE, LookupModel, read_words


class Reverser(Predictor):
    task = "reverse"
    schema = SCHEMA

    def __init__(self, model_dir, device: str = "cpu", precision: str = "fp32") -> None:
        super().__init__(model_dir, device, precision)
        self.vocab = read_json(self.model_dir, TEXT_FILE)["vocab"]
        self.index = {w: i for i, w in enumerate(self.vocab)}
        self.model = self.restore(LookupModel(self.config.model, len(self.vocab)))

    @torch.no_grad()
    def reverse(self, texts: list[str]) -> list[str]:
        """Each known word spelt backwards (an unknown word is kept as it is)."""
        if isinstance(texts, str):
            raise SeqlabError("reverse() takes a list of strings")
        words = [t.split() for t in texts]

        def run(batch: list[int]) -> list[str]:
            out = []
            for i in batch:
                known = [w for w in words[i] if w in self.index]
                ids = torch.tensor([self.index[w] for w in known], dtype=torch.long)
                guess = iter(self.model(ids).argmax(-1).tolist() if known else [])
                out.append(" ".join(self.vocab[next(guess)] if w in self.index else w for w in words[i]))
            return out

        return bucketed_map(run, [len(w) for w in words], batch_size=32)


def load(model_dir, device: str = "cpu", precision: str = "fp32") -> Reverser:
    return Reverser(model_dir, device=device, precision=precision)


def evaluate(predictor: Reverser, *, data: str, split: str = "test", options: dict[str, Any] | None = None,
             log=print) -> dict[str, Any]:
    words = read_words(data)
    with Timer() as timer:
        got = predictor.reverse(words)
    report = {"accuracy": sum(g == w[::-1] for g, w in zip(got, words, strict=True)) / len(words),
              "words": len(words), "data": data, "split": split}
    return timed(report, timer, len(words), "words")
