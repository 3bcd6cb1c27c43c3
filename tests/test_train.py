"""The trainer on a tiny regression task: schedules, and a time budget that the decay follows."""

from __future__ import annotations

import importlib
import json
import math

import pytest
import torch
from torch import nn

from seqlab import runtime  # noqa: E402
from seqlab.train import Horizon, TrainableTask, TrainConfig, Trainer, make_schedule

train_module = importlib.import_module("seqlab.train")  # the module (seqlab.train is also the API function)


class FakeClock:
    """``time.monotonic`` that advances only when a training step runs."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


class TinyTask(TrainableTask):
    """Fit y = 2x with one weight; each step costs ``seconds_per_step`` on the fake clock."""

    default_metric = "loss"
    metric_modes = {"loss": "min"}

    def __init__(self, clock: FakeClock, seconds_per_step: float, batches_per_epoch: int = 10) -> None:
        torch.manual_seed(0)
        self.model = nn.Linear(1, 1, bias=False)
        self.clock, self.seconds_per_step, self.batches_per_epoch = clock, seconds_per_step, batches_per_epoch
        self.x = torch.linspace(-1, 1, 32).unsqueeze(1)

    def train_batches(self, generator: torch.Generator) -> list[int]:
        return list(range(self.batches_per_epoch))

    def loss(self, batch: int) -> tuple[torch.Tensor, int]:
        self.clock.now += self.seconds_per_step
        return ((self.model(self.x) - 2 * self.x) ** 2).mean(), len(self.x)

    def validate(self) -> dict[str, float]:
        with torch.no_grad():
            return {"loss": float(((self.model(self.x) - 2 * self.x) ** 2).mean())}

    def save(self, out_dir, metrics) -> None:
        (out_dir / "saved.json").write_text(json.dumps(metrics))


def _lrs(schedule: str, warmup: float, total: int) -> list[float]:
    model = nn.Linear(1, 1)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    sched = make_schedule(opt, TrainConfig(schedule=schedule, warmup=warmup, lr=1.0), Horizon(total, warmup))
    lrs = []
    for _ in range(total):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def test_warmup_then_cosine_and_linear_decay():
    cosine = _lrs("cosine", 10, 110)
    assert cosine[0] == pytest.approx(0.1) and cosine[9] == pytest.approx(1.0)
    assert cosine[60] == pytest.approx(0.5 * (1 + math.cos(math.pi * 50 / 100)))
    assert cosine[-1] < 0.01
    linear = _lrs("linear", 0.1, 100)  # a fraction of all steps
    assert linear[9] == pytest.approx(1.0) and linear[55] == pytest.approx(0.5)
    inverse = _lrs("inverse_sqrt", 4, 50)
    assert inverse[3] == pytest.approx(1.0) and inverse[15] == pytest.approx(math.sqrt(4 / 16))


def test_time_budget_sets_the_schedule_length(tmp_path, monkeypatch):
    """100 epochs would take 1,000 steps; a 60-second budget at 1 s a step fits ~60, and the decay ends there."""
    clock = FakeClock()
    monkeypatch.setattr(train_module, "time", clock)
    task = TinyTask(clock, seconds_per_step=1.0)
    config = TrainConfig(epochs=100, lr=0.1, schedule="cosine", warmup=0.1, max_time=1.0, patience=None,
                         progress=False, threads=1)
    summary = Trainer(task, config, tmp_path, log=lambda *_: None).fit()
    assert 58 <= summary["steps"] <= 62, summary["steps"]
    history = summary["history"]
    assert history[-1]["lr"] < 0.01 * config.lr  # decayed to (almost) nothing by the end of the budget
    peak = max(h["lr"] for h in history)
    assert peak > 0.7 * config.lr  # the warm-up (10% of ~60 steps) ended and the rate reached its peak
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert json.loads(state["state"])["horizon"]["total"] <= 62


def test_without_a_budget_the_schedule_spans_all_epochs(tmp_path):
    clock = FakeClock()
    task = TinyTask(clock, seconds_per_step=1.0)
    config = TrainConfig(epochs=3, lr=0.1, schedule="linear", patience=None, progress=False, threads=1)
    summary = Trainer(task, config, tmp_path, log=lambda *_: None).fit()
    assert summary["steps"] == 30
    lrs = [h["lr"] for h in summary["history"]]
    assert lrs == pytest.approx([0.1 * 20 / 30, 0.1 * 10 / 30, 0.0], abs=1e-9)


@pytest.mark.parametrize("hardware_bf16", [False, True])
def test_bf16_runs_only_where_the_cpu_has_it(tmp_path, monkeypatch, hardware_bf16):
    # without AVX-512 BF16/AMX, bf16 matmuls are emulated (measured 20-40x slower than fp32): train in fp32
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: hardware_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    messages: list[str] = []
    cpu = torch.device("cpu")
    assert runtime.resolve_precision(cpu, "bf16", messages.append) == ("bf16" if hardware_bf16 else "fp32")
    assert bool(messages) is not hardware_bf16 and all("fp32" in m for m in messages)
    assert runtime.resolve_precision(cpu, "fp32") == "fp32"
    clock = FakeClock()
    monkeypatch.setattr(train_module.time, "monotonic", clock.monotonic)
    config = TrainConfig(epochs=1, lr=0.1, precision="bf16", progress=False, device="cpu")
    summary = Trainer(TinyTask(clock, 1.0), config, tmp_path, log=lambda m: None).fit()
    assert summary["precision"] == ("bf16" if hardware_bf16 else "fp32")
    assert json.loads((tmp_path / "saved.json").read_text())["precision"] == summary["precision"]


@pytest.mark.parametrize("hardware_bf16", [False, True])
def test_precision_auto_is_bf16_only_where_the_hardware_runs_it(monkeypatch, hardware_bf16):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: hardware_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    messages: list[str] = []
    got = runtime.resolve_precision(torch.device("cpu"), "auto", messages.append)
    assert got == ("bf16" if hardware_bf16 else "fp32") and not messages  # auto says nothing: it chose
    assert TrainConfig().precision == "auto"


@pytest.mark.parametrize("text, minutes", [("90s", 1.5), ("30m", 30.0), ("1.5h", 90.0), ("45", 45.0), (20, 20.0)])
def test_max_time_takes_seconds_minutes_and_hours(text, minutes):
    from seqlab.api import make_config

    assert make_config("classify", settings={"max_time": text}).train.max_time == pytest.approx(minutes)


def test_max_time_refuses_a_bad_duration():
    from seqlab.api import make_config
    from seqlab.errors import SeqlabError

    with pytest.raises(SeqlabError, match="90s, 30m or 1.5h"):
        make_config("classify", settings={"max_time": "soonh"})


def test_fit_restores_the_callers_thread_count(tmp_path):
    torch.set_num_threads(1)
    config = TrainConfig(epochs=1, lr=0.1, progress=False, threads=2)
    Trainer(TinyTask(FakeClock(), 1.0), config, tmp_path, log=lambda *_: None).fit()
    assert torch.get_num_threads() == 1


def test_without_a_terminal_progress_is_a_plain_line_now_and_then(tmp_path, monkeypatch, capsys):
    """A redirected log gets no bar redraws: one line per PLAIN_PROGRESS_SECONDS of training."""
    clock = FakeClock()
    monkeypatch.setattr(train_module, "time", clock)
    lines: list[str] = []
    config = TrainConfig(epochs=1, lr=0.1, progress=True, threads=1)
    Trainer(TinyTask(clock, 10.0, batches_per_epoch=30), config, tmp_path, log=lines.append).fit()
    assert "\r" not in capsys.readouterr().err  # pytest's stderr is not a terminal: no bar
    batch_lines = [line for line in lines if " batch " in line]
    assert len(batch_lines) == 10  # 300 s of steps, a line every 30 s


def test_a_stop_inside_an_epoch_resumes_inside_it(tmp_path, monkeypatch):
    """A time budget that ends mid-epoch leaves the epoch unfinished; --resume runs exactly the batches left."""
    clock = FakeClock()
    monkeypatch.setattr(train_module, "time", clock)
    seen: list[int] = []

    class Recording(TinyTask):
        def loss(self, batch):
            seen.append(batch)
            return super().loss(batch)

    config = TrainConfig(epochs=2, lr=0.1, progress=False, threads=1, max_time=0.25, patience=None)  # 15 steps
    first = Trainer(Recording(clock, 1.0), config, tmp_path, log=lambda *_: None).fit()
    assert first["epochs_run"] == 1 and len(seen) in (15, 16)
    done = len(seen)
    seen.clear()
    resumed = TrainConfig(epochs=2, lr=0.1, progress=False, threads=1, patience=None)
    summary = Trainer(Recording(clock, 1.0), resumed, tmp_path, log=lambda *_: None).fit(resume=True)
    assert seen == list(range(done - 10, 10)) and summary["epochs_run"] == 2 and summary["steps"] == 20
