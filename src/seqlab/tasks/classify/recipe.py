"""Text classification, the recipe: data -> pipeline -> model -> loss, validation, saving.

Binary tasks use one logit and BCE-with-logits; multi-class tasks use
cross-entropy over one logit per class. Text is tokenised once per
(data, settings) and cached; epochs only re-batch the cached ids.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F

from seqlab.data.batching import bucket_batches, pad_batch
from seqlab.data.cache import cached_arrays, from_ragged, to_ragged
from seqlab.data.classification import LabelledTexts, check_labels, load_train_valid
from seqlab.errors import SeqlabError
from seqlab.inference import bucketed_map
from seqlab.metrics import classification_report
from seqlab.modeldir import save_model_dir
from seqlab.models import CLASSIFIERS
from seqlab.models.bag import MAX_BUCKETS
from seqlab.models.base import ClassifierModel
from seqlab.models.pretrained import HFTextPipeline, load_hf_tokenizer
from seqlab.runtime import pick_device
from seqlab.tasks.classify.config import SCHEMA, ClassifyConfig, VectorsConfig  # noqa: F401  (re-exported)
from seqlab.tasks.common import fit_task
from seqlab.text.ngrams import ragged_hashed_ngrams
from seqlab.text.pipeline import TextConfig, TextPipeline, truncate
from seqlab.text.vocab import PAD, UNK, Vocab
from seqlab.train import TrainableTask

TEXT_FILE = "text.json"
HF_FOLDER = "hf"
PAD_MULTIPLE = 8  # batch widths rounded up to a multiple of 8: fewer kernel shapes to cache
VALID_BATCH = 256  # texts per batch when validating


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


def model_inputs(featurizer: Any, docs: list[np.ndarray]) -> list[np.ndarray]:
    """A model that reads more than word ids (a bag's hashed n-grams) derives them once here, not per epoch."""
    return featurizer(docs) if featurizer is not None else docs


# ---------------------------------------------------------------------------- model building
def build_model(config: ClassifyConfig, vocab_size: int, num_outputs: int, pad_id: int,
                hf_config_dir: str | None = None) -> ClassifierModel:
    model_cls = CLASSIFIERS[config.model_name][1]
    if reads_pretrained_text(config):  # a pretrained encoder is rebuilt from its own saved files
        return model_cls(config.model, vocab_size, num_outputs, pad_id, hf_config_dir=hf_config_dir)
    return model_cls(config.model, vocab_size, num_outputs, pad_id)


def reads_pretrained_text(config: ClassifyConfig) -> bool:
    """Whether the model reads text with a pretrained encoder's own tokenizer (saved in ``hf/``), not seqlab's."""
    return config.model.capabilities().text == "pretrained"


def _prepare_vectors(config: ClassifyConfig, log) -> None:
    """Match the embedding size to the pretrained vectors when the user did not set it, or say why it cannot."""
    source = config.vectors.embeddings
    if not source:
        return
    can = config.model.capabilities()
    if can.vector_width is None:
        raise SeqlabError(f"--embeddings does not apply to --model {config.model_name} {can.no_vectors_reason}")
    from seqlab.models.embeddings import vector_dim

    dim = vector_dim(source)
    size_field = can.vector_width
    settings = vars(config.model)  # the fields the capabilities name
    heads = settings[can.vector_width_divisor] if can.vector_width_divisor else 1
    if settings[size_field] != dim:
        if dim % heads:
            raise SeqlabError(f"{source} has {dim}-dimensional vectors, which {heads} attention heads do not divide; "
                              f"add --heads with a divisor of {dim} (e.g. --heads {_divisor(dim, heads)})")
        log(f"setting {size_field} to {dim} to match {source}")
        config.model = dataclasses.replace(config.model, **{size_field: dim})


def _divisor(n: int, near: int) -> int:
    return min((d for d in range(1, n + 1) if n % d == 0), key=lambda d: abs(d - near))


BUCKETS_PER_NGRAM = 4  # an unset --buckets: the power of two above this many hash buckets per distinct n-gram ...
MIN_BUCKETS = 1 << 10  # ... at least this many, at most the recipe's MAX_BUCKETS (IMDB's n-grams fill it)
SIZING_CHUNK = 1024  # documents whose n-grams are counted in one vectorised pass


def count_ngrams(docs: list[np.ndarray], ngrams: int, vocab_size: int, stop_at: int | None = None) -> int:
    """Distinct word n-grams (orders 2..``ngrams``) of ``docs`` (word ids), hashed as a bag hashes them but into
    2**62 values (no collisions to speak of); counting stops once it passes ``stop_at``."""
    seen = np.zeros(0, dtype=np.int64)
    for start in range(0, len(docs), SIZING_CHUNK):
        chunk = docs[start: start + SIZING_CHUNK]
        lengths = np.fromiter((len(d) for d in chunk), dtype=np.int64, count=len(chunk))
        if not lengths.sum():
            continue
        flat = np.concatenate([np.asarray(d, dtype=np.int64) for d in chunk])
        out, _ = ragged_hashed_ngrams(flat, lengths, ngrams, 1 << 62, offset=vocab_size)
        seen = np.sort(np.concatenate([seen, out[out >= vocab_size]]))  # the words have the ids below vocab_size
        seen = seen[np.concatenate(([True], seen[1:] != seen[:-1]))] if len(seen) else seen  # (np.unique: 20x slower)
        if stop_at is not None and len(seen) > stop_at:
            break
    return len(seen)


def bag_buckets(docs: list[np.ndarray], ngrams: int, vocab_size: int) -> tuple[int, int | None]:
    """Hash buckets for a bag trained on ``docs`` whose ``--buckets`` is unset: the next power of two at or above
    ``BUCKETS_PER_NGRAM`` x the distinct n-grams, within [MIN_BUCKETS, MAX_BUCKETS]; and the n-grams counted
    (None: more than the cap needs, counting stopped early)."""
    enough = MAX_BUCKETS // BUCKETS_PER_NGRAM  # this many distinct n-grams already ask for the cap
    distinct = count_ngrams(docs, ngrams, vocab_size, stop_at=enough)
    if distinct > enough:
        return MAX_BUCKETS, None
    wanted = BUCKETS_PER_NGRAM * max(1, distinct)
    return min(MAX_BUCKETS, max(MIN_BUCKETS, 1 << (wanted - 1).bit_length())), distinct


def _size_buckets(docs: list[np.ndarray], ngrams: int, vocab_size: int, log) -> int:
    buckets, distinct = bag_buckets(docs, ngrams, vocab_size)
    counted = f"over {MAX_BUCKETS // BUCKETS_PER_NGRAM:,}" if distinct is None else f"{distinct:,}"
    log(f"buckets: {buckets:,} n-gram hash buckets for {counted} distinct n-grams in the training data "
        "(--buckets sets it)")
    return buckets


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
        started = time.monotonic()
        train, valid = load_train_valid(config.data)
        self.labels = check_labels(train)
        label_index = {lab: i for i, lab in enumerate(self.labels)}
        unknown = sorted(set(valid.labels) - set(label_index))
        if unknown:
            raise SeqlabError(f"validation data has labels not seen in training: {', '.join(unknown[:5])}")
        splits = {"train": train, "valid": valid}
        if reads_pretrained_text(config):
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
        if config.model.capabilities().sizes_table_from_data:  # a bag whose hash table --buckets left unset
            config.model = dataclasses.replace(config.model, buckets=_size_buckets(encoded["train"],
                                                                                   config.model.ngrams, vocab_size, log))
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
            self.inputs[split] = model_inputs(self.model.featurizer, docs)
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

        def run(batch: list[int]) -> list[tuple[int, float]]:  # (predicted class, the batch's mean loss) per text
            ids, lengths, targets = self._tensors("valid", batch)
            logits = self.model(ids, lengths).logits
            loss = classification_loss(logits, targets).item()
            return [(int(p), loss) for p in probabilities(logits).argmax(-1).tolist()]

        results = bucketed_map(run, self.lengths["valid"], VALID_BATCH)
        report = classification_report(self.targets["valid"].tolist(), [p for p, _ in results], self.labels)
        # each text carries its batch's mean loss: their sum is the sum of batch means x batch sizes
        return {"accuracy": report["accuracy"], "macro_f1": report["macro_f1"],
                "loss": sum(loss for _, loss in results) / max(1, len(results))}

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
