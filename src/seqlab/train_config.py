"""The trainer's settings (the ``train`` section of every task's config), apart from the trainer itself.

torch-free, so a task's config schema (``seqlab train TASK --help``, a bad flag) is read without importing torch;
:mod:`seqlab.train` re-exports these names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from seqlab.config import at_least, choices, non_negative, positive
from seqlab.errors import SeqlabError

DURATION_UNITS = {"s": 1 / 60, "m": 1.0, "min": 1.0, "h": 60.0}
DEFAULT_CHECKPOINT_MINUTES = 10.0  # a mid-epoch checkpoint this often: a kill loses at most this much training
DEFAULT_DIST_TIMEOUT_MINUTES = 30.0  # torch's own default for a collective; a dead rank ends the job far sooner


def parse_minutes(value: object) -> object:
    """``"90s"``, ``"30m"``, ``"1.5h"`` -> minutes; a bare number is minutes already; anything else is left
    for the config's type check to refuse."""
    if isinstance(value, str):
        text = value.strip().lower()
        for unit in sorted(DURATION_UNITS, key=len, reverse=True):
            if text.endswith(unit):
                try:
                    return float(text[: -len(unit)]) * DURATION_UNITS[unit]
                except ValueError:
                    raise SeqlabError(f"{value!r} is not a duration: write 90s, 30m or 1.5h") from None
    return value


def _saved_max_time(value: object) -> object:
    """A ``max_time`` saved before budgets had to be positive: 0 meant no limit (and a negative one stopped after
    one step, never a budget), so a model directory holding one loads as "no limit"."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value <= 0:
        return None
    return value


@dataclass
class TrainConfig:
    epochs: int = field(default=5, metadata={"help": "passes over the training data"})
    batch_size: int = field(default=64, metadata={"help": "examples per batch"})
    max_tokens: int | None = field(default=None, metadata={"help": "token budget per batch (padding counted)"})
    lr: float = field(default=2e-3, metadata={"help": "peak learning rate (AdamW)"})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay"})
    optimizer: str = field(default="adamw", metadata={
        "help": "adamw (AdamW, SparseAdam for sparse tables) | sgd (plain SGD on every parameter, sparse tables "
                "too: word2vec's update)", "choices": ["adamw", "sgd"]})
    schedule: str = field(default="none", metadata={
        "help": "learning-rate schedule: none | plateau | linear | cosine | onecycle | inverse_sqrt",
        "choices": ["none", "plateau", "linear", "cosine", "onecycle", "inverse_sqrt"]})
    warmup: float = field(default=0.0, metadata={"help": "warm-up: a fraction of all steps (<1) or a step count"})
    clip: float | None = field(default=1.0, metadata={"help": "clip the gradient norm to this (none: off)"})
    patience: int | None = field(default=3, metadata={"help": "stop after this many evaluations without improvement"})
    metric: str | None = field(default=None, metadata={"help": "validation metric for early stopping/best model"})
    eval_every: int | None = field(default=None, metadata={"help": "evaluate every N steps (default: each epoch)"})
    seed: int = field(default=42, metadata={"help": "random seed (weights, shuffling, dropout)"})
    threads: int | None = field(default=None, metadata={"help": "CPU threads for torch (default: all cores)"})
    max_time: float | None = field(default=None, metadata={
        "help": "stop training after this long: 90s, 30m, 1.5h (a bare number is minutes; none: no limit)",
        "parse": parse_minutes, "upgrade": _saved_max_time})
    precision: str = field(default="auto", metadata={
        "help": "auto (bf16 where the hardware runs it natively: a GPU, a CPU with AVX-512 BF16 or AMX; else fp32) "
                "| fp32 | bf16 (autocast) | fp16 (GPU only)",
        "choices": ["auto", "fp32", "bf16", "fp16"]})
    device: str = field(default="auto", metadata={"help": "auto | cpu | cuda | cuda:N"})
    progress: bool = field(default=True, metadata={
        "help": "show progress: a bar on a terminal, else one plain line every 30 seconds"})
    accumulate: int = field(default=1, metadata={
        "help": "batches whose gradients make one optimizer step (under torchrun: on each process), so one process "
                "with --accumulate K takes the steps of K processes"})
    checkpoint_every: int | None = field(default=None, metadata={
        "help": "also write checkpoint.pt every N steps inside an epoch (--resume continues from that batch)"})
    checkpoint_interval: float | None = field(default=DEFAULT_CHECKPOINT_MINUTES, metadata={
        "help": "also write checkpoint.pt inside an epoch this often: 90s, 10m, 1h (none: at epoch ends only)",
        "parse": parse_minutes})
    dist_timeout: float = field(default=DEFAULT_DIST_TIMEOUT_MINUTES, metadata={
        "help": "under torchrun: how long a process waits for the others in one exchange before the job stops with "
                "an error (90s, 30m; rank 0 validating keeps the others waiting that long at most)",
        "parse": parse_minutes})

    def __post_init__(self) -> None:
        choices(self)
        at_least(self, 1, "epochs", "batch_size", "max_tokens", "patience", "eval_every", "threads", "accumulate",
                 "checkpoint_every")
        positive(self, "lr", "clip", "checkpoint_interval", "dist_timeout")
        non_negative(self, "weight_decay", "warmup")
        if self.max_time is not None and not (math.isfinite(self.max_time) and self.max_time > 0):
            raise SeqlabError(f"--max-time must be > 0 (minutes), got {self.max_time:g}; leave it out for no limit")
        if self.device != "auto":
            import torch  # only here: a config with the default device (every --help, most flags) needs no torch

            try:
                torch.device(self.device)  # the spelling only: whether that device is here is asked when training
            except RuntimeError:
                raise SeqlabError(f"--device {self.device!r} is not a device: write auto, cpu, cuda or cuda:N") from None
