"""The export directory format, read without torch: ``export.json`` (what the graphs are, the task's settings, the
verification figures), the graphs (``*.onnx``) and the task's JSON (tokenizer, vocabulary, labels).

Nothing in an export is pickled. A damaged, truncated or foreign directory is refused with one clear message.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from seqlab.errors import SeqlabError
from seqlab.modeldir import read_json  # imports no torch (weights are read lazily)

EXPORT_FORMAT = "seqlab-export"
EXPORT_VERSION = 1
EXPORT_CONFIG = "export.json"


def is_export_dir(path: str | Path) -> bool:
    return (Path(path) / EXPORT_CONFIG).is_file()


def read_export_config(path: str | Path, expect_task: str | None = None) -> dict[str, Any]:
    """``export.json`` checked: format, version, the graphs it names exist."""
    folder = Path(path)
    file = folder / EXPORT_CONFIG
    if not file.is_file():
        raise SeqlabError(f"{folder} is not a seqlab export (no {EXPORT_CONFIG}); make one with seqlab export")
    data = read_json(folder, EXPORT_CONFIG)
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
        raise SeqlabError(f"{file} is not a seqlab export (format {data.get('format') if isinstance(data, dict) else None!r})")
    if data.get("format_version", 0) > EXPORT_VERSION:
        raise SeqlabError(f"{folder} was written by a newer seqlab (export format {data['format_version']}); upgrade seqlab")
    for name in data.get("graphs", {}).values():
        if not (folder / name).is_file():
            raise SeqlabError(f"{folder} is incomplete: the graph {name} is missing")
    if expect_task is not None and data.get("task") != expect_task:
        raise SeqlabError(f"{folder} holds an exported {data.get('task')!r} model; this needs a {expect_task!r} model")
    return data


def read_export_json(path: str | Path, name: str) -> Any:
    """A JSON file of an export, read as a model directory's are (:func:`seqlab.modeldir.read_json`)."""
    return read_json(Path(path), name)


def ort_threads(threads: int | None = None) -> int:
    """ONNX Runtime's intra-op threads: ``threads``, else ``$OMP_NUM_THREADS``, else all cores (as torch's)."""
    if threads is not None and threads < 1:
        raise SeqlabError(f"--threads must be at least 1, got {threads}")
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    return threads or (int(env) if env.isdigit() and int(env) > 0 else 0) or os.cpu_count() or 1


def session(path: str | Path, threads: int | None = None) -> Any:
    """An ONNX Runtime session on the CPU for one graph; a graph it cannot run is one clear error."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise SeqlabError("running an export needs ONNX Runtime: pip install 'seqlab[runtime]'") from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = ort_threads(threads)
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: shape-inference notes would go to stderr on every run
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own exception types: a truncated file, an opset it does not know
        raise SeqlabError(f"ONNX Runtime {ort.__version__} cannot run {path}: {str(exc).splitlines()[0][:300]}") from None
