"""A loaded translator: translate sentences (greedy or beam search), attention maps, perplexity, evaluate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqlab.data.batching import pad_batch
from seqlab.data.parallel import (
    ParallelTexts,
    TranslateDataConfig,
    is_file_source,
    load_split,
    load_train_valid,
    read_whole,
)
from seqlab.data.splits import same_data, scored_part
from seqlab.decode import unk_replace
from seqlab.errors import SeqlabError
from seqlab.inference import Predictor, check_texts, masked_mean, pooled_vectors, timed, with_valid_metric
from seqlab.metrics import perplexity
from seqlab.modeldir import read_json
from seqlab.runtime import Timer
from seqlab.tasks.translate.recipe import (
    SCHEMA,
    TEXT_FILE,
    Tokenizers,
    TranslateConfig,
    build_model,
    corpus_scores,
    search,
    teacher_forced_loss,
)
from seqlab.tasks.translate.results import detailed_results
from seqlab.text.subword import PAD_ID, SOS_ID, SPACE, UNK_ID


# ---------------------------------------------------------------------------- use
class Translator(Predictor):
    """A loaded translation model: ``translate`` sentences, look at their attention, ``evaluate``."""

    task = "translate"
    schema = SCHEMA
    config: TranslateConfig

    def __init__(self, model_dir: Path, device: str = "cpu", precision: str = "fp32") -> None:
        super().__init__(model_dir, device, precision)
        self.toks = Tokenizers.from_json(read_json(self.model_dir, TEXT_FILE))
        self.model: Any = self.restore(build_model(self.config, self.toks))

    def _encode(self, texts: list[str], call: str = "translate()") -> tuple[list[np.ndarray], list[list[str]]]:
        pairs = [self.toks.src.encode_with_tokens(t.strip()) for t in check_texts(texts, call, "sentence")]
        return [np.asarray(ids, dtype=np.int64) for ids, _ in pairs], [toks for _, toks in pairs]

    def _detok(self, ids: list[int], attention: torch.Tensor, src_tokens: list[str], replace_unk: bool) -> str:
        if replace_unk and UNK_ID in ids:
            mixed = unk_replace([ids], [attention], [src_tokens], UNK_ID)[0]
            return self.toks.tgt.decode_tokens([t if isinstance(t, str) else self.toks.tgt.id_to_token(t)
                                                for t in mixed])
        return self.toks.tgt.decode(ids)

    @torch.no_grad()
    def translate_detailed(self, texts: list[str], *, beam: int | None = None, nbest: int = 1,
                           length_penalty: float | None = None, max_len_ratio: float | None = None,
                           replace_unk: bool = False, batch_size: int = 64,
                           method: str = "auto") -> list[dict[str, Any]]:
        """Per sentence: ``translation``, ``score`` (log P), ``normalized_score``, ``nbest`` (list of those),
        ``src_tokens``/``tgt_tokens`` (pieces) and ``attention`` ((target tokens, source tokens) list)."""
        d = self.config.decoding
        beam = d.beam if beam is None else beam
        if beam < 1 or not 1 <= nbest <= beam:
            raise SeqlabError(f"need --beam >= 1 and 1 <= --nbest <= --beam (got beam {beam}, nbest {nbest})")
        src, src_tokens = self._encode(texts)
        keep = [i for i, ids in enumerate(src) if len(ids)]  # an empty (or blank) source has an empty translation
        with self.autocast():
            found = search(self.model, [src[i] for i in keep], self.device, beam=beam, nbest=nbest,
                           length_penalty=d.length_penalty if length_penalty is None else length_penalty,
                           max_len_ratio=d.max_len_ratio if max_len_ratio is None else max_len_ratio,
                           max_len_extra=d.max_len_extra, batch_size=batch_size, method=method) if keep else []
        return detailed_results(dict(zip(keep, found, strict=True)), src_tokens,
                                lambda ids, att, src: self._detok(ids, att, src, replace_unk), self.toks.tgt.tokens)

    def translate(self, texts: list[str], *, beam: int | None = None, batch_size: int = 64,
                  **options: Any) -> list[str]:
        """Translations of ``texts``, in order (beam size from the model's config unless given)."""
        return [r["translation"] for r in self.translate_detailed(texts, beam=beam, batch_size=batch_size, **options)]

    @torch.no_grad()
    def attention_maps(self, text: str, tgt_ids: list[int]) -> tuple[list[str], list[str], np.ndarray]:
        """Teacher-forced cross-attention of a source and its translation, every layer and head:
        source pieces, target pieces (+ ``<eos>``), weights (layers, heads, T + 1, S)."""
        src, pieces = self._encode([text], "attention_maps()")
        src_tokens = pieces[0]
        ids = torch.as_tensor(src[0], dtype=torch.long).view(1, -1)
        if ids.size(1) == 0:
            ids = torch.full((1, 1), PAD_ID, dtype=torch.long)
            src_tokens = ["<pad>"]
        tgt_in = torch.tensor([[SOS_ID, *tgt_ids]], dtype=torch.long)
        maps = self.model.attention_maps(ids.to(self.device), torch.tensor([ids.size(1)], device=self.device),
                                         tgt_in.to(self.device))  # (1, L, h, T, S)
        return src_tokens, [*self.toks.tgt.tokens(tgt_ids), "<eos>"], maps[0].float().cpu().numpy()

    @torch.no_grad()
    def perplexity(self, sources: list[str], targets: list[str]) -> float:
        src, _ = self._encode(sources, "perplexity()")
        tgt = [np.asarray(ids, dtype=np.int64) for ids in self.toks.tgt.encode_many(check_texts(targets, "perplexity()"))]
        total, count = teacher_forced_loss(self.model, src, tgt, self.device)
        return perplexity(total, count)

    # -- vectors: the source side
    def _table(self) -> tuple[list[str], torch.Tensor]:
        """The source sub-word pieces (word-initial ones as the word, the rest as ``##piece``) and their rows."""
        return piece_names(self.toks.src), self.model.src_embed.weight

    def _embed(self, texts: list[str], batch_size: int) -> np.ndarray:
        src, _ = self._encode(texts, "embed()")

        def run(batch: list[int]) -> torch.Tensor:
            ids, lens = pad_batch([src[i] for i in batch], PAD_ID)
            memory, mask = self.model.encode_source(ids.to(self.device), lens.to(self.device))  # (B, S, D), (B, S)
            return masked_mean(memory, mask)

        return pooled_vectors([len(s) for s in src], run, batch_size, self.model.memory_size)


def piece_names(tokenizer: Any) -> list[str]:
    """A sub-word vocabulary as words a person looks up: ``▁dog`` (a word's start) as ``dog``, a piece inside a word
    as ``##og`` (the word-piece convention), so ``seqlab vectors MODEL_DIR --neighbours dog`` finds the word."""
    names = []
    for i in range(len(tokenizer)):
        piece = tokenizer.id_to_token(i)
        if piece.startswith("<") and piece.endswith(">"):  # <pad>, <unk>, ...: left as they are
            names.append(piece)
        elif piece.startswith(SPACE) and len(piece) > len(SPACE):
            names.append(piece[len(SPACE):])
        else:
            names.append(f"##{piece}")
    return names


def load(model_dir: Path, device: str = "cpu", precision: str = "fp32") -> Translator:
    return Translator(model_dir, device=device, precision=precision)


def eval_pairs(predictor: Translator, data: str, split: str, log=print) -> tuple[ParallelTexts, str]:
    """The pairs to score and the name of what they are. A file pair (``SRC,TGT``) or tsv is scored whole
    (``"whole"``) unless it is the model's own training data and ``split`` is train or valid: then exactly the
    part training used (the seeded carve-out, ``--valid-data``, ``--limit``). A dataset or folder gives its split.
    Scoring what training learnt from is said with a warning through ``log``."""
    cfg = predictor.config.data
    own = same_data(data, cfg.data)
    data_cfg = TranslateDataConfig(data=data, src=cfg.src, tgt=cfg.tgt, heldout=cfg.heldout, split_seed=cfg.split_seed,
                                   valid_data=cfg.valid_data if own else None, limit=cfg.limit if own else None)
    return scored_part(data, split, cfg.data, "pairs", train_valid=lambda: load_train_valid(data_cfg),
                       whole=(lambda: read_whole(data)) if is_file_source(data) else None,
                       split_of=lambda name: load_split(data_cfg, name), log=log)

def evaluate(predictor: Translator, *, data: str, split: str = "test", options: dict[str, Any] | None = None,
             log=print) -> dict[str, Any]:
    """BLEU/chrF (sacreBLEU, detokenised cased output vs raw references), perplexity, speed. A file pair or tsv is
    scored whole (see :func:`eval_pairs`); the report says what was scored: ``data``, ``split``, ``pairs``."""
    options = options or {}
    pairs, split = eval_pairs(predictor, data, split, log)
    beam = options.get("beam") or predictor.config.decoding.beam
    batch_size = min(options.get("batch_size") or 64, 256)
    predictor.translate(pairs.src[:2], beam=beam)  # warm-up: the first call pays one-time kernel set-up
    with Timer() as timer:
        hyps = predictor.translate(pairs.src, beam=beam, batch_size=batch_size)
    report = corpus_scores(hyps, pairs.tgt)
    report.update({"perplexity": predictor.perplexity(pairs.src, pairs.tgt), "data": data, "split": split,
                   "pairs": len(pairs), "dropped_empty": pairs.dropped_empty, "beam": beam})
    with_valid_metric(timed(report, timer, len(pairs), "sentences"), predictor, "perplexity")
    return report
