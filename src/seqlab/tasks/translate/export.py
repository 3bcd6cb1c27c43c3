"""The translator's export: an encoder graph and a decoder-step graph, as Hugging Face optimum exports seq2seq models;
the greedy/beam loop runs in host code (:mod:`seqlab.search`, the very search torch runs), checked against torch.

Graphs (every tensor batch-first, so that a beam reorder is one row selection of every state array):

- rnn: ``encoder(src, src_lengths) -> memory, proj_keys, past.hidden (B, L, H) [, past.cell]``;
  ``decoder(prev, mask, memory, proj_keys, past.hidden [, past.cell], past.context) -> log_probs, attention,
  present.hidden [, present.cell], present.context``. Packed sequences do not export: the encoder's bidirectional
  GRU/LSTM is traced on padded input, one module per layer (a multi-layer bidirectional module froze its time axis
  when traced), and each ONNX GRU/LSTM node then gets ``sequence_lens``, which gives exactly the packed semantics
  (the backward direction starts at each source's own last token; the final state is taken there).
- transformer: ``encoder(src, src_lengths) -> cross.{i}.key, cross.{i}.value`` (the decoder's cross-attention
  keys/values, projected once); ``decoder(prev, mask, cross.*, past.{i}.key, past.{i}.value) -> log_probs,
  attention, present.{i}.key, present.{i}.value``: the self-attention cache grows by one position a step and
  starts empty (length 0) at step 0; the position is the cache's length. No fixed-size cache was needed.

``attention`` is what the torch model's search records (the rnn's weights; the Transformer's last layer averaged
over heads), so ``--unk-replace`` and the attention view work on an export.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from seqlab.decode import greedy_search
from seqlab.errors import SeqlabError
from seqlab.export.exporter import VERIFY_BATCHES, VerifyFigures, export_graph, free_traced_length
from seqlab.models.seq2seq import RNNDecoderState, RNNSeq2Seq, source_mask
from seqlab.models.transformer_seq2seq import DecoderBlock, TransformerSeq2Seq
from seqlab.search import greedy
from seqlab.tasks.translate.predictor import Translator
from seqlab.tasks.translate.recipe import TEXT_FILE
from seqlab.text.subword import EOS_ID, PAD_ID, SOS_ID

ENCODER, DECODER = "encoder.onnx", "decoder.onnx"
SHORT, LONG = 8, 32  # source lengths checked besides 1 and the longest training source
LOCKSTEP_STEPS = 48  # decoder steps whose log-probs are compared position by position
QUALITY_LIMIT = 300  # validation sentences translated (greedy) to measure int8's change in BLEU (for time)
TRACED_LENGTH = 13  # the sample source length the graphs are traced at (a size no model dimension is likely to be)
SPECIALS = 4  # <pad>, <unk>, <sos>, <eos>: verification sources are made of the ids after them


# ---------------------------------------------------------------------------- rnn graphs
def _single_layers(rnn: nn.GRU | nn.LSTM) -> nn.ModuleList:
    """A stacked bidirectional module as one single-layer bidirectional module per layer, same weights."""
    layers = nn.ModuleList()
    for k in range(rnn.num_layers):
        size = rnn.input_size if k == 0 else 2 * rnn.hidden_size
        layer = type(rnn)(size, rnn.hidden_size, 1, batch_first=True, bidirectional=True)
        with torch.no_grad():
            for name, param in layer.named_parameters():
                param.copy_(rnn.get_parameter(name.replace("_l0", f"_l{k}")))
        layers.append(layer.eval())
    return layers


class RNNEncoderGraph(nn.Module):
    """``(src, src_lengths) -> memory, proj_keys, past.hidden [, past.cell]`` of an :class:`RNNSeq2Seq`.

    Traced on padded input (the lengths reach the RNN nodes through ``sequence_lens``, added after the export by
    :func:`_add_sequence_lengths`); as torch code it would let padding into the states, so only the graph is used.
    """

    def __init__(self, model: RNNSeq2Seq) -> None:
        super().__init__()
        self.model, self.layers = model, _single_layers(model.encoder)

    def forward(self, src: torch.Tensor, src_lengths: torch.Tensor):
        m = self.model
        x = m.src_embed(src)  # (B, S, E)
        finals: list[list[torch.Tensor]] = []
        for layer in self.layers:
            x, final = layer(x)  # (B, S, H), (2, B, H/2) or a pair of them
            finals.append(list(final) if isinstance(final, tuple) else [final])
        B = src.size(0)
        states = []
        for part, bridge in enumerate(m.bridge):
            state = torch.cat([f[part] for f in finals], dim=0)  # (layers * 2, B, H/2), directions innermost
            L2, _, half = state.shape
            both = state.view(L2 // 2, 2, B, half).transpose(1, 2).reshape(L2 // 2, B, 2 * half)  # (L, B, H)
            states.append(torch.tanh(bridge(both)).transpose(0, 1))  # (B, L, H)
        return (x, m.attention.precompute_keys(x), *states)


class RNNDecoderGraph(nn.Module):
    """One decoder step of an :class:`RNNSeq2Seq`: its own ``decode_step`` on batch-first state arrays."""

    def __init__(self, model: RNNSeq2Seq) -> None:
        super().__init__()
        self.model, self.lstm = model, model.config.cell == "lstm"

    def forward(self, *inputs):  # prev, mask, memory, proj_keys, past.hidden [, past.cell], past.context
        prev, mask, memory, proj_keys, *state = inputs
        hidden = state[0].transpose(0, 1).contiguous()  # (L, N, H)
        rnn_state = (hidden, state[1].transpose(0, 1).contiguous()) if self.lstm else hidden
        context = state[-1]
        log_probs, weights, new = self.model.decode_step(
            RNNDecoderState(memory=memory, proj_keys=proj_keys, mask=mask, hidden=rnn_state, context=context), prev)
        parts = list(new.hidden) if isinstance(new.hidden, tuple) else [new.hidden]
        return (log_probs, weights, *(p.transpose(0, 1) for p in parts), new.context)


# ---------------------------------------------------------------------------- transformer graphs
def _positions(model: TransformerSeq2Seq, start: Any, length: Any) -> torch.Tensor:
    """Rows ``start .. start + length`` of the sinusoid table, read by index: a slice would make the exporter prove
    the length within the table; past it ONNX Runtime refuses the index (the runtime checks the length first)."""
    return model.positions[torch.arange(length, device=model.positions.device) + start]  # (T, D)


class TransformerEncoderGraph(nn.Module):
    """``(src, src_lengths) -> cross.{i}.key, cross.{i}.value`` (each (B, h, S, d_head)): ``encode`` of a
    :class:`TransformerSeq2Seq` up to the cross-attention keys/values it keeps in its state."""

    def __init__(self, model: TransformerSeq2Seq) -> None:
        super().__init__()
        self.model = model

    def forward(self, src: torch.Tensor, src_lengths: torch.Tensor):
        m = self.model
        mask = source_mask(src_lengths, src.size(1))  # (B, S)
        x = m.src_embed(src) * math.sqrt(m.config.d_model) + _positions(m, 0, src.size(1))  # (B, S, D)
        for block in m.encoder:
            x = block(x, mask[:, None, None, :])
        memory = m.encoder_norm(x)  # (B, S, D)
        return tuple(t for block in m.decoder for t in cast(DecoderBlock, block).cross_attn.project_kv(memory))


class TransformerDecoderGraph(nn.Module):
    """One decoder step with the key/value cache: ``(prev, mask, cross.*, past.*) -> log_probs, attention,
    present.*``, as :meth:`TransformerSeq2Seq.decode_step` (its position is the cache's length)."""

    def __init__(self, model: TransformerSeq2Seq) -> None:
        super().__init__()
        self.model = model

    def forward(self, *inputs):  # prev, mask, cross.{i}.key/value..., past.{i}.key/value...
        prev, mask, *kv = inputs
        m = self.model
        n = len(m.decoder)
        cross, past = kv[: 2 * n], kv[2 * n:]
        step = past[0].size(2)  # t: positions already in the cache
        x = m.tgt_embed(prev[:, None]) * math.sqrt(m.config.d_model) + _positions(m, step, 1)  # (N, 1, D)
        present: list[torch.Tensor] = []
        weights = None
        for i, block in enumerate(m.decoder):
            x, w, (k, v) = block(x, (cross[2 * i], cross[2 * i + 1]), mask[:, None, None, :],
                                 cache=(past[2 * i], past[2 * i + 1]), need_weights=i == n - 1)
            present += [k, v]
            weights = w if w is not None else weights
        assert weights is not None
        log_probs = F.log_softmax(m._logits(m.decoder_norm(x)).squeeze(1).float(), dim=-1)  # (N, V)
        return (log_probs, weights.mean(dim=1).squeeze(1), *present)


# ---------------------------------------------------------------------------- writing the graphs
def _fix_encoder(path: Path, traced_length: int) -> int:
    """Give every GRU/LSTM node of the encoder graph the source lengths as ``sequence_lens`` (packed semantics: the
    backward direction starts at each source's last token, the final state is taken there, padding outputs 0),
    and free the time axis of the layers after the first (:func:`free_traced_length`). Returns the node count."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(str(path))
    graph = model.graph
    nodes = [n for n in graph.node if n.op_type in ("GRU", "LSTM")]
    graph.initializer.append(helper.make_tensor("seqlab_one", TensorProto.INT64, [], [1]))
    lengths = [helper.make_node("Max", ["src_lengths", "seqlab_one"], ["seqlab_lengths"]),
               helper.make_node("Cast", ["seqlab_lengths"], ["seqlab_sequence_lens"], to=TensorProto.INT32)]
    for node in nodes:
        while len(node.input) < 5:
            node.input.append("")
        node.input[4] = "seqlab_sequence_lens"
    for i, node in enumerate(lengths):
        graph.node.insert(i, node)
    onnx.save_model(model, str(path))
    free_traced_length(path, traced_length)
    return len(nodes)


def _sample(predictor: Translator, batch: int, length: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Padded sources of real subword ids: the first ``length`` long, the others 1..length."""
    rng = np.random.default_rng(seed + 7919 * length + batch)
    lengths = rng.integers(1, length + 1, size=batch)
    lengths[0] = length
    src = np.full((batch, length), PAD_ID, dtype=np.int64)
    for row, n in enumerate(lengths.tolist()):
        src[row, :n] = rng.integers(SPECIALS, max(SPECIALS + 1, len(predictor.toks.src)), size=n)
    return src, lengths.astype(np.int64)


def _graphs(model: Any) -> tuple[nn.Module, nn.Module]:
    if isinstance(model, RNNSeq2Seq):
        return RNNEncoderGraph(model).eval(), RNNDecoderGraph(model).eval()
    if isinstance(model, TransformerSeq2Seq):
        return TransformerEncoderGraph(model).eval(), TransformerDecoderGraph(model).eval()
    raise SeqlabError(f"cannot export a {type(model).__name__} translator: seqlab exports the rnn and transformer ones")


def export(predictor: Translator, folder: Path, *, opset: int, log=print) -> dict[str, Any]:
    """Write the encoder and decoder-step graphs and the tokenizers' JSON; return the export config's task part."""
    model = predictor.model.eval()
    config = predictor.config
    encoder, decoder = _graphs(model)
    src, lengths = _sample(predictor, 3, TRACED_LENGTH)
    src_t, lengths_t = torch.from_numpy(src), torch.from_numpy(lengths)
    batch = {0: "batch"}
    with torch.no_grad():
        enc_out = encoder(src_t, lengths_t)
    rnn = isinstance(model, RNNSeq2Seq)
    if rnn:
        enc_names = ["memory", "proj_keys", "past.hidden"] + (["past.cell"] if len(enc_out) == 4 else [])
        state_names = enc_names[2:] + ["past.context"]
        fixed = ["memory", "proj_keys"]
        initial = {"past.context": [model.config.hidden_size]}
        sizes = {"memory": {0: "batch", 1: "src"}, "proj_keys": {0: "batch", 1: "src"},
                 **{name: batch for name in state_names}}
    else:
        n = len(model.decoder)
        enc_names = [f"cross.{i}.{kv}" for i in range(n) for kv in ("key", "value")]
        state_names = [f"past.{i}.{kv}" for i in range(n) for kv in ("key", "value")]
        fixed = enc_names
        heads, d_head = model.config.heads, model.config.d_model // model.config.heads
        initial = {name: [heads, 0, d_head] for name in state_names}
        sizes = {**{name: {0: "batch", 2: "src"} for name in enc_names},
                 **{name: {0: "batch", 2: "past"} for name in state_names}}
    export_graph(encoder, (src_t, lengths_t), folder / ENCODER, input_names=["src", "src_lengths"],
                 output_names=enc_names, dynamic={"src": {0: "batch", 1: "src"}, "src_lengths": batch}, opset=opset)
    if rnn:
        nodes, layers = _fix_encoder(folder / ENCODER, TRACED_LENGTH), cast(nn.ModuleList, encoder.layers)
        if nodes != len(layers):
            raise SeqlabError(f"cannot export the rnn translator's encoder: expected {len(layers)} recurrent "
                              f"node(s) in the ONNX graph to give the source lengths to, found {nodes}")
    # the decoder's sample inputs: the encoder's outputs, a state a few steps in (a non-empty cache)
    mask = source_mask(lengths_t, src.shape[1])
    prev = torch.full((3,), SOS_ID, dtype=torch.long)
    if rnn:
        state = [*enc_out[2:], torch.zeros(3, model.config.hidden_size)]
        dec_args = (prev, mask, enc_out[0], enc_out[1], *state)
    else:
        state = [torch.randn(3, heads, 4, d_head) for _ in state_names]
        dec_args = (prev, mask, *enc_out, *state)
    dec_inputs = ["prev", "mask", *fixed, *state_names]
    present = [name.replace("past.", "present.", 1) for name in state_names]
    export_graph(decoder, dec_args, folder / DECODER, input_names=dec_inputs,
                 output_names=["log_probs", "attention", *present],
                 dynamic={"prev": batch, "mask": {0: "batch", 1: "src"}, **sizes}, opset=opset, variadic=True)
    from seqlab.modeldir import write_json

    write_json(folder / TEXT_FILE, predictor.toks.to_json())
    d = config.decoding
    return {"graphs": {"encoder": ENCODER, "decoder": DECODER},
            "settings": {"model": config.model_name, "encoder_outputs": enc_names, "fixed": fixed,
                         "state": state_names, "initial": initial,
                         "max_positions": None if rnn else model.config.max_positions,
                         "decoding": {"beam": d.beam, "length_penalty": d.length_penalty,
                                      "max_len_ratio": d.max_len_ratio, "max_len_extra": d.max_len_extra},
                         "languages": {"src": config.data.src, "tgt": config.data.tgt}}}


# ---------------------------------------------------------------------------- checks
def _lockstep(model: Any, runtime: Any, src: np.ndarray, lengths: np.ndarray, steps: int, figures: VerifyFigures,
              name: str) -> None:
    """Both decoders fed torch's greedy tokens step by step: their log-probs and attention compared at every step."""
    with torch.no_grad():
        state = model.encode(torch.from_numpy(src), torch.from_numpy(lengths))
        ort_state = runtime.encode(src, lengths)
        prev = torch.full((len(src),), SOS_ID, dtype=torch.long)
        real = np.arange(src.shape[1])[None, :] < np.maximum(lengths, 1)[:, None]
        for _ in range(steps):
            log_probs, attention, state = model.decode_step(state, prev)
            got_lp, got_att, ort_state = runtime.decode_step(ort_state, prev.numpy())
            figures.compare(name, "log_probs", log_probs.numpy(), got_lp)
            figures.compare(name, "attention", attention.float().numpy() * real, got_att * real)
            prev = log_probs.argmax(dim=-1)


def verify(predictor: Translator, runtime: Any) -> VerifyFigures:
    """ONNX Runtime against torch on the same sources, at batch sizes 1, 7 and 64 and source lengths 1, 8, 32 and
    the longest training source: decoder log-probs (and attention) within the tolerance along torch's greedy path,
    and greedy translations token-identical; then real sentences, greedy and beam, through ``translate``."""
    figures = VerifyFigures()
    model = predictor.model.eval()
    d = predictor.config.decoding
    longest = predictor.config.text.max_src_len
    for batch in VERIFY_BATCHES:
        for length in sorted({1, SHORT, LONG, longest}):
            src, lengths = _sample(predictor, batch, length)
            name = f"batch {batch}, length {length}"
            _lockstep(model, runtime, src, lengths, min(LOCKSTEP_STEPS, int(d.max_len_ratio * length
                                                                               + d.max_len_extra) + 1), figures, name)
            want = greedy_search(model, torch.from_numpy(src), torch.from_numpy(lengths), SOS_ID, EOS_ID,
                                 max_len_a=d.max_len_ratio, max_len_b=d.max_len_extra, pad_id=PAD_ID)
            runtime.check_length(lengths)
            got = greedy(runtime, src, lengths, SOS_ID, EOS_ID, max_len_a=d.max_len_ratio, max_len_b=d.max_len_extra,
                         pad_id=PAD_ID)
            wrong = sum(a != b for a, b in zip(want.best, got.best, strict=True))
            if wrong:
                figures.failures.append(f"{name}: {wrong} of {batch} greedy translations differ from torch's")
    texts = ["Ein Mann fährt Fahrrad.", "Zwei Hunde spielen im Schnee.", "", "Hallo"]
    for beam in (1, d.beam):
        want_texts = [r["translation"] for r in predictor.translate_detailed(texts, beam=beam)]
        got_texts = [r["translation"] for r in runtime.translate_detailed(texts, beam=beam)]
        if want_texts != got_texts:
            wrong = sum(a != b for a, b in zip(want_texts, got_texts, strict=True))
            figures.failures.append(f"sentences, beam {beam}: {wrong} of {len(texts)} translations differ from torch's")
    return figures


def quality(runtime: Any, predictor: Translator) -> dict[str, Any]:
    """Greedy BLEU/chrF on (the first QUALITY_LIMIT sentences of) the validation split training used."""
    from seqlab.data.parallel import load_train_valid
    from seqlab.tasks.translate.recipe import corpus_scores

    valid = load_train_valid(predictor.config.data)[1]
    n = min(len(valid), QUALITY_LIMIT)
    hyps = runtime.translate(valid.src[:n], beam=1, batch_size=64)
    scores = corpus_scores(hyps, valid.tgt[:n])
    return {"bleu": scores["bleu"], "chrf": scores["chrf"], "sentences": n, "of": len(valid), "beam": 1}
