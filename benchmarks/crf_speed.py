"""CRF layer speed: training (forward + backward of the negative log-likelihood) and Viterbi decoding.

Run from the repository root (SEQLAB_DATA for CoNLL-2003 sentence lengths; without it a
synthetic length distribution of the same mean is used and the table says so):

    SEQLAB_DATA=../shared/data python benchmarks/crf_speed.py --threads 1

Compares, at batch 32 with K = 17 BIOES tags (4 entity types) and the scheme's constraints:

- ``seqlab``: :class:`seqlab.models.crf.LinearChainCRF`, batched over sentences, vectorised over tags;
- ``per-sentence loop``: the same CRF computed one sentence at a time (the loop over time
  steps still vectorised over tags), the way a straightforward implementation does it;
  defined below, and checked to give the same loss;
- ``pytorch-crf`` (``pip install pytorch-crf``; benchmark only, not a seqlab dependency),
  when it is installed (it has no transition constraints).

Emissions are random (the CRF's cost does not depend on their values). The methods are timed
interleaved, batch by batch, so load from other processes slows them alike. The section between
the ``crf:start``/``crf:end`` markers of benchmarks/RESULTS.md is generated from this run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402
from report import write_section  # noqa: E402

from seqlab.models.crf import LinearChainCRF  # noqa: E402
from seqlab.text.tagging import allowed_transitions  # noqa: E402

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "RESULTS.md"
ROWS = ROOT / "crf-rows.json"
TYPES = ("PER", "LOC", "ORG", "MISC")
LABELS = ["O", *(f"{p}-{t}" for t in TYPES for p in "BIES")]  # K = 17
TARGET_SPEEDUP = 10.0


def conll_lengths() -> tuple[list[int], str]:
    """Sentence lengths of CoNLL-2003 train, or a synthetic stand-in with its mean (14.5) when the data is absent."""
    if os.environ.get("SEQLAB_DATA"):
        try:
            from seqlab.data.conll import load_split

            train = load_split("conll2003", "train")
            return [len(s) for s in train.words], "CoNLL-2003 train sentence lengths"
        except Exception as exc:  # noqa: BLE001 - any failure falls back to synthetic lengths
            print(f"CoNLL-2003 not readable ({exc}); using synthetic lengths", flush=True)
    rng = random.Random(0)
    return [max(1, min(124, int(rng.expovariate(1 / 14.5)) + 1)) for _ in range(14_041)], "synthetic lengths (mean 14.5)"


def per_sentence_nll(crf: LinearChainCRF, emissions: torch.Tensor, tags: torch.Tensor, lengths: list[int]) -> torch.Tensor:
    """Reference: the same CRF, one sentence at a time (forward algorithm over time, vectorised over tags)."""
    trans, start, end = crf._scores()
    losses = []
    for b, n in enumerate(lengths):
        e, y = emissions[b, :n].float(), tags[b, :n]  # (n, K), (n,)
        alpha = start + e[0]  # (K,)
        for t in range(1, n):
            alpha = torch.logsumexp(alpha[:, None] + trans, dim=0) + e[t]  # (K,)
        log_z = torch.logsumexp(alpha + end, dim=0)
        gold = start[y[0]] + e[torch.arange(n), y].sum() + end[y[-1]]
        if n > 1:
            gold = gold + trans[y[:-1], y[1:]].sum()
        losses.append(log_z - gold)
    return torch.stack(losses).mean()


def per_sentence_viterbi(crf: LinearChainCRF, emissions: torch.Tensor, lengths: list[int]) -> list[list[int]]:
    trans, start, end = crf._scores()
    out = []
    for b, n in enumerate(lengths):
        e = emissions[b, :n].float()
        score, back = start + e[0], []
        for t in range(1, n):
            best, prev = (score[:, None] + trans).max(dim=0)
            score, _ = best + e[t], back.append(prev)
        tag = int((score + end).argmax())
        path = [tag]
        for prev in reversed(back):
            tag = int(prev[tag])
            path.append(tag)
        out.append(path[::-1])
    return out


def make_batches(lengths: list[int], batch_size: int, count: int, bucketed: bool, seed: int = 0):
    """``count`` batches of random emissions: length-bucketed as seqlab's trainer forms them, or of random sentences."""
    from seqlab.data.batching import bucket_batches

    rng = random.Random(seed)
    g = torch.Generator().manual_seed(seed)
    if bucketed:
        groups = [b for b in bucket_batches(lengths, batch_size=batch_size, shuffle=True, generator=g)
                  if len(b) == batch_size][:count]
        sizes = [[lengths[i] for i in b] for b in groups]
    else:
        sizes = [[rng.choice(lengths) for _ in range(batch_size)] for _ in range(count)]
    batches = []
    for lens in sizes:
        T = max(lens)
        emissions = torch.randn(batch_size, T, len(LABELS), generator=g) * 3  # (B, T, K)
        mask = torch.arange(T)[None, :] < torch.tensor(lens)[:, None]  # (B, T)
        tags = torch.randint(0, len(LABELS), (batch_size, T), generator=g)
        batches.append((emissions, tags, mask, lens))
    return batches


def rates(fns: dict, batches, rounds: int) -> dict[str, float]:
    """Sentences per second of each ``fn(batch)``, interleaved batch by batch (so a busy machine slows all alike)."""
    for fn in fns.values():
        fn(batches[0])  # warm-up
    spent = dict.fromkeys(fns, 0.0)
    sentences = 0
    for _ in range(rounds):
        for batch in batches:
            for name, fn in fns.items():
                started = time.perf_counter()
                fn(batch)
                spent[name] += time.perf_counter() - started
            sentences += len(batch[3])
    return {name: sentences / seconds for name, seconds in spent.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2, help="passes over the 40 batches of each batching")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    lengths, length_source = conll_lengths()
    torch.manual_seed(0)
    allowed, start, end = allowed_transitions(LABELS, "bioes")
    crf = LinearChainCRF(len(LABELS), allowed, start, end)
    batchings = {"length-bucketed": make_batches(lengths, args.batch_size, 40, bucketed=True),
                 "random": make_batches(lengths, args.batch_size, 40, bucketed=False)}
    batches = batchings["length-bucketed"]

    # the reference computes the same loss and paths (checked before timing)
    emissions, tags, mask, lens = batches[0]
    batched = crf.neg_log_likelihood(emissions, tags, mask, reduction="mean")
    looped = per_sentence_nll(crf, emissions, tags, lens)
    assert torch.allclose(batched, looped, rtol=1e-4, atol=1e-3), (batched, looped)
    assert crf.decode(emissions, mask) == per_sentence_viterbi(crf, emissions, lens)

    def train_step(nll):
        def step(batch):
            e, y, m, lens = batch
            e = e.clone().requires_grad_(True)
            crf.zero_grad(set_to_none=True)
            nll(e, y, m, lens).backward()
        return step

    methods = {
        "seqlab (batched)": (train_step(lambda e, y, m, lens: crf.neg_log_likelihood(e, y, m, reduction="mean")),
                             lambda b: crf.decode(b[0], b[2])),
        "per-sentence loop": (train_step(lambda e, y, m, lens: per_sentence_nll(crf, e, y, lens)),
                              lambda b: per_sentence_viterbi(crf, b[0], b[3])),
    }
    try:
        from torchcrf import CRF  # pytorch-crf

        ref = CRF(len(LABELS), batch_first=True)

        def torchcrf_step(batch):
            e, y, m, _ = batch
            e = e.clone().requires_grad_(True)
            ref.zero_grad(set_to_none=True)
            (-ref(e, y, m, reduction="mean")).backward()

        from importlib.metadata import version

        name = f"pytorch-crf {version('pytorch-crf')} (batched, no constraints)"
        methods[name] = (torchcrf_step, lambda b: ref.decode(b[0], b[2]))
    except ImportError:
        print("pytorch-crf is not installed; its row is left out", flush=True)

    rows = []
    for batching, batches in batchings.items():
        mean_width = sum(b[0].size(1) for b in batches) / len(batches)
        train = rates({name: fns[0] for name, fns in methods.items()}, batches, args.rounds)
        with torch.no_grad():
            decode = rates({name: fns[1] for name, fns in methods.items()}, batches, args.rounds)
        loop = next(name for name in methods if name.startswith("per-sentence"))
        for name in methods:
            print(f"{batching} batches, {name}: train {train[name]:,.0f} sentences/s, Viterbi {decode[name]:,.0f} "
                  "sentences/s", flush=True)
            rows.append({"batching": batching, "mean_width": mean_width, "method": name, "train_rate": train[name],
                         "decode_rate": decode[name], "train_speedup": train[name] / train[loop],
                         "decode_speedup": decode[name] / decode[loop]})
    result = {"rows": rows, "batch_size": args.batch_size, "num_tags": len(LABELS), "lengths": length_source,
              "mean_length": sum(lengths) / len(lengths), "threads": torch.get_num_threads(), "machine": describe(),
              "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
              "command": "python benchmarks/crf_speed.py " + " ".join(sys.argv[1:])}
    ROWS.write_text(json.dumps(result, indent=2) + "\n")
    write_results(result)
    print(f"wrote {RESULTS}")


def write_results(result: dict) -> None:
    ours = {r["batching"]: r for r in result["rows"] if r["method"].startswith("seqlab")}
    met = ours["length-bucketed"]["train_speedup"] >= TARGET_SPEEDUP
    lines = [
        "<!-- crf:start (generated by benchmarks/crf_speed.py; do not edit by hand) -->",
        "## CRF layer speed (tag)",
        "",
        f"Machine: {result['machine']}.",
        f"Run {result['date']} as `{result['command']}` ({result['threads']} thread"
        f"{'s' if result['threads'] != 1 else ''}).",
        f"Batch {result['batch_size']}, K = {result['num_tags']} BIOES tags with the scheme's constraints, "
        f"{result['lengths']} (mean {result['mean_length']:.1f} tokens), random emissions, fp32. "
        "Training: negative log-likelihood forward + backward; decoding: Viterbi. Batches length-bucketed as "
        "seqlab's trainer forms them (`seqlab.data.batching.bucket_batches`), and of random sentences "
        "(padded to the longest of 32).",
        "",
        "| batches | mean width | CRF | train sentences/s | vs per-sentence loop | Viterbi sentences/s | vs per-sentence loop |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        lines.append(f"| {r['batching']} | {r['mean_width']:.1f} | {r['method']} | {r['train_rate']:,.0f} | "
                     f"{r['train_speedup']:.1f}x | {r['decode_rate']:,.0f} | {r['decode_speedup']:.1f}x |")
    lines += ["", f"Target: batched training >= {TARGET_SPEEDUP:g}x the per-sentence loop (length-bucketed batches, as "
              "seqlab trains): " + ("met" if met else "**missed**")
              + f" ({ours['length-bucketed']['train_speedup']:.1f}x; {ours['random']['train_speedup']:.1f}x on random "
              "batches, where the batched CRF also steps through the padding of the longest sentence). "
              "The per-sentence loop is the same CRF one sentence at a time with `torch.logsumexp` "
              "(defined in the script and checked to give the same loss and paths).",
              "<!-- crf:end -->"]
    write_section("crf", lines[1:-1], script="benchmarks/crf_speed.py")  # the markers are written by write_section


if __name__ == "__main__":
    main()
