"""Ingest + quality gate + upsert of a 1,000,000-row import, and where the time goes.

    .venv/bin/python benchmarks/bench_ingest.py [--rows 1000000] [--repeat 3]

Writes a ccxt-layout CSV of 1-minute candles to a temp dir, then for each repeat imports it into
a fresh warehouse (parse -> frame -> Great Expectations gate -> DuckDB upsert into a table with
a primary key), once more into the same warehouse (the idempotent re-import), and a copy of the
file with 1,000 closes moved by 0.01% (1,000 plausible revisions, judged and kept in
market_data_revisions). Prints medians; "checks" is the spacing and time-range check of the
file, "revisions" finding and judging the stored bars a batch changes.
Great Expectations' one-time import and context set-up is measured separately: a long-running
flow process pays it once, not per batch.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from cryptobot.config import Settings
from cryptobot.ingest import import_file

#: closes moved in the revised copy of the file
REVISED = 1_000


def write_csv(path: Path, rows: int) -> None:
    rng = np.random.default_rng(0)
    ts = pd.date_range("2020-01-01", periods=rows, freq="1min")
    close = 30_000 * np.exp(np.cumsum(rng.normal(0, 5e-4, rows)))
    open_ = np.concatenate([[30_000.0], close[:-1]])
    spread = np.abs(rng.normal(0, 2e-4, rows)) * close
    pd.DataFrame(
        {
            "timestamp": ts.as_unit("ms").asi8,
            "open": open_,
            "high": np.maximum(open_, close) + spread,
            "low": np.minimum(open_, close) - spread,
            "close": close,
            "volume": rng.uniform(0.1, 50, rows),
        }
    ).to_csv(path, index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        csv = folder / "candles.csv"
        write_csv(csv, args.rows)
        print(f"file: {csv.stat().st_size / 1e6:.0f} MB, {args.rows:,} rows of 1m candles")

        t0 = time.perf_counter()
        from cryptobot.quality.gate import MARKET_DATA, suite_rules

        rules = len(suite_rules(MARKET_DATA))  # builds the suites once per process
        print(
            f"one-time GX import + set-up of the suites ({rules} rules): "
            f"{time.perf_counter() - t0:.2f} s"
        )

        revised_csv = folder / "revised.csv"
        frame = pd.read_csv(csv)
        moved = np.linspace(10, args.rows - 10, REVISED).astype(int)
        frame.loc[moved, "close"] *= 1.0001
        frame.loc[moved, "high"] = frame.loc[moved, ["high", "close"]].max(axis=1)
        frame.to_csv(revised_csv, index=False)

        first: list[dict[str, float]] = []
        again: list[dict[str, float]] = []
        revised: list[dict[str, float]] = []
        for i in range(args.repeat):
            settings = Settings(warehouse=folder / f"w{i}.duckdb", data_dir=folder)
            for bucket, path in ((first, csv), (again, csv), (revised, revised_csv)):
                t = time.perf_counter()
                report = import_file(
                    settings, path, exchange="binance", symbol="BTC/USDT", timeframe="1m"
                )
                total = time.perf_counter() - t
                batch = report.batches[0]
                assert batch.rows == args.rows
                other = total - sum(batch.timings.values())
                bucket.append({"revisions": 0.0, **batch.timings, "other": other, "total": total})
                if bucket is again:
                    assert batch.unchanged == args.rows  # the re-import changed nothing
            assert (report.batches[0].revised, report.batches[0].implausible) == (REVISED, 0)

        def show(label: str, runs: list[dict[str, float]]) -> None:
            med = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
            parts = ", ".join(
                f"{key} {med[key]:.2f} s"
                for key in ("parse", "checks", "frame", "gate", "revisions", "upsert", "other")
            )
            print(
                f"{label:<32} {med['total']:6.2f} s  {args.rows / med['total'] / 1e6:5.2f} M rows/s"
                f"   ({parts})"
            )

        print(f"medians of {args.repeat} runs:")
        show("import into empty warehouse", first)
        show("re-import (idempotent, no-op)", again)
        show(f"re-import, {REVISED:,} bars revised", revised)


if __name__ == "__main__":
    main()
