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


# ---------------------------------------------------------------------------- chunked, memory-mapped entries
# A corpus larger than memory cannot be tokenised into one array and saved at once: an entry of this kind is a
# folder of flat binary arrays, appended to chunk by chunk while the corpus streams past, and read back as
# ``numpy.memmap`` views (only the pages a batch touches are read; :meth:`Ragged.release` gives them back).
ENTRY_META = "meta.json"


class RaggedWriter:
    """Appends id sequences, a chunk at a time, to ``NAME.ids`` (flat) and ``NAME.offsets`` (int64, one more than
    the sequences); nothing but the running total stays in memory."""

    def __init__(self, folder: Path, name: str, dtype: str = "int32") -> None:
        self.name, self.dtype = name, np.dtype(dtype)
        self._ids = open(folder / f"{name}.ids", "wb")
        self._offsets = open(folder / f"{name}.offsets", "wb")
        self._offsets.write(np.zeros(1, dtype=np.int64).tobytes())
        self.count = self.total = 0

    def append(self, flat: np.ndarray, lengths: np.ndarray) -> None:
        """Add ``len(lengths)`` sequences whose ids follow one another in ``flat``."""
        lengths = np.asarray(lengths, dtype=np.int64)
        if int(lengths.sum()) != len(flat):
            raise ValueError(f"{len(flat)} ids for sequences of {int(lengths.sum())} in all")
        self._ids.write(np.ascontiguousarray(flat, dtype=self.dtype).tobytes())
        self._offsets.write((np.cumsum(lengths) + self.total).tobytes())
        self.count += len(lengths)
        self.total += int(lengths.sum())

    def close(self) -> dict[str, Any]:
        self._ids.close()
        self._offsets.close()
        return {"count": self.count, "total": self.total, "dtype": self.dtype.name}


def _mapped(path: Path, dtype: np.dtype, count: int) -> np.ndarray:
    if count == 0:  # an empty file cannot be mapped
        return np.zeros(0, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r", shape=(count,))


class Ragged:
    """Id sequences read from a memory map: ``ragged[i]`` is sequence ``i`` (a read-only view), ``len(ragged)`` their
    count, :attr:`lengths` each one's length. Indexing reads only the pages it touches."""

    def __init__(self, ids: np.ndarray, offsets: np.ndarray) -> None:
        self.ids, self.offsets = ids, offsets
        self.lengths = np.diff(np.asarray(offsets))

    @classmethod
    def open(cls, folder: Path, name: str, info: dict[str, Any]) -> Ragged:
        dtype = np.dtype(info["dtype"])
        return cls(_mapped(folder / f"{name}.ids", dtype, info["total"]),
                   np.asarray(_mapped(folder / f"{name}.offsets", np.dtype(np.int64), info["count"] + 1)))

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, i):
        if isinstance(i, slice):  # a list of views (what a loop over chunks of documents takes)
            return [self[j] for j in range(*i.indices(len(self)))]
        return self.ids[self.offsets[i]: self.offsets[i + 1]]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def span(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Sequences ``start..stop-1`` as ``(flat ids, lengths)``: one contiguous read."""
        return self.ids[self.offsets[start]: self.offsets[stop]], self.lengths[start:stop]

    def passing(self) -> PassingView:
        """This array read once front to back (a pass that counts or rewrites it), its pages given back as it goes."""
        return PassingView(self)

    def release(self, start: int = 0, stop: int | None = None) -> None:
        """Tell the kernel this process is done with sequences ``start..stop-1`` for now: their pages leave its
        resident memory (they stay in the page cache, and a later read maps them again)."""
        mm = getattr(self.ids, "_mmap", None)
        if mm is None or not hasattr(mm, "madvise") or len(self.ids) == 0:
            return
        import mmap

        stop = len(self) if stop is None else stop
        item = self.ids.itemsize
        first, last = int(self.offsets[start]) * item, int(self.offsets[stop]) * item
        first -= first % mmap.PAGESIZE
        if last > first:
            mm.madvise(mmap.MADV_DONTNEED, first, min(last - first, len(mm) - first))


class PassingView:
    """A :class:`Ragged` for one pass over it in chunks (``view[a:b]``): each chunk comes as arrays of its own and the
    pages it was read from leave this process's memory at once, so a pass over a memory map larger than memory
    holds one chunk (a whole pass over mapped pages would otherwise keep them all resident)."""

    def __init__(self, ragged: Ragged) -> None:
        self.ragged = ragged

    def __len__(self) -> int:
        return len(self.ragged)

    def __getitem__(self, i):
        if not isinstance(i, slice):
            return np.array(self.ragged[i])
        start, stop, _ = i.indices(len(self.ragged))
        chunk = [np.array(d) for d in self.ragged[i]]
        self.ragged.release(start, max(start, stop))
        return chunk


class EntryBuilder:
    """Writes the arrays of one entry into its (temporary) folder: ragged sequences chunk by chunk, flat arrays."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.arrays: dict[str, dict[str, Any]] = {}

    def ragged(self, name: str, dtype: str = "int32") -> RaggedWriter:
        return RaggedWriter(self.folder, name, dtype)

    def add_ragged(self, writer: RaggedWriter) -> None:
        self.arrays[writer.name] = {"kind": "ragged", **writer.close()}

    def array(self, name: str, values: np.ndarray) -> None:
        values = np.ascontiguousarray(values)
        (self.folder / f"{name}.array").write_bytes(values.tobytes())
        self.arrays[name] = {"kind": "array", "count": len(values), "dtype": values.dtype.name}


class CacheEntry:
    """A finished entry: its metadata and its arrays, memory-mapped."""

    def __init__(self, folder: Path, meta: dict[str, Any], arrays: dict[str, dict[str, Any]]) -> None:
        self.folder, self.meta, self.arrays = folder, meta, arrays

    def ragged(self, name: str) -> Ragged:
        return Ragged.open(self.folder, name, self.arrays[name])

    def array(self, name: str) -> np.ndarray:
        info = self.arrays[name]
        return _mapped(self.folder / f"{name}.array", np.dtype(info["dtype"]), info["count"])

    @classmethod
    def read(cls, folder: Path) -> CacheEntry:
        blob = json.loads((folder / ENTRY_META).read_text(encoding="utf-8"))
        for name, info in blob["arrays"].items():  # a damaged entry (a file cut short) is rebuilt, never trusted
            files = [f"{name}.ids", f"{name}.offsets"] if info["kind"] == "ragged" else [f"{name}.array"]
            sizes = ([info["total"] * np.dtype(info["dtype"]).itemsize, (info["count"] + 1) * 8]
                     if info["kind"] == "ragged" else [info["count"] * np.dtype(info["dtype"]).itemsize])
            if any((folder / f).stat().st_size != size for f, size in zip(files, sizes, strict=True)):
                raise ValueError(f"{folder}: {name} is not the size its metadata says")
        return cls(folder, blob["meta"], blob["arrays"])


_SCRATCH: list[Any] = []  # temporary folders of entries built with the cache off, removed when the process ends


def cached_entry(key: dict[str, Any], build: Callable[[EntryBuilder], dict[str, Any]],
                 enabled: bool = True) -> CacheEntry:
    """The chunked entry for ``key``: found in the cache, or made by ``build(builder)`` (which writes the arrays
    through ``builder`` and returns the JSON metadata) in a temporary folder renamed into place when complete, so
    an interrupted run leaves no half-written entry and two processes building one key both end with a whole one.
    With the cache off, or a cache folder that cannot be written, the entry lives in a temporary folder instead."""
    import shutil
    import tempfile

    name = key_hash({"format": "chunked-1", **key})
    final = cache_dir() / name
    if enabled and (final / ENTRY_META).is_file():
        try:
            return CacheEntry.read(final)
        except (OSError, ValueError, KeyError, TypeError):
            pass  # damaged: built again below
    try:
        if not enabled:
            raise OSError("cache disabled")
        final.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{name}.{os.getpid()}.", dir=final.parent))
    except OSError:  # a read-only or full cache folder must not stop training
        scratch = tempfile.TemporaryDirectory(prefix="seqlab-entry-")
        _SCRATCH.append(scratch)
        work, final = Path(scratch.name), None  # type: ignore[assignment]
    try:
        builder = EntryBuilder(work)
        meta = build(builder)
        (work / ENTRY_META).write_text(json.dumps({"meta": meta, "arrays": builder.arrays}), encoding="utf-8")
    except BaseException:
        if final is not None:
            shutil.rmtree(work, ignore_errors=True)
        raise
    if final is None:
        return CacheEntry.read(work)
    try:
        os.replace(work, final)  # fails when a folder is there: another process's entry, or a damaged one
    except OSError:
        try:
            entry = CacheEntry.read(final)  # the other process finished the same key first: its entry is whole
            shutil.rmtree(work, ignore_errors=True)
            return entry
        except (OSError, ValueError, KeyError, TypeError):
            stale = final.with_name(f".{name}.{os.getpid()}.stale")
            os.replace(final, stale)  # a damaged entry: out of the way (a reader that maps it keeps its files)
            shutil.rmtree(stale, ignore_errors=True)
            os.replace(work, final)
    return CacheEntry.read(final)
