"""Scale-out benchmark: 1 process x 2 threads against 2 processes x 1 thread (torchrun, gloo) on IMDB.

Both train on the same examples with the same global batch (the single process with ``--accumulate 2``), so the
final validation scores should agree and the examples/s show what DDP costs (its all-reduce per step, the padding
steps, the per-step exchange of counts and decisions). On a 2-core machine this checks the machinery and its
overhead, not a speed-up: two processes of one thread have the same two cores that one process of two threads has.

    flock /tmp/seqlab-heavy.lock python benchmarks/scale.py              # bag and rnn, writes scale-rows.json
    python benchmarks/scale.py --models bag                              # one model; other rows are kept

The rnn runs on a fixed ``--limit`` of examples (one epoch) so that the four runs take a few minutes.
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
ROWS = ROOT / "scale-rows.json"
# flags after `seqlab train classify --data imdb`, the same for both layouts (the bag: its recipe, 2 epochs)
MODELS = {
    "bag": ["--model", "bag", "--precision", "fp32"],
    "rnn": ["--model", "rnn", "--limit", "4000", "--epochs", "1", "--max-len", "200", "--precision", "fp32",
            "--max-time", "none", "--patience", "none"],
}
LAYOUTS = {  # name -> (processes, threads each)
    "1 process x 2 threads": (1, 2),
    "2 processes x 1 thread": (2, 1),
}


def command(model: str, layout: str, out: Path) -> list[str]:
    processes, threads = LAYOUTS[layout]
    flags = [*MODELS[model], "--threads", str(threads), "--out", str(out), "--overwrite", "--no-progress"]
    if processes == 1:  # the global batch of two processes: two batches a step
        return [sys.executable, "-m", "seqlab", "train", "classify", "--data", "imdb", *flags, "--accumulate", "2"]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(processes),
            "-m", "seqlab", "train", "classify", "--data", "imdb", *flags]


def measure(model: str, layout: str, out_root: Path) -> dict:
    out = out_root / f"scale-{model}-{LAYOUTS[layout][0]}x{LAYOUTS[layout][1]}"
    cmd = command(model, layout, out)
    code, wall, peak = run_measured(cmd, out_root / "logs" / f"{out.name}.log")
    if code != 0:
        return {"model": model, "layout": layout, "error": f"exit {code}, see {out_root / 'logs' / (out.name + '.log')}"}
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in records if not r["partial_epoch"]]
    examples = sum(r["examples_per_s"] * r["epoch_seconds"] for r in epochs)
    train_seconds = sum(r["epoch_seconds"] for r in epochs)
    # what rank 0 does while the other rank waits: validation, timed alone on the valid split
    eval_cmd = [sys.executable, "-m", "seqlab", "evaluate", str(out), "--split", "valid", "--json"]
    _, valid_seconds, _ = run_measured(eval_cmd, out_root / "logs" / f"{out.name}-valid.json")
    return {
        "model": model, "layout": layout, "processes": LAYOUTS[layout][0], "threads": LAYOUTS[layout][1],
        "examples": round(examples), "examples_per_s": examples / max(train_seconds, 1e-9),
        "train_seconds": train_seconds, "wall_seconds": wall, "peak_mib_per_process": peak,
        "valid_accuracy": epochs[-1]["valid_accuracy"], "valid_loss": epochs[-1]["valid_loss"],
        "steps": epochs[-1]["step"], "valid_eval_seconds": valid_seconds,
        "machine": describe(), "commit": current_commit(), "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": shown_command(cmd),
    }


def write_results(rows: list[dict]) -> None:
    machines, header = machine_lines(rows)
    lines = [
        "## Scale out: 1 process x 2 threads against 2 processes x 1 thread (torchrun, gloo)",
        "",
        *header,
        "Both layouts train on the same IMDB examples with the same global batch (one process with `--accumulate 2`, "
        "two processes with one batch each per step), so their validation scores should agree: it checks the "
        "machinery. examples/s is over the training epochs (validation excluded); wall time includes start-up, data "
        "and validation. On 2 cores this measures the overhead of data parallelism, not a speed-up: two processes of "
        "one thread have the two cores that one process of two threads has.",
        "",
        "| model | layout | examples | steps | examples/s | train s | wall s | valid acc | valid loss "
        "| validation alone s | peak MiB/process | machine | date |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | {r['layout']} | {r['error']} |||||||||||")
            continue
        lines.append(f"| {r['model']} | {r['layout']} | {r['examples']:,} | {r['steps']:,} | {r['examples_per_s']:,.0f} "
                     f"| {r['train_seconds']:.1f} | {r['wall_seconds']:.1f} | {r['valid_accuracy']:.2%} "
                     f"| {r['valid_loss']:.4f} | {r['valid_eval_seconds']:.1f} | {r['peak_mib_per_process']:,.0f} "
                     f"| {machines[r['machine']]} | {r['date']} |")
    by_model: dict[str, dict[int, dict]] = {}
    for r in rows:
        if "error" not in r:
            by_model.setdefault(r["model"], {})[r["processes"]] = r
    lines.append("")
    for model, pair in by_model.items():
        if 1 in pair and 2 in pair:
            one, two = pair[1], pair[2]
            lines.append(f"- {model}: 2 processes run at {two['examples_per_s'] / one['examples_per_s']:.2f}x the "
                         f"examples/s of 1 process; validation accuracy {two['valid_accuracy']:.2%} against "
                         f"{one['valid_accuracy']:.2%} (a difference of "
                         f"{abs(two['valid_accuracy'] - one['valid_accuracy']) * 100:.2f} points).")
    lines += ["", "Commands (from the repository root):", ""]
    lines += [f"- {r['model']}, {r['layout']}: `{r.get('command', '-')}`" for r in rows if "error" not in r]
    write_section("scale", lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--out", default=str(ROOT / "runs"), help="where the model directories go")
    args = parser.parse_args()
    rows = json.loads(ROWS.read_text()) if ROWS.exists() else {}
    for model in args.models:
        for layout in LAYOUTS:
            row = measure(model, layout, Path(args.out))
            print(json.dumps(row), flush=True)
            rows[f"{model}/{layout}"] = row
            ROWS.write_text(json.dumps(rows, indent=2))
    ordered = [rows[f"{m}/{lay}"] for m in MODELS for lay in LAYOUTS if f"{m}/{lay}" in rows]
    write_results(ordered)
    print(f"wrote {ROOT / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
