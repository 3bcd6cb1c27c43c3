"""WikiText-2 language-model benchmark: train with the default settings, test perplexity, generation speed.

Run from the repository root (SEQLAB_DATA must point at the data, e.g. ../shared/data):

    SEQLAB_DATA=../shared/data python benchmarks/lm.py                    # rnn and transformer
    SEQLAB_DATA=../shared/data python benchmarks/lm.py --models rnn
    SEQLAB_DATA=../shared/data python benchmarks/lm.py --models rnn --speed-only   # re-measure generation

Each model trains in its own process with ``seqlab train lm --data wikitext-2`` and no other
setting (the defaults are the recipe, 60-minute budget included), is scored on the test split
with ``seqlab evaluate``, and generates 200 tokens at batch 1 and 8 (the Transformer also
without its key/value cache, recomputing the prefix at every step).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe, machine_lines  # noqa: E402
from report import ROOT, current_commit, run_measured, write_section  # noqa: E402

# name -> flags after ``seqlab train lm --data wikitext-2`` (none: the defaults are the recipe)
RECIPES: dict[str, list[str]] = {"rnn": [], "transformer": ["--model", "transformer"]}
TARGETS = {"rnn": 130.0}  # test perplexity within the default 60-minute budget
TARGET_MINUTES = 60
CACHE_SPEEDUP_TARGET = 5.0  # cached generation vs recomputing the prefix, at 200 tokens
GENERATED = 200


def generation_speed(model_dir: Path, batch: int, cached: bool = True) -> float:
    """Tokens per second generating ``GENERATED`` tokens for ``batch`` rows (greedy, after a one-word prompt)."""
    import seqlab

    lm = seqlab.load(model_dir)
    ids, _ = lm.encode_prompt("the")
    return _speed(lm.model, ids, batch, cached)


def _speed(model, ids: list[int], batch: int, cached: bool) -> float:
    import torch

    from seqlab.decode import SamplingConfig, choose_next, sample

    prompt = torch.tensor([ids] * batch)
    config = SamplingConfig(temperature=0)
    with torch.no_grad():  # warm-up, untimed: first-call allocations and the output layer's kept vectors
        for _ in sample(model, prompt, 10, config):
            pass
    started = time.perf_counter()
    with torch.no_grad():
        if cached:
            for _ in sample(model, prompt, GENERATED, config):
                pass
        else:  # the whole prefix (up to the context window) through the model at every step
            seq = prompt
            for _ in range(GENERATED):
                hidden, _ = model(seq[:, -model.context:] if model.context else seq)
                nxt = choose_next(model.output.log_probs(hidden[:, -1]), seq, config)
                seq = torch.cat([seq, nxt[:, None]], dim=1)
    return batch * GENERATED / (time.perf_counter() - started)


def untrained_transformer_speeds(vocab_size: int = 33278) -> dict:
    """The default Transformer's generation speed with and without its key/value cache, on random weights:
    the cost of a step does not depend on what the weights learned, so this measures the cache without a
    60-minute training (used when the transformer row could not be trained in the session)."""
    import torch

    from seqlab.models.lm import TransformerLM, TransformerLMConfig

    torch.manual_seed(0)
    model = TransformerLM(TransformerLMConfig(), vocab_size).eval()
    return {"gen_b1": _speed(model, [0, 5], 1, True), "gen_b8": _speed(model, [0, 5], 8, True),
            "gen_b1_nocache": _speed(model, [0, 5], 1, False), "gen_b8_nocache": _speed(model, [0, 5], 8, False),
            "gen_threads": torch.get_num_threads(), "machine": describe(),
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "commit": current_commit(),
            "command": "python benchmarks/lm.py " + " ".join(sys.argv[1:])}


def speeds(model_dir: Path) -> dict:
    import torch

    out = {"gen_b1": generation_speed(model_dir, 1), "gen_b8": generation_speed(model_dir, 8),
           "gen_threads": torch.get_num_threads()}
    if not _stateful(model_dir):
        out["gen_b1_nocache"] = generation_speed(model_dir, 1, cached=False)
        out["gen_b8_nocache"] = generation_speed(model_dir, 8, cached=False)
    return out


def _stateful(model_dir: Path) -> bool:
    import seqlab

    return bool(seqlab.load(model_dir).model.stateful)


def bench(name: str, args: argparse.Namespace) -> dict:
    out = Path(args.out) / f"lm-{name}"  # not runs/rnn: the classifier benchmark's rnn lives there
    logs = Path(args.out) / "logs"
    seqlab_cmd = [sys.executable, "-m", "seqlab.cli"]
    flags = [*RECIPES[name], *(["--threads", str(args.threads)] if args.threads else []),
             *(["--max-time", args.max_time] if args.max_time else [])]
    train_cmd = [*seqlab_cmd, "train", "lm", "--data", "wikitext-2", *flags, "--out", str(out), "--overwrite"]
    code, train_s, train_mem = run_measured(train_cmd, logs / f"lm-{name}-train.log")
    if code != 0:
        return {"model": name, "error": f"training failed, see {logs / f'lm-{name}-train.log'}"}
    reports = {}  # valid and test through `seqlab evaluate`: one protocol (not the trainer's last logged figure)
    for split in ("test", "valid"):
        eval_json = logs / f"lm-{name}-eval-{split}.json"
        code, seconds, _ = run_measured([*seqlab_cmd, "evaluate", str(out), "--split", split, "--json"], eval_json)
        if code != 0:
            return {"model": name, "error": f"evaluation failed, see {eval_json}"}
        reports[split] = {**json.loads(eval_json.read_text().strip().splitlines()[-1]), "seconds": seconds}
    test, valid = reports["test"], reports["valid"]
    metrics = json.loads((out / "metrics.json").read_text())
    config = json.loads((out / "config.json").read_text())
    history = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return {"model": name, "flags": " ".join(flags), "test_ppl": test["perplexity"],
            "test_bits": test["bits_per_token"], "protocol": test["protocol"],
            "valid_ppl": valid["perplexity"], "epochs": history[-1]["epoch"] if history else None,
            "train_seconds": train_s, "train_peak_mib": train_mem, "eval_seconds": test["seconds"],
            "budget_min": config["config"]["train"]["max_time"], "params": _params(out),
            "precision": metrics.get("precision"), **speeds(out), "machine": describe(),
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "commit": current_commit(),
            "command": "python benchmarks/lm.py " + " ".join(sys.argv[1:])}


def _params(model_dir: Path) -> int:
    import seqlab

    return sum(p.numel() for p in seqlab.load(model_dir).model.parameters())


def _commit_note(row: dict) -> str:
    """Which code a row measured: rows from before commits were recorded had an untied adaptive softmax."""
    if row.get("commit"):
        return f"commit {row['commit']}"
    return "a commit before fd86652, whose default output layer was an untied adaptive softmax"


def write_results(rows: list[dict], cache: dict | None = None) -> None:
    machines, header = machine_lines(rows + ([cache] if cache else []))
    lines = ["## WikiText-2 language models (lm)", "", *header,
             "Training: `seqlab train lm --data wikitext-2` with the defaults (and `--model transformer`); the "
             "budget is the default `--max-time`. Test perplexity: the whole test split as one stream, `<eos>` at "
             "every line end, every token scored once (protocol column). Generation: greedy, 200 tokens after a "
             "one-word prompt, tokens/s over all rows of the batch.", "",
             "| model | test ppl | bits/token | valid ppl | epochs | train time | budget | peak mem | params | "
             "precision | gen tok/s @1 | @8 | no cache @1 | no cache @8 | targets | machine | date |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | {r['error']} |||||||||||||||")
            continue
        verdicts = []
        if r["model"] in TARGETS:
            met = r["test_ppl"] <= TARGETS[r["model"]]
            short = "" if met or r["budget_min"] >= TARGET_MINUTES else f" (the target allows {TARGET_MINUTES} min)"
            verdicts.append(f"test ppl <= {TARGETS[r['model']]:g} in {r['budget_min']:g} min: "
                            + ("met" if met else "**missed**") + short)
        if r.get("gen_b1_nocache"):
            speedup, speedup8 = r["gen_b1"] / r["gen_b1_nocache"], r["gen_b8"] / r["gen_b8_nocache"]
            verdicts.append(f"cache {speedup:.1f}x faster at 200 tokens, batch 1 (>= {CACHE_SPEEDUP_TARGET:g}x: "
                            + ("met" if speedup >= CACHE_SPEEDUP_TARGET else "**missed**")
                            + f"); {speedup8:.1f}x at batch 8")
        nocache = [f"{r[k]:,.0f}" if r.get(k) else "-" for k in ("gen_b1_nocache", "gen_b8_nocache")]
        lines.append(
            f"| {r['model']} | {r['test_ppl']:.2f} | {r['test_bits']:.3f} | {r['valid_ppl']:.2f} | {r['epochs']} | "
            f"{r['train_seconds'] / 60:.1f} min | {r['budget_min']:g} min | {r['train_peak_mib']:,.0f} MiB | "
            f"{r['params']:,} | {r.get('precision') or 'fp32'} | {r['gen_b1']:,.0f} | {r['gen_b8']:,.0f} | "
            f"{nocache[0]} | {nocache[1]} | {'; '.join(verdicts) or '-'} | {machines[r['machine']]} | {r['date']} |")
    if cache:
        speedup, speedup8 = cache["gen_b1"] / cache["gen_b1_nocache"], cache["gen_b8"] / cache["gen_b8_nocache"]
        lines += ["", f"Key/value cache, default `--model transformer` on random weights (a step costs the same "
                  f"whatever the weights learned), greedy, 200 tokens: {cache['gen_b1']:,.0f} tokens/s at batch 1 "
                  f"and {cache['gen_b8']:,.0f} at batch 8 with the cache; {cache['gen_b1_nocache']:,.0f} and "
                  f"{cache['gen_b8_nocache']:,.0f} recomputing the prefix: {speedup:.1f}x at batch 1 (target >= "
                  f"{CACHE_SPEEDUP_TARGET:g}x: {'met' if speedup >= CACHE_SPEEDUP_TARGET else '**missed**'}), "
                  f"{speedup8:.1f}x at batch 8; "
                  f"machine {machines[cache['machine']]}, {cache['date']}, `{cache['command']}`."]
    lines += ["", "Commands (each row's own run):", ""]
    lines += [f"- `{r['model']}`: `seqlab train lm --data wikitext-2{' ' + r['flags'] if r['flags'] else ''}` "
              f"(run as `{r['command']}` at {_commit_note(r)}; evaluation: {r['protocol']}"
              + (f"; generation speed re-measured {r['speed_remeasured']} with `--speed-only`"
                 if r.get("speed_remeasured") else "") + ")"
              for r in rows if "error" not in r]
    write_section("lm", lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--out", default=str(ROOT / "runs"))
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads for training (default: all cores; 1 when another job has the other core)")
    parser.add_argument("--max-time", default=None,
                        help="a shorter budget than the default 60 minutes (the row says so; its target still reads "
                             "'within 60 minutes')")
    parser.add_argument("--speed-only", action="store_true", help="re-measure generation speed of trained models")
    parser.add_argument("--cache-speed", action="store_true",
                        help="only measure the default Transformer's cached vs uncached generation, on random weights")
    args = parser.parse_args()
    rows_path = ROOT / "lm-rows.json"
    previous = json.loads(rows_path.read_text()) if rows_path.exists() else {}
    if args.cache_speed:
        previous["transformer-cache"] = untrained_transformer_speeds()
        rows_path.write_text(json.dumps(previous, indent=2))
        write_results([previous[n] for n in RECIPES if n in previous], previous.get("transformer-cache"))
        print("wrote benchmarks/RESULTS.md")
        return
    for name in args.models:
        print(f"== {name}", flush=True)
        if args.speed_only:
            row = {**previous[name], **speeds(Path(args.out) / f"lm-{name}"),
                   "speed_remeasured": f"{datetime.now(UTC):%Y-%m-%d %H:%M UTC} at commit {current_commit()}"}
        else:
            row = bench(name, args)
        print(json.dumps(row), flush=True)
        previous = json.loads(rows_path.read_text()) if rows_path.exists() else {}
        previous[name] = row
        rows_path.write_text(json.dumps(previous, indent=2))
    write_results([previous[n] for n in RECIPES if n in previous], previous.get("transformer-cache"))
    print("wrote benchmarks/RESULTS.md")


if __name__ == "__main__":
    main()
