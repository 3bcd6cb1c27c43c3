"""One description of the machine a benchmark ran on, shared by every benchmark script.

Each measured row keeps the description of its own machine: rows measured apart may come
from different machines (the same "AMD EPYC, 2 cores" has been an AVX-512 BF16 part one
day and an AVX2-only part the next, and bf16 is 2x faster on one and 20x slower on the other).
"""

from __future__ import annotations

import os
import platform
from pathlib import Path


def describe() -> str:
    """CPU model and vector capability, core count, GPU if any, OS and torch version."""
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    from seqlab.runtime import native_bf16

    capability = torch.backends.cpu.get_cpu_capability()
    bf16 = "hardware bf16" if native_bf16(torch.device("cpu")) else "no hardware bf16"
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    return (f"{name} ({capability}, {bf16}), {os.cpu_count()} logical cores{gpu}; {platform.system()} "
            f"{platform.release()}; Python {platform.python_version()}, torch {torch.__version__}")


def machine_lines(rows: list[dict]) -> tuple[dict[str, str], list[str]]:
    """A short label per distinct machine of ``rows`` (A, B, ... oldest first) and the header lines naming them."""
    labels: dict[str, str] = {}
    for row in sorted(rows, key=lambda r: r.get("date", "")):
        labels.setdefault(row.get("machine", "not recorded"), chr(ord("A") + len(labels)))
    return labels, [f"Machine {label}: {desc}." for desc, label in labels.items()]
