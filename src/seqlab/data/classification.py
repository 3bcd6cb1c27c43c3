"""Labelled texts for classification: resolving ``--data``, splits, and the validation carve-out."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from seqlab.config import at_least, require
from seqlab.data.cache import fingerprint
from seqlab.data.readers import TEXT_SUFFIXES, read_labelled
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

    def __post_init__(self) -> None:
        require(0.0 < self.valid_fraction < 0.9, f"--valid-fraction must be between 0 and 0.9, got {self.valid_fraction:g}")
        at_least(self, 1, "limit")


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


def _relabel(data: LabelledTexts, spec: DatasetSpec | None) -> LabelledTexts:
    if spec and spec.label_names:
        data.labels = [spec.label_names.get(lab, lab) for lab in data.labels]
    return data


def _read(path: Path, cfg: ClassifyDataConfig, spec: DatasetSpec | None) -> LabelledTexts:
    texts, labels = read_labelled(path, cfg.text_column, cfg.label_column)
    _refuse_empty_labels(path, texts, labels)
    return _relabel(LabelledTexts(texts, labels, f"{path}@{fingerprint(path)}"), spec)


def _refuse_empty_labels(path: Path, texts: list[str], labels: list[str]) -> None:
    """Name the first example without a label, as the file counts it, before any split reorders them."""
    empty = [i for i, label in enumerate(labels) if label == ""]
    if not empty:
        return
    first = empty[0]
    suffix = Path(path.name.removesuffix(".gz")).suffix.lower()
    where = f"row {first + 1} after the header" if suffix in (".csv", ".tsv") else f"record {first + 1}"
    more = f" (and {len(empty) - 1} more)" if len(empty) > 1 else ""
    shown = texts[first] if len(texts[first]) <= 40 else texts[first][:40] + "..."
    raise SeqlabError(f"{path}: {where} has an empty label{more}: {shown!r}; every example needs a label")


def _is_split_folder(path: Path) -> bool:
    return _find_split_file(path, "train") is not None or _find_split_file(path, "test") is not None


def is_single_source(data: str) -> bool:
    """Whether ``--data`` is one file, or a folder of label sub-folders without train/test files: data with no
    splits of its own, which ``evaluate`` scores whole."""
    path = Path(data).expanduser()
    return path.is_file() or (path.is_dir() and not _is_split_folder(path))


def load_split(cfg: ClassifyDataConfig, split: str) -> LabelledTexts:
    """One split (``train``, ``valid``, ``test``) of ``cfg.data``, resolved in the documented order."""
    path = Path(cfg.data).expanduser()
    spec = None
    if not path.exists():
        spec = lookup(cfg.data, "classify")
        if spec is None:
            raise SeqlabError(f"--data {cfg.data!r}: no such file or folder, and not a known dataset name "
                              "(known: imdb)")
        local = local_dataset_dir(spec)
        if local is None:
            return _from_hub(spec, split)
        path = local
    if path.is_file() or not _is_split_folder(path):
        if split != "train":
            raise SeqlabError(f"{path} holds a single split; pass the {split} data as its own file")
        return _read(path, cfg, spec)
    found = _find_split_file(path, split)
    if found is None:
        raise SeqlabError(f"{path} has no {split} split (looked for {split}.jsonl/.csv/.tsv/.txt or {split}/)")
    return _read(found, cfg, spec)


def _from_hub(spec: DatasetSpec, split: str) -> LabelledTexts:
    hub_split = {"valid": "validation"}.get(split, split)
    ds = load_hub(spec, hub_split)
    names = ds.features["label"].names if hasattr(ds.features.get("label"), "names") else None
    labels = [names[i] if names else str(i) for i in ds["label"]]
    texts = list(ds["text"])
    if spec.label_names and names is None:
        labels = [spec.label_names.get(lab, lab) for lab in labels]
    return LabelledTexts(texts, labels, f"hub:{spec.hub_name}:{hub_split}")


def load_train_valid(cfg: ClassifyDataConfig) -> tuple[LabelledTexts, LabelledTexts]:
    """Training data and validation data; validation is carved from train unless given.

    The carve-out uses its own seeded RNG, so it is the same on every run and
    never touches the test split (tune on validation, never on test).
    """
    train = load_split(cfg, "train")
    valid = None
    if cfg.valid_data:
        valid = load_split(ClassifyDataConfig(data=cfg.valid_data, text_column=cfg.text_column,
                                              label_column=cfg.label_column), "train")
    else:
        path = Path(cfg.data).expanduser()
        if path.is_dir() and _find_split_file(path, "valid") is not None:
            valid = load_split(cfg, "valid")
    if valid is None:
        order = list(range(len(train)))
        random.Random(cfg.split_seed).shuffle(order)
        n_valid = max(1, int(round(len(train) * cfg.valid_fraction)))
        if len(train) - n_valid < 2:
            raise SeqlabError(f"{cfg.data}: {len(train)} examples are too few to carve out a validation split")
        valid = train.subset(sorted(order[:n_valid]), f"{train.source}#valid{cfg.valid_fraction}:{cfg.split_seed}")
        train = train.subset(sorted(order[n_valid:]), f"{train.source}#train{cfg.valid_fraction}:{cfg.split_seed}")
    if cfg.limit is not None and cfg.limit < len(train):
        order = list(range(len(train)))
        random.Random(cfg.split_seed + 1).shuffle(order)
        train = train.subset(sorted(order[: cfg.limit]), f"{train.source}#limit{cfg.limit}")
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


__all__ = ["ClassifyDataConfig", "LabelledTexts", "check_labels", "is_single_source", "load_split", "load_train_valid",
           "not_found_message"]
