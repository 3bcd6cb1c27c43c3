"""The translator and language-model rows of benchmarks/export.py: torch fp32 / bf16 / ONNX Runtime fp32 / int8.

Translators (Multi30k de->en): BLEU of greedy translations of the first --test-limit sentences of the test split
(test_2016_flickr) at batch 64, sentences/s greedy at batch 1 (the first --seq-batch1 of them) and at batch 64
(the BLEU run, timed after a warm-up). Language models (WikiText-2): perplexity of the first --lm-tokens test
tokens (scored as ``seqlab evaluate`` scores), generated tokens/s at batch 1 (one sample) and at batch 64 (64
samples generated as one batch). Size: model.safetensors against the ONNX graphs; start-up: a fresh process to
its first translation / first generated token (the ONNX rows with torch unimportable).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SEQ_TASKS = ("translate", "lm")
SRC = str(Path(__file__).resolve().parents[1] / "src")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import export_variants, runnable_variants  # noqa: E402

GEN_TOKENS_B1, GEN_TOKENS_B64 = 200, 50  # tokens generated per sample for the LM's rates


def _test_data(task: str, config: dict[str, Any], args: argparse.Namespace) -> Any:
    if task == "translate":
        from seqlab.data.parallel import TranslateDataConfig, load_split

        data = config["config"]["data"]
        pairs = load_split(TranslateDataConfig(data=data["data"], src=data["src"], tgt=data["tgt"]), "test")
        n = min(len(pairs), args.test_limit)
        return pairs.src[:n], pairs.tgt[:n]
    from seqlab.data.corpus import LMDataConfig, load_split

    return load_split(LMDataConfig(data=config["config"]["data"]["data"]), "test").lines


def _measure(model: Any, task: str, data: Any, args: argparse.Namespace) -> dict[str, float]:
    """Quality and rates of one variant."""
    if task == "translate":
        from seqlab.tasks.translate.recipe import corpus_scores

        src, tgt = data
        model.translate(src[:8], beam=1)  # warm-up: one-time kernel and session set-up
        started = time.perf_counter()
        hyps = model.translate(src, beam=1, batch_size=64)
        rate64 = len(src) / (time.perf_counter() - started)
        one = src[: args.seq_batch1]
        started = time.perf_counter()
        model.translate(one, beam=1, batch_size=1)
        rate1 = len(one) / (time.perf_counter() - started)
        return {"quality": corpus_scores(hyps, tgt)["bleu"], "rate_batch1": rate1, "rate_batch64": rate64}
    from seqlab.metrics import perplexity
    from seqlab.tasks.lm import EVAL_STREAMS

    stream = model.tokenizer.encode_lines(data)[: args.lm_tokens]
    total, count = model.stream_nll(stream, streams=EVAL_STREAMS, segment=model.config.stream.bptt)
    model.samples("the", 1, max_tokens=5, seed=0, warn_unknown=False)  # warm-up
    rates = {}
    for key, samples, tokens in (("rate_batch1", 1, GEN_TOKENS_B1), ("rate_batch64", 64, GEN_TOKENS_B64)):
        started = time.perf_counter()
        model.samples("the meaning of", samples, max_tokens=tokens, seed=0, warn_unknown=False)
        rates[key] = samples * tokens / (time.perf_counter() - started)
    return {"quality": perplexity(total, count), "scored_tokens": count, **rates}


def _start_up(path: Path, task: str, torch_free: bool) -> float:
    """Seconds from a fresh interpreter's start to its first translation / generated token."""
    block = "import sys; sys.modules['torch'] = None\n" if torch_free else ""
    call = ("m.translate(['Ein Mann fährt Fahrrad.'], beam=1)" if task == "translate"
            else "m.generate('the', max_tokens=1, seed=0)")
    code = f"{block}import seqlab\nm = seqlab.load({str(path)!r})\n{call}\n"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": SRC}, capture_output=True)
    return time.perf_counter() - started


def bench_seq(name: str, model_dir: Path, task: str, args: argparse.Namespace, variants: tuple[str, ...]) -> dict:
    import seqlab

    config = json.loads((model_dir / "config.json").read_text())
    exports, seconds = export_variants(model_dir, Path(args.out), name)
    export_config = json.loads((exports["onnx int8"] / "export.json").read_text())
    data = _test_data(task, config, args)
    row: dict = {"model": name, "task": task, "model_dir": str(model_dir), "model_name": config["config"]["model"]["name"],
                 "test_examples": len(data[0]) if task == "translate" else None, "variants": {},
                 "export_seconds": seconds["onnx fp32"], "int8_validation": export_config["quantized"]}
    for variant in runnable_variants(variants):
        path = model_dir if variant.startswith("torch") else exports[variant]
        model = seqlab.load(path, precision="bf16" if variant == "torch bf16" else "fp32")
        figures = _measure(model, task, data, args)
        if variant.startswith("torch"):
            size = (model_dir / "model.safetensors").stat().st_size
        else:
            size = sum((path / f).stat().st_size for f in export_config["graphs"].values())
        row["variants"][variant] = {**figures, "bytes": size,
                                    "start_up_s": _start_up(path, task, torch_free=not variant.startswith("torch"))}
        if task == "lm":
            row["test_tokens"] = figures["scored_tokens"]
        print(f"  {variant}: {row['variants'][variant]}", flush=True)
    return row


def seq_lines(rows: list[dict], labels: dict) -> list[str]:
    """The section's table of translator and language-model rows (empty without such rows)."""
    rows = [r for r in rows if r.get("task") in SEQ_TASKS]
    if not rows:
        return []
    lines = ["", "Translators (Multi30k de->en; BLEU of greedy translations of test_2016_flickr; sentences/s greedy) "
                 "and language models (WikiText-2; perplexity of the first test tokens; generated tokens/s, one "
                 "sample at batch 1, 64 samples as one batch at 64). Short-budget models (trained a few minutes "
                 "each for this table: their quality is not the task benchmarks'); the search and sampling code is "
                 "the same for every variant (seqlab.search).", "",
             "| model | variant | quality | rate batch 1 | rate batch 64 | x torch fp32 (b1 / b64) | file | start-up | "
             "machine | date |", "|---|---|---:|---:|---:|---:|---:|---:|---|---|"]
    for r in rows:
        base = r["variants"]["torch fp32"]
        unit = "sent/s" if r["task"] == "translate" else "tok/s"
        for variant, v in r["variants"].items():
            quality = f"BLEU {v['quality']:.2f}" if r["task"] == "translate" else f"ppl {v['quality']:.1f}"
            lines.append(f"| {r['model']} | {variant} | {quality} | {v['rate_batch1']:,.1f} {unit} | "
                         f"{v['rate_batch64']:,.1f} {unit} | {v['rate_batch1'] / base['rate_batch1']:.2f} / "
                         f"{v['rate_batch64'] / base['rate_batch64']:.2f} | {v['bytes'] / 2**20:,.1f} MiB | "
                         f"{v['start_up_s']:.2f} s | {labels[r['machine']]} | {r['date']} |")
    lines.append("")
    for r in rows:
        q = r["int8_validation"]
        if r["task"] == "translate":
            change = (f"validation BLEU (greedy, {q['fp32']['sentences']:,} of {q['fp32']['of']:,} sentences) "
                      f"{q['fp32']['bleu']:.2f} -> {q['int8']['bleu']:.2f}")
            scored = f"{r['test_examples']:,} test sentences"
        else:
            change = (f"validation perplexity (first {q['fp32']['tokens']:,} of {q['fp32']['of']:,} tokens) "
                      f"{q['fp32']['perplexity']:.2f} -> {q['int8']['perplexity']:.2f}")
            scored = f"{r.get('test_tokens') or 0:,} test tokens"
        trained = f", {r['note']}" if r.get("note") else ""
        lines.append(f"- `{r['model']}` ({r['model_name']}{trained}; {scored}; commit {r.get('commit')}; run as "
                     f"`{r['command']}`): int8 {change}; int8 graphs "
                     f"{sum(q['int8_bytes'].values()) / sum(q['fp32_bytes'].values()):.0%} of fp32; export took "
                     f"{r['export_seconds']:.0f} s.")
    return lines
