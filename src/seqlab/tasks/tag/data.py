"""The tagger's data as training splits it: ``train`` and ``valid`` of a dataset, a folder or one file (the seeded
carve-out). Imports no torch: ``seqlab evaluate`` rebuilds the same parts for an export where torch is not installed.
"""

from __future__ import annotations

import random
from pathlib import Path

from seqlab.data.conll import TaggedSentences, _find_split_file, load_split, read_conll
from seqlab.errors import SeqlabError
from seqlab.tasks.tag.config import TagDataConfig


def read_split(cfg: TagDataConfig, split: str) -> TaggedSentences:
    """``train`` or ``valid`` of ``cfg.data`` as training sees them (a single file: the seeded carve-out)."""
    scheme = cfg.given_scheme()
    if split == "valid" and cfg.valid_data:
        valid = Path(cfg.valid_data).expanduser()
        if valid.is_file():
            return read_conll(valid, cfg.word_column, cfg.tag_column, scheme)
        return load_split(cfg.valid_data, "valid", cfg.word_column, cfg.tag_column, scheme)
    path = Path(cfg.data).expanduser()
    if path.is_file():
        whole = read_conll(path, cfg.word_column, cfg.tag_column, scheme)
    elif path.is_dir() and _find_split_file(path, "valid") is None:  # a folder with a train file only
        whole = load_split(str(path), "train", cfg.word_column, cfg.tag_column, scheme)
    else:  # conll2003, or a folder with its own dev file
        return load_split(cfg.data, split, cfg.word_column, cfg.tag_column, scheme)
    if cfg.valid_data:  # the whole file trains
        return whole
    n = len(whole)
    if n < 2:
        raise SeqlabError(f"{path}: {n} sentence is too few to hold out validation sentences; give more or --valid-data")
    order = list(range(n))
    random.Random(cfg.split_seed).shuffle(order)
    held = max(1, int(n * cfg.valid_fraction))
    part = sorted(order[:held]) if split == "valid" else sorted(order[held:])
    return whole.subset(part, f"{whole.source}:{split}:{cfg.split_seed}:{cfg.valid_fraction}")


def load_train_valid(cfg: TagDataConfig) -> tuple[TaggedSentences, TaggedSentences]:
    train, valid = read_split(cfg, "train"), read_split(cfg, "valid")
    if cfg.limit is not None and cfg.limit < len(train):
        train = train.subset(list(range(cfg.limit)), f"{train.source}:first{cfg.limit}")
    return train, valid
