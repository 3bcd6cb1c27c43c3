"""Writing files so that a reader never sees half of one: write a temporary file beside the target, then rename.

A rename within one directory is atomic on POSIX and Windows (``os.replace``): whoever opens the path sees the old
file or the new one, never a mixture, and a crash mid-way leaves the old file as it was. Every file seqlab writes
(model directories, checkpoints, caches, plots, pages) goes through :func:`atomic_path`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; write to it; on success it replaces ``path``, on failure it is removed.

    The temporary name keeps the suffix (libraries such as matplotlib choose the format by it) and holds the process
    id, so two processes writing the same target never share a temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
