"""Translation: parallel text -> subword ids -> encoder-decoder -> loss, validation BLEU, saving, search.

CPU (Multi30k German -> English)::

    SEQLAB_DATA=../shared/data seqlab train translate --data multi30k --src de --tgt en \\
        --model transformer --out runs/de-en --max-time 60 --precision bf16
    seqlab translate runs/de-en "Ein Mann mit einem orangefarbenen Hut." --beam 5 --attention att.html
    seqlab evaluate runs/de-en --data multi30k --split test_2016_flickr --beam 5

One GPU: add ``--device cuda --precision bf16``.

Text is tokenised once per (data, tokenizer settings) and cached; epochs only re-batch
the cached ids. Validation decodes the whole validation set greedily (batched) and
scores detokenised, cased output with sacreBLEU against the raw references.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from seqlab.data.batching import bucket_batches, pad_batch
from seqlab.data.parallel import ParallelTexts, load_train_valid
from seqlab.decode import Hypotheses, beam_search, greedy_search
from seqlab.errors import SeqlabError
from seqlab.inference import bucketed_map
from seqlab.metrics import perplexity
from seqlab.modeldir import save_model_dir
from seqlab.models.seq2seq import RNNSeq2Seq, RNNSeq2SeqConfig
from seqlab.models.transformer_seq2seq import TransformerSeq2Seq, TransformerSeq2SeqConfig
from seqlab.runtime import pick_device, to_device
from seqlab.tasks.common import cached_encoding, fit_task, resumed_json
from seqlab.tasks.translate.config import (  # noqa: F401  (re-exported)
    SCHEMA,
    TRANSLATOR_CONFIGS,
    DecodingConfig,
    ObjectiveConfig,
    TranslateConfig,
    TranslateTextConfig,
)
from seqlab.text.subword import EOS_ID, PAD_ID, SOS_ID, SubwordTokenizer
from seqlab.train import TrainableTask

TEXT_FILE = "text.json"
VALID_BATCH = 256  # sentence pairs per batch when scoring (a token budget caps it too)

# name -> (config class, model class); every model: Model(config, src_vocab_size, tgt_vocab_size, pad_id)
TRANSLATORS = {
    "transformer": (TransformerSeq2SeqConfig, TransformerSeq2Seq),
    "rnn": (RNNSeq2SeqConfig, RNNSeq2Seq),
}


# ---------------------------------------------------------------------------- tokenisation (cached)
@dataclass
class Tokenizers:
    src: SubwordTokenizer
    tgt: SubwordTokenizer
    joint: bool

    def to_json(self) -> dict[str, Any]:
        return {"joint": self.joint, "src": self.src.to_json(), "tgt": None if self.joint else self.tgt.to_json()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Tokenizers:
        src = SubwordTokenizer.from_json(data["src"])
        tgt = src if data.get("joint") else SubwordTokenizer.from_json(data["tgt"])
        return cls(src, tgt, bool(data.get("joint")))


def _train_tokenizers(train: ParallelTexts, cfg: TranslateTextConfig) -> Tokenizers:
    def fit(texts: list[str]) -> SubwordTokenizer:
        return SubwordTokenizer.train(texts, cfg.tokenizer, cfg.vocab_size, cfg.min_frequency)

    if cfg.joint_vocab:
        tok = fit(train.src + train.tgt)
        return Tokenizers(tok, tok, True)
    return Tokenizers(fit(train.src), fit(train.tgt), False)


def encode_splits(splits: dict[str, ParallelTexts], cfg: TranslateTextConfig,
                  fixed: dict[str, Any] | None = None) -> tuple[Tokenizers, dict[str, tuple[list, list]]]:
    """Train the tokenizer(s) on the training side (or use ``fixed``) and encode every split once (cached)."""
    key = {"kind": "translate-subword", "tokenizer": cfg.tokenizer, "vocab_size": cfg.vocab_size,
           "joint": cfg.joint_vocab, "min_frequency": cfg.min_frequency,
           "sources": {s: d.source for s, d in splits.items()},
           "fixed": hashlib.sha1(json.dumps(fixed, sort_keys=True).encode()).hexdigest() if fixed else None}

    def compute():
        toks = Tokenizers.from_json(fixed) if fixed else _train_tokenizers(splits["train"], cfg)
        named = {f"{split}.{side}": tok.encode_many(texts) for split, data in splits.items()
                 for side, tok, texts in (("src", toks.src, data.src), ("tgt", toks.tgt, data.tgt))}
        return named, toks.to_json()

    named, meta = cached_encoding(key, compute)
    toks = Tokenizers.from_json(meta)
    encoded = {split: (named[f"{split}.src"], named[f"{split}.tgt"]) for split in splits}
    return toks, encoded  # type: ignore[return-value]


# ---------------------------------------------------------------------------- model pieces shared by training and use
def build_model(config: TranslateConfig, toks: Tokenizers) -> torch.nn.Module:
    model_cls = TRANSLATORS[config.model_name][1]
    return model_cls(config.model, len(toks.src), len(toks.tgt), PAD_ID)


def target_pair(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Target ids -> decoder input ``<sos> y`` and output ``y <eos>``."""
    return np.concatenate([[SOS_ID], ids]), np.concatenate([ids, [EOS_ID]])


def teacher_forced_loss(model, src: list[np.ndarray], tgt: list[np.ndarray], device: torch.device,
                        max_tokens: int = 8192) -> tuple[float, int]:
    """Summed token cross-entropy (no smoothing) and the token count, ``<eos>`` included."""

    def run(batch: list[int]) -> list[tuple[float, int]]:  # (summed NLL, target tokens) per pair
        pairs = [target_pair(tgt[i]) for i in batch]
        s, s_len = pad_batch([src[i] for i in batch], PAD_ID)
        t_in, _ = pad_batch([p[0] for p in pairs], PAD_ID)
        t_out, _ = pad_batch([p[1] for p in pairs], PAD_ID)
        logits, _ = model(s.to(device), s_len.to(device), t_in.to(device))
        t_out = t_out.to(device)
        nll = F.cross_entropy(logits.float().flatten(0, 1), t_out.flatten(), ignore_index=PAD_ID,
                              reduction="none").view(t_out.shape).sum(1)  # (B,)
        return list(zip(nll.tolist(), t_out.ne(PAD_ID).sum(1).tolist(), strict=True))

    lengths = [max(len(s), len(t) + 1) for s, t in zip(src, tgt, strict=True)]
    results = bucketed_map(run, lengths, VALID_BATCH, max_tokens=max_tokens)
    return sum(n for n, _ in results), sum(c for _, c in results)


def search(model, src: list[np.ndarray], device: torch.device, *, beam: int = 1, nbest: int = 1,
           length_penalty: float = 0.6, max_len_ratio: float = 1.5, max_len_extra: float = 10,
           batch_size: int = 64, method: str = "auto") -> list[dict[str, Any]]:
    """Batched greedy/beam search; per sentence (input order) ``tokens``, ``scores``, ``normalized``, ``attention``.

    ``method`` "auto" uses greedy search for beam 1 (the same result, less work) and beam search otherwise.
    """
    use_greedy = method == "greedy" or (method == "auto" and beam == 1)

    def run(batch: list[int]) -> list[dict[str, Any]]:
        ids, lens = pad_batch([src[i] for i in batch], PAD_ID)
        ids, lens = ids.to(device), lens.to(device)
        if use_greedy:
            hyps: Hypotheses = greedy_search(model, ids, lens, SOS_ID, EOS_ID, max_len_a=max_len_ratio,
                                             max_len_b=max_len_extra, pad_id=PAD_ID)
        else:
            hyps = beam_search(model, ids, lens, SOS_ID, EOS_ID, beam_size=beam, length_penalty=length_penalty,
                               max_len_a=max_len_ratio, max_len_b=max_len_extra, nbest=min(nbest, beam),
                               pad_id=PAD_ID)
        return [{"tokens": hyps.tokens[row], "scores": hyps.scores[row], "normalized": hyps.normalized_scores[row],
                 "attention": hyps.attention[row]} for row in range(len(batch))]

    return bucketed_map(run, [len(s) for s in src], batch_size)


def corpus_scores(hypotheses: list[str], references: list[str]) -> dict[str, Any]:
    """sacreBLEU BLEU and chrF of detokenised, cased output against raw references, with signatures."""
    from sacrebleu.metrics import BLEU, CHRF

    bleu, chrf = BLEU(), CHRF()
    b, c = bleu.corpus_score(hypotheses, [references]), chrf.corpus_score(hypotheses, [references])
    return {"bleu": b.score, "chrf": c.score, "signature": str(bleu.get_signature()),
            "chrf_signature": str(chrf.get_signature())}


# ---------------------------------------------------------------------------- training task
class TranslateTask(TrainableTask):
    default_metric = "bleu"
    metric_modes = {"bleu": "max", "chrf": "max", "loss": "min", "perplexity": "min"}

    def __init__(self, config: TranslateConfig, log=print, fixed_tokenizers: dict[str, Any] | None = None) -> None:
        self.config, self.log = config, log
        if (config.model.capabilities().teacher_forcing is None
                and config.objective.tf_schedule != ObjectiveConfig.tf_schedule):
            raise SeqlabError(f"--tf-schedule applies to the rnn translator's scheduled teacher forcing; the "
                              f"{config.model_name} always trains on the gold previous words: leave it out")
        started = time.monotonic()
        train, valid = load_train_valid(config.data)
        self.toks, encoded = encode_splits({"train": train, "valid": valid}, config.text, fixed_tokenizers)
        t = config.text
        src, tgt = encoded["train"]
        keep = [i for i, (s, g) in enumerate(zip(src, tgt, strict=True))
                if 0 < len(s) <= t.max_src_len and 0 < len(g) <= t.max_tgt_len]
        self.src = {"train": [src[i] for i in keep], "valid": encoded["valid"][0]}
        self.tgt = {"train": [tgt[i] for i in keep], "valid": encoded["valid"][1]}
        self.references = valid.tgt
        self.stats = {"train_pairs": len(keep), "train_dropped_empty": train.dropped_empty,
                      "train_dropped_too_long": len(src) - len(keep), "valid_pairs": len(valid),
                      "valid_dropped_empty": valid.dropped_empty}
        if not keep:
            raise SeqlabError(f"no training pair is left after dropping those longer than {t.max_src_len}/"
                              f"{t.max_tgt_len} tokens; raise --max-src-len/--max-tgt-len")
        self.lengths = np.array([max(len(s), len(g) + 1) for s, g in zip(self.src["train"], self.tgt["train"],
                                                                          strict=True)])
        torch.manual_seed(config.train.seed)
        self.model: Any = build_model(config, self.toks)
        self.device = pick_device(config.train.device)
        self.teacher_forcing = 1.0
        n_params = sum(p.numel() for p in self.model.parameters())
        vocab = (f"joint {t.tokenizer} vocabulary {len(self.toks.src):,}" if self.toks.joint else
                 f"{t.tokenizer} vocabularies {len(self.toks.src):,} / {len(self.toks.tgt):,}")
        log(f"data: {config.data.src}->{config.data.tgt} {len(keep):,} train / {len(valid):,} valid pairs; "
            f"filtered from train: {train.dropped_empty:,} with an empty side, "
            f"{self.stats['train_dropped_too_long']:,} longer than {t.max_src_len}/{t.max_tgt_len} tokens; "
            f"{vocab}; prepared in {time.monotonic() - started:.1f}s")
        log(f"model: {config.model_name} with {n_params:,} parameters")

    # -- the TrainableTask interface
    def on_epoch_start(self, epoch: int) -> None:
        """Scheduled sampling (Bengio et al. 2015) for a model that trains with it: the gold-input ratio decays per
        epoch to the final one the model's config declares."""
        final = self.config.model.capabilities().teacher_forcing
        if final is None or final >= 1.0:
            return
        if self.config.objective.tf_schedule == "constant":
            self.teacher_forcing = final
        else:
            progress = (epoch - 1) / max(1, self.config.train.epochs - 1)
            self.teacher_forcing = 1.0 - (1.0 - final) * progress
        self.log(f"epoch {epoch}: teacher forcing {self.teacher_forcing:.3f}")

    def train_batches(self, generator: torch.Generator) -> list[list[int]]:
        t = self.config.train
        return bucket_batches(self.lengths, batch_size=t.batch_size, max_tokens=t.max_tokens, shuffle=True,
                              generator=generator)

    def loss(self, batch: list[int]) -> tuple[torch.Tensor, int]:
        pairs = [target_pair(self.tgt["train"][i]) for i in batch]
        src, src_len = pad_batch([self.src["train"][i] for i in batch], PAD_ID)
        t_in, _ = pad_batch([p[0] for p in pairs], PAD_ID)
        t_out, _ = pad_batch([p[1] for p in pairs], PAD_ID)
        t_out = to_device(t_out, self.device)
        logits, _ = self.model(to_device(src, self.device), to_device(src_len, self.device), to_device(t_in, self.device),
                               teacher_forcing=self.teacher_forcing)
        loss = F.cross_entropy(logits.float().flatten(0, 1), t_out.flatten(), ignore_index=PAD_ID,
                               label_smoothing=self.config.objective.label_smoothing)
        return loss, int(t_out.ne(PAD_ID).sum())

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        self.model.eval()
        total, count = teacher_forced_loss(self.model, self.src["valid"], self.tgt["valid"], self.device)
        loss = total / max(count, 1)
        metrics = {"loss": loss, "perplexity": perplexity(total, count)}
        if self.config.train.metric in (None, "bleu", "chrf"):
            d = self.config.decoding
            results = search(self.model, self.src["valid"], self.device, beam=1, max_len_ratio=d.max_len_ratio,
                             max_len_extra=d.max_len_extra, batch_size=128)
            hyps = [self.toks.tgt.decode(r["tokens"][0]) if r["tokens"] else "" for r in results]
            scores = corpus_scores(hyps, self.references)
            metrics = {"bleu": scores["bleu"], "chrf": scores["chrf"], **metrics}
        return metrics

    def save(self, out_dir: Path, metrics: dict[str, Any]) -> None:
        save_model_dir(out_dir, task="translate", config=SCHEMA.to_dict(self.config),
                       state_dict=self.model.state_dict(),
                       extras={"languages": {"src": self.config.data.src, "tgt": self.config.data.tgt},
                               "data_stats": self.stats},
                       json_files={TEXT_FILE: self.toks.to_json()}, metrics=metrics)


def train(config: TranslateConfig, out_dir: Path, *, resume: bool = False, log=print) -> dict[str, Any]:
    task = TranslateTask(config, log, fixed_tokenizers=resumed_json(out_dir, TEXT_FILE, resume))
    return fit_task(task, config, SCHEMA, out_dir, resume=resume, log=log)
