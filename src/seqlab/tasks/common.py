"""What every task's recipe shares: cached encoding of splits, training with the one trainer, resuming.

Each task keeps only what is its own (how text becomes ids, the model, the loss, the
metrics); the steps every task repeats live here once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from seqlab.config import TaskConfigSchema
from seqlab.data.cache import cached_arrays, from_ragged, to_ragged

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
