"""Text classification, the recipe: data -> pipeline -> model -> loss, validation, saving.

Binary tasks use one logit and BCE-with-logits; multi-class tasks use
cross-entropy over one logit per class. Text is tokenised once per
(data, settings) and cached; epochs only re-batch the cached ids.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F

from seqlab.data.batching import bucket_batches, pad_batch
from seqlab.data.cache import EntryBuilder, Ragged, cached_arrays, cached_entry, from_ragged, to_ragged
from seqlab.data.classification import (
    LabelledSource,
    LabelledTexts,
    TrainValidPlan,
    check_labels,
    load_train_valid,
    plan_train_valid,
)
from seqlab.data.streaming import WindowBatch, default_workers, window_batches
from seqlab.data.tokenized import ChunkTokenizer, Interner, count_selected, rank_vocabulary, write_selected
from seqlab.errors import SeqlabError
from seqlab.inference import bucketed_map
from seqlab.metrics import classification_report
from seqlab.modeldir import save_model_dir
from seqlab.models import CLASSIFIERS
from seqlab.models.bag import MAX_BUCKETS
from seqlab.models.base import ClassifierModel
from seqlab.models.pretrained import HFTextPipeline, load_hf_tokenizer
from seqlab.runtime import pick_device, to_device
from seqlab.tasks.classify.calibrate import fit_temperature, scaled_state, validation_loss
from seqlab.tasks.classify.config import SCHEMA, ClassifyConfig, VectorsConfig  # noqa: F401  (re-exported)
from seqlab.tasks.classify.distill import (
    agreement,
    check_same_labels,
    check_teacher,
    mixed_targets,
    teacher_labels,
    teacher_probabilities,
)
from seqlab.tasks.common import fit_task
from seqlab.text.crops import SENTENCE_ENDS, sentence_crops
from seqlab.text.ngrams import ragged_hashed_ngrams
from seqlab.text.pipeline import TextConfig, TextPipeline, truncate
from seqlab.text.ragged import split_ragged
from seqlab.text.vocab import PAD, UNK, Vocab
from seqlab.train import TrainableTask

TEXT_FILE = "text.json"
HF_FOLDER = "hf"
PAD_MULTIPLE = 8  # batch widths rounded up to a multiple of 8: fewer kernel shapes to cache
VALID_BATCH = 256  # texts per batch when validating


# ---------------------------------------------------------------------------- encoding
@dataclass
class EncodedSplit:
    """One split's word ids (memory-mapped, under the full vocabulary, untruncated), labels and name."""

    ids: Ragged
    labels: list[str]
    source: str

    def __len__(self) -> int:
        return len(self.ids)


def _encode_words(plan: TrainValidPlan, config: TextConfig, pipeline_factory,
                  workers: int | None = None) -> tuple[TextPipeline, dict[str, EncodedSplit]]:
    """Tokenise the training and validation data once (cached), streaming it from the files.

    The cache stores ids under a *full* frequency-ranked vocabulary, so changing ``min_freq``/``max_vocab`` re-uses
    it: ids past the cut simply become ``<unk>`` (:func:`_docs`). A cold cache reads each file once (twice for a
    tokenizer trained on the data, BPE), tokenising chunks of texts in ``workers`` processes (default: the cores)
    into a provisional vocabulary; the carve-out and ``--limit`` then pick the splits' examples, their training
    counts rank the vocabulary, and the splits are written in the final ids (:mod:`seqlab.data.tokenized`).
    The ids are those of tokenising every text in one process (tests/test_streaming.py holds them equal).
    """
    specials = (PAD, UNK)
    train_name, valid_name = plan.sources()
    key = {"kind": "classify-words", "version": 3, "text": config.cache_key(),
           "sources": {"train": train_name, "valid": valid_name}}

    def build(builder: EntryBuilder) -> dict[str, Any]:
        pipe = pipeline_factory()
        labels = Interner()
        label_ids: dict[str, list[int]] = {"train": [], "valid": []}

        def texts(source: LabelledSource, into: list[int], selected: np.ndarray | None = None):
            member = None if selected is None else set(selected.tolist())
            for index, (text, label) in enumerate(source.records()):
                if member is None or index in member:
                    into.append(labels[label])
                    yield text

        if pipe.tokenizer.needs_fit:  # BPE learns from the (cleaned) training texts first
            counted: list[int] = []
            n_whole = sum(1 for _ in texts(plan.train, counted))
            train_idx, _ = plan.select(n_whole)
            pipe.tokenizer.fit(pipe.clean(t) for t in texts(plan.train, [], train_idx))
        chosen = default_workers() if workers is None else workers
        tokenizer = ChunkTokenizer(pipe, 0 if pipe.tokenizer.needs_fit or chosen < 2 else chosen)
        raw = {"train": builder.ragged("raw-train")}
        n_whole = tokenizer.tokenize(texts(plan.train, label_ids["train"]), raw["train"])
        if plan.valid is not None:
            raw["valid"] = builder.ragged("raw-valid")
            tokenizer.tokenize(texts(plan.valid, label_ids["valid"]), raw["valid"])
        for writer in raw.values():
            writer.close()
        info = {name: {"dtype": "int32", "count": w.count, "total": w.total} for name, w in raw.items()}
        whole = {name: Ragged.open(builder.folder, f"raw-{name}", info[name]) for name in raw}
        train_idx, valid_idx = plan.select(n_whole)
        picks = {"train": ("train", train_idx), "valid": ("train", valid_idx) if plan.valid is None
                 else ("valid", None)}
        size = len(tokenizer.vocab)
        train_counts = count_selected(whole["train"], train_idx, size)
        other = count_selected(whole[picks["valid"][0]], picks["valid"][1], size)
        itos, remap, counts = rank_vocabulary(tokenizer.tokens, train_counts, other, specials)
        for split, (origin, selected) in picks.items():
            writer = builder.ragged(split)
            write_selected(whole[origin], selected, writer, lambda ids: remap[ids])
            builder.add_ragged(writer)
            source_labels = np.asarray(label_ids[origin], dtype=np.int32)
            builder.array(f"{split}.labels", source_labels if selected is None else source_labels[selected])
        for name in raw:  # the provisional ids are not part of the entry
            for suffix in ("ids", "offsets"):
                (builder.folder / f"raw-{name}.{suffix}").unlink()
        return {"itos": itos, "counts": counts, "tokenizer": pipe.tokenizer.to_json(), "labels": list(labels)}

    entry = cached_entry(key, build)
    from seqlab.text.tokenizers import tokenizer_from_json

    meta = entry.meta
    counts = np.asarray(meta["counts"])
    keep = len(specials) + int((counts[len(specials):] >= config.min_freq).sum())  # ranked, so a prefix
    if config.max_vocab is not None:
        keep = min(keep, config.max_vocab)
    vocab = Vocab(meta["itos"][:keep], list(specials))
    pipeline = TextPipeline(config, tokenizer_from_json(meta["tokenizer"]), vocab)
    names = meta["labels"]
    splits = {split: EncodedSplit(entry.ragged(split), [names[i] for i in entry.array(f"{split}.labels").tolist()],
                                  source)
              for split, source in (("train", train_name), ("valid", valid_name))}
    return pipeline, splits


class _Docs:
    """A split's documents as the model's vocabulary and ``--max-len`` make them, read from the memory map as they
    are asked for (``docs[i]``, ``docs[a:b]``): ids past the vocabulary cut are ``<unk>``, long texts truncated."""

    def __init__(self, ids: Ragged, vocab: Vocab, config: TextConfig) -> None:
        self.ids, self.keep, self.unk, self.config = ids, len(vocab), vocab.unk_id, config

    def __len__(self) -> int:
        return len(self.ids)

    def _doc(self, ids: np.ndarray) -> np.ndarray:
        doc = np.asarray(ids, dtype=np.int64)
        doc[doc >= self.keep] = self.unk
        return np.asarray(truncate(doc, self.config.max_len, self.config.truncate))

    def __getitem__(self, i):
        if isinstance(i, slice):  # a chunk of a pass over the split (sizing, features): copies, pages given back
            start, stop, _ = i.indices(len(self.ids))
            docs = [self._doc(d) for d in self.ids[i]]
            self.ids.release(start, max(start, stop))
            return docs
        return self._doc(self.ids[i])

    def materialize(self) -> list[np.ndarray]:
        """Every document in memory, as the in-memory path holds them."""
        ids = np.asarray(self.ids.ids, dtype=np.int64)
        self.ids.release()  # copied: the mapped pages are not needed
        ids[ids >= self.keep] = self.unk
        return [np.asarray(truncate(doc, self.config.max_len, self.config.truncate))
                for doc in split_ragged(ids, self.ids.lengths)]


def _lengths(docs: Any) -> np.ndarray:
    return docs.lengths if isinstance(docs, Ragged) else np.array([len(d) for d in docs])


def _featurize_chunk(featurizer: Any, docs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """One chunk of non-empty documents -> the model's inputs, ragged ``(flat, lengths)``."""
    inputs = featurizer(docs) if featurizer is not None else docs
    lengths = np.fromiter(map(len, inputs), dtype=np.int64, count=len(inputs))
    return (np.concatenate(inputs) if inputs else np.zeros(0, dtype=np.int64)), lengths


def _given(value: Any) -> Any:
    return value


def _write_inputs(builder: EntryBuilder, docs: dict[str, _Docs], featurizer: Any, workers: int | None,
                  crops: tuple[np.ndarray, int, int, int] | None = None) -> dict:
    """Each split's non-empty documents as model inputs (``SPLIT``) and, for each input, the position of the
    document it comes from (``SPLIT.keep``), a chunk at a time (in ``workers`` processes: the cores by default).
    ``crops`` ``(end_ids, per_doc, max_sentences, seed)``: the training documents' sentence crops (--crops) follow
    each chunk's documents, cut from the chunk with the seed plus the chunk's number."""
    from functools import partial

    from seqlab.data.streaming import CHUNK, ordered_map

    workers = default_workers() if workers is None else workers
    meta: dict[str, int] = {}
    for split, split_docs in docs.items():
        kept: list[np.ndarray] = []
        counts = {"examples": 0, "crops": 0}

        def chunks(split=split, split_docs=split_docs, kept=kept, counts=counts):
            for number, start in enumerate(range(0, len(split_docs), CHUNK)):
                chunk = split_docs[start: start + CHUNK]
                keep = np.asarray([i for i, d in enumerate(chunk) if len(d) > 0], dtype=np.int64)
                rows = [chunk[i] for i in keep]
                counts["examples"] += len(rows)
                if crops is not None and split == "train":
                    end_ids, per_doc, max_sentences, seed = crops
                    cut, owners = sentence_crops(rows, end_ids, per_doc, max_sentences, seed + number)
                    rows, keep = rows + cut, np.concatenate([keep, keep[owners]])
                    counts["crops"] += len(cut)
                kept.append(keep + start)
                yield rows

        writer = builder.ragged(split)
        for flat, lengths in ordered_map(_featurize_chunk, chunks(), workers if workers > 1 else 0,
                                         setup=partial(_given, featurizer)):
            writer.append(flat, lengths)
        builder.add_ragged(writer)
        builder.array(f"{split}.keep", np.concatenate(kept) if kept else np.zeros(0, dtype=np.int64))
        meta[f"{split}_examples"], meta[f"{split}_crops"] = counts["examples"], counts["crops"]
    return meta


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


def _special_frame(doc: np.ndarray, special: set[int]) -> tuple[int, int]:
    """How many special tokens open and close an encoded text (``[CLS]`` and ``[SEP]``: 1 and 1)."""
    ids = doc.tolist()
    head = next((i for i, t in enumerate(ids) if t not in special), len(ids))
    tail = next((i for i, t in enumerate(reversed(ids[head:])) if t not in special), len(ids) - head)
    return head, tail


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
        self.streamed = False  # True: the splits are read from the memory-mapped cache, a window at a time
        teacher = check_teacher(config.distill.teacher) if config.distill.teacher else None  # before the data
        if reads_pretrained_text(config):
            train, valid = load_train_valid(config.data)
            splits: dict[str, Any] = {"train": train, "valid": valid}
            self._check_labels(train, valid)
            tokenizer = load_hf_tokenizer(config.model.encoder)
            self.pipeline: Any = HFTextPipeline(tokenizer, config.text.max_len)
            encoded: dict[str, Any] = _encode_hf(splits, self.pipeline, config.model.encoder)
            vocab_size, pad_id = len(tokenizer), self.pipeline.pad_id
        else:
            factory = lambda: TextPipeline(config.text, TextPipeline.new_tokenizer(config.text),  # noqa: E731
                                           Vocab([PAD, UNK], [PAD, UNK]))
            self.pipeline, splits = _encode_words(plan_train_valid(config.data), config.text, factory,
                                                  config.data.prepare_workers)
            self._check_labels(splits["train"], splits["valid"])
            vocab_size, pad_id = len(self.pipeline.vocab), self.pipeline.vocab.pad_id
            self.streamed = len(splits["train"]) > config.data.stream_window
            encoded = {split: _Docs(data.ids, self.pipeline.vocab, config.text) for split, data in splits.items()}
            if not self.streamed:
                encoded = {split: docs.materialize() for split, docs in encoded.items()}
        label_index = {lab: i for i, lab in enumerate(self.labels)}
        if teacher is not None:
            check_same_labels(str(config.distill.teacher), teacher_labels(teacher), self.labels)
            if self.streamed:
                raise SeqlabError(f"--teacher needs the training split in memory: it has {len(splits['train']):,} "
                                  f"texts, over --stream-window {config.data.stream_window:,}; raise the window")
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
        self.inputs: dict[str, Any] = {}  # split -> documents: a list in memory, or a memory-mapped Ragged
        self.targets: dict[str, torch.Tensor] = {}
        self.stats: dict[str, float] = {}  # counts, and the teacher's agreement (--teacher): written to config.json
        self.soft_targets: torch.Tensor | None = None  # --teacher: the training targets, teacher and gold mixed
        if self.streamed:
            self._stream_inputs(splits, encoded, label_index)
        else:
            for split, data in splits.items():
                keep = [i for i, doc in enumerate(encoded[split]) if len(doc) > 0]
                self.stats[f"{split}_empty_dropped"] = len(data) - len(keep)
                docs = [encoded[split][i] for i in keep]
                targets = [label_index[data.labels[i]] for i in keep]
                self.stats[f"{split}_examples"] = len(docs)
                if split == "train" and config.augment.crops:
                    crops, owners = self._crops(docs)
                    docs, targets = docs + crops, targets + [targets[i] for i in owners]
                    self.stats["train_crops"] = len(crops)
                self.targets[split] = torch.tensor(targets, dtype=torch.long)
                if split == "train" and teacher is not None:
                    texts = (self._decoded(docs) if isinstance(self.pipeline, TextPipeline)
                             else self.pipeline.tokenizer.batch_decode(docs, skip_special_tokens=True))
                    self._distil(texts)
                self.inputs[split] = model_inputs(self.model.featurizer, docs)
        if not len(self.inputs["train"]):
            raise SeqlabError("every training text is empty after cleaning and tokenisation")
        train_inputs = self.inputs["train"].passing() if self.streamed else self.inputs["train"]
        self.model.fit_statistics(train_inputs, self.targets["train"])  # e.g. an nb-weighted bag's ratios
        if self.streamed:
            truncated = int((splits["train"].ids.lengths >= config.text.max_len).sum())
        else:
            truncated = sum(1 for d in encoded["train"] if len(d) >= config.text.max_len)
        self.stats["train_truncated_at_max_len"] = truncated
        self.lengths = {s: _lengths(docs) for s, docs in self.inputs.items()}
        self.valid_logits: torch.Tensor | None = None  # of the last validation (temperature scaling)
        self._window: int | None = None  # the training window whose pages are in memory (streamed splits)
        n_params = sum(p.numel() for p in self.model.parameters())
        log(f"data: {len(self.inputs['train']):,} train / {len(self.inputs['valid']):,} valid examples, "
            f"{len(self.labels)} classes ({', '.join(self.labels[:10])}); vocabulary {vocab_size:,}; "
            f"{truncated:,} training texts truncated to {config.text.max_len} tokens; "
            f"{self.stats['train_empty_dropped']} empty dropped; prepared in {time.monotonic() - started:.1f}s"
            + (f"; streamed from the cache in windows of {config.data.stream_window:,} examples"
               if self.streamed else ""))
        log(f"model: {config.model_name} with {n_params:,} parameters")
        self.device = pick_device(config.train.device)

    def _check_labels(self, train: Any, valid: Any) -> None:
        self.labels = check_labels(train)
        unknown = sorted(set(valid.labels) - set(self.labels))
        if unknown:
            raise SeqlabError(f"validation data has labels not seen in training: {', '.join(unknown[:5])}")

    def _stream_inputs(self, splits: dict[str, EncodedSplit], docs: dict[str, _Docs],
                       label_index: dict[str, int]) -> None:
        """The model's inputs of splits larger than a window: computed a chunk at a time (a bag's n-gram features
        in worker processes) into a second cache entry, and read from its memory map."""
        featurizer = self.model.featurizer
        cfg = self.config
        crops = None
        if cfg.augment.crops:  # cut per chunk as the inputs are written (the in-memory path: _crops)
            end_ids = np.asarray([i for i in map(self.pipeline.vocab.stoi.get, SENTENCE_ENDS) if i is not None])
            if len(end_ids):
                crops = (end_ids, cfg.augment.crops, cfg.augment.crop_sentences, cfg.train.seed)
        key = {"kind": "classify-inputs", "version": 2, "words": {s: d.source for s, d in splits.items()},
               "text": dataclasses.asdict(cfg.text), "vocab": len(self.pipeline.vocab),
               "featurizer": dataclasses.asdict(featurizer) if featurizer is not None else None,
               "crops": dataclasses.asdict(cfg.augment) if crops is not None else None, "seed": cfg.train.seed}
        entry = cached_entry(key, lambda builder: _write_inputs(builder, docs, featurizer, cfg.data.prepare_workers,
                                                                crops))
        for split, data in splits.items():
            keep = entry.array(f"{split}.keep")
            self.stats[f"{split}_empty_dropped"] = len(data) - entry.meta[f"{split}_examples"]
            self.stats[f"{split}_examples"] = entry.meta[f"{split}_examples"]
            self.inputs[split] = entry.ragged(split)
            labels = np.fromiter((label_index[lab] for lab in data.labels), dtype=np.int64, count=len(data))
            self.targets[split] = torch.from_numpy(labels[np.asarray(keep)])
        if crops is not None:
            self.stats["train_crops"] = entry.meta["train_crops"]
            self.log(f"crops: {entry.meta['train_crops']:,} crops of 1-{cfg.augment.crop_sentences} sentences added "
                     f"to the {entry.meta['train_examples']:,} training texts (cut a chunk at a time)")

    def _crops(self, docs: list[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
        """Sentence-length crops of the training texts (--crops), cut at the vocabulary's sentence-end tokens."""
        augment = self.config.augment
        if isinstance(self.pipeline, HFTextPipeline):
            return self._encoder_crops(docs)
        end_ids = np.asarray([i for i in map(self.pipeline.vocab.stoi.get, SENTENCE_ENDS) if i is not None])
        if not len(end_ids):  # the bag's recipe crops by default: data without sentence marks just gets none
            self.log(f"crops: none (--crops cuts at sentence ends, and no training text has {' '.join(SENTENCE_ENDS)}"
                     f"{'; --keep-punct is off' if not self.config.text.keep_punct else ''})")
            return [], np.zeros(0, dtype=np.int64)
        crops, owners = sentence_crops(docs, end_ids, augment.crops, augment.crop_sentences, self.config.train.seed)
        self.log(f"crops: {len(crops):,} crops of 1-{augment.crop_sentences} sentences added to the "
                 f"{len(docs):,} training texts")
        return crops, owners

    def _encoder_crops(self, docs: list[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
        """Sentence crops for a pretrained encoder: cut from the word pieces between the tokenizer's special tokens
        (``[CLS] ... [SEP]``), which each crop then gets again, as a text of that length would."""
        augment, tokenizer = self.config.augment, self.pipeline.tokenizer
        end_ids = np.asarray([i for i in tokenizer.convert_tokens_to_ids(list(SENTENCE_ENDS))
                              if i is not None and i != tokenizer.unk_token_id], dtype=np.int64)
        framing = set(tokenizer.all_special_ids) - {tokenizer.unk_token_id}
        frames = [_special_frame(doc, framing) for doc in docs]  # (head, tail) lengths
        inner = [doc[head: len(doc) - tail] for doc, (head, tail) in zip(docs, frames, strict=True)]
        cut, owners = sentence_crops(inner, end_ids, augment.crops, augment.crop_sentences, self.config.train.seed)
        crops = []
        for crop, owner in zip(cut, owners.tolist(), strict=True):
            doc, (head, tail) = docs[owner], frames[owner]
            crops.append(np.concatenate([doc[:head], crop, doc[len(doc) - tail:]]))
        self.log(f"crops: {len(crops):,} crops of 1-{augment.crop_sentences} sentences added to the "
                 f"{len(docs):,} training texts")
        return crops, owners

    def _decoded(self, docs: list[np.ndarray]) -> list[str]:
        """Word ids back to text for a teacher (which reads with its own tokenizer): the cleaned, tokenised words
        joined by spaces, without the padding and unknown-word marks."""
        itos = np.asarray(self.pipeline.vocab.itos, dtype=object)
        specials = {self.pipeline.vocab.pad_id, self.pipeline.vocab.stoi.get(UNK)}
        return [" ".join(itos[[i for i in doc.tolist() if i not in specials]]) for doc in docs]

    def _distil(self, texts: list[str]) -> None:
        """The training targets from the teacher's probabilities on ``texts`` (the training examples, in order)."""
        distill = self.config.distill
        probs = teacher_probabilities(str(distill.teacher), texts, self.labels, self.log)
        gold = self.targets["train"]
        self.soft_targets = mixed_targets(probs, gold, distill.teacher_weight)
        self.stats["teacher_agreement"] = agreement(probs, gold)
        self.log(f"teacher: agrees with the gold label on {self.stats['teacher_agreement']:.1%} of the "
                 f"{len(texts):,} training examples; loss weight {distill.teacher_weight:g} on its probabilities")

    # -- the TrainableTask interface
    def train_batches(self, generator: torch.Generator) -> list[list[int]]:
        t = self.config.train
        if self.streamed:  # one window of the memory-mapped split at a time
            return list(window_batches(self.lengths["train"], batch_size=t.batch_size, max_tokens=t.max_tokens,
                                       generator=generator, window=self.config.data.stream_window))
        return bucket_batches(self.lengths["train"], batch_size=t.batch_size, max_tokens=t.max_tokens,
                              shuffle=True, generator=generator)

    def _tensors(self, split: str, batch: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        ids, lengths = pad_batch([self.inputs[split][i] for i in batch], self.pad_id, multiple=PAD_MULTIPLE)
        return (to_device(ids, self.device), to_device(lengths, self.device),
                to_device(self.targets[split][batch], self.device))

    def loss(self, batch: list[int]) -> tuple[torch.Tensor, int]:
        if isinstance(batch, WindowBatch) and batch.window != self._window:  # a new window: the last one's pages
            self.inputs["train"].release()  # go back
            self._window = batch.window
        ids, lengths, targets = self._tensors("train", batch)
        if self.soft_targets is not None:
            targets = to_device(self.soft_targets[batch], self.device)
        return classification_loss(self.model(ids, lengths).logits, targets), len(batch)

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        self.model.eval()

        def run(batch: list[int]) -> list[tuple[int, float, torch.Tensor]]:  # (class, batch mean loss, logits)
            ids, lengths, targets = self._tensors("valid", batch)
            logits = self.model(ids, lengths).logits
            loss = classification_loss(logits, targets).item()
            predicted = probabilities(logits).argmax(-1).tolist()
            return [(int(p), loss, row) for p, row in zip(predicted, logits.float().cpu(), strict=True)]

        results = bucketed_map(run, self.lengths["valid"], VALID_BATCH)
        if self.streamed:
            self.inputs["valid"].release()
        # kept for save(), which follows the validation of the same weights: the temperature is fitted on them
        self.valid_logits = torch.stack([row for _, _, row in results]) if results else None
        report = classification_report(self.targets["valid"].tolist(), [p for p, _, _ in results], self.labels)
        # each text carries its batch's mean loss: their sum is the sum of batch means x batch sizes
        return {"accuracy": report["accuracy"], "macro_f1": report["macro_f1"],
                "loss": sum(loss for _, loss, _ in results) / max(1, len(results))}

    def _calibrated_state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any] | None]:
        """The weights to save, with the validation-fitted temperature folded into the output layer (--calibrate),
        and what was fitted (T and the validation log-loss before and after)."""
        state = self.model.state_dict()
        logits = self.valid_logits
        if not self.config.calibration.calibrate or logits is None:
            return state, None
        targets = self.targets["valid"]
        temperature = fit_temperature(logits, targets)
        return scaled_state(state, self.model.logit_parameters, temperature), {
            "method": "temperature", "temperature": temperature, "fitted_on": f"validation ({len(targets):,} texts)",
            "valid_loss_before": validation_loss(logits, targets, 1.0),
            "valid_loss_after": validation_loss(logits, targets, temperature)}

    def save(self, out_dir: Path, metrics: dict[str, Any]) -> None:
        json_files = {}
        if isinstance(self.pipeline, TextPipeline):
            json_files[TEXT_FILE] = self.pipeline.to_json()
        else:
            folder = Path(out_dir) / HF_FOLDER
            self.pipeline.tokenizer.save_pretrained(str(folder))
            cast(Any, self.model).save_encoder_files(folder)  # a pretrained encoder's own files
        state, calibration = self._calibrated_state()
        save_model_dir(out_dir, task="classify", config=SCHEMA.to_dict(self.config), state_dict=state,
                       extras={"labels": self.labels, "embeddings": self.coverage, "data_stats": self.stats,
                               "calibration": calibration},
                       json_files=json_files, metrics=metrics)


def train(config: ClassifyConfig, out_dir: Path, *, resume: bool = False, log=print) -> dict[str, Any]:
    return fit_task(ClassifyTask(config, log), config, SCHEMA, out_dir, resume=resume, log=log)
