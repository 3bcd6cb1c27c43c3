"""A translator export run by ONNX Runtime, without torch: the encoder graph once per batch, the decoder-step graph
once per step, and greedy/beam search by :mod:`seqlab.search` (the code torch's search runs) over numpy arrays.

The same ``translate``/``translate_detailed``/``attention_maps``/``perplexity`` as
:class:`~seqlab.tasks.translate.predictor.Translator`. The decoder state is a dict of batch-first arrays named as
the decoder graph's inputs; a step replaces each ``past.*`` by the graph's ``present.*``, a beam reorder selects rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from seqlab.data.batching import bucketed_map, pad_arrays
from seqlab.errors import SeqlabError
from seqlab.export.format import read_export_json, session
from seqlab.export.runtime import ExportPredictor
from seqlab.metrics import perplexity
from seqlab.search import NUMPY, unk_replace
from seqlab.search import beam as beam_search
from seqlab.search import greedy as greedy_search
from seqlab.tasks.translate.results import detailed_results
from seqlab.text.subword import EOS_ID, PAD_ID, SOS_ID, UNK_ID, SubwordTokenizer
from seqlab.text.validity import check_texts

TEXT_FILE = "text.json"
PERPLEXITY_BATCH = 64  # sentence pairs per teacher-forced batch


class State(dict):
    """The decoder state of N rows: graph input name -> batch-first array."""

    def index_select(self, rows: np.ndarray) -> State:
        return State({name: value[rows] for name, value in self.items()})


class OnnxTranslator(ExportPredictor):
    """A loaded translator export: ``translate`` sentences (greedy or beam search), attention, perplexity."""

    task = "translate"

    def __init__(self, folder: Path, config: dict[str, Any], threads: int | None = None) -> None:
        super().__init__(folder, config)
        s = config["settings"]
        self.settings = s
        text = read_export_json(folder, TEXT_FILE)
        self.src_tok = SubwordTokenizer.from_json(text["src"])
        self.tgt_tok = self.src_tok if text.get("joint") else SubwordTokenizer.from_json(text["tgt"])
        self.decoding = s["decoding"]
        self.encoder = session(self.model_dir / config["graphs"]["encoder"], threads)
        self.decoder = session(self.model_dir / config["graphs"]["decoder"], threads)
        self._outputs = [o.name for o in self.decoder.get_outputs()]

    # -- the model, as seqlab.search sees it
    def encode(self, src: np.ndarray, src_lengths: np.ndarray) -> State:
        """src (B, S), src_lengths (B,) -> the decoder state before the first target token."""
        B, S = src.shape
        outputs = self.encoder.run(None, {"src": src.astype(np.int64), "src_lengths": src_lengths.astype(np.int64)})
        state = State(zip(self.settings["encoder_outputs"], outputs, strict=True))
        state["mask"] = np.arange(S)[None, :] < np.maximum(src_lengths, 1)[:, None]  # an empty source: one <pad>
        for name, tail in self.settings["initial"].items():
            state[name] = np.zeros((B, *tail), dtype=np.float32)
        return state

    def decode_step(self, state: State, prev: np.ndarray) -> tuple[np.ndarray, np.ndarray, State]:
        """prev (N,) -> log_probs (N, V), attention (N, S), the state one step on."""
        outputs = self.decoder.run(None, {"prev": prev.astype(np.int64), **state})
        named = dict(zip(self._outputs, outputs, strict=True))
        new = State(state)
        for name in self.settings["state"]:
            new[name] = named[name.replace("past.", "present.", 1)]
        return named["log_probs"], named["attention"], new

    def check_length(self, src_lengths: np.ndarray, max_len_ratio: float | None = None,
                     max_len_extra: float | None = None) -> None:
        """A Transformer's positions are a table of ``max_positions`` rows: refuse a search that would pass it."""
        table = self.settings.get("max_positions")
        if table is None or not len(src_lengths):
            return
        ratio = self.decoding["max_len_ratio"] if max_len_ratio is None else max_len_ratio
        extra = self.decoding["max_len_extra"] if max_len_extra is None else max_len_extra
        steps = int(np.floor(ratio * int(src_lengths.max()) + extra)) + 1
        if steps > table:
            raise SeqlabError(f"a source of {int(src_lengths.max())} tokens may need {steps} target positions; the "
                              f"exported Transformer has {table}: shorten it or lower --max-len-ratio")

    # -- use
    def _encode(self, texts: list[str], call: str = "translate()") -> tuple[list[np.ndarray], list[list[str]]]:
        pairs = [self.src_tok.encode_with_tokens(t.strip()) for t in check_texts(texts, call, "sentence")]
        return [np.asarray(ids, dtype=np.int64) for ids, _ in pairs], [toks for _, toks in pairs]

    def _detok(self, ids: list[int], attention: np.ndarray, src_tokens: list[str], replace_unk: bool) -> str:
        if replace_unk and UNK_ID in ids:
            mixed = unk_replace([ids], [attention], [src_tokens], UNK_ID)[0]
            return self.tgt_tok.decode_tokens([t if isinstance(t, str) else self.tgt_tok.id_to_token(t) for t in mixed])
        return self.tgt_tok.decode(ids)

    def search(self, src: list[np.ndarray], *, beam_size: int, nbest: int, length_penalty: float,
               max_len_ratio: float, max_len_extra: float, batch_size: int, method: str = "auto") -> list[dict]:
        """Batched greedy/beam search (as the torch recipe's ``search``): per sentence ``tokens``, ``scores``,
        ``normalized``, ``attention``, in input order."""
        use_greedy = method == "greedy" or (method == "auto" and beam_size == 1)

        def run(batch: list[int]) -> list[dict[str, Any]]:
            ids, lens = pad_arrays([src[i] for i in batch], PAD_ID)
            self.check_length(lens, max_len_ratio, max_len_extra)
            if use_greedy:
                hyps = greedy_search(self, ids, lens, SOS_ID, EOS_ID, max_len_a=max_len_ratio, max_len_b=max_len_extra,
                              pad_id=PAD_ID, ops=NUMPY)
            else:
                hyps = beam_search(self, ids, lens, SOS_ID, EOS_ID, beam_size=beam_size, length_penalty=length_penalty,
                            max_len_a=max_len_ratio, max_len_b=max_len_extra, nbest=min(nbest, beam_size),
                            pad_id=PAD_ID, ops=NUMPY)
            return [{"tokens": hyps.tokens[row], "scores": hyps.scores[row], "normalized": hyps.normalized_scores[row],
                     "attention": hyps.attention[row]} for row in range(len(batch))]

        return bucketed_map(run, [len(s) for s in src], batch_size)

    def translate_detailed(self, texts: list[str], *, beam: int | None = None, nbest: int = 1,
                           length_penalty: float | None = None, max_len_ratio: float | None = None,
                           replace_unk: bool = False, batch_size: int = 64,
                           method: str = "auto") -> list[dict[str, Any]]:
        """Per sentence: ``translation``, ``score``, ``normalized_score``, ``nbest``, ``src_tokens``/``tgt_tokens``
        and ``attention``, as the torch translator's."""
        d = self.decoding
        beam = d["beam"] if beam is None else beam
        if beam < 1 or not 1 <= nbest <= beam:
            raise SeqlabError(f"need --beam >= 1 and 1 <= --nbest <= --beam (got beam {beam}, nbest {nbest})")
        src, src_tokens = self._encode(texts)
        keep = [i for i, ids in enumerate(src) if len(ids)]  # an empty (or blank) source has an empty translation
        found = self.search([src[i] for i in keep], beam_size=beam, nbest=nbest,
                            length_penalty=d["length_penalty"] if length_penalty is None else length_penalty,
                            max_len_ratio=d["max_len_ratio"] if max_len_ratio is None else max_len_ratio,
                            max_len_extra=d["max_len_extra"], batch_size=batch_size, method=method) if keep else []
        return detailed_results(dict(zip(keep, found, strict=True)), src_tokens,
                                lambda ids, att, src: self._detok(ids, att, src, replace_unk), self.tgt_tok.tokens)

    def translate(self, texts: list[str], *, beam: int | None = None, batch_size: int = 64,
                  **options: Any) -> list[str]:
        """Translations of ``texts``, in order (beam size from the model's config unless given)."""
        return [r["translation"] for r in self.translate_detailed(texts, beam=beam, batch_size=batch_size, **options)]

    def _teacher_forced(self, src: np.ndarray, lengths: np.ndarray, tgt_in: np.ndarray) -> tuple[np.ndarray, ...]:
        """Decoder steps fed ``tgt_in`` (B, T): log-probs (B, T, V) and attention (B, T, S)."""
        state = self.encode(src, lengths)
        log_probs, attention = [], []
        for t in range(tgt_in.shape[1]):
            lp, att, state = self.decode_step(state, tgt_in[:, t])
            log_probs.append(lp)
            attention.append(att)
        return np.stack(log_probs, axis=1), np.stack(attention, axis=1)

    def attention_maps(self, text: str, tgt_ids: list[int]) -> tuple[list[str], list[str], np.ndarray]:
        """Teacher-forced cross-attention of a source and its translation: source pieces, target pieces
        (+ ``<eos>``), weights (1, 1, T + 1, S). The export keeps the attention its search records (the rnn's
        weights; the Transformer's last layer averaged over heads): every layer and head need the model directory."""
        src, pieces = self._encode([text], "attention_maps()")
        ids, src_tokens = src[0], pieces[0]
        if not len(ids):
            ids, src_tokens = np.array([PAD_ID], dtype=np.int64), ["<pad>"]
        tgt_in = np.array([[SOS_ID, *tgt_ids]], dtype=np.int64)
        _, attention = self._teacher_forced(ids[None, :], np.array([len(ids)]), tgt_in)
        return src_tokens, [*self.tgt_tok.tokens(tgt_ids), "<eos>"], attention[:, None, None][0]

    def perplexity(self, sources: list[str], targets: list[str]) -> float:
        """Teacher-forced perplexity of the targets given the sources (``<eos>`` scored, no smoothing)."""
        src, _ = self._encode(sources, "perplexity()")
        tgt = [np.asarray(ids, dtype=np.int64) for ids in self.tgt_tok.encode_many(check_texts(targets, "perplexity()"))]

        def run(batch: list[int]) -> list[tuple[float, int]]:
            s, s_len = pad_arrays([src[i] for i in batch], PAD_ID)
            t_in, _ = pad_arrays([np.concatenate([[SOS_ID], tgt[i]]) for i in batch], PAD_ID)
            t_out, _ = pad_arrays([np.concatenate([tgt[i], [EOS_ID]]) for i in batch], PAD_ID)
            log_probs, _ = self._teacher_forced(s, s_len, t_in)  # (B, T, V)
            nll = -np.take_along_axis(log_probs, t_out[..., None], axis=2)[..., 0].astype(np.float64)  # (B, T)
            real = t_out != PAD_ID
            return list(zip((nll * real).sum(1).tolist(), real.sum(1).tolist(), strict=True))

        lengths = [max(len(s), len(t) + 1) for s, t in zip(src, tgt, strict=True)]
        results = bucketed_map(run, lengths, PERPLEXITY_BATCH)
        total, count = sum(n for n, _ in results), sum(c for _, c in results)
        return perplexity(total, count)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "languages": self.settings["languages"]}


def load(folder: Path, config: dict[str, Any], threads: int | None = None) -> OnnxTranslator:
    return OnnxTranslator(folder, config, threads)
