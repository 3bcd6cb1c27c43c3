"""Split names and their aliases, one table for every task's data loader.

Users call the held-out split "valid", "validation", "val" or "dev" depending on
where their files come from; every loader accepts all of them.
"""

from __future__ import annotations

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
