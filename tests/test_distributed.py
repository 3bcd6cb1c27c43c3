"""Data-parallel training under torchrun (gloo, CPU): 2 processes equal 1 process with --accumulate 2, no hang on
tiny data, two launchers on loopback, exact resume after SIGKILL (same and another world size), a dying rank, and
rank 0 as the only writer. Every run has a timeout, so a hang fails the test instead of stalling CI."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from seqlab import distributed
from seqlab.errors import SeqlabError
from seqlab.train import TRACE_ENV

pytestmark = pytest.mark.slow  # each test starts torchrun (about 5-10 s a launch on 2 cores)

RUN_TIMEOUT = 50  # seconds for one launch: well under the 60 s a test may take; a hang fails here
TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]
# fp32, no dropout, one thread: runs that must agree to the bit
SETTINGS = ["--epochs", "1", "--batch-size", "4", "--no-progress", "--eval-every", "1000", "--lr", "0.05",
            "--threads", "1", "--precision", "fp32"]


def _reviews(path: Path, n: int, seed: int = 3) -> Path:
    from conftest import make_reviews

    path.write_text("".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in make_reviews(n, seed)),
                    encoding="utf-8")
    return path


def _env(trace: Path | None = None) -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    env.pop(TRACE_ENV, None)
    if trace is not None:
        env[TRACE_ENV] = str(trace)
    return env


def _launch(nproc: int, args: list[str], *, launcher: list[str] | None = None) -> list[str]:
    """``torchrun --standalone --nproc-per-node N -m seqlab train classify ARGS`` (a free port of its own)."""
    return [*TORCHRUN, *(launcher or ["--standalone"]), "--nproc-per-node", str(nproc), "-m", "seqlab", "train",
            "classify", *args]


def _run(command: list[str], trace: Path | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(command, env=_env(trace), capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _alone(args: list[str], trace: Path | None = None) -> subprocess.CompletedProcess:
    return _run([sys.executable, "-m", "seqlab", "train", "classify", *args], trace)


def _records(trace: Path, rank: int | None = None) -> list[dict]:
    files = [trace / f"rank{rank}.jsonl"] if rank is not None else sorted(trace.glob("rank*.jsonl"))
    return [json.loads(line) for f in files if f.exists() for line in f.read_text().splitlines()]


def _sequence(trace: Path) -> list[tuple[int, int, list]]:
    """The batches trained, over all ranks, in the order of the shared sample sequence."""
    return sorted((r["epoch"], r["position"], r["batch"]) for r in _records(trace) if "batch" in r)


def _digests(trace: Path, world: int) -> list[str]:
    return [next(r["final_digest"] for r in _records(trace, rank) if "final_digest" in r) for rank in range(world)]


def _final_weights(out: Path) -> dict[str, torch.Tensor]:
    return torch.load(out / "checkpoint.pt", weights_only=True)["model"]


def _state(out: Path) -> dict:
    return json.loads(torch.load(out / "checkpoint.pt", weights_only=True)["state"])


def _max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _rank_of(pid: int) -> int | None:
    try:
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    ranks = [int(e.split(b"=", 1)[1]) for e in env if e.startswith(b"RANK=")]
    return ranks[0] if ranks else None


# ---------------------------------------------------------------------------- (a) the same weights, bit for bit
@pytest.mark.parametrize("model", [["--model", "bag"],  # sparse: SparseAdam on the NB-weighted feature table
                                   ["--model", "bag", "--weighting", "mean", "--emb-size", "8"],  # sparse + dense
                                   ["--model", "rnn", "--hidden-size", "8", "--emb-size", "8", "--dropout", "0",
                                    "--embeddings", "none", "--lr", "0.01"]])
def test_two_processes_equal_one_process_accumulating_two(tmp_path, model):
    data = _reviews(tmp_path / "reviews.jsonl", 200)  # 180 train: 45 batches of 4, 23 steps of 2 batches
    args = ["--data", str(data), *SETTINGS, *model]
    _run(_launch(2, [*args, "--out", str(tmp_path / "two")]), trace=tmp_path / "trace-two")
    _alone([*args, "--accumulate", "2", "--out", str(tmp_path / "one")], trace=tmp_path / "trace-one")
    assert _state(tmp_path / "two")["step"] == _state(tmp_path / "one")["step"] >= 20
    assert _max_diff(_final_weights(tmp_path / "two"), _final_weights(tmp_path / "one")) <= 1e-6
    rank0, rank1 = _digests(tmp_path / "trace-two", 2)
    assert rank0 == rank1  # the two ranks hold bit-identical weights
    assert _sequence(tmp_path / "trace-two") == _sequence(tmp_path / "trace-one")  # the same batches, shared out


# ---------------------------------------------------------------------------- (b) tiny, prime-sized data
def test_no_hang_on_a_prime_sized_dataset_smaller_than_the_global_batch(tmp_path):
    train = _reviews(tmp_path / "train.jsonl", 13)  # 13 examples: one batch; 2 processes x batch 16 = 32
    valid = _reviews(tmp_path / "valid.jsonl", 5, seed=4)
    out, trace = tmp_path / "model", tmp_path / "trace"
    started = time.monotonic()
    _run(_launch(2, ["--data", str(train), "--valid-data", str(valid), "--epochs", "3", "--batch-size", "16",
                     "--no-progress", "--threads", "1", "--out", str(out)]), trace=trace)
    assert time.monotonic() - started < RUN_TIMEOUT
    assert _state(out)["epoch"] == 3
    seen = _sequence(trace)
    assert sorted(i for _, _, batch in seen for i in batch) == sorted(list(range(13)) * 3)  # each example once an epoch
    assert not [r for r in _records(trace, 1) if "batch" in r]  # rank 1 ran padding batches only
    rank0, rank1 = _digests(trace, 2)
    assert rank0 == rank1


# ---------------------------------------------------------------------------- (c) two launchers on loopback
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_nodes_on_loopback_train_one_model(tmp_path):
    data = _reviews(tmp_path / "reviews.jsonl", 120)
    out, trace = tmp_path / "model", tmp_path / "trace"
    port = _free_port()
    launchers = [subprocess.Popen(
        _launch(1, ["--data", str(data), *SETTINGS, "--out", str(out)],
                launcher=["--nnodes", "2", "--node-rank", str(node), "--rdzv-backend", "c10d",
                          "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "seqlab-test"]),
        env=_env(trace), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for node in (0, 1)]
    try:
        results = [p.communicate(timeout=RUN_TIMEOUT) for p in launchers]
    finally:
        for p in launchers:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in launchers] == [0, 0], "\n".join(err[-2000:] for _, err in results)
    assert (out / "model.safetensors").is_file()
    rank0, rank1 = _digests(trace, 2)
    assert rank0 == rank1
    positions = [(r["epoch"], r["position"]) for r in _records(trace) if "batch" in r]
    assert len(positions) == len(set(positions)) == 27  # 108 train examples / 4: every batch once, on one rank
    assert {r["position"] % 2 for r in _records(trace, 1) if "batch" in r} == {1}  # rank 1 took its share


# ---------------------------------------------------------------------------- (d) SIGKILL to the launcher, --resume
def _kill_launcher_mid_epoch(command: list[str], trace: Path, out: Path, after_batches: int) -> None:
    """Start ``command``; once ``after_batches`` batches are traced and a checkpoint exists, SIGKILL the launcher
    and wait for its workers to go (they notice their launcher is gone within a second)."""
    from conftest import wait_until

    launcher = subprocess.Popen(command, env=_env(trace), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: (len(_records(trace)) >= after_batches and (out / "checkpoint.pt").exists())
                   or launcher.poll() is not None, timeout=RUN_TIMEOUT, message="training under way")
        workers = _children(launcher.pid)
        assert launcher.poll() is None, "the run ended before it could be killed"
        launcher.send_signal(signal.SIGKILL)
        assert launcher.wait(timeout=10) == -signal.SIGKILL
        wait_until(lambda: not any(_alive(w) for w in workers), timeout=15, message="the workers to end")
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()


def _before_checkpoint(trace: Path, state: dict) -> list[tuple[int, int, list]]:
    """The batches of an interrupted run that its last checkpoint holds (a resume redoes the others)."""
    done = state.get("batches_done", 0)
    return [(e, p, b) for e, p, b in _sequence(trace) if e <= state["epoch"] or (e == state["epoch"] + 1 and p < done)]


def test_sigkill_to_the_launcher_then_resume_continues_the_same_sequence(tmp_path):
    data = _reviews(tmp_path / "reviews.jsonl", 600)  # 540 train: 270 batches of 2, 135 steps an epoch
    # token dropout draws from each rank's RNG every step: the resumed ranks must restore theirs exactly
    args = ["--data", str(data), "--epochs", "3", "--batch-size", "2", "--no-progress", "--eval-every", "1000",
            "--threads", "1", "--precision", "fp32", "--token-dropout", "0.2", "--checkpoint-every", "10"]
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    _kill_launcher_mid_epoch(_launch(2, [*args, "--out", str(killed)]), tmp_path / "trace-killed", killed,
                             after_batches=300)
    state = _state(killed)
    assert "batches_done" in state and 0 < state["epoch"] + 1 <= 3  # the last checkpoint is inside an epoch
    resumed = _run(_launch(2, [*args, "--out", str(killed), "--resume"]), trace=tmp_path / "trace-resumed")
    assert f"{state['batches_done']} batches into epoch {state['epoch'] + 1}" in resumed.stdout
    _run(_launch(2, [*args, "--out", str(whole)]), trace=tmp_path / "trace-whole")
    interrupted = _before_checkpoint(tmp_path / "trace-killed", state) + _sequence(tmp_path / "trace-resumed")
    assert sorted(interrupted) == _sequence(tmp_path / "trace-whole")
    assert _max_diff(_final_weights(killed), _final_weights(whole)) == 0.0


# ---------------------------------------------------------------------------- (e) resume on another world size
def test_resume_on_one_process_keeps_the_global_batch_and_says_so(tmp_path):
    data = _reviews(tmp_path / "reviews.jsonl", 200)
    args = ["--data", str(data), "--batch-size", "4", "--no-progress", "--eval-every", "1000", "--lr", "0.05",
            "--threads", "1", "--precision", "fp32", "--schedule", "none"]
    split, whole = tmp_path / "split", tmp_path / "whole"
    _run(_launch(2, [*args, "--epochs", "1", "--out", str(split)]), trace=tmp_path / "trace-first")
    resumed = _alone([*args, "--epochs", "2", "--out", str(split), "--resume"], trace=tmp_path / "trace-second")
    said = [line for line in resumed.stdout.splitlines() if "keeps the global batch" in line]
    assert said == ["resuming on 1 process instead of 2: --accumulate 2 keeps the global batch of 2 batches "
                    "(was --accumulate 1)"]
    _run(_launch(2, [*args, "--epochs", "2", "--out", str(whole)]), trace=tmp_path / "trace-whole")
    assert _sequence(tmp_path / "trace-first") + _sequence(tmp_path / "trace-second") == \
        _sequence(tmp_path / "trace-whole")
    assert _state(split)["step"] == _state(whole)["step"]
    assert _max_diff(_final_weights(split), _final_weights(whole)) <= 1e-6


def test_resume_on_a_world_size_that_cannot_keep_the_global_batch_is_refused(tmp_path):
    data = _reviews(tmp_path / "reviews.jsonl", 60)
    out = tmp_path / "model"
    args = ["--data", str(data), "--batch-size", "4", "--no-progress", "--threads", "1"]
    _alone([*args, "--epochs", "1", "--accumulate", "3", "--out", str(out)])
    result = subprocess.run(_launch(2, [*args, "--epochs", "2", "--out", str(out), "--resume"]), env=_env(),
                            capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert result.returncode != 0
    assert "seqlab: error: --resume on 2 processes cannot keep the global batch of 3 batches" in result.stderr


# ---------------------------------------------------------------------------- (f) a rank that dies
def test_a_rank_that_dies_ends_the_job_with_a_clear_message(tmp_path):
    from conftest import wait_until

    data = _reviews(tmp_path / "reviews.jsonl", 600)
    trace = tmp_path / "trace"
    command = _launch(2, ["--data", str(data), "--epochs", "5", "--batch-size", "2", "--no-progress",
                          "--threads", "1", "--out", str(tmp_path / "model")])
    launcher = subprocess.Popen(command, env=_env(trace), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: len(_records(trace, 1)) >= 20 or launcher.poll() is not None, timeout=RUN_TIMEOUT,
                   message="rank 1 training")
        rank1 = [pid for pid in _children(launcher.pid) if _rank_of(pid) == 1]
        assert rank1 and launcher.poll() is None
        os.kill(rank1[0], signal.SIGKILL)
        killed_at = time.monotonic()
        _, err = launcher.communicate(timeout=30)
        assert time.monotonic() - killed_at < 30  # bounded: no rank waits for the dead one
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
    assert launcher.returncode != 0
    # torchrun names the rank that failed and why; rank 0, if it got there first, says what it saw in one line
    assert "rank      : 1" in err and "Signal 9 (SIGKILL)" in err, err[-3000:]


# ---------------------------------------------------------------------------- (g) rank 0 writes, alone
AUDIT = '''
import os, sys
log, out = os.environ["AUDIT_LOG"], os.path.realpath(os.environ["AUDIT_OUT"])
writing = ("os.rename", "os.replace", "os.remove", "os.mkdir", "os.rmdir", "shutil.rmtree", "os.truncate")

def hook(event, args, busy=[]):
    if busy or not (event == "open" or event in writing) or not args or not isinstance(args[0], (str, bytes, os.PathLike)):
        return
    if event == "open":
        mode, flags = args[1], args[2] if len(args) > 2 else 0
        if not ((isinstance(mode, str) and any(c in mode for c in "wax+")) or (isinstance(flags, int) and flags & 3)):
            return
    paths = [os.path.realpath(os.fsdecode(a)) for a in args[:2] if isinstance(a, (str, bytes, os.PathLike))]
    if any(p == out or p.startswith(out + os.sep) for p in paths):
        busy.append(1)
        with open(log, "a") as fh:
            fh.write(f"{os.environ.get('RANK')} {event} {paths[0]}\\n")
        busy.pop()

sys.addaudithook(hook)
from seqlab.cli import main
sys.exit(main())
'''


def test_only_rank_0_writes_the_model_directory(tmp_path):
    data = _reviews(tmp_path / "reviews.jsonl", 120)
    out, log = tmp_path / "model", tmp_path / "writes.log"
    script = tmp_path / "audited_seqlab.py"
    script.write_text(AUDIT, encoding="utf-8")
    env = {**_env(), "AUDIT_LOG": str(log), "AUDIT_OUT": str(out)}
    command = [*TORCHRUN, "--standalone", "--nproc-per-node", "2", str(script), "train", "classify", "--data", str(data),
               *SETTINGS, "--out", str(out)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert result.returncode == 0, result.stderr[-3000:]
    writers = [line.split()[0] for line in log.read_text().splitlines()]
    assert writers and set(writers) == {"0"}  # model.safetensors, config.json, checkpoint.pt, metrics.jsonl, ...
    assert {"model.safetensors", "checkpoint.pt", "metrics.jsonl"} <= {p.name for p in out.iterdir()}
    assert result.stdout.count("model saved in") == 1  # one summary for the job


# ---------------------------------------------------------------------------- the place, torch-free
def test_place_from_torchrun_environment():
    assert distributed.place_from_env({}) == distributed.Place(0, 1, 0)
    where = distributed.place_from_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"})
    assert (where.rank, where.world, where.local_rank, where.main, where.data_phase) == (3, 4, 1, False, 2)
    assert distributed.place_from_env({"RANK": "2", "WORLD_SIZE": "4", "LOCAL_RANK": "0"}).data_phase == 1
    with pytest.raises(SeqlabError, match="RANK 4 is not among WORLD_SIZE 4"):
        distributed.place_from_env({"RANK": "4", "WORLD_SIZE": "4"})


def test_train_config_checks_the_new_settings():
    from seqlab.train_config import TrainConfig

    assert TrainConfig(accumulate=4, checkpoint_every=100, checkpoint_interval=1.5).accumulate == 4
    for bad in ({"accumulate": 0}, {"checkpoint_every": 0}, {"checkpoint_interval": -1.0}, {"dist_timeout": 0.0}):
        with pytest.raises(SeqlabError):
            TrainConfig(**bad)  # type: ignore[arg-type]
