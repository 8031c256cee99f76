"""Revisions of stored bars: found before a batch is written, judged, and kept.

A batch that changes a bar already in ``market_data`` (any of open, high, low, close, volume)
*revises* it. Exchanges do correct bars, and a user may import a cleaner file over a bad one, so
a revision is allowed, but never silently:

1. :func:`find_revisions` joins the staged batch with the stored bars on the natural key and
   returns each changed bar with its old and new values, before anything is written.
2. Each change is judged against its series' recent volatility: ``sigma`` is the sample SD of
   the one-bar log returns (consecutive stored bars exactly one timeframe apart) over the last
   ``ingest.revision_window`` stored bars up to the latest revised one, floored at
   ``ingest.revision_min_sigma``; ``sigmas`` is the largest of ``|ln(new / old)|`` over open,
   high, low and close, divided by ``sigma``. A change within ``ingest.revision_max_sigma`` is
   plausible. Volume is kept but not judged (a bar's volume is often restated).
3. The ingest refuses a batch with an implausible revision (:func:`refusal_message`), unless the
   user allows it, and otherwise writes each revision to ``market_data_revisions``
   (:func:`record_revisions`) in the transaction that applies it: the old values are never lost.

The old bar's history is in the window, so correcting a bad stored spike is plausible (the
spike made ``sigma`` large), while writing a spike over a clean history is not.
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

_SIGMA_SQL = """
    with revised as (
        select exchange, symbol, timeframe, max(ts) as last_revised
        from changed_bars group by all
    ),
    recent as (
        select
            m.exchange, m.symbol, m.timeframe, m.ts, m.close,
            lag(m.ts) over ascending as previous_ts,
            lag(m.close) over ascending as previous_close,
            row_number() over (
                partition by m.exchange, m.symbol, m.timeframe order by m.ts desc
            ) as back
        from market_data as m
        join revised using (exchange, symbol, timeframe)
        where m.ts <= revised.last_revised
        window ascending as (partition by m.exchange, m.symbol, m.timeframe order by m.ts)
    )
    select
        exchange, symbol, timeframe,
        stddev_samp(ln(close / previous_close)) filter (
            where back <= ? and previous_ts = ts - to_seconds(?)
                and close > 0 and previous_close > 0
        ) as sigma
    from recent group by all
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
    con.register("changed_bars", changed)
    try:
        sigmas = con.execute(_SIGMA_SQL, [settings.revision_window, bar_seconds]).df()
    finally:
        con.unregister("changed_bars")
    frame = changed.merge(sigmas, on=["exchange", "symbol", "timeframe"], how="left")
    frame["sigma"] = frame["sigma"].fillna(0.0).clip(lower=settings.revision_min_sigma)
    frame["sigmas"] = _largest_log_change(frame) / frame["sigma"]
    frame["plausible"] = frame["sigmas"] <= settings.revision_max_sigma
    return frame


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
        f"(setting ingest.revision_max_sigma), {len(revisions):,} revised in all: {listed}{more}. "
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
