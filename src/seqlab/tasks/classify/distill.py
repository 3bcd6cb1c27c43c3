"""Knowledge distillation (Hinton et al. 2015, "Distilling the Knowledge in a Neural Network"): a trained classifier
(the teacher, e.g. a fine-tuned MiniLM) labels every training example, sentence crops included, with its class
probabilities, and the student (e.g. the bag) learns from those soft labels beside, or instead of, the gold ones.

Why soft labels help a fast student out of domain: a crop of a positive review ("The plot is thin.") is labelled
positive by its review, but the teacher says what the sentence itself says; and the teacher's confidence carries what
it learned in pre-training about words the student's training data rarely shows.

The teacher runs once per (teacher, training texts): its probabilities are cached (``seqlab.data.cache``), so a
second student, or a rerun with other student settings, costs nothing. The mix is exact: cross-entropy is linear in
its target, so ``w * CE(teacher) + (1 - w) * CE(gold)`` is one cross-entropy with the target
``w * teacher + (1 - w) * gold`` (:func:`mixed_targets`). The temperature is 1: with two classes a softer teacher
only scales the soft term (Hinton et al.'s T^2 factor), which ``--teacher-weight`` does directly.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqlab.data.cache import cached_arrays, fingerprint
from seqlab.errors import SeqlabError
from seqlab.modeldir import read_model_config

TEACHER_BATCH = 64  # texts per teacher batch (bucketed by length inside)


def check_teacher(teacher: str) -> dict[str, Any]:
    """The teacher's saved config, checked before any data is read: a classifier's model directory."""
    if not Path(teacher).exists():
        raise SeqlabError(f"--teacher {teacher}: no such model directory (train the teacher first, e.g. "
                          "'seqlab train classify --data imdb --model pretrained --out runs/teacher')")
    return read_model_config(teacher, expect_task="classify")


def teacher_labels(saved: dict[str, Any]) -> list[str]:
    return list(saved.get("labels") or [])


def check_same_labels(teacher: str, teacher_classes: list[str], labels: list[str]) -> None:
    if sorted(teacher_classes) != sorted(labels):
        raise SeqlabError(f"--teacher {teacher} predicts the labels {', '.join(teacher_classes)}, but the training "
                          f"data has {', '.join(labels)}: a teacher must know the same classes")


def teacher_probabilities(teacher: str, texts: list[str], labels: list[str], log=print) -> np.ndarray:
    """``(len(texts), len(labels))`` float32: the teacher's probabilities of the student's labels (in their order),
    from the cache when this teacher has labelled these texts before."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    key = {"kind": "classify-teacher", "teacher": fingerprint(Path(teacher)), "texts": digest.hexdigest(),
           "count": len(texts), "labels": labels}

    def compute() -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        import time

        from seqlab.api import load

        started = time.monotonic()
        model = load(teacher, precision="auto")
        check_same_labels(teacher, list(model.labels), labels)
        log(f"teacher: labelling {len(texts):,} training texts with {teacher} (cached for the next run)")
        probs = model.predict_proba(texts, TEACHER_BATCH)
        order = [list(model.labels).index(label) for label in labels]
        log(f"teacher: done in {time.monotonic() - started:.0f}s")
        return {"probs": np.ascontiguousarray(probs[:, order])}, {"teacher": str(teacher)}

    arrays, _ = cached_arrays(key, compute)
    return arrays["probs"]


def mixed_targets(teacher_probs: np.ndarray, gold: torch.Tensor, weight: float) -> torch.Tensor:
    """The training targets ``weight * teacher + (1 - weight) * one-hot(gold)``: ``(N,)`` the probability of the
    second class for a binary (one-logit) head, else ``(N, C)``."""
    soft = torch.from_numpy(np.asarray(teacher_probs, dtype=np.float32))
    hard = torch.nn.functional.one_hot(gold, num_classes=soft.size(1)).float()
    mixed = weight * soft + (1.0 - weight) * hard
    return mixed[:, 1].contiguous() if soft.size(1) == 2 else mixed


def agreement(teacher_probs: np.ndarray, gold: torch.Tensor) -> float:
    """How often the teacher's top class is the gold label (logged: a weak teacher shows here)."""
    if not len(gold):
        return 0.0
    return float((torch.from_numpy(np.asarray(teacher_probs)).argmax(-1) == gold).float().mean())
