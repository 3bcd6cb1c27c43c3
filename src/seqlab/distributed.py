"""Data-parallel training under ``torchrun``: who this process is (rank, world), the process group, and the few
collectives the trainer needs (barrier, sums, a broadcast of bytes or JSON, a gather of sparse gradient rows).

torchrun sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous (``MASTER_ADDR``/``MASTER_PORT`` or its
own store) in each worker's environment, the way PyTorch's ``ddp-tutorial-series`` scripts learn their place; a
process started without them is alone (world 1) and every helper here is a no-op that touches no
``torch.distributed`` state. The trainer and :func:`launched` (around ``seqlab.train``) are the only callers: tasks
never learn about ranks.

Choices, with their reasons:

- The backend follows the device: gloo on CPUs, nccl on CUDA (each rank on ``cuda:LOCAL_RANK``).
- Data is prepared once: global rank 0 tokenises and writes the token-id cache first, then each other machine's
  local rank 0, then the rest, which all find the cache (phases separated by barriers; :func:`launched` and
  :func:`data_ready` together). User errors in the data therefore show once, from rank 0.
- A rank that dies ends the job: torchrun's agent sees the exit within its ``--monitor-interval`` (0.1 s) and stops
  the others; a rank that hangs makes the others' next collective fail after ``--dist-timeout``; a launcher
  killed with SIGKILL (which it cannot pass on) takes its workers with it through :func:`_exit_with_parent`, so
  no orphan keeps training and overwrites the checkpoint that a ``--resume`` will read.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from seqlab.errors import SeqlabError

if TYPE_CHECKING:
    import torch

PARENT_POLL_SECONDS = 1.0  # how often a worker looks whether its launcher is still there
DATA_PHASES = 2  # barriers around data preparation: rank 0 first, then each other machine's local rank 0, then all


@dataclass(frozen=True)
class Place:
    """This process's place in the job (rank 0 of 1 when not launched by torchrun)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0: the one process that logs and writes the model directory, checkpoints and logs."""
        return self.rank == 0

    @property
    def data_phase(self) -> int:
        """When this rank prepares its data: 0 (rank 0), 1 (another machine's local rank 0), 2 (the rest)."""
        return 0 if self.rank == 0 else 1 if self.local_rank == 0 else 2


def place_from_env(env: dict[str, str] | None = None) -> Place:
    """Rank, world size and local rank as torchrun sets them; torch-free (a config check needs no torch)."""
    env = dict(os.environ) if env is None else env
    try:
        world = int(env.get("WORLD_SIZE", "1"))
        rank = int(env.get("RANK", "0"))
        local = int(env.get("LOCAL_RANK", str(rank)))
    except ValueError:
        raise SeqlabError("RANK, WORLD_SIZE and LOCAL_RANK must be integers (torchrun sets them)") from None
    if world < 1 or not 0 <= rank < world:
        raise SeqlabError(f"RANK {rank} is not among WORLD_SIZE {world} (torchrun sets them)")
    return Place(rank, world, local)


# the process group's state; "device" is where small exchanges live: the rank's GPU under nccl (which moves no
# CPU tensors), the CPU under gloo
_state: dict[str, Any] = {"place": Place(), "started": False, "phases_done": 0, "device": None}


def place() -> Place:
    """This process's place; rank 0 of 1 until :func:`start` has joined torchrun's process group."""
    return _state["place"]


def backend_for(device: torch.device) -> str:
    """nccl for CUDA devices (gloo cannot reduce CUDA tensors fast), gloo for CPUs (nccl has no CPU path)."""
    return "nccl" if device.type == "cuda" else "gloo"


def device_for(requested: str, where: Place) -> str:
    """The device a rank trains on: ``cuda`` (or ``auto`` with a GPU) becomes ``cuda:LOCAL_RANK``, so each process
    of a machine has its own GPU; a fixed ``cuda:N`` under several local processes would share one, and is refused."""
    import torch

    if requested.startswith("cuda:") and where.world > 1:
        raise SeqlabError(f"--device {requested} under torchrun: write --device cuda, and each process takes the GPU "
                          "of its LOCAL_RANK")
    if requested == "cuda" or (requested == "auto" and torch.cuda.is_available()):
        if where.world > 1 and where.local_rank >= torch.cuda.device_count():
            raise SeqlabError(f"LOCAL_RANK {where.local_rank} has no GPU (this machine has "
                              f"{torch.cuda.device_count()}): start at most that many processes per machine")
        return f"cuda:{where.local_rank}" if where.world > 1 else requested
    return "cpu" if requested == "auto" else requested


def start(requested_device: str, timeout_minutes: float) -> Place:
    """Join torchrun's process group (once per process) when launched by it; returns this process's place."""
    if _state["started"]:
        return _state["place"]
    where = place_from_env()
    if where.world == 1:
        return where
    import datetime

    import torch
    import torch.distributed as dist

    device = torch.device(device_for(requested_device, where))
    if device.type == "cuda":
        torch.cuda.set_device(device)  # "cuda" now means this rank's GPU for every tensor a task makes
    if not dist.is_available():
        raise SeqlabError("this torch build has no torch.distributed; install a build with it to use torchrun")
    try:
        dist.init_process_group(backend_for(device), timeout=datetime.timedelta(minutes=timeout_minutes))
    except Exception as exc:  # the rendezvous failed (a port, an address, a peer that never came)
        raise SeqlabError(f"rank {where.rank} of {where.world} could not join the process group: "
                          f"{first_line(exc)}") from None
    _exit_with_parent()
    _state.update(place=where, started=True, phases_done=0, device=device if device.type == "cuda" else None)
    return where


def stop() -> None:
    """Leave the process group (the end of ``seqlab.train``); a no-op when alone."""
    if _state["started"]:
        import torch.distributed as dist

        with contextlib.suppress(Exception):
            dist.destroy_process_group()
        _state.update(place=Place(), started=False, phases_done=0, device=None)


def _exit_with_parent() -> None:
    """End this worker when its launcher is gone (reparented): a SIGKILLed torchrun cannot stop its workers, and a
    worker left running would train on alone, or hang in its next collective until the timeout."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(PARENT_POLL_SECONDS)
            if os.getppid() != parent:
                os._exit(1)  # nothing to clean up: every file is written atomically

    threading.Thread(target=watch, name="seqlab-parent-watch", daemon=True).start()


def first_line(exc: BaseException) -> str:
    """The gist of an error in one line: gloo's ``[.../pair.cc:537] Read error ...: Connection reset by peer. This
    is typically ...`` becomes ``Read error ...: Connection reset by peer``."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = re.sub(r"^\[[^\]]*\]\s*", "", lines[0]) if lines else type(exc).__name__
    return text.split(". ")[0][:300]


@contextlib.contextmanager
def launched(requested_device: str, timeout_minutes: float, log: Callable[[str], None]
             ) -> Iterator[tuple[Place, Callable[[str], None]]]:
    """``seqlab.train`` inside a torchrun job: join the group, hold this rank back until the ranks before it have
    prepared the data (:data:`DATA_PHASES`), and log from rank 0 only. Yields (place, log)."""
    where = start(requested_device, timeout_minutes)
    try:
        if where.world > 1:
            _phase_barriers(where.data_phase)
        yield where, (log if where.main else quiet)
    finally:
        stop()


def quiet(_message: str) -> None:
    """What a rank other than 0 logs: nothing (rank 0 says the same for all)."""


def _phase_barriers(count: int) -> None:
    for _ in range(count):
        barrier()
        _state["phases_done"] += 1


def data_ready() -> None:
    """Called once the task is built (the trainer's start): release the ranks waiting for this one's data."""
    if _state["started"]:
        _phase_barriers(DATA_PHASES - _state["phases_done"])


def barrier() -> None:
    if _state["started"]:
        import torch.distributed as dist

        collective(dist.barrier)


def collective(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run one collective; a peer gone or silent becomes a one-line error naming this rank, not a traceback."""
    try:
        return call(*args, **kwargs)
    except RuntimeError as exc:  # gloo/nccl: "Connection closed by peer", a timeout
        where = place()
        raise SeqlabError(f"rank {where.rank} of {where.world}: another rank stopped answering "
                          f"({first_line(exc)}); the job stops (the failing rank's own error is above)") from None


def all_sum(values: list[float]) -> list[float]:
    """The sums over all ranks of a few numbers (counts, loss sums); the numbers themselves when alone."""
    if not _state["started"]:
        return list(values)
    import torch
    import torch.distributed as dist

    tensor = torch.tensor(values, dtype=torch.float64, device=_state["device"])
    collective(dist.all_reduce, tensor)
    return tensor.tolist()


def broadcast_bytes(data: bytes | None) -> bytes:
    """Rank 0's bytes on every rank (a checkpoint, so that ranks on other machines need not read rank 0's disk)."""
    if not _state["started"]:
        assert data is not None
        return data
    import torch
    import torch.distributed as dist

    device = _state["device"]
    size = torch.tensor([len(data) if data is not None else 0], dtype=torch.int64, device=device)
    collective(dist.broadcast, size, 0)
    buffer = (torch.frombuffer(bytearray(data), dtype=torch.uint8).to(device) if place().main and data
              else torch.empty(int(size.item()), dtype=torch.uint8, device=device))
    if int(size.item()):
        collective(dist.broadcast, buffer, 0)
    return bytes(buffer.cpu().numpy().tobytes())


def broadcast_json(value: Any) -> Any:
    """Rank 0's JSON value (validation metrics) on every rank: all then decide alike (early stopping, a plateau)."""
    if not _state["started"]:
        return value
    data = json.dumps(value).encode() if place().main else None
    return json.loads(broadcast_bytes(data).decode())


def all_gather_bytes(data: bytes) -> list[bytes]:
    """Every rank's bytes, in rank order, on every rank (their RNG states, for a checkpoint)."""
    if not _state["started"]:
        return [data]
    import torch
    import torch.distributed as dist

    device, world = _state["device"], place().world
    size = torch.tensor([len(data)], dtype=torch.int64, device=device)
    sizes = [torch.zeros_like(size) for _ in range(world)]
    collective(dist.all_gather, sizes, size)
    counts = [int(s.item()) for s in sizes]
    mine = torch.zeros(max(counts), dtype=torch.uint8)
    mine[: len(data)] = torch.frombuffer(bytearray(data), dtype=torch.uint8)
    mine = mine.to(device)
    gathered = [torch.empty_like(mine) for _ in range(world)]
    collective(dist.all_gather, gathered, mine)
    return [bytes(t[:c].cpu().numpy().tobytes()) for t, c in zip(gathered, counts, strict=True)]


def all_gather_sparse(grad: torch.Tensor) -> torch.Tensor:
    """The sum over ranks of a sparse COO gradient, as one uncoalesced tensor: every rank's (index, row) entries in
    rank order, which is the order gradient accumulation in one process would have them in.

    Two all_gathers of dense tensors (sizes, then indices and rows padded to the largest), so it works on gloo and on
    nccl alike; nccl has no sparse all-reduce, which is why DDP is not handed the sparse tables (docs, "Scale out").
    """
    import torch
    import torch.distributed as dist

    world = place().world
    indices, values = grad._indices(), grad._values()  # (1, n), (n, D): as accumulated (coalescing reorders sums)
    n = torch.tensor([indices.size(1)], dtype=torch.int64, device=grad.device)
    sizes = [torch.zeros_like(n) for _ in range(world)]
    collective(dist.all_gather, sizes, n)
    counts = [int(s.item()) for s in sizes]
    longest = max(counts)
    pad = longest - indices.size(1)
    padded_idx = torch.nn.functional.pad(indices, (0, pad))  # (1, longest)
    padded_val = torch.cat([values, values.new_zeros(pad, *values.shape[1:])])  # (longest, D)
    all_idx = [torch.empty_like(padded_idx) for _ in range(world)]
    all_val = [torch.empty_like(padded_val) for _ in range(world)]
    collective(dist.all_gather, all_idx, padded_idx)
    collective(dist.all_gather, all_val, padded_val)
    idx = torch.cat([t[:, :c] for t, c in zip(all_idx, counts, strict=True)], dim=1)
    val = torch.cat([t[:c] for t, c in zip(all_val, counts, strict=True)])
    return torch.sparse_coo_tensor(idx, val, grad.shape, check_invariants=False)  # built from valid parts
