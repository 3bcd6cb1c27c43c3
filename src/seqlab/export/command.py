"""The ``seqlab export`` command (it names no task: each task's ``export.py`` does its part)."""

from __future__ import annotations

import argparse
import sys

from seqlab.export.exporter import DEFAULT_OPSET


def add_export_command(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "export", help="export a model directory to ONNX (run it without torch: seqlab.load / predict / serve)",
        description="Write MODEL_DIR as ONNX graphs plus JSON into --out, checked against torch at several lengths and "
                    "batch sizes before it is kept. The export runs with ONNX Runtime and no torch "
                    "(pip install 'seqlab[runtime]'), through seqlab.load and the same commands as a model directory.")
    p.add_argument("model_dir")
    p.add_argument("--out", required=True, help="the export directory to write")
    p.add_argument("--quantize", choices=["int8"], default=None,
                   help="dynamic int8 weights (ONNX Runtime quantize_dynamic); the change in validation quality is "
                        "measured and written into export.json")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset (default {DEFAULT_OPSET})")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.set_defaults(func=cmd_export)
    return p


def cmd_export(args: argparse.Namespace, _extra: dict | None = None) -> int:
    from seqlab.export.exporter import export_model

    config = export_model(args.model_dir, args.out, quantize=args.quantize, opset=args.opset, overwrite=args.overwrite,
                          log=lambda m: print(m, file=sys.stderr, flush=True))
    print(f"exported {config['task']} model to {args.out} ({', '.join(config['graphs'].values())}, opset {config['opset']}"
          + (", int8" if config["quantized"] else "") + ")")
    return 0
