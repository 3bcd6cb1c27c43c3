"""A language-model export run by ONNX Runtime, without torch: the step graph with its state (rnn) or key/value
cache (Transformer), generation by :func:`seqlab.search.sample` (the sampling options of the torch model) and
perplexity scored as ``seqlab evaluate`` scores, with the same ``stream``/``samples``/``generate``/``perplexity``/
``token_logprobs``/``stream_nll`` as :class:`~seqlab.tasks.lm.predictor.LanguageModel`.

Sampling draws from numpy's generator: the same ``seed`` gives the same text on an export, not the text the torch
model gives for that seed (torch's generator cannot be reproduced without torch); greedy generation
(``temperature`` 0) is the same.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from seqlab.errors import SeqlabError
from seqlab.export.format import read_export_json, session
from seqlab.export.runtime import ExportPredictor
from seqlab.metrics import perplexity
from seqlab.search import SamplingConfig, sample
from seqlab.tasks.lm import EVAL_STREAMS
from seqlab.tasks.lm.prompt import PromptedGeneration
from seqlab.text.stream import StreamTokenizer
from seqlab.text.subword import PAD_ID, SOS_ID
from seqlab.text.validity import check_texts

TEXT_FILE = "text.json"


class LMState:
    """What generation carries between steps: the graph's state arrays by input name, and (Transformer) the ids the
    cache covers, for the context-window restart."""

    def __init__(self, arrays: dict[str, np.ndarray], ids: np.ndarray) -> None:
        self.arrays, self.ids = arrays, ids


class OnnxLanguageModel(PromptedGeneration, ExportPredictor):
    """A loaded language-model export: ``generate``/``stream`` from a prompt, ``perplexity`` of texts."""

    task = "lm"

    def __init__(self, folder: Path, config: dict[str, Any], threads: int | None = None) -> None:
        super().__init__(folder, config)
        self.settings = s = config["settings"]
        self.tokenizer = StreamTokenizer.from_json(read_export_json(folder, TEXT_FILE))
        self.stateful: bool = bool(s["stateful"])
        self.context: int | None = s["context"]
        self.session = session(self.model_dir / config["graphs"]["lm"], threads)
        self._outputs = [o.name for o in self.session.get_outputs()]

    @property
    def not_text(self) -> list[int]:
        """Ids generation never chooses (as the torch model's): ``<unk>``, and BPE's ``<pad>`` and ``<sos>``."""
        if self.tokenizer.kind == "bpe":
            return sorted({PAD_ID, SOS_ID, self.tokenizer.unk_id})
        return [self.tokenizer.unk_id]

    def autocast(self) -> contextlib.AbstractContextManager:
        """The predictors' precision context (``seqlab evaluate`` enters it); an export runs as it was exported."""
        return contextlib.nullcontext()

    # -- the graph
    def initial_state(self, batch: int) -> dict[str, np.ndarray]:
        return {name: np.zeros((batch, *tail), dtype=np.float32) for name, tail in self.settings["initial"].items()}

    def run(self, ids: np.ndarray, targets: np.ndarray,
            state: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """ids, targets (B, T) after ``state`` -> log P(next) (B, V), each target's NLL (B, T), the new state."""
        outputs = self.session.run(None, {"ids": ids.astype(np.int64), "targets": targets.astype(np.int64), **state})
        named = dict(zip(self._outputs, outputs, strict=True))
        new = {name: named[name.replace("past.", "present.", 1)] for name in self.settings["state"]}
        return named["log_probs"], named["nll"], new

    # -- generation (what seqlab.search.sample needs)
    def start(self, ids: np.ndarray) -> tuple[np.ndarray, LMState]:
        log_probs, _, state = self.run(ids, ids, self.initial_state(len(ids)))
        return log_probs, LMState(state, ids)

    def step(self, tokens: np.ndarray, state: LMState) -> tuple[np.ndarray, LMState]:
        """One position; a Transformer whose cache holds a whole context window restarts from its newest half
        (positions from 0), as the torch model does."""
        ids = np.concatenate([state.ids, tokens[:, None]], axis=1) if not self.stateful else tokens[:, None]
        if self.context is not None and state.ids.shape[1] >= self.context:
            return self.start(ids[:, -(self.context // 2):])
        log_probs, _, arrays = self.run(tokens[:, None], tokens[:, None], state.arrays)
        return log_probs, LMState(arrays, ids)

    def _draw(self, prompts: list[list[int]], max_tokens: int, config: SamplingConfig,
              seed: int | None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        rng = np.random.default_rng(seed)
        yield from sample(self, np.array(prompts, dtype=np.int64), max_tokens, config, rng, banned=self.not_text)

    # -- scoring
    def stream_nll(self, stream: np.ndarray, *, streams: int = EVAL_STREAMS, segment: int = 70) -> tuple[float, int]:
        """Summed NLL (nats) of every token of ``stream`` after the first, and the count, as the torch scorer
        (:func:`seqlab.tasks.lm.recipe.stream_nll`): stateful parallel streams for the rnn, windows otherwise."""
        data = np.asarray(stream, dtype=np.int64)
        if data.size < 2:
            return 0.0, 0
        return self._stateful(data, streams, segment) if self.stateful else self._windowed(data, streams)

    def _stateful(self, data: np.ndarray, streams: int, segment: int) -> tuple[float, int]:
        targets = data.size - 1
        B = max(1, min(streams, targets))
        L = targets // B
        inputs, outputs = data[: B * L].reshape(B, L), data[1: B * L + 1].reshape(B, L)
        total, state = 0.0, self.initial_state(B)
        for start in range(0, L, segment):
            _, nll, state = self.run(inputs[:, start: start + segment], outputs[:, start: start + segment], state)
            total += float(nll.astype(np.float64).sum())
        rest = targets - B * L
        if rest:  # the tail follows the last row directly: continue its state
            last = {name: value[-1:] for name, value in state.items()}
            _, nll, _ = self.run(data[B * L: B * L + rest][None], data[B * L + 1:][None], last)
            total += float(nll.astype(np.float64).sum())
        return total, targets

    def _windowed(self, data: np.ndarray, batch: int) -> tuple[float, int]:
        targets, context = data.size - 1, int(self.context or 1)
        stride = max(1, context // 2)
        starts = list(range(0, max(targets - context, 0) + 1, stride))
        if starts[-1] + context < targets:
            starts.append(targets - context)
        by_length: dict[int, list[tuple[int, int]]] = {}
        scored = 0
        for start in starts:
            length = min(context, targets - start)
            by_length.setdefault(length, []).append((start, scored - start))
            scored = start + length
        total = 0.0
        for length, group in by_length.items():
            for i in range(0, len(group), batch):
                part = group[i: i + batch]
                x = np.stack([data[s: s + length] for s, _ in part])
                y = np.stack([data[s + 1: s + 1 + length] for s, _ in part])
                _, nll, _ = self.run(x, y, self.initial_state(len(part)))
                keep = np.arange(length)[None, :] >= np.array([f for _, f in part])[:, None]
                total += float(nll.astype(np.float64)[keep].sum())
        return total, targets

    def _ids(self, texts: list[str], call: str) -> np.ndarray:
        texts = check_texts(texts, call)
        return np.array([self.tokenizer.eos_id, *self.tokenizer.encode_lines(texts).tolist()], dtype=np.int64)

    def perplexity(self, texts: list[str]) -> float:
        """Perplexity of ``texts`` read as consecutive lines (each closed by ``<eos>``, which is scored too)."""
        total, count = self.stream_nll(self._ids(texts, "perplexity()"), streams=1,
                                       segment=int(self.settings["bptt"]))
        if count == 0:
            raise SeqlabError("nothing to score: the texts are empty")
        return perplexity(total, count)

    def token_logprobs(self, texts: list[str]) -> list[list[dict[str, Any]]]:
        """Per text, each token (and the closing ``<eos>``) with its natural-log probability given the text before it."""
        out = []
        for text in check_texts(texts, "token_logprobs()"):
            ids = self._ids([text], "token_logprobs()")
            if self.context is not None and ids.size - 1 > self.context:
                raise SeqlabError(f"a text of {ids.size - 1} tokens is longer than the model's context "
                                  f"({self.context}); use perplexity() for long texts")
            _, nll, _ = self.run(ids[None, :-1], ids[None, 1:], self.initial_state(1))
            out.append([{"token": self.tokenizer.token(int(t)), "logprob": -float(s)}
                        for t, s in zip(ids[1:].tolist(), nll[0].tolist(), strict=True)])
        return out

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "context": self.context}


def load(folder: Path, config: dict[str, Any], threads: int | None = None) -> OnnxLanguageModel:
    return OnnxLanguageModel(folder, config, threads)
