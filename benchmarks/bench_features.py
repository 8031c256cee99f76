"""Time the dbt feature build: ``python benchmarks/bench_features.py [--quick]``.

Cases: five symbols x two years of 1h bars and (unless ``--quick``) ten symbols x two years of
1m bars from the market simulator, each in a fresh temporary warehouse. For each case: the first
(full) ``build_features``, then an incremental one after one new bar per series and one new
sentiment value per symbol, fetched now (as an hourly ingest would store them). Each build runs
in a fresh Python process, as ``cryptobot features`` would, and is timed twice: the process's
wall time (Python and dbt start-up included) and ``FeatureBuildResult.seconds`` (from the call).
For comparison, dbt's fixed start-up: ``dbt build`` of a one-model ``select 1`` project as a
CLI process, and inside an already warm process. Prints rows, seconds and rows/s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cryptobot.config import Settings
from cryptobot.features import FEATURES_TABLE
from cryptobot.ingest import utc_now
from cryptobot.sources.simulator import simulate_market
from cryptobot.timeframes import timeframe_seconds
from cryptobot.warehouse.db import write_connection

FIVE = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT", "XRP/USDT"]
TEN = [*FIVE, "ADA/USDT", "DOGE/USDT", "AVAX/USDT", "LINK/USDT", "DOT/USDT"]
CASES = [("5 symbols x 730 d x 1h", FIVE, "1h"), ("10 symbols x 730 d x 1m", TEN, "1m")]
STARTUP_RUNS = 3
BUILD = """
import json, sys
from pathlib import Path
from cryptobot.config import Settings
from cryptobot.features import build_features
settings = Settings(warehouse=Path(sys.argv[1]), data_dir=Path(sys.argv[2]))
result = build_features(settings, log=lambda line: print("  " + line, flush=True))
print(json.dumps({"rows": result.rows, "seconds": result.seconds}))
"""


def dbt_startup(root: Path) -> tuple[float, float]:
    """Median seconds of ``dbt build`` on a ``select 1`` project: (CLI process, in process)."""
    project = root / "select_one"
    (project / "models").mkdir(parents=True)
    (project / "models" / "one.sql").write_text("select 1 as one\n")
    (project / "dbt_project.yml").write_text(
        "name: select_one\nversion: '1.0'\nprofile: select_one\n"
        "flags:\n  send_anonymous_usage_stats: false\n"
    )
    (project / "profiles.yml").write_text(
        "select_one:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        f"      path: {root / 'select_one.duckdb'}\n      threads: 2\n"
    )
    args = ["build", "--project-dir", str(project), "--profiles-dir", str(project)]
    args += ["--log-level", "none", "--no-version-check"]
    dbt = Path(sys.executable).with_name("dbt")

    cli = []
    for _ in range(STARTUP_RUNS):
        started = time.perf_counter()
        subprocess.run([str(dbt), *args], check=True, capture_output=True)
        cli.append(time.perf_counter() - started)

    from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    from dbt.cli.main import dbtRunner

    in_process = []
    for _ in range(STARTUP_RUNS + 1):  # the first run imports dbt's adapters: not counted
        started = time.perf_counter()
        if not dbtRunner().invoke(args).success:
            raise RuntimeError("dbt build of the select 1 project failed")
        in_process.append(time.perf_counter() - started)
        DuckDBConnectionManager._ENV.close()
        DuckDBConnectionManager.close_all_connections()
    return statistics.median(cli), statistics.median(in_process[1:])


def load_market(settings: Settings, symbols: list[str], timeframe: str) -> int:
    """Simulated candles and sentiment into a new warehouse; returns the number of candles."""
    market = simulate_market(symbols, timeframe, days=730, seed=42)
    candles, sentiment = market.candles, market.sentiment
    bar = timeframe_seconds(timeframe)
    with write_connection(settings.warehouse) as con:
        con.register("candles", candles)
        con.register("sentiment_rows", sentiment)
        con.execute(
            f"""
            insert into market_data
            select 'binance', symbol, '{timeframe}', ts, open, high, low, close, volume,
                'simulated', ts + to_seconds({bar}), ts + to_seconds({bar}), 'bench'
            from candles
            """
        )
        con.execute(
            """
            insert into sentiment
            select 'simulated', symbol, ts, value, available_at, available_at, 'bench'
            from sentiment_rows
            """
        )
    return len(candles)


def append_one_bar(settings: Settings, timeframe: str) -> None:
    """One more bar after the last of every series, 0.1% above its close, and a sentiment value
    per symbol describing that bar, known at its close and fetched now (after the last build)."""
    bar = timeframe_seconds(timeframe)
    with write_connection(settings.warehouse) as con:
        con.execute(
            f"""
            insert into market_data
            select exchange, symbol, timeframe, ts + to_seconds({bar}), close, close * 1.002,
                close * 0.999, close * 1.001, volume, source, fetched_at + to_seconds({bar}),
                available_at + to_seconds({bar}), 'bench-next'
            from market_data
            qualify ts = max(ts) over (partition by exchange, symbol, timeframe)
            """
        )
        con.execute(
            f"""
            insert into sentiment
            select 'simulated', symbol, max(ts), 0.5, ?, max(ts) + to_seconds({bar}), 'bench-next'
            from market_data
            group by symbol
            """,
            [utc_now()],
        )


def build_in_new_process(settings: Settings) -> tuple[int, float, float]:
    """(rows, process wall seconds, build_features seconds) of one build in a fresh process."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", BUILD, str(settings.warehouse), str(settings.data_dir)],
        check=True,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    *lines, summary = done.stdout.splitlines()
    print("\n".join(lines), flush=True)
    result = json.loads(summary)
    return result["rows"], wall, result["seconds"]


def run_case(root: Path, symbols: list[str], timeframe: str) -> list[tuple[str, int, float, float]]:
    settings = Settings(warehouse=root / "warehouse.duckdb", data_dir=root / "data")
    started = time.perf_counter()
    candles = load_market(settings, symbols, timeframe)
    print(f"  loaded {candles:,} candles in {time.perf_counter() - started:.1f} s", flush=True)
    full = build_in_new_process(settings)
    append_one_bar(settings, timeframe)
    incremental = build_in_new_process(settings)
    return [("full build", *full), ("incremental, +1 bar/series", *incremental)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 10 x 1m case")
    options = parser.parse_args()
    table: list[tuple[str, str, int, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench_features_") as tmp:
        root = Path(tmp)
        cli, in_process = dbt_startup(root)
        table.append(("dbt select 1", "CLI process / warm process", 1, cli, in_process))
        for name, symbols, timeframe in CASES[:1] if options.quick else CASES:
            print(f"{name}:", flush=True)
            for step, rows, wall, seconds in run_case(root / timeframe, symbols, timeframe):
                table.append((name, step, rows, wall, seconds))

    print()
    print(f"{'case':<25}{'step':<28}{'rows':>12}{'process s':>11}{'call s':>8}{'rows/s':>12}")
    for name, step, rows, wall, seconds in table:
        rate = f"{rows / wall:,.0f}" if step == "full build" else ""
        print(f"{name:<25}{step:<28}{rows:>12,}{wall:>11.2f}{seconds:>8.2f}{rate:>12}")
    print(
        f"rows: rows in {FEATURES_TABLE} after the build; process s: wall time of a fresh Python "
        "process running build_features (start-up included), call s: build_features' own "
        "seconds; rows/s = rows / process s"
    )


if __name__ == "__main__":
    main()
