"""Word-vector benchmark: seqlab's skip-gram, CBOW and subword vectors against gensim's Word2Vec and FastText on the
same corpus, settings and threads, scored on WordSim-353, SimLex-999 and the Google analogies; GloVe 6B 50d as a
reference row. Writes benchmarks/embeddings-rows.json and the "embeddings" section of RESULTS.md.

Run from the repository root (gensim installed: pip install -e ".[dev]"; SEQLAB_DATA pointing at the data)::

    SEQLAB_DATA=../shared/data python benchmarks/embeddings.py                      # ~8M words: WikiText-2 + IMDB
    SEQLAB_DATA=../shared/data python benchmarks/embeddings.py --words 3000000      # the first 3M words only
    SEQLAB_DATA=../shared/data python benchmarks/embeddings.py --models seqlab-skipgram gensim-skipgram

Each model trains in its own process. Both libraries read the very same sentences (seqlab's tokenisation of
``--data``), with gensim's defaults on both sides: 100-d, window 5, 5 noise words, min-count 5, subsampling 1e-3,
alpha 0.025 decaying linearly, 5 epochs, ``--threads`` threads (gensim's ``workers``). words/s counts the corpus's
words times the epochs over the training time (gensim: ``train``, after ``build_vocab``; seqlab: the trainer's
time, its per-epoch validation and checkpoints included); wall is the whole process, corpus reading included.
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
from report import current_commit, write_section  # noqa: E402

ROOT = Path(__file__).resolve().parent
ROWS = ROOT / "embeddings-rows.json"
RUNS = ROOT / "runs" / "embeddings"
DATA = "wikitext-2,imdb"
# name -> (library, method, subword)
MODELS = {
    "seqlab-skipgram": ("seqlab", "skipgram", False), "gensim-skipgram": ("gensim", "skipgram", False),
    "seqlab-cbow": ("seqlab", "cbow", False), "gensim-cbow": ("gensim", "cbow", False),
    "seqlab-subword": ("seqlab", "skipgram", True), "gensim-fasttext": ("gensim", "skipgram", True),
    "glove-6b-50d": ("glove", "", False),
}
GENSIM_PAIR = {"seqlab-skipgram": "gensim-skipgram", "seqlab-cbow": "gensim-cbow", "seqlab-subword": "gensim-fasttext"}
SETTINGS = {"dim": 100, "window": 5, "negative": 5, "min_count": 5, "sample": 1e-3, "min_n": 3, "max_n": 6,
            "buckets": 2_000_000}


def scores(words: list[str], matrix) -> dict:
    from seqlab.embedding_eval import evaluate_vectors

    r = evaluate_vectors(words, matrix)
    return {"wordsim353": r["wordsim353"]["spearman"], "wordsim353_oov": r["wordsim353"]["oov"],
            "simlex999": r["simlex999"]["spearman"], "simlex999_oov": r["simlex999"]["oov"],
            "analogy": r["analogies"]["accuracy"], "analogy_semantic": r["analogies"]["semantic"],
            "analogy_syntactic": r["analogies"]["syntactic"], "analogy_oov": r["analogies"]["oov"],
            "analogy_questions": r["analogies"]["questions"], "vocabulary": len(words)}


def run_one(name: str, words_limit: int | None, epochs: int, threads: int) -> dict:
    """Train (or load) one model in this process and score it: one row."""
    library, method, subword = MODELS[name]
    started = time.monotonic()
    row: dict = {"name": name, "library": library}
    if library == "glove":
        from seqlab.models.embeddings import load_vectors

        vectors = load_vectors("glove-6b-50d")
        row.update(scores(vectors.words, vectors.matrix), dim=50, corpus="Wikipedia 2014 + Gigaword 5 (6B tokens)")
        return row
    from seqlab.tasks.embeddings.config import EmbeddingDataConfig, EmbeddingTextConfig
    from seqlab.tasks.embeddings.corpus import sentences

    data = EmbeddingDataConfig(data=DATA, max_words=words_limit)
    s = SETTINGS
    if library == "gensim":
        import gensim
        from gensim.models import FastText, Word2Vec

        corpus = list(sentences(data, EmbeddingTextConfig()))
        total = sum(map(len, corpus))
        common = {"vector_size": s["dim"], "window": s["window"], "negative": s["negative"],
                  "min_count": s["min_count"], "sample": s["sample"], "sg": int(method == "skipgram"),
                  "workers": threads, "seed": 1}
        model = (FastText(min_n=s["min_n"], max_n=s["max_n"], bucket=s["buckets"], **common) if subword
                 else Word2Vec(**common))
        t0 = time.monotonic()
        model.build_vocab(corpus)
        t1 = time.monotonic()
        model.train(corpus, total_examples=len(corpus), total_words=total, epochs=epochs)
        train_seconds = time.monotonic() - t1
        row.update(version=gensim.__version__, vocab_seconds=t1 - t0)
        words, matrix = list(model.wv.index_to_key), model.wv.vectors
    else:
        import seqlab
        from seqlab.tasks.embeddings.vectors import read_word_vectors

        out = RUNS / name
        summary = seqlab.train("embeddings", out, data=DATA, max_words=words_limit, method=method, subword=subword,
                               epochs=epochs, threads=threads, progress=False, overwrite=True,
                               dim=s["dim"], window=s["window"], negative=s["negative"], min_count=s["min_count"],
                               sample=s["sample"], min_n=s["min_n"], max_n=s["max_n"], buckets=s["buckets"],
                               log=lambda m: print(m, flush=True))
        train_seconds = summary["train_seconds"]
        total = summary["stats"]["corpus_words"]
        words, matrix = read_word_vectors(out)
    row.update(scores(words, matrix), dim=s["dim"], corpus_words=total, epochs=epochs, threads=threads,
               train_seconds=train_seconds, words_per_s=total * epochs / train_seconds,
               wall_seconds=time.monotonic() - started, load=os.getloadavg()[0])  # others' work on the cores
    return row


def pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def num(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def table(rows: list[dict]) -> list[str]:
    labels, header = machine_lines(rows)
    by_name = {r["name"]: r for r in rows}
    lines = [*header, "",
             "| vectors | machine | corpus words | epochs | threads | train s | words/s | vs gensim | load | "
             "WordSim-353 ρ | SimLex-999 ρ | analogy % (sem / syn) | oov pairs (WS / SL) / questions |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name in MODELS:
        r = by_name.get(name)
        if r is None:
            continue
        pair = by_name.get(GENSIM_PAIR.get(name, ""))
        ratio = f"{r['words_per_s'] / pair['words_per_s']:.2f}x" if pair and "words_per_s" in r else ""
        trained = "words_per_s" in r
        speed = f"{r['words_per_s']:,.0f}" if trained else "-"
        words = f"{r['corpus_words']:,}" if trained else "6B (published)"
        seconds = f"{r['train_seconds']:.0f}" if trained else "-"
        load = f"{r['load']:.1f}" if "load" in r else "-"
        lines.append(
            f"| {name} | {labels.get(r.get('machine', 'not recorded'), '?')} | {words} | {r.get('epochs', '-')} | "
            f"{r.get('threads', '-')} | {seconds} | {speed} | {ratio} | {load} | "
            f"{num(r['wordsim353'])} | {num(r['simlex999'])} | "
            f"{pct(r['analogy'])} ({pct(r['analogy_semantic'])} / {pct(r['analogy_syntactic'])}) | "
            f"{r['wordsim353_oov']} / {r['simlex999_oov']} / {r['analogy_oov']:,} |")
    commands = sorted({r["command"] for r in rows if "command" in r})
    lines += ["", "Commands: " + "; ".join(f"`{c}`" for c in commands),
              "Same sentences for both libraries (seqlab's tokenisation of wikitext-2,imdb: lower-cased \\w+ words), "
              "gensim's defaults on both sides (100-d, window 5, 5 noise words, min-count 5, sample 1e-3, alpha "
              "0.025 -> 0, subword n-grams 3-6 in 2M buckets). Scores: Spearman ρ and 3CosAdd accuracy over the "
              "first 300,000 words, upper-cased, out-of-vocabulary items skipped (gensim's evaluate_word_pairs / "
              "evaluate_word_analogies rules). GloVe 6B 50d: the published vectors, scored the same way.",
              "load: the 1-minute load average when the model finished (the machine's 2 cores are shared with other "
              "work; both libraries ran under it). seqlab's threads run with OMP_WAIT_POLICY=PASSIVE (spinning "
              "OpenMP threads cost 4.5x on a busy machine).",
              f"Dates: {', '.join(sorted({r['date'][:10] for r in rows if 'date' in r}))}."]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--words", type=int, default=None, help="use the corpus's first N words (default: all)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # the child process: one model, a JSON row
    args = parser.parse_args()
    if args.one:
        print("ROW " + json.dumps(run_one(args.one, args.words, args.epochs, args.threads)), flush=True)
        return
    rows = json.loads(ROWS.read_text()) if ROWS.exists() else []
    command = "python benchmarks/embeddings.py" + (f" --words {args.words}" if args.words else "") + (
        f" --epochs {args.epochs}" if args.epochs != 5 else "") + (f" --threads {args.threads}" if args.threads != 2
                                                                   else "")
    (ROOT / "logs").mkdir(exist_ok=True)
    for name in args.models:
        cmd = [sys.executable, __file__, "--one", name, "--epochs", str(args.epochs), "--threads", str(args.threads),
               *(["--words", str(args.words)] if args.words else [])]
        log_path = ROOT / "logs" / f"embeddings-{name}.log"
        # OpenMP threads that sleep when idle: on a machine whose cores other work also uses, spinning ones made a
        # 2-thread seqlab step 4.5x slower than a 1-thread one (measured here); gensim's threads do not spin
        env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
        with open(log_path, "w", encoding="utf-8") as log:
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
        found = [line[4:] for line in proc.stdout.splitlines() if line.startswith("ROW ")]
        if proc.returncode or not found:
            print(f"{name}: failed (exit {proc.returncode}); see {log_path}", file=sys.stderr)
            continue
        row = json.loads(found[-1])
        row.update(date=datetime.now(UTC).isoformat(timespec="seconds"), machine=describe(), command=command,
                   commit=current_commit())
        rows = [r for r in rows if r["name"] != name] + [row]
        ROWS.write_text(json.dumps(rows, indent=1) + "\n")
        print(f"{name}: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                      for k, v in row.items() if k not in ("machine", "command")), flush=True)
    write_section("embeddings", table(rows))


if __name__ == "__main__":
    main()
