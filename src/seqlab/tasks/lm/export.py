"""The language model's export: one step graph with its recurrent state or key/value cache, for perplexity and
generation; the sampling loop runs in host code (:func:`seqlab.search.sample`).

``lm(ids (B, T), targets (B, T), past.*) -> log_probs (B, V) (the next token after the last position), nll (B, T)
(each target's negative log-likelihood), present.*``. A prompt is one call (T = its length), each generated token
another (T = 1); scoring a stream feeds segments with their targets, carrying the state (rnn) or reading windows
with an empty cache (Transformer), as the torch scorer does.

- rnn: ``past.{i}.hidden`` [and ``past.{i}.cell``] (B, H) per layer, zeros at the start.
- transformer: ``past.{i}.key`` / ``past.{i}.value`` (B, h, S, d_head), empty (S = 0) at the start; positions
  start at S. Every block attends with an explicit bottom-right causal mask (the same numbers as the torch
  block's fused causal path), so the graph has no branch on T.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from seqlab.errors import SeqlabError
from seqlab.export.exporter import VERIFY_BATCHES, VerifyFigures, export_graph, free_traced_length
from seqlab.models.lm import RNNLM, TransformerLM
from seqlab.tasks.lm import EVAL_STREAMS
from seqlab.tasks.lm.predictor import LanguageModel
from seqlab.tasks.lm.recipe import TEXT_FILE

GRAPH = "lm.onnx"
TRACED_LENGTH = 13  # the sample length the graph is traced at (a size no model dimension is likely to be)
LENGTHS = (1, 8, 64)  # besides the model's bptt / context
QUALITY_TOKENS = 50_000  # validation tokens scored to measure int8's change in perplexity (for time)
MAX_VERIFY_ROWS = 2048  # positions per checked batch: the graph scores all V words at each (33k: 270 MB at this)
GREEDY_TOKENS = 20  # tokens generated greedily from a prompt, torch against ONNX Runtime


def _log_probs_and_nll(model: Any, hidden: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """hidden (B, T, D), targets (B, T) -> log P(next) after the last position (B, V), each target's NLL (B, T)."""
    B, T, D = hidden.shape
    with torch.enable_grad():  # the tied adaptive softmax keeps its cluster vectors only without gradients
        log_probs = model.output.log_probs(hidden.reshape(B * T, D)).reshape(B, T, -1)  # (B, T, V)
    nll = -log_probs.gather(2, targets[..., None]).squeeze(-1)  # (B, T)
    return log_probs[:, -1], nll


class RNNLMGraph(nn.Module):
    """``(ids, targets, past.{i}.hidden [, past.{i}.cell] ...) -> log_probs, nll, present.*`` of an :class:`RNNLM`."""

    def __init__(self, model: RNNLM) -> None:
        super().__init__()
        self.model, self.lstm = model, model.config.cell == "lstm"

    def forward(self, *inputs):  # ids, targets, then per layer hidden [, cell], each (B, H)
        ids, targets, *flat = inputs
        per = 2 if self.lstm else 1
        state = [(flat[per * i][None].contiguous(), flat[per * i + 1][None].contiguous()) if self.lstm
                 else flat[i][None].contiguous() for i in range(len(flat) // per)]  # (1, B, H) each
        hidden, new_state = self.model(ids, state)  # (B, T, D)
        log_probs, nll = _log_probs_and_nll(self.model, hidden, targets)
        out = [t[0] for layer in new_state for t in (layer if isinstance(layer, tuple) else (layer,))]
        return (log_probs, nll, *out)


class TransformerLMGraph(nn.Module):
    """``(ids, targets, past.{i}.key, past.{i}.value ...) -> log_probs, nll, present.*`` of a :class:`TransformerLM`."""

    def __init__(self, model: TransformerLM) -> None:
        super().__init__()
        self.model = model

    def forward(self, *inputs):  # ids, targets, then per layer key, value, each (B, h, S, d_head)
        ids, targets, *past = inputs
        m = self.model
        start, T = past[0].size(2), ids.size(1)
        index = torch.arange(T, device=ids.device) + start  # (T,) positions after the cache
        pos = m.position_table(index) if m.position_table is not None else m.sinusoid[index]  # (T, D)
        x = m.embedding(ids) * math.sqrt(m.config.d_model) + pos  # (B, T, D)
        present: list[torch.Tensor] = []
        for i, block in enumerate(m.blocks):
            h = block.norm1(x)
            k, v = block.attention.project_kv(h)  # (B, h, T, d_head)
            k, v = torch.cat([past[2 * i], k], dim=2), torch.cat([past[2 * i + 1], v], dim=2)  # (B, h, S + T, d_head)
            S = k.size(2)
            mask = torch.ones(T, S, dtype=torch.bool, device=ids.device).tril(S - T)  # (T, S) bottom-right causal
            x = x + block.attention(h, (k, v), mask=mask)[0]
            x = x + block.ff(block.norm2(x))
            present += [k, v]
        log_probs, nll = _log_probs_and_nll(m, m.norm(x), targets)
        return (log_probs, nll, *present)


def _state_spec(model: Any) -> tuple[list[str], dict[str, list[int]], dict[str, dict[int, str]]]:
    """The state's input names, each one's shape after the batch axis at the start, and its dynamic axes."""
    if isinstance(model, RNNLM):
        parts = ("hidden", "cell") if model.config.cell == "lstm" else ("hidden",)
        names = [f"past.{i}.{p}" for i in range(len(model.rnns)) for p in parts]
        return names, {n: [model.config.hidden_size] for n in names}, {n: {0: "batch"} for n in names}
    if isinstance(model, TransformerLM):
        c = model.config
        names = [f"past.{i}.{kv}" for i in range(len(model.blocks)) for kv in ("key", "value")]
        return names, {n: [c.heads, 0, c.d_model // c.heads] for n in names}, {n: {0: "batch", 2: "past"} for n in names}
    raise SeqlabError(f"cannot export a {type(model).__name__} language model: seqlab exports the rnn and transformer "
                      "ones")


def _ids(predictor: LanguageModel, batch: int, length: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed + 7919 * length + batch)
    return rng.integers(0, len(predictor.tokenizer), size=(batch, length)).astype(np.int64)


def export(predictor: LanguageModel, folder: Path, *, opset: int, log=print) -> dict[str, Any]:
    """Write the step graph and the tokenizer's JSON; return the export config's task part."""
    model = predictor.model.eval()
    names, initial, axes = _state_spec(model)
    graph = (RNNLMGraph(model) if isinstance(model, RNNLM) else TransformerLMGraph(model)).eval()
    ids = torch.from_numpy(_ids(predictor, 3, TRACED_LENGTH))
    targets = torch.from_numpy(_ids(predictor, 3, TRACED_LENGTH, seed=1))  # another tensor: the same one twice is
    # traced as one input feeding both (measured: the graph then scored the inputs as their own targets)
    rnn = isinstance(model, RNNLM)
    past = [torch.randn(3, *initial[n]) if rnn else torch.randn(3, initial[n][0], 4, initial[n][2]) for n in names]
    present = [n.replace("past.", "present.", 1) for n in names]
    time = {0: "batch", 1: "time"}
    export_graph(graph, (ids, targets, *past), folder / GRAPH, input_names=["ids", "targets", *names],
                 output_names=["log_probs", "nll", *present], dynamic={"ids": time, "targets": time, **axes},
                 opset=opset, variadic=True)
    if rnn:
        free_traced_length(folder / GRAPH, TRACED_LENGTH)
    from seqlab.modeldir import write_json

    write_json(folder / TEXT_FILE, predictor.tokenizer.to_json())
    config = predictor.config
    return {"graphs": {"lm": GRAPH},
            "settings": {"model": config.model_name, "state": names, "initial": initial, "stateful": rnn,
                         "context": None if rnn else model.config.context, "bptt": config.stream.bptt}}


# ---------------------------------------------------------------------------- checks
def verify(predictor: LanguageModel, runtime: Any) -> VerifyFigures:
    """ONNX Runtime against torch at batch sizes 1, 7 and 64 and lengths 1, 8, 64 and the model's bptt (rnn) or
    context (Transformer), up to MAX_VERIFY_ROWS positions a batch: every target's log-probability and the next
    token's distribution within the tolerance, then one more step from the state the graph returned; greedy
    generation token-identical."""
    figures = VerifyFigures()
    model = predictor.model.eval()
    longest = predictor.context or predictor.config.stream.bptt
    for batch in VERIFY_BATCHES:
        for length in sorted({*(n for n in LENGTHS if n < longest), longest}):
            if batch * length > MAX_VERIFY_ROWS:
                continue
            ids = _ids(predictor, batch, length + 1)
            x, y = ids[:, :-1], ids[:, 1:]
            name = f"batch {batch}, length {length}"
            with torch.no_grad():
                hidden, state = model(torch.from_numpy(x))
                want, want_nll = _log_probs_and_nll(model, hidden, torch.from_numpy(y))
                got, got_nll, got_state = runtime.run(x, y, runtime.initial_state(batch))
                figures.compare(name, "log_probs", want.numpy(), got)
                figures.compare(name, "nll", want_nll.numpy(), got_nll)
                if predictor.context is None or length < predictor.context:
                    tokens = torch.from_numpy(y[:, -1])
                    if isinstance(model, TransformerLM):
                        from seqlab.models.lm import TransformerState

                        step, _ = model.step(tokens, TransformerState(state, torch.from_numpy(x)))
                    else:
                        step, _ = model.step(tokens, state)
                    got_step, _, _ = runtime.run(y[:, -1:], y[:, -1:], got_state)
                    figures.compare(name, "step_log_probs", step.numpy(), got_step)
    for prompt in ("the", "in the first"):
        want_text = predictor.samples(prompt, 2, max_tokens=GREEDY_TOKENS, temperature=0, warn_unknown=False)
        got_text = runtime.samples(prompt, 2, max_tokens=GREEDY_TOKENS, temperature=0, warn_unknown=False)
        if want_text != got_text:
            figures.failures.append(f"greedy generation after {prompt!r} differs from torch's: {got_text[0]!r} vs "
                                    f"{want_text[0]!r}")
    return figures


def quality(runtime: Any, predictor: LanguageModel) -> dict[str, Any]:
    """Perplexity of (the first QUALITY_TOKENS tokens of) the validation stream training used, scored as
    ``seqlab evaluate`` scores (stateful streams for the rnn, half-overlapping windows for the Transformer)."""
    from seqlab.data.corpus import load_train_valid
    from seqlab.metrics import perplexity

    valid = load_train_valid(predictor.config.data)[1]
    stream = predictor.tokenizer.encode_lines(valid.lines)
    n = min(len(stream), QUALITY_TOKENS)
    total, count = runtime.stream_nll(stream[:n], streams=EVAL_STREAMS, segment=predictor.config.stream.bptt)
    return {"perplexity": perplexity(total, count), "tokens": count, "of": int(len(stream)) - 1}
