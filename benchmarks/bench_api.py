"""API latency under load while the trading replay writes: p50/p99 per read endpoint.

Usage: .venv/bin/python benchmarks/bench_api.py [DATA_DIR] [--clients 50] [--requests 20000]
       [--seconds 60] [--replay-days 2] [--writer replay|steps|none]

DATA_DIR (default: data/) must hold a demo warehouse with champions (`cryptobot demo`). The
benchmark works on a copy (warehouse and MLflow store): nothing in DATA_DIR is written.

1. The copy's trading tables are emptied (a fresh paper account, as ``bench_trade.py`` does), so
   the replay has bars to trade; an API token is created.
2. ``cryptobot api serve`` starts on 127.0.0.1 (one uvicorn process, rate limit raised out of
   the way) and its first snapshot is made.
3. The writer starts: ``cryptobot trade --replay-days N`` (``replay``: the real trading flow,
   one transaction per bar, holding the write lock for the whole replay), or ``steps``: a
   process committing one small transaction every 100 ms with the lock taken per step (the
   locked-copy path), or ``none``.
4. Once the writer holds the lock, ``--clients`` concurrent clients (aiohttp, asyncio) each send
   requests back to back (closed loop; or ``--rate`` requests per second each, open loop, the
   latency counted from each request's scheduled time), cycling through the endpoints (pages
   and filters varied), until ``--requests`` requests or ``--seconds`` seconds, whichever
   first.

Printed: per endpoint the requests, p50/p99/max latency as the client saw it (connect to last
byte), non-200 answers; the throughput; the snapshot's copies (lock-free and locked) and the
write-lock seconds they cost the writer; the snapshot age seen in the responses; and whether
the writer finished, with its own summary line. Clients, server and writer share this
machine's cores: the figures include that contention.

The clients use aiohttp, not httpx: httpx's async client spent about 4 ms of CPU per request on
the reference machine (200 requests/s from one client, 90/s from 50 concurrent ones), so it
measured itself; aiohttp answers the same server at 950 requests/s from one client.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402
import httpx  # noqa: E402

PYTHON = sys.executable
TRADING_TABLES = ("trade_decisions", "orders", "trades", "positions", "equity_curve")

STEP_WRITER = r"""
import sys, time, uuid
from datetime import datetime
from cryptobot.warehouse.db import write_connection
path, seconds = sys.argv[1], float(sys.argv[2])
end = time.monotonic() + seconds
steps = 0
while time.monotonic() < end:
    with write_connection(path) as con:
        con.execute("begin transaction")
        con.execute(
            "insert into ingest_batches (id, source, table_name, status, started_at, finished_at)"
            " values (?, 'bench', 'market_data', 'ok', ?, ?)",
            [uuid.uuid4().hex, datetime.utcnow(), datetime.utcnow()],
        )
        con.execute("commit")
    steps += 1
    time.sleep(0.1)
print(f"steps writer: {steps} transactions")
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def prepare(source: Path, work: Path, replay_days: float) -> None:
    shutil.copy(source / "warehouse.duckdb", work / "warehouse.duckdb")
    if (source / "mlflow.db").exists():
        shutil.copy(source / "mlflow.db", work / "mlflow.db")
    if (source / "mlartifacts").exists():
        os.symlink(source / "mlartifacts", work / "mlartifacts")
    with duckdb.connect(str(work / "warehouse.duckdb")) as con:
        for table in TRADING_TABLES:  # a fresh account, as bench_trade.py starts it
            con.execute(f"delete from {table}")


def endpoints(run_id: str | None, symbols: list[str], model: str | None) -> list[tuple]:
    """(name, path, params factory) of every read endpoint."""
    pick = random.choice
    found = [
        ("/health/ready", "/health/ready", lambda: None),
        ("/status", "/status", lambda: None),
        ("/positions", "/positions", lambda: None),
        ("/equity", "/equity", lambda: {"limit": 500, "offset": pick([0, 500])}),
        (
            "/orders",
            "/orders",
            lambda: {"limit": 100, "offset": pick([0, 100]), "symbol": pick(symbols)},
        ),
        ("/trades", "/trades", lambda: {"limit": 100, "side": pick(["buy", "sell"])}),
        (
            "/predictions",
            "/predictions",
            lambda: {
                "limit": 100,
                "offset": pick([0, 100, 200]),
                **({"model_name": model} if model else {}),
            },
        ),
        ("/models", "/models", lambda: None),
        ("/backtests", "/backtests", lambda: {"limit": 50}),
        ("/quality", "/quality", lambda: None),
        ("/metrics", "/metrics", lambda: None),
    ]
    if run_id:
        found.append(("/backtests/{run_id}", f"/backtests/{run_id}", lambda: None))
    return found


async def load(
    base: str,
    token: str,
    plan: list[tuple],
    clients: int,
    total: int,
    seconds: float,
    rate: float = 0.0,
) -> tuple[dict, dict, list[float], float]:
    import aiohttp

    latencies: dict[str, list[float]] = defaultdict(list)
    failures: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    ages: list[float] = []
    late: list[float] = []
    sent = 0
    deadline = time.perf_counter() + seconds
    headers = {"Authorization": f"Bearer {token}"}

    async def client(index: int, http) -> None:
        nonlocal sent
        k = index
        begin = time.perf_counter() + random.random() / rate if rate else 0.0
        n = 0
        while sent < total and time.perf_counter() < deadline:
            sent += 1
            name, path, params = plan[k % len(plan)]
            k += 1
            if rate:  # open loop: each request at its scheduled time, its latency counted from
                # that time, so a slow answer that delays the next request is not hidden
                started = begin + n / rate
                n += 1
                await asyncio.sleep(max(0.0, started - time.perf_counter()))
                late.append(time.perf_counter() - started)
            else:
                started = time.perf_counter()
            async with http.get(path, params=params()) as response:
                await response.read()
                latencies[name].append(time.perf_counter() - started)
                if response.status != 200:
                    failures[name][response.status] += 1
                elif "x-snapshot-age" in response.headers:
                    ages.append(float(response.headers["x-snapshot-age"]))

    started = time.perf_counter()
    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(
        base, headers=headers, connector=connector, timeout=timeout
    ) as http:
        await asyncio.gather(*(client(i, http) for i in range(clients)))
    return latencies, failures, ages, late, time.perf_counter() - started


def server_quantiles(metrics: str) -> dict[str, tuple[float, float]]:
    """Per route, the upper bounds (ms) of the histogram buckets holding the server's own p50 and
    p99 of its 200 answers (``cryptobot_api_request_duration_seconds``: from the request reaching
    the app to its answer, so without the clients' and the machine's queueing)."""
    from prometheus_client.parser import text_string_to_metric_families

    buckets: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for family in text_string_to_metric_families(metrics):
        if family.name != "cryptobot_api_request_duration_seconds":
            continue
        for sample in family.samples:
            if sample.name.endswith("_bucket") and sample.labels.get("status") == "200":
                bound = float(sample.labels["le"])
                buckets[sample.labels["route"]].append((bound, sample.value))
    found = {}
    for route, pairs in buckets.items():
        pairs.sort()
        total = pairs[-1][1]

        def bound(q: float, pairs=pairs, total=total) -> float:
            return next(b for b, count in pairs if count >= q * total) * 1000

        found[route] = (bound(0.5), bound(0.99))
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data_dir", nargs="?", default=str(ROOT / "data"))
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--replay-days", type=float, default=2.0)
    parser.add_argument("--writer", choices=["replay", "steps", "none"], default="replay")
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="scheduling niceness of the server, the writer and the clients (negative needs "
        "root): on a machine shared with other work, how the API does when it gets the CPU",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="requests per second per client (open loop); 0: back to back (closed loop)",
    )
    args = parser.parse_args()
    source = Path(args.data_dir).resolve()
    work = Path(tempfile.mkdtemp(prefix="bench-api-"))
    prepare(source, work, args.replay_days)
    env = os.environ | {
        "PYTHONPATH": str(ROOT),
        "CRYPTOBOT_WAREHOUSE": str(work / "warehouse.duckdb"),
        "CRYPTOBOT_DATA_DIR": str(work),
        "CRYPTOBOT_API__RATE_LIMIT_PER_SECOND": "1000000",
        "CRYPTOBOT_API__RATE_LIMIT_BURST": "1000000",
    }
    os.environ.update({k: env[k] for k in ("CRYPTOBOT_WAREHOUSE", "CRYPTOBOT_DATA_DIR")})
    from cryptobot.api.tokens import create_token
    from cryptobot.warehouse.lock import read_holder

    token, _ = create_token(work / "warehouse.duckdb", "bench")
    with duckdb.connect(str(work / "warehouse.duckdb"), read_only=True) as con:
        run = con.execute("select run_id from backtest_runs where role = 'strategy' limit 1")
        run_id = (run.fetchone() or [None])[0]
        symbols = [
            r[0] for r in con.execute("select distinct symbol from ml_predictions").fetchall()
        ]
        model = con.execute("select any_value(model_name) from ml_predictions").fetchone()[0]
        sizes = con.execute(
            "select (select count(*) from market_data), (select count(*) from ml_predictions), "
            "(select count(*) from backtest_runs), 0"
        ).fetchone()
    size_mb = (work / "warehouse.duckdb").stat().st_size / 1e6
    print(
        f"warehouse copy {work / 'warehouse.duckdb'}: {size_mb:.0f} MB, {sizes[0]:,} bars, "
        f"{sizes[1]:,} predictions, {sizes[2]:,} backtest runs "
        f"(trading tables emptied for the replay)"
    )

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    if args.nice:
        os.setpriority(os.PRIO_PROCESS, 0, args.nice)  # children inherit it
    server = subprocess.Popen(
        [PYTHON, "-m", "cryptobot.cli", "api", "serve", "--port", str(port)],
        env=env,
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=(work / "api.log").open("wb"),
    )
    writer = None
    try:
        t0 = time.perf_counter()
        while True:
            try:
                if httpx.get(f"{base}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None:
                raise SystemExit(f"the API did not start: {(work / 'api.log').read_text()}")
            time.sleep(0.1)
        print(f"API up in {time.perf_counter() - t0:.1f} s (first snapshot made) on {base}")

        if args.writer == "replay":
            command = [
                PYTHON,
                "-m",
                "cryptobot.cli",
                "trade",
                "--replay-days",
                str(args.replay_days),
            ]
        elif args.writer == "steps":
            command = [
                PYTHON,
                "-c",
                STEP_WRITER,
                str(work / "warehouse.duckdb"),
                str(args.seconds + 30),
            ]
        if args.writer != "none":
            writer = subprocess.Popen(
                command, env=env, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
            t1 = time.perf_counter()
            while read_holder(work / "warehouse.duckdb") is None:
                if writer.poll() is not None or time.perf_counter() - t1 > 120:
                    raise SystemExit("the writer never took the write lock")
                time.sleep(0.05)
            print(
                f"writer ({args.writer}) holds the write lock after "
                f"{time.perf_counter() - t1:.1f} s: load starts"
            )

        plan = endpoints(run_id, symbols or ["BTC/USDT"], model)
        server_cpu, client_cpu = cpu_seconds(server.pid), time.process_time()
        latencies, failures, ages, late, took = asyncio.run(
            load(base, token, plan, args.clients, args.requests, args.seconds, args.rate)
        )
        server_cpu = cpu_seconds(server.pid) - server_cpu
        client_cpu = time.process_time() - client_cpu
        writing = writer is not None and writer.poll() is None
        metrics = httpx.get(
            f"{base}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10
        ).text
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()

    n = sum(len(v) for v in latencies.values())
    print(
        f"\n{n:,} requests from {args.clients} clients in {took:.1f} s: {n / took:,.0f} req/s; "
        f"writer {'still writing' if writing else 'done' if writer else 'none'} at the end"
    )
    print(
        f"CPU per request: server {server_cpu / n * 1000:.2f} ms (all its threads, snapshot "
        f"copies included), clients {client_cpu / n * 1000:.2f} ms; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    mode = f"{args.rate:g} req/s per client (open loop)" if args.rate else "back to back"
    print(f"clients: {mode}")
    inside = server_quantiles(metrics)
    print(
        f"{'endpoint':<22}{'requests':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        f"{'server p50':>12}{'server p99':>12}  non-200"
    )
    worst = 0.0
    for name, _, _ in plan:
        values = latencies.get(name, [])
        if not values:
            continue
        p99 = pct(values, 0.99) * 1000
        worst = max(worst, p99)
        bad = ", ".join(f"{code}: {count}" for code, count in failures[name].items()) or "0"
        s50, s99 = (f"<= {v:g}" for v in inside.get(name, (float("nan"), float("nan"))))
        print(
            f"{name:<22}{len(values):>9}{statistics.median(values) * 1000:>9.1f}{p99:>9.1f}"
            f"{max(values) * 1000:>9.1f}{s50:>12}{s99:>12}  {bad}"
        )
    print(
        f"worst p99 {worst:.1f} ms as the clients saw it (goal: under 100 ms for every "
        "endpoint); server p50/p99: the bucket bounds of the API's own latency histogram"
    )
    if late:
        print(
            f"client lateness (a request sent after its scheduled time: the clients' process "
            f"waiting for the CPU): p50 {pct(late, 0.5) * 1000:.1f} ms, "
            f"p99 {pct(late, 0.99) * 1000:.1f} ms"
        )
    if ages:
        print(
            f"snapshot age in responses: median {statistics.median(ages):.2f} s, "
            f"p99 {pct(ages, 0.99):.2f} s, max {max(ages):.2f} s"
        )
    for line in metrics.splitlines():
        if line.startswith(("cryptobot_api_snapshot_copies", "cryptobot_api_snapshot_copy")):
            print(line)
    if writer is not None:
        try:
            out, _ = writer.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            writer.kill()
            out, _ = writer.communicate()
        tail = [line for line in out.decode(errors="replace").splitlines() if line.strip()]
        print(
            "writer:", " ".join(tail[-2:]) if tail else "(no output)", f"(exit {writer.returncode})"
        )
    warnings = [line for line in (work / "api.log").read_text().splitlines() if line.strip()]
    print(f"API log: {len(warnings)} line(s)", *warnings[-5:], sep="\n  ")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
