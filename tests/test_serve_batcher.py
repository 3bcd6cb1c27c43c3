"""The micro-batcher alone, with plain functions for models: when batches close, who gets which results,
compatible options only, the queue bound, timeouts and cancellation, failures kept to their own request, draining."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from seqlab.serve.batcher import MicroBatcher, QueueFull, ShuttingDown  # needs no web framework

pytestmark = pytest.mark.serve


class Recorder:
    """A 'model' that echoes ``(key, item)`` and records every batch it was called with.

    ``entered`` is set once a call has begun (the worker holds a batch); with a ``gate``, each call then waits for
    it, which keeps the worker busy while a test queues more work: no sleeping for a guessed time.
    """

    def __init__(self, delay: float = 0.0, gate: threading.Event | None = None) -> None:
        self.batches: list[tuple[object, list]] = []
        self.delay, self.gate = delay, gate
        self.entered = threading.Event()

    def __call__(self, key, items):
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(10)
        self.batches.append((key, list(items)))
        time.sleep(self.delay)
        return [(key, item) for item in items]


def make(run, **limits) -> MicroBatcher:
    options = {"max_batch": 8, "max_wait": 0.05, "max_queue": 100, **limits}
    batcher = MicroBatcher("m", run, **options)
    batcher.start()
    return batcher


def test_a_batch_closes_when_full_and_each_request_gets_its_own_results():
    model, waits = Recorder(), []
    # only fullness can close these batches: their deadline is an hour away, and the requests time out long before
    batcher = make(model, max_batch=6, max_wait=3600.0, on_batch=lambda texts, waited, seconds: waits.append(waited))

    async def main():
        sizes = [1, 2, 3, 1, 2, 3]  # 6 + 6 texts
        return await asyncio.gather(*(batcher.run("k", [f"r{i}-t{j}" for j in range(n)], timeout=30)
                                      for i, n in enumerate(sizes)))

    results = asyncio.run(main())
    batcher.close()
    for i, (n, got) in enumerate(zip([1, 2, 3, 1, 2, 3], results, strict=True)):
        assert got == [("k", f"r{i}-t{j}") for j in range(n)]
    assert [len(items) for _, items in model.batches] == [6, 6]
    assert len(waits) == 2 and max(waits) < 30  # both closed full, never on their deadline


def test_a_batch_closes_when_its_oldest_request_has_waited_max_wait():
    model, waits = Recorder(), []
    batcher = make(model, max_batch=100, max_wait=0.2, on_batch=lambda texts, waited, seconds: waits.append(waited))

    async def main():
        started = time.monotonic()
        out = await batcher.run("k", ["only"], timeout=30)  # only the deadline can close this batch (else: timeout)
        return out, time.monotonic() - started

    out, seconds = asyncio.run(main())
    batcher.close()
    assert out == [("k", "only")]
    # not before the deadline (a busy machine can only make it later; that it came at all, the timeout shows)
    assert seconds >= 0.2 and len(waits) == 1 and waits[0] >= 0.2 - 1e-6
    assert model.batches == [("k", ["only"])]


def test_requests_with_different_options_are_never_batched_together():
    gate = threading.Event()
    model = Recorder(gate=gate)
    batcher = make(model, max_batch=100, max_wait=0.1)

    async def main():
        busy = batcher.submit("busy", ["x"])
        assert model.entered.wait(10)  # the worker holds "busy" at the gate: the five below all queue meanwhile
        keys = [("beam", 1), ("beam", 5), ("beam", 1), ("beam", 5), ("beam", 1)]
        jobs = [batcher.submit(k, [i]) for i, k in enumerate(keys)]
        gate.set()
        await batcher.wait(busy, timeout=10)
        return await asyncio.gather(*(batcher.wait(job, timeout=10) for job in jobs))

    results = asyncio.run(main())
    batcher.close()
    assert results == [[(("beam", 1), 0)], [(("beam", 5), 1)], [(("beam", 1), 2)], [(("beam", 5), 3)], [(("beam", 1), 4)]]
    assert model.batches[0] == ("busy", ["x"])
    assert sorted((k, items) for k, items in model.batches[1:]) == [(("beam", 1), [0, 2, 4]), (("beam", 5), [1, 3])]


def test_max_batch_one_runs_every_request_alone():
    model = Recorder()
    batcher = make(model, max_batch=1, max_wait=0.0)

    async def main():
        return await asyncio.gather(*(batcher.run("k", [i], timeout=10) for i in range(5)))

    assert asyncio.run(main()) == [[("k", i)] for i in range(5)]
    batcher.close()
    assert [items for _, items in model.batches] == [[i] for i in range(5)]


def test_a_request_larger_than_max_batch_runs_whole_and_alone():
    model = Recorder()
    batcher = make(model, max_batch=4, max_wait=0.0)

    async def main():
        return await batcher.run("k", list(range(10)), timeout=10)

    assert asyncio.run(main()) == [("k", i) for i in range(10)]
    batcher.close()
    assert model.batches == [("k", list(range(10)))]


def test_a_full_queue_refuses_with_a_retry_hint():
    gate = threading.Event()
    model = Recorder(gate=gate)
    batcher = make(model, max_batch=2, max_wait=0.0, max_queue=4)

    async def main():
        first = batcher.submit("k", [0, 1])  # taken by the worker, which then blocks on the gate
        assert model.entered.wait(10)
        queued = [batcher.submit("k", [i]) for i in range(4)]  # fills the queue
        with pytest.raises(QueueFull) as info:
            batcher.submit("k", [99])
        assert info.value.retry_after >= 1 and batcher.queued == 4
        gate.set()
        return await asyncio.gather(first.future, *(j.future for j in queued))

    results = asyncio.run(main())
    batcher.close()
    assert results[0] == [("k", 0), ("k", 1)] and [r[0][1] for r in results[1:]] == [0, 1, 2, 3]


def test_a_timed_out_request_leaves_the_queue_and_the_model_never_sees_it():
    gate = threading.Event()
    model = Recorder(gate=gate)
    batcher = make(model, max_batch=1, max_wait=0.0)

    async def main():
        busy = batcher.submit("k", ["busy"])
        assert model.entered.wait(10)  # the worker holds "busy" at the gate: "late" can only wait in the queue
        with pytest.raises(TimeoutError):
            await batcher.run("k", ["late"], timeout=0.2)
        assert batcher.queued == 0
        gate.set()
        return await busy.future

    assert asyncio.run(main()) == [("k", "busy")]
    batcher.close()
    assert model.batches == [("k", ["busy"])]


def test_one_failing_request_does_not_fail_the_others_in_its_batch():
    def model(key, items):
        if "bad" in items:
            raise ValueError("cannot read 'bad'")
        return [item.upper() for item in items]

    batcher = make(model, max_batch=10, max_wait=0.1)

    async def main():
        return await asyncio.gather(batcher.run("k", ["a", "b"], timeout=10), batcher.run("k", ["bad"], timeout=10),
                                    batcher.run("k", ["c"], timeout=10), return_exceptions=True)

    good, bad, other = asyncio.run(main())
    batcher.close()
    assert good == ["A", "B"] and other == ["C"]
    assert isinstance(bad, ValueError)


def test_exclusive_calls_run_alone_and_the_oldest_request_always_goes_first():
    order = []
    # a and c fill a batch of 2 (its deadline, far away, cannot split them however slowly this thread runs)
    batcher = make(lambda key, items: order.append(("batch", list(items))) or list(items), max_batch=2, max_wait=10.0)

    async def main():
        a = batcher.submit("k", [1])
        b = batcher.call(lambda: order.append(("call",)) or "called")
        c = batcher.submit("k", [2])
        return await asyncio.gather(a.future, b.future, c.future)

    assert asyncio.run(main()) == [[1], "called", [2]]
    batcher.close()
    # the oldest request opens the next batch; a later compatible one may join it ahead of the call (nobody starves:
    # whatever is oldest runs next)
    assert order == [("batch", [1, 2]), ("call",)]


def test_close_drains_what_is_queued_and_refuses_new_work():
    model = Recorder(delay=0.05)
    batcher = make(model, max_batch=2, max_wait=60.0)  # deadlines far away: close must not wait them out

    async def main():
        jobs = [batcher.submit("k", [i]) for i in range(5)]
        assert model.entered.wait(10)  # close comes while the first batch (full at 2) runs and the rest wait
        started = time.monotonic()
        await asyncio.to_thread(batcher.close)
        assert time.monotonic() - started < 30  # far less than the 60 s deadline of the last, lone request
        with pytest.raises(ShuttingDown):
            batcher.submit("k", [9])
        return await asyncio.gather(*(j.future for j in jobs))

    assert asyncio.run(main()) == [[("k", i)] for i in range(5)]
    assert sum(len(items) for _, items in model.batches) == 5
