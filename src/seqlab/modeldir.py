"""The model directory: the one on-disk format for every task.

``config.json`` (task, the whole run config, labels/extras, library versions),
``text.json`` (tokenizer + vocabulary), ``model.safetensors`` (weights only),
``metrics.json``, ``curves.png``. Every file is written to a temporary name and
renamed, weights before config, and nothing is ever unpickled on load.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqlab.errors import SeqlabError
from seqlab.files import atomic_path, write_text_atomic

if TYPE_CHECKING:  # torch is imported where weights are read or written: reading a config needs none of it
    import torch

FORMAT = "seqlab-model"
FORMAT_VERSION = 1
CONFIG, WEIGHTS, METRICS = "config.json", "model.safetensors", "metrics.json"
CHECKPOINT = "checkpoint.pt"  # the trainer's last state, which --resume continues


def library_versions() -> dict[str, str]:
    import torch

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
        os.chmod(tmp, new_file_mode())  # safetensors writes 0600; a model directory's files share one mode
    if metrics is not None:
        write_json(out_dir / METRICS, metrics)
    write_json(out_dir / CONFIG, {"format": FORMAT, "format_version": FORMAT_VERSION, "task": task,
                                  "config": config, **(extras or {}), "versions": library_versions(),
                                  "saved_at": datetime.now(UTC).isoformat(timespec="seconds")})


def new_file_mode() -> int:
    """The mode ``open()`` gives a new file (0666 less the umask: 0644 usually), which every file of a model
    directory gets. The umask is read from /proc where there is one: setting it to read it races other threads."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            umask = next(int(line.split()[1], 8) for line in fh if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError, IndexError):
        umask = os.umask(0o022)
        os.umask(umask)
    return 0o666 & ~umask


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


def check_out_dir(out: str | Path, task: str, *, model_name: str | None = None, resume: bool = False,
                  overwrite: bool = False) -> bool:
    """Refuse an ``--out`` that training could not write, or that ``--resume`` could not continue, before any data
    is read (a file, a folder that cannot be created or written, nothing to resume, a model of another task or
    architecture); returns whether ``out`` exists already. Leaves nothing behind."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SeqlabError(f"--out {out} is a file; give a directory (it is created if missing)")
    if resume:
        _check_resumable(out, task, model_name)
    elif (out / CONFIG).exists() and not overwrite:
        raise SeqlabError(f"{out} already holds a model; choose another --out, add --resume to continue it, "
                          "or --overwrite to replace it")
    existing = out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise SeqlabError(f"--out {out}: {existing} is a file, so no directory can be made below it")
    try:  # the one sure test of a place to write: write there (and leave nothing)
        if existing == out:
            fd, probe = tempfile.mkstemp(dir=out, prefix=".seqlab-probe-")
            os.close(fd)
            os.unlink(probe)
        else:
            made = [out, *[p for p in out.parents if not p.exists()]]
            out.mkdir(parents=True)
            for folder in made:  # the deepest first
                folder.rmdir()
    except OSError as exc:
        raise SeqlabError(f"--out {out}: cannot {'write in' if existing == out else 'create'} this directory "
                          f"({exc.strerror or exc})") from None
    return existing == out


def _check_resumable(out: Path, task: str, model_name: str | None) -> None:
    if not (out / CHECKPOINT).is_file():
        what = "does not exist (no checkpoint)" if not out.exists() else f"has no checkpoint ({CHECKPOINT})"
        raise SeqlabError(f"--resume: nothing to resume: {out} {what}; train without --resume first")
    try:
        saved = json.loads((out / CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # a checkpoint without a readable config: the trainer's own checks decide
    if not isinstance(saved, dict):
        return
    if saved.get("task") != task:  # (worded as load_model's "holds a 'lm' model; 'generate' needs a ...")
        raise SeqlabError(f"{out} holds a {saved.get('task')!r} model; --resume continues a {task!r} model")
    config = saved.get("config")
    old = config.get("model", {}).get("name") if isinstance(config, dict) else None
    if model_name is not None and old is not None and old != model_name:
        raise SeqlabError(f"{out} holds a {task} model of --model {old}; --resume continues it with the same "
                          f"--model (got {model_name})")


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
