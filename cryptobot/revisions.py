"""Revisions of stored bars: found before a batch is written, judged, and kept.

A batch that changes a bar already in ``market_data`` (any of open, high, low, close, volume)
*revises* it. Exchanges do correct bars, and a user may import a cleaner file over a bad one, so
a revision is allowed, but never silently:

1. :func:`find_revisions` joins the staged batch with the stored bars on the natural key and
   returns each changed bar with its old and new values, before anything is written.
2. Each change is judged against its series' recent volatility: ``sigma`` is the sample SD of
   the stored one-bar log returns (consecutive stored bars exactly one timeframe apart) of the
   ``ingest.revision_window`` bars (of time) up to and including the revised bar, as stored
   before the batch, floored at ``ingest.revision_min_sigma``; ``sigmas`` is the largest of
   ``|ln(new / old)|`` over open, high, low and close, divided by ``sigma``. A change within
   ``ingest.revision_max_sigma`` is plausible. Volume is kept but not judged (a bar's volume is
   often restated).
3. The ingest refuses a batch with an implausible revision (:func:`refusal_message`), unless the
   user allows it, and otherwise writes each revision to ``market_data_revisions``
   (:func:`record_revisions`) in the transaction that applies it: the old values are never lost.

A bad bar already stored widens ``sigma`` (its return is in the window), yet undoing it is as
large a change as making it was: it needs ``--allow-revisions`` too, and the bad values are kept
as a revision like any other.
"""

from __future__ import annotations

import math
from datetime import datetime

import duckdb
import numpy as np
import pandas as pd

from cryptobot.config import IngestSettings

__all__ = ["PRICE_FIELDS", "find_revisions", "record_revisions", "refusal_message"]

#: the stored values whose change is a revision, and the ones whose change is judged
VALUE_FIELDS = ("open", "high", "low", "close", "volume")
PRICE_FIELDS = ("open", "high", "low", "close")
#: how many implausible bars a refusal lists
LISTED = 5

_CHANGED_SQL = """
    select
        t.exchange, t.symbol, t.timeframe, t.ts,
        {old},
        t.source as old_source,
        t.batch_id as old_batch_id,
        t.fetched_at as old_fetched_at,
        t.available_at as old_available_at,
        {new},
        s.batch_id, s.source
    from {staged} as s
    join market_data as t using (exchange, symbol, timeframe, ts)
    where {differs}
    order by t.exchange, t.symbol, t.timeframe, t.ts
"""


def find_revisions(
    con: duckdb.DuckDBPyConnection,
    staged: str,
    *,
    bar_seconds: int,
    settings: IngestSettings,
) -> pd.DataFrame:
    """The stored bars the staged batch (a registered frame in market_data's layout) would
    change, one row each with old and new values, ``sigma``, ``sigmas`` and ``plausible``."""
    changed = con.execute(
        _CHANGED_SQL.format(
            staged=staged,
            old=", ".join(f"t.{c} as old_{c}" for c in VALUE_FIELDS),
            new=", ".join(f"s.{c} as new_{c}" for c in VALUE_FIELDS),
            differs=" or ".join(f"t.{c} <> s.{c}" for c in VALUE_FIELDS),
        )
    ).df()
    if changed.empty:
        return changed
    frame = changed
    sigma = np.full(len(frame), np.nan)
    for _, rows in frame.groupby(["exchange", "symbol", "timeframe"], sort=False).indices.items():
        sigma[rows] = _rolling_sigma(
            con, frame.iloc[rows], bar_seconds=bar_seconds, window=settings.revision_window
        )
    frame["sigma"] = np.fmax(np.nan_to_num(sigma, nan=0.0), settings.revision_min_sigma)
    frame["sigmas"] = _largest_log_change(frame) / frame["sigma"]
    frame["plausible"] = frame["sigmas"] <= settings.revision_max_sigma
    return frame


def _rolling_sigma(
    con: duckdb.DuckDBPyConnection, revised: pd.DataFrame, *, bar_seconds: int, window: int
) -> np.ndarray:
    """For each revised bar of one series: the sample SD of the stored one-bar log returns of
    the bars in ``[ts - window bars, ts]`` (NaN with fewer than two). Prefix sums over the
    stored stretch the windows reach, read once: O(bars), where DuckDB's windowed stddev
    sorted the whole series (seconds for a million bars)."""
    first, last = revised["ts"].min(), revised["ts"].max()
    bar = np.timedelta64(bar_seconds, "s")
    exchange, symbol, timeframe = revised.iloc[0][["exchange", "symbol", "timeframe"]]
    stored = con.execute(
        "select ts, close from market_data where exchange = ? and symbol = ? and timeframe = ?"
        " and ts between ? and ? order by ts",
        [exchange, symbol, timeframe, first - (window + 1) * bar, last],
    ).fetchnumpy()
    ts = np.asarray(stored["ts"], dtype="datetime64[us]")
    close = np.asarray(stored["close"], dtype=float)
    # the return into bar j (j >= 1) exists when bar j - 1 is one bar earlier; slot j - 1 holds it
    known = (np.diff(ts) == bar) & (close[1:] > 0) & (close[:-1] > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = np.where(known, np.log(close[1:] / close[:-1]), 0.0)
    count = np.concatenate([[0.0], np.cumsum(known)])
    total = np.concatenate([[0.0], np.cumsum(returns)])
    squares = np.concatenate([[0.0], np.cumsum(returns * returns)])
    at = revised["ts"].to_numpy(dtype="datetime64[us]")
    end = np.searchsorted(ts, at, side="right") - 1  # the revised bar's own position
    start = np.maximum(np.searchsorted(ts, at - window * bar, side="left"), 1) - 1
    n = count[end] - count[start]
    mean_square = (total[end] - total[start]) ** 2 / np.where(n > 0, n, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        variance = (squares[end] - squares[start] - mean_square) / (n - 1)
    return np.where(n >= 2, np.sqrt(np.clip(variance, 0.0, None)), np.nan)


def _largest_log_change(frame: pd.DataFrame) -> pd.Series:
    """max over open, high, low, close of |ln(new / old)|; infinite if a price is not > 0."""
    changes = []
    for field in PRICE_FIELDS:
        old, new = frame[f"old_{field}"], frame[f"new_{field}"]
        positive = (old > 0) & (new > 0)
        ratio = new.where(positive, 1.0).to_numpy(float) / old.where(positive, 1.0).to_numpy(float)
        change = pd.Series(np.abs(np.log(ratio)), index=frame.index)
        changes.append(change.where(positive, math.inf))
    return pd.concat(changes, axis=1).max(axis=1)


def refusal_message(
    revisions: pd.DataFrame, *, batch_id: str, where: str | None, limit: float
) -> str:
    """Why a batch with implausible revisions was refused: the first few bars, how far out."""
    bad = revisions[~revisions["plausible"]].sort_values("sigmas", ascending=False)
    series = ", ".join(
        f"{exchange} {symbol} {timeframe}"
        for exchange, symbol, timeframe in bad[["exchange", "symbol", "timeframe"]]
        .drop_duplicates()
        .itertuples(index=False)
    )
    listed = "; ".join(_describe(row) for row in bad.head(LISTED).itertuples(index=False))
    more = f" (and {len(bad) - LISTED:,} more)" if len(bad) > LISTED else ""
    origin = f" from {where}" if where else ""
    return (
        f"Batch {batch_id}{origin} would change {len(bad):,} stored bar(s) of {series} by more "
        f"than {limit:g} standard deviations of the series' recent one-bar log returns "
        f"(setting ingest.revision_max_sigma; {len(revisions):,} stored bar(s) changed in all): "
        f"{listed}{more}. "
        "Nothing of this batch was stored. If the new values are right (a correction of bad "
        "stored bars), run the same command again with --allow-revisions: the old values are "
        "kept in table market_data_revisions; otherwise correct the input."
    )


def _describe(row) -> str:
    parts = [
        f"{field} {_price(getattr(row, f'old_{field}'))} -> {_price(getattr(row, f'new_{field}'))}"
        for field in PRICE_FIELDS
        if getattr(row, f"old_{field}") != getattr(row, f"new_{field}")
    ]
    far = "a non-positive price" if math.isinf(row.sigmas) else f"{row.sigmas:,.0f} SD"
    return f"{pd.Timestamp(row.ts):%Y-%m-%d %H:%M} {', '.join(parts)} ({far}; SD {row.sigma:.2g})"


def _price(value: float) -> str:
    return f"{value:,.8g}"


def record_revisions(
    con: duckdb.DuckDBPyConnection,
    revisions: pd.DataFrame,
    *,
    origin: str | None,
    revised_at: datetime,
) -> None:
    """Append ``revisions`` (from :func:`find_revisions`) to ``market_data_revisions``."""
    if revisions.empty:
        return
    frame = revisions.assign(origin=origin, revised_at=pd.Timestamp(revised_at))
    con.register("revised_bars", frame)
    try:
        con.execute(
            "insert into market_data_revisions by name select exchange, symbol, timeframe, ts, "
            + ", ".join(f"old_{c}" for c in VALUE_FIELDS)
            + ", old_source, old_batch_id, old_fetched_at, old_available_at, "
            + ", ".join(f"new_{c}" for c in VALUE_FIELDS)
            + ", batch_id, source, origin, sigma, sigmas, plausible, revised_at from revised_bars"
        )
    finally:
        con.unregister("revised_bars")
