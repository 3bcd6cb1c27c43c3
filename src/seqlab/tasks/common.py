"""What every task shares below its recipe: cached encoding of splits, loading a predictor, report plumbing.

Each task keeps only what is its own (how text becomes ids, the model, the loss, the
metrics); the steps every task repeats live here once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqlab.config import TaskConfigSchema
from seqlab.data.cache import cached_arrays, from_ragged, to_ragged
from seqlab.modeldir import METRICS, load_weights, read_model_config

Sequences = Sequence[Sequence[int]] | np.ndarray


def cached_encoding(key: dict[str, Any],
                    compute: Callable[[], tuple[dict[str, Sequences], dict[str, Any]]],
                    ) -> tuple[dict[str, list[np.ndarray]], dict[str, Any]]:
    """Encode once per ``key`` (data fingerprints + settings) and reuse the cache afterwards.

    ``compute()`` returns ``({name: sequences of ids}, meta)``, where a name is e.g. ``"train"`` or
    ``"valid.src"``; the result maps each name to a list of int64 arrays, and ``meta`` (JSON) back.
    A flat stream (one array) is stored as a single sequence.
    """

    def compute_arrays():
        named, meta = compute()
        arrays = {}
        for name, seqs in named.items():
            ragged = to_ragged(list(seqs))
            arrays[f"{name}.ids"], arrays[f"{name}.offsets"] = ragged["ids"], ragged["offsets"]
        return arrays, meta

    arrays, meta = cached_arrays(key, compute_arrays)
    names = [k[: -len(".ids")] for k in arrays if k.endswith(".ids")]
    return {name: [d.astype(np.int64) for d in from_ragged(arrays[f"{name}.ids"], arrays[f"{name}.offsets"])]
            for name in names}, meta


@dataclass
class LoadedModel:
    """A model directory read back: its metadata, typed config, and the weights in a built model."""

    model_dir: Path
    meta: dict[str, Any]
    config: Any
    device: torch.device


def read_model_dir(model_dir: str | Path, task: str, schema: TaskConfigSchema, device: str) -> LoadedModel:
    """Check the directory holds a ``task`` model and rebuild its typed config."""
    meta = read_model_config(model_dir, expect_task=task)
    return LoadedModel(Path(model_dir), meta, schema.from_dict(meta["config"]), torch.device(device))


def restore_weights(loaded: LoadedModel, model: torch.nn.Module) -> torch.nn.Module:
    """Load the safetensors weights, move to the device, eval mode."""
    load_weights(loaded.model_dir, model)
    return model.to(loaded.device).eval()


def training_metrics(model_dir: Path) -> dict[str, Any]:
    """``metrics.json`` of a model directory (the best validation scores), or {} when absent."""
    path = Path(model_dir) / METRICS
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}


def fit_task(task: Any, config: Any, schema: TaskConfigSchema, out_dir: Path, *, resume: bool, log) -> dict[str, Any]:
    """Train ``task`` with the one trainer; the summary gets the task's data statistics."""
    from seqlab.train import Trainer

    trainer = Trainer(task, config.train, out_dir, run_config=schema.to_dict(config), log=log)
    summary = trainer.fit(resume=resume)
    summary["stats"] = task.stats
    return summary


def resumed_json(out_dir: Path, name: str, resume: bool) -> Any | None:
    """What a resumed run must reuse exactly (its tokenizer or vocabulary), from the model directory; else None."""
    from seqlab.modeldir import read_json

    return read_json(Path(out_dir), name) if resume and (Path(out_dir) / name).is_file() else None
