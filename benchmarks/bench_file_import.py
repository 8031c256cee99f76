"""Time ``read_ohlcv_file`` on a 1,000,000-row ccxt CSV and a 1,000,000-row Binance kline CSV.

Run: ``python benchmarks/bench_file_import.py [rows]``. Writes both files into a temporary
directory, parses each three times and prints the median wall time, rows per second and the
CPU time (Arrow's reader uses every core, so CPU time above wall time is normal). The budget
for a whole 1M-row import (parse + quality gate + upsert) is 2 s; parsing should stay well
under 1 s.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from cryptobot.sources.file_import import read_ohlcv_file

REPEATS = 3
T0 = 1704067200000  # 2024-01-01T00:00:00Z in ms


def make_candles(rows: int) -> pd.DataFrame:
    """A random walk of 1m candles with realistic decimals."""
    rng = np.random.default_rng(0)
    close = np.round(40_000 + np.cumsum(rng.normal(0, 10, rows)), 2)
    open_ = np.round(close + rng.normal(0, 5, rows), 2)
    return pd.DataFrame(
        {
            "timestamp": T0 + np.arange(rows, dtype=np.int64) * 60_000,
            "open": open_,
            "high": np.round(np.maximum(open_, close) + 1.5, 2),
            "low": np.round(np.minimum(open_, close) - 1.5, 2),
            "close": close,
            "volume": np.round(rng.exponential(10, rows), 8),
        }
    )


def write_files(directory: Path, rows: int) -> dict[str, Path]:
    candles = make_candles(rows)
    ccxt = directory / "ccxt.csv"
    candles.to_csv(ccxt, index=False)
    open_time_us = candles["timestamp"] * 1000  # spot dumps from 2025 on use microseconds
    kline = pd.DataFrame(
        {
            "open_time": open_time_us,
            **{name: candles[name] for name in ("open", "high", "low", "close", "volume")},
            "close_time": open_time_us + 59_999_999,
            "quote_volume": np.round(candles["volume"] * candles["close"], 8),
            "count": 500,
            "taker_buy_volume": np.round(candles["volume"] / 2, 8),
            "taker_buy_quote_volume": np.round(candles["volume"] * candles["close"] / 2, 8),
            "ignore": 0,
        }
    )
    binance = directory / "binance.csv"
    kline.to_csv(binance, index=False, header=False)
    return {"ccxt-csv": ccxt, "binance-kline-csv": binance}


def main(rows: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        files = write_files(Path(folder), rows)
        for label, path in files.items():
            read_ohlcv_file(path)  # warm the page cache
            timings, cpu = [], []
            for _ in range(REPEATS):
                start, start_cpu = time.perf_counter(), time.process_time()
                result = read_ohlcv_file(path)
                timings.append(time.perf_counter() - start)
                cpu.append(time.process_time() - start_cpu)
            assert result.file_format == label and len(result.candles) == rows
            median = statistics.median(timings)
            size_mb = path.stat().st_size / 1e6
            print(
                f"{label:18} {rows:>9,} rows {size_mb:6.1f} MB  median {median * 1000:6.0f} ms  "
                f"{rows / median:>12,.0f} rows/s  (runs: "
                f"{', '.join(f'{t * 1000:.0f}' for t in timings)} ms; CPU time, both cores: "
                f"{statistics.median(cpu) * 1000:.0f} ms)"
            )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
