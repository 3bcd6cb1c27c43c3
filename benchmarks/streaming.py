"""Corpora larger than memory: the default bag's cold start against scikit-learn's NB-LR, and training the bag and
predicting with it on IMDB (1x) and on a synthetic IMDB ten times its size (10x): peak memory and throughput.

Run from the repository root (SEQLAB_DATA must point at the data, e.g. ../shared/data):

    SEQLAB_DATA=../shared/data python benchmarks/make_big_imdb.py        # once: benchmarks/runs/imdb-10x/
    SEQLAB_DATA=../shared/data python benchmarks/streaming.py            # every part
    SEQLAB_DATA=../shared/data python benchmarks/streaming.py --parts cold --repeats 5

Parts (each command in its own process, measured from outside: wall time and that process's peak RSS):

- ``cold``: ``seqlab train classify --data imdb`` from an empty token cache, against scikit-learn's NB-LR on the
  same reviews and the same carve-out (CountVectorizer over the same word 1-3-grams as the bag, binary, Naive-Bayes
  log-count ratios, liblinear logistic regression: Wang & Manning 2012's NBSVM as a logistic regression), run in
  turns, ``--repeats`` times; also the seqlab command with tokenising in this process only
  (``--prepare-workers 0``: how tokenising ran before) and from a warm cache. Test accuracy on IMDB test, both.
- ``train``: the same command on IMDB (held in memory) and on the 10x corpus (streamed from the memory-mapped
  cache a window at a time), each from an empty cache: peak RSS and the trainer's examples/s.
- ``predict``: ``seqlab predict MODEL --file`` on IMDB train's 25,000 reviews read whole (``--window`` over
  the input: the in-memory path), on them a window at a time, and on the 10x corpus's 250,000 a window at a time:
  peak RSS and reviews/s (the command's wall time less that of the same command on one review: its start-up).

The rows are kept in benchmarks/streaming-rows.json; the section of benchmarks/RESULTS.md is generated from them.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402
from report import current_commit, write_section  # noqa: E402

ROOT = Path(__file__).resolve().parent
ROWS = ROOT / "streaming-rows.json"
RUNS = ROOT / "runs" / "streaming"
BIG = ROOT / "runs" / "imdb-10x" / "train.jsonl.gz"
SEQLAB = [sys.executable, "-m", "seqlab.cli"]
T0_ENV = "SEQLAB_BENCH_T0"  # when the parent started the sklearn process (its time counts from there)

COLD_TARGET = 0.5  # seqlab's cold start at most this share of scikit-learn's NB-LR time
RSS_TARGET = 1.3  # 10x peak RSS at most this multiple of the 1x run's
RATE_TARGET = 0.9  # 10x throughput at least this share of the in-memory path's
SKLEARN_C = 1.0  # liblinear's inverse regularisation (its default)


# ---------------------------------------------------------------------------- scikit-learn's NB-LR
def sklearn_nblr() -> dict:
    """Train NB-LR on IMDB train less the seeded 10% carve-out seqlab holds out, score that carve-out; time it from
    the parent's start of this process; then (untimed) score IMDB test."""
    import random

    import numpy as np
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    def read(path: Path) -> tuple[list[str], np.ndarray]:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            rows = [json.loads(line) for line in fh if line.strip()]
        return [r["text"] for r in rows], np.array([int(r["label"]) for r in rows])

    data = Path(os.environ["SEQLAB_DATA"]).expanduser() / "imdb"
    texts, labels = read(data / "train.jsonl.gz")
    order = list(range(len(texts)))
    random.Random(1234).shuffle(order)  # seqlab's carve-out (ClassifyDataConfig: 10%, seed 1234)
    n_valid = round(len(texts) * 0.1)
    valid_idx, train_idx = sorted(order[:n_valid]), sorted(order[n_valid:])
    vectorizer = CountVectorizer(ngram_range=(1, 3), binary=True, token_pattern=r"\w+|[^\w\s]", dtype=np.float32)
    x = vectorizer.fit_transform([texts[i] for i in train_idx])
    y = labels[train_idx]
    p = np.asarray(x[y == 1].sum(0)).ravel() + 1.0
    q = np.asarray(x[y == 0].sum(0)).ravel() + 1.0
    ratios = np.log((p / p.sum()) / (q / q.sum())).astype(np.float32)
    model = LogisticRegression(C=SKLEARN_C, solver="liblinear", max_iter=1000).fit(x.multiply(ratios).tocsr(), y)
    valid = vectorizer.transform([texts[i] for i in valid_idx]).multiply(ratios).tocsr()
    valid_accuracy = float((model.predict(valid) == labels[valid_idx]).mean())
    seconds = time.time() - float(os.environ.get(T0_ENV, time.time()))
    test_texts, test_labels = read(data / "test.jsonl.gz")
    test = vectorizer.transform(test_texts).multiply(ratios).tocsr()
    return {"train_seconds": seconds, "valid_accuracy": valid_accuracy,
            "test_accuracy": float((model.predict(test) == test_labels).mean()), "features": int(x.shape[1])}


# ---------------------------------------------------------------------------- measured commands
def _prepared(log: Path) -> float | None:
    found = re.findall(r"prepared in ([0-9.]+)s", log.read_text(encoding="utf-8", errors="replace"))
    return float(found[-1]) if found else None


def train_run(name: str, data: str, flags: list[str], cache: Path | None, args, env: dict | None = None) -> dict:
    """``seqlab train classify`` in its own process; ``cache``: a cache folder emptied first (None: as it is)."""
    out = RUNS / name
    env = {**os.environ, **(env or {})}
    if cache is not None:
        shutil.rmtree(cache, ignore_errors=True)
        env["SEQLAB_CACHE"] = str(cache)
    cmd = [*SEQLAB, "train", "classify", "--data", data, "--out", str(out), "--overwrite", "--progress", "false",
           *flags, *(["--threads", str(args.threads)] if args.threads else [])]
    log = RUNS / "logs" / f"{name}.log"
    code, wall, rss = _run(cmd, log, env)
    if code != 0:
        raise SystemExit(f"{' '.join(cmd)} failed (exit {code}); see {log}")
    history = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    metrics = json.loads((out / "metrics.json").read_text())
    return {"name": name, "data": data, "flags": " ".join(flags), "wall_s": wall, "cpu_s": CPU["last"],
            "peak_rss_mib": rss,
            "prepared_s": _prepared(log), "valid_accuracy": metrics["valid"]["accuracy"],
            "examples_per_s": statistics.mean(r["examples_per_s"] for r in history if not r["partial_epoch"]),
            "examples": _examples(log), "command": " ".join(["seqlab", *cmd[3:]])}


def _examples(log: Path) -> int | None:
    found = re.findall(r"data: ([0-9,]+) train", log.read_text(encoding="utf-8", errors="replace"))
    return int(found[-1].replace(",", "")) if found else None


CPU: dict[str, float] = {}  # the CPU seconds of the last command _run measured (its own and its workers')


def _run(cmd: list[str], log: Path, env: dict) -> tuple[int, float, float]:
    """report.run_measured with an environment of its own: (exit code, wall seconds, peak RSS in MiB); the CPU
    seconds (user + system, with the worker processes it waited for) go to ``CPU["last"]``."""
    started = time.monotonic()
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
    CPU["last"] = usage.ru_utime + usage.ru_stime
    return os.waitstatus_to_exitcode(status), time.monotonic() - started, usage.ru_maxrss / 1024


def sklearn_run(index: int) -> dict:
    log = RUNS / "logs" / f"sklearn-{index}.log"
    env = {**os.environ, T0_ENV: repr(time.time())}
    code, wall, rss = _run([sys.executable, str(Path(__file__).resolve()), "--sklearn-worker"], log, env)
    if code != 0:
        raise SystemExit(f"the scikit-learn run failed (exit {code}); see {log}")
    result = json.loads(log.read_text().strip().splitlines()[-1])
    return {**result, "wall_s": wall, "cpu_s": CPU["last"], "peak_rss_mib": rss}


def test_accuracy(model: Path) -> float:
    out = subprocess.run([*SEQLAB, "evaluate", str(model), "--data", "imdb", "--split", "test", "--json"],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)["accuracy"]


def cold(args) -> dict:
    """Cold starts in turns (seqlab, scikit-learn, seqlab tokenising in one process), then one warm start."""
    turns = []
    for i in range(args.repeats):
        print(f"== cold start, turn {i + 1}/{args.repeats}", flush=True)
        seqlab = train_run("cold", "imdb", [], RUNS / "cache-cold", args)
        sk = sklearn_run(i)
        one = train_run("cold-one-process", "imdb", ["--prepare-workers", "0"], RUNS / "cache-cold", args)
        turn = {"seqlab": seqlab, "sklearn": sk, "one_process": one, "load": os.getloadavg()[0]}
        if args.before:  # the code before streaming, on the same data, in the same turn
            turn["before"] = train_run("cold-before", "imdb", [], RUNS / "cache-cold", args,
                                       env={"PYTHONPATH": str(Path(args.before).resolve() / "src")})
        turns.append(turn)
        print(f"   seqlab {seqlab['wall_s']:.1f} s, sklearn {sk['train_seconds']:.1f} s, seqlab tokenising in one "
              f"process {one['wall_s']:.1f} s (load {os.getloadavg()[0]:.1f})", flush=True)
    warm = _warm(args)
    return {"turns": turns, "warm": warm, "test_accuracy": test_accuracy(RUNS / "cold"),
            "sklearn_test_accuracy": turns[-1]["sklearn"]["test_accuracy"]}


def _warm(args) -> dict:
    """The command once more on the cache a first run filled."""
    cache = RUNS / "cache-warm"
    train_run("warm", "imdb", [], cache, args)
    return train_run("warm", "imdb", [], None, args, env={"SEQLAB_CACHE": str(cache)})


def train(args) -> dict:
    if not BIG.is_file():
        raise SystemExit(f"no {BIG}: make it first with python benchmarks/make_big_imdb.py")
    print("== train 1x (in memory)", flush=True)
    one = train_run("train-1x", "imdb", [], RUNS / "cache-train", args)
    print(f"   {one['peak_rss_mib']:,.0f} MiB, {one['examples_per_s']:,.0f} examples/s", flush=True)
    print("== train 10x (streamed)", flush=True)
    ten = train_run("train-10x", str(BIG), [], RUNS / "cache-train", args)
    print(f"   {ten['peak_rss_mib']:,.0f} MiB, {ten['examples_per_s']:,.0f} examples/s", flush=True)
    shutil.rmtree(RUNS / "cache-train", ignore_errors=True)
    return {"1x": one, "10x": ten}


def _texts_file(source: Path, path: Path) -> tuple[Path, int]:
    """One review a line (their own line breaks as spaces), for ``--file``."""
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(source, "rt", encoding="utf-8") as fh, open(path, "w", encoding="utf-8") as out:
            for line in fh:
                if line.strip():
                    out.write(" ".join(json.loads(line)["text"].split()) + "\n")
    with open(path, encoding="utf-8") as fh:
        return path, sum(1 for _ in fh)


def predict_run(name: str, model: Path, texts: Path, flags: list[str]) -> dict:
    cmd = [*SEQLAB, "predict", str(model), "--file", str(texts), *flags]
    log = RUNS / "logs" / f"{name}.out"
    code, wall, rss = _run(cmd, log, dict(os.environ))
    if code != 0:
        raise SystemExit(f"{' '.join(cmd)} failed (exit {code}); see {log}")
    lines = sum(1 for _ in open(log, encoding="utf-8"))
    log.unlink()  # the predictions themselves: 250,000 lines nobody reads
    return {"name": name, "wall_s": wall, "cpu_s": CPU["last"], "peak_rss_mib": rss, "texts": lines,
            "flags": " ".join(flags),
            "command": " ".join(["seqlab", *cmd[3:]])}


def predict(args) -> dict:
    model = RUNS / "train-1x"
    if not (model / "model.safetensors").is_file():
        model = RUNS / "cold"
    if not (model / "model.safetensors").is_file():
        raise SystemExit("no trained bag under benchmarks/runs/streaming: run --parts train (or cold) first")
    data = Path(os.environ["SEQLAB_DATA"]).expanduser() / "imdb" / "train.jsonl.gz"
    one, n_one = _texts_file(data, RUNS / "texts-1x.txt")
    ten, n_ten = _texts_file(BIG, RUNS / "texts-10x.txt")
    single = RUNS / "texts-one.txt"
    single.write_text("A fine film.\n", encoding="utf-8")
    rows: dict[str, dict] = {}
    start = predict_run("startup", model, single, [])
    runs = (("1x in memory", one, ["--window", str(10 * n_ten)]), ("1x streamed", one, []), ("10x streamed", ten, []))
    for turn in range(args.repeats):  # in turns: other work on the machine comes and goes
        for name, texts, flags in runs:
            print(f"== predict {name}, turn {turn + 1}/{args.repeats}", flush=True)
            row = predict_run(name, model, texts, flags)
            row["reviews_per_s"] = row["texts"] / max(1e-9, row["wall_s"] - start["wall_s"])
            row["cpu_ms_per_review"] = 1000 * row["cpu_s"] / row["texts"]
            rows.setdefault(name, {"turns": []})["turns"].append(row)
            print(f"   {row['peak_rss_mib']:,.0f} MiB, {row['reviews_per_s']:,.0f} reviews/s", flush=True)
    for entry in rows.values():  # the median turn's rate, the largest peak
        turns = entry["turns"]
        entry.update(texts=turns[0]["texts"], peak_rss_mib=max(t["peak_rss_mib"] for t in turns),
                     reviews_per_s=statistics.median(t["reviews_per_s"] for t in turns),
                     cpu_ms_per_review=statistics.median(t["cpu_ms_per_review"] for t in turns),
                     command=turns[0]["command"])
    return {"startup": start, "runs": rows}


# ---------------------------------------------------------------------------- RESULTS.md
def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _run_line(part: dict, trains: bool = True) -> str:
    run = part.get("run", {})
    threads = f" (training threads: {run.get('threads') or 'all cores, the default'})" if trains else ""
    return (f"Run {run.get('date', '-')} at commit {run.get('commit') or '-'} as `{run.get('command', '-')}`"
            f"{threads}; machine: {run.get('machine', 'not recorded')}.")


def _cold_lines(c: dict) -> list[str]:
    lines = [_run_line(c), "",
             "scikit-learn NB-LR: the same reviews and carve-out, CountVectorizer over the same word 1-3-grams "
             "(`\\w+|[^\\w\\s]`, binary), Naive-Bayes log-count ratios, liblinear logistic regression; its time "
             "counts from the start of its process to the fitted model scored on the validation reviews (IMDB test "
             "is scored afterwards, untimed, as `seqlab evaluate` is a separate command). CPU: user + system "
             "seconds of the process and the workers it waited for (less disturbed by other work than wall time).",
             "",
             "| turn | seqlab | sklearn NB-LR | seqlab / sklearn | seqlab, tokenising in one process | its ratio | "
             "seqlab before streaming | its ratio | prepared in: seqlab / one process / before | "
             "CPU s: seqlab / one process / before / sklearn | peak RSS: seqlab / before / sklearn | load |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    ratios, cpu_ratios = [], []
    for i, t in enumerate(c["turns"], 1):
        s, k, o = t["seqlab"], t["sklearn"], t["one_process"]
        ratio = s["wall_s"] / k["train_seconds"]
        ratios.append(ratio)
        cpu_ratios.append(s.get("cpu_s", 0) / max(1e-9, k.get("cpu_s", 0)))
        b = t.get("before")
        before = (f"{b['wall_s']:.1f} s | {b['wall_s'] / k['train_seconds']:.2f}x" if b else "- | -")
        lines.append(f"| {i} | {s['wall_s']:.1f} s | {k['train_seconds']:.1f} s | {ratio:.2f}x | "
                     f"{o['wall_s']:.1f} s | {o['wall_s'] / k['train_seconds']:.2f}x | {before} | "
                     f"{s['prepared_s'] or 0:.1f} / {o['prepared_s'] or 0:.1f} / "
                     f"{(b['prepared_s'] or 0) if b else 0:.1f} s | "
                     f"{s.get('cpu_s', 0):.0f} / {o.get('cpu_s', 0):.0f} / {b.get('cpu_s', 0) if b else 0:.0f} / "
                     f"{k.get('cpu_s', 0):.0f} | {s['peak_rss_mib']:,.0f} / "
                     f"{b['peak_rss_mib'] if b else 0:,.0f} / {k['peak_rss_mib']:,.0f} MiB | {t['load']:.1f} |")
    median = statistics.median(ratios)
    w, last = c["warm"], c["turns"][-1]
    lines += ["", f"Median ratio {median:.2f}x of wall time (target <= {COLD_TARGET}x: "
                  f"{_verdict(median <= COLD_TARGET)}), {statistics.median(cpu_ratios):.2f}x of CPU time. "
                  f"Warm cache: {w['wall_s']:.1f} s (prepared in {w['prepared_s'] or 0:.1f} s, CPU "
                  f"{w.get('cpu_s', 0):.0f} s). Test accuracy: seqlab {c['test_accuracy']:.2%}, scikit-learn NB-LR "
                  f"{c['sklearn_test_accuracy']:.2%}; valid accuracy seqlab {last['seqlab']['valid_accuracy']:.2%} "
                  f"(tokenising in one process: {last['one_process']['valid_accuracy']:.2%}: the same model), "
                  f"scikit-learn {last['sklearn']['valid_accuracy']:.2%}.", ""]
    return lines


def _train_lines(t: dict) -> list[str]:
    one, ten = t["1x"], t["10x"]
    rss, rate = ten["peak_rss_mib"] / one["peak_rss_mib"], ten["examples_per_s"] / one["examples_per_s"]
    lines = [_run_line(t), "",
             "| data | training examples | path | peak RSS | vs 1x | train examples/s | vs 1x | valid acc | wall | "
             "prepared in |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for label, r, path in (("IMDB train (`--data imdb`)", one, "in memory"),
                           ("synthetic 10x (make_big_imdb.py)", ten, "streamed, windows of 65,536")):
        lines.append(f"| {label} | {r['examples'] or 0:,} | {path} | {r['peak_rss_mib']:,.0f} MiB | "
                     f"{r['peak_rss_mib'] / one['peak_rss_mib']:.2f}x | {r['examples_per_s']:,.0f} | "
                     f"{r['examples_per_s'] / one['examples_per_s']:.2f}x | {r['valid_accuracy']:.2%} | "
                     f"{r['wall_s'] / 60:.1f} min | {r['prepared_s'] or 0:.0f} s |")
    lines += ["", f"Peak RSS {rss:.2f}x the 1x run (target <= {RSS_TARGET}x: {_verdict(rss <= RSS_TARGET)}); "
                  f"throughput {rate:.2f}x the in-memory path (target >= {RATE_TARGET}x: "
                  f"{_verdict(rate >= RATE_TARGET)}). Examples/s: the trainer's, over each epoch's training steps "
                  "(validation excluded); both runs from an empty cache.", ""]
    return lines


def _predict_lines(part: dict) -> list[str]:
    p, base = part["runs"], part["runs"]["1x in memory"]
    lines = [_run_line(part, trains=False), "",
             "| input | texts | read | peak RSS | vs in memory | reviews/s (median turn) | vs in memory | "
             "CPU ms a review | vs in memory | turns (reviews/s) |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---|"]
    for name, r in p.items():
        how = "whole (`--window` over the input)" if name.endswith("memory") else "16,384 texts at a time"
        cpu = r.get("cpu_ms_per_review") or 0
        turns = ", ".join(f"{t['reviews_per_s']:,.0f}" for t in r.get("turns", [r]))
        lines.append(f"| {name.split()[0]} | {r['texts']:,} | {how} | {r['peak_rss_mib']:,.0f} MiB | "
                     f"{r['peak_rss_mib'] / base['peak_rss_mib']:.2f}x | {r['reviews_per_s']:,.0f} | "
                     f"{r['reviews_per_s'] / base['reviews_per_s']:.2f}x | {cpu:.2f} | "
                     f"{cpu / max(1e-9, base.get('cpu_ms_per_review') or 0):.2f}x | {turns} |")
    ten = p["10x streamed"]
    rss, rate = ten["peak_rss_mib"] / base["peak_rss_mib"], ten["reviews_per_s"] / base["reviews_per_s"]
    lines += ["", f"10x: peak RSS {rss:.2f}x the 1x run (target <= {RSS_TARGET}x: {_verdict(rss <= RSS_TARGET)}), "
                  f"throughput {rate:.2f}x (target >= {RATE_TARGET}x: {_verdict(rate >= RATE_TARGET)}). "
                  f"Reviews/s: texts over the command's wall time less its start-up "
                  f"({part['startup']['wall_s']:.1f} s on one review).", ""]
    return lines


TITLES = {"cold": "Cold start: `seqlab train classify --data imdb` from an empty token cache",
          "train": "Training the bag on 1x and 10x IMDB",
          "predict": "`seqlab predict MODEL --file` with the 1x bag"}


def write_results(rows: dict) -> None:
    lines = ["## Corpora larger than memory (streaming)", "",
             "Every command ran in its own process; wall time, CPU time and peak RSS (the process's own) are measured "
             "from outside. The machine is shared: the load average beside each cold-start turn says how much other "
             "work ran on its cores meanwhile.", ""]
    for key in sorted(rows, key=lambda k: (list(TITLES).index(k.split("@")[0]) if k.split("@")[0] in TITLES else 9, k)):
        part, _, threads = key.partition("@")
        if part not in TITLES:
            continue
        lines += [f"### {TITLES[part]}" + (f", --threads {threads}" if threads else ""), ""]
        lines += {"cold": _cold_lines, "train": _train_lines, "predict": _predict_lines}[part](rows[key])
    write_section("streaming", lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", nargs="+", default=["cold", "train", "predict"],
                        choices=["cold", "train", "predict"])
    parser.add_argument("--repeats", type=int, default=3, help="cold-start (and prediction) turns")
    parser.add_argument("--threads", type=int, default=None, help="--threads of the seqlab training commands")
    parser.add_argument("--before", default=None, metavar="CHECKOUT",
                        help="cold part: also time the seqlab of this checkout (its src/ on PYTHONPATH), e.g. the "
                             "commit before streaming")
    parser.add_argument("--sklearn-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--report-only", action="store_true", help="rewrite the RESULTS.md section from the rows")
    args = parser.parse_args()
    if args.sklearn_worker:
        print(json.dumps(sklearn_nblr()))
        return
    rows = json.loads(ROWS.read_text()) if ROWS.exists() else {}
    if not args.report_only:
        if not os.environ.get("SEQLAB_DATA"):
            raise SystemExit("set SEQLAB_DATA to the folder holding imdb/ (e.g. ../shared/data)")
        RUNS.mkdir(parents=True, exist_ok=True)
        for part in args.parts:
            key = part + (f"@{args.threads}" if args.threads and part != "predict" else "")  # predict: no trainer
            rows[key] = {"cold": cold, "train": train, "predict": predict}[part](args)
            rows[key]["run"] = {"machine": describe(), "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                                "commit": os.environ.get("SEQLAB_BENCH_COMMIT") or current_commit(),
                                "threads": args.threads,
                                "command": "python benchmarks/streaming.py " + " ".join(sys.argv[1:])}
            ROWS.write_text(json.dumps(rows, indent=2))
    write_results(rows)
    print(f"wrote {ROOT / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
