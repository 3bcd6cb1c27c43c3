"""``seqlab export``: a model directory -> an export directory, verified against torch before it is kept.

The task's ``export.py`` writes its graphs (:func:`export_graph` runs ``torch.onnx.export(dynamo=True)`` with dynamic
batch and time axes) and says how to check them (``verify``) and score them (``quality``, on the validation split).
With ``--quantize int8`` each graph gets ONNX Runtime's dynamic int8 quantisation (MatMul/Gather weights), and the
change in quality is measured and written into ``export.json``. The export is built in a temporary folder beside
``--out`` and renamed into place only when every check passed: a failed export leaves nothing behind.
"""

from __future__ import annotations

import importlib
import os
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from seqlab.errors import SeqlabError
from seqlab.export.format import EXPORT_CONFIG, EXPORT_FORMAT, EXPORT_VERSION

VERIFY_BATCHES = (1, 7, 64)
TOLERANCE = 1e-4  # fp32: probabilities / log-probabilities within this, absolute
DEFAULT_OPSET = 18


def max_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)))) if np.size(a) else 0.0


@dataclass
class VerifyFigures:
    """What verification measured: the largest difference per output, the cases checked, and what disagreed."""

    max_diff: dict[str, float] = field(default_factory=dict)
    cases: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def compare(self, case: str, output: str, expected: np.ndarray, got: np.ndarray, tolerance: float = TOLERANCE) -> None:
        if np.shape(expected) != np.shape(got):
            self.failures.append(f"{case}: {output} has shape {np.shape(got)}, torch gives {np.shape(expected)}")
            return
        diff = max_abs_diff(expected, got)
        self.max_diff[output] = max(self.max_diff.get(output, 0.0), diff)
        if case not in self.cases:
            self.cases.append(case)
        if not diff <= tolerance:
            self.failures.append(f"{case}: {output} differs by {diff:.2e} (tolerance {tolerance:g})")

    def same_labels(self, case: str, expected: np.ndarray, got: np.ndarray) -> None:
        if not np.array_equal(np.asarray(expected), np.asarray(got)):
            wrong = int(np.sum(np.asarray(expected) != np.asarray(got)))
            self.failures.append(f"{case}: {wrong} of {len(expected)} predictions differ from torch's")

    def to_json(self) -> dict[str, Any]:
        return {"max_abs_diff": self.max_diff, "cases": self.cases, "tolerance": TOLERANCE}


def export_graph(module: Any, args: tuple, path: Path, *, input_names: list[str], output_names: list[str],
                 dynamic: dict[str, dict[int, str]], opset: int, variadic: bool = False) -> None:
    """``torch.onnx.export(dynamo=True)`` with named dynamic axes (``torch.export.Dim``), then every output's axes
    named too (the exporter may write a traced length as a fixed size; the values are right, the declared shape not).
    ``variadic``: the module's forward takes ``*inputs`` (a graph whose input count depends on the model, such as
    one key/value cache per layer), so the axes go to torch.export by position instead of by argument name."""
    import onnx
    import torch

    dims: dict[str, Any] = {}
    shapes: Any = {name: {axis: dims.setdefault(label, torch.export.Dim(label, max=1 << 20))
                          for axis, label in axes.items()} for name, axes in dynamic.items()}
    if variadic:
        shapes = (tuple(shapes.get(name) for name in input_names),)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(module, args, dynamo=True, input_names=input_names, output_names=output_names,
                                        dynamic_shapes=shapes, opset_version=opset, verbose=False)
    except Exception as exc:
        raise SeqlabError(f"cannot export {type(getattr(module, 'model', module)).__name__} to ONNX: "
                          f"{type(exc).__name__}: {str(exc).splitlines()[0][:400]}") from None
    if program is None:
        raise SeqlabError(f"cannot export {type(module).__name__} to ONNX: the exporter returned nothing")
    model = program.model_proto
    for output in model.graph.output:
        for i, dim in enumerate(output.type.tensor_type.shape.dim):
            dim.ClearField("dim_value")
            dim.dim_param = "batch" if i == 0 else (dim.dim_param or f"{output.name}_{i}")
    onnx.save_model(model, str(path))


def free_traced_length(path: Path, traced_length: int) -> int:
    """Free a time axis the exporter fixed in a graph of several recurrent layers: measured (torch 2.13), every
    GRU/LSTM after the first in one graph comes out followed by ``Reshape(y, [traced_length, -1, H])``; with 0 in
    place of the traced length (and ``allowzero`` off) the Reshape copies the length from its input. Trace at a
    length no model dimension has; the export's verification at several lengths checks the result. Returns the
    number of shapes changed."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    shapes = {init.name: init for init in model.graph.initializer}
    changed = 0
    for node in model.graph.node:
        init = shapes.get(node.input[1]) if node.op_type == "Reshape" and len(node.input) > 1 else None
        if init is None:
            continue
        shape = numpy_helper.to_array(init)
        if shape.ndim == 1 and len(shape) == 3 and shape[0] == traced_length and -1 in shape[1:]:
            shape = shape.copy()
            shape[0] = 0
            init.CopyFrom(numpy_helper.from_array(shape, init.name))
            for attribute in node.attribute:
                if attribute.name == "allowzero":
                    attribute.i = 0  # 0 in the shape: copy the input's size (not a size of zero)
            changed += 1
    if changed:
        onnx.save_model(model, str(path))
    return changed


def _not_fp32_tables(path: Path) -> list[str]:
    """Gather/MatMul nodes whose weight is not an fp32 table (a tagger's fixed vector rows are stored as fp16 with a
    scale): the quantiser would write an invalid graph for them, and they are small or compressed already."""
    import onnx

    model = onnx.load(str(path))
    kinds = {init.name: init.data_type for init in model.graph.initializer}
    return [node.name for node in model.graph.node if node.op_type in ("Gather", "MatMul")
            and any(kinds.get(name, onnx.TensorProto.FLOAT) != onnx.TensorProto.FLOAT for name in node.input)]


def quantize_graph(path: Path) -> list[str]:
    """ONNX Runtime's dynamic int8 quantisation of one graph, in place; returns the op types it quantised."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    ops = ["MatMul", "Gather", "Attention", "LSTM"]
    prepared = path.with_name(f".{path.stem}.pre{path.suffix}")
    tmp = path.with_name(f".{path.stem}.int8{path.suffix}")
    try:
        logging.getLogger().setLevel(logging.ERROR)  # the quantiser logs advice on the root logger
        quant_pre_process(str(path), str(prepared), skip_symbolic_shape=True)  # shapes + graph clean-up first
        quantize_dynamic(str(prepared), str(tmp), weight_type=QuantType.QInt8, op_types_to_quantize=ops,
                         nodes_to_exclude=_not_fp32_tables(prepared))
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        raise SeqlabError(f"int8 quantisation of {path.name} failed: {type(exc).__name__}: {str(exc)[:300]}") from None
    finally:
        prepared.unlink(missing_ok=True)
    os.replace(tmp, path)
    return ops


def _export_in_own_process(model_dir: Path, folder: Path, opset: int) -> dict[str, Any]:
    """The task's ``export`` part, run by :mod:`seqlab.export.worker` in a fresh interpreter (see its docstring)."""
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "seqlab.export.worker", str(model_dir), str(folder), str(opset)],
                          capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    lines = done.stdout.strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if done.returncode == 0 and lines else None
    except json.JSONDecodeError:
        answer = None
    if answer is None:
        raise SeqlabError(f"the export of {model_dir} failed: {done.stderr.strip().splitlines()[-1:] or ['no output']}")
    if "error" in answer:
        raise SeqlabError(answer["error"])
    return answer["part"]


def export_model(model_dir: str | Path, out: str | Path, *, quantize: str | None = None, opset: int = DEFAULT_OPSET,
                 overwrite: bool = False, log=print) -> dict[str, Any]:
    """Export ``model_dir`` to ``out`` (see the module docstring); returns the export config written."""
    from seqlab.extras import require_export_tools

    require_export_tools()
    from seqlab import __version__
    from seqlab.api import load
    from seqlab.export.runtime import METRICS, MODEL_CONFIG, load_export
    from seqlab.modeldir import write_json
    from seqlab.tasks.base import get_task

    out = Path(out)
    if quantize not in (None, "int8"):
        raise SeqlabError(f"--quantize {quantize!r}: the one quantisation is int8")
    if not 13 <= opset <= 23:
        raise SeqlabError(f"--opset {opset}: choose 13..23 (default {DEFAULT_OPSET})")
    if out.exists() and not overwrite:
        raise SeqlabError(f"{out} exists; choose another --out or add --overwrite")
    predictor = load(model_dir)
    spec = get_task(predictor.task)
    try:
        task_export = importlib.import_module(f"{spec.package}.export")
    except ModuleNotFoundError as exc:
        if exc.name != f"{spec.package}.export":
            raise
        raise SeqlabError(f"{spec.name!r} models cannot be exported yet") from None
    import onnxruntime

    staging = out.with_name(f".{out.name}.{os.getpid()}.export")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        part = _export_in_own_process(Path(model_dir), staging, opset)
        config: dict[str, Any] = {"format": EXPORT_FORMAT, "format_version": EXPORT_VERSION, "task": spec.name,
                                  "runtime": f"{spec.package}.onnx", "seqlab": __version__, "opset": opset,
                                  "onnxruntime": onnxruntime.__version__, "source": str(model_dir), **part,
                                  "quantized": None}
        write_json(staging / EXPORT_CONFIG, config)
        shutil.copyfile(Path(model_dir) / "config.json", staging / MODEL_CONFIG)
        if (Path(model_dir) / METRICS).is_file():
            shutil.copyfile(Path(model_dir) / METRICS, staging / METRICS)
        runtime = load_export(staging)
        try:
            figures = task_export.verify(predictor, runtime)
        except SeqlabError:
            raise
        except Exception as exc:  # ONNX Runtime refusing an input shape: a size the exporter froze
            raise SeqlabError(f"the ONNX graph does not run on the verification inputs ({type(exc).__name__}: "
                              f"{' '.join(str(exc).split())[:300]}); the exporter fixed a size (a length or a batch "
                              "size) that should have stayed free") from None
        if figures.failures:
            raise SeqlabError("the ONNX graph disagrees with torch: " + "; ".join(figures.failures[:5]))
        config["verification"] = figures.to_json()
        log(f"verified against torch: {len(figures.cases)} cases, largest difference "
            + ", ".join(f"{k} {v:.1e}" for k, v in figures.max_diff.items()))
        if quantize == "int8":
            before = task_export.quality(runtime, predictor)
            sizes = {name: (staging / file).stat().st_size for name, file in config["graphs"].items()}
            ops = sorted({op for file in config["graphs"].values() for op in quantize_graph(staging / file)})
            after = task_export.quality(load_export(staging), predictor)
            config["quantized"] = {"kind": "int8", "ops": ops, "fp32": before, "int8": after,
                                   "fp32_bytes": sizes,
                                   "int8_bytes": {n: (staging / f).stat().st_size for n, f in config["graphs"].items()}}
            log(f"int8: validation {before} -> {after}")
        write_json(staging / EXPORT_CONFIG, config)
        old = out.with_name(f".{out.name}.{os.getpid()}.old")
        if out.exists():  # --overwrite: the old export stays whole until the new one is in place
            os.replace(out, old)
        os.replace(staging, out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return config
