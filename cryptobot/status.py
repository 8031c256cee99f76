"""What is in the warehouse: series, coverage, gaps, revisions, recent batches, quarantine,
features.

Plain read-only queries; the heavy lifting (gap detection over millions of rows) happens in DuckDB.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

from cryptobot.timeframes import timeframe_seconds_sql

TIMEFRAME_SECONDS_SQL = timeframe_seconds_sql()


@dataclass(frozen=True)
class SeriesStatus:
    exchange: str
    symbol: str
    timeframe: str
    sources: str
    first_ts: datetime
    last_ts: datetime
    rows: int
    missing_bars: int
    gaps: int
    #: stored bars changed by a later batch (their previous values are in market_data_revisions)
    revisions: int = 0

    @property
    def is_simulated(self) -> bool:
        return "simulated" in self.sources.split(",")


@dataclass(frozen=True)
class Gap:
    exchange: str
    symbol: str
    timeframe: str
    after: datetime
    before: datetime
    missing_bars: int


def _steps_sql(where: str = "") -> str:
    return f"""
        select
            exchange, symbol, timeframe, source, ts,
            lag(ts) over (partition by exchange, symbol, timeframe order by ts) as previous_ts,
            {TIMEFRAME_SECONDS_SQL} as timeframe_seconds
        from market_data {where}
    """


def market_status(con: duckdb.DuckDBPyConnection) -> list[SeriesStatus]:
    """One row per (exchange, symbol, timeframe) with coverage and gaps."""
    rows = con.execute(
        f"""
        with steps as ({_steps_sql()}),
        missing as (
            select *,
                greatest(
                    coalesce(
                        (epoch(ts) - epoch(previous_ts)) // timeframe_seconds - 1, 0
                    ),
                    0
                ) as missing_bars
            from steps
        ),
        revisions as (
            select exchange, symbol, timeframe, count(*) as revisions
            from market_data_revisions group by all
        ),
        series as (
            select
                exchange, symbol, timeframe,
                string_agg(distinct source, ',' order by source) as sources,
                min(ts) as first_ts, max(ts) as last_ts, count(*) as rows,
                cast(sum(missing_bars) as bigint) as missing_bars,
                count(*) filter (where missing_bars > 0) as gaps
            from missing
            group by all
        )
        select series.*, coalesce(revisions.revisions, 0)
        from series
        left join revisions using (exchange, symbol, timeframe)
        order by exchange, symbol, timeframe
        """
    ).fetchall()
    return [SeriesStatus(*row) for row in rows]


def largest_gaps(con: duckdb.DuckDBPyConnection, limit: int = 10) -> list[Gap]:
    rows = con.execute(
        f"""
        with steps as ({_steps_sql()})
        select exchange, symbol, timeframe, previous_ts, ts,
            cast((epoch(ts) - epoch(previous_ts)) // timeframe_seconds - 1 as bigint) as missing
        from steps
        where previous_ts is not null and epoch(ts) - epoch(previous_ts) > timeframe_seconds
        order by missing desc, exchange, symbol, timeframe, ts
        limit ?
        """,
        [limit],
    ).fetchall()
    return [Gap(*row) for row in rows]


def sentiment_status(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """(source, symbols, rows, first ts, last ts, last available_at) per sentiment source."""
    return con.execute(
        """
        select source, count(distinct symbol), count(*), min(ts), max(ts), max(available_at)
        from sentiment group by source order by source
        """
    ).fetchall()


def recent_batches(con: duckdb.DuckDBPyConnection, limit: int = 5) -> list[tuple]:
    return con.execute(
        """
        select id, source, table_name, coalesce(symbol, ''), rows, rows_inserted, rows_updated,
            rows_quarantined, status, started_at
        from ingest_batches order by started_at desc, id desc limit ?
        """,
        [limit],
    ).fetchall()


def quarantine_summary(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """(table, reason, rows, last quarantined_at) in the quarantine table."""
    return con.execute(
        """
        select table_name, reason, count(*), max(quarantined_at)
        from quarantine group by all order by 4 desc, 3 desc
        """
    ).fetchall()


def feature_rows(con: duckdb.DuckDBPyConnection) -> int | None:
    """Rows in the feature mart, or None before the first `cryptobot features`."""
    found = con.execute(
        "select table_schema from information_schema.tables where table_name = 'fct_features'"
    ).fetchone()
    if found is None:
        return None
    return int(con.execute(f'select count(*) from "{found[0]}".fct_features').fetchone()[0])
