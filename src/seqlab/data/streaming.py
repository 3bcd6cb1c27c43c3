"""Streams of examples larger than memory: shards, parallel work on chunks in order, and batches from windows.

Three pieces, each usable alone (README, "Corpora larger than memory"):

- :class:`Shard` splits a stream into disjoint parts by *chunks* of consecutive examples, chunk ``c`` going to part
  ``c % count``: the parts of one stream never overlap and together hold every example once. A rank of a
  distributed job takes ``shard(rank, world)``; a loader worker of that rank ``shard(rank, world).split(worker,
  workers)`` (:func:`worker_shard` reads the worker from ``torch.utils.data``); the split of a split is again a
  shard of the whole stream, so every example is still seen exactly once per epoch.
- :func:`ordered_map` runs a function on chunks in worker processes and yields the results in input order, with at
  most a few chunks in flight (memory stays bounded whatever the stream's length). Tokenising is pure Python
  (``re`` holds the GIL), so processes, not threads, are what run it on several cores.
- :func:`window_batches` forms length-bucketed batches from a bounded window of the data at a time: each window
  gathers randomly chosen chunks, is shuffled and bucketed on its own (the pools of
  :func:`~seqlab.data.batching.bucket_batches`), and its batches come before the next window's. A training run
  therefore touches one window's examples at a time (a memory-mapped cache gives their pages back between windows),
  yet every example is in exactly one batch per epoch. Data that fits in one window gets exactly the batches of
  :func:`~seqlab.data.batching.bucket_batches`.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from seqlab.data.batching import bucket_batches
from seqlab.errors import SeqlabError

if TYPE_CHECKING:
    import torch

T = TypeVar("T")
R = TypeVar("R")

CHUNK = 1024  # examples a chunk holds: the unit of shards, of parallel work and of windows
WINDOW = 65_536  # examples a training window holds (IMDB's 22,500 training reviews are one window)


# ---------------------------------------------------------------------------- shards
@dataclass(frozen=True)
class Shard:
    """Part ``index`` of ``count`` of a stream: the chunks ``c`` with ``c % count == index``."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise SeqlabError(f"shard {self.index} of {self.count}: the index must be in 0..count-1")

    @property
    def whole(self) -> bool:
        return self.count == 1

    def owns(self, chunk: int) -> bool:
        """Whether chunk number ``chunk`` of the stream is in this shard."""
        return chunk % self.count == self.index

    def split(self, index: int, count: int) -> Shard:
        """Part ``index`` of ``count`` of this shard (a loader worker's part of a rank's): a shard of the whole."""
        Shard(index, count)  # checked
        return Shard(self.index + self.count * index, self.count * count)

    def chunks(self, items: Iterable[T], size: int = CHUNK) -> Iterator[list[T]]:
        """This shard's chunks of ``items`` (lists of ``size`` consecutive items; the last may be shorter)."""
        for number, chunk in enumerate(chunked(items, size)):
            if self.owns(number):
                yield chunk

    def of(self, items: Iterable[T], size: int = CHUNK) -> Iterator[T]:
        """This shard's items of ``items``, in stream order."""
        for chunk in self.chunks(items, size):
            yield from chunk

    def indices(self, n: int, size: int = CHUNK) -> np.ndarray:
        """The positions of this shard's examples among ``n``."""
        starts = np.arange(self.index * size, n, self.count * size)
        if not len(starts):
            return np.zeros(0, dtype=np.int64)
        return np.concatenate([np.arange(s, min(int(s) + size, n)) for s in starts.tolist()])


def shard(index: int = 0, count: int = 1) -> Shard:
    """Part ``index`` of ``count`` of a stream (``shard(rank, world)`` under torchrun)."""
    return Shard(index, count)


def worker_shard(base: Shard | None = None) -> Shard:
    """Inside a ``torch.utils.data`` loader worker: this worker's part of ``base`` (the rank's shard); outside one,
    ``base`` itself. An ``IterableDataset`` that reads ``worker_shard(rank_shard).of(stream)`` gives each example to
    one worker of one rank."""
    base = base or Shard()
    try:
        from torch.utils.data import get_worker_info
    except ImportError:
        return base
    info = get_worker_info()
    return base if info is None else base.split(info.id, info.num_workers)


def chunked(items: Iterable[T], size: int = CHUNK) -> Iterator[list[T]]:
    """Lists of ``size`` consecutive items (the last may be shorter)."""
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# ---------------------------------------------------------------------------- parallel work, in order
def default_workers() -> int:
    """Processes for CPU-bound preparation: the cores this process may use (``os.sched_getaffinity``)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


_WORKER_STATE: dict[str, Any] = {}


def _init_worker(setup: Callable[[], Any] | None) -> None:
    _WORKER_STATE["context"] = setup() if setup is not None else None


def _call(fn: Callable[[Any, Any], Any], item: Any) -> Any:
    return fn(_WORKER_STATE["context"], item)


def ordered_map(fn: Callable[[Any, T], R], items: Iterable[T], workers: int, *,
                setup: Callable[[], Any] | None = None, inflight: int | None = None) -> Iterator[R]:
    """``fn(context, item)`` for each item, in order, where ``context = setup()`` is built once per process.

    ``workers`` 0 runs everything here; more runs that many processes, with at most ``inflight`` items (default
    twice the workers) handed out and not yet taken back, so a long stream never piles up in memory. ``fn`` and
    ``setup`` must be module-level functions (or picklable) where processes are spawned rather than forked. An
    exception in a worker (a :class:`SeqlabError` about the data) is raised here, at its item.
    """
    items = iter(items)
    head = list(itertools.islice(items, 2))
    if workers < 1 or len(head) < 2:  # one item: not worth a process
        context = setup() if setup is not None else None
        for item in itertools.chain(head, items):
            yield fn(context, item)
        return
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    limit = inflight or 2 * workers
    pool = ctx.Pool(workers, initializer=_init_worker, initargs=(setup,))
    try:
        pending: deque = deque()
        for item in itertools.chain(head, items):
            pending.append(pool.apply_async(_call, (fn, item)))
            if len(pending) >= limit:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()
        pool.close()
    finally:
        pool.terminate()
        pool.join()


# ---------------------------------------------------------------------------- batches from windows
class WindowBatch(list):
    """A batch (a list of example indices) that knows its window: a task reading a memory-mapped split gives the
    pages of window ``w`` back once the batches of window ``w + 1`` begin. JSON writes it as the plain list."""

    window: int

    def __init__(self, indices: Iterable[int], window: int) -> None:
        super().__init__(indices)
        self.window = window


def windows(n: int, *, window: int = WINDOW, chunk: int = CHUNK,
            generator: torch.Generator | None = None) -> list[np.ndarray]:
    """The example indices of each window of an epoch: the ``n`` examples' chunks in a random order (``generator``),
    ``window // chunk`` chunks a window, each window's indices sorted (reads go forward through the file)."""
    import torch

    if n <= window:
        return [np.arange(n)]
    per_window = max(1, window // chunk)
    order = torch.randperm(-(-n // chunk), generator=generator).numpy()
    out = []
    for first in range(0, len(order), per_window):
        starts = np.sort(order[first: first + per_window]) * chunk
        out.append(np.concatenate([np.arange(s, min(s + chunk, n)) for s in starts.tolist()]))
    return out


def window_batches(lengths: Sequence[int] | np.ndarray, *, batch_size: int | None = None,
                   max_tokens: int | None = None, generator: torch.Generator | None = None,
                   window: int = WINDOW, chunk: int = CHUNK) -> list[WindowBatch]:
    """Shuffled length-bucketed batches of an epoch, one window at a time (see the module's docstring).

    Every example is in exactly one batch; each batch holds examples of one window; the batches of a window are
    shuffled among themselves, and the windows follow one another. With ``len(lengths) <= window`` the batches are
    exactly ``bucket_batches(lengths, shuffle=True, ...)``'s.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    out: list[WindowBatch] = []
    for number, members in enumerate(windows(len(lengths), window=window, chunk=chunk, generator=generator)):
        for batch in bucket_batches(lengths[members], batch_size=batch_size, max_tokens=max_tokens, shuffle=True,
                                    generator=generator):
            out.append(WindowBatch(members[batch].tolist(), number))
    return out


__all__ = ["CHUNK", "WINDOW", "Shard", "WindowBatch", "chunked", "default_workers", "ordered_map", "shard",
           "window_batches", "windows", "worker_shard"]
