"""Warehouse reads for the app: one short read-only connection per query batch, results cached.

DuckDB lets one process write a file, and a process holding even a read-only connection blocks
that writer (ARCHITECTURE rule 6). So the app never keeps a connection: every cached read opens
one with ``read_connection`` (which waits, bounded, while a flow holds the write lock), fetches
its results in full and closes it. Results are cached with ``st.cache_data``; the cache key
carries the warehouse file's version (size and modification time of the file and its WAL), so a
flow's commit shows on the next rerun and the TTL only bounds memory.

Work is pushed into DuckDB: time series are bucketed in SQL to at most a few hundred points per
chart, tables are limited to the newest rows, and only aggregates cross into pandas.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from cryptobot.config import SIMULATOR_EXCHANGE, Settings
from cryptobot.features import FEATURES_TABLE
from cryptobot.readmodel import (
    POSITIONS_SQL,
    SIMULATED_MARKET_SQL,
    AccountFilters,
    backtest_headline_sql,
)
from cryptobot.status import largest_gaps, market_status, quarantine_summary, recent_batches
from cryptobot.timeframes import timeframe_seconds_sql
from cryptobot.warehouse.db import file_version, read_connection

#: seconds a cached result is kept (the file version in the key makes new data show at once)
CACHE_TTL = 600
#: seconds a read waits while a flow holds the warehouse's write lock
READ_TIMEOUT = 15.0
#: points per time-series chart; longer series are bucketed in SQL
MAX_POINTS = 1500
#: points of a chart comparing several series, shared by them (each at most MAX_POINTS): a wide
#: chart is ~900 pixels, and every point costs the browser time
COMPARED_POINTS = 2400
#: candles per chart; longer ranges are merged into candles of several bars in SQL
MAX_CANDLES = 400
#: rows per table; the newest are shown and the total is counted
MAX_ROWS = 1000

TIMEFRAME_SECONDS = timeframe_seconds_sql()
#: a market_data row is simulated when its source says so or it is stored under the simulator's
#: exchange id (the definition shared with the REST API)
SIMULATED_SQL = SIMULATED_MARKET_SQL


@dataclass(frozen=True)
class Account:
    """An account shown: its name (``trading.account``) and mode (paper | live)."""

    name: str
    mode: str

    def __str__(self) -> str:
        return f"{self.name} ({self.mode})"

    @property
    def params(self) -> dict[str, str]:
        return {"account": self.name, "mode": self.mode}


#: the SQL condition selecting one account's rows (parameters: ``Account.params``)
ACCOUNT_SQL = "account = $account and mode = $mode"


@dataclass(frozen=True)
class Warehouse:
    """The warehouse file and its version (part of every cache key)."""

    path: str
    version: tuple[int, ...]

    @property
    def exists(self) -> bool:
        return Path(self.path).is_file()


def warehouse(settings: Settings) -> Warehouse:
    path = Path(settings.warehouse).expanduser().resolve()
    return Warehouse(str(path), file_version(path))


@st.cache_data(ttl=CACHE_TTL, max_entries=512, show_spinner=False)
def _fetch(wh: Warehouse, queries: tuple[tuple[str, Any], ...]) -> list[pd.DataFrame]:
    """Run ``queries`` (sql, params) on one fresh read-only connection, then close it."""
    with read_connection(Path(wh.path), timeout=READ_TIMEOUT) as con:
        return [con.execute(sql, params).df() for sql, params in queries]


def query(wh: Warehouse, sql: str, params: Any = None) -> pd.DataFrame:
    return _fetch(wh, ((sql, params),))[0]


def queries(wh: Warehouse, *batch: tuple[str, Any]) -> list[pd.DataFrame]:
    return _fetch(wh, tuple(batch))


@st.cache_data(ttl=CACHE_TTL, max_entries=64, show_spinner=False)
def tables(wh: Warehouse) -> frozenset[str]:
    """``schema.table`` of every table and view in the warehouse."""
    frame = query(
        wh,
        "select schema_name || '.' || table_name as name from duckdb_tables() "
        "union all select schema_name || '.' || view_name from duckdb_views() where not internal",
    )
    return frozenset(frame["name"])


def has_table(wh: Warehouse, name: str) -> bool:
    """``name`` as ``schema.table``; a bare name means the ``main`` schema."""
    return (name if "." in name else f"main.{name}") in tables(wh)


def has_features(wh: Warehouse) -> bool:
    return has_table(wh, FEATURES_TABLE)


def _bucketed(points: int) -> str:
    """SQL grouping rows of a CTE ``numbered`` (columns ``i`` 0-based, ``n`` total) into at
    most ``points`` consecutive buckets."""
    return f"i // greatest(1, ceil(n / {int(points)}))::bigint"


# -- pipeline summary (Overview) -------------------------------------------------------------


def pipeline_summary(wh: Warehouse) -> dict[str, Any]:
    """What the warehouse holds, in a few numbers (each 0 / None when its table is missing)."""
    parts = [
        (
            "select count(*) as bars, count(distinct (exchange, symbol, timeframe)) as series, "
            f"max(ts) as last_bar, coalesce(bool_or({SIMULATED_SQL}), false) as simulated "
            "from market_data",
            None,
        ),
        ("select count(*) as n from ml_predictions", None),
        ("select count(*) as n from trade_decisions", None),
        ("select count(*) as n from trades", None),
    ]
    if has_features(wh):
        parts.append((f"select count(*) as n, max(ts) as last_ts from {FEATURES_TABLE}", None))
    frames = queries(wh, *parts)
    market = frames[0].iloc[0]
    return {
        "bars": int(market["bars"]),
        "series": int(market["series"]),
        "last_bar": None if pd.isna(market["last_bar"]) else market["last_bar"],
        "market_simulated": bool(market["simulated"]),
        "predictions": int(frames[1]["n"].iloc[0]),
        "decisions": int(frames[2]["n"].iloc[0]),
        "fills": int(frames[3]["n"].iloc[0]),
        "features": int(frames[4]["n"].iloc[0]) if len(frames) > 4 else None,
    }


# -- the account (Overview, Risk) ----------------------------------------------------------------


def accounts(wh: Warehouse) -> pd.DataFrame:
    """One row per account (name and mode) with equity rows: rows, first/last ts, simulated."""
    return query(
        wh,
        """
        select account, mode, count(*) as rows, min(ts) as first_ts, max(ts) as last_ts,
            bool_or(is_simulated) as is_simulated
        from equity_curve group by account, mode order by account, mode
        """,
    )


def equity_series(wh: Warehouse, account: Account, points: int = MAX_POINTS) -> pd.DataFrame:
    """The equity curve of ``account``, bucketed to at most ``points`` rows: equity, cash and
    positions at each bucket's end, the bucket's worst drawdown."""
    return query(
        wh,
        f"""
        with numbered as (
            select *, row_number() over (order by ts) - 1 as i, count(*) over () as n
            from equity_curve where {ACCOUNT_SQL}
        )
        select
            max(ts) as ts,
            arg_max(equity, ts) as equity,
            arg_max(cash, ts) as cash,
            arg_max(positions_value, ts) as positions_value,
            arg_max(gross_exposure, ts) as gross_exposure,
            arg_max(peak_equity, ts) as peak_equity,
            max(drawdown) as drawdown,
            arg_max(daily_pnl, ts) as daily_pnl,
            bool_or(is_simulated) as is_simulated
        from numbered
        group by {_bucketed(points)}
        order by ts
        """,
        account.params,
    )


def account_state(wh: Warehouse, account: Account) -> dict[str, Any] | None:
    """The latest equity row of ``account`` (a dict), its first equity and worst drawdown, and
    its positions; None when the account has no equity rows."""
    latest, stats, positions = queries(
        wh,
        (
            f"select * from equity_curve where {ACCOUNT_SQL} order by ts desc limit 1",
            account.params,
        ),
        (
            "select arg_min(equity, ts) as first_equity, min(ts) as first_ts, "
            "max(drawdown) as max_drawdown, count(*) as rows "
            f"from equity_curve where {ACCOUNT_SQL}",
            account.params,
        ),
        (POSITIONS_SQL, account.params),
    )
    if latest.empty:
        return None
    return {
        "latest": latest.iloc[0].to_dict(),
        "first_equity": float(stats["first_equity"].iloc[0]),
        "first_ts": stats["first_ts"].iloc[0],
        "max_drawdown": float(stats["max_drawdown"].iloc[0]),
        "rows": int(stats["rows"].iloc[0]),
        "positions": positions,
    }


# -- market (Market, Risk) ---------------------------------------------------------------------


def market_series(wh: Warehouse) -> pd.DataFrame:
    """Every stored (exchange, symbol, timeframe): first/last bar, bars, simulated, and whether
    the feature mart has it."""
    market = query(
        wh,
        f"""
        select exchange, symbol, timeframe, min(ts) as first_ts, max(ts) as last_ts,
            count(*) as bars, bool_or({SIMULATED_SQL}) as is_simulated
        from market_data group by all order by exchange, symbol, timeframe
        """,
    )
    market["has_features"] = False
    if has_features(wh) and not market.empty:
        featured = query(wh, f"select distinct exchange, symbol, timeframe from {FEATURES_TABLE}")
        keys = set(featured.itertuples(index=False, name=None))
        market["has_features"] = [
            (e, s, t) in keys
            for e, s, t in zip(
                market["exchange"], market["symbol"], market["timeframe"], strict=True
            )
        ]
    return market


INDICATORS = (
    "rsi_14",
    "macd",
    "macd_signal",
    "macd_hist",
    "bb_upper",
    "bb_middle",
    "bb_lower",
    "realized_vol_24",
)


def candles(
    wh: Warehouse,
    exchange: str,
    symbol: str,
    timeframe: str,
    days: int | None,
    *,
    features: bool,
    points: int = MAX_CANDLES,
    start: datetime | None = None,
    end: datetime | None = None,
) -> pd.DataFrame:
    """The last ``days`` of a series (all of it when None), merged in SQL into at most
    ``points`` candles (open of the first bar, close and indicators of the last, high/low/volume
    over the bars); ``bars`` is how many bars each candle holds. With ``features`` (the series
    is in the feature mart) read from the mart with its indicators, else from ``market_data``
    with the indicators null. ``start``/``end`` (naive UTC, end excluded) bound the bars' open
    times as well."""
    table = FEATURES_TABLE if features else "market_data"
    simulated = (
        f"(is_simulated or exchange = '{SIMULATOR_EXCHANGE}')" if features else SIMULATED_SQL
    )
    indicators = ",\n".join(
        f"arg_max({name}, ts) as {name}" if features else f"null::double as {name}"
        for name in INDICATORS
    )
    return query(
        wh,
        f"""
        with series as (
            select * from {table}
            where exchange = $exchange and symbol = $symbol and timeframe = $timeframe
                and ($start::timestamp is null or ts >= $start::timestamp)
                and ($end::timestamp is null or ts < $end::timestamp)
        ),
        numbered as (
            select *, {simulated} as simulated,
                row_number() over (order by ts) - 1 as i, count(*) over () as n
            from series
            where $days::integer is null
                or ts > (select max(ts) from series) - to_days($days::integer)
        )
        select
            min(ts) as ts,
            max(ts) as last_ts,
            count(*) as bars,
            arg_min(open, ts) as open,
            max(high) as high,
            min(low) as low,
            arg_max(close, ts) as close,
            sum(volume) as volume,
            {indicators},
            bool_or(simulated) as is_simulated
        from numbered
        group by {_bucketed(points)}
        order by ts
        """,
        {
            "exchange": exchange,
            "symbol": symbol,
            "timeframe": timeframe,
            "days": days,
            "start": start,
            "end": end,
        },
    )


def recent_returns(
    wh: Warehouse, exchange: str, timeframe: str, symbols: tuple[str, ...], bars: int
) -> pd.DataFrame:
    """Log returns of the last ``bars`` bars of each symbol, one column per symbol (rows: ts)."""
    frame = query(
        wh,
        f"""
        with recent as (
            select symbol, ts, close, {SIMULATED_SQL} as is_simulated from market_data
            where exchange = $exchange and timeframe = $timeframe
                and list_contains($symbols, symbol)
            qualify row_number() over (partition by symbol order by ts desc) <= $bars + 1
        )
        select symbol, ts, ln(close / lag(close) over (partition by symbol order by ts)) as r,
            is_simulated
        from recent order by ts
        """,
        {"exchange": exchange, "timeframe": timeframe, "symbols": list(symbols), "bars": bars},
    )
    if frame.empty:
        return pd.DataFrame()
    wide = frame.pivot_table(index="ts", columns="symbol", values="r").dropna()
    wide.attrs["is_simulated"] = bool(frame["is_simulated"].any())
    return wide


# -- trades (Trades) ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TradeFilters:
    """What the Trades page shows; empty tuples mean "all"."""

    account: Account
    start: date
    end: date  # inclusive
    symbols: tuple[str, ...] = field(default=())
    sides: tuple[str, ...] = field(default=())
    actions: tuple[str, ...] = field(default=())

    def where(self, ts: str, *, side: str | None = None, action: str | None = None):
        """The SQL condition and parameters (the filters shared with the REST API)."""
        return AccountFilters(
            account=self.account.name,
            mode=self.account.mode,
            symbols=self.symbols,
            sides=self.sides,
            actions=self.actions,
            start=pd.Timestamp(self.start).to_pydatetime(),
            end=pd.Timestamp(self.end + timedelta(days=1)).to_pydatetime(),
        ).where(ts, side=side, status=None, action=action)


def trade_options(wh: Warehouse) -> dict[str, Any]:
    """Choices for the Trades filters: accounts, symbols, sides, actions and the date span."""
    frame = query(
        wh,
        """
        with events as (
            select account, mode, symbol, null as side, action, decided_at as ts
            from trade_decisions
            union all select account, mode, symbol, side, null, created_at from orders
            union all select account, mode, symbol, side, null, ts from trades
        )
        select account, mode, symbol, side, action, min(ts) as first_ts, max(ts) as last_ts
        from events group by all
        """,
    )
    if frame.empty:
        return {}
    return {
        "accounts": sorted(
            {Account(str(a), str(m)) for a, m in zip(frame["account"], frame["mode"], strict=True)},
            key=str,
        ),
        "symbols": sorted(frame["symbol"].unique()),
        "sides": sorted(frame["side"].dropna().unique()),
        "actions": sorted(frame["action"].dropna().unique()),
        "first_day": frame["first_ts"].min().date(),
        "last_day": frame["last_ts"].max().date(),
    }


def orders(wh: Warehouse, filters: TradeFilters, limit: int = MAX_ROWS) -> pd.DataFrame:
    where, params = filters.where("created_at", side="side")
    return query(
        wh,
        f"""
        select created_at, symbol, timeframe, side, order_type, amount, status, filled,
            average_price, fee, reason, bar_ts, strategy, exchange, client_order_id,
            exchange_order_id, decision_id, updated_at, is_simulated,
            count(*) over () as total
        from orders where {where}
        order by created_at desc, symbol limit {int(limit)}
        """,
        params,
    )


def fills(wh: Warehouse, filters: TradeFilters, limit: int = MAX_ROWS) -> pd.DataFrame:
    where, params = filters.where("ts", side="side")
    return query(
        wh,
        f"""
        select ts, symbol, side, amount, price, amount * price as notional, fee, fee_currency,
            reference_price, spread_cost, slippage_cost, strategy, exchange, client_order_id,
            id, bar_ts, is_simulated,
            count(*) over () as total
        from trades where {where}
        order by ts desc, symbol limit {int(limit)}
        """,
        params,
    )


_CHECK_TYPE = '[{"name": "VARCHAR", "passed": "BOOLEAN"}]'


def decisions(wh: Warehouse, filters: TradeFilters, limit: int = MAX_ROWS) -> pd.DataFrame:
    """The audit trail: one row per decision, with the names of the checks that failed."""
    where, params = filters.where("decided_at", action="action")
    return query(
        wh,
        f"""
        select decided_at, symbol, timeframe, action, reason,
            array_to_string(list_transform(
                list_filter(
                    from_json(checks, '{_CHECK_TYPE}'), lambda c: not coalesce(c.passed, false)
                ),
                lambda c: c.name), ', ') as failed_checks,
            len(from_json(checks, '{_CHECK_TYPE}')) as checks_run,
            prob_up, confidence, pred_return, price, position_before, target_amount,
            order_amount, client_order_id, model_name, model_version, bar_ts, strategy,
            exchange, id, is_simulated,
            count(*) over () as total
        from trade_decisions where {where}
        order by decided_at desc, symbol limit {int(limit)}
        """,
        params,
    )


def decision_checks(wh: Warehouse, decision_id: str) -> pd.DataFrame:
    """Each risk check of one decision: name, passed, value, limit, detail."""
    return query(
        wh,
        """
        with checks as (
            select unnest(from_json(checks, '["JSON"]')) as c
            from trade_decisions where id = $id
        )
        select c->>'name' as name, (c->>'passed')::boolean as passed,
            c->>'value' as value, c->>'limit' as "limit", c->>'detail' as detail
        from checks
        """,
        {"id": decision_id},
    )


# -- risk (Risk) -------------------------------------------------------------------------------


def latest_checks(wh: Warehouse, account: Account) -> pd.DataFrame:
    """Each check of the newest decision per (exchange, symbol, timeframe) of ``account``."""
    return query(
        wh,
        f"""
        with latest as (
            select * from trade_decisions where {ACCOUNT_SQL} and checks is not null
            qualify row_number() over (
                partition by exchange, symbol, timeframe order by decided_at desc) = 1
        ),
        checks as (
            select symbol, timeframe, decided_at, action,
                unnest(from_json(checks, '["JSON"]')) as c
            from latest
        )
        select symbol, timeframe, decided_at, action, c->>'name' as name,
            (c->>'passed')::boolean as passed,
            try_cast(c->>'value' as double) as value,
            try_cast(c->>'limit' as double) as "limit",
            c->>'detail' as detail
        from checks order by name, symbol
        """,
        account.params,
    )


def blocked_by_check(wh: Warehouse, account: Account) -> pd.DataFrame:
    """How often each check failed in ``account``'s decisions, and when last."""
    return query(
        wh,
        f"""
        with checks as (
            select decided_at, unnest(from_json(checks, '["JSON"]')) as c
            from trade_decisions where {ACCOUNT_SQL} and checks is not null
        )
        select c->>'name' as name, count(*) as failures, max(decided_at) as last_failure
        from checks where not coalesce((c->>'passed')::boolean, false)
        group by all order by failures desc, name
        """,
        account.params,
    )


# -- data quality (Data quality) ---------------------------------------------------------------


def quality(wh: Warehouse) -> dict[str, pd.DataFrame]:
    """Series coverage and gaps (the same definitions as ``cryptobot status``), the last
    validation per series, quarantine, recent batches and the feature mart's coverage."""
    return _quality(wh, has_features(wh))


@st.cache_data(ttl=CACHE_TTL, max_entries=16, show_spinner=False)
def _quality(wh: Warehouse, features: bool) -> dict[str, pd.DataFrame]:
    with read_connection(Path(wh.path), timeout=READ_TIMEOUT) as con:
        series = pd.DataFrame(
            [
                vars(s) | {"is_simulated": s.is_simulated or s.exchange == SIMULATOR_EXCHANGE}
                for s in market_status(con)
            ],
            columns=[
                "exchange", "symbol", "timeframe", "sources", "first_ts", "last_ts", "rows",
                "missing_bars", "gaps", "revisions", "is_simulated",
            ],
        )  # fmt: skip
        timing = con.execute(
            f"""
            select exchange, symbol, timeframe, max(available_at) as last_available_at,
                max(fetched_at) as last_fetched_at, any_value({TIMEFRAME_SECONDS}) as tf_seconds
            from market_data group by all
            """
        ).df()
        gaps = pd.DataFrame(
            [vars(g) for g in largest_gaps(con, limit=50)],
            columns=["exchange", "symbol", "timeframe", "after", "before", "missing_bars"],
        )
        validation = con.execute(
            """
            select table_name, exchange, symbol, timeframe, success, rows, gaps,
                failures::varchar as failures, run_at, id
            from validation_runs
            qualify row_number() over (
                partition by table_name, exchange, symbol, timeframe order by run_at desc) = 1
            order by success, table_name, exchange, symbol, timeframe
            """
        ).df()
        validation_totals = con.execute(
            "select count(*) as runs, count(*) filter (where not success) as failed, "
            "max(run_at) as last_run from validation_runs"
        ).df()
        quarantine = pd.DataFrame(
            quarantine_summary(con), columns=["table_name", "reason", "rows", "last_quarantined"]
        )
        quarantined = con.execute(
            """
            select quarantined_at, table_name, exchange, symbol, timeframe, ts, reason,
                batch_id, row_number, record::varchar as record
            from quarantine order by quarantined_at desc, batch_id, row_number limit 200
            """
        ).df()
        batches = pd.DataFrame(
            recent_batches(con, limit=20),
            columns=[
                "id", "source", "table_name", "symbol", "rows", "inserted", "updated",
                "quarantined", "status", "started_at",
            ],
        )  # fmt: skip
        feature_coverage = (
            con.execute(
                f"""
                select exchange, symbol, timeframe, count(*) as feature_rows,
                    max(ts) as last_feature_ts
                from {FEATURES_TABLE} group by all
                """
            ).df()
            if features
            else pd.DataFrame(
                columns=["exchange", "symbol", "timeframe", "feature_rows", "last_feature_ts"]
            )
        )
    keys = ["exchange", "symbol", "timeframe"]
    series = series.merge(timing, on=keys, how="left").merge(feature_coverage, on=keys, how="left")
    return {
        "series": series,
        "gaps": gaps,
        "validation": validation,
        "validation_totals": validation_totals,
        "quarantine": quarantine,
        "quarantined": quarantined,
        "batches": batches,
    }


def predictions(wh: Warehouse, model_name: str, limit: int = 500) -> dict[str, pd.DataFrame]:
    """A model's stored predictions: per version (rows, resolved, live accuracy, span) and the
    newest ``limit`` rows."""
    summary, rows = queries(
        wh,
        (
            """
            select model_version, any_value(family) as family, count(*) as predictions,
                count(actual) as resolved, avg(correct::int) as live_accuracy,
                min(ts) as first_ts, max(ts) as last_ts, bool_or(is_simulated) as is_simulated
            from ml_predictions where model_name = $name
            group by model_version order by try_cast(model_version as integer) desc
            """,
            {"name": model_name},
        ),
        (
            f"""
            select ts, model_version, family, predicted, actual, prob_up, confidence, correct,
                direction, horizon, created_at, resolved_at, is_simulated
            from ml_predictions where model_name = $name
            order by ts desc, try_cast(model_version as integer) desc limit {int(limit)}
            """,
            {"name": model_name},
        ),
    )
    return {"summary": summary, "rows": rows.sort_values("ts").reset_index(drop=True)}


# -- backtests (Backtests) ---------------------------------------------------------------------

#: ``backtest_runs.role`` of a backtest's main run; its comparison legs (buy_and_hold, each
#: baseline) are runs of their own whose ``parent_id`` is the main run
MAIN_ROLE = "strategy"
#: the after-cost metrics the runs tables show, read from the ``metrics`` JSON in SQL
_HEADLINE_SQL = backtest_headline_sql()
_ROLE_ORDER = f"case role when '{MAIN_ROLE}' then 0 when 'buy_and_hold' then 1 else 2 end"


def has_backtests(wh: Warehouse) -> bool:
    return has_table(wh, "backtest_runs")


def backtest_catalog(wh: Warehouse, limit: int = MAX_ROWS) -> pd.DataFrame:
    """The newest ``limit`` backtests: each main run followed by its comparison legs, newest
    backtest first, with what each run is (window, strategy, flags) and its headline metrics.
    ``backtest_id`` is the main run's id on every row of a backtest."""
    return query(
        wh,
        f"""
        with mains as (
            select run_id, created_at as backtest_created from backtest_runs
            where role = '{MAIN_ROLE}' order by created_at desc, run_id limit {int(limit)}
        )
        select r.run_id, r.parent_id, coalesce(r.parent_id, r.run_id) as backtest_id, r.role,
            r.label, r.strategy, r.exchange, r.timeframe, r.symbols, r.start_ts, r.end_ts,
            r.bars, r.capital, r.in_sample, r.is_simulated, r.created_at, r.models,
            {_HEADLINE_SQL}
        from backtest_runs r
        join mains m on m.run_id = coalesce(r.parent_id, r.run_id)
        order by m.backtest_created desc, backtest_id, {_ROLE_ORDER}, r.label
        """,
    )


def backtest_runs(
    wh: Warehouse,
    strategies: tuple[str, ...] = (),
    symbols: tuple[str, ...] = (),
    limit: int = MAX_ROWS,
) -> pd.DataFrame:
    """The stored main runs, newest first, filtered by strategy and by symbol (a run trading
    any of ``symbols``); empty tuples mean all. ``legs``: its comparison runs; ``total``: the
    runs that match."""
    clauses, params = [f"role = '{MAIN_ROLE}'"], {}
    if strategies:
        clauses.append("list_contains($strategies, strategy)")
        params["strategies"] = list(strategies)
    if symbols:
        clauses.append("list_has_any(string_split(symbols, ','), $symbols)")
        params["symbols"] = list(symbols)
    return query(
        wh,
        f"""
        select created_at, strategy, symbols, start_ts, end_ts, bars, {_HEADLINE_SQL},
            in_sample, is_simulated, exchange, timeframe, capital, run_id,
            (select count(*) from backtest_runs l where l.parent_id = r.run_id) as legs,
            count(*) over () as total
        from backtest_runs r where {" and ".join(clauses)}
        order by created_at desc, run_id limit {int(limit)}
        """,
        params or None,
    )


def backtest_metrics(wh: Warehouse, run_ids: tuple[str, ...]) -> pd.DataFrame:
    """Every after-cost metric of ``run_ids``, long: run_id, metric, value (null when the
    metric is undefined for the run, e.g. a profit factor without losing trades)."""
    return query(
        wh,
        """
        with keys as (
            select run_id, metrics, unnest(json_keys(metrics)) as metric
            from backtest_runs where list_contains($ids, run_id)
        )
        select run_id, metric,
            try_cast(json_extract_string(metrics, '$."' || metric || '"') as double) as value
        from keys
        """,
        {"ids": list(run_ids)},
    )


def backtest_curves(wh: Warehouse, run_ids: tuple[str, ...], bucket_hours: int) -> pd.DataFrame:
    """The equity of ``run_ids`` in ``bucket_hours``-hour buckets (UTC, from midnight): the last
    mark of each bucket (its equity, and that as a multiple of the run's starting capital,
    ``growth``) and the bucket's worst drawdown. ``marks``: the run's stored marks."""
    return query(
        wh,
        """
        select e.run_id,
            max(e.ts) as ts,
            arg_max(e.equity, e.ts) as equity,
            arg_max(e.equity, e.ts) / any_value(r.capital) as growth,
            max(e.drawdown) as drawdown,
            sum(count(*)) over (partition by e.run_id) as marks
        from backtest_equity e join backtest_runs r on r.run_id = e.run_id
        where list_contains($ids, e.run_id)
        group by e.run_id, time_bucket(to_hours($hours::integer), e.ts)
        order by e.run_id, ts
        """,
        {"ids": list(run_ids), "hours": int(bucket_hours)},
    )


def backtest_fills(
    wh: Warehouse,
    run_id: str,
    symbol: str,
    start: datetime,
    end: datetime,
    limit: int = MAX_ROWS,
) -> pd.DataFrame:
    """The fills of one run's ``symbol`` at bars opening in [start, end), oldest first (the
    first ``limit``; ``total`` counts them all)."""
    return query(
        wh,
        f"""
        select ts, side, amount, price, fee, amount * price as notional, reference_price,
            spread_cost, slippage_cost, order_no, count(*) over () as total
        from backtest_fills
        where run_id = $run and symbol = $symbol and ts >= $start and ts < $end
        order by ts, order_no limit {int(limit)}
        """,
        {"run": run_id, "symbol": symbol, "start": start, "end": end},
    )
