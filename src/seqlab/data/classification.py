"""Labelled texts for classification: resolving ``--data``, splits, and the validation carve-out.

Each split resolves to a :class:`LabelledSource` that streams its ``(text, label)`` records from the file (or
the hub's rows); :func:`plan_train_valid` says where training and validation data come from, and
:meth:`TrainValidPlan.select` which of the records each split takes once their number is known. Reading a split
into memory (:func:`load_split`, :func:`load_train_valid`) and streaming it (what training on a corpus larger than
memory does) therefore share one rule for the carve-out and ``--limit``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seqlab.config import at_least, require
from seqlab.data.cache import fingerprint
from seqlab.data.readers import TEXT_SUFFIXES, iter_labelled
from seqlab.data.registry import DatasetSpec, load_hub, local_dataset_dir, lookup, not_found_message
from seqlab.data.splits import split_names
from seqlab.errors import SeqlabError


@dataclass
class ClassifyDataConfig:
    """Which labelled texts to train on and how to split them."""

    data: str = field(default="imdb", metadata={"help": "dataset name (imdb) or path to a file/folder"})
    text_column: str = field(default="text", metadata={"help": "column/field holding the text (csv/tsv/jsonl)"})
    label_column: str = field(default="label", metadata={"help": "column/field holding the label"})
    valid_data: str | None = field(default=None, metadata={"help": "explicit validation file (else carved from train)"})
    valid_fraction: float = field(default=0.1, metadata={"help": "share of train held out for validation"})
    split_seed: int = field(default=1234, metadata={"help": "seed of the validation carve-out"})
    limit: int | None = field(default=None, metadata={"help": "use at most this many training examples"})
    stream_window: int = field(default=65_536, metadata={
        "help": "training data of more examples than this is read from the memory-mapped token cache a window of "
                "this many examples at a time (batches bucketed within each window); data that fits in one window "
                "is held in memory"})
    prepare_workers: int | None = field(default=None, metadata={
        "help": "processes that tokenise the training data on a cold cache (default: the cores; 0: this process)"})

    def __post_init__(self) -> None:
        require(0.0 < self.valid_fraction < 0.9, f"--valid-fraction must be between 0 and 0.9, got {self.valid_fraction:g}")
        at_least(self, 1, "limit")
        at_least(self, 1024, "stream_window")
        at_least(self, 0, "prepare_workers")


@dataclass
class LabelledTexts:
    texts: list[str]
    labels: list[str]
    source: str  # where it came from, for messages and the cache key

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: list[int], source: str) -> LabelledTexts:
        return LabelledTexts([self.texts[i] for i in indices], [self.labels[i] for i in indices], source)


def _find_split_file(folder: Path, split: str) -> Path | None:
    for alias in split_names(split):
        for suffix in TEXT_SUFFIXES:
            for candidate in (folder / f"{alias}{suffix}", folder / f"{alias}{suffix}.gz"):
                if candidate.is_file():
                    return candidate
        sub = folder / alias
        if sub.is_dir():
            return sub
    return None


@dataclass
class LabelledSource:
    """Where one split's labelled texts come from: a file or label-folder tree read as a stream (or rows already
    fetched from the hub). :meth:`records` yields ``(text, label)`` with the dataset's readable label names, and
    refuses examples without a label as :func:`load_split` does (at the end of the stream, counting them all)."""

    source: str  # path@fingerprint (or hub:...), for messages and the cache key
    path: Path | None = None
    text_column: str = "text"
    label_column: str | None = "label"
    spec: DatasetSpec | None = None  # its label_names rename the file's labels
    rows: LabelledTexts | None = None  # the hub's rows, in memory already

    def records(self) -> Iterator[tuple[str, str]]:
        if self.rows is not None:
            yield from zip(self.rows.texts, self.rows.labels, strict=True)
            return
        assert self.path is not None
        names = self.spec.label_names if self.spec else {}
        empty: list[tuple[int, str]] = []  # (index, text) of the first example without a label, and a count
        for index, (text, label) in enumerate(iter_labelled(self.path, self.text_column, self.label_column)):
            if label == "":
                empty.append((index, text) if not empty else empty[0])
                continue
            yield text, names.get(label, label)
        if empty:
            _refuse_empty_label(self.path, *empty[0], len(empty))

    def read(self) -> LabelledTexts:
        """The whole source in memory."""
        if self.rows is not None:
            return self.rows
        texts: list[str] = []
        labels: list[str] = []
        for text, label in self.records():
            texts.append(text)
            labels.append(label)
        return LabelledTexts(texts, labels, self.source)


def _file_source(path: Path, cfg: ClassifyDataConfig, spec: DatasetSpec | None) -> LabelledSource:
    iter_labelled(path, cfg.text_column, cfg.label_column)  # the file's existence and type, checked now
    return LabelledSource(f"{path}@{fingerprint(path)}", path, cfg.text_column, cfg.label_column, spec)


def _refuse_empty_label(path: Path, first: int, text: str, count: int) -> None:
    """Name the first example without a label, as the file counts it, before any split reorders them."""
    suffix = Path(path.name.removesuffix(".gz")).suffix.lower()
    where = f"row {first + 1} after the header" if suffix in (".csv", ".tsv") else f"record {first + 1}"
    more = f" (and {count - 1} more)" if count > 1 else ""
    shown = text if len(text) <= 40 else text[:40] + "..."
    raise SeqlabError(f"{path}: {where} has an empty label{more}: {shown!r}; every example needs a label")


def _is_split_folder(path: Path) -> bool:
    return _find_split_file(path, "train") is not None or _find_split_file(path, "test") is not None


def is_single_source(data: str) -> bool:
    """Whether ``--data`` is one file, or a folder of label sub-folders without train/test files: data with no
    splits of its own, which ``evaluate`` scores whole."""
    path = Path(data).expanduser()
    return path.is_file() or (path.is_dir() and not _is_split_folder(path))


def split_source(cfg: ClassifyDataConfig, split: str) -> LabelledSource:
    """Where one split (``train``, ``valid``, ``test``) of ``cfg.data`` comes from, resolved in the documented
    order; nothing is read yet but the hub's rows."""
    path = Path(cfg.data).expanduser()
    spec = None
    if not path.exists():
        spec = lookup(cfg.data, "classify")
        if spec is None:
            raise SeqlabError(f"--data {cfg.data!r}: no such file or folder, and not a known dataset name "
                              "(known: imdb)")
        local = local_dataset_dir(spec)
        if local is None:
            rows = _from_hub(spec, split)
            return LabelledSource(rows.source, rows=rows)
        path = local
    if path.is_file() or not _is_split_folder(path):
        if split != "train":
            raise SeqlabError(f"{path} holds a single split; pass the {split} data as its own file")
        return _file_source(path, cfg, spec)
    found = _find_split_file(path, split)
    if found is None:
        raise SeqlabError(f"{path} has no {split} split (looked for {split}.jsonl/.csv/.tsv/.txt or {split}/)")
    return _file_source(found, cfg, spec)


def load_split(cfg: ClassifyDataConfig, split: str) -> LabelledTexts:
    """One split (``train``, ``valid``, ``test``) of ``cfg.data`` in memory."""
    return split_source(cfg, split).read()


def _from_hub(spec: DatasetSpec, split: str) -> LabelledTexts:
    hub_split = {"valid": "validation"}.get(split, split)
    ds = load_hub(spec, hub_split)
    names = ds.features["label"].names if hasattr(ds.features.get("label"), "names") else None
    labels = [names[i] if names else str(i) for i in ds["label"]]
    texts = list(ds["text"])
    if spec.label_names and names is None:
        labels = [spec.label_names.get(lab, lab) for lab in labels]
    return LabelledTexts(texts, labels, f"hub:{spec.hub_name}:{hub_split}")


@dataclass
class TrainValidPlan:
    """Where training and validation data come from: ``valid`` None means carved from ``train`` (seeded, the same
    on every run, never touching the test split); :meth:`select` applies the carve-out and ``--limit``."""

    cfg: ClassifyDataConfig
    train: LabelledSource
    valid: LabelledSource | None

    def select(self, n_train: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Which of the training source's ``n_train`` records are the training examples, and which the validation
        examples (None: all of ``valid``'s records), each sorted in file order."""
        cfg = self.cfg
        train_idx: list[int] | range = range(n_train)
        valid_idx = None
        if self.valid is None:
            order = list(range(n_train))
            random.Random(cfg.split_seed).shuffle(order)
            n_valid = max(1, int(round(n_train * cfg.valid_fraction)))
            if n_train - n_valid < 2:
                raise SeqlabError(f"{cfg.data}: {n_train} examples are too few to carve out a validation split")
            valid_idx = np.asarray(sorted(order[:n_valid]), dtype=np.int64)
            train_idx = sorted(order[n_valid:])
        if cfg.limit is not None and cfg.limit < len(train_idx):
            order = list(range(len(train_idx)))
            random.Random(cfg.split_seed + 1).shuffle(order)
            train_idx = [train_idx[i] for i in sorted(order[: cfg.limit])]
        return np.asarray(train_idx, dtype=np.int64), valid_idx

    def sources(self) -> tuple[str, str]:
        """The names the two splits go by (in messages and cache keys), as :func:`load_train_valid` gives them."""
        cfg = self.cfg
        if self.valid is None:
            train = f"{self.train.source}#train{cfg.valid_fraction}:{cfg.split_seed}"
            valid = f"{self.train.source}#valid{cfg.valid_fraction}:{cfg.split_seed}"
        else:
            train, valid = self.train.source, self.valid.source
        return (f"{train}#limit{cfg.limit}" if cfg.limit is not None else train), valid


def plan_train_valid(cfg: ClassifyDataConfig) -> TrainValidPlan:
    """Training data and where validation data comes from: ``--valid-data``, the folder's valid split, else a
    carve-out from train."""
    train = split_source(cfg, "train")
    valid = None
    if cfg.valid_data:
        valid = split_source(ClassifyDataConfig(data=cfg.valid_data, text_column=cfg.text_column,
                                                label_column=cfg.label_column), "train")
    else:
        path = Path(cfg.data).expanduser()
        if path.is_dir() and _find_split_file(path, "valid") is not None:
            valid = split_source(cfg, "valid")
    return TrainValidPlan(cfg, train, valid)


def load_train_valid(cfg: ClassifyDataConfig) -> tuple[LabelledTexts, LabelledTexts]:
    """Training data and validation data in memory; validation is carved from train unless given.

    The carve-out uses its own seeded RNG, so it is the same on every run and
    never touches the test split (tune on validation, never on test).
    """
    plan = plan_train_valid(cfg)
    whole = plan.train.read()
    valid = plan.valid.read() if plan.valid is not None else None
    train_idx, valid_idx = plan.select(len(whole))
    train_name, valid_name = plan.sources()
    if valid is None:
        assert valid_idx is not None
        valid = whole.subset(valid_idx.tolist(), valid_name)
    if len(train_idx) == len(whole):
        train = whole if train_name == whole.source else whole.subset(train_idx.tolist(), train_name)
    else:
        train = whole.subset(train_idx.tolist(), train_name)
    return train, valid


def check_labels(data: LabelledTexts) -> list[str]:
    """The sorted label set, refusing data with one class or empty labels."""
    labels = sorted(set(data.labels))
    if "" in labels:
        raise SeqlabError(f"{data.source.split('@')[0]}: some examples have an empty label")
    if len(labels) < 2:
        raise SeqlabError(f"{data.source.split('@')[0]}: all training examples have the label {labels[0]!r}; "
                          "a classifier needs at least two classes")
    return labels


__all__ = ["ClassifyDataConfig", "LabelledSource", "LabelledTexts", "TrainValidPlan", "check_labels", "is_single_source",
           "load_split", "load_train_valid", "not_found_message", "plan_train_valid", "split_source"]
