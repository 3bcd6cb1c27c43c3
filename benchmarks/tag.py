"""CoNLL-2003 NER benchmark: train with the default settings, score dev F1 as conlleval counts, tagging speed.

Run from the repository root (SEQLAB_DATA must point at the data, e.g. ../shared/data):

    SEQLAB_DATA=../shared/data python benchmarks/tag.py                          # the three BiLSTM rows
    SEQLAB_DATA=../shared/data python benchmarks/tag.py --models bilstm-crf
    SEQLAB_DATA=../shared/data python benchmarks/tag.py --models pretrained      # MiniLM (slow on a CPU)
    SEQLAB_DATA=../shared/data python benchmarks/tag.py --dry-run                # seconds: every code path, tiny data

Each model trains in its own process with ``seqlab train tag --data conll2003`` and, for the
recipe row, no other setting (the defaults are the recipe, 30-minute budget included). The
ablations (no character features; softmax instead of the CRF) change one flag and run on a
10-minute budget: they say what a component is worth, not what the recipe reaches, and a
shorter budget keeps the whole benchmark near an hour. Each model is then scored on the dev
split with ``seqlab evaluate`` (the test split is held out elsewhere: tune on dev only).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import report as report_module  # noqa: E402
from machine import describe, machine_lines  # noqa: E402
from report import ROOT, run_measured, write_section  # noqa: E402

# name -> (flags after ``seqlab train tag --data conll2003``, why they differ from the defaults)
RECIPES: dict[str, tuple[list[str], str]] = {
    "bilstm-crf": ([], "the defaults: the recipe"),
    "bilstm-crf, no chars": (["--char", "none", "--max-time", "6"],
                             "ablation of the character CNN; a 6-minute budget keeps the benchmark inside one session"),
    "bilstm (softmax)": (["--model", "bilstm", "--max-time", "6"],
                         "ablation of the CRF; a 6-minute budget keeps the benchmark inside one session"),
    "pretrained": (["--model", "pretrained"], "MiniLM fine-tuned, CRF on top; run only when asked (slow on a CPU)"),
}
DEFAULT_MODELS = ["bilstm-crf", "bilstm-crf, no chars", "bilstm (softmax)"]
TARGET_F1 = 0.91  # dev F1 of the default recipe within its 30-minute budget
DRY_RUN_MINUTES = "0.1"  # --dry-run: every row trains this long on a few hundred sentences


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name).strip("-").replace("--", "-")


def bench(name: str, args: argparse.Namespace) -> dict:
    flags, why = RECIPES[name]
    if args.dry_run:
        flags = [*flags, "--max-time", DRY_RUN_MINUTES]
    out = Path(args.out) / f"tag-{slug(name)}"
    logs = Path(args.out) / "logs"
    seqlab_cmd = [sys.executable, "-m", "seqlab.cli"]
    train_cmd = [*seqlab_cmd, "train", "tag", "--data", "conll2003", *flags, "--out", str(out), "--overwrite"]
    log_path = logs / f"tag-{slug(name)}-train.log"
    code, train_s, train_mem = run_measured(train_cmd, log_path)
    if code != 0:
        return {"model": name, "error": f"training failed, see {log_path}"}
    eval_json = logs / f"tag-{slug(name)}-eval.json"
    code, eval_s, _ = run_measured([*seqlab_cmd, "evaluate", str(out), "--data", "conll2003", "--split", "dev",
                                    "--json"], eval_json)
    if code != 0:
        return {"model": name, "error": f"evaluation failed, see {eval_json}"}
    scores = json.loads(eval_json.read_text().strip().splitlines()[-1])
    config = json.loads((out / "config.json").read_text())
    history = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    reached = next((h for h in history if h.get("valid_f1", 0) >= TARGET_F1), None)
    return {"model": name, "flags": " ".join(flags), "why": why, "dev_f1": scores["f1"],
            "dev_precision": scores["precision"], "dev_recall": scores["recall"], "dev_accuracy": scores["accuracy"],
            "per_type_f1": {t: c["f1"] for t, c in scores["per_type"].items()},
            "epochs": history[-1]["epoch"] if history else None,
            "best_epoch": max(history, key=lambda h: h.get("valid_f1", 0))["epoch"] if history else None,
            "target_epoch": reached["epoch"] if reached else None,
            "train_seconds": train_s, "train_peak_mib": train_mem, "eval_seconds": eval_s,
            "tag_sentences_per_s": scores["sentences_per_s"], "budget_min": config["config"]["train"]["max_time"],
            "threads": config["config"]["train"]["threads"] or int(os.environ.get("OMP_NUM_THREADS") or 0) or os.cpu_count(),
            "params": _params(out),
            "model_mib": sum(f.stat().st_size for f in out.iterdir() if f.name != "checkpoint.pt") / 2**20,
            "machine": describe(), "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "command": "python benchmarks/tag.py " + " ".join(sys.argv[1:])}


def _params(model_dir: Path) -> int:
    import seqlab

    return sum(p.numel() for p in seqlab.load(model_dir).model.parameters())


def write_results(rows: list[dict]) -> None:
    machines, header = machine_lines(rows)
    lines = ["## CoNLL-2003 named entities (tag)", "", *header,
             "Training: `seqlab train tag --data conll2003` with the defaults (BiLSTM-CRF, char CNN, GloVe 50d, BIOES, "
             "Adam 2e-3, batch 32, 30-minute budget); the ablation rows change one flag and say why their budget "
             "differs. Dev F1: `seqlab evaluate MODEL --data conll2003 --split dev`, entity spans counted as conlleval "
             "counts, on the IOB1 dev file (3,250 sentences). Train time: the whole command, data preparation "
             "included. Tagging speed: the evaluation's sentences/s (batch 256, Viterbi without confidences).", "",
             "| model | dev F1 | P | R | token acc | LOC | MISC | ORG | PER | epochs (best) | F1 >= 91 at epoch | "
             "train time | budget | peak mem | params | model size | tag sent/s | targets | machine | date |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | {r['error']} ||||||||||||||||||")
            continue
        per = [f"{100 * r['per_type_f1'].get(t, 0):.2f}" for t in ("LOC", "MISC", "ORG", "PER")]
        verdict = "-"
        if not r["flags"]:
            met = r["dev_f1"] >= TARGET_F1 and r["budget_min"] <= 30
            verdict = f"dev F1 >= {100 * TARGET_F1:.1f} in {r['budget_min']:g} min: " + ("met" if met else "**missed**")
        lines.append(
            f"| {r['model']} | {100 * r['dev_f1']:.2f} | {100 * r['dev_precision']:.2f} | {100 * r['dev_recall']:.2f} | "
            f"{100 * r['dev_accuracy']:.2f} | {' | '.join(per)} | {r['epochs']} ({r['best_epoch']}) | "
            f"{r['target_epoch'] or '-'} | {r['train_seconds'] / 60:.1f} min | {r['budget_min']:g} min | "
            f"{r['train_peak_mib']:,.0f} MiB | {r['params']:,} | {r['model_mib']:.0f} MiB | "
            f"{r['tag_sentences_per_s']:,.0f} | {verdict} | {machines[r['machine']]} | {r['date']} |")
    lines += ["", "Commands (each row's own run; `--overwrite --out DIR` added to each):", ""]
    lines += [f"- {r['model']}: `seqlab train tag --data conll2003{' ' + r['flags'] if r['flags'] else ''}` ({r['why']}; "
              f"{r['threads']} threads; run as `{r['command']}`)" for r in rows if "error" not in r]
    lines += ["", "Anchors (test F1 on a GPU; dev F1 runs about 3 points higher): NCRF++ word-only LSTM-CRF 89.45, "
              "with char CNN 91.26; Lample et al. 2016 90.94; Ma & Hovy 2016 91.21."]
    write_section("tag", lines)


def dry_run_data(folder: Path) -> None:
    """A few hundred real sentences as ``SEQLAB_DATA/conll2003`` in ``folder``: every code path in seconds."""
    source = Path(os.environ.get("SEQLAB_DATA") or ROOT.parent.parent / "shared" / "data") / "conll2003"
    if not source.is_dir():
        sys.exit(f"--dry-run reads a few real sentences from {source}; set SEQLAB_DATA")
    target = folder / "conll2003"
    target.mkdir(parents=True)
    for name, lines in (("train.txt", 4000), ("dev.txt", 1500)):
        with open(source / name, encoding="utf-8") as fh:
            head = [next(fh) for _ in range(lines)]
        (target / name).write_text("".join(head), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS, choices=list(RECIPES))
    parser.add_argument("--out", default=str(ROOT / "runs"))
    parser.add_argument("--dry-run", action="store_true",
                        help="a few hundred sentences, seconds of training each; results go to a temporary folder "
                             "(RESULTS.md and the rows file are left alone)")
    args = parser.parse_args()
    rows_path = ROOT / "tag-rows.json"
    if args.dry_run:
        scratch = Path(tempfile.mkdtemp(prefix="seqlab-tag-dry-run-"))
        dry_run_data(scratch / "data")
        os.environ["SEQLAB_DATA"] = str(scratch / "data")
        args.out, rows_path = str(scratch / "runs"), scratch / "tag-rows.json"
        report_module.RESULTS = scratch / "RESULTS.md"  # write_section's target
        print(f"dry run in {scratch}", flush=True)
    for name in args.models:
        print(f"== {name}", flush=True)
        row = bench(name, args)
        print(json.dumps(row), flush=True)
        previous = json.loads(rows_path.read_text()) if rows_path.exists() else {}
        previous[name] = row
        rows_path.write_text(json.dumps(previous, indent=2))
    previous = json.loads(rows_path.read_text())
    write_results([previous[n] for n in RECIPES if n in previous])
    print(f"wrote {report_module.RESULTS}")


if __name__ == "__main__":
    main()
