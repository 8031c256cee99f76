"""Time ``build_report``: ``python benchmarks/bench_report.py [--days N] [--symbols N]``.

A paper account trading N symbols on 1h bars for ``--days`` days (tests/trading_factory's
seed_trading, which flips each symbol every 6 bars), in a fresh temporary warehouse with no MLflow
store. Then the daily, weekly and monthly report of its last complete day: the first call (module
imports and matplotlib's font cache warm-up included) and the median of 3 more. Prints rows,
seconds and the file size of each report.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptobot.config import Settings  # noqa: E402
from tests.trading_factory import seed_trading  # noqa: E402

SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT", "XRP/USDT")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=31)
    parser.add_argument("--symbols", type=int, default=5, choices=range(1, len(SYMBOLS) + 1))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        settings = Settings(warehouse=root / "warehouse.duckdb", data_dir=root)
        started = time.perf_counter()
        seeded = seed_trading(
            settings.warehouse, symbols=SYMBOLS[: args.symbols], bars=24 * args.days
        )
        print(
            f"seeded {args.symbols} symbols x {args.days} d x 1h: {len(seeded.equity):,} equity "
            f"rows, {len(seeded.trades):,} trades, {seeded.decisions:,} decisions "
            f"({time.perf_counter() - started:.1f} s)"
        )
        from cryptobot.reports import build_report

        day = None  # the default: the last complete day of the simulated account
        for period in ("daily", "weekly", "monthly"):
            started = time.perf_counter()
            report = build_report(settings, period, day)
            first = time.perf_counter() - started
            runs = []
            for _ in range(3):
                started = time.perf_counter()
                build_report(settings, period, day)
                runs.append(time.perf_counter() - started)
            s = report.summary
            print(
                f"{period:8s} {s['start'][:10]} .. {s['end'][:10]}: {s['trades']:,} trades, "
                f"first {first:.2f} s, then median {statistics.median(runs):.2f} s; "
                f"{report.path.stat().st_size / 1024:.0f} KiB"
            )


if __name__ == "__main__":
    main()
