"""Trading latency: bar close -> order decision for every configured symbol, and the hourly flow.

Usage: .venv/bin/python benchmarks/bench_trade.py [DATA_DIR] [--steps N]

DATA_DIR (default: data/) must hold a demo warehouse with champions (run `make demo` first). The
benchmark works on a copy, with the trading tables emptied, so the account starts fresh.

Prints, per step over the newest N bars (champions already loaded, as in a running worker):
- decide: from reading the bar's data to the last decision (read, fill, mark, predict, size,
  all eight risk checks per symbol), no writes;
- step: the whole step including its warehouse writes (fills, positions, equity point, one
  transaction per decision with its prediction and order);
- live, bar close -> acknowledgement: a live account on the same bars against an in-process fake
  exchange with ccxt's interface (answering at once, so this is our side of the latency): from the
  step's start (the schedule fires at the bar's close, data already stored) to each order's
  acknowledgement, as stored in ``orders.acknowledged_at``, and decision -> acknowledgement;
and, for the hourly flow including Prefect's overhead:
- the `trade` flow run in a process whose Prefect server is already up (the worker's case);
- `cryptobot trade` from a cold shell (a fresh process, imports, a temporary Prefect server).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TRADING_TABLES = ("trade_decisions", "orders", "trades", "positions", "equity_curve")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data_dir", nargs="?", default=str(ROOT / "data"))
    parser.add_argument("--steps", type=int, default=48)
    args = parser.parse_args()
    source = Path(args.data_dir)
    work = Path(tempfile.mkdtemp(prefix="bench-trade-"))
    shutil.copy(source / "warehouse.duckdb", work / "warehouse.duckdb")
    with duckdb.connect(str(work / "warehouse.duckdb")) as con:
        for table in TRADING_TABLES:
            con.execute(f"delete from {table}")
    os.environ["CRYPTOBOT_WAREHOUSE"] = str(work / "warehouse.duckdb")
    os.environ["CRYPTOBOT_DATA_DIR"] = str(source)  # the MLflow store: read only

    from cryptobot.config import load_settings
    from cryptobot.trading.engine import Trader, default_as_of

    settings = load_settings()
    end = default_as_of(settings)
    t0 = time.perf_counter()
    trader = Trader(settings)
    for target in trader.targets:
        trader.champion(target)
    load = time.perf_counter() - t0
    times = [end - timedelta(hours=args.steps - k) for k in range(args.steps + 1)]
    trader.step(times[0])  # warm-up: first queries, first predictions
    decide, step, orders = [], [], 0
    for as_of in times[1:]:
        result = trader.step(as_of)
        decide.append(result.decide_seconds)
        step.append(result.seconds)
        orders += len(result.orders)
    n = len(trader.targets)

    def row(name: str, values: list[float]) -> str:
        ordered = sorted(values)
        p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
        return (
            f"{name:<34} median {statistics.median(values) * 1000:7.1f} ms   "
            f"p95 {p95 * 1000:7.1f} ms   max {max(values) * 1000:7.1f} ms"
        )

    print(f"warehouse copy {work}; {n} symbols; {len(step)} bars; {orders} orders")
    print(f"champions loaded in {load:.2f} s (once per worker process)")
    print(row(f"decide ({n} symbols, no writes)", decide))
    print(row(f"step ({n} symbols, with writes)", step))

    # live: the same bars on the live account, orders acknowledged by a fake exchange
    from datetime import UTC, datetime

    from cryptobot.trading.brokers import LiveBroker
    from tests.fake_exchange import FakeExchange

    live = settings.model_copy(
        update={"trading": settings.trading.model_copy(update={"mode": "live"})}
    )
    with duckdb.connect(str(work / "warehouse.duckdb"), read_only=True) as con:
        closes = dict(
            con.execute(
                "select symbol, arg_max(close, ts) from market_data where exchange = ? "
                "group by symbol",
                [trader.exchange],
            ).fetchall()
        )
    live_trader = Trader(live, broker=LiveBroker(FakeExchange(closes, balance=1e12)))
    starts = {}
    for as_of in times:
        starts[as_of] = datetime.now(UTC).replace(tzinfo=None)
        live_trader.step(as_of)
    with duckdb.connect(str(work / "warehouse.duckdb"), read_only=True) as con:
        acked = con.execute(
            "select o.created_at, o.acknowledged_at, d.created_at from orders o "
            "join trade_decisions d on d.id = o.decision_id "
            "where o.mode = 'live' and o.acknowledged_at is not null"
        ).fetchall()
    close_to_ack = [(ack - starts[made]).total_seconds() for made, ack, _ in acked]
    decision_to_ack = [(ack - decided).total_seconds() for _, ack, decided in acked]
    if acked:
        print(row(f"live: bar close -> ack ({len(acked)} orders)", close_to_ack))
        print(row("live: decision -> ack", decision_to_ack))
    else:
        print("live: no order was sent over these bars")

    # the flow in a process whose Prefect server is up (second run: the server is warm)
    from prefect.testing.utilities import prefect_test_harness

    from flows.trade import trade

    with prefect_test_harness(server_startup_timeout=120):
        flow_runs = []
        for as_of in (end - timedelta(hours=1), end):
            t0 = time.perf_counter()
            trade(as_of=as_of)
            flow_runs.append(time.perf_counter() - t0)
    print(
        f"trade flow run, server up: first {flow_runs[0]:.2f} s, then {flow_runs[1]:.2f} s "
        "(task runs, logs, state changes, champions loaded per run)"
    )

    # the CLI from a cold shell: a rerun of the newest bar (the decisions exist: nothing sent)
    t0 = time.perf_counter()
    subprocess.run(
        [str(ROOT / ".venv" / "bin" / "cryptobot"), "trade"],
        check=True,
        capture_output=True,
        env=os.environ,
    )
    print(
        f"`cryptobot trade` cold (process, imports, temporary Prefect server): "
        f"{time.perf_counter() - t0:.1f} s"
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
