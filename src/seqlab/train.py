"""The one trainer for every task, alone or data-parallel under torchrun. It knows a task only through
:class:`TrainableTask`.

Like minGPT's trainer, nothing here knows what the model is: the task turns a
batch into a loss and validation into metrics; the trainer owns the
optimisation loop, schedules, clipping, mixed precision, early stopping,
checkpoints and resume, progress and logs, and the distribution (tasks never learn about ranks).

Launch lines (the same command trains any task; ``--accumulate K`` gives one process K processes' global batch)::

    seqlab train classify --data imdb --out runs/bag                                   # CPU, one process
    seqlab train classify --data imdb --model rnn --device cuda --out runs/rnn         # one GPU (bf16 by default)
    torchrun --standalone --nproc-per-node 2 -m seqlab train classify --data imdb --out runs/bag   # 2 processes, gloo
    torchrun --standalone --nproc-per-node 8 -m seqlab train translate --data multi30k --device cuda --out runs/mt
        # 8 GPUs of one machine, nccl, one GPU per process (cuda:LOCAL_RANK)
    torchrun --nnodes 2 --node-rank 0 --nproc-per-node 8 --rdzv-backend c10d --rdzv-endpoint HOST:29500 \
        -m seqlab train translate ... --device cuda --out /shared/runs/mt                # on each machine (rank 1 ...)

Under torchrun: every rank builds the epoch's batches with the one shared seed and takes its part of every step
(rank r the batches ``r*A .. r*A+A-1`` of the step's ``world x A``); a rank whose part is short runs a real batch
with weight 0, so all take the same steps (no hang on data smaller than the global batch). Rank 0 validates (tasks
validate whole splits; the others wait at the broadcast of its metrics, so all decide early stopping and a plateau
alike), logs, and writes the model directory and checkpoints, atomically. Checkpoints also come inside an epoch
(``--checkpoint-interval``, ``--checkpoint-every``) and record the place in the epoch's batch sequence, which is
the same for any world size: ``--resume`` continues there at once, on as many processes or on another number
(``--accumulate`` then keeps the global batch, and says so). ``$SEQLAB_TRACE_BATCHES=DIR`` makes every rank write
the batches it trained (see :class:`_Trace`).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from seqlab import distributed
from seqlab.errors import SeqlabError
from seqlab.files import write_bytes_atomic, write_text_atomic
from seqlab.modeldir import CHECKPOINT
from seqlab.runtime import autocast_context, pick_device, resolve_precision, set_threads
from seqlab.train_config import DURATION_UNITS, TrainConfig, _saved_max_time, parse_minutes  # noqa: F401  (re-exported)

LOG_FILE = "metrics.jsonl"
TIMING_STEPS = 20  # steps measured before a time budget's first estimate of the schedule's length
TRACE_ENV = "SEQLAB_TRACE_BATCHES"  # a folder: each rank writes the batches it trained there (see _Trace)
RESEED = 7919  # a rank resumed on another world size seeds its dropout from (seed, rank, step) with this stride


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

    def __init__(self, dense: list[dict[str, Any]], sparse: list[torch.Tensor], lr: float, kind: str = "adamw") -> None:
        self.optimizers: list[torch.optim.Optimizer] = []
        self.dense_parameters = [p for group in dense for p in group["params"]]
        if kind == "sgd":  # word2vec's plain SGD (Mikolov et al. 2013); torch's SGD takes sparse gradients
            groups = [g for g in dense if g["params"]] + ([{"params": sparse, "weight_decay": 0.0}] if sparse else [])
            self.optimizers.append(torch.optim.SGD(groups, lr=lr))
            return
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


def sparse_tables(model: nn.Module) -> list[torch.Tensor]:
    """The embedding tables that get sparse gradients (their own optimizer; summed by the trainer under DDP)."""
    return [m.weight for m in model.modules()
            if isinstance(m, (nn.Embedding, nn.EmbeddingBag)) and m.sparse and m.weight.requires_grad]


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> Optimizers:
    """Weight decay on matrices only (not biases, norms or embeddings), as in BERT and GPT recipes."""
    sparse = sparse_tables(model)
    sparse_ids = {id(p) for p in sparse}
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for name, p in model.named_parameters():
        if not p.requires_grad or id(p) in sparse_ids:
            continue
        (decay if p.dim() > 1 and "embedding" not in name else no_decay).append(p)
    return Optimizers([{"params": decay, "weight_decay": cfg.weight_decay},
                       {"params": no_decay, "weight_decay": 0.0}], sparse, cfg.lr, cfg.optimizer)


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


class _TaskLoss(nn.Module):
    """The task's loss as a module, so that DDP's forward (which arms its gradient hooks for the backward that
    follows) runs whatever the task's loss calls: the model's forward, a CRF's loss, an output layer after it.
    The task itself stays as it is: it never sees the wrapper."""

    def __init__(self, task: TrainableTask) -> None:
        super().__init__()
        self.model = task.model
        self.task = task  # not a module: a plain attribute

    def forward(self, batch: Any) -> tuple[torch.Tensor, int]:
        return self.task.loss(batch)


class GradientSync:
    """How the gradient of one optimizer step is made from its micro-batches, alone or under DDP.

    Normalisation: each micro-batch's mean loss is weighted by the examples (or tokens) it holds and the step's
    gradient divided by all the step's examples (or tokens), counted over every process; so K processes x batch B,
    one process x ``--accumulate K`` x batch B and one batch of K x B examples all take the per-example (per-token)
    mean over the same examples (fairseq's rule; a mean of batch means would weigh a short translation batch like a
    long one). One process without accumulation keeps the plain mean of its batch, as before.

    Under DDP: every micro-batch but the step's last runs in ``no_sync()`` (one all-reduce per step, not per
    micro-batch); a rank whose share of the step's batches is short runs a real batch with weight 0 (fairseq's
    padding: every rank takes the same number of steps, so no rank waits for another at the end of an epoch);
    sparse embedding tables are left out of DDP and summed here by :func:`seqlab.distributed.all_gather_sparse`
    (a padding batch adds no rows to them, which matters: SparseAdam updates every row a gradient names, zero
    or not; and nccl has no sparse all-reduce).
    """

    def __init__(self, task: TrainableTask, model: nn.Module, sparse: list[torch.Tensor], where: distributed.Place,
                 device: torch.device, accumulate: int) -> None:
        self.task, self.model, self.sparse, self.world = task, model, sparse, where.world
        self.plain = where.world == 1 and accumulate == 1
        self.parts: list[list[torch.Tensor]] = [[] for _ in sparse]  # each sparse table's gradients this step
        self.ddp: nn.Module | None = None
        if where.world > 1:
            import torch.distributed as dist
            from torch.nn.parallel import DistributedDataParallel as DDP

            sparse_ids = {id(p) for p in sparse}
            wrapper = _TaskLoss(task)
            DDP._set_params_and_buffers_to_ignore_for_model(
                wrapper, [f"model.{name}" for name, p in model.named_parameters() if id(p) in sparse_ids])
            for p in sparse:  # DDP broadcasts rank 0's other weights; these it does not see
                distributed.collective(dist.broadcast, p.data, 0)
            # buffers are fixed data built alike on every rank (a bag's NB ratios, 2**22 rows): synced once when
            # DDP starts, not sent every step; find_unused_parameters: some models leave a part unused (a pooler)
            import inspect

            no_buffer_sync: dict[str, Any] = ({"forward_sync_buffers": False}
                                              if "forward_sync_buffers" in inspect.signature(DDP).parameters
                                              else {"broadcast_buffers": False})  # the spelling before torch 2.13
            self.ddp = DDP(wrapper, device_ids=[device.index] if device.type == "cuda" else None,
                           find_unused_parameters=True, **no_buffer_sync)

    def forward_backward(self, batch: Any, *, real: bool, last: bool, device: torch.device, precision: str,
                         scaler: Any, step: int) -> tuple[float, int]:
        """One micro-batch: its mean loss and the examples it counts (0 for a padding batch)."""
        quiet = self.ddp.no_sync() if self.ddp is not None and not last else contextlib.nullcontext()  # type: ignore
        with quiet:
            with autocast_context(device, precision):
                loss, count = self.ddp(batch) if self.ddp is not None else self.task.loss(batch)
            if not torch.isfinite(loss):
                raise SeqlabError(f"the loss became {loss.item()} at step {step}; lower --lr or use --clip")
            weight = count if real else 0
            target = loss if self.plain else loss * weight
            (scaler.scale(target) if scaler is not None else target).backward()
        if not self.plain:  # the sparse tables' entries, kept in micro-batch order (autograd would merge them)
            for p, parts in zip(self.sparse, self.parts, strict=True):
                if p.grad is not None and real:  # a padding batch adds no rows
                    parts.append(p.grad)
                p.grad = None
        return loss.item(), weight

    def finish(self, total: float) -> None:
        """After the step's last backward: sum the sparse tables over the ranks, then divide every gradient by the
        step's examples (DDP has averaged the dense ones over the ranks already)."""
        if self.plain:
            return
        for p, parts in zip(self.sparse, self.parts, strict=True):
            local = torch.sparse_coo_tensor(  # this rank's entries, in micro-batch order
                torch.cat([g._indices() for g in parts], 1) if parts else torch.zeros(1, 0, dtype=torch.long,
                                                                                        device=p.device),
                torch.cat([g._values() for g in parts]) if parts else p.new_zeros(0, *p.shape[1:]),
                p.shape, check_invariants=False)
            parts.clear()
            summed = distributed.all_gather_sparse(local) if self.world > 1 else local
            # summed before they are scaled, in one order for any world size and accumulation: (a + b + ...) / n
            p.grad = summed.coalesce() if summed._nnz() else None
        sparse_ids = {id(p) for p in self.sparse}
        scale = 1.0 / max(total, 1.0)
        for p in self.model.parameters():
            if p.grad is not None:
                p.grad.mul_(scale if id(p) in sparse_ids else self.world * scale)


class _Trace:
    """``$SEQLAB_TRACE_BATCHES=DIR``: each rank appends the batches it trains to ``DIR/rank<R>.jsonl`` (epoch, the
    batch's place in the epoch's shared sequence, the batch), and its final weights' digest: a debugging aid that
    shows what each rank saw, and what the tests compare (an interrupted + resumed run against a whole one)."""

    def __init__(self, rank: int) -> None:
        folder = os.environ.get(TRACE_ENV)
        self.path = Path(folder) / f"rank{rank}.jsonl" if folder else None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, **record: Any) -> None:
        if self.path is not None:  # opened for each line: a killed run leaves every line it wrote whole
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(record, default=repr) + "\n")


def _weights_digest(model: nn.Module) -> str:
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode() + _digest(tensor).encode())
    return digest.hexdigest()


class Trainer:
    def __init__(self, task: TrainableTask, config: TrainConfig, out_dir: Path, *,
                 run_config: dict[str, Any] | None = None, log=print) -> None:
        self.task, self.config, self.out_dir = task, config, Path(out_dir)
        self.run_config = run_config or {}
        self.metric = config.metric or task.default_metric
        if self.metric not in task.metric_modes:
            raise SeqlabError(f"--metric {self.metric!r}: choose one of {', '.join(task.metric_modes)}")
        self.mode = task.metric_modes[self.metric]
        self.place = distributed.start(config.device, config.dist_timeout)  # a no-op alone or when joined already
        self.log = log if self.place.main else distributed.quiet
        self.device = pick_device(distributed.device_for(config.device, self.place))
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
        cfg, task, where = self.config, self.task, self.place
        distributed.data_ready()  # this rank's data is built: the ranks waiting for it may read the cache now
        set_threads(cfg.threads)
        torch.manual_seed(cfg.seed + where.rank)  # dropout differs between ranks; rank 0 draws as one process does
        random.seed(cfg.seed + where.rank)
        model = task.model.to(self.device)
        optimizer = make_optimizer(model, cfg)
        precision = self.precision = resolve_precision(self.device, cfg.precision, lambda m: self.log(f"warning: {m}"))
        scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
        ckpt_path = self.out_dir / CHECKPOINT
        if where.main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        self._built_buffers = _buffer_digests(model)  # before training (or resuming) changes any
        blob = self._read_checkpoint(ckpt_path) if resume else None
        accumulate = self._accumulate(blob)
        group = where.world * accumulate  # batches per optimizer step, over all ranks: the global batch
        steps_per_epoch = math.ceil(len(task.train_batches(torch.Generator().manual_seed(cfg.seed))) / group)
        horizon = Horizon(steps_per_epoch * cfg.epochs, cfg.warmup)
        scheduler = Schedules([make_schedule(opt, cfg, horizon) for opt in optimizer.optimizers])
        state: dict[str, Any] = {"epoch": 0, "step": 0, "best": None, "best_epoch": None, "bad_evals": 0, "history": [],
                                 "horizon": horizon.state_dict()}
        if blob is not None:
            state = self._load_checkpoint(blob, ckpt_path, model, optimizer, scheduler)
            if "horizon" in state:
                horizon.load_state_dict(state["horizon"])
        state.update(world=where.world, accumulate=accumulate)
        sync = GradientSync(task, model, sparse_tables(model), where, self.device, accumulate)
        trace = _Trace(where.rank)
        log_fh = open(self.out_dir / LOG_FILE, "a" if resume else "w", encoding="utf-8") if where.main else None
        started = time.monotonic()
        deadline = started + cfg.max_time * 60 if cfg.max_time else None
        first_step = state["step"]
        stop_reason = None
        last_checkpoint = started

        def fit_horizon_to_budget() -> None:
            """Steps that still fit in the time left at the rate measured so far (evaluations included); rank 0's
            estimate on every rank, so that all follow one schedule."""
            done = state["step"] - first_step
            if deadline is None or done == 0:
                return
            seconds_per_step = (time.monotonic() - started) / done
            fit = state["step"] + int(max(0.0, deadline - time.monotonic()) / seconds_per_step)
            fit = int(distributed.all_sum([fit if where.main else 0])[0])
            horizon.set_total(min(steps_per_epoch * cfg.epochs, fit))
            state["horizon"] = horizon.state_dict()

        try:
            for epoch in range(state["epoch"] + 1, cfg.epochs + 1):
                task.on_epoch_start(epoch)
                model.train()
                # the same batches on every rank (one seed, as fairseq): each takes its part of every step
                batches = task.train_batches(torch.Generator().manual_seed(cfg.seed * 1000 + epoch))
                # a run stopped mid-epoch (time budget, early stopping, a mid-epoch checkpoint) resumes after the
                # batches it did, wherever they were
                position = state.pop("batches_done", 0)
                loss_sum, seen = state.pop("epoch_sums", (0.0, 0))
                starts = range(position, len(batches), group)
                bar = _progress(starts, f"epoch {epoch}/{cfg.epochs}", cfg.progress and where.main)
                epoch_start = time.monotonic()
                last_line, end = epoch_start, position
                for start in bar:
                    end = min(start + group, len(batches))
                    mine = list(range(start + where.rank * accumulate, min(start + (where.rank + 1) * accumulate, end)))
                    slots = accumulate if where.world > 1 else len(mine)  # alone, a short last step is just short
                    optimizer.zero_grad(set_to_none=True)
                    step_count = 0
                    for k in range(slots):
                        real = k < len(mine)
                        index = mine[k] if real else start  # a padding batch: a real one, weighing nothing
                        value, count = sync.forward_backward(batches[index], real=real, last=k == slots - 1,
                                                             device=self.device, precision=precision, scaler=scaler,
                                                             step=state["step"] + 1)
                        if real:
                            trace.write(epoch=epoch, position=index, batch=batches[index])
                            loss_sum += value * count
                            seen += count
                            step_count += count
                    sync.finish(step_count if where.world == 1 else distributed.all_sum([step_count])[0])
                    if scaler is not None:
                        scaler.unscale_(optimizer)  # type: ignore[arg-type]  # Optimizers acts as one
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
                    rate = seen / max(1e-9, time.monotonic() - epoch_start)
                    if hasattr(bar, "set_postfix"):
                        bar.set_postfix(loss=f"{loss_sum / max(seen, 1):.4f}", rate=f"{rate:,.0f}/s")
                    elif cfg.progress and where.main and time.monotonic() - last_line >= PLAIN_PROGRESS_SECONDS:
                        last_line = time.monotonic()
                        self.log(f"epoch {epoch} batch {end}/{len(batches)}: loss {loss_sum / max(seen, 1):.4f}, "
                                 f"{rate:,.0f}/s")
                    out_of_time = deadline is not None and time.monotonic() > deadline
                    checkpoint_due = bool(cfg.checkpoint_every and state["step"] % cfg.checkpoint_every == 0) or (
                        cfg.checkpoint_interval is not None
                        and time.monotonic() - last_checkpoint >= cfg.checkpoint_interval * 60)
                    if where.world > 1:  # rank 0's clock decides for all
                        out_of_time, checkpoint_due = (v > 0 for v in distributed.all_sum(
                            [float(out_of_time and where.main), float(checkpoint_due and where.main)]))
                    more = end < len(batches)
                    mid_eval = cfg.eval_every and state["step"] % cfg.eval_every == 0 and more
                    if mid_eval or out_of_time:
                        if self._evaluate(state, epoch, loss_sum, seen, epoch_start, optimizer,
                                          scheduler, log_fh, partial=True):
                            stop_reason = "early stopping"
                        model.train()
                    if out_of_time:
                        stop_reason = f"time budget of {format_duration((cfg.max_time or 0) * 60)}"
                    if stop_reason:
                        break
                    if checkpoint_due and more:  # mid-epoch: where the epoch's sequence stands, to resume from
                        self._save_checkpoint(ckpt_path, model, optimizer, scheduler,
                                              {**state, **self._position(end, loss_sum, seen)})
                        last_checkpoint = time.monotonic()
                if hasattr(bar, "close"):
                    bar.close()
                if stop_reason is None and self._evaluate(state, epoch, loss_sum, seen, epoch_start,
                                                          optimizer, scheduler, log_fh, partial=False):
                    stop_reason = "early stopping"
                if end < len(batches):  # stopped inside the epoch: it is not finished
                    state.update(self._position(end, loss_sum, seen))
                else:
                    state["epoch"] = epoch
                fit_horizon_to_budget()  # evaluation time is now part of the measured pace
                self._save_checkpoint(ckpt_path, model, optimizer, scheduler, state)
                last_checkpoint = time.monotonic()
                if stop_reason:
                    self.log(f"stopped: {stop_reason}")
                    break
        finally:
            if log_fh is not None:
                log_fh.close()
        state["train_seconds"] = state.get("train_seconds", 0.0) + time.monotonic() - started
        self._save_checkpoint(ckpt_path, model, optimizer, scheduler, state)
        self._check_ranks_agree(model, trace)
        if where.main:
            self._plot(state["history"])
        return {"best": state["best"], "best_epoch": state["best_epoch"], "metric": self.metric,
                "epochs_run": state["epoch"], "steps": state["step"], "train_seconds": state["train_seconds"],
                "precision": precision, "history": state["history"], "rank": where.rank, "world": where.world,
                "accumulate": accumulate}

    @staticmethod
    def _position(end: int, loss_sum: float, seen: int) -> dict[str, Any]:
        """Where an unfinished epoch stands: the batches done (of the epoch's one sequence, whatever the world size)
        and the training loss so far, summed over the ranks (rank 0 carries them on after a resume)."""
        total, count = distributed.all_sum([loss_sum, seen])
        return {"batches_done": end, "epoch_sums": [total, int(count)]}

    def _accumulate(self, blob: dict[str, Any] | None) -> int:
        """``--accumulate``, or on a resume with another world size the one that keeps the global batch."""
        world, accumulate = self.place.world, self.config.accumulate
        if blob is None:
            return accumulate
        saved = json.loads(blob["state"])
        old_world, old_accumulate = saved.get("world", 1), saved.get("accumulate", accumulate)
        if old_world == world:
            return accumulate
        group = old_world * old_accumulate
        if group % world:
            raise SeqlabError(f"--resume on {world} processes cannot keep the global batch of {group} batches "
                              f"({old_world} processes x --accumulate {old_accumulate}): start a number of processes "
                              f"that divides {group}")
        self.log(f"resuming on {world} process{'es' if world > 1 else ''} instead of {old_world}: --accumulate "
                 f"{group // world} keeps the global batch of {group} batches (was --accumulate {old_accumulate})")
        return group // world

    def _check_ranks_agree(self, model: nn.Module, trace: _Trace) -> None:
        """Under DDP every rank must end with the same weights; a difference is a bug, said rather than saved."""
        if self.place.world == 1 and TRACE_ENV not in os.environ:
            return
        mine = _weights_digest(model)
        trace.write(final_digest=mine)
        if self.place.world > 1 and distributed.broadcast_json(mine) != mine:
            raise SeqlabError(f"rank {self.place.rank} ended with weights that differ from rank 0's")

    def _evaluate(self, state, epoch, loss_sum, seen, epoch_start, optimizer, scheduler, log_fh,
                  partial: bool) -> bool:
        """Validate (on rank 0: the others wait; tasks validate whole splits), log, keep the best model; return True
        when early stopping says stop. Every rank gets rank 0's metrics, so all decide alike."""
        total_loss, seen = distributed.all_sum([loss_sum, seen])
        train_loss = total_loss / max(seen, 1)
        elapsed = time.monotonic() - epoch_start
        metrics = distributed.broadcast_json(self.task.validate() if self.place.main else None)
        if self.metric not in metrics:
            raise SeqlabError(f"validation did not report {self.metric!r}")
        value = metrics[self.metric]
        scheduler.step_eval(value if self.mode == "max" else -value)
        record = {"epoch": epoch, "step": state["step"], "partial_epoch": partial, "train_loss": train_loss,
                  **{f"valid_{k}": v for k, v in metrics.items()}, "lr": optimizer.param_groups[0]["lr"],
                  "examples_per_s": seen / max(elapsed, 1e-9), "epoch_seconds": elapsed}
        state["history"].append(record)
        if log_fh is not None:
            log_fh.write(json.dumps(record) + "\n")
            log_fh.flush()
        improved = self._better(value, state["best"])
        shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
        self.log(f"epoch {epoch} step {state['step']}: train loss {train_loss:.4f} | valid {shown}"
                 f"{' (best)' if improved else ''}")
        if improved:
            state["best"], state["best_epoch"], state["bad_evals"] = value, epoch, 0
            if self.place.main:
                self.task.save(self.out_dir, {"valid": metrics, "epoch": epoch, "step": state["step"],
                                              "metric": self.metric, "precision": self.precision})
            return False
        state["bad_evals"] += 1
        return self.config.patience is not None and state["bad_evals"] >= self.config.patience

    def _save_checkpoint(self, path, model, optimizer, scheduler, state) -> None:
        """Weights, optimizer, scheduler, RNG (every rank's) and progress; tensors and plain data only. Every rank
        calls it (their RNG states are gathered); rank 0 writes."""
        import io

        rng_ranks = self._gather_rng()
        if not self.place.main:
            return
        weights = model.state_dict()
        # buffers as the task built them (a bag's Naive-Bayes ratios, a tagger's fixed vector rows): the task
        # rebuilds them when resuming, so the checkpoint keeps only their digest, and that is checked
        fixed = {name: digest for name, digest in self._built_buffers.items()
                 if name in weights and _digest(weights[name]) == digest}
        blob = {"model": {k: v for k, v in weights.items() if k not in fixed}, "fixed_buffers": fixed,
                "optimizer": _compact_optimizer_state(optimizer), "scheduler": scheduler.state_dict(),
                "rng": _rng_state(), "state": json.dumps(state), "config": json.dumps(self.run_config)}
        if rng_ranks is not None:
            blob["rng_ranks"] = rng_ranks
        buffer = io.BytesIO()
        torch.save(blob, buffer)
        write_bytes_atomic(path, buffer.getvalue())

    def _gather_rng(self) -> list[dict[str, Any]] | None:
        """Every rank's RNG state (dropout draws differ by rank), for an exact resume on as many ranks."""
        if self.place.world == 1:
            return None
        import io

        buffer = io.BytesIO()
        torch.save(_rng_state(), buffer)
        states = distributed.all_gather_bytes(buffer.getvalue())
        return [torch.load(io.BytesIO(s), weights_only=True) for s in states]

    def _read_checkpoint(self, path: Path) -> dict[str, Any]:
        """The checkpoint, read by rank 0 and sent to the others (ranks on other machines need not see its disk)."""
        import io

        if self.place.main and not path.exists():
            raise SeqlabError(f"--resume: no checkpoint at {path}; train without --resume first")
        data = path.read_bytes() if self.place.main else None
        if self.place.world > 1:
            data = distributed.broadcast_bytes(data)
        assert data is not None
        try:
            return torch.load(io.BytesIO(data), map_location=self.device, weights_only=True)
        except Exception as exc:
            raise SeqlabError(f"--resume: the checkpoint {path} cannot be read ({distributed.first_line(exc)}); resume with "
                              "the settings it was trained with, or train again") from None

    def _load_checkpoint(self, blob, path, model, optimizer, scheduler) -> dict[str, Any]:
        try:
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
        state = json.loads(blob["state"])
        where = self.place
        if where.world > 1 and state.get("world", 1) == where.world and "rng_ranks" in blob:
            _set_rng_state(blob["rng_ranks"][where.rank])
        elif where.main:
            _set_rng_state(blob["rng"])
        else:  # another world size: this rank's dropout starts a fresh stream
            torch.manual_seed(self.config.seed + where.rank + RESEED * state["step"])
            random.seed(self.config.seed + where.rank + RESEED * state["step"])
        if where.main:
            # the log as it was at the checkpoint: evaluations a killed run made after it are not kept twice
            write_text_atomic(self.out_dir / LOG_FILE, "".join(json.dumps(r) + "\n" for r in state["history"]))
        inside = f", {state['batches_done']} batches into epoch {state['epoch'] + 1}" if "batches_done" in state else ""
        self.log(f"resumed from {path} after epoch {state['epoch']}{inside} (step {state['step']})")
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
