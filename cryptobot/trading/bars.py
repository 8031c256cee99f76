"""Bars of several symbols as the execution core's arrays, built the same way for the trading
flow (the few bars up to its decision) and for a backtest (all of history).

The bars are the union of the symbols' bar open times (plus, for the trading flow, the newest
bar closed at its decision time, whether or not any symbol has it). A symbol without a row at a
bar has ``avail = NO_ROW`` there and NaN prices; the core treats it as not known.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from cryptobot.trading import core

#: the fct_features columns the core reads, in ``core.MARKET_FIELDS`` order
MARKET_COLUMNS = core.MARKET_FIELDS


def to_ns(value) -> int:
    """A naive-UTC time as int64 nanoseconds."""
    return int(pd.Timestamp(value).as_unit("ns").value)


@dataclass
class Bars:
    symbols: list[str]
    bar_ns: int
    ts: np.ndarray  # int64 ns, bar open times, ascending
    avail: np.ndarray  # int64 ns [T, K], core.NO_ROW where a symbol has no row
    market: np.ndarray  # float64 [T, K, 5]

    def __len__(self) -> int:
        return len(self.ts)

    def times(self) -> pd.DatetimeIndex:
        return pd.to_datetime(self.ts)

    def index_at_or_after(self, when: datetime) -> int:
        """The first bar opening at or after ``when`` (len(self) when none does)."""
        return int(np.searchsorted(self.ts, to_ns(when), side="left"))

    def closes_before(self, t: int) -> np.ndarray:
        """Each symbol's close of its newest row before bar ``t`` known at bar ``t``'s close
        (NaN where it has none): the marks an account carries into bar ``t``."""
        as_of = self.ts[t] + self.bar_ns if len(self.ts) else 0
        marks = np.full(len(self.symbols), np.nan)
        for k in range(len(self.symbols)):
            known = np.flatnonzero(self.avail[:t, k] <= as_of)
            if len(known):
                i = known[-1]
                marks[k] = self.market[i, k, core.CLOSE] * self.rate(i, k)
        return marks

    def rate(self, t: int, k: int) -> float:
        """Symbol ``k``'s quote->account rate known at bar ``t``'s close (1 without rates)."""
        return float(self.market[t, k, core.FX]) if self.market.shape[2] > core.FX else 1.0

    def with_rates(self, rates: np.ndarray) -> Bars:
        """These bars with ``rates[t, k]`` (the quote->account rate known at bar ``t``'s
        close) as the core's ``FX`` field."""
        market = np.empty((*self.market.shape[:2], core.FX + 1))
        market[:, :, : core.FX] = self.market[:, :, : core.FX]
        market[:, :, core.FX] = rates
        return Bars(self.symbols, self.bar_ns, self.ts, self.avail, market)


def bars_from_rows(
    rows: Mapping[str, pd.DataFrame] | pd.DataFrame,
    symbols: list[str],
    bar_seconds: int,
    *,
    through: datetime | None = None,
) -> Bars:
    """The core's arrays from feature rows (``ts``, ``available_at`` and ``MARKET_COLUMNS``),
    given per symbol or as one frame with a ``symbol`` column. ``through``: the decision time of
    the trading flow; the bar closed then is included even when no symbol has its row."""
    if isinstance(rows, pd.DataFrame):
        rows = {s: f for s, f in rows.groupby("symbol", sort=False)} if len(rows) else {}
    bar_ns = int(bar_seconds) * 1_000_000_000
    frames = [rows[s] for s in symbols if s in rows and len(rows[s])]
    stamps = [f["ts"].to_numpy(dtype="datetime64[ns]").astype(np.int64) for f in frames]
    if through is not None:
        # the bar closed at `through`, on the rows' own grid (or on the epoch's without rows)
        end = to_ns(through)
        anchor = max((int(s.max()) for s in stamps if len(s)), default=0)
        last = anchor + (end - bar_ns - anchor) // bar_ns * bar_ns
        stamps = [s[s + bar_ns <= end] for s in stamps] + [np.array([last], np.int64)]
    ts = np.unique(np.concatenate(stamps)) if stamps else np.zeros(0, np.int64)
    n, k = len(ts), len(symbols)
    avail = np.full((n, k), core.NO_ROW, dtype=np.int64)
    market = np.full((n, k, len(MARKET_COLUMNS)), np.nan)
    for j, symbol in enumerate(symbols):
        frame = rows.get(symbol)
        if frame is None or frame.empty:
            continue
        at = frame["ts"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
        index = np.searchsorted(ts, at)
        inside = (index < n) & (ts[np.minimum(index, n - 1)] == at)
        index, frame = index[inside], frame[inside]
        avail[index, j] = frame["available_at"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
        for f, column in enumerate(MARKET_COLUMNS):
            market[index, j, f] = frame[column].to_numpy(dtype="float64")
    return Bars(list(symbols), bar_ns, ts, avail, market)
