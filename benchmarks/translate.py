"""Multi30k German -> English on this machine: an attentive RNN and a Transformer, each from its default command.

Each model trains in its own process with ``seqlab train translate --data multi30k --src de --tgt en
--model NAME`` and nothing else (the defaults are the recipe, time budget included; ``--threads``
only when asked), then ``test_2016_flickr`` is decoded with greedy search and beam 5 (sacreBLEU
BLEU and chrF on detokenised, cased output), and the translation section of
``benchmarks/RESULTS.md`` is written from the measured numbers (never edit it by hand). Rows of
earlier runs are kept, so the two models can train side by side, one thread each, on a 2-core
machine::

    SEQLAB_DATA=../shared/data python benchmarks/translate.py --models rnn-additive --threads 1 &  # 45 minutes
    SEQLAB_DATA=../shared/data python benchmarks/translate.py --models transformer --threads 1     # 60 minutes
    SEQLAB_DATA=../shared/data python benchmarks/translate.py --max-time 2 --limit 3000 --results /tmp/r.md  # smoke
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe, machine_lines  # noqa: E402
from report import run_measured, write_section  # noqa: E402

HERE = Path(__file__).resolve().parent
TARGETS = {"rnn-additive": (30.0, 45), "transformer": (36.0, 60)}  # (sacreBLEU, minutes) from the issue

# name -> flags after ``seqlab train translate --data multi30k --src de --tgt en``: the model's RECIPE
# (models/seq2seq.py, models/transformer_seq2seq.py) is the rest
MODELS: dict[str, list[str]] = {
    "rnn-additive": ["--model", "rnn"],  # Bahdanau-style GRU with additive attention (the rnn defaults)
    "transformer": ["--model", "transformer"],  # pre-LN 3+3 layers, d 256, one shared embedding table
}
BASE = ["train", "translate", "--data", "multi30k", "--src", "de", "--tgt", "en"]


def run_one(name: str, args: argparse.Namespace) -> dict:
    import seqlab
    from seqlab.tasks.base import get_task

    out = Path(args.runs) / name
    extra = [*(["--threads", str(args.threads)] if args.threads else []),
             *(["--max-time", str(args.max_time)] if args.max_time else []),
             *(["--limit", str(args.limit)] if args.limit else [])]
    flags = [*MODELS[name], *extra]
    log = Path(args.runs) / "logs" / f"{name}-train.log"
    code, wall, peak = run_measured([sys.executable, "-m", "seqlab.cli", *BASE, *flags, "--out", str(out),
                                     "--overwrite"], log)
    if code != 0:
        raise SystemExit(f"training {name} failed (exit {code}); see {log}")
    metrics = json.loads((out / "metrics.json").read_text())
    config = json.loads((out / "config.json").read_text())["config"]
    history = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    model = seqlab.load(out, device="cpu")
    spec = get_task("translate")
    row = {"model": name, "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
           "budget_minutes": config["train"]["max_time"], "threads": args.threads,
           "precision": metrics.get("precision"), "machine": describe(), "limit": args.limit,
           "command": " ".join(shlex.quote(a) for a in ["python", *sys.argv]),
           "flags": " ".join(flags), "train_minutes": sum(h.get("epoch_seconds", 0.0) for h in history) / 60,
           "wall_minutes": wall / 60, "peak_mib": peak, "epochs": metrics.get("epoch"), "steps": metrics.get("step"),
           "valid_bleu": metrics["valid"]["bleu"], "params": sum(p.numel() for p in model.model.parameters())}
    for beam in (1, 5):
        report = spec.evaluate(model, data="multi30k", split="test_2016_flickr",
                               options={"beam": beam, "batch_size": 64}, log=lambda *_: None)
        row[f"beam{beam}"] = {k: report[k] for k in ("bleu", "chrf", "sentences_per_s", "perplexity", "signature")}
    print(json.dumps(row), flush=True)
    return row


def command_of(row: dict) -> str:
    """The training command a row ran (rows from before the defaults were the recipes carry their settings)."""
    if "flags" in row:
        return f"seqlab train translate --data multi30k --src de --tgt en {row['flags']}"
    return (f"seqlab train translate --data multi30k --src de --tgt en {row['recipe']} --vocab-size "
            f"{row['vocab_size']} --precision {row.get('precision_asked', row['precision'])} "
            f"--max-time {row['budget_minutes']:g}")


def write_results(rows: list[dict], path: Path) -> None:
    """Replace the translation section of ``path`` (between its markers) with a table of ``rows``."""
    signature = rows[0]["beam1"]["signature"] if rows else ""
    machines, machine_header = machine_lines(rows)
    lines = [
        "## Multi30k German -> English (translate)",
        "",
        *machine_header,
        "Training: Multi30k train (29,000 pairs), early stopping and the best checkpoint on validation BLEU; "
        "test: test_2016_flickr (1,000 sentences).",
        f"sacreBLEU `{signature}`: detokenised, cased output against the raw references.",
        "",
        "| model | test BLEU greedy | chrF greedy | test BLEU beam 5 | chrF beam 5 | valid BLEU | test ppl "
        "| train min | budget | epochs | steps | params | sent/s greedy | sent/s beam 5 | threads | precision "
        "| target | machine | date |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|---|",
    ]
    for r in rows:
        g, b = r["beam1"], r["beam5"]
        target = TARGETS.get(r["model"])
        best = max(g["bleu"], b["bleu"])
        verdict = f">= {target[0]} BLEU in {target[1]} min: " + (
            "met" if best >= target[0] and r["budget_minutes"] <= target[1] else "**missed**") if target else "-"
        if r.get("limit"):
            verdict = f"smoke run ({r['limit']:,} pairs)"
        lines.append(f"| {r['model']} | {g['bleu']:.2f} | {g['chrf']:.2f} | {b['bleu']:.2f} | {b['chrf']:.2f} "
                     f"| {r['valid_bleu']:.2f} | {g['perplexity']:.2f} | {r['train_minutes']:.1f} "
                     f"| {r['budget_minutes']:g} min | {r['epochs']} | {r['steps']:,} | {r['params']:,} "
                     f"| {g['sentences_per_s']:.1f} | {b['sentences_per_s']:.1f} | {r['threads'] or 'all'} "
                     f"| {r['precision']} | {verdict} | {machines[r.get('machine', 'not recorded')]} | {r['date']} |")
    lines += ["", "Decoding speed: batches of 64 sentences, after one warm-up call. Recipes and commands:", ""]
    lines += [f"- `{r['model']}`: `{command_of(r)}` (run as `{r['command']}`)" for r in rows]
    write_section("translate", lines, path=path)
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--max-time", default=None, help="override the recipe's time budget (smoke runs only)")
    p.add_argument("--limit", type=int, default=None, help="train on at most this many pairs (smoke runs)")
    p.add_argument("--threads", type=int, default=None, help="torch threads per training (1: two models side by side)")
    p.add_argument("--models", default="rnn-additive,transformer")
    p.add_argument("--runs", default=str(HERE / "runs" / "translate"), help="where the model directories go")
    p.add_argument("--results", default=str(HERE / "RESULTS.md"))
    args = p.parse_args(argv)
    rows_path = Path(args.results).with_name("translate-rows.json")  # measured rows, kept so models can run apart
    for name in args.models.split(","):
        row = run_one(name, args)
        rows = json.loads(rows_path.read_text()) if rows_path.exists() else {}
        rows[name] = row
        rows_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = rows_path.with_name(f".{rows_path.name}.tmp")
        tmp.write_text(json.dumps(rows, indent=2))
        os.replace(tmp, rows_path)
    write_results([rows[n] for n in MODELS if n in rows], Path(args.results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
