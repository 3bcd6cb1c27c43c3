"""What every ``evaluate`` report shares, without torch: the timer, the timing fields and the validation figure
training recorded. The tasks' evaluate functions score a model directory's torch predictor and an export's ONNX
predictor alike (``seqlab evaluate EXPORT_DIR`` runs where torch is not installed), so they import from here."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqlab.modeldir import METRICS  # imports no torch


@dataclass
class Timer:
    """The evaluate timer: ``with Timer() as t: ...``, then ``t.seconds`` and ``t.rate(count)``."""

    started: float = 0.0
    seconds: float = 0.0

    def __enter__(self) -> Timer:
        self.started = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.monotonic() - self.started

    def rate(self, count: int) -> float:
        """Items per second (never a division by zero)."""
        return count / max(self.seconds, 1e-9)


def timed(report: dict[str, Any], timer: Timer, count: int, unit: str) -> dict[str, Any]:
    """Add the evaluate timing to a report: ``seconds`` and ``<unit>_per_s``."""
    report["seconds"] = timer.seconds
    report[f"{unit}_per_s"] = timer.rate(count)
    return report


def with_valid_metric(report: dict[str, Any], predictor: Any, name: str) -> dict[str, Any]:
    """Add ``valid_<name>``, the figure training recorded at its best checkpoint, when there is one (any predictor
    with ``valid_metric``: a model directory's or an export's)."""
    value = predictor.valid_metric(name)
    if value is not None:
        report[f"valid_{name}"] = value
    return report


def training_metrics(model_dir: Path) -> dict[str, Any]:
    """``metrics.json`` of a model directory (the best validation scores), or {} when absent or unreadable."""
    path = Path(model_dir) / METRICS
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError):
        return {}
    return data if isinstance(data, dict) else {}
