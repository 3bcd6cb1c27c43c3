"""The one trainer for every task. It knows a task only through :class:`TrainableTask`.

Like minGPT's trainer, nothing here knows what the model is: the task turns a
batch into a loss and validation into metrics; the trainer owns the
optimisation loop, schedules, clipping, mixed precision, early stopping,
checkpoints and resume, progress and logs.
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from seqlab.errors import SeqlabError
from seqlab.files import write_bytes_atomic, write_text_atomic
from seqlab.modeldir import CHECKPOINT
from seqlab.runtime import autocast_context, pick_device, resolve_precision, set_threads
from seqlab.train_config import DURATION_UNITS, TrainConfig, _saved_max_time, parse_minutes  # noqa: F401  (re-exported)

LOG_FILE = "metrics.jsonl"
TIMING_STEPS = 20  # steps measured before a time budget's first estimate of the schedule's length


def format_duration(seconds: float) -> str:
    """A duration as a person writes it: ``20s``, ``1.5 min``, ``2 h`` (``--max-time 20s`` is 0.333... minutes)."""
    if seconds < 60:
        return f"{seconds:.3g}s"
    if seconds < 3600:
        return f"{seconds / 60:.3g} min"
    return f"{seconds / 3600:.3g} h"


class TrainableTask(Protocol):
    """What a task gives the trainer. Tasks subclass it, so the optional hooks have their defaults here."""

    model: nn.Module
    default_metric: str
    metric_modes: dict[str, str]  # metric -> "max" or "min"

    def train_batches(self, generator: torch.Generator) -> Sequence[Any]:
        """This epoch's batches, shuffled with ``generator`` (already on the right device or moved in loss)."""

    def loss(self, batch: Any) -> tuple[torch.Tensor, int]:
        """Mean loss of a batch and the number of examples (or tokens) it holds, for throughput."""

    def validate(self) -> dict[str, float]:
        """Metrics on the validation split, in eval mode and without gradients."""

    def save(self, out_dir: Path, metrics: dict[str, Any]) -> None:
        """Write the model directory (atomically) with the current weights."""

    def on_epoch_start(self, epoch: int) -> None:
        """Called before each epoch (e.g. a scheduled-sampling ratio that follows it); nothing by default."""
        return None


class Horizon:
    """How many optimizer steps the schedule spans, and its warm-up; mutable so a time budget can set it.

    With ``--max-time`` the epoch count is only an upper bound, and a cosine or linear
    decay laid out over all epochs would stop while the rate is still high (and a
    warm-up given as a fraction might never end). The trainer therefore re-estimates
    the steps that fit in the remaining time (measured, evaluations included) and the
    decay follows the budget instead. A fractional warm-up is fixed at the first estimate.
    """

    def __init__(self, total_steps: int, warmup: float) -> None:
        self.total = max(1, total_steps)
        self.warmup_setting = warmup
        self.warmup = int(warmup * self.total) if warmup < 1 else int(warmup)
        self.fixed_warmup = warmup >= 1

    def set_total(self, total_steps: int) -> None:
        self.total = max(1, total_steps)
        if not self.fixed_warmup:
            self.warmup = int(self.warmup_setting * self.total)
            self.fixed_warmup = True

    def state_dict(self) -> dict[str, Any]:
        return {"total": self.total, "warmup": self.warmup, "fixed_warmup": self.fixed_warmup}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.total, self.warmup, self.fixed_warmup = state["total"], state["warmup"], state["fixed_warmup"]


def make_schedule(optimizer: torch.optim.Optimizer, config: TrainConfig, horizon: Horizon):
    """A per-step LambdaLR (or ReduceLROnPlateau, stepped per evaluation) over ``horizon``."""
    kind = config.schedule
    if kind == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=0.5, patience=1)
    if kind == "onecycle":  # Smith & Topin 2019; its length is fixed when it is built
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=horizon.total,
                                                   pct_start=config.warmup if 0 < config.warmup < 1 else 0.3)

    def factor(step: int) -> float:
        warmup, total = horizon.warmup, horizon.total
        if warmup and step < warmup:
            return (step + 1) / warmup
        if kind == "linear":
            return max(0.0, (total - step) / max(1, total - warmup))
        if kind == "cosine":
            progress = (step - warmup) / max(1, total - warmup)
            return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
        if kind == "inverse_sqrt":  # Vaswani et al. 2017
            return math.sqrt(max(warmup, 1)) / math.sqrt(max(step + 1, max(warmup, 1)))
        return 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class Optimizers:
    """AdamW for dense parameters plus SparseAdam for sparse embedding tables, stepped as one.

    A fastText-style bag has millions of n-gram rows; a dense optimizer would
    touch every row every step, a sparse one only the rows in the batch. AdamW runs its fused
    kernel where the parameters allow it: on a CPU the default per-tensor loop took 156 ms a
    step for 18M parameters against 24 ms fused (2 cores, AVX2).
    """

    def __init__(self, dense: list[dict[str, Any]], sparse: list[torch.Tensor], lr: float) -> None:
        self.optimizers: list[torch.optim.Optimizer] = []
        self.dense_parameters = [p for group in dense for p in group["params"]]
        if self.dense_parameters:
            fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in self.dense_parameters)
            self.optimizers.append(torch.optim.AdamW([g for g in dense if g["params"]], lr=lr, fused=fused))
        if sparse:
            self.optimizers.append(torch.optim.SparseAdam(sparse, lr=lr))

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return [g for opt in self.optimizers for g in opt.param_groups]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        for opt in self.optimizers:
            opt.step()

    def state_dict(self) -> list[dict[str, Any]]:
        return [opt.state_dict() for opt in self.optimizers]

    def load_state_dict(self, states: list[dict[str, Any]]) -> None:
        for opt, state in zip(self.optimizers, states, strict=True):
            opt.load_state_dict(state)


class Schedules:
    """One schedule per optimizer, stepped together (per batch, or per evaluation for plateau)."""

    def __init__(self, schedules: list[Any]) -> None:
        self.schedules = schedules

    def step_batch(self) -> None:
        for s in self.schedules:
            if not isinstance(s, torch.optim.lr_scheduler.ReduceLROnPlateau):
                s.step()

    def step_eval(self, value: float) -> None:
        for s in self.schedules:
            if isinstance(s, torch.optim.lr_scheduler.ReduceLROnPlateau):
                s.step(value)

    def state_dict(self) -> list[dict[str, Any]]:
        return [s.state_dict() for s in self.schedules]

    def load_state_dict(self, states: list[dict[str, Any]]) -> None:
        for s, state in zip(self.schedules, states, strict=True):
            s.load_state_dict(state)


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> Optimizers:
    """Weight decay on matrices only (not biases, norms or embeddings), as in BERT and GPT recipes."""
    sparse = [m.weight for m in model.modules()
              if isinstance(m, (nn.Embedding, nn.EmbeddingBag)) and m.sparse and m.weight.requires_grad]
    sparse_ids = {id(p) for p in sparse}
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for name, p in model.named_parameters():
        if not p.requires_grad or id(p) in sparse_ids:
            continue
        (decay if p.dim() > 1 and "embedding" not in name else no_decay).append(p)
    return Optimizers([{"params": decay, "weight_decay": cfg.weight_decay},
                       {"params": no_decay, "weight_decay": 0.0}], sparse, cfg.lr)


def _rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "python": list(random.getstate()[1]), "python_pos": random.getstate()[2]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate((3, tuple(state["python"]), state["python_pos"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _digest(tensor: torch.Tensor) -> str:
    """A tensor's dtype, shape and bytes, hashed: whether a buffer is still the one the task built."""
    import hashlib

    data = tensor.detach().contiguous().cpu().reshape(-1).view(torch.uint8).numpy()
    return hashlib.sha256(f"{tensor.dtype}{tuple(tensor.shape)}".encode() + data.tobytes()).hexdigest()


def _buffer_digests(model: nn.Module) -> dict[str, str]:
    """The digest of each saved buffer of ``model`` (``state_dict`` names), as the task built it."""
    saved = model.state_dict()
    return {name: _digest(saved[name]) for name, _ in model.named_buffers() if name in saved}


SPARSE_STATE = ("exp_avg", "exp_avg_sq")  # SparseAdam's per-row moments: zero in every row no batch touched


def _compact_optimizer_state(optimizer: Optimizers) -> list[dict[str, Any]]:
    """The optimizers' state with SparseAdam's moment tables kept as their touched rows only (a bag's table has
    millions of rows, and a small data set touches few of them); :func:`_expand_optimizer_state` undoes it."""
    states = optimizer.state_dict()
    for opt, state in zip(optimizer.optimizers, states, strict=True):
        if not isinstance(opt, torch.optim.SparseAdam):
            continue
        for key, entry in state["state"].items():  # each entry is the optimizer's own: replaced, never changed
            tables = [entry[k] for k in SPARSE_STATE if k in entry and entry[k].dim() == 2]
            if len(tables) != len(SPARSE_STATE):
                continue
            rows = torch.nonzero(torch.stack([t.ne(0).any(1) for t in tables]).any(0)).squeeze(1).to(torch.int32)
            row_bytes = sum(t[0].numel() * t.element_size() for t in tables)
            if len(rows) * (row_bytes + rows.element_size()) >= tables[0].size(0) * row_bytes:
                continue  # most rows touched (IMDB's table): the dense tables are smaller
            state["state"][key] = {**entry, **{k: entry[k][rows] for k in SPARSE_STATE}, "rows": rows,
                                   "num_rows": torch.tensor(tables[0].size(0))}
    return states


def _expand_optimizer_state(states: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for state in states:
        for entry in state.get("state", {}).values():
            if "rows" not in entry:
                continue
            rows, num_rows = entry.pop("rows").long(), int(entry.pop("num_rows"))
            for k in SPARSE_STATE:
                table = entry[k].new_zeros(num_rows, *entry[k].shape[1:])
                table[rows] = entry[k]
                entry[k] = table
    return states


class Trainer:
    def __init__(self, task: TrainableTask, config: TrainConfig, out_dir: Path, *,
                 run_config: dict[str, Any] | None = None, log=print) -> None:
        self.task, self.config, self.out_dir, self.log = task, config, Path(out_dir), log
        self.run_config = run_config or {}
        self.metric = config.metric or task.default_metric
        if self.metric not in task.metric_modes:
            raise SeqlabError(f"--metric {self.metric!r}: choose one of {', '.join(task.metric_modes)}")
        self.mode = task.metric_modes[self.metric]
        self.device = pick_device(config.device)
        self.precision = config.precision  # what fit() actually runs (bf16 falls back to fp32 without hardware bf16)

    def _better(self, value: float, best: float | None) -> bool:
        return best is None or (value > best if self.mode == "max" else value < best)

    def fit(self, resume: bool = False) -> dict[str, Any]:
        """Train; the process's torch thread count is restored afterwards (the trainer sets its own)."""
        threads_before = torch.get_num_threads()
        try:
            return self._fit(resume)
        finally:
            torch.set_num_threads(threads_before)

    def _fit(self, resume: bool) -> dict[str, Any]:
        cfg, task = self.config, self.task
        set_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        random.seed(cfg.seed)
        model = task.model.to(self.device)
        optimizer = make_optimizer(model, cfg)
        steps_per_epoch = len(task.train_batches(torch.Generator().manual_seed(cfg.seed)))
        horizon = Horizon(steps_per_epoch * cfg.epochs, cfg.warmup)
        scheduler = Schedules([make_schedule(opt, cfg, horizon) for opt in optimizer.optimizers])
        precision = self.precision = resolve_precision(self.device, cfg.precision, lambda m: self.log(f"warning: {m}"))
        scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
        state: dict[str, Any] = {"epoch": 0, "step": 0, "best": None, "best_epoch": None, "bad_evals": 0, "history": [],
                 "horizon": horizon.state_dict()}
        self.out_dir.mkdir(parents=True, exist_ok=True)
        ckpt_path = self.out_dir / CHECKPOINT
        self._built_buffers = _buffer_digests(model)  # before training (or resuming) changes any
        if resume:
            state = self._load_checkpoint(ckpt_path, model, optimizer, scheduler)
            if "horizon" in state:
                horizon.load_state_dict(state["horizon"])
        log_fh = open(self.out_dir / LOG_FILE, "a" if resume else "w", encoding="utf-8")
        started = time.monotonic()
        deadline = started + cfg.max_time * 60 if cfg.max_time else None
        first_step = state["step"]
        stop_reason = None

        def fit_horizon_to_budget() -> None:
            """Steps that still fit in the time left at the rate measured so far (evaluations included)."""
            done = state["step"] - first_step
            if deadline is None or done == 0:
                return
            seconds_per_step = (time.monotonic() - started) / done
            fit = state["step"] + int(max(0.0, deadline - time.monotonic()) / seconds_per_step)
            horizon.set_total(min(steps_per_epoch * cfg.epochs, fit))
            state["horizon"] = horizon.state_dict()

        try:
            for epoch in range(state["epoch"] + 1, cfg.epochs + 1):
                task.on_epoch_start(epoch)
                model.train()
                batches = task.train_batches(torch.Generator().manual_seed(cfg.seed * 1000 + epoch))
                # a run stopped mid-epoch (time budget, early stopping) resumes after the batches it did
                done_before = state.pop("batches_done", 0)
                bar = _progress(batches[done_before:], f"epoch {epoch}/{cfg.epochs}", cfg.progress)
                loss_sum, seen, epoch_start = 0.0, 0, time.monotonic()
                last_line, i = epoch_start, done_before
                for i, batch in enumerate(bar, done_before + 1):
                    with autocast_context(self.device, precision):
                        loss, count = task.loss(batch)
                    if not torch.isfinite(loss):
                        raise SeqlabError(f"the loss became {loss.item()} at step {state['step'] + 1}; "
                                          "lower --lr or use --clip")
                    optimizer.zero_grad(set_to_none=True)
                    if scaler is not None:
                        scaler.scale(loss).backward()
                        scaler.unscale_(optimizer)  # type: ignore[arg-type]  # Optimizers acts as one
                    else:
                        loss.backward()
                    if cfg.clip:
                        torch.nn.utils.clip_grad_norm_(optimizer.dense_parameters, cfg.clip)
                    if scaler is not None:
                        scaler.step(optimizer)  # type: ignore[arg-type]
                        scaler.update()
                    else:
                        optimizer.step()
                    scheduler.step_batch()
                    state["step"] += 1
                    if state["step"] - first_step == TIMING_STEPS:  # the first estimate, once the pace is known
                        fit_horizon_to_budget()
                    loss_sum += loss.item() * count
                    seen += count
                    rate = seen / max(1e-9, time.monotonic() - epoch_start)
                    if hasattr(bar, "set_postfix"):
                        bar.set_postfix(loss=f"{loss_sum / seen:.4f}", rate=f"{rate:,.0f}/s")
                    elif cfg.progress and time.monotonic() - last_line >= PLAIN_PROGRESS_SECONDS:
                        last_line = time.monotonic()
                        self.log(f"epoch {epoch} batch {i}/{len(batches)}: loss {loss_sum / seen:.4f}, {rate:,.0f}/s")
                    out_of_time = deadline is not None and time.monotonic() > deadline
                    mid_eval = cfg.eval_every and state["step"] % cfg.eval_every == 0 and i < len(batches)
                    if mid_eval or out_of_time:
                        if self._evaluate(state, epoch, loss_sum / seen, seen, epoch_start, optimizer,
                                          scheduler, log_fh, partial=True):
                            stop_reason = "early stopping"
                        model.train()
                    if out_of_time:
                        stop_reason = f"time budget of {format_duration((cfg.max_time or 0) * 60)}"
                    if stop_reason:
                        break
                if hasattr(bar, "close"):
                    bar.close()
                if stop_reason is None and self._evaluate(state, epoch, loss_sum / max(seen, 1), seen, epoch_start,
                                                          optimizer, scheduler, log_fh, partial=False):
                    stop_reason = "early stopping"
                if i < len(batches):  # stopped inside the epoch: it is not finished
                    state["batches_done"] = i
                else:
                    state["epoch"] = epoch
                fit_horizon_to_budget()  # evaluation time is now part of the measured pace
                self._save_checkpoint(ckpt_path, model, optimizer, scheduler, state)
                if stop_reason:
                    self.log(f"stopped: {stop_reason}")
                    break
        finally:
            log_fh.close()
        state["train_seconds"] = state.get("train_seconds", 0.0) + time.monotonic() - started
        self._save_checkpoint(ckpt_path, model, optimizer, scheduler, state)
        self._plot(state["history"])
        return {"best": state["best"], "best_epoch": state["best_epoch"], "metric": self.metric,
                "epochs_run": state["epoch"], "steps": state["step"], "train_seconds": state["train_seconds"],
                "precision": precision, "history": state["history"]}

    def _evaluate(self, state, epoch, train_loss, seen, epoch_start, optimizer, scheduler, log_fh,
                  partial: bool) -> bool:
        """Validate, log, keep the best model; return True when early stopping says stop."""
        elapsed = time.monotonic() - epoch_start
        metrics = self.task.validate()
        if self.metric not in metrics:
            raise SeqlabError(f"validation did not report {self.metric!r}")
        value = metrics[self.metric]
        scheduler.step_eval(value if self.mode == "max" else -value)
        record = {"epoch": epoch, "step": state["step"], "partial_epoch": partial, "train_loss": train_loss,
                  **{f"valid_{k}": v for k, v in metrics.items()}, "lr": optimizer.param_groups[0]["lr"],
                  "examples_per_s": seen / max(elapsed, 1e-9), "epoch_seconds": elapsed}
        state["history"].append(record)
        log_fh.write(json.dumps(record) + "\n")
        log_fh.flush()
        improved = self._better(value, state["best"])
        shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
        self.log(f"epoch {epoch} step {state['step']}: train loss {train_loss:.4f} | valid {shown}"
                 f"{' (best)' if improved else ''}")
        if improved:
            state["best"], state["best_epoch"], state["bad_evals"] = value, epoch, 0
            self.task.save(self.out_dir, {"valid": metrics, "epoch": epoch, "step": state["step"],
                                          "metric": self.metric, "precision": self.precision})
            return False
        state["bad_evals"] += 1
        return self.config.patience is not None and state["bad_evals"] >= self.config.patience

    def _save_checkpoint(self, path, model, optimizer, scheduler, state) -> None:
        """Weights, optimizer, scheduler, RNG and progress; tensors and plain data only."""
        import io

        weights = model.state_dict()
        # buffers as the task built them (a bag's Naive-Bayes ratios, a tagger's fixed vector rows): the task
        # rebuilds them when resuming, so the checkpoint keeps only their digest, and that is checked
        fixed = {name: digest for name, digest in self._built_buffers.items()
                 if name in weights and _digest(weights[name]) == digest}
        blob = {"model": {k: v for k, v in weights.items() if k not in fixed}, "fixed_buffers": fixed,
                "optimizer": _compact_optimizer_state(optimizer), "scheduler": scheduler.state_dict(),
                "rng": _rng_state(), "state": json.dumps(state), "config": json.dumps(self.run_config)}
        buffer = io.BytesIO()
        torch.save(blob, buffer)
        write_bytes_atomic(path, buffer.getvalue())

    def _load_checkpoint(self, path, model, optimizer, scheduler) -> dict[str, Any]:
        if not path.exists():
            raise SeqlabError(f"--resume: no checkpoint at {path}; train without --resume first")
        try:
            blob = torch.load(path, map_location=self.device, weights_only=True)
            fixed = blob.get("fixed_buffers", {})
            missing, unexpected = model.load_state_dict(blob["model"], strict=not fixed)
            if set(missing) != set(fixed) or unexpected:
                raise RuntimeError(f"missing {sorted(set(missing) - set(fixed))}, unexpected {sorted(unexpected)}")
            built = model.state_dict()
            changed = [name for name, digest in fixed.items() if _digest(built[name]) != digest]
            if changed:
                raise RuntimeError(f"\n{', '.join(changed)} as built from the data now differ from the ones it "
                                   "was trained with: the data or its settings changed")
            optimizer.load_state_dict(_expand_optimizer_state(blob["optimizer"]))
            scheduler.load_state_dict(blob["scheduler"])
        except Exception as exc:  # one line of the (often long) state_dict complaint: the settings differ
            lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
            detail = (lines[1] if len(lines) > 1 else lines[0] if lines else type(exc).__name__)[:200]
            raise SeqlabError(f"--resume: the checkpoint {path} does not fit this model; resume with the settings "
                              f"it was trained with ({detail})") from None
        old_lr = json.loads(blob["config"]).get("train", {}).get("lr")
        if old_lr is not None and old_lr != self.config.lr:  # resuming with a changed learning rate
            for group in optimizer.param_groups:
                group["lr"] = self.config.lr * group["lr"] / old_lr
                group["initial_lr"] = self.config.lr
            for sched in scheduler.schedules:
                if hasattr(sched, "base_lrs"):
                    sched.base_lrs = [self.config.lr for _ in sched.base_lrs]
            self.log(f"resuming with lr {self.config.lr} (was {old_lr})")
        _set_rng_state(blob["rng"])
        state = json.loads(blob["state"])
        # the log as it was at the checkpoint: evaluations a killed run made after it are not kept twice
        write_text_atomic(self.out_dir / LOG_FILE, "".join(json.dumps(r) + "\n" for r in state["history"]))
        self.log(f"resumed from {path} after epoch {state['epoch']} (step {state['step']})")
        return state

    def _plot(self, history: list[dict[str, Any]]) -> None:
        if not history:
            return
        from seqlab.plots import training_curves

        training_curves(history, self.out_dir / "curves.png")


PLAIN_PROGRESS_SECONDS = 30.0  # without a terminal: one line this often instead of a redrawn bar


def _progress(batches, desc: str, enabled: bool):
    """A tqdm bar on a terminal; without one (a log file, a pipe, CI) the batches as they are, and the trainer
    writes one plain line every ``PLAIN_PROGRESS_SECONDS`` (a bar's redraws would fill a log with noise)."""
    if not enabled or not sys.stderr.isatty():
        return batches
    from tqdm.auto import tqdm

    return tqdm(batches, desc=desc, unit="batch", leave=False, dynamic_ncols=True)
