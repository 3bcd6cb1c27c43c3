"""The model directory: the one on-disk format for every task.

``config.json`` (task, the whole run config, labels/extras, library versions),
``text.json`` (tokenizer + vocabulary), ``model.safetensors`` (weights only),
``metrics.json``, ``curves.png``. Every file is written to a temporary name and
renamed, weights before config, and nothing is ever unpickled on load.
"""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from seqlab.errors import SeqlabError
from seqlab.files import atomic_path, write_text_atomic

FORMAT = "seqlab-model"
FORMAT_VERSION = 1
CONFIG, WEIGHTS, METRICS = "config.json", "model.safetensors", "metrics.json"


def library_versions() -> dict[str, str]:
    from seqlab import __version__

    return {"seqlab": __version__, "torch": torch.__version__, "python": platform.python_version()}


def write_json(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def save_model_dir(out_dir: Path, *, task: str, config: dict[str, Any], state_dict: dict[str, torch.Tensor],
                   extras: dict[str, Any] | None = None, json_files: dict[str, Any] | None = None,
                   metrics: dict[str, Any] | None = None) -> None:
    """Write a complete model directory; a reader never sees weights and config from different saves."""
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, data in (json_files or {}).items():
        write_json(out_dir / name, data)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state_dict.items()}
    with atomic_path(out_dir / WEIGHTS) as tmp:
        save_file(_dedupe_shared(tensors), str(tmp), metadata={"format": FORMAT, "task": task})
    if metrics is not None:
        write_json(out_dir / METRICS, metrics)
    write_json(out_dir / CONFIG, {"format": FORMAT, "format_version": FORMAT_VERSION, "task": task,
                                  "config": config, **(extras or {}), "versions": library_versions(),
                                  "saved_at": datetime.now(UTC).isoformat(timespec="seconds")})


def _dedupe_shared(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """safetensors refuses tensors sharing memory (tied weights); store clones, ties are rebuilt by the model."""
    seen: dict[int, str] = {}
    out = {}
    for name, t in tensors.items():
        ptr = t.data_ptr()
        out[name] = t.clone() if ptr in seen else t
        seen.setdefault(ptr, name)
    return out


def read_model_config(model_dir: str | Path, expect_task: str | None = None) -> dict[str, Any]:
    """Read and check ``config.json``: existence, format, version, task."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise SeqlabError(f"model directory not found: {model_dir}")
    path = model_dir / CONFIG
    if not path.is_file():
        raise SeqlabError(f"{model_dir} is not a seqlab model directory (no {CONFIG}); train one with 'seqlab train'")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SeqlabError(f"{path} is damaged: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SeqlabError(f"{path} is not a seqlab model config")
    if data.get("format_version", 0) > FORMAT_VERSION:
        raise SeqlabError(f"{model_dir} was written by a newer seqlab (format {data['format_version']}); upgrade seqlab")
    if expect_task is not None and data.get("task") != expect_task:
        raise SeqlabError(f"{model_dir} holds a {data.get('task')!r} model, not a {expect_task!r} model")
    if not (model_dir / WEIGHTS).is_file():
        raise SeqlabError(f"{model_dir} has no {WEIGHTS}; the directory is incomplete")
    return data


def read_json(model_dir: Path, name: str) -> Any:
    path = Path(model_dir) / name
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SeqlabError(f"{model_dir} is missing {name}; the directory is incomplete") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SeqlabError(f"{path} is damaged: {exc}") from None


def load_weights(model_dir: Path, model: torch.nn.Module, device: str | torch.device = "cpu") -> None:
    """Load ``model.safetensors`` into ``model``, refusing missing, extra or mis-shaped tensors."""
    from safetensors.torch import load_file

    path = Path(model_dir) / WEIGHTS
    try:
        state = load_file(str(path), device=str(device))
    except Exception as exc:
        raise SeqlabError(f"{path} is damaged or not a safetensors file: {exc}") from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[:3]
        raise SeqlabError(f"{path} does not fit the model described by config.json: {' '.join(first)}") from None
