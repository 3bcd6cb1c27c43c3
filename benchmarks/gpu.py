"""The GPU path, measured in one prepared run (issue 18 item 5): every task trains for a short, fixed time on the
device with the default precision (bf16 autocast on a GPU that has it), and its training rate is set beside the same
command's rate on this project's CPU; then MiniLM is fine-tuned on IMDB and scored on the test split.

A GPU machine is lent for minutes at a time, so this is one script, not an exploration:

    SEQLAB_DATA=../shared/data python benchmarks/gpu.py --device cpu      # the CPU rows, on the 2-core machine
    SEQLAB_DATA=../shared/data python benchmarks/gpu.py --device cuda     # on the GPU machine (about 8 minutes)

On more than one GPU the rnn classifier also trains under ``torchrun`` with nccl, one process per GPU. Rows go to
gpu-rows.json (kept per device, so the CPU and GPU rows can be measured in different sessions) and RESULTS.md "gpu".
Training rates come from the model directory's metrics.jsonl (examples/s over the training steps, validation
excluded), so a start-up or tokenisation cost does not blur them; wall time is reported beside.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe, machine_lines  # noqa: E402
from report import current_commit, run_measured, shown_command, write_section  # noqa: E402

ROOT = Path(__file__).resolve().parent
ROWS = ROOT / "gpu-rows.json"
# name -> (task, flags after `seqlab train TASK`); each trains for --seconds at most (the rate is what is compared)
JOBS: dict[str, tuple[str, list[str]]] = {
    "classify bag": ("classify", ["--data", "imdb", "--model", "bag", "--epochs", "1"]),
    "classify rnn": ("classify", ["--data", "imdb", "--model", "rnn", "--epochs", "1", "--patience", "none"]),
    "classify transformer": ("classify", ["--data", "imdb", "--model", "transformer", "--epochs", "1"]),
    "translate rnn": ("translate", ["--data", "multi30k", "--model", "rnn", "--epochs", "1"]),
    "translate transformer": ("translate", ["--data", "multi30k", "--model", "transformer", "--epochs", "1"]),
    "lm rnn": ("lm", ["--data", "wikitext-2", "--model", "rnn", "--epochs", "1"]),
    "tag bilstm-crf": ("tag", ["--data", "conll2003", "--model", "bilstm-crf", "--epochs", "1"]),
}
# the target: MiniLM fine-tuned to >= 92% IMDB test accuracy, and the minutes it took (GPU only: 30 min on the CPU
# reach 88%, benchmarks/RESULTS.md)
PRETRAINED = ["--data", "imdb", "--model", "pretrained", "--epochs", "2", "--batch-size", "32", "--eval-every", "none"]


def _train_command(task: str, flags: list[str], device: str, seconds: float, out: Path, gpus: int = 1) -> list[str]:
    tail = ["train", task, *flags, "--device", device, "--max-time", f"{seconds:g}s", "--out", str(out),
            "--overwrite", "--no-progress"]
    if gpus > 1:
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(gpus),
                "-m", "seqlab", *tail]
    return [sys.executable, "-m", "seqlab", *tail]


def _rate(out: Path) -> tuple[float, int, dict]:
    """(examples/s over the training steps, steps, the last validation record) from metrics.jsonl."""
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    seconds = sum(r["epoch_seconds"] for r in records)
    examples = sum(r["examples_per_s"] * r["epoch_seconds"] for r in records)
    return examples / max(seconds, 1e-9), records[-1]["step"], records[-1]


def _row(name: str, device: str, cmd: list[str], out: Path, code: int, wall: float, peak: float) -> dict:
    row = {"job": name, "device": device, "machine": describe(), "commit": current_commit(),
           "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
           "command": shown_command(cmd)}
    if code != 0:
        return {**row, "error": f"exit {code}"}
    rate, steps, last = _rate(out)
    valid = {k: v for k, v in last.items() if k.startswith("valid_")}
    precision = json.loads((out / "metrics.json").read_text()).get("precision")
    return {**row, "examples_per_s": rate, "steps": steps, "wall_seconds": wall, "peak_mib": peak,
            "precision": precision, "valid": valid}


def run_jobs(args: argparse.Namespace) -> dict[str, dict]:
    import torch

    out_root, logs = Path(args.out), Path(args.out) / "logs"
    gpus = torch.cuda.device_count() if args.device.startswith("cuda") else 0
    jobs = {name: job for name, job in JOBS.items() if not args.only or name in args.only}
    rows: dict[str, dict] = {}
    for name, (task, flags) in jobs.items():
        out = out_root / f"gpu-{name.replace(' ', '-')}-{args.device.replace(':', '')}"
        cmd = _train_command(task, flags, args.device, args.seconds, out)
        rows[f"{name}/{args.device}"] = _row(name, args.device, cmd, out, *run_measured(cmd, logs / f"{out.name}.log"))
        print(json.dumps(rows[f"{name}/{args.device}"]), flush=True)
    if gpus > 1 and (not args.only or "classify rnn" in args.only):  # DDP with nccl, one process per GPU
        name = f"classify rnn, {gpus} GPUs (nccl)"
        out = out_root / f"gpu-classify-rnn-ddp{gpus}"
        cmd = _train_command("classify", JOBS["classify rnn"][1], "cuda", args.seconds, out, gpus)
        rows[f"{name}/{args.device}"] = _row(name, args.device, cmd, out, *run_measured(cmd, logs / f"{out.name}.log"))
    if args.device.startswith("cuda") and not args.only:
        rows[f"pretrained/{args.device}"] = pretrained(args, out_root, logs)
    return rows


def pretrained(args: argparse.Namespace, out_root: Path, logs: Path) -> dict:
    """MiniLM fine-tuned on IMDB within --pretrained-minutes, then its test accuracy."""
    out = out_root / "gpu-pretrained"
    cmd = _train_command("classify", PRETRAINED, args.device, args.pretrained_minutes * 60, out)
    code, wall, peak = run_measured(cmd, logs / "gpu-pretrained.log")
    row = _row("pretrained (MiniLM) fine-tuned", args.device, cmd, out, code, wall, peak)
    if code == 0:
        report = logs / "gpu-pretrained-test.json"
        evaluate = [sys.executable, "-m", "seqlab", "evaluate", str(out), "--split", "test", "--device", args.device,
                    "--json"]
        code, eval_wall, _ = run_measured(evaluate, report)
        row["test_accuracy"] = json.loads(report.read_text())["accuracy"] if code == 0 else None
        row["test_seconds"] = eval_wall
    return row


def write_results(rows: dict[str, dict]) -> None:
    ordered = sorted(rows.values(), key=lambda r: (r["job"], r["device"]))
    machines, header = machine_lines(ordered)
    cpu = {r["job"]: r for r in ordered if r["device"] == "cpu" and "error" not in r}
    lines = ["## The GPU path: training rates on a GPU against this CPU", "", *header,
             "Each job trains for the same short time with the default precision; examples/s is over the training "
             "steps (validation excluded). The speed-up divides a GPU row's rate by the CPU row of the same job.", "",
             "| job | device | precision | steps | examples/s | speed-up over CPU | wall s | peak MiB | valid | "
             "test acc | machine | date |", "|---|---|---|---:|---:|---:|---:|---:|---|---:|---|---|"]
    for r in ordered:
        if "error" in r:
            lines.append(f"| {r['job']} | {r['device']} | {r['error']} ||||||||||")
            continue
        base = cpu.get(r["job"])
        speedup = f"{r['examples_per_s'] / base['examples_per_s']:.1f}x" if base and r["device"] != "cpu" else "-"
        valid = ", ".join(f"{k[6:]} {v:.4g}" for k, v in r["valid"].items())
        test = f"{r['test_accuracy']:.2%}" if r.get("test_accuracy") is not None else "-"
        lines.append(f"| {r['job']} | {r['device']} | {r['precision']} | {r['steps']:,} | {r['examples_per_s']:,.0f} "
                     f"| {speedup} | {r['wall_seconds']:.0f} | {r['peak_mib']:,.0f} | {valid} | {test} "
                     f"| {machines[r['machine']]} | {r['date']} |")
    lines += ["", "Commands (from the repository root):", ""]
    lines += [f"- {r['job']} ({r['device']}): `{r['command']}`" for r in ordered]
    write_section("gpu", lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda (the GPU rows) or cpu (the rows to compare with)")
    parser.add_argument("--seconds", type=float, default=45, help="training time of each job")
    parser.add_argument("--pretrained-minutes", type=float, default=4)
    parser.add_argument("--only", nargs="+", choices=list(JOBS), help="these jobs only (no MiniLM run)")
    parser.add_argument("--out", default=str(ROOT / "runs"))
    args = parser.parse_args()
    rows = json.loads(ROWS.read_text()) if ROWS.exists() else {}
    rows.update(run_jobs(args))
    ROWS.write_text(json.dumps(rows, indent=2))
    write_results(rows)
    print(f"wrote {ROWS} and {ROOT / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
