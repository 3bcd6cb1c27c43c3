"""Serving benchmark: ``seqlab serve`` under load on loopback, with dynamic micro-batching on and off.

For each model directory given, the server runs in its own process (``python -m seqlab.serve``) and this
process is the load generator (asyncio over keep-alive HTTP/1.1 connections, a bounded number of requests, one
text each) at several concurrencies: requests/s, p50/p95/p99 latency, errors, the mean batch the server formed
(from its /metrics) and its memory. Then an overload run (concurrency above a small ``--max-queue``: 503s expected,
no crash, memory flat), and the model's offline ``predict`` throughput at batch 256 in this process for comparison.
The serve section of ``benchmarks/RESULTS.md`` is generated from the measured rows (kept in
``benchmarks/serve-rows.json``).

Run from the repository root (texts: the model's own test split, or ``--texts FILE`` with one text per line)::

    SEQLAB_DATA=../shared/data python benchmarks/serve.py runs/imdb-bag runs/imdb-rnn runs/de-en
    python benchmarks/serve.py bag=runs/imdb-bag --requests 2000 --concurrency 1 8 32 128
    python benchmarks/serve.py runs/tiny --requests 100 --concurrency 1 8 --results /tmp/r.md --rows /tmp/rows.json  # smoke

On a 2-core machine the load generator and the server share the cores: the numbers are a floor for a server with
the machine to itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe, machine_lines  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
START, END = "<!-- serve:start", "<!-- serve:end -->"
SPEEDUP_TARGET = {"rnn": 5.0}  # batching on / off requests/s at concurrency 32 (the target for the rnn)
OFFLINE_SHARE_TARGET = {"bag": 0.5}  # served requests/s over offline predict at batch 256 (the bag's target)
TAIL_TARGET = 4.0  # p99 < 4 x p50 at concurrency 8 (batching on)
FALLBACK_TEXTS = [
    "A wonderful, moving film with a superb cast.", "Two hours of my life I will never get back.",
    "The plot was thin but the acting carried it.", "Ein Mann fährt mit dem Fahrrad durch die Stadt.",
    "Zwei Kinder spielen im Park mit einem Ball.", "An absolute gem: funny, warm and beautifully shot.",
]


# ---------------------------------------------------------------------------- texts and models
def model_texts(model_dir: Path, limit: int, texts_file: str | None) -> tuple[str, str, list[str]]:
    """(task, architecture, texts to send): the model's test split where it can be read, else fallback texts."""
    import seqlab

    model = seqlab.load(model_dir)
    arch = getattr(model.config, "model_name", "?")
    if texts_file:
        texts = [t for t in Path(texts_file).read_text(encoding="utf-8").splitlines() if t.strip()]
    else:
        texts = []
        try:
            if model.task == "classify":
                from seqlab.data.classification import load_split

                texts = load_split(model.config.data, "test").texts
            elif model.task == "translate":
                from seqlab.data.parallel import load_split as load_parallel

                texts = load_parallel(model.config.data, "test").src
        except Exception as exc:  # a user's file without a test split, data not on this machine, ...
            print(f"  (no test split for {model_dir}: {exc}; sending built-in texts)", flush=True)
        texts = [t for t in texts if t.strip()] or FALLBACK_TEXTS
    return model.task, arch, texts[:limit]


def offline_rate(model_dir: Path, task: str, texts: list[str], count: int) -> float | None:
    """Texts/s of the predictor called directly (classifiers at batch 256, translators at batch 64)."""
    import seqlab

    model = seqlab.load(model_dir)
    sample = (texts * (count // max(1, len(texts)) + 1))[:count]
    if task == "classify":
        model.predict(sample[:32], batch_size=256)
        started = time.perf_counter()
        model.predict(sample, batch_size=256)
    elif task == "translate":
        model.translate_detailed(sample[:8], batch_size=64)
        started = time.perf_counter()
        model.translate_detailed(sample, batch_size=64)
    else:
        return None
    return len(sample) / (time.perf_counter() - started)


# ---------------------------------------------------------------------------- the server process
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, name: str, model_dir: Path, flags: list[str], log_path: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.cmd = [sys.executable, "-m", "seqlab.serve", f"{name}={model_dir}", "--port", str(self.port), *flags]
        self.log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(self.cmd, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, seconds: float = 300) -> None:
        import httpx

        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited ({self.proc.returncode}); see {self.log.name}")
            try:
                if httpx.get(f"{self.base}/ready", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        raise RuntimeError("the server did not get ready")

    def rss_mib(self) -> float | None:
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


def batch_stats(metrics_text: str, name: str) -> tuple[float, float]:
    """(texts, batches) so far from the server's seqlab_batch_texts histogram."""
    from prometheus_client.parser import text_string_to_metric_families

    total = count = 0.0
    for family in text_string_to_metric_families(metrics_text):
        for s in family.samples:
            if s.labels.get("model") == name and s.name == "seqlab_batch_texts_sum":
                total = s.value
            elif s.labels.get("model") == name and s.name == "seqlab_batch_texts_count":
                count = s.value
    return total, count


# ---------------------------------------------------------------------------- the load generator
class Connection:
    """One keep-alive HTTP/1.1 connection speaking just enough of the protocol for JSON POSTs.

    Measured on the 2-core machine, httpx's AsyncClient spent 4-9 ms of CPU per request at concurrency 8-32,
    more than the server itself: a load generator that heavy would measure itself. This one costs a few
    hundredths of that, so the cores go to the server.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
                          f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        await self.reader.readexactly(int(headers.get("content-length", 0)))
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass
        self.reader = self.writer = None


async def load(base: str, path: str, bodies: list[dict], concurrency: int, requests: int) -> dict:
    """``requests`` requests from ``concurrency`` workers, each on its own keep-alive connection; latency of each."""
    host, port = base.removeprefix("http://").split(":")
    payloads = [json.dumps(b).encode() for b in bodies]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        connection = Connection(host, int(port))
        try:
            while next_index < requests:
                i = next_index
                next_index += 1
                started = time.perf_counter()
                try:
                    status = await connection.post(path, payloads[i % len(payloads)])
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    status = 0  # connection failure
                    await connection.close()
                if status == 200:
                    latencies.append(time.perf_counter() - started)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    latencies.sort()

    def pct(q: float) -> float | None:
        return 1000 * latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else None

    return {"concurrency": concurrency, "requests": requests, "seconds": wall, "rps": statuses.get(200, 0) / wall,
            "p50_ms": pct(0.50), "p95_ms": pct(0.95), "p99_ms": pct(0.99),
            "mean_ms": 1000 * statistics.fmean(latencies) if latencies else None,
            "errors": requests - statuses.get(200, 0), "statuses": {str(k): v for k, v in sorted(statuses.items())}}


def bodies_for(task: str, texts: list[str]) -> tuple[str, list[dict]]:
    route = {"classify": "classify", "translate": "translate", "tag": "tag"}.get(task)
    if route is None:
        raise SystemExit(f"benchmarks/serve.py measures classify, translate and tag models, not {task!r}")
    return route, [{"texts": [t]} for t in texts]


def bench_model(spec: str, args: argparse.Namespace, logs: Path) -> dict:
    import httpx

    name, _, path = spec.partition("=") if "=" in spec else (Path(spec.rstrip("/")).name, "", spec)
    model_dir = Path(path)
    task, arch, texts = model_texts(model_dir, args.text_limit, args.texts)
    route, bodies = bodies_for(task, texts)
    print(f"== {name}: {task} {arch}, {len(texts)} distinct texts", flush=True)
    common = ["--max-queue", str(args.max_queue), "--timeout", str(args.timeout), "--max-chars", "100000"]
    if args.threads:
        common += ["--threads", str(args.threads)]
    modes = {"on": ["--max-batch", str(args.max_batch), "--max-wait-ms", str(args.max_wait_ms)],
             "off": ["--max-batch", "1", "--max-wait-ms", "0"]}
    runs = []
    for mode, flags in modes.items():
        server = Server(name, model_dir, [*common, *flags], logs / f"serve-{name}-{mode}.log")
        try:
            server.wait_ready()
            url = f"/v1/models/{name}/{route}"
            asyncio.run(load(server.base, url, bodies, 4, min(40, args.requests)))  # warm-up
            for concurrency in args.concurrency:
                before = batch_stats(httpx.get(f"{server.base}/metrics").text, name)
                result = asyncio.run(load(server.base, url, bodies, concurrency, args.requests))
                after = batch_stats(httpx.get(f"{server.base}/metrics").text, name)
                batches = after[1] - before[1]
                result.update(batching=mode, mean_batch=(after[0] - before[0]) / batches if batches else None,
                              server_rss_mib=server.rss_mib())
                runs.append(result)
                print(f"  batching {mode:3} c={concurrency:<4} {result['rps']:8.1f} req/s  p50 {result['p50_ms'] or 0:7.1f} "
                      f"p99 {result['p99_ms'] or 0:8.1f} ms  errors {result['errors']}  mean batch "
                      f"{result['mean_batch'] or 0:.1f}", flush=True)
        finally:
            server.stop()
    overload = overload_run(name, model_dir, route, bodies, args, logs)
    offline = offline_rate(model_dir, task, texts, args.offline_count) if args.offline_count else None
    if offline:
        print(f"  offline predict: {offline:,.0f} texts/s", flush=True)
    return {"model": name, "model_dir": str(model_dir), "task": task, "arch": arch, "runs": runs, "overload": overload,
            "offline_rate": offline, "max_batch": args.max_batch, "max_wait_ms": args.max_wait_ms,
            "max_queue": args.max_queue, "threads": args.threads, "machine": describe(),
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "command": "python benchmarks/serve.py " + shlex.join(sys.argv[1:])}


def overload_run(name: str, model_dir: Path, route: str, bodies: list[dict], args: argparse.Namespace,
                 logs: Path) -> dict:
    """Concurrency 4x a small queue: the extra requests must get 503 (no other error), the server must live on,
    and its memory must stay flat across rounds."""
    import httpx

    queue = args.overload_queue
    server = Server(name, model_dir, ["--max-queue", str(queue), "--max-texts", "1", "--max-batch", str(args.max_batch),
                                      "--max-wait-ms", str(args.max_wait_ms)] +
                    (["--threads", str(args.threads)] if args.threads else []), logs / f"serve-{name}-overload.log")
    try:
        server.wait_ready()
        url = f"/v1/models/{name}/{route}"
        rss, statuses = [], {}
        for _ in range(3):
            result = asyncio.run(load(server.base, url, bodies, 4 * queue, args.requests))
            rss.append(server.rss_mib())
            for k, v in result["statuses"].items():
                statuses[k] = statuses.get(k, 0) + v
        healthy = server.alive() and httpx.get(f"{server.base}/health").status_code == 200
    finally:
        server.stop()
    out = {"max_queue": queue, "concurrency": 4 * queue, "requests": 3 * args.requests, "statuses": statuses,
           "alive": healthy, "rss_mib": rss}
    print(f"  overload (queue {queue}, concurrency {4 * queue}): {statuses}, alive {healthy}, RSS {rss}", flush=True)
    return out


# ---------------------------------------------------------------------------- RESULTS.md
def _run(row: dict, mode: str, concurrency: int) -> dict | None:
    return next((r for r in row["runs"] if r["batching"] == mode and r["concurrency"] == concurrency), None)


def verdicts(row: dict) -> list[str]:
    out = []
    on32, off32 = _run(row, "on", 32), _run(row, "off", 32)
    target = SPEEDUP_TARGET.get(row["arch"])
    if on32 and off32 and off32["rps"] > 0:
        speedup = on32["rps"] / off32["rps"]
        text = f"batching on/off at concurrency 32: {speedup:.1f}x"
        if target:
            text += f" (target >= {target:g}x: " + ("met)" if speedup >= target else "**missed**)")
        out.append(text)
    share_target = OFFLINE_SHARE_TARGET.get(row["arch"])
    if row.get("offline_rate"):
        best = max((r["rps"] for r in row["runs"] if r["batching"] == "on"), default=0.0)
        share = best / row["offline_rate"]
        text = f"best served rate {best:,.0f}/s = {share:.0%} of offline predict ({row['offline_rate']:,.0f}/s)"
        if share_target:
            text += f" (target >= {share_target:.0%}: " + ("met)" if share >= share_target else "**missed**)")
        out.append(text)
    on8 = _run(row, "on", 8)
    if on8 and on8["p50_ms"]:
        ratio = on8["p99_ms"] / on8["p50_ms"]
        out.append(f"p99/p50 at concurrency 8: {ratio:.1f} (target < {TAIL_TARGET:g}: "
                   + ("met)" if ratio < TAIL_TARGET else "**missed**)"))
    below = [r for r in row["runs"] if r["concurrency"] <= row["max_queue"]]
    errors = sum(r["errors"] for r in below)
    out.append(f"errors below the queue limit: {errors}" + ("" if errors == 0 else " (**must be 0**)"))
    o = row.get("overload")
    if o:
        others = {k: v for k, v in o["statuses"].items() if k not in ("200", "503")}
        rss = o["rss_mib"]
        growth = (rss[-1] - rss[0]) if rss and None not in rss else None
        ok = o["alive"] and not others and o["statuses"].get("503", 0) > 0
        out.append(f"overload (queue {o['max_queue']}, concurrency {o['concurrency']}, {o['requests']} requests): "
                   f"{o['statuses'].get('503', 0)} answered 503, {o['statuses'].get('200', 0)} served, other errors "
                   f"{sum(others.values())}, server {'alive' if o['alive'] else '**died**'}, RSS over 3 rounds "
                   + (" / ".join(f"{m:.0f}" for m in rss) + f" MiB ({growth:+.0f})" if growth is not None else "n/a")
                   + ("" if ok else " (**not as required**)"))
    return out


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def write_results(rows: list[dict], path: Path) -> None:
    machines, header = machine_lines(rows)
    lines = [f"{START} (generated by benchmarks/serve.py; do not edit by hand) -->", "## Serving (seqlab serve)", "",
             *header,
             "One text per request, a load generator in a second process on loopback (asyncio, one keep-alive connection "
             "per concurrent client; it shares the cores with the server). Batching on: `--max-batch` / `--max-wait-ms` "
             "as listed; off: `--max-batch 1`. Mean batch: texts per model call, from the server's /metrics.", "",
             "| model | task | batching | concurrency | requests | req/s | p50 ms | p95 ms | p99 ms | errors "
             "| mean batch | server RSS | machine | date |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for row in rows:
        for r in row["runs"]:
            lines.append(f"| {row['model']} | {row['task']} {row['arch']} | {r['batching']} | {r['concurrency']} | "
                         f"{r['requests']:,} | {r['rps']:,.1f} | {_ms(r['p50_ms'])} | {_ms(r['p95_ms'])} | "
                         f"{_ms(r['p99_ms'])} | {r['errors']} | {_ms(r['mean_batch'])} | "
                         f"{_ms(r['server_rss_mib'])} MiB | {machines[row['machine']]} | {row['date']} |")
    lines.append("")
    for row in rows:
        lines.append(f"- `{row['model']}` ({row['task']} {row['arch']}; batching on: max batch {row['max_batch']}, "
                     f"max wait {row['max_wait_ms']:g} ms, max queue {row['max_queue']}; torch threads "
                     f"{row['threads'] or 'all'}; run as `{row['command']}`):")
        lines += [f"  - {v}" for v in verdicts(row)]
    lines.append(END)
    section = "\n".join(lines)
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n\n"
    if START in text and END in text:
        text = text[: text.index(START)] + section + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", metavar="MODEL_DIR|NAME=DIR")
    parser.add_argument("--requests", type=int, default=2000, help="requests per concurrency level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32, 128])
    parser.add_argument("--max-batch", type=int, default=64)
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    parser.add_argument("--max-queue", type=int, default=1024)
    parser.add_argument("--overload-queue", type=int, default=16, help="the small queue of the overload run")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--threads", type=int, default=None, help="the server's torch threads (default: all cores)")
    parser.add_argument("--texts", default=None, help="a file with one text per line (default: the test split)")
    parser.add_argument("--text-limit", type=int, default=5000, help="distinct texts to cycle through")
    parser.add_argument("--offline-count", type=int, default=5000, help="texts for the offline rate (0: skip)")
    parser.add_argument("--results", default=str(HERE / "RESULTS.md"))
    parser.add_argument("--rows", default=str(HERE / "serve-rows.json"))
    parser.add_argument("--logs", default=str(HERE / "runs" / "logs"))
    args = parser.parse_args()
    logs = Path(args.logs)
    logs.mkdir(parents=True, exist_ok=True)
    rows_path = Path(args.rows)
    for spec in args.models:
        row = bench_model(spec, args, logs)
        previous = json.loads(rows_path.read_text()) if rows_path.exists() else {}
        previous[row["model"]] = row
        rows_path.parent.mkdir(parents=True, exist_ok=True)
        rows_path.write_text(json.dumps(previous, indent=2) + "\n")
    rows = list(json.loads(rows_path.read_text()).values())
    write_results(rows, Path(args.results))
    print(f"wrote {args.results}")


if __name__ == "__main__":
    main()
