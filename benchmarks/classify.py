"""IMDB sentiment benchmark: train each classifier, evaluate on the 25,000 test reviews, write RESULTS.md.

Run from the repository root (SEQLAB_DATA must point at the data, e.g. ../shared/data):

    SEQLAB_DATA=../shared/data python benchmarks/classify.py                 # all models
    SEQLAB_DATA=../shared/data python benchmarks/classify.py --models bag rnn

Each model trains in its own process (so its peak memory is its own), with the
recipe below, validation carved from train (tuning happens on validation only).
The table in benchmarks/RESULTS.md is generated from what this script measures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe, machine_lines  # noqa: E402
from report import write_section  # noqa: E402

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "RESULTS.md"
OOD_FILE = "tweets-airline/tweets.jsonl"  # out-of-domain check, relative to $SEQLAB_DATA

# name -> (CLI flags, time budget in minutes for training or None for the model's own, target accuracy or None).
# The defaults are the recipes (models/*.py RECIPE beside each config): a model's row runs the shortest command;
# only the bag's variants (not its default) carry flags.
RECIPES: dict[str, tuple[list[str], float | None, float | None]] = {
    "bag": (["--model", "bag"], None, 0.92),
    # fastText-style: averaged learned embeddings of the same features
    "bag-fasttext": (["--model", "bag", "--weighting", "mean", "--ngrams", "3", "--buckets", "2000000", "--emb-size",
                      "32", "--lr", "0.01", "--epochs", "4", "--patience", "2"], 5, None),
    # issue 21: the bag's default adds 2 sentence crops per review and the mean GloVe vector; each part taken away
    # (bag-plain is the default before them), and temperature scaling on top; rows kept when they lose
    "bag-plain": (["--model", "bag", "--crops", "0", "--embeddings", "none"], None, None),
    "bag-crops-only": (["--model", "bag", "--embeddings", "none"], None, None),
    "bag-glove-only": (["--model", "bag", "--crops", "0"], None, None),
    "bag-calibrated": (["--model", "bag", "--calibrate"], None, None),
    # knowledge distillation from the fine-tuned MiniLM row (run "pretrained" first; {runs} is --out): its
    # probabilities on every training review and crop, half of the loss (the default weight) or all of it
    "bag-distilled": (["--model", "bag", "--teacher", "{runs}/pretrained"], None, None),
    "bag-distilled-soft": (["--model", "bag", "--teacher", "{runs}/pretrained", "--teacher-weight", "1"], None, None),
    "rnn": (["--model", "rnn"], None, 0.90),
    "transformer": (["--model", "transformer"], None, None),
    "pretrained": (["--model", "pretrained"], None, None),
    # issue 21: MiniLM on two sentence crops per review as well (the length shift), in the same 30 minutes
    "pretrained-crops": (["--model", "pretrained", "--crops", "2"], None, None),
}


# prediction throughput targets at batch 256 (reviews/s)
RATE_TARGETS = {"bag": 5000, "rnn": 300}
# training + test evaluation must fit in this many minutes
TIME_TARGETS = {"bag": 5}
# out of domain (issue 21): tweets macro-F1 and balanced accuracy at least this
OOD_TARGETS = {"bag": 0.85, "pretrained": 0.90}


def run_measured(cmd: list[str], log_path: Path) -> tuple[int, float, float]:
    """Run a command; return (exit code, wall seconds, peak RSS in MiB) of that process alone."""
    started = time.monotonic()
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return code, time.monotonic() - started, usage.ru_maxrss / 1024


def throughput(model_dir: Path, texts: list[str], batch_size: int, count: int, precision: str = "fp32") -> float:
    import seqlab

    model = seqlab.load(model_dir, precision=precision)
    sample = (texts * (count // max(1, len(texts)) + 1))[:count]
    model.predict(sample[: min(count, 32)], batch_size=batch_size)  # warm-up
    started = time.perf_counter()
    model.predict(sample, batch_size=batch_size)
    return count / (time.perf_counter() - started)


def rates(model_dir: Path, args: argparse.Namespace) -> dict:
    """Prediction throughput at batch 1 and 256 (fp32, and bf16 at 256), with this process's threads."""
    import seqlab
    from seqlab.data.classification import ClassifyDataConfig, load_split

    texts = load_split(ClassifyDataConfig(data=args.data), "test").texts[:2000]
    return {"rate_batch1": throughput(model_dir, texts, 1, args.throughput_count // 10),
            "rate_batch256": throughput(model_dir, texts, 256, args.throughput_count),
            # bf16 only where the CPU has it (elsewhere the classifier runs fp32 anyway)
            "rate_batch256_bf16": throughput(model_dir, texts, 256, args.throughput_count, "bf16")
            if _native_bf16() else None,
            "predict_threads": _torch_threads(), "rates_date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "predict_workers": seqlab.load(model_dir)._workers(None, args.throughput_count)}


def bench(name: str, args: argparse.Namespace) -> dict:
    flags, minutes, target = RECIPES[name]
    flags = [flag.format(runs=os.path.relpath(args.out)) for flag in flags]
    minutes = args.minutes if args.minutes is not None else minutes
    out = Path(args.out) / name
    logs = Path(args.out) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    seqlab_cmd = [sys.executable, "-m", "seqlab.cli"]
    train_cmd = [*seqlab_cmd, "train", "classify", "--data", args.data, *flags, "--out", str(out), "--overwrite"]
    if minutes is not None:
        train_cmd += ["--max-time", str(minutes)]
    if args.threads:
        train_cmd += ["--threads", str(args.threads)]
    code, train_s, train_mem = run_measured(train_cmd, logs / f"{name}-train.log")
    if code != 0:
        return {"model": name, "error": f"training failed, see {logs / f'{name}-train.log'}"}
    eval_json = logs / f"{name}-eval.json"
    # evaluate as trained (fp32 MiniLM on 25k: ~40 min); bf16 only where the CPU has it (else it runs fp32)
    eval_precision = "bf16" if _native_bf16() else "fp32"
    eval_cmd = [*seqlab_cmd, "evaluate", str(out), "--data", args.data, "--split", "test", "--json",
                "--precision", eval_precision]
    started = time.monotonic()
    with open(eval_json, "w") as fh:
        subprocess.run(eval_cmd, stdout=fh, check=True)
    eval_s = time.monotonic() - started
    report = json.loads(eval_json.read_text())
    metrics = json.loads((out / "metrics.json").read_text())
    ood = out_of_domain(out, logs / f"{name}-tweets.json", seqlab_cmd, eval_precision)
    return {
        "model": name, "flags": " ".join(flags), "target": target,
        "minutes": json.loads((out / "config.json").read_text())["config"]["train"]["max_time"],  # the budget that ran
        "test_accuracy": report["accuracy"], "test_macro_f1": report["macro_f1"],
        "valid_accuracy": metrics["valid"]["accuracy"], "best_epoch": metrics["epoch"],
        **ood,
        "train_seconds": train_s, "train_peak_mib": train_mem, "eval_seconds": eval_s, "eval_precision": eval_precision,
        **rates(out, args),
        "threads": args.threads, "precision": metrics.get("precision"), "machine": describe(),
        "params": _params(out),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python benchmarks/classify.py " + " ".join(sys.argv[1:]),
    }


def out_of_domain(model_dir: Path, report_path: Path, seqlab_cmd: list[str], precision: str) -> dict:
    """The model on the out-of-domain tweets (tweets-airline: 80% negative, so macro-F1 and balanced accuracy,
    not accuracy; ECE says whether its confidences still mean what they say there)."""
    tweets = Path(os.environ.get("SEQLAB_DATA", "../shared/data")) / OOD_FILE
    if not tweets.exists():
        return {}
    with open(report_path, "w") as fh:
        subprocess.run([*seqlab_cmd, "evaluate", str(model_dir), "--data", str(tweets), "--json",
                        "--precision", precision, "--reliability", str(report_path.with_suffix(".png"))],
                       stdout=fh, check=True)
    report = json.loads(report_path.read_text())
    return {"ood_accuracy": report["accuracy"], "ood_macro_f1": report["macro_f1"],
            "ood_balanced_accuracy": report["balanced_accuracy"], "ood_ece": report["ece"]}


def _ood(row: dict, key: str, fmt: str = ".4f") -> str:
    return format(row[key], fmt) if row.get(key) is not None else "-"


def _flag(row: dict, name: str) -> str | None:
    """The value of ``--name`` in a row's recipe flags (rows measured before the precision was recorded)."""
    flags = row.get("flags", "").split()
    return flags[flags.index(f"--{name}") + 1] if f"--{name}" in flags else None


def _native_bf16() -> bool:
    import torch

    from seqlab.runtime import native_bf16

    return native_bf16(torch.device("cpu"))


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def _params(model_dir: Path) -> int:
    from safetensors import safe_open

    with safe_open(str(model_dir / "model.safetensors"), "pt") as fh:
        return sum(_prod(fh.get_slice(k).get_shape()) for k in fh.keys())


def _prod(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _budget(row: dict) -> str:
    return f"{row['minutes']:g} min" if row.get("minutes") else "none"


def write_results(rows: list[dict]) -> None:
    machines, machine_header = machine_lines(rows)
    lines = [
        "<!-- classify:start (generated by benchmarks/classify.py; do not edit by hand) -->",
        "## IMDB sentiment (classify)",
        "",
        *machine_header,
        "Each row: the machine, date and command of its own run (models can run apart).",
        "Training data: IMDB train (25,000) with 10% carved out for validation (seed 1234); test: 25,000 reviews.",
        "",
        "Out of domain: the Twitter US Airline Sentiment tweets (`$SEQLAB_DATA/tweets-airline`, 11,541 tweets, 80% "
        "negative; never used for training): macro-F1, balanced accuracy and expected calibration error.",
        "",
        "| model | test acc | macro-F1 | valid acc | tweets macro-F1 | tweets bal. acc | tweets ECE | train time | budget "
        "| peak mem | params | threads train/predict "
        "| train precision | reviews/s @1 | reviews/s @256 | @256 bf16 | targets | machine | date |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | {r['error']} ||||||||||||||")
            continue
        verdicts = []
        if r["target"] is not None:
            met = r["test_accuracy"] >= r["target"]
            verdicts.append(f"acc >= {r['target']:.1%}: " + ("met" if met else "**missed**"))
        time_target = TIME_TARGETS.get(r["model"])
        if time_target is not None and r.get("eval_seconds") is not None:
            total = (r["train_seconds"] + r["eval_seconds"]) / 60
            verdicts.append(f"train+eval {total:.1f} <= {time_target} min: " + ("met" if total <= time_target
                                                                              else "**missed**"))
        rate_target = RATE_TARGETS.get(r["model"])
        if rate_target is not None:
            best_rate = max(r["rate_batch256"], r.get("rate_batch256_bf16") or 0)
            verdicts.append(f">= {rate_target:,}/s: " + ("met" if best_rate >= rate_target else "**missed**"))
        ood_target = OOD_TARGETS.get(r["model"])
        if ood_target is not None and r.get("ood_macro_f1") is not None:
            met = r["ood_macro_f1"] >= ood_target and (r["model"] != "bag" or r["ood_balanced_accuracy"] >= ood_target)
            verdicts.append(f"tweets F1{'/bal. acc' if r['model'] == 'bag' else ''} >= {ood_target}: "
                            + ("met" if met else "**missed**"))
        bf16 = f"{r['rate_batch256_bf16']:,.0f}" if r.get("rate_batch256_bf16") else "-"
        lines.append(
            f"| {r['model']} | {r['test_accuracy']:.2%} | {r['test_macro_f1']:.4f} | {r['valid_accuracy']:.2%} | "
            f"{_ood(r, 'ood_macro_f1')} | {_ood(r, 'ood_balanced_accuracy')} | {_ood(r, 'ood_ece')} | "
            f"{r['train_seconds'] / 60:.1f} min | {_budget(r)} | {r['train_peak_mib']:,.0f} MiB | "
            f"{r['params']:,} | {r.get('threads') or 'all'}/{r.get('predict_threads') or '-'}"
            f"{' + ' + str(r['predict_workers']) + ' workers' if r.get('predict_workers') else ''} | "
            f"{r.get('precision') or _flag(r, 'precision') or 'fp32'} | {r['rate_batch1']:,.0f} | {r['rate_batch256']:,.0f} | "
            f"{bf16} | {'; '.join(verdicts) or '-'} | {machines[r.get('machine', 'not recorded')]} | {r.get('date', '-')} |")
    lines += ["", "Recipes (flags after `seqlab train classify --data imdb`):", ""]
    lines += [f"- `{r['model']}`: `{r.get('flags', '')}` (run as `{r.get('command', '-')}`; test evaluated in "
              f"{r.get('eval_precision', 'fp32')}; rates measured {r.get('rates_date', r.get('date', '-'))})"
              + (f"; {r['note']}" if r.get("note") else "") for r in rows]
    lines.append("<!-- classify:end -->")
    write_section("classify", lines[1:-1])  # the markers are written by write_section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--data", default="imdb")
    parser.add_argument("--out", default=str(ROOT / "runs"))
    parser.add_argument("--minutes", type=float, default=None, help="override every model's training budget")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--throughput-count", type=int, default=5000)
    parser.add_argument("--rates-only", action="store_true",
                        help="re-measure prediction throughput of already trained models (on an idle machine)")
    args = parser.parse_args()
    rows_path = ROOT / "classify-rows.json"  # measured rows of every run, kept so models can run apart
    previous = json.loads(rows_path.read_text()) if rows_path.exists() else {}
    for name in args.models:
        print(f"== {name}", flush=True)
        if args.rates_only:
            if name not in previous or not (Path(args.out) / name / "model.safetensors").exists():
                print(f"{name}: no trained model in {args.out} to measure; skipped", flush=True)
                continue
            row = {**previous[name], **rates(Path(args.out) / name, args)}
        else:
            row = bench(name, args)
        print(json.dumps(row), flush=True)
        previous = json.loads(rows_path.read_text()) if rows_path.exists() else {}
        previous[name] = row
        rows_path.parent.mkdir(parents=True, exist_ok=True)
        rows_path.write_text(json.dumps(previous, indent=2))
    rows = [previous[n] for n in RECIPES if n in previous]
    write_results(rows)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
