"""Export benchmark: torch fp32 / torch bf16 / ONNX Runtime fp32 / ONNX Runtime int8 on the same models, one run.

Run from the repository root (SEQLAB_DATA must point at the data, e.g. ../shared/data), on model directories that
benchmarks/classify.py (or the short training commands) wrote:

    SEQLAB_DATA=../shared/data python benchmarks/export.py bag=benchmarks/runs/bag rnn=benchmarks/runs/rnn

For each model: IMDB test accuracy (the first --test-limit reviews of the shuffled test split), texts/s end to end
(raw text in: tokenising included) at batch 1 and 64, the model file's size, and process start-up (a fresh Python
process from start to its first prediction). The torch-free start-up runs with torch made unimportable
(``sys.modules["torch"] = None``). The rows (benchmarks/export-rows.json) and RESULTS.md's section are generated.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from export_seq import SEQ_TASKS, bench_seq, seq_lines  # noqa: E402
from machine import describe, machine_lines  # noqa: E402
from report import current_commit, export_variants, runnable_variants, write_section  # noqa: E402

ROOT = Path(__file__).resolve().parent
ROWS = ROOT / "export-rows.json"
SRC = str(ROOT.parent / "src")
VARIANTS = ("torch fp32", "torch bf16", "onnx fp32", "onnx int8")


def task_of(model_dir: Path) -> str:
    return json.loads((model_dir / "config.json").read_text())["task"]


def conll_dev(limit: int):
    from seqlab.data.conll import load_split

    return load_split("conll2003", "dev", 0, "ner", None).subset(list(range(limit)), f"conll2003:dev:first{limit}")


def score(model, task: str, data) -> float:
    """IMDB test accuracy for a classifier; CoNLL-2003 dev span F1 (conlleval) for a tagger."""
    if task == "classify":
        texts, labels = data
        predictions = model.predict(texts, batch_size=64)
        return sum(p["label"] == g for p, g in zip(predictions, labels, strict=True)) / len(texts)
    from seqlab.metrics import span_report
    from seqlab.tasks.tag.words import to_scheme

    tags, _ = model.predict(data.words, batch_size=64, confidences=False)
    return span_report(data.tags, [to_scheme(t, model.scheme) for t in tags], model.scheme)["f1"]


def test_texts(limit: int) -> tuple[list[str], list[str]]:
    from seqlab.data.classification import ClassifyDataConfig, load_split

    data = load_split(ClassifyDataConfig(data="imdb"), "test")
    order = list(range(len(data)))
    random.Random(0).shuffle(order)  # the split is sorted by label: a prefix would be one class
    keep = order[:limit]
    return [data.texts[i] for i in keep], [data.labels[i] for i in keep]


def rate(model, texts: list[str], batch_size: int, count: int) -> float:
    """Texts per second end to end: ``predict`` for a classifier, ``tag`` (raw text, entities) for a tagger."""
    call = model.tag if model.task == "tag" else model.predict
    sample = (texts * (count // max(1, len(texts)) + 1))[:count]
    call(sample[:32], batch_size=batch_size)  # warm-up: one-time kernel and session set-up
    started = time.perf_counter()
    call(sample, batch_size=batch_size)
    return count / (time.perf_counter() - started)


def start_up(path: Path, torch_free: bool) -> float:
    """Seconds from a fresh interpreter's start to its first prediction."""
    block = "import sys; sys.modules['torch'] = None\n" if torch_free else ""
    code = (f"{block}import seqlab\nm = seqlab.load({str(path)!r})\n"
            "(m.tag if m.task == 'tag' else m.predict)(['A fine film by Ada Lovelace.'])\n")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": SRC},
                   capture_output=True)
    return time.perf_counter() - started


def folder_mib(*names: str) -> float:
    """Installed size of packages in this interpreter's site-packages (their folders and .libs), in MiB."""
    import site

    total = 0
    for base in site.getsitepackages():
        for entry in Path(base).iterdir():
            stem = entry.name.split("-")[0].split(".")[0].lower()
            if stem in names or entry.name.lower().rstrip("/") in {f"{n}.libs" for n in names}:
                total += sum(f.stat().st_size for f in ([entry] if entry.is_file() else entry.rglob("*")) if f.is_file())
    return total / 2**20


def budget_note(model_dir: Path) -> str | None:
    """"short budget: ..." for a model trained under --max-time (its quality is not the recipe's)."""
    saved = json.loads((model_dir / "config.json").read_text())
    limit = saved["config"].get("train", {}).get("max_time")
    if not limit:
        return None
    metrics = json.loads((model_dir / "metrics.json").read_text()) if (model_dir / "metrics.json").is_file() else {}
    step = f", best checkpoint at step {metrics['step']:,}" if "step" in metrics else ""
    return f"short budget: trained with --max-time {limit:g} min{step}"


def fasttext_row(name: str, model_dir: Path, args: argparse.Namespace) -> dict:
    """fastText (the C++ library, through its Python bindings) trained on the training texts the bag ``name`` learnt
    from, scored on the same test reviews, its reviews/s end to end (raw text in) measured as the bag's are."""
    import tempfile

    import fasttext  # the fasttext-numpy2 package (fastText 0.9.x bindings that run with numpy 2)

    from seqlab.data.classification import ClassifyDataConfig, load_train_valid

    saved = json.loads((model_dir / "config.json").read_text())["config"]["data"]
    train_part = load_train_valid(ClassifyDataConfig(**saved))[0]

    def line(text: str) -> str:  # fastText reads one example per line, whitespace-separated tokens
        return " ".join(text.split())

    settings = {"wordNgrams": 2, "epoch": 5, "lr": 0.1, "dim": 100, "thread": os.cpu_count() or 1, "verbose": 0}
    with tempfile.TemporaryDirectory() as tmp:
        train_file = Path(tmp) / "train.txt"
        train_file.write_text("".join(f"__label__{y} {line(x)}\n" for x, y in zip(train_part.texts, train_part.labels,
                                                                                  strict=True)), encoding="utf-8")
        started = time.perf_counter()
        model = fasttext.train_supervised(str(train_file), **settings)
        train_seconds = time.perf_counter() - started
        model_file = Path(tmp) / "model.bin"
        model.save_model(str(model_file))
        size = model_file.stat().st_size
        code = (f"import fasttext\nm = fasttext.load_model({str(model_file)!r})\nm.predict('A fine film.')\n")
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        start_up_s = time.perf_counter() - started
    texts, labels = test_texts(args.test_limit)

    def predict(batch: list[str]) -> list[str]:
        return [p[0].removeprefix("__label__") for p in model.predict([line(t) for t in batch])[0]]

    def rate_of(batch_size: int, count: int) -> float:
        sample = (texts * (count // len(texts) + 1))[:count]
        predict(sample[:32])
        started = time.perf_counter()
        for i in range(0, count, batch_size):
            predict(sample[i: i + batch_size])
        return count / (time.perf_counter() - started)

    accuracy = sum(p == g for p, g in zip(predict(texts), labels, strict=True)) / len(texts)
    variant = {"accuracy": accuracy, "rate_batch1": rate_of(1, args.count // 10), "rate_batch64": rate_of(64, args.count),
               "bytes": size, "start_up_s": start_up_s}
    print(f"  fastText: {variant}", flush=True)
    return {"model": "fasttext", "task": "classify", "compared_with": name, "test_examples": len(texts),
            "variants": {"fastText": variant}, "train_seconds": train_seconds,
            "settings": {k: v for k, v in settings.items() if k != "verbose"},
            "version": getattr(fasttext, "__version__", None) or _version("fasttext-numpy2")}


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


def installed_sizes() -> dict:
    """The installed size of a fresh virtual environment (its site-packages) for the torch-free runtime
    (``pip install ".[runtime]"``) and for training (``pip install torch==<this torch> && pip install ".[train]"``),
    with the largest packages of each. Made under a temporary folder and removed after."""
    import shutil
    import tempfile

    import torch

    repo = str(ROOT.parent)
    plans = {"runtime": [[f"{repo}[runtime]"]],
             "torch": [[f"torch=={torch.__version__.split('+')[0]}"], [f"{repo}[train]"]]}
    sizes: dict = {}
    for kind, installs in plans.items():
        folder = Path(tempfile.mkdtemp(prefix=f"seqlab-{kind}-venv-"))
        try:
            subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
            for packages in installs:
                subprocess.run([str(folder / "bin" / "pip"), "install", "-q", *packages], check=True,
                               capture_output=True)
            site = next((folder / "lib").glob("python*/site-packages"))
            per = {}
            for entry in site.iterdir():
                files = [entry] if entry.is_file() else [f for f in entry.rglob("*") if f.is_file()]
                per[entry.name] = sum(f.stat().st_size for f in files) / 2**20
            venv_own = sum(v for k, v in per.items() if k.split("-")[0] in ("pip", "setuptools", "_distutils_hack",
                                                                            "pkg_resources", "distutils-precedence.pth"))
            sizes[kind] = {"site_packages_mib": sum(per.values()), "without_pip_setuptools_mib": sum(per.values()) - venv_own,
                           "largest": dict(sorted(per.items(), key=lambda kv: -kv[1])[:8]),
                           "command": " && ".join("pip install " + " ".join(p).replace(repo, ".") for p in installs)}
            print(f"  installed ({kind}): {sizes[kind]['site_packages_mib']:.0f} MiB", flush=True)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return sizes


def bench(name: str, model_dir: Path, args: argparse.Namespace) -> dict:
    import seqlab

    task = task_of(model_dir)
    if task in SEQ_TASKS:  # translators and language models: benchmarks/export_seq.py
        return {**bench_seq(name, model_dir, task, args, VARIANTS), "note": budget_note(model_dir)}
    if task == "classify":
        data: Any = test_texts(args.test_limit)
        texts = data[0]
    else:
        data = conll_dev(min(args.test_limit, 3250))
        texts = [" ".join(words) for words in data.words]
    exports, seconds = export_variants(model_dir, Path(args.out), name)
    export_seconds = seconds["onnx fp32"]
    config = json.loads((exports["onnx int8"] / "export.json").read_text())
    row: dict = {"model": name, "task": task, "model_dir": str(model_dir), "test_examples": len(texts), "variants": {},
                 "export_seconds": export_seconds, "int8_validation": config["quantized"],
                 "note": budget_note(model_dir)}
    for variant in runnable_variants(VARIANTS):
        path = model_dir if variant.startswith("torch") else exports[variant]
        model = seqlab.load(path, precision="bf16" if variant == "torch bf16" else "fp32")
        accuracy = score(model, task, data)
        graph = next(iter(json.loads((exports["onnx fp32"] / "export.json").read_text())["graphs"].values()))
        size = (path / "model.safetensors") if variant.startswith("torch") else (path / graph)
        row["variants"][variant] = {
            "accuracy": accuracy, "rate_batch1": rate(model, texts, 1, args.count // 10),
            "rate_batch64": rate(model, texts, 64, args.count), "bytes": size.stat().st_size,
            "start_up_s": start_up(path, torch_free=not variant.startswith("torch"))}
        print(f"  {variant}: {row['variants'][variant]}", flush=True)
    return row


def write_results(rows: list[dict]) -> None:
    labels, header = machine_lines(rows)
    lines = ["## Export (ONNX Runtime) against torch", "", *header, "",
             "Quality: classifiers, accuracy on the first N reviews of the shuffled IMDB test split; taggers, CoNLL-2003 "
             "dev entity F1 (the test split is held out). Texts/s end to end (raw text in: tokenising included; a "
             "tagger's texts are dev sentences, tagged with entities and confidences), "
             "torch with its default threads, ONNX Runtime with as many intra-op threads; start-up: a fresh process "
             "to its first prediction (the ONNX rows with torch unimportable).", "",
             "| model | variant | quality | texts/s batch 1 | texts/s batch 64 | x torch fp32 (b1 / b64) | file | "
             "start-up | machine | date |", "|---|---|---:|---:|---:|---:|---:|---:|---|---|"]
    seq_rows = [r for r in rows if r.get("task") in SEQ_TASKS]  # their own table (benchmarks/export_seq.py)
    rows = [r for r in rows if r.get("task") not in SEQ_TASKS]
    for r in rows:
        base = r["variants"].get("torch fp32")
        for variant, v in r["variants"].items():
            ratio = (f"{v['rate_batch1'] / base['rate_batch1']:.2f} / {v['rate_batch64'] / base['rate_batch64']:.2f}"
                     if base else "-")
            lines.append(f"| {r['model']} | {variant} | {v['accuracy']:.2%} | {_rate(v['rate_batch1'])} | "
                         f"{_rate(v['rate_batch64'])} | {ratio} | {v['bytes'] / 2**20:,.1f} MiB | "
                         f"{v['start_up_s']:.2f} s | {labels[r['machine']]} | {r['date']} |")
    lines.append("")
    for r in rows:
        if "compared_with" in r:  # fastText beside a bag
            lines.append(fasttext_line(r, next((b for b in rows if b["model"] == r["compared_with"]), None)))
            continue
        if r.get("note"):
            lines.append(f"- `{r['model']}`: {r['note']}.")
        q = r["int8_validation"]
        metric = "f1" if r.get("task") == "tag" else "accuracy"
        scored = "CoNLL-2003 dev sentences" if r.get("task") == "tag" else "test reviews"
        lines.append(f"- `{r['model']}` ({r['test_examples']:,} {scored}; commit {r.get('commit')}; run as "
                     f"`{r['command']}`): int8 on the validation split, {metric} {q['fp32'][metric]:.2%} -> "
                     f"{q['int8'][metric]:.2%}; export took {r['export_seconds']:.0f} s.")
    lines += seq_lines(seq_rows, labels)
    venv = next((r["installed_venv"] for r in sorted(rows, key=lambda r: r.get("date", ""), reverse=True)
                 if "installed_venv" in r), None)
    if venv:
        for v in venv.values():
            top = ", ".join(f"{k} {mib:,.0f}" for k, mib in list(v["largest"].items())[:6])
            lines.append(f"- Installed size, fresh venv, `{v['command']}`: {v['site_packages_mib']:,.0f} MiB of "
                         f"site-packages ({v['without_pip_setuptools_mib']:,.0f} MiB without the venv's own pip and "
                         f"setuptools); largest, MiB: {top}.")
    env = (rows or seq_rows)[-1].get("installed_mib", {})
    if env and not venv:
        lines.append(f"- Installed size here: torch {env['torch']:,.0f} MiB; the torch-free runtime's packages "
                     f"(onnxruntime, numpy, tokenizers) {env['runtime']:,.0f} MiB.")
    write_section("export", lines)


def _rate(x: float) -> str:
    """Texts/s as the table shows them: a decimal below 100 (a pretrained encoder does a few per second here)."""
    return f"{x:,.1f}" if x < 100 else f"{x:,.0f}"


def fasttext_line(r: dict, bag: dict | None) -> str:
    """The fastText row's note: its settings, and the bag's end-to-end reviews/s against it in the same run."""
    v = r["variants"]["fastText"]
    line = (f"- `fasttext` (fastText {r.get('version')}, `train_supervised` with {r['settings']}, trained on the same "
            f"training texts as `{r['compared_with']}` in {r['train_seconds']:.0f} s; {r['test_examples']:,} test "
            f"reviews; run as `{r['command']}`)")
    if bag is None:
        return line + "."
    ratios = ", ".join(f"{variant} {b['rate_batch64']:,.0f} ({b['rate_batch64'] / v['rate_batch64']:.2f}x)"
                       for variant, b in bag["variants"].items())
    return line + f": the bag's reviews/s at batch 64 against fastText's {v['rate_batch64']:,.0f}: {ratios}."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", metavar="NAME=MODEL_DIR")
    parser.add_argument("--test-limit", type=int, default=5000, help="test reviews scored per variant")
    parser.add_argument("--count", type=int, default=2000, help="texts per rate measurement at batch 64 (1/10 at 1)")
    parser.add_argument("--out", default=str(ROOT / "runs" / "exports"))
    parser.add_argument("--seq-batch1", type=int, default=100, help="translator: test sentences timed at batch 1")
    parser.add_argument("--lm-tokens", type=int, default=50_000, help="language model: test tokens scored")
    parser.add_argument("--fasttext", metavar="NAME", default=None,
                        help="also train fastText on the training texts of the bag NAME and measure it in this run")
    parser.add_argument("--install-size", action="store_true",
                        help="measure the installed size of fresh runtime and torch virtual environments (pip installs)")
    args = parser.parse_args()
    previous = {r["model"]: r for r in json.loads(ROWS.read_text())} if ROWS.is_file() else {}
    command = "python benchmarks/export.py " + " ".join(sys.argv[1:])
    for spec in args.models:
        name, _, path = spec.partition("=")
        print(f"== {name}", flush=True)
        row = bench(name, Path(path), args)
        row.update(machine=describe(), date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), command=command,
                   commit=current_commit(),
                   installed_mib={"torch": folder_mib("torch"),
                                  "runtime": folder_mib("onnxruntime", "numpy", "tokenizers")})
        previous[name] = row
        ROWS.write_text(json.dumps(list(previous.values()), indent=1) + "\n")
        if name == args.fasttext:  # fastText in the same run, on the same machine, right after the bag
            print("== fasttext", flush=True)
            extra = fasttext_row(name, Path(path), args)
            extra.update(machine=describe(), date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), command=command,
                         commit=current_commit())
            previous["fasttext"] = extra
            ROWS.write_text(json.dumps(list(previous.values()), indent=1) + "\n")
    if args.install_size:
        sizes = installed_sizes()
        for row in previous.values():
            if row["model"] in {spec.partition("=")[0] for spec in args.models}:
                row["installed_venv"] = sizes
        ROWS.write_text(json.dumps(list(previous.values()), indent=1) + "\n")
    write_results(list(previous.values()))
    print(f"wrote {ROOT / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
