"""On-disk cache of numericalised corpora, so text is tokenised once, not every run or epoch.

An entry is a safetensors file of flat id arrays plus a JSON of metadata, keyed
by a hash of everything that changes the result (data fingerprint + settings).
Both files are written to a temporary name and renamed, so an interrupted run
never leaves a half-written entry behind.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from seqlab.files import write_bytes_atomic
from seqlab.text.ragged import split_ragged

CACHE_ENV = "SEQLAB_CACHE"
CACHE_VERSION = 1


def cache_dir() -> Path:
    root = os.environ.get(CACHE_ENV) or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "seqlab")
    return Path(root).expanduser()


def fingerprint(*paths: Path) -> str:
    """A short hash of files' (or folders' files') paths, sizes and modification times: a cache key part."""
    h = hashlib.sha1()
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for p in files:
            st = p.stat()
            h.update(f"{p.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def key_hash(key: dict[str, Any]) -> str:
    blob = json.dumps({"v": CACHE_VERSION, **key}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def cached_arrays(key: dict[str, Any], compute: Callable[[], tuple[dict[str, np.ndarray], dict[str, Any]]],
                  enabled: bool = True) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Return ``compute()``'s ``(arrays, meta)``, from the cache when the same key was computed before."""
    from safetensors.numpy import load_file, save

    if not enabled:
        return compute()
    name = key_hash(key)
    arrays_path, meta_path = cache_dir() / f"{name}.safetensors", cache_dir() / f"{name}.json"
    if arrays_path.exists() and meta_path.exists():
        try:
            return load_file(str(arrays_path)), json.loads(meta_path.read_text(encoding="utf-8"))
        except Exception:  # a damaged entry is recomputed, never trusted
            pass
    arrays, meta = compute()
    try:
        write_bytes_atomic(arrays_path, save({k: np.ascontiguousarray(v) for k, v in arrays.items()}))
        write_bytes_atomic(meta_path, json.dumps(meta).encode("utf-8"))
    except OSError:
        pass  # a read-only or full cache folder must not stop training
    return arrays, meta


def to_ragged(seqs: list[list[int]]) -> dict[str, np.ndarray]:
    """Flat ids + offsets: the compact form of a list of id lists."""
    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    offsets = np.zeros(len(seqs) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    flat = np.fromiter((i for s in seqs for i in s), dtype=np.int32, count=int(offsets[-1]))
    return {"ids": flat, "offsets": offsets}


def from_ragged(ids: np.ndarray, offsets: np.ndarray) -> list[np.ndarray]:
    return split_ragged(ids, np.diff(offsets))
