"""Tiny real models, small fake predictors and a real server in a thread, shared by the ``test_serve*`` modules.

The tiny models train once per test process (a few seconds each) into a temporary folder; the fakes stand in
for the tagger and the language model, whose tasks land separately, through the same duck-typed interface.
"""

from __future__ import annotations

import atexit
import csv
import os
import random
import shutil
import socket
import tempfile
import threading
import time
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from conftest import make_reviews

import seqlab
from seqlab.errors import SeqlabError
from seqlab.models.configs import Capabilities

COLUMNS = {"text_column": "review", "label_column": "sentiment"}
QUIET = {"progress": False, "log": lambda *_: None}


@lru_cache(maxsize=1)
def _root() -> Path:
    root = Path(tempfile.mkdtemp(prefix="seqlab-serve-test-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return root


def _train(task: str, name: str, **settings) -> Path:
    out = _root() / name
    old = os.environ.get("SEQLAB_CACHE")
    os.environ["SEQLAB_CACHE"] = str(_root() / "cache")
    try:
        seqlab.train(task, out, **QUIET, **settings)
    finally:
        if old is None:
            os.environ.pop("SEQLAB_CACHE", None)
        else:
            os.environ["SEQLAB_CACHE"] = old
    return out


@lru_cache(maxsize=1)
def reviews_csv() -> Path:
    path = _root() / "reviews.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["review", "sentiment"])
        writer.writerows(make_reviews(400, seed=1))
    return path


@lru_cache(maxsize=1)
def bag_dir() -> Path:
    """A bag-of-words classifier (no attention)."""
    return _train("classify", "bag", data=str(reviews_csv()), **COLUMNS, model="bag", emb_size=16, buckets=1000,
                  lr=0.05, epochs=3, batch_size=16, min_freq=1)


@lru_cache(maxsize=1)
def rnn_dir() -> Path:
    """An RNN classifier that pools with attention: its word weights are what the page highlights."""
    return _train("classify", "rnn", data=str(reviews_csv()), **COLUMNS, model="rnn", emb_size=16, hidden_size=16,
                  pooling="attention", lr=0.01, epochs=3, batch_size=16, min_freq=1, threads=1)


DE = ["Hund", "Katze", "Mann", "Frau", "rot", "blau", "läuft", "spielt", "Ball", "Haus", "groß", "klein"]
EN = ["dog", "cat", "man", "woman", "red", "blue", "runs", "plays", "ball", "house", "big", "small"]


def toy_corpus(folder: Path, n: int = 300) -> Path:
    """A word-for-word toy language, German-like -> English-like, in the ``train/val/test.{de,en}`` layout."""
    rng = random.Random(0)
    folder.mkdir(parents=True, exist_ok=True)
    for split, count in (("train", n), ("val", 30), ("test", 30)):
        idx = [[rng.randrange(len(DE)) for _ in range(rng.randint(2, 6))] for _ in range(count)]
        (folder / f"{split}.de").write_text("".join(" ".join(DE[i] for i in s) + ".\n" for s in idx), encoding="utf-8")
        (folder / f"{split}.en").write_text("".join(" ".join(EN[i] for i in s) + ".\n" for s in idx), encoding="utf-8")
    return folder


@lru_cache(maxsize=1)
def translator_dir() -> Path:
    """A tiny RNN translator on the toy language (quality does not matter here, only the plumbing)."""
    return _train("translate", "translator", data=str(toy_corpus(_root() / "toy")), model="rnn", emb_size=16,
                  hidden_size=32, dropout=0.0, vocab_size=100, epochs=2, lr=3e-3, warmup=20, max_tokens=150, threads=1)


# ---------------------------------------------------------------------------- a real server, metrics
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running(app):
    """A real uvicorn in a thread on a free loopback port (it leaves signals alone there); yields the base URL."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(20)


def metric(text: str, name: str, **labels) -> float | None:
    """One sample's value from a Prometheus text exposition (None when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return None


# ---------------------------------------------------------------------------- fakes (duck-typed predictors)
class FakeTagger:
    """Tags capitalised words: PER if the word is in ``people``, else LOC; the interface of the tag task."""

    task = "tag"
    capabilities = Capabilities()  # no vector of a text: it does not answer the embed route
    people = {"Ada", "Alan", "Grace"}
    labels = ["O", "B-PER", "B-LOC"]

    def describe(self) -> dict:
        return {}

    def __init__(self, delay: float = 0.0) -> None:
        self.delay, self.calls = delay, []

    def tag(self, texts: list[str]) -> list[dict]:
        self.calls.append(list(texts))
        time.sleep(self.delay)
        out = []
        for text in texts:
            entities, tokens, tags, pos = [], [], [], 0
            for word in text.split():
                start = text.index(word, pos)
                pos = start + len(word)
                tokens.append(word)
                if word[:1].isupper():
                    kind = "PER" if word in self.people else "LOC"
                    tags.append(f"B-{kind}")
                    entities.append({"type": kind, "text": word, "start": start, "end": pos, "confidence": 0.9})
                else:
                    tags.append("O")
            out.append({"entities": entities, "tokens": tokens, "tags": tags})
        return out


class FakeLM:
    """Continues a prompt with numbered words; ``stream`` yields them one by one with a pause (to see pieces)."""

    task = "lm"
    capabilities = Capabilities()  # no vector of a text: it does not answer the embed route

    def describe(self) -> dict:
        return {}

    def __init__(self, delay: float = 0.0, fail_after: int | None = None) -> None:
        self.delay, self.fail_after = delay, fail_after
        self.stopped = threading.Event()

    def _words(self, prompt: str, max_tokens: int, seed: int | None) -> list[str]:
        base = len(prompt) + (seed or 0)
        return [f" w{base + i}" for i in range(max_tokens)]

    def generate(self, prompt: str, **options) -> str:
        self.given = dict(options)  # what the server passed (it leaves out what the request did not set)
        return "".join(item["token"] for item in self.stream(prompt, **options))

    def stream(self, prompt: str, max_tokens: int = 16, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
               seed=None):
        if not prompt.strip():  # as a real LM refuses a prompt it cannot read, before its first token
            raise SeqlabError("the prompt is empty")
        try:
            for i, word in enumerate(self._words(prompt, max_tokens, seed)):
                if self.fail_after is not None and i == self.fail_after:
                    raise RuntimeError("the fake LM broke")
                time.sleep(self.delay)
                yield {"token": word, "prob": 0.5}
        finally:
            self.stopped.set()


class SlowClassifier:
    """A classifier that takes ``delay`` seconds per call and records each call's texts (batching, 503, 504)."""

    task = "classify"
    capabilities = Capabilities()  # no vector of a text: it does not answer the embed route
    labels = ["neg", "pos"]
    has_attention = False

    def describe(self) -> dict:
        return {}

    def __init__(self, delay: float = 0.0) -> None:
        self.delay, self.calls = delay, []
        self.release = threading.Event()
        self.release.set()

    def predict(self, texts: list[str], batch_size: int = 64) -> list[dict]:
        self.calls.append(list(texts))
        self.release.wait(30)
        time.sleep(self.delay)
        out = []
        for text in texts:
            p = 0.9 if "good" in text else 0.2
            out.append({"label": "pos" if p > 0.5 else "neg", "confidence": max(p, 1 - p),
                        "probabilities": {"neg": 1 - p, "pos": p}, "text_length": len(text)})
        return out

    def explain(self, texts: list[str], batch_size: int = 64) -> list[dict]:
        """As the real one: label and confidence (no probabilities), tokens, a score per token for the label
        ("good" +0.5 and "bad" -0.5 for "pos"; the other way round for "neg"), the method, no attention."""
        out = []
        for r, text in zip(self.predict(texts, batch_size), texts, strict=True):
            sign = 1.0 if r["label"] == "pos" else -1.0
            scores = [(w, sign * (0.5 if w == "good" else -0.5 if w == "bad" else 0.0)) for w in text.split()]
            out.append({"label": r["label"], "confidence": r["confidence"], "tokens": text.split(),
                        "token_scores": scores, "contributions": scores, "method": "linear", "attention": None})
        return out


@lru_cache(maxsize=1)
def lm_dir() -> Path:
    """A tiny word-level RNN language model on a generated story (the plumbing, not the quality)."""
    rng = random.Random(0)
    words = "the a cat dog sat ran on under mat tree and big small".split()
    text = _root() / "story.txt"
    text.write_text("".join(" ".join(rng.choices(words, k=rng.randint(3, 10))) + "\n" for _ in range(200)),
                    encoding="utf-8")
    return _train("lm", "lm", data=str(text), emb_size=16, hidden_size=16, batch_size=4, bptt=12, epochs=1,
                  max_time=None, threads=1)


@lru_cache(maxsize=1)
def tagger_dir() -> Path:
    """A tiny BiLSTM-CRF tagger on generated CoNLL sentences."""
    from test_tag_task import write_conll

    folder = _root() / "ner"
    folder.mkdir(exist_ok=True)
    write_conll(folder / "train.txt", 120, seed=1)
    write_conll(folder / "dev.txt", 20, seed=2)
    return _train("tag", "tagger", data=str(folder), embeddings=None, emb_size=8, case_emb_size=2, char_emb_size=4,
                  char_filters=4, hidden_size=8, batch_size=16, epochs=1, max_time=None, threads=1)
