"""The torch-free install (``pip install "seqlab[runtime]"``): the core imports no torch, exports run without the
``train`` extra, and every command that needs torch says in one line what to install.

Each check runs in a fresh interpreter with the ``train`` extra's packages (and transformers) made unimportable
(``sys.modules[name] = None``), as on a machine where only the runtime was installed.
"""

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = str(ROOT / "src")
# what `seqlab[train]` (and `seqlab[hf]`) bring, absent from a runtime install
NOT_INSTALLED = ("torch", "transformers", "safetensors", "matplotlib", "tqdm", "sacrebleu")
PRELUDE = "import json, sys\n" + "".join(f"sys.modules[{name!r}] = None\n" for name in NOT_INSTALLED)


def run_torch_free(code: str, check: bool = True) -> str:
    """Run ``code`` in a fresh interpreter where the train extra's packages cannot be imported (an import of one
    fails there as on a runtime install); its standard output, or (``check`` False) its status and both streams."""
    done = subprocess.run([sys.executable, "-c", PRELUDE + code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": SRC, "PYTHONWARNINGS": "ignore"})
    if check:
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout
    return json.dumps({"rc": done.returncode, "out": done.stdout, "err": done.stderr})


def cli_torch_free(*argv: str) -> tuple[int, str]:
    """``seqlab ARGV`` without the train extra: (exit status, standard error)."""
    answer = json.loads(run_torch_free(f"from seqlab.cli import main\nsys.exit(main({list(argv)!r}))\n", check=False))
    return answer["rc"], answer["err"]


def test_the_core_dependencies_are_torch_free_and_the_extras_say_what_they_add():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {d.split(">")[0].split("=")[0].split("[")[0].strip() for d in project["dependencies"]}
    assert core.isdisjoint({"torch", "safetensors", "matplotlib", "tqdm", "sacrebleu", "onnxruntime"}), core
    extras = project["optional-dependencies"]
    assert any(d.startswith("torch") for d in extras["train"])
    assert any(d.startswith("onnxruntime") for d in extras["runtime"])
    assert not any(d.startswith("torch") for d in extras["runtime"])
    for needs_torch in ("hf", "glove", "export", "dev", "all"):  # they run training: they bring the train extra
        assert any("seqlab[" in d and "train" in d for d in extras[needs_torch]), needs_torch


def test_help_and_train_help_need_no_torch():
    out = run_torch_free("from seqlab.cli import main\n"
                         "try:\n    main(['train', 'classify', '--help'])\nexcept SystemExit as e:\n"
                         "    assert e.code == 0\n")
    assert "--model" in out


@pytest.mark.parametrize("argv, message", [
    (["train", "classify", "--data", "x.csv", "--out", "OUT"], "training needs PyTorch: pip install 'seqlab[train]'"),
    (["predict", "MODEL", "a text"], "running the model directory MODEL needs PyTorch: pip install 'seqlab[train]'"),
    (["evaluate", "MODEL"], "running the model directory MODEL needs PyTorch: pip install 'seqlab[train]'"),
    (["export", "MODEL", "--out", "OUT"], "seqlab export needs torch"),
    (["vectors", "glove-6b-50d", "--neighbours", "film"], "seqlab vectors needs PyTorch: pip install 'seqlab[train]'"),
])
def test_every_command_that_needs_torch_says_what_to_install(tmp_path, argv, message):
    model = tmp_path / "model"  # a model directory as training writes one (config.json + weights)
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"format": "seqlab-model", "format_version": 1, "task": "classify"}))
    (model / "model.safetensors").write_bytes(b"")
    argv = [str(model) if a == "MODEL" else str(tmp_path / "out") if a == "OUT" else a for a in argv]
    rc, err = cli_torch_free(*argv)
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("seqlab: error: "), err
    assert message.replace("MODEL", str(model)) in lines[0], err


def test_the_python_api_refuses_training_in_one_clear_error():
    out = run_torch_free("import seqlab\ntry:\n    seqlab.train('classify', 'runs/x', data='imdb')\n"
                         "except seqlab.SeqlabError as e:\n    print(e)\n")
    assert out.strip() == "training needs PyTorch: pip install 'seqlab[train]'"
