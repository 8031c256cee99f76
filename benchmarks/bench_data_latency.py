"""Data latency: a closed bar's arrival -> its row in ``marts.fct_features``, with a server up.

Usage: .venv/bin/python benchmarks/bench_data_latency.py [--days 30] [--bars 3]

In one warm process whose Prefect server is already running (a worker's case), on a fresh
temporary warehouse: 30 days of 1h BTC/USDT candles are imported from a file under exchange
``binance`` and the features built, holding back the newest ``--bars`` closed bars. Then each held
bar is "released" as an exchange would publish it: written to a one-row file, imported through
the ``import-file`` flow (parse, bar checks, the Great Expectations gate, store) and followed by
the ``features`` flow (dbt, incremental), until its feature row is readable. Printed per bar:
the import, the feature build and the whole latency, from the moment the bar is released to the
moment its feature row can be read. The bar's own close is before that moment: what is measured
is the pipeline's part of the latency, the part this project controls; the exchange's publishing
delay and the schedule's trigger come on top.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def candles(days: int) -> pd.DataFrame:
    """Hourly candles ending at the newest closed hour (a geometric random walk)."""
    end = pd.Timestamp.now(tz="UTC").floor("h") - pd.Timedelta(hours=1)
    ts = pd.date_range(end=end, periods=days * 24, freq="h")
    rng = np.random.default_rng(7)
    close = 40_000 * np.exp(np.cumsum(rng.normal(0, 0.006, len(ts))))
    open_ = np.r_[close[0], close[:-1]]
    return pd.DataFrame(
        {
            "timestamp": ts.as_unit("ms").asi8,
            "open": open_,
            "high": np.maximum(open_, close) * 1.002,
            "low": np.minimum(open_, close) * 0.998,
            "close": close,
            "volume": rng.uniform(50, 500, len(ts)),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--bars", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    os.environ["CRYPTOBOT_DATA_DIR"] = str(work)
    os.environ["CRYPTOBOT_SYMBOLS"] = "BTC/USDT"
    os.environ["CRYPTOBOT_SOURCE"] = "file"

    from prefect.testing.utilities import prefect_test_harness

    from cryptobot.config import load_settings
    from cryptobot.warehouse.db import read_connection
    from flows.features import features
    from flows.import_file import import_file

    frame = candles(args.days)
    history, held = frame.iloc[: -args.bars], frame.iloc[-args.bars :]
    history.to_csv(work / "history.csv", index=False)
    settings = load_settings()
    rows = []
    with prefect_test_harness(server_startup_timeout=120):
        t0 = time.perf_counter()
        import_file(str(work / "history.csv"), "binance", "BTC/USDT", "1h")
        features()
        print(
            f"history: {len(history):,} bars imported and built in {time.perf_counter() - t0:.1f} s"
        )
        for _, bar in held.iterrows():
            path = work / f"bar-{int(bar['timestamp'])}.csv"
            bar.to_frame().T.astype({"timestamp": "int64"}).to_csv(path, index=False)
            ts = pd.Timestamp(int(bar["timestamp"]), unit="ms")
            released = time.perf_counter()
            import_file(str(path), "binance", "BTC/USDT", "1h")
            imported = time.perf_counter()
            features()
            with read_connection(settings.warehouse) as con:
                found = con.execute(
                    "select count(*) from marts.fct_features where exchange = 'binance' "
                    "and symbol = 'BTC/USDT' and ts = ?",
                    [ts.to_pydatetime()],
                ).fetchone()[0]
            done = time.perf_counter()
            assert found == 1, f"no feature row for {ts}"
            rows.append((imported - released, done - imported, done - released))
    print(f"{len(rows)} bars, each from release to its feature row (Prefect server already up):")
    for name, k in (("import-file flow", 0), ("features flow (dbt)", 1), ("whole", 2)):
        values = [r[k] for r in rows]
        print(
            f"  {name:<22} median {statistics.median(values):6.2f} s   "
            f"min {min(values):6.2f} s   max {max(values):6.2f} s"
        )


if __name__ == "__main__":
    main()
