"""Figures written next to the model: training curves, confusion matrices and reliability diagrams (matplotlib,
no display)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seqlab.files import atomic_path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")


def training_curves(history: list[dict[str, Any]], path: Path) -> None:
    """Training loss and every validation metric against the step."""
    plt = _pyplot()
    steps = [h["step"] for h in history]
    valid_keys = [k for k in history[0] if k.startswith("valid_")]
    fig, axes = plt.subplots(1, 1 + len(valid_keys), figsize=(4 * (1 + len(valid_keys)), 3.2), squeeze=False)
    axes[0][0].plot(steps, [h["train_loss"] for h in history], marker="o")
    axes[0][0].set_title("train loss")
    for ax, key in zip(axes[0][1:], valid_keys, strict=True):
        ax.plot(steps, [h.get(key) for h in history], marker="o", color="tab:orange")
        ax.set_title(key.replace("_", " "))
    for ax in axes[0]:
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def confusion_matrix(confusion: list[list[int]], labels: list[str], path: Path) -> None:
    plt = _pyplot()
    size = max(3.5, 0.6 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(confusion, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    top = max((max(row) for row in confusion), default=0)
    for i, row in enumerate(confusion):
        for j, value in enumerate(row):
            ax.text(j, i, str(value), ha="center", va="center", color="white" if value > top / 2 else "black")
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def reliability_diagram(calibration: dict[str, Any], path: Path) -> None:
    """Accuracy against confidence per bin (``seqlab.metrics.calibration``'s bins), the diagonal being perfect
    calibration; the gap to it is shaded, the ECE in the title, and each bin's share of the examples below."""
    plt = _pyplot()
    bins = calibration["bins"]
    total = max(1, sum(b["count"] for b in bins))
    fig, (ax, hist) = plt.subplots(2, 1, figsize=(4.5, 5.2), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    for b in bins:
        width = b["hi"] - b["lo"]
        if b["count"]:
            ax.bar(b["lo"], b["accuracy"], width=width, align="edge", color="tab:blue", edgecolor="black",
                   linewidth=0.5)
            low, high = sorted((b["accuracy"], b["confidence"]))
            ax.bar(b["lo"], high - low, bottom=low, width=width, align="edge", color="tab:red", alpha=0.3,
                   edgecolor="tab:red", linewidth=0.5, hatch="//")
        hist.bar(b["lo"], b["count"] / total, width=width, align="edge", color="tab:gray", edgecolor="black",
                 linewidth=0.5)
    ax.plot([0, 1], [0, 1], linestyle="--", color="black", linewidth=1)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.set_title(f"reliability (ECE {calibration['ece']:.4f})")
    ax.grid(alpha=0.3)
    hist.set_xlabel("confidence")
    hist.set_ylabel("share")
    hist.grid(alpha=0.3)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
