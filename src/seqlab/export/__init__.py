"""Exports: a model directory as ONNX graphs plus JSON, and the torch-free runtime that predicts with them.

``seqlab export MODEL_DIR --out EXPORT_DIR [--quantize int8]`` writes an export directory (:mod:`.exporter`, which
needs torch); ``seqlab.load(EXPORT_DIR)`` and every command that takes a model directory run it through ONNX Runtime
(:mod:`.runtime`, which imports no torch). Each task does its own part in its package: ``export.py`` (its graphs, how
they are checked against torch and scored after quantisation) and ``onnx.py`` (its torch-free predictor).
"""

from seqlab.export.format import EXPORT_CONFIG, EXPORT_FORMAT, is_export_dir

__all__ = ["EXPORT_CONFIG", "EXPORT_FORMAT", "is_export_dir"]
