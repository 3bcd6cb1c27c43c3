"""A synthetic IMDB ten times the size (or any --times), for the streaming benchmark (benchmarks/streaming.py).

Each synthetic review is made from IMDB train reviews of one label: a review's sentences, shuffled, with about half
of them swapped for sentences of other reviews of the same label. So the corpus has IMDB's vocabulary, length
distribution and label balance, the labels still follow the words, and no review is a copy of another. It is
written as JSON lines, gzipped, to the path given (by default under benchmarks/runs/, which git ignores):

    SEQLAB_DATA=../shared/data python benchmarks/make_big_imdb.py                  # benchmarks/runs/imdb-10x/
    SEQLAB_DATA=../shared/data python benchmarks/make_big_imdb.py --times 10 --out /data/imdb-10x/train.jsonl.gz

The same seed makes the same file.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DEFAULT_OUT = ROOT / "runs" / "imdb-10x" / "train.jsonl.gz"
SENTENCE_END = re.compile(r"(?<=[.!?])\s+|<br\s*/?>\s*(?:<br\s*/?>\s*)*")  # IMDB's sentences and <br /> breaks
SWAP = 0.5  # share of a review's sentences taken from other reviews of its label


def imdb_train(source: Path | None) -> Path:
    if source is not None:
        return source
    root = os.environ.get("SEQLAB_DATA")
    if not root:
        sys.exit("set SEQLAB_DATA to the folder holding imdb/ (e.g. ../shared/data), or give --source")
    return Path(root).expanduser() / "imdb" / "train.jsonl.gz"


def sentences(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE_END.split(text) if s and s.strip()]


def make(source: Path, out: Path, times: int, seed: int) -> int:
    """Write ``times`` x the reviews of ``source`` to ``out``; return how many."""
    with gzip.open(source, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    by_label: dict[object, list[list[str]]] = {}
    for row in rows:
        by_label.setdefault(row["label"], []).append(sentences(row["text"]) or [row["text"]])
    pools = {label: [s for review in reviews for s in review] for label, reviews in by_label.items()}
    rng = random.Random(seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    count = 0
    with gzip.open(tmp, "wt", encoding="utf-8", compresslevel=6) as fh:
        for _ in range(times):
            for row in rows:
                label = row["label"]
                review = list(rng.choice(by_label[label]))
                pool = pools[label]
                for i in range(len(review)):
                    if rng.random() < SWAP:
                        review[i] = rng.choice(pool)
                rng.shuffle(review)
                fh.write(json.dumps({"text": " ".join(review), "label": label}, ensure_ascii=False) + "\n")
                count += 1
    os.replace(tmp, out)
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, default=None, help="IMDB train.jsonl.gz (default: $SEQLAB_DATA/imdb)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--times", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args()
    started = time.monotonic()
    count = make(imdb_train(args.source), args.out, args.times, args.seed)
    print(f"wrote {count:,} reviews to {args.out} ({args.out.stat().st_size / 2**20:,.0f} MiB) in "
          f"{time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
