"""Running text for language models: WikiText-2, or a user's own plain-text files.

``--data`` is resolved like every dataset: an existing path (one file, several files
joined with commas, or a folder with ``train.*``/``valid.*``/``test.*``), then
``$SEQLAB_DATA/wikitext-2``, then the hub's ``Salesforce/wikitext`` (``wikitext-2-v1``)
when ``datasets`` is installed and the machine is online. A corpus without a validation
(or test) split gets one carved from the end of the training lines' shuffled order with a
fixed seed. Lines are kept as they are: the tokenizer adds ``<eos>`` at each line end.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from seqlab.data.cache import fingerprint
from seqlab.data.readers import open_text_lines
from seqlab.data.registry import DatasetSpec, local_dataset_dir, lookup, not_found_message, register
from seqlab.data.splits import split_names
from seqlab.errors import SeqlabError

WIKITEXT2 = register(DatasetSpec(
    name="wikitext-2", task="lm", folder="wikitext-2", hub_name="Salesforce/wikitext",
    splits={"train": "train.txt", "valid": "valid.txt", "test": "test.txt"},
    description="WikiText-2 (Merity et al. 2016), word-tokenised Wikipedia, 2.1M training tokens, <unk> for rare words",
))
HUB_CONFIGS = {"wikitext-2": "wikitext-2-v1"}
HUB_SPLITS = {"train": "train", "valid": "validation", "test": "test"}
CARVE_FRACTION = 0.05  # share of a single file's lines held out for validation and for test (each)


@dataclass
class LMDataConfig:
    """Which running text to model and how to hold out validation/test lines."""

    data: str = field(default="wikitext-2", metadata={
        "help": "wikitext-2 | a text file | FILE1,FILE2,... | a folder with train.*/valid.*/test.* files"})
    valid_data: str | None = field(default=None, metadata={"help": "explicit validation text file"})
    split_seed: int = field(default=1234, metadata={"help": "seed of the held-out carve-out"})


@dataclass
class Corpus:
    lines: list[str]
    source: str  # where it came from, for messages and the cache key

    def __len__(self) -> int:
        return len(self.lines)


def iter_lines(path: Path) -> Iterator[str]:
    """Stream a UTF-8 text file's lines without their newlines, one held at a time (an undecodable line is an
    error naming it): what a tokenizer or vocabulary trains from (both take an iterator) on a corpus of any size."""
    for _, line in open_text_lines(path):
        yield line.rstrip("\r\n")


def iter_files(paths: list[Path]) -> Iterator[str]:
    """The lines of several files, one after the other (``--data a.txt,b.txt``), streamed."""
    for path in paths:
        yield from iter_lines(path)


def read_lines(path: Path) -> list[str]:
    """A UTF-8 text file's lines without their newlines (undecodable lines are an error naming the line)."""
    return list(iter_lines(path))


def _read_files(paths: list[Path]) -> Corpus:
    lines = list(iter_files(paths))
    return Corpus(lines, ",".join(f"{p}@{fingerprint(p)}" for p in paths))


def _find_split(folder: Path, split: str) -> Path | None:
    for name in split_names(split):
        for candidate in sorted(folder.glob(f"{name}.*")):
            if candidate.is_file():
                return candidate
    return None


def _carve(whole: Corpus, seed: int) -> dict[str, Corpus]:
    """Seeded held-out lines for validation and test (each ``CARVE_FRACTION``, at least one line)."""
    order = list(range(len(whole)))
    random.Random(seed).shuffle(order)
    n = max(1, int(len(order) * CARVE_FRACTION))
    if len(order) < 3:
        raise SeqlabError(f"{whole.source.split('@')[0]}: {len(order)} line(s) are too few to hold out validation "
                          "text; give more text or --valid-data")
    parts = {"valid": sorted(order[:n]), "test": sorted(order[n: 2 * n]), "train": sorted(order[2 * n:])}
    return {name: Corpus([whole.lines[i] for i in idx], f"{whole.source}#carve{seed}:{name}")
            for name, idx in parts.items()}


def _from_hub(spec: DatasetSpec, split: str) -> Corpus:
    rows = load_hub_config(spec, HUB_SPLITS.get(split, split))
    # the hub keeps the original files' leading space and trailing newline on each line
    return Corpus([r["text"].rstrip("\n") for r in rows], f"hub:{spec.hub_name}:{split}")


def load_hub_config(spec: DatasetSpec, split: str):
    try:
        import datasets  # type: ignore[import-not-found]
    except ImportError:
        raise SeqlabError(not_found_message(spec)) from None
    try:
        return datasets.load_dataset(spec.hub_name, HUB_CONFIGS[spec.name], split=split)
    except Exception as exc:
        raise SeqlabError(f"{not_found_message(spec)} (hub error: {type(exc).__name__}: {exc})") from None


def _file_list(data: str) -> list[Path] | None:
    """The files ``--data`` names (one file, or several joined with commas), or None for a folder or a dataset."""
    if "," in data:
        return [Path(p.strip()).expanduser() for p in data.split(",")]
    path = Path(data).expanduser()
    return [path] if path.is_file() else None


def is_file_source(data: str) -> bool:
    """Whether ``--data`` names text files (no splits of their own), which ``evaluate`` scores whole."""
    return _file_list(data) is not None


def read_whole(data: str) -> Corpus:
    """The text files ``data`` names, every line, nothing carved out."""
    paths = _file_list(data) or []
    missing = [str(p) for p in paths if not p.is_file()]
    if missing or not paths:
        raise SeqlabError(f"file not found: {', '.join(missing) or data}")
    return _read_files(paths)


def load_split(cfg: LMDataConfig, split: str) -> Corpus:
    """One split (train, valid or test) of ``cfg.data``."""
    files = [Path(p.strip()).expanduser() for p in cfg.data.split(",")] if "," in cfg.data else None
    path = Path(cfg.data).expanduser()
    if files is not None or path.is_file():
        paths = files or [path]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise SeqlabError(f"file not found: {', '.join(missing)}")
        carved = _carve(_read_files(paths), cfg.split_seed)
        if split not in carved:
            raise SeqlabError(f"{cfg.data} is one text; its splits are carved as train, valid and test (no {split!r})")
        return carved[split]
    if path.is_dir():
        folder = path
    else:
        spec = lookup(cfg.data, "lm")
        if spec is None:
            raise SeqlabError(f"--data {cfg.data!r}: no such file or folder, and not a known dataset name "
                              "(known: wikitext-2; or give a text file)")
        local = local_dataset_dir(spec)
        if local is None:
            return _from_hub(spec, split)
        folder = local
    found = _find_split(folder, split)
    if found is not None:
        return _read_files([found])
    train = _find_split(folder, "train")
    if train is None:
        raise SeqlabError(f"{folder} has no train.* file (expected train.txt and optionally valid.txt, test.txt)")
    if split in ("valid", "test"):  # carve the missing held-out split from the training text
        return _carve(_read_files([train]), cfg.split_seed)[split]
    raise SeqlabError(f"{folder} has no {split!r} split (looked for {'/'.join(split_names(split))}.*)")


def load_train_valid(cfg: LMDataConfig) -> tuple[Corpus, Corpus]:
    train = load_split(cfg, "train")
    if cfg.valid_data:
        valid = _read_files([Path(cfg.valid_data).expanduser()])
    else:
        valid = load_split(cfg, "valid")
    for name, corpus in (("training", train), ("validation", valid)):
        if not any(line.strip() for line in corpus.lines):
            raise SeqlabError(f"{cfg.data}: the {name} text is empty")
    return train, valid


__all__ = ["Corpus", "LMDataConfig", "is_file_source", "iter_files", "iter_lines", "load_split", "load_train_valid",
           "read_lines", "read_whole"]
