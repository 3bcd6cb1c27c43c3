"""Loading an export directory without torch: the task's ONNX predictor, named in ``export.json``.

``seqlab.load(EXPORT_DIR)``, every command that takes a model directory and ``seqlab serve`` come here for an export;
the predictor has the same methods and outputs as the task's torch predictor (``predict``, ``tag``, ...).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from seqlab.errors import SeqlabError
from seqlab.export.format import read_export_config, read_export_json

MODEL_CONFIG = "model.json"  # the model directory's config.json, carried along (evaluate rebuilds the data splits)
METRICS = "metrics.json"  # its validation figures, as in a model directory


class ExportPredictor:
    """What every task's ONNX predictor shares: the export's folder and config, and (for ``seqlab evaluate``) the
    model's typed config and the validation figures training recorded. Imports no torch."""

    task: str

    def __init__(self, folder: Path, export_config: dict[str, Any]) -> None:
        self.model_dir, self.export_config = Path(folder), export_config

    @property
    def config(self) -> Any:
        """The model's typed config (the task's schema, from its torch-free ``config`` module)."""
        from seqlab.tasks.base import get_task

        saved = read_export_json(self.model_dir, MODEL_CONFIG)
        return get_task(self.task).schema.from_dict(saved["config"])

    @property
    def capabilities(self) -> Any:
        """What the model declares (its config's ``Capabilities``), less what needs the model directory: an export's
        graph gives the task's outputs only, no embedding table and no text vectors (``seqlab embed``, ``/embed``)."""
        import dataclasses

        return dataclasses.replace(self.config.model.capabilities(), input_table=False, text_vector=None)

    def training_metrics(self) -> dict[str, Any]:
        path = self.model_dir / METRICS
        return read_export_json(self.model_dir, METRICS) if path.is_file() else {}

    def valid_metric(self, name: str) -> float | None:
        value = self.training_metrics().get("valid", {}).get(name)
        return value if isinstance(value, (int, float)) else None

    def describe(self) -> dict[str, Any]:
        quantized = self.export_config.get("quantized")
        return {"model": self.export_config["settings"]["model"], "export": "onnx",
                "quantized": quantized["kind"] if quantized else None}


def load_export(path: str | Path, *, expect_task: str | None = None, command: str | None = None,
                device: str = "cpu", precision: str = "fp32", threads: int | None = None) -> Any:
    """The ONNX predictor of an export; ``expect_task`` refuses an export of another task, naming ``command``."""
    folder = Path(path)
    config = read_export_config(folder)
    if expect_task is not None and config.get("task") != expect_task:
        raise SeqlabError(f"{folder} holds an exported {config.get('task')!r} model; '{command or expect_task}' needs a "
                          f"{expect_task!r} model")
    if device != "cpu":
        raise SeqlabError(f"--device {device}: exports run on the CPU with ONNX Runtime")
    if precision not in ("fp32", "auto"):
        raise SeqlabError(f"--precision {precision}: an export runs in the precision it was exported in (fp32 graphs, "
                          "int8 weights with --quantize int8)")
    name = config.get("runtime", "")
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError:
        raise SeqlabError(f"{folder} needs {name!r}, which this seqlab does not have (exported by seqlab "
                          f"{config.get('seqlab')})") from None
    return module.load(folder, config, threads=threads)
