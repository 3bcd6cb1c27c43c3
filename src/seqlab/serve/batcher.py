"""Dynamic micro-batching: the requests for one model are queued and run together on the model's own thread.

A batch starts with the oldest waiting request and takes every later request with the same *key* (the task and
the options that change how a batch runs, e.g. the beam size) until it holds ``max_batch`` texts; it closes then,
or when its oldest request has waited ``max_wait`` seconds, whichever comes first. The model runs on one worker
thread per model (torch releases the GIL inside its kernels, so the event loop keeps accepting requests), and each
request gets back exactly the slice of results that belongs to its own texts.

The queue is bounded in texts (``max_queue``): :meth:`MicroBatcher.submit` raises :class:`QueueFull` rather than
letting memory grow. A request that is cancelled (its client timed out or went away) is dropped from the queue, or
its results discarded if its batch is already running. :meth:`MicroBatcher.close` stops taking requests and returns
once everything already queued has run: the drain of a graceful shutdown.

This module knows nothing of HTTP or of models: a batch is run by the ``run_batch(key, items) -> results`` it is given
(one result per item, in order), which makes it testable with plain functions.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("seqlab.serve")
_unique = itertools.count()


class QueueFull(Exception):
    """The model's queue holds ``max_queue`` texts already: answer 503 and ask the client to retry later."""

    def __init__(self, queued: int, retry_after: int) -> None:
        super().__init__(f"{queued} texts already waiting")
        self.queued, self.retry_after = queued, retry_after


class ShuttingDown(Exception):
    """The server is draining: no new work is taken."""


@dataclass(eq=False)
class Job:
    """One request's share of the work: its items, the options key, and the future its results go to."""

    key: Hashable
    items: list[Any]
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop
    enqueued: float = field(default_factory=time.monotonic)
    call: Callable[[], Any] | None = None  # exclusive work (a token stream): runs alone, returns its own result
    cancelled: bool = False

    @property
    def size(self) -> int:
        return len(self.items)


def _settle(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if future.done():  # the request timed out or its client went away: nobody waits for this
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class MicroBatcher:
    """Queue + worker thread of one model. ``submit``/``call`` from the event loop; ``close`` to drain."""

    def __init__(self, name: str, run_batch: Callable[[Hashable, list[Any]], list[Any]], *, max_batch: int,
                 max_wait: float, max_queue: int, on_batch: Callable[[int, float, float], None] | None = None) -> None:
        """``on_batch(texts, oldest wait in s, run time in s)`` is told about every batch run (metrics)."""
        self.name, self.run_batch = name, run_batch
        self.max_batch, self.max_wait, self.max_queue = max_batch, max_wait, max_queue
        self.on_batch = on_batch
        self._pending: deque[Job] = deque()
        self._queued = 0  # texts waiting (not yet running)
        self._cond = threading.Condition()
        self._closing = False
        self._rate = 0.0  # texts/s of recent batches, for Retry-After
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ event-loop side
    @property
    def queued(self) -> int:
        """Texts waiting to run (the queue-depth gauge)."""
        return self._queued

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._closing

    def start(self, reopen: bool = False) -> None:
        """Start the worker thread, once; ``reopen``: also after :meth:`close` has drained it (the app's lifespan
        starts again, as a test client's does each time it is entered)."""
        with self._cond:
            if reopen and self._closing and (self._thread is None or not self._thread.is_alive()):
                self._closing, self._thread = False, None
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name=f"seqlab-serve-{self.name}", daemon=True)
                self._thread.start()

    def submit(self, key: Hashable, items: list[Any]) -> Job:
        """Queue ``items`` to run in a batch of jobs with the same ``key``; await ``job.future`` for their results."""
        loop = asyncio.get_running_loop()
        return self._enqueue(Job(key=key, items=list(items), future=loop.create_future(), loop=loop))

    def call(self, fn: Callable[[], Any], weight: int = 1) -> Job:
        """Run ``fn()`` alone on the model's thread, in queue order (a stream of tokens holds the model throughout)."""
        loop = asyncio.get_running_loop()
        return self._enqueue(Job(key=("call", next(_unique)), items=[None] * weight, future=loop.create_future(),
                                 loop=loop, call=fn))

    def _enqueue(self, job: Job) -> Job:
        self.start()
        with self._cond:
            if self._closing:
                raise ShuttingDown(f"model {self.name!r} is shutting down")
            if self._queued + job.size > self.max_queue:
                raise QueueFull(self._queued, self._retry_after())
            self._pending.append(job)
            self._queued += job.size
            self._cond.notify()
        return job

    def cancel(self, job: Job) -> None:
        """Forget a job whose client stopped waiting: out of the queue if it has not started, else results dropped."""
        with self._cond:
            job.cancelled = True
            try:
                self._pending.remove(job)
            except ValueError:
                return  # already running or done
            self._queued -= job.size
            self._cond.notify()  # a batch waiting on this job's deadline re-plans

    async def run(self, key: Hashable, items: list[Any], timeout: float) -> list[Any]:
        """Submit and wait at most ``timeout`` seconds (``TimeoutError`` then; the job is cancelled)."""
        job = self.submit(key, items)
        return await self.wait(job, timeout)

    async def wait(self, job: Job, timeout: float) -> Any:
        try:
            return await asyncio.wait_for(asyncio.shield(job.future), timeout)
        except (TimeoutError, asyncio.CancelledError):
            self.cancel(job)
            raise

    def close(self, timeout: float | None = None) -> None:
        """Take no more work; run what is queued (without waiting out deadlines), then stop the thread."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def _retry_after(self) -> int:
        """Seconds until the queue has room again, from the recent rate (at least 1)."""
        if self._rate <= 0:
            return 1
        return max(1, min(60, round(self._queued / self._rate)))

    # ------------------------------------------------------------------ worker side
    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closing:
                    self._cond.wait()
                if not self._pending:
                    return  # closing and drained
                batch = self._collect()
            if batch:
                self._execute(batch)

    def _collect(self) -> list[Job]:
        """(Holding the lock.) The next batch: the oldest job and later compatible ones, once full or due."""
        while self._pending:
            first = self._pending[0]
            deadline = first.enqueued + self.max_wait
            jobs, texts = self._compatible(first)
            if first.call is not None or texts >= self.max_batch or self._closing:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._cond.wait(remaining)  # a new request, a cancellation, or the deadline
        else:
            return []
        for job in jobs:
            self._pending.remove(job)
            self._queued -= job.size
        return jobs

    def _compatible(self, first: Job) -> tuple[list[Job], int]:
        """The oldest job plus later jobs with its key that fit in ``max_batch`` texts (a big job runs alone)."""
        jobs, texts = [first], first.size
        if first.call is not None:
            return jobs, texts
        for job in itertools.islice(self._pending, 1, None):
            if texts >= self.max_batch:
                break
            if job.key == first.key and texts + job.size <= self.max_batch:
                jobs.append(job)
                texts += job.size
        return jobs, texts

    def _execute(self, jobs: list[Job]) -> None:
        jobs = [j for j in jobs if not j.cancelled]
        if not jobs:
            return
        if jobs[0].call is not None:
            self._deliver(jobs[0], jobs[0].call)
            return
        items = [item for job in jobs for item in job.items]
        started = time.monotonic()
        try:
            results = self.run_batch(jobs[0].key, items)
            if len(results) != len(items):
                raise RuntimeError(f"a batch of {len(items)} texts returned {len(results)} results")
        except Exception as exc:
            if len(jobs) > 1:  # one bad request must not fail the others: run each alone
                for job in jobs:
                    self._execute_alone(job)
                return
            self._settle(jobs[0], None, exc)
            return
        seconds = time.monotonic() - started
        self._observe(len(items), started - jobs[0].enqueued, seconds)
        offset = 0
        for job in jobs:
            self._settle(job, results[offset: offset + job.size], None)
            offset += job.size

    def _execute_alone(self, job: Job) -> None:
        self._deliver(job, lambda: self.run_batch(job.key, job.items))

    def _deliver(self, job: Job, fn: Callable[[], Any]) -> None:
        started = time.monotonic()
        try:
            result, error = fn(), None
        except Exception as exc:
            result, error = None, exc
        self._observe(job.size, started - job.enqueued, time.monotonic() - started)
        self._settle(job, result, error)

    def _observe(self, texts: int, waited: float, seconds: float) -> None:
        rate = texts / max(seconds, 1e-6)
        self._rate = rate if self._rate <= 0 else 0.8 * self._rate + 0.2 * rate
        if self.on_batch is not None:
            try:
                self.on_batch(texts, waited, seconds)
            except Exception:  # metrics must never break serving
                log.exception("batch observer failed")

    @staticmethod
    def _settle(job: Job, result: Any, error: BaseException | None) -> None:
        if job.cancelled:
            return
        try:
            job.loop.call_soon_threadsafe(_settle, job.future, result, error)
        except RuntimeError:  # the event loop is closed: nobody is left to answer
            pass
