"""Writes one model's ONNX graphs in a process of its own: ``python -m seqlab.export.worker MODEL_DIR FOLDER OPSET``.

``torch.onnx.export(dynamo=True)`` keeps state across calls in one process: measured here, the second export of a
recurrent model (the rnn classifier, the BiLSTM tagger) in a process came out with its time axis fixed to the sample
input's length (the first export in the same process was right). Each export therefore traces in a fresh interpreter;
the task's export part comes back as JSON on the last line of standard output.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    from seqlab.api import load
    from seqlab.errors import SeqlabError
    from seqlab.tasks.base import get_task

    model_dir, folder, opset = argv[0], Path(argv[1]), int(argv[2])
    try:
        predictor = load(model_dir)
        module = importlib.import_module(f"{get_task(predictor.task).package}.export")
        part = module.export(predictor, folder, opset=opset, log=lambda m: print(m, file=sys.stderr))
    except SeqlabError as exc:
        print(json.dumps({"error": str(exc)}))
        return 0
    print(json.dumps({"part": part}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
