"""Shared fixtures: small generated corpora, the real-data location, and a polling wait for other threads."""

from __future__ import annotations

import csv
import json
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
POSITIVE = "great wonderful superb moving brilliant delightful excellent charming".split()
NEGATIVE = "awful boring terrible dull dreadful clumsy tedious poor".split()
NEUTRAL = "the film movie plot actor story scene camera was is a and of it this".split()

T = TypeVar("T")

try:  # the property tests' settings (hypothesis is a dev extra; without it only they are skipped)
    from hypothesis import settings
except ImportError:
    pass
else:
    # CI: the same examples on every run (derandomize: a fixed seed per test), bounded so the property suite stays
    # under a minute on 2 cores; elsewhere random examples, as many. No example database: nothing is written here.
    settings.register_profile("ci", derandomize=True, max_examples=200, deadline=None, database=None, print_blob=True)
    settings.register_profile("dev", max_examples=200, deadline=None, database=None)
    settings.load_profile("ci" if os.environ.get("CI") else "dev")


def wait_until(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.01,
               message: str = "the condition") -> T:
    """Poll ``predicate`` until it returns something true, and return that; fail after ``timeout`` seconds.

    The way to wait for another thread or process, instead of sleeping for a guessed time: it returns as soon as
    the thing has happened, and its timeout only catches a hang, so it can be generous (a busy machine is slow,
    never wrong).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"waited {timeout} s for {message}")
        time.sleep(interval)


def make_reviews(n: int, seed: int = 0, classes: tuple[str, ...] = ("neg", "pos")) -> list[tuple[str, str]]:
    """Short reviews whose label is decided by a few sentiment words among neutral ones."""
    rng = random.Random(seed)
    words = {"neg": NEGATIVE, "pos": POSITIVE, "mixed": ["okay", "average", "fine", "mediocre"]}
    out = []
    for _ in range(n):
        label = rng.choice(classes)
        tokens = rng.choices(NEUTRAL, k=rng.randint(4, 12)) + rng.choices(words[label], k=2)
        rng.shuffle(tokens)
        out.append((" ".join(tokens).capitalize() + ".", label))
    return out


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory, monkeypatch):
    """Each test gets its own token cache and a small thread count (CI has 2 cores)."""
    monkeypatch.setenv("SEQLAB_CACHE", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the trainer's thread default follows it
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def reviews_csv(tmp_path) -> Path:
    path = tmp_path / "reviews.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["review", "sentiment"])
        writer.writerows(make_reviews(400, seed=1))
    return path


@pytest.fixture
def reviews_jsonl(tmp_path) -> Path:
    path = tmp_path / "reviews.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for text, label in make_reviews(300, seed=2, classes=("neg", "pos", "mixed")):
            fh.write(json.dumps({"text": text, "label": label}) + "\n")
    return path


def shared_data() -> Path | None:
    """``$SEQLAB_DATA`` or ``../shared/data`` beside the repo; CI must have it."""
    root = Path(os.environ.get("SEQLAB_DATA") or REPO.parent / "shared" / "data")
    if root.is_dir():
        return root
    if os.environ.get("CI") == "true":
        pytest.fail(f"real data not found at {root}; CI must run the real-data tests")
    pytest.skip("real data not available on this machine")
