"""Where and how a model runs, for the trainer and every predictor alike: device, precision, threads, timing.

One place decides these so that ``seqlab train``, ``predict``/``translate``/``tag``/``generate``/``evaluate`` and
``seqlab serve`` resolve ``--device``, ``--precision`` and ``--threads`` the same way and warn the same way.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator

import torch

from seqlab.errors import SeqlabError
from seqlab.reports import Timer  # noqa: F401  (re-exported: the evaluate timer lives torch-free)

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
INFERENCE_PRECISIONS = ("auto", "fp32", "bf16")


def warn(message: str) -> None:
    """The one warning style: ``seqlab: warning: ...`` on standard error."""
    print(f"seqlab: warning: {message}", file=sys.stderr, flush=True)


def pick_device(name: str) -> torch.device:
    """``auto`` is the GPU when there is one; a named GPU that is not there is a user error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise SeqlabError(f"--device {name!r} is not a device: write cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SeqlabError(f"--device {name}: no CUDA GPU is available here")
    return device


def to_device(tensor: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """A batch tensor on ``device``: on a GPU copied from pinned (page-locked) memory without waiting
    (``non_blocking``), so the copy overlaps the kernels already queued; on a CPU as it is (no copy)."""
    device = torch.device(device)
    if device.type != "cuda" or tensor.device.type == "cuda":
        return tensor.to(device)
    return tensor.pin_memory().to(device, non_blocking=True)


def thread_count(threads: int | None = None) -> int:
    """``threads``, else ``$OMP_NUM_THREADS``, else all cores."""
    if threads is not None and threads < 1:
        raise SeqlabError(f"--threads must be at least 1, got {threads}")
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    return threads or (int(env) if env.isdigit() and int(env) > 0 else 0) or os.cpu_count() or 1


def set_threads(threads: int | None) -> int:
    """Set torch's intra-op threads for the process (see :func:`thread_count`) and return the count.

    More intra-op threads than free cores is far worse than fewer: OpenMP
    threads spin waiting for each other (measured here: a small GRU step went
    from 4 ms to 140 ms with 2 threads on 2 cores while another process ran).
    """
    n = thread_count(threads)
    torch.set_num_threads(n)
    return n


@contextlib.contextmanager
def scoped_threads(count: int) -> Iterator[None]:
    """Run a block with ``count`` intra-op threads and restore the previous count, on the main thread only.

    ``torch.set_num_threads`` is process-wide: changed from a server's per-model worker thread it would also change
    the threads of every other model running at that moment. Off the main thread this is a no-op, and the process's
    setting (``seqlab serve --threads``) stands.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` runs bfloat16 matmuls in hardware (a GPU, or a CPU with AVX-512 BF16 or AMX).

    Without it oneDNN emulates bf16: measured here on an AVX2-only EPYC, a bf16 matmul ran at
    1-2 GFLOP/s against 40-70 in fp32, and a Transformer trained 10x slower under autocast.
    """
    if device.type != "cpu":
        return True
    found = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    probes = [p for p in found if callable(p)]
    return not probes or any(p() for p in probes)  # torch without the probes: trust the user's choice


def _known_bf16_support(device: torch.device) -> bool:
    """``native_bf16`` trusts a torch without the CPU probes; ``auto`` does not guess: it needs a positive answer."""
    if device.type != "cpu":
        return device.type != "cuda" or torch.cuda.is_bf16_supported()
    return any(getattr(torch.cpu, name, lambda: False)() for name in ("_is_avx512_bf16_supported",
                                                                        "_is_amx_tile_supported"))


def resolve_precision(device: torch.device, precision: str, log=warn) -> str:
    """The precision to run: ``auto`` is bf16 where the hardware has it, else fp32; ``bf16`` becomes ``fp32`` on
    a CPU without native bf16 (said once through ``log``)."""
    if precision not in PRECISIONS:
        raise SeqlabError(f"--precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        return "bf16" if native_bf16(device) and _known_bf16_support(device) else "fp32"
    if precision == "bf16" and not native_bf16(device):
        if log is not None:
            log("--precision bf16 ignored: this CPU has no AVX-512 BF16/AMX, so bf16 would be emulated "
                "and many times slower; running in fp32")
        return "fp32"
    if precision == "fp16" and device.type != "cuda":
        raise SeqlabError("--precision fp16 needs a GPU; on a CPU use --precision bf16")
    return precision


def autocast_context(device: torch.device, precision: str):
    """Autocast for a resolved precision (nothing for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "fp16" and device.type != "cuda":
        raise SeqlabError("fp16 needs a GPU; on a CPU use --precision bf16")
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)

