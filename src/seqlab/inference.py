"""What every task's predictor shares: loading a model directory, the one length-bucketed inference loop, and the
evaluate plumbing (timing, rates, the validation figures training recorded).

A task's ``predictor.py`` subclasses :class:`Predictor` and adds its own methods (``predict``, ``translate``,
``tag``, ``generate``); the server and the CLI see predictors only through this base and those methods.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, ClassVar

import torch

from seqlab.config import TaskConfigSchema
from seqlab.data.batching import bucketed_map  # noqa: F401  (the one inference loop, here for predictors)
from seqlab.modeldir import METRICS, load_weights, read_model_config
from seqlab.runtime import Timer, autocast_context, resolve_precision, warn
from seqlab.text.validity import check_text, check_texts  # noqa: F401  (the Unicode rule, for predictors)


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


class Predictor:
    """A loaded model directory of one task: its metadata, typed config, device and precision.

    Subclasses set :attr:`task` and :attr:`schema`, call ``super().__init__`` and build their model with
    :meth:`restore`; :meth:`autocast` runs a block in the resolved precision.
    """

    task: ClassVar[str]
    schema: ClassVar[TaskConfigSchema]

    def __init__(self, model_dir: str | Path, device: str = "cpu", precision: str = "fp32") -> None:
        """``precision="bf16"`` autocasts inference (about 2x faster for an LSTM on an AVX-512 BF16 CPU; on a CPU
        without hardware bf16 it would be emulated and much slower, so it runs fp32 there, with a warning);
        ``"auto"`` is bf16 where the hardware has it."""
        self.model_dir = Path(model_dir)
        self.meta: dict[str, Any] = read_model_config(self.model_dir, expect_task=self.task)
        self.config: Any = self.schema.from_dict(self.meta["config"])
        self.device = torch.device(device)
        self.precision = resolve_precision(self.device, precision, log=warn)

    def restore(self, model: torch.nn.Module) -> Any:
        """Load the directory's safetensors weights into ``model``, move it to the device, eval mode."""
        load_weights(self.model_dir, model)
        return model.to(self.device).eval()

    def autocast(self):
        return autocast_context(self.device, self.precision)

    def training_metrics(self) -> dict[str, Any]:
        return training_metrics(self.model_dir)

    def valid_metric(self, name: str) -> float | None:
        """The best validation ``name`` training recorded (None when it did not)."""
        value = self.training_metrics().get("valid", {}).get(name)
        return value if isinstance(value, (int, float)) else None

    def describe(self) -> dict[str, Any]:
        """A summary for ``GET /v1/models``: the architecture's settings and the data it learnt from (a dataset's
        or a file's name, never a path of the machine it was trained on)."""
        config = self.config
        summary: dict[str, Any] = {"model": config.model_name}
        summary.update({k: v for k, v in dataclasses.asdict(config.model).items()
                        if isinstance(v, (str, int, float, bool))})
        summary["data"] = Path(str(config.data.data)).name
        return summary


def timed(report: dict[str, Any], timer: Timer, count: int, unit: str) -> dict[str, Any]:
    """Add the evaluate timing to a report: ``seconds`` and ``<unit>_per_s``."""
    report["seconds"] = timer.seconds
    report[f"{unit}_per_s"] = timer.rate(count)
    return report


def with_valid_metric(report: dict[str, Any], predictor: Predictor, name: str) -> dict[str, Any]:
    """Add ``valid_<name>``, the figure training recorded at its best checkpoint, when there is one."""
    value = predictor.valid_metric(name)
    if value is not None:
        report[f"valid_{name}"] = value
    return report
