"""The Python API: ``seqlab.train(...)`` and ``seqlab.load(path)``, the same paths the CLI takes."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from seqlab.config import read_config_file
from seqlab.distributed import launched
from seqlab.modeldir import CHECKPOINT, CONFIG, check_out_dir
from seqlab.tasks.base import get_task, load_model


def make_config(task: str, config_file: str | Path | None = None, settings: dict[str, Any] | None = None) -> Any:
    """A task's typed config from an optional file overlaid with flat settings (``cell="gru"``)."""
    schema = get_task(task).schema
    base = read_config_file(config_file) if config_file else {}
    flags = dict(settings or {})
    if "model" in flags:
        flags["model_name"] = flags.pop("model")
    return schema.apply_flags(base, flags)


def train(task: str, out: str | Path, *, config: str | Path | None = None, resume: bool = False,
          overwrite: bool = False, log=print, **settings: Any) -> dict[str, Any]:
    """Train a model and write its model directory to ``out``; returns the training summary.

    >>> seqlab.train("classify", "runs/imdb-bag", data="imdb", model="bag", epochs=5)  # doctest: +SKIP
    """
    from seqlab.extras import require_torch

    out = Path(out)
    spec = get_task(task)
    cfg = make_config(task, config, settings)  # a mistyped setting is said first, with or without torch
    require_torch("training")
    # under torchrun: join the job; rank 0 checks --out and builds the data first, the others wait, then log nothing
    with launched(cfg.train.device, cfg.train.dist_timeout, log) as (where, log):
        existed = check_out_dir(out, task, model_name=cfg.model_name, resume=resume, overwrite=overwrite) \
            if where.main else True  # before data
        try:
            return spec.train(cfg, out, resume=resume, log=log)
        except BaseException:  # a user error, an interrupt: a directory this call made is not left half-written
            if not existed and out.is_dir() and not (out / CONFIG).exists() and not (out / CHECKPOINT).exists():
                shutil.rmtree(out, ignore_errors=True)
            raise


def load(path: str | Path, device: str = "cpu", **options: Any) -> Any:
    """Load a model directory; the object has the task's methods (``predict``, ``translate``, ...).

    Classifiers also take ``precision="bf16"`` for faster inference on CPUs with AVX-512 BF16 and GPUs.
    """
    return load_model(path, device=device, **options)
