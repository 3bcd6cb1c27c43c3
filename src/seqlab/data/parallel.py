"""Parallel text for translation: resolving ``--data``, reading aligned pairs, and carving held-out splits.

``--data`` may be a registered dataset (``multi30k``, ``eng-fra``), two line-aligned
files (``train.de,train.en``), a folder holding ``<split>.<src>`` and ``<split>.<tgt>``,
or a two-column tsv (source<TAB>target). Named datasets are found like every other one
(``seqlab.data.registry``): an explicit path, then ``$SEQLAB_DATA/<folder>``, then the hub.

Every line is read with ``line.rstrip("\\n").strip()`` (Multi30k has a TAB inside one
German sentence, so lines are never split on tabs unless the file *is* a tsv). A pair
whose source or target is empty is dropped and counted, never silently shifted: the
two sides are only ever read and filtered together.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from seqlab.config import at_least, require
from seqlab.data.cache import fingerprint
from seqlab.data.readers import open_text_lines
from seqlab.data.registry import DatasetSpec, load_hub, local_dataset_dir, lookup, register
from seqlab.data.splits import split_names
from seqlab.errors import SeqlabError

MULTI30K = register(DatasetSpec(
    name="multi30k", task="translate", folder="multi30k", hub_name="bentrevett/multi30k",
    splits={"train": "train", "valid": "val", "test": "test_2016_flickr"},
    description="Multi30k task 1: 29k/1,014/1,000 image captions in en/de/fr/cs (Elliott et al. 2016)",
))
EN_FRA = register(DatasetSpec(
    name="eng-fra", task="translate", folder="eng-fra", hub_name="",
    splits={"train": "eng-fra.txt"},
    description="Tatoeba English-French pairs (manythings.org, 2017-09-29), 142,787 lines, English<TAB>French",
))
TSV_LANGUAGES = {"eng-fra": ("en", "fr")}  # the column languages of registered tsv datasets
MULTI30K_LANGUAGES = ("en", "de", "fr", "cs")
HUB_LANGUAGES = {"multi30k": ("en", "de")}  # bentrevett/multi30k holds only English and German



@dataclass
class TranslateDataConfig:
    """Which parallel text to train on and how to hold out validation/test data."""

    data: str = field(default="multi30k", metadata={
        "help": "multi30k | eng-fra | SRC_FILE,TGT_FILE | a folder with train.<src>/train.<tgt> | a 2-column tsv"})
    src: str = field(default="de", metadata={"help": "source language (file suffix / dataset language)"})
    tgt: str = field(default="en", metadata={"help": "target language"})
    valid_data: str | None = field(default=None, metadata={
        "help": "explicit validation data (SRC_FILE,TGT_FILE or tsv); else the folder's valid split or a carve-out"})
    heldout: int = field(default=1000, metadata={
        "help": "pairs carved for validation and for test (each) when the data has no such split (at most 10%%)"})
    split_seed: int = field(default=1234, metadata={"help": "seed of the held-out carve-out"})
    limit: int | None = field(default=None, metadata={"help": "use at most this many training pairs"})

    def __post_init__(self) -> None:
        require(bool(self.src) and bool(self.tgt) and self.src != self.tgt,
                f"--src and --tgt must be two different languages, got {self.src!r} and {self.tgt!r}")
        at_least(self, 1, "heldout", "limit")


@dataclass
class ParallelTexts:
    """Aligned source/target sentences and how many pairs reading dropped."""

    src: list[str]
    tgt: list[str]
    source: str  # where it came from, for messages and the cache key
    dropped_empty: int = 0

    def __len__(self) -> int:
        return len(self.src)

    def subset(self, indices: list[int], source: str) -> ParallelTexts:
        return ParallelTexts([self.src[i] for i in indices], [self.tgt[i] for i in indices], source, 0)


def clean_line(line: str) -> str:
    return line.rstrip("\n").strip()


def _drop_empty(src: list[str], tgt: list[str], source: str) -> ParallelTexts:
    keep = [i for i, (s, t) in enumerate(zip(src, tgt, strict=True)) if s and t]
    return ParallelTexts([src[i] for i in keep], [tgt[i] for i in keep], source, len(src) - len(keep))


def _file_pairs(src_path: Path, tgt_path: Path) -> Iterator[tuple[str, str]]:
    """Two line-aligned files' lines side by side (cleaned, empty ones too), read a line at a time; files of
    different lengths are refused when the shorter one ends (the other counted to its end for the message)."""
    src_lines, tgt_lines = open_text_lines(src_path), open_text_lines(tgt_path)
    n_src = n_tgt = 0
    while True:
        a, b = next(src_lines, None), next(tgt_lines, None)
        n_src, n_tgt = (a[0] if a else n_src), (b[0] if b else n_tgt)
        if a is None or b is None:
            break
        yield clean_line(a[1]), clean_line(b[1])
    n_src += sum(1 for _ in src_lines)
    n_tgt += sum(1 for _ in tgt_lines)
    if n_src != n_tgt:
        raise SeqlabError(f"{src_path} has {n_src:,} lines but {tgt_path} has {n_tgt:,}; parallel files "
                          "must be line-aligned (one sentence per line, the same line count)")


def _tsv_pairs(path: Path, src_column: int, tgt_column: int) -> Iterator[tuple[str, str]]:
    """A tsv's pairs, one per line (a blank line as an empty pair)."""
    for number, line in open_text_lines(path):
        line = line.rstrip("\n").rstrip("\r")
        if not line.strip():
            yield "", ""
            continue
        cols = line.split("\t")
        if len(cols) < 2:
            raise SeqlabError(f"{path}: line {number} has no TAB; a tsv needs source<TAB>target on every line")
        yield cols[src_column].strip(), cols[tgt_column].strip()


def _gathered(pairs: Iterator[tuple[str, str]], source: Callable[[], str]) -> ParallelTexts:
    src: list[str] = []
    tgt: list[str] = []
    for s, t in pairs:
        src.append(s)
        tgt.append(t)
    return _drop_empty(src, tgt, source())  # named once read: a missing file is said by the reader


def iter_parallel_files(src_path: str | Path, tgt_path: str | Path) -> Iterator[tuple[str, str]]:
    """Stream two line-aligned files as ``(source, target)`` pairs, one line of each held at a time; pairs with an
    empty side are skipped (:func:`read_parallel_files` counts them); different lengths are an error."""
    for s, t in _file_pairs(Path(src_path).expanduser(), Path(tgt_path).expanduser()):
        if s and t:
            yield s, t


def read_parallel_files(src_path: str | Path, tgt_path: str | Path) -> ParallelTexts:
    """Two line-aligned files; a different number of lines is an error, never a silent shift."""
    src_path, tgt_path = Path(src_path).expanduser(), Path(tgt_path).expanduser()
    return _gathered(_file_pairs(src_path, tgt_path),
                     lambda: f"{src_path}|{tgt_path}@{fingerprint(src_path, tgt_path)}")


def iter_parallel_tsv(path: str | Path, src_column: int = 0, tgt_column: int = 1) -> Iterator[tuple[str, str]]:
    """Stream tab-separated pairs, one per line, as ``(source, target)``; extra columns are ignored and pairs
    with an empty side skipped, as :func:`read_parallel_tsv` reads them."""
    for s, t in _tsv_pairs(Path(path).expanduser(), src_column, tgt_column):
        if s and t:
            yield s, t


def read_parallel_tsv(path: str | Path, src_column: int = 0, tgt_column: int = 1) -> ParallelTexts:
    """Tab-separated pairs, one per line; extra columns (e.g. Tatoeba attributions) are ignored."""
    path = Path(path).expanduser()
    return _gathered(_tsv_pairs(path, src_column, tgt_column),
                     lambda: f"{path}#{src_column}{tgt_column}@{fingerprint(path)}")


def _find_split(folder: Path, split: str, src: str, tgt: str) -> tuple[Path, Path] | None:
    for name in split_names(split):
        s, t = folder / f"{name}.{src}", folder / f"{name}.{tgt}"
        if s.is_file() and t.is_file():
            return s, t
    return None


def _folder_languages(folder: Path) -> list[str]:
    return sorted({p.suffix[1:] for p in folder.iterdir() if p.is_file() and p.suffix})


def _read_folder(folder: Path, split: str, src: str, tgt: str) -> ParallelTexts:
    found = _find_split(folder, split, src, tgt)
    if found is None:
        names = "/".join(split_names(split))
        raise SeqlabError(f"{folder} has no {split} split for {src}->{tgt} (looked for {names}.{src} and "
                          f"{names}.{tgt}; languages there: {', '.join(_folder_languages(folder)) or 'none'})")
    return read_parallel_files(*found)


def _tsv_columns(name: str, src: str, tgt: str) -> tuple[int, int]:
    langs = TSV_LANGUAGES[name]
    if src not in langs or tgt not in langs:
        raise SeqlabError(f"{name} holds {langs[0]} and {langs[1]}; use --src {langs[0]} --tgt {langs[1]} "
                          f"or --src {langs[1]} --tgt {langs[0]} (got {src}->{tgt})")
    return langs.index(src), langs.index(tgt)


def _from_hub(spec: DatasetSpec, split: str, src: str, tgt: str) -> ParallelTexts:
    langs = HUB_LANGUAGES.get(spec.name, ())
    if not spec.hub_name or src not in langs or tgt not in langs:
        from seqlab.data.registry import not_found_message

        raise SeqlabError(not_found_message(spec))
    hub_split = {"valid": "validation", "test_2016_flickr": "test"}.get(split, split)
    ds = load_hub(spec, hub_split)
    return _drop_empty([clean_line(s) for s in ds[src]], [clean_line(t) for t in ds[tgt]],
                       f"hub:{spec.hub_name}:{hub_split}")


def _is_file_pair(data: str) -> bool:
    return "," in data and len(data.split(",")) == 2 and not Path(data).expanduser().exists()


def _single_source(cfg: TranslateDataConfig) -> ParallelTexts | None:
    """The whole corpus when ``--data`` names one file or file pair (held-out splits are carved from it)."""
    if _is_file_pair(cfg.data):
        src_file, tgt_file = (p.strip() for p in cfg.data.split(","))
        return read_parallel_files(src_file, tgt_file)
    path = Path(cfg.data).expanduser()
    if path.is_file():
        return read_parallel_tsv(path)
    if not path.exists():
        spec = lookup(cfg.data, "translate")
        if spec is not None and spec.name in TSV_LANGUAGES:
            local = local_dataset_dir(spec)
            if local is None:
                from seqlab.data.registry import not_found_message

                raise SeqlabError(not_found_message(spec))
            return read_parallel_tsv(local / spec.splits["train"], *_tsv_columns(spec.name, cfg.src, cfg.tgt))
    return None


def _folder(cfg: TranslateDataConfig) -> Path | DatasetSpec:
    """The split folder for ``cfg.data``, else the registered dataset to fetch from the hub."""
    path = Path(cfg.data).expanduser()
    if path.is_dir():
        return path
    spec = lookup(cfg.data, "translate")
    if spec is None:
        raise SeqlabError(f"--data {cfg.data!r}: no such file or folder, and not a known dataset name "
                          "(known: multi30k, eng-fra; or give SRC_FILE,TGT_FILE)")
    if spec.name == "multi30k" and (cfg.src not in MULTI30K_LANGUAGES or cfg.tgt not in MULTI30K_LANGUAGES):
        raise SeqlabError(f"multi30k has the languages {', '.join(MULTI30K_LANGUAGES)}; got {cfg.src}->{cfg.tgt}")
    return local_dataset_dir(spec) or spec


def _carve(data: ParallelTexts, cfg: TranslateDataConfig) -> dict[str, ParallelTexts]:
    """Seeded train/valid/test split of one corpus, grouped by source sentence.

    Tatoeba repeats English sentences with several translations; holding out whole groups
    keeps every held-out source sentence out of training.
    """
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(data.src):
        groups.setdefault(s, []).append(i)
    keys = list(groups)
    random.Random(cfg.split_seed).shuffle(keys)
    n_held = min(cfg.heldout, max(1, len(data) // 10))
    parts: dict[str, list[int]] = {"valid": [], "test": [], "train": []}
    for key in keys:
        part = "valid" if len(parts["valid"]) < n_held else "test" if len(parts["test"]) < n_held else "train"
        parts[part].extend(groups[key])
    if len(parts["train"]) < 2:
        raise SeqlabError(f"{cfg.data}: {len(data)} pairs are too few to hold out validation and test data")
    tag = f"#heldout{n_held}:{cfg.split_seed}"
    return {name: data.subset(sorted(idx), f"{data.source}{tag}:{name}") for name, idx in parts.items()}


def load_split(cfg: TranslateDataConfig, split: str) -> ParallelTexts:
    """One split (``train``, ``valid``, ``test`` or a file name such as ``test_2016_flickr``) of ``cfg.data``."""
    whole = _single_source(cfg)
    if whole is not None:
        carved = _carve(whole, cfg)
        if split not in carved:
            raise SeqlabError(f"{cfg.data} is one corpus; its splits are carved as train, valid and test "
                              f"(no {split!r})")
        out = carved[split]
        if split == "train":
            out.dropped_empty = whole.dropped_empty
        return out
    found = _folder(cfg)
    if isinstance(found, Path):
        return _read_folder(found, split, cfg.src, cfg.tgt)
    return _from_hub(found, split, cfg.src, cfg.tgt)


def load_train_valid(cfg: TranslateDataConfig) -> tuple[ParallelTexts, ParallelTexts]:
    """Training and validation pairs; the training pairs optionally limited with a seeded sample."""
    train = load_split(cfg, "train")
    if cfg.valid_data:
        if _is_file_pair(cfg.valid_data) or Path(cfg.valid_data).expanduser().is_file():
            valid = read_whole(cfg.valid_data)
        else:
            valid = load_split(TranslateDataConfig(data=cfg.valid_data, src=cfg.src, tgt=cfg.tgt), "valid")
    else:
        valid = load_split(cfg, "valid")
    if cfg.limit is not None and cfg.limit < len(train):
        order = list(range(len(train)))
        random.Random(cfg.split_seed + 1).shuffle(order)
        dropped = train.dropped_empty
        train = train.subset(sorted(order[: cfg.limit]), f"{train.source}#limit{cfg.limit}")
        train.dropped_empty = dropped
    if not len(train) or not len(valid):
        raise SeqlabError(f"{cfg.data}: no non-empty training or validation pairs")
    return train, valid


def is_file_source(data: str) -> bool:
    """Whether ``--data`` names a file pair (``SRC_FILE,TGT_FILE``) or one tsv file: data with no splits of its own,
    which ``evaluate`` scores whole (a registered dataset such as eng-fra keeps its carved splits)."""
    return _is_file_pair(data) or Path(data).expanduser().is_file()


def read_whole(data: str) -> ParallelTexts:
    """A file pair or tsv taken as it is, not carved (an explicit validation file, or a file to evaluate)."""
    if _is_file_pair(data):
        a, b = (p.strip() for p in data.split(","))
        return read_parallel_files(a, b)
    return read_parallel_tsv(data)


__all__ = ["ParallelTexts", "TranslateDataConfig", "clean_line", "is_file_source", "iter_parallel_files",
           "iter_parallel_tsv", "load_split", "load_train_valid", "read_parallel_files", "read_parallel_tsv", "read_whole"]
