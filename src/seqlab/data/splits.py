"""Split names and their aliases, one table for every task's data loader.

Users call the held-out split "valid", "validation", "val" or "dev" depending on
where their files come from; every loader accepts all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sized
from pathlib import Path
from typing import TypeVar

T = TypeVar("T", bound=Sized)

SPLIT_ALIASES: dict[str, tuple[str, ...]] = {
    "train": ("train",),
    "valid": ("valid", "validation", "val", "dev"),
    "test": ("test", "test_2016_flickr"),
}


def split_names(split: str) -> tuple[str, ...]:
    """The file/folder names that may hold ``split``, most common first (an unknown split is its own name)."""
    for canonical, aliases in SPLIT_ALIASES.items():
        if split == canonical or split in aliases:
            return (split, *[a for a in aliases if a != split]) if split != canonical else aliases
    return (split,)


WHOLE = "whole"  # the split a report names when a file with no splits of its own was scored whole


def canonical_split(split: str) -> str:
    """``dev`` -> ``valid``, ``test_2016_flickr`` -> ``test``; an unknown split is its own name."""
    return next((name for name, aliases in SPLIT_ALIASES.items() if split == name or split in aliases), split)


def _paths(data: str) -> list[Path] | None:
    """The resolved files ``data`` names (one path, or several joined with commas), or None if it names none."""
    paths = [Path(p.strip()).expanduser() for p in data.split(",")]
    if not all(p.exists() for p in paths):
        return None
    return [p.resolve() for p in paths]


def same_data(data: str, other: str | None) -> bool:
    """Whether two ``--data`` values name the same data: the same text, or the same file(s) however spelt."""
    if other is None:
        return False
    if data == other:
        return True
    mine, theirs = _paths(data), _paths(other)
    return mine is not None and mine == theirs


def own_part(data: str, split: str, trained_on: str) -> str | None:
    """``"train"`` or ``"valid"`` when ``data`` is the model's own training data and ``split`` asks for one of
    those parts (any alias); else None: a file handed to ``evaluate`` is then scored whole."""
    part = canonical_split(split)
    return part if part in ("train", "valid") and same_data(data, trained_on) else None


def training_data_warning(data: str, what: str) -> str:
    """The warning line ``evaluate`` prints when it scores (part of) the data the model learnt from."""
    return f"seqlab: warning: {data} is the model's training data: {what}"


def whole_file_note(data: str, split: str) -> str | None:
    """What ``evaluate`` says when ``--split train|valid`` meets a file that is not the model's training data (a
    file has no splits of its own: it is scored whole); None for any other split (``test`` is the default)."""
    if canonical_split(split) not in ("train", "valid"):
        return None
    return (f"seqlab: note: {data} is not the model's training data and has no splits of its own: scoring it whole "
            f"(--split {split} picks a part of the model's own training data only)")


def scored_line(data: str, split: str, count: int, unit: str) -> str:
    """What an evaluation scored, for its printed report: ``scored 400 examples: all of reviews.csv``."""
    part = f"all of {data}" if split == WHOLE else f"the {split} split of {data}"
    return f"scored {count:,} {unit}: {part}"


def scored_part(data: str, split: str, trained_on: str, unit: str, *, train_valid: Callable[[], tuple[T, T]],
                whole: Callable[[], T] | None, split_of: Callable[[str], T], log=print) -> tuple[T, str]:
    """What ``evaluate`` scores, the one rule of every task, and the name of what it is.

    The model's own training data with ``split`` train or valid: exactly that part as training made it
    (``train_valid()``, the seeded carve-out), the train part with a warning. Else a file (``whole`` given) is
    scored whole, ``"whole"``, with a warning when it is the training data and a note when ``--split`` asked for a
    part; a dataset or folder gives its ``split_of(split)``. ``unit`` names the examples (``"pairs"``, ...).
    """
    part = own_part(data, split, trained_on)
    if part is not None:
        train, valid = train_valid()
        if part == "valid":
            return valid, "valid"
        log(training_data_warning(data, f"scoring the {len(train):,} {unit} training learnt from, which says how "
                                        "well it fits them, not how it does on new text"))
        return train, "train"
    if whole is None:
        return split_of(split), split
    examples = whole()
    if same_data(data, trained_on):
        learnt = len(train_valid()[0])
        log(training_data_warning(data, f"scoring all {len(examples):,} {unit}, {learnt:,} of which training learnt "
                                        "from; give held-out data with --data, or --split valid for the part training "
                                        "held out"))
    elif (note := whole_file_note(data, split)) is not None:
        log(note)
    return examples, WHOLE
