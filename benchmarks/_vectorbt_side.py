"""The vectorbt side of ``benchmarks/bench_backtest.py``; runs INSIDE the separate vectorbt env.

Usage: ``<vectorbt-env>/bin/python benchmarks/_vectorbt_side.py WORKDIR``

It imports nothing from the project (the project's virtualenv and vectorbt's dependency pins must
never meet). WORKDIR holds the inputs written by the bench script::

    open.npy high.npy low.npy close.npy volume.npy ts.npy  float64; ts: int64 ns since the epoch
    params.json     {"fast", "slow", "fee", "capital", "warm_runs"}

and receives the outputs::

    vbt_entries.npy vbt_exits.npy  bar index of each buy / sell fill (int64)
    vbt_equity.npy   equity at each bar's close, rebuilt from vectorbt's order records
    vbt_value.npy    vectorbt's own ``pf.value()``
    vbt_result.json  versions, timings, final equities, order diagnostics

The timed work, per call: ``MA.run`` x2, ``ma_crossed_above/below``, shifting the signals one bar
(signal on bar t's close, fill at bar t+1's open), ``Portfolio.from_signals(price=open, ...)`` and
``pf.value()``: from OHLCV to an equity curve, like the other engines in the bench.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

T_IMPORT = time.perf_counter()
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import vectorbt as vbt  # noqa: E402

IMPORT_SECONDS = time.perf_counter() - T_IMPORT


def backtest(open_s: pd.Series, close_s: pd.Series, p: dict) -> tuple[object, pd.Series, float]:
    """One SMA crossover backtest: the portfolio, its value curve and from_signals' seconds."""
    fast = vbt.MA.run(close_s, p["fast"], short_name="fast")
    slow = vbt.MA.run(close_s, p["slow"], short_name="slow")
    entries = fast.ma_crossed_above(slow)
    exits = fast.ma_crossed_below(slow)
    # signal on bar t's close -> order on bar t+1, filled at that bar's open
    entries = entries.shift(1, fill_value=False)
    exits = exits.shift(1, fill_value=False)
    started = time.perf_counter()
    pf = vbt.Portfolio.from_signals(
        close_s,
        entries,
        exits,
        price=open_s,
        size=np.inf,  # all in
        size_type="amount",
        size_granularity=np.nan,  # fractional units
        direction="longonly",
        fees=p["fee"],
        init_cash=p["capital"],
        # vectorbt's default min_size is 1e-8 units: 13,800 round trips at 0.2% fees shrink the
        # equity by ~1e-12, and with the default the orders get rejected and trading stops
        min_size=0.0,
        freq="1min",
    )
    from_signals_s = time.perf_counter() - started
    value = pf.value()
    return pf, value, from_signals_s


def equity_from_records(rec: np.ndarray, close: np.ndarray, capital: float) -> np.ndarray:
    """Equity at each bar's close from the fills alone: units x close while long, else cash.

    All-in long-only means the cash is exactly 0 while long, and the cash after a sell is that
    sell's proceeds less its fees; no running sum of cash flows (which loses every digit once the
    equity is 1e-12 of what it started with) is involved."""
    n = close.shape[0]
    buys = rec[rec["side"] == 0]
    sells = rec[rec["side"] == 1]
    cash_after = np.concatenate([[capital], sells["size"] * sells["price"] - sells["fees"]])
    bars = np.arange(n)
    n_buys = np.searchsorted(buys["idx"], bars, side="right")  # buys filled up to and incl. bar
    n_sells = np.searchsorted(sells["idx"], bars, side="right")
    long = n_buys > n_sells
    units = np.where(long, buys["size"][np.maximum(n_buys - 1, 0)] if len(buys) else 0.0, 0.0)
    return np.where(long, units * close, cash_after[n_sells])


def main() -> None:
    work = Path(sys.argv[1])
    p = json.loads((work / "params.json").read_text())
    arrays = {
        k: np.load(work / f"{k}.npy") for k in ("open", "high", "low", "close", "volume", "ts")
    }
    # tz-naive (UTC wall clock) on purpose: with a tz-aware index vectorbt 1.2.0 on pandas 3 turns
    # the index into Timestamp objects in every ArrayWrapper.wrap (its shape check calls
    # np.asarray on it), ~100x slower at 100k bars; that measures pandas, not the engine
    index = pd.DatetimeIndex(pd.to_datetime(arrays["ts"], unit="ns"))
    open_s = pd.Series(arrays["open"], index=index, name="open")
    close_s = pd.Series(arrays["close"], index=index, name="close")

    started = time.perf_counter()
    pf, value, _ = backtest(open_s, close_s, p)
    first_s = time.perf_counter() - started

    warm, warm_from_signals = [], []
    for _ in range(p["warm_runs"]):
        started = time.perf_counter()
        pf, value, fs = backtest(open_s, close_s, p)
        warm.append(time.perf_counter() - started)
        warm_from_signals.append(fs)

    rec = pf.orders.values
    rec = rec[np.argsort(rec["id"], kind="stable")]
    entries = rec["idx"][rec["side"] == 0].astype(np.int64)
    exits = rec["idx"][rec["side"] == 1].astype(np.int64)
    equity = equity_from_records(rec, arrays["close"], p["capital"])
    vbt_value = np.asarray(value, dtype=np.float64).reshape(-1)
    np.save(work / "vbt_entries.npy", entries)
    np.save(work / "vbt_exits.npy", exits)
    np.save(work / "vbt_equity.npy", equity)
    np.save(work / "vbt_value.npy", vbt_value)

    import numba  # only for the report
    from vectorbt._engine import is_rust_available

    result = {
        "vectorbt": vbt.__version__,
        "numba": numba.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "python": sys.version.split()[0],
        "engine": str(vbt.settings["engine"]),
        "rust_available": bool(is_rust_available()),
        "import_seconds": IMPORT_SECONDS,
        "first_seconds": first_s,
        "warm_seconds": warm,
        "median_seconds": statistics.median(warm),
        "median_from_signals_seconds": statistics.median(warm_from_signals),
        "orders": int(len(rec)),
        "min_order_size": float(rec["size"].min()) if len(rec) else None,
        "final_equity_records": float(equity[-1]),
        "final_value_vbt": float(np.asarray(pf.final_value()).reshape(-1)[0]),
        "value_last_vbt": float(vbt_value[-1]),
    }
    (work / "vbt_result.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
