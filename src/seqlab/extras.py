"""Which optional part of seqlab a command needs, and the one line that says how to install it.

``pip install seqlab`` is the torch-free core (numpy, tokenizers: reading text, the CLI, the report code);
``seqlab[runtime]`` adds ONNX Runtime, enough to run an export (``seqlab export``) with predict, tag, evaluate and
``seqlab.load``; ``seqlab[train]`` adds PyTorch and what training needs (safetensors, sacreBLEU, tqdm, matplotlib):
training, and running a model directory. A command that needs what is not installed says so in one line
(``seqlab: error: training needs PyTorch: pip install 'seqlab[train]'``) instead of a traceback.
"""

from __future__ import annotations

import importlib.util
import sys

from seqlab.errors import SeqlabError

TRAIN_EXTRA = "pip install 'seqlab[train]'"
EXPORT_EXTRA = "pip install 'seqlab[export]'"


def installed(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it (a module set to None in ``sys.modules`` counts as
    missing, as the import would fail)."""
    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def torch_missing(what: str, hint: str = "") -> SeqlabError:
    return SeqlabError(f"{what} needs PyTorch: {TRAIN_EXTRA}{hint}")


def require_torch(what: str, hint: str = "") -> None:
    """Refuse ``what`` (``"training"``) in one line when PyTorch is not installed; ``hint`` follows the command."""
    if not installed("torch"):
        raise torch_missing(what, hint)


def require_export_tools() -> None:
    """``seqlab export`` traces with torch and writes with onnx + onnxscript (the ``export`` extra)."""
    missing = [name for name in ("torch", "onnx", "onnxscript", "onnxruntime") if not installed(name)]
    if missing:
        raise SeqlabError(f"seqlab export needs {', '.join(missing)}: {EXPORT_EXTRA}")


def require_torch_for_model_dir(model_dir: object) -> None:
    """A model directory runs with torch; without it, say so and point at the export, which does not."""
    require_torch(f"running the model directory {model_dir}", " (or run its export: seqlab export MODEL_DIR --out "
                  "EXPORT_DIR, where torch is installed, writes one that needs only 'seqlab[runtime]')")
