"""Text classification: data -> pipeline -> model -> loss, validation, saving, prediction.

Binary tasks use one logit and BCE-with-logits; multi-class tasks use
cross-entropy over one logit per class. Text is tokenised once per
(data, settings) and cached; epochs only re-batch the cached ids.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F

from seqlab.config import TaskConfigSchema
from seqlab.data.batching import bucket_batches, pad_batch
from seqlab.data.cache import cached_arrays, from_ragged, to_ragged
from seqlab.data.classification import ClassifyDataConfig, LabelledTexts, check_labels, load_split, load_train_valid
from seqlab.errors import SeqlabError
from seqlab.metrics import classification_report
from seqlab.modeldir import load_weights, read_json, read_model_config, save_model_dir
from seqlab.models import CLASSIFIER_RECIPES, CLASSIFIERS
from seqlab.models.base import ClassifierModel
from seqlab.models.pretrained import HFTextPipeline, load_hf_tokenizer
from seqlab.tasks import classify_commands
from seqlab.tasks.base import TaskSpec, register_task
from seqlab.tasks.common import fit_task
from seqlab.text.pipeline import TextConfig, TextPipeline, truncate
from seqlab.text.vocab import PAD, UNK, Vocab
from seqlab.train import TrainableTask, TrainConfig, autocast_context, effective_precision, intra_op_threads, pick_device

TEXT_FILE = "text.json"
HF_FOLDER = "hf"
PAD_MULTIPLE = 8  # batch widths rounded up to a multiple of 8: fewer kernel shapes to cache
ENCODE_CHUNK = 1024  # texts a prediction worker encodes at a time


@dataclass
class VectorsConfig:
    embeddings: str | None = field(default=None, metadata={
        "help": "initialise word embeddings from pretrained vectors: glove-6b-50d or a .txt/.vec file"})
    freeze_embeddings: bool = field(default=False, metadata={"help": "keep the pretrained embeddings fixed"})


@dataclass
class ClassifyConfig:
    data: ClassifyDataConfig = field(default_factory=ClassifyDataConfig)
    text: TextConfig = field(default_factory=TextConfig)
    vectors: VectorsConfig = field(default_factory=VectorsConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    model_name: str = "bag"  # the fastest to train and the most accurate on IMDB here (benchmarks/RESULTS.md)
    model: Any = None


SCHEMA = TaskConfigSchema(ClassifyConfig, {name: cfg for name, (cfg, _) in CLASSIFIERS.items()}, CLASSIFIER_RECIPES)


# ---------------------------------------------------------------------------- encoding
def _encode_words(texts_by_split: dict[str, LabelledTexts], config: TextConfig,
                  pipeline_factory) -> tuple[TextPipeline, dict[str, list[np.ndarray]]]:
    """Tokenise every split once (cached), then apply the vocabulary cut-offs and truncation.

    The cache stores ids under a *full* frequency-ranked vocabulary, so changing
    ``min_freq``/``max_vocab`` re-uses it: ids past the cut simply become ``<unk>``.
    """
    specials = (PAD, UNK)
    key = {"kind": "classify-words", "version": 2, "text": config.cache_key(),
           "sources": {s: d.source for s, d in texts_by_split.items()}}

    def compute():
        pipe = pipeline_factory()
        cleaned = {s: [pipe.clean(t) for t in d.texts] for s, d in texts_by_split.items()}
        pipe.tokenizer.fit(cleaned["train"])
        tokens = {s: pipe.tokenizer.tokenize_many(c) for s, c in cleaned.items()}
        counts = Counter(tok for toks in tokens["train"] for tok in toks)
        ranked = sorted((t for t in counts if t not in specials), key=lambda t: (-counts[t], t))
        unseen = sorted({t for s, ts in tokens.items() if s != "train" for toks in ts for t in toks} - set(counts))
        itos = [*specials, *ranked, *unseen]
        stoi = {t: i for i, t in enumerate(itos)}
        arrays = {}
        for split, toks in tokens.items():
            ragged = to_ragged([[stoi[t] for t in doc] for doc in toks])
            arrays[f"{split}.ids"], arrays[f"{split}.offsets"] = ragged["ids"], ragged["offsets"]
        return arrays, {"itos": itos, "counts": [counts.get(t, 0) for t in itos],
                        "tokenizer": pipe.tokenizer.to_json()}

    arrays, meta = cached_arrays(key, compute)
    from seqlab.text.tokenizers import tokenizer_from_json

    counts = np.asarray(meta["counts"])
    keep = len(specials) + int((counts[len(specials):] >= config.min_freq).sum())  # ranked, so a prefix
    if config.max_vocab is not None:
        keep = min(keep, config.max_vocab)
    vocab = Vocab(meta["itos"][:keep], list(specials))
    pipeline = TextPipeline(config, tokenizer_from_json(meta["tokenizer"]), vocab)
    encoded = {}
    for split in texts_by_split:
        ids = arrays[f"{split}.ids"].astype(np.int64)
        ids[ids >= keep] = vocab.unk_id
        encoded[split] = [np.asarray(truncate(doc, config.max_len, config.truncate))
                          for doc in from_ragged(ids, arrays[f"{split}.offsets"])]
    return pipeline, encoded


def _encode_hf(texts_by_split: dict[str, LabelledTexts], pipeline: HFTextPipeline,
               encoder: str) -> dict[str, list[np.ndarray]]:
    key = {"kind": "classify-hf", "encoder": encoder, "max_len": pipeline.max_len,
           "sources": {s: d.source for s, d in texts_by_split.items()}}

    def compute():
        arrays = {}
        for split, data in texts_by_split.items():
            ragged = to_ragged(pipeline.encode_many(data.texts))
            arrays[f"{split}.ids"], arrays[f"{split}.offsets"] = ragged["ids"], ragged["offsets"]
        return arrays, {}

    arrays, _ = cached_arrays(key, compute)
    return {s: [d.astype(np.int64) for d in from_ragged(arrays[f"{s}.ids"], arrays[f"{s}.offsets"])]
            for s in texts_by_split}


def _model_inputs(featurizer: Any, docs: list[np.ndarray]) -> list[np.ndarray]:
    """A model that reads more than word ids (a bag's hashed n-grams) derives them once here, not per epoch."""
    return featurizer(docs) if featurizer is not None else docs


def encode_for_model(pipeline: Any, featurizer: Any, texts: list[str],
                     with_tokens: bool) -> tuple[list[np.ndarray], list[list[str]] | None]:
    """Texts -> the model's input arrays (and the tokens, for explanations): all the work before the model."""
    if with_tokens:
        ids, tokens = pipeline.encode_many(texts, with_tokens=True)
    else:
        ids, tokens = pipeline.encode_many(texts), None
    return _model_inputs(featurizer, [np.asarray(i, dtype=np.int64) for i in ids]), tokens


class _EncodedChunks(torch.utils.data.Dataset):
    """Consecutive chunks of texts, encoded by :func:`encode_for_model` in DataLoader worker processes."""

    def __init__(self, pipeline: Any, featurizer: Any, texts: list[str], with_tokens: bool) -> None:
        self.pipeline, self.featurizer, self.texts, self.with_tokens = pipeline, featurizer, texts, with_tokens

    def __len__(self) -> int:
        return -(-len(self.texts) // ENCODE_CHUNK)

    def __getitem__(self, index: int):
        part = self.texts[index * ENCODE_CHUNK: (index + 1) * ENCODE_CHUNK]
        return encode_for_model(self.pipeline, self.featurizer, part, self.with_tokens)


def _as_is(item):
    return item


# ---------------------------------------------------------------------------- model building
def build_model(config: ClassifyConfig, vocab_size: int, num_outputs: int, pad_id: int,
                hf_config_dir: str | None = None) -> ClassifierModel:
    model_cls = CLASSIFIERS[config.model_name][1]
    if config.model_name == "pretrained":
        return model_cls(config.model, vocab_size, num_outputs, pad_id, hf_config_dir=hf_config_dir)
    return model_cls(config.model, vocab_size, num_outputs, pad_id)


def _prepare_vectors(config: ClassifyConfig, log) -> None:
    """Match the embedding size to the pretrained vectors when the user did not set it, or say why it cannot."""
    source = config.vectors.embeddings
    if not source:
        return
    if config.model_name == "pretrained":
        raise SeqlabError("--embeddings does not apply to --model pretrained (it has its own)")
    if config.model_name == "bag" and config.model.weighting == "nb":
        raise SeqlabError("--embeddings does not apply to --model bag --weighting nb (a linear model over n-gram "
                          "features has no word vectors); drop --embeddings or use --weighting mean")
    from seqlab.models.embeddings import vector_dim

    dim = vector_dim(source)
    size_field = "d_model" if hasattr(config.model, "d_model") else "emb_size"
    heads = getattr(config.model, "heads", 1)
    if getattr(config.model, size_field) != dim:
        if dim % heads:
            raise SeqlabError(f"{source} has {dim}-dimensional vectors, which {heads} attention heads do not divide; "
                              f"add --heads with a divisor of {dim} (e.g. --heads {_divisor(dim, heads)})")
        log(f"setting {size_field} to {dim} to match {source}")
        config.model = dataclasses.replace(config.model, **{size_field: dim})


def _divisor(n: int, near: int) -> int:
    return min((d for d in range(1, n + 1) if n % d == 0), key=lambda d: abs(d - near))


def num_outputs(labels: list[str]) -> int:
    return 1 if len(labels) == 2 else len(labels)


def classification_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    if logits.size(-1) == 1:
        return F.binary_cross_entropy_with_logits(logits.squeeze(-1).float(), targets.float())
    return F.cross_entropy(logits.float(), targets)


def probabilities(logits: torch.Tensor) -> torch.Tensor:
    """``(B, C)`` class probabilities for either head shape."""
    logits = logits.float()
    if logits.size(-1) == 1:
        p = torch.sigmoid(logits)
        return torch.cat([1 - p, p], dim=-1)
    return torch.softmax(logits, dim=-1)


# ---------------------------------------------------------------------------- training task
class ClassifyTask(TrainableTask):
    default_metric = "accuracy"
    metric_modes = {"accuracy": "max", "macro_f1": "max", "loss": "min"}

    def __init__(self, config: ClassifyConfig, log=print) -> None:
        self.config, self.log = config, log
        config.text.validate()
        started = time.monotonic()
        train, valid = load_train_valid(config.data)
        self.labels = check_labels(train)
        label_index = {lab: i for i, lab in enumerate(self.labels)}
        unknown = sorted(set(valid.labels) - set(label_index))
        if unknown:
            raise SeqlabError(f"validation data has labels not seen in training: {', '.join(unknown[:5])}")
        splits = {"train": train, "valid": valid}
        if config.model_name == "pretrained":
            tokenizer = load_hf_tokenizer(config.model.encoder)
            self.pipeline: Any = HFTextPipeline(tokenizer, config.text.max_len)
            encoded = _encode_hf(splits, self.pipeline, config.model.encoder)
            vocab_size, pad_id = len(tokenizer), self.pipeline.pad_id
        else:
            self.pipeline, encoded = _encode_words(splits, config.text,
                                                   lambda: TextPipeline(config.text, TextPipeline.new_tokenizer(config.text),
                                                                        Vocab([PAD, UNK], [PAD, UNK])))
            vocab_size, pad_id = len(self.pipeline.vocab), self.pipeline.vocab.pad_id
        self.pad_id = pad_id
        _prepare_vectors(config, log)
        torch.manual_seed(config.train.seed)
        self.model: ClassifierModel = build_model(config, vocab_size, num_outputs(self.labels), pad_id)
        self.coverage = None
        if config.vectors.embeddings:
            from seqlab.models.embeddings import init_embedding

            weight = cast(torch.nn.Embedding, self.model.input_embedding()).weight
            self.coverage = init_embedding(weight, self.pipeline.vocab.itos, config.vectors.embeddings, {PAD, UNK})
            weight.requires_grad_(not config.vectors.freeze_embeddings)
            log(f"embeddings: {self.coverage['found']:,} of {self.coverage['vocab']:,} vocabulary words found in "
                f"{config.vectors.embeddings} ({self.coverage['coverage']:.1%})")
        self.inputs, self.targets, self.stats = {}, {}, {}
        for split, data in splits.items():
            keep = [i for i, doc in enumerate(encoded[split]) if len(doc) > 0]
            self.stats[f"{split}_empty_dropped"] = len(data) - len(keep)
            docs = [encoded[split][i] for i in keep]
            self.stats[f"{split}_examples"] = len(docs)
            self.inputs[split] = _model_inputs(self.model.featurizer, docs)
            self.targets[split] = torch.tensor([label_index[data.labels[i]] for i in keep], dtype=torch.long)
        if not self.inputs["train"]:
            raise SeqlabError("every training text is empty after cleaning and tokenisation")
        self.model.fit_statistics(self.inputs["train"], self.targets["train"])  # e.g. an nb-weighted bag's ratios
        truncated = sum(1 for d in encoded["train"] if len(d) >= config.text.max_len)
        self.stats["train_truncated_at_max_len"] = truncated
        self.lengths = {s: np.array([len(d) for d in docs]) for s, docs in self.inputs.items()}
        n_params = sum(p.numel() for p in self.model.parameters())
        log(f"data: {len(self.inputs['train']):,} train / {len(self.inputs['valid']):,} valid examples, "
            f"{len(self.labels)} classes ({', '.join(self.labels[:10])}); vocabulary {vocab_size:,}; "
            f"{truncated:,} training texts truncated to {config.text.max_len} tokens; "
            f"{self.stats['train_empty_dropped']} empty dropped; prepared in {time.monotonic() - started:.1f}s")
        log(f"model: {config.model_name} with {n_params:,} parameters")
        self.device = pick_device(config.train.device)

    # -- the TrainableTask interface
    def train_batches(self, generator: torch.Generator) -> list[list[int]]:
        t = self.config.train
        return bucket_batches(self.lengths["train"], batch_size=t.batch_size, max_tokens=t.max_tokens,
                              shuffle=True, generator=generator)

    def _tensors(self, split: str, batch: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        ids, lengths = pad_batch([self.inputs[split][i] for i in batch], self.pad_id, multiple=PAD_MULTIPLE)
        return ids.to(self.device), lengths.to(self.device), self.targets[split][batch].to(self.device)

    def loss(self, batch: list[int]) -> tuple[torch.Tensor, int]:
        ids, lengths, targets = self._tensors("train", batch)
        return classification_loss(self.model(ids, lengths).logits, targets), len(batch)

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        self.model.eval()
        preds, total, count = [], 0.0, 0
        order = []
        for batch in bucket_batches(self.lengths["valid"], batch_size=256):
            ids, lengths, targets = self._tensors("valid", batch)
            logits = self.model(ids, lengths).logits
            total += classification_loss(logits, targets).item() * len(batch)
            count += len(batch)
            preds.append(probabilities(logits).argmax(-1).cpu())
            order.extend(batch)
        pred = torch.empty(count, dtype=torch.long)
        pred[torch.tensor(order)] = torch.cat(preds)
        report = classification_report(self.targets["valid"].tolist(), pred.tolist(), self.labels)
        return {"accuracy": report["accuracy"], "macro_f1": report["macro_f1"], "loss": total / max(1, count)}

    def save(self, out_dir: Path, metrics: dict[str, Any]) -> None:
        json_files = {}
        if isinstance(self.pipeline, TextPipeline):
            json_files[TEXT_FILE] = self.pipeline.to_json()
        else:
            folder = Path(out_dir) / HF_FOLDER
            self.pipeline.tokenizer.save_pretrained(str(folder))
            cast(Any, self.model).save_encoder_files(folder)  # a pretrained encoder's own files
        save_model_dir(out_dir, task="classify", config=SCHEMA.to_dict(self.config),
                       state_dict=self.model.state_dict(),
                       extras={"labels": self.labels, "embeddings": self.coverage, "data_stats": self.stats},
                       json_files=json_files, metrics=metrics)


def train(config: ClassifyConfig, out_dir: Path, *, resume: bool = False, log=print) -> dict[str, Any]:
    return fit_task(ClassifyTask(config, log), config, SCHEMA, out_dir, resume=resume, log=log)


# ---------------------------------------------------------------------------- prediction
class Classifier:
    """A loaded classification model: ``predict`` texts, ``explain`` them, ``evaluate`` on data."""

    task = "classify"

    def __init__(self, model_dir: Path, device: str = "cpu", precision: str = "fp32") -> None:
        """``precision="bf16"`` autocasts inference (about 2x faster for an LSTM on an AVX-512 BF16 CPU; on a CPU
        without hardware bf16 it would be emulated and much slower, so it runs fp32 there, with a warning)."""
        self.model_dir = Path(model_dir)
        self.device = torch.device(device)
        self.precision = effective_precision(self.device, precision, log=_warn)
        meta = read_model_config(model_dir, expect_task="classify")
        self.config: ClassifyConfig = SCHEMA.from_dict(meta["config"])
        self.labels: list[str] = meta["labels"]
        if self.config.model_name == "pretrained":
            folder = self.model_dir / HF_FOLDER
            self.pipeline: Any = HFTextPipeline(load_hf_tokenizer(str(folder)), self.config.text.max_len)
            vocab_size, self.pad_id = len(self.pipeline.tokenizer), self.pipeline.pad_id
            self.model: Any = build_model(self.config, vocab_size, num_outputs(self.labels), self.pad_id, str(folder))
        else:
            self.pipeline = TextPipeline.from_json(read_json(self.model_dir, TEXT_FILE))
            vocab_size, self.pad_id = len(self.pipeline.vocab), self.pipeline.vocab.pad_id
            self.model = build_model(self.config, vocab_size, num_outputs(self.labels), self.pad_id)
        self.vocab_size = vocab_size
        load_weights(self.model_dir, self.model)
        self.model.to(self.device).eval()

    def _workers(self, requested: int | None, count: int) -> int:
        """Encoding processes: as asked; by default all cores (at most 4) for a model whose cost is in
        reading the text (a bag), on inputs of several chunks; else none (encoding in this process)."""
        if count < 2 * ENCODE_CHUNK:
            return 0
        if requested is None:
            return min(4, os.cpu_count() or 1) if self.model.encode_bound else 0
        return max(0, requested)

    def _encoded(self, texts: list[str], with_tokens: bool, workers: int):
        """``(first index, model inputs, tokens)`` for consecutive parts of ``texts``.

        With workers, chunks are encoded in other processes (Python's tokenisation holds the
        GIL) while this one runs the model on the chunks already done.
        """
        featurizer = self.model.featurizer
        if workers < 1:
            yield 0, *encode_for_model(self.pipeline, featurizer, list(texts), with_tokens)
            return
        chunks = _EncodedChunks(self.pipeline, featurizer, list(texts), with_tokens)
        loader = torch.utils.data.DataLoader(chunks, batch_size=None, num_workers=workers, collate_fn=_as_is)
        for index, (docs, tokens) in enumerate(loader):
            yield index * ENCODE_CHUNK, docs, tokens

    @torch.no_grad()
    def _run(self, texts: list[str], batch_size: int, with_tokens: bool = False, workers: int | None = None):
        if not isinstance(texts, (list, tuple)) or not all(isinstance(t, str) for t in texts):
            raise SeqlabError("predict() takes a list of strings (one text: wrap it in a list)")
        probs = torch.empty(len(texts), len(self.labels))
        attention: list = [None] * len(texts)
        all_tokens: list[list[str]] = []
        workers = self._workers(workers, len(texts))
        # one intra-op thread while workers keep the cores busy (OpenMP threads would spin against them), and
        # for a bag, whose gathers gain nothing from threads (IMDB, 2 cores, 2 workers: 5,745 reviews/s with
        # 1 thread, 4,951 with 2; no workers: 4,219 with 1 thread, 3,812 with 2)
        one_thread = workers >= 1 or self.model.encode_bound
        with intra_op_threads(1) if one_thread else contextlib.nullcontext():
            for first, docs, tokens in self._encoded(texts, with_tokens, workers):
                self._score(first, docs, tokens, batch_size, probs, attention)
                all_tokens.extend(tokens or [])
        return probs, attention, all_tokens if with_tokens else None

    def _score(self, first: int, docs: list[np.ndarray], tokens: list[list[str]] | None, batch_size: int,
               probs: torch.Tensor, attention: list) -> None:
        """Run the model on encoded texts ``first, first + 1, ...``; fill their rows of ``probs``/``attention``."""
        lengths = np.array([len(d) for d in docs])
        for batch in bucket_batches(lengths, batch_size=batch_size):
            ids, lens = pad_batch([docs[i] for i in batch], self.pad_id, multiple=PAD_MULTIPLE)
            with autocast_context(self.device, self.precision):
                out = self.model(ids.to(self.device), lens.to(self.device))
            p = probabilities(out.logits).cpu()
            if lens.eq(0).any():  # an empty text carries no evidence: the label prior is unknown, say so
                p[lens.eq(0)] = 1.0 / len(self.labels)
            probs[torch.tensor(batch) + first] = p
            if out.attention is not None and tokens is not None:
                for row, i in enumerate(batch):
                    attention[first + i] = out.attention[row, : len(tokens[i])].float().cpu().tolist()

    def predict(self, texts: list[str], batch_size: int = 64, workers: int | None = None) -> list[dict[str, Any]]:
        """One ``{"label", "confidence", "probabilities"}`` per text, in input order.

        Empty or whitespace-only texts are defined: uniform probabilities, the first label.
        ``workers``: processes that tokenise in parallel on large inputs (0: none; default: all cores
        for bag models, whose speed is the tokeniser's, none for the others).
        """
        probs, _, _ = self._run(texts, batch_size, workers=workers)
        best = probs.argmax(-1).tolist()
        return [{"label": self.labels[b], "confidence": p[b], "probabilities": dict(zip(self.labels, p, strict=True))}
                for p, b in zip(probs.tolist(), best, strict=True)]

    def explain(self, texts: list[str], batch_size: int = 64, workers: int | None = None) -> list[dict[str, Any]]:
        """Predictions plus why: ``contributions`` (word or n-gram, signed score for the predicted label),
        ``token_scores`` (one per token, in order), ``method`` ("linear": exact, the scores and ``bias`` sum to
        ``logit``; "integrated gradients" otherwise), and ``attention`` weights where the model pools with attention."""
        from seqlab.tasks.classify_explain import bag_contributions, integrated_gradients

        probs, attention, tokens = self._run(texts, batch_size, with_tokens=True, workers=workers)
        out = []
        binary = len(self.labels) == 2  # one logit, for the second label
        for i, p in enumerate(probs):
            b = int(p.argmax())
            column, sign = (0, 1.0 if b == 1 else -1.0) if binary else (b, 1.0)
            result: dict[str, Any] = {"label": self.labels[b], "confidence": float(p[b]), "tokens": tokens[i],
                                      "attention": attention[i]}
            ids = np.asarray(self.pipeline.encode_many([texts[i]])[0], dtype=np.int64)
            if self.model.explanation == "linear":
                items, per_token, bias = bag_contributions(self.model, ids, tokens[i], column)
                result.update(method="linear", bias=sign * bias, logit=sign * (bias + sum(s for _, s in items)),
                              contributions=[(t, sign * s) for t, s in items],
                              token_scores=[(t, sign * s) for t, s in per_token])
            elif len(ids):
                x = torch.as_tensor(ids)[None].to(self.device)
                scores = integrated_gradients(self.model, x, torch.tensor([len(ids)], device=self.device),
                                              column).tolist()
                pairs = [(t, sign * s) for t, s in zip(tokens[i], scores, strict=False)]
                result.update(method="integrated gradients", contributions=pairs, token_scores=pairs)
            else:
                result.update(method="integrated gradients", contributions=[], token_scores=[])
            out.append(result)
        return out

    @property
    def has_attention(self) -> bool:
        return getattr(self.config.model, "pooling", "") == "attention"


def _warn(message: str) -> None:
    print(f"seqlab: {message}", file=sys.stderr)


def load(model_dir: Path, device: str = "cpu", precision: str = "fp32") -> Classifier:
    return Classifier(model_dir, device=device, precision=precision)


def parse_label_map(text: str | None) -> dict[str, str]:
    """``"0=neg,1=pos"`` -> {"0": "neg", "1": "pos"}."""
    if not text:
        return {}
    pairs = [item.split("=", 1) for item in text.split(",") if item.strip()]
    if any(len(p) != 2 or not p[0].strip() or not p[1].strip() for p in pairs):
        raise SeqlabError(f"--label-map {text!r}: write DATA_LABEL=MODEL_LABEL pairs, e.g. 0=neg,1=pos")
    return {a.strip(): b.strip() for a, b in pairs}


def evaluate(predictor: Classifier, *, data: str, split: str = "test", options: dict[str, Any] | None = None,
             log=print) -> dict[str, Any]:
    options = options or {}
    cfg = predictor.config.data
    # the validation carve-out is rebuilt with the fraction and seed it was made with
    data_cfg = ClassifyDataConfig(data=data, text_column=options.get("text_column") or cfg.text_column,
                                  label_column=options.get("label_column") or cfg.label_column,
                                  valid_fraction=cfg.valid_fraction, split_seed=cfg.split_seed,
                                  valid_data=cfg.valid_data if data == cfg.data else None)
    if split == "valid" and data == cfg.data:
        examples = load_train_valid(data_cfg)[1]  # the very validation split training used
    elif Path(data).expanduser().is_file():
        examples = load_split(data_cfg, "train")  # a file handed over is evaluated whole, whatever --split says
        split = Path(data).name
    else:
        examples = load_split(data_cfg, split)
    label_map = parse_label_map(options.get("label_map"))
    if label_map:
        examples = LabelledTexts(examples.texts, [label_map.get(lab, lab) for lab in examples.labels], examples.source)
    unknown = sorted(set(examples.labels) - set(predictor.labels))
    if unknown:
        raise SeqlabError(f"{data} ({split}) has labels the model does not know: {', '.join(unknown[:5])} "
                          f"(model labels: {', '.join(predictor.labels)}); if they only differ in name, map them "
                          f"with --label-map {','.join(f'{u}={m}' for u, m in zip(unknown, predictor.labels, strict=False))}")
    started = time.monotonic()
    predictions = predictor.predict(examples.texts, batch_size=options.get("batch_size") or 256,
                                    workers=options.get("workers"))
    seconds = time.monotonic() - started
    index = {lab: i for i, lab in enumerate(predictor.labels)}
    report = classification_report([index[g] for g in examples.labels], [index[p["label"]] for p in predictions],
                                   predictor.labels)
    report.update({"data": data, "split": split, "seconds": seconds, "examples_per_s": len(examples) / max(seconds, 1e-9)})
    from seqlab.plots import confusion_matrix

    png = Path(options.get("confusion") or predictor.model_dir / f"confusion-{split}.png")
    confusion_matrix(report["confusion"], report["labels"], png)
    report["confusion_png"] = str(png)
    return report


register_task(TaskSpec(name="classify", description="text classification (sentiment, topics, ...)",
                       schema=SCHEMA, train=train, load=load, evaluate=evaluate,
                       add_commands=classify_commands.add_commands,
                       add_evaluate_options=classify_commands.add_evaluate_options,
                       format_report=classify_commands.format_report))
