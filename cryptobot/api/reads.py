"""What the API reads: plain functions of a DuckDB cursor (the snapshot's) and their filters.

The definitions shared with ``cryptobot status``, the app and the reports come from the core:
series coverage and gaps (:func:`cryptobot.status.market_status`), recent batches and quarantine
(:mod:`cryptobot.status`), the account filters and the positions' unrealised P&L
(:mod:`cryptobot.readmodel`). Rows leave as dicts of JSON-ready values: times as UTC-aware
datetimes, non-finite floats as None.
"""

from __future__ import annotations

import math
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from cryptobot.readmodel import (
    POSITIONS_SQL,
    SIMULATED_MARKET_SQL,
    AccountFilters,
    backtest_headline_sql,
)
from cryptobot.status import market_status, quarantine_summary, recent_batches
from cryptobot.timeframes import timeframe_seconds_sql

TIMEFRAME_SECONDS = timeframe_seconds_sql()
#: ``backtest_runs.role`` of a backtest's main run (its legs are runs whose parent_id is it)
MAIN_ROLE = "strategy"
CHAMPION = "champion"  # models.tracking.CHAMPION (the core does not import models)


def clean(value: Any) -> Any:
    """A warehouse value as JSON can carry it."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _dicts(cursor: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    names = [column[0] for column in cursor.description]
    return [{n: clean(v) for n, v in zip(names, row, strict=True)} for row in cursor.fetchall()]


def query(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> list[dict[str, Any]]:
    return _dicts(con.execute(sql, params))


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    total: int
    limit: int
    offset: int

    @property
    def next_offset(self) -> int | None:
        following = self.offset + len(self.items)
        return following if following < self.total else None


def _paged(con, sql: str, params: dict, limit: int, offset: int) -> Page:
    """``sql`` (without limit) paged; ``total`` counts every matching row."""
    total = con.execute(f"select count(*) from ({sql})", params).fetchone()[0]
    items = query(con, f"{sql} limit {int(limit)} offset {int(offset)}", params)
    return Page(items, int(total), limit, offset)


# -- status --------------------------------------------------------------------------------------


def summary(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """What the warehouse holds, in a few numbers, and the accounts with equity rows."""
    market = query(
        con,
        f"""
        select count(*) as bars, count(distinct (exchange, symbol, timeframe)) as series,
            max(ts) as last_bar_ts, coalesce(bool_or({SIMULATED_MARKET_SQL}), false) as is_simulated
        from market_data
        """,
    )[0]
    counts = con.execute(
        "select (select count(*) from ml_predictions), (select count(*) from trade_decisions), "
        "(select count(*) from orders), (select count(*) from trades), "
        f"(select count(*) from backtest_runs where role = '{MAIN_ROLE}')"
    ).fetchone()
    accounts = query(
        con,
        """
        select mode, arg_max(equity, ts) as equity, max(ts) as last_ts, count(*) as marks,
            max(drawdown) as max_drawdown, bool_or(is_simulated) as is_simulated
        from equity_curve group by mode order by mode
        """,
    )
    return market | {
        "predictions": counts[0],
        "decisions": counts[1],
        "orders": counts[2],
        "fills": counts[3],
        "backtests": counts[4],
        "accounts": accounts,
    }


def newest_bars(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Per stored series: its newest bar (open time) and its timeframe in seconds."""
    return query(
        con,
        f"""
        select exchange, symbol, timeframe, max(ts) as last_bar_ts,
            any_value({TIMEFRAME_SECONDS}) as timeframe_seconds,
            coalesce(bool_or({SIMULATED_MARKET_SQL}), false) as is_simulated
        from market_data group by all order by exchange, symbol, timeframe
        """,
    )


def bar_ages(newest: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """``newest_bars`` with the seconds since each newest bar closed (``bar_age_seconds``)."""
    aged = []
    for row in newest:
        closed = row["last_bar_ts"].timestamp() + row["timeframe_seconds"]
        aged.append(
            {k: v for k, v in row.items() if k != "timeframe_seconds"}
            | {"bar_age_seconds": round(now.timestamp() - closed, 3)}
        )
    return aged


# -- the account ---------------------------------------------------------------------------------


def positions(
    con: duckdb.DuckDBPyConnection, mode: str, account: str = "default"
) -> list[dict[str, Any]]:
    return query(con, POSITIONS_SQL, {"account": account, "mode": mode})


def equity(
    con: duckdb.DuckDBPyConnection, filters: AccountFilters, limit: int, offset: int
) -> Page:
    where, params = filters.where("ts", side=None, status=None)
    sql = f"""
        select ts, cash, positions_value, equity, gross_exposure, peak_equity, drawdown,
            day_start_equity, daily_pnl, is_simulated
        from equity_curve where {where} order by ts desc
    """
    return _paged(con, sql, params, limit, offset)


def orders(
    con: duckdb.DuckDBPyConnection, filters: AccountFilters, limit: int, offset: int
) -> Page:
    where, params = filters.where("created_at")
    sql = f"""
        select client_order_id, created_at, updated_at, strategy, exchange, symbol, timeframe,
            bar_ts, side, order_type, amount, status, filled, average_price, fee,
            exchange_order_id, decision_id, reason, is_simulated
        from orders where {where} order by created_at desc, client_order_id
    """
    return _paged(con, sql, params, limit, offset)


def trades(
    con: duckdb.DuckDBPyConnection, filters: AccountFilters, limit: int, offset: int
) -> Page:
    where, params = filters.where("ts", status=None)
    sql = f"""
        select id, client_order_id, ts, strategy, exchange, symbol, timeframe, bar_ts, side,
            amount, price, amount * price as notional, fee, fee_currency, reference_price,
            spread_cost, slippage_cost, coalesce(is_simulated, false) as is_simulated
        from trades where {where} order by ts desc, id
    """
    return _paged(con, sql, params, limit, offset)


# -- models --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PredictionFilters:
    model_name: str | None = None
    symbol: str | None = None
    timeframe: str | None = None
    start: datetime | None = None
    end: datetime | None = None

    def where(self) -> tuple[str, dict[str, Any]]:
        clauses, params = ["true"], {}
        for column in ("model_name", "symbol", "timeframe"):
            value = getattr(self, column)
            if value is not None:
                clauses.append(f"{column} = ${column}")
                params[column] = value
        if self.start is not None:
            clauses.append("ts >= $start")
            params["start"] = self.start
        if self.end is not None:
            clauses.append("ts < $end")
            params["end"] = self.end
        return " and ".join(clauses), params


def predictions(
    con: duckdb.DuckDBPyConnection, filters: PredictionFilters, limit: int, offset: int
) -> Page:
    where, params = filters.where()
    sql = f"""
        select model_name, model_version, family, exchange, symbol, timeframe, ts, horizon,
            predicted, prob_up, direction, confidence, actual, correct, created_at, resolved_at,
            coalesce(is_simulated, false) as is_simulated
        from ml_predictions where {where}
        order by ts desc, model_name, try_cast(model_version as integer) desc
    """
    return _paged(con, sql, params, limit, offset)


def registry_path(tracking_uri: str) -> Path | None:
    """The SQLite file of an embedded MLflow store; None for any other kind of store."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    return Path(tracking_uri.removeprefix("sqlite:///")).expanduser().resolve()


def registered_models(store: Path) -> list[dict[str, Any]]:
    """Every registered model with its champion version, newest version and tags, read from
    MLflow's own SQLite tables (importing MLflow costs seconds; these tables are its record)."""
    uri = f"{store.as_uri()}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True, timeout=5)) as con:
        tables = {r[0] for r in con.execute("select name from sqlite_master where type='table'")}
        if "registered_models" not in tables:
            return []
        models = con.execute(
            """
            select m.name, m.creation_time, m.last_updated_time,
                (select a.version from registered_model_aliases a
                    where a.name = m.name and a.alias = ?) as champion,
                (select max(v.version) from model_versions v where v.name = m.name) as latest,
                (select count(*) from model_versions v where v.name = m.name) as versions
            from registered_models m order by m.name
            """,
            [CHAMPION],
        ).fetchall()
        tags: dict[str, dict[str, str]] = {}
        for name, key, value in con.execute(
            "select name, key, value from registered_model_tags"
        ).fetchall():
            tags.setdefault(name, {})[key] = value
    found = []
    for name, created, updated, champion, latest, versions in models:
        own = tags.get(name, {})
        found.append(
            {
                "name": name,
                "champion_version": None if champion is None else str(champion),
                "latest_version": None if latest is None else str(latest),
                "versions": versions,
                "exchange": own.get("exchange"),
                "symbol": own.get("symbol"),
                "timeframe": own.get("timeframe"),
                "horizon": own.get("horizon"),
                "is_simulated": own.get("data.simulated") == "true",
                "created_at": _ms(created),
                "updated_at": _ms(updated),
            }
        )
    return found


def _ms(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value / 1000, UTC)


# -- backtests -----------------------------------------------------------------------------------

_RUN_COLUMNS = """run_id, parent_id, role, label, strategy, exchange, timeframe, symbols,
    start_ts, end_ts, bars, capital, fee, spread, slippage, impact, in_sample, is_simulated,
    models, created_at, seconds"""


def backtests(
    con: duckdb.DuckDBPyConnection,
    strategy: str | None,
    symbol: str | None,
    limit: int,
    offset: int,
) -> Page:
    """The stored main runs, newest first, with their headline after-cost metrics."""
    clauses, params = [f"role = '{MAIN_ROLE}'"], {}
    if strategy is not None:
        clauses.append("strategy = $strategy")
        params["strategy"] = strategy
    if symbol is not None:
        clauses.append("list_contains(string_split(symbols, ','), $symbol)")
        params["symbol"] = symbol
    sql = f"""
        select {_RUN_COLUMNS}, {backtest_headline_sql()},
            (select count(*) from backtest_runs l where l.parent_id = r.run_id) as legs
        from backtest_runs r where {" and ".join(clauses)}
        order by created_at desc, run_id
    """
    return _paged(con, sql, params, limit, offset)


def backtest(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, Any] | None:
    """One run with every metric, and its comparison legs (for a main run)."""
    runs = query(
        con,
        f"""
        select {_RUN_COLUMNS}, {backtest_headline_sql()}, metrics as metrics_json
        from backtest_runs where run_id = $id or parent_id = $id
        order by case when run_id = $id then 0 else 1 end, label
        """,
        {"id": run_id},
    )
    if not runs or runs[0]["run_id"] != run_id:
        return None
    import json

    for run in runs:
        raw = json.loads(run.pop("metrics_json") or "{}")
        run["metrics"] = {
            key: clean(float(value)) if isinstance(value, int | float) else None
            for key, value in raw.items()
            if not isinstance(value, bool)
        }
    main, legs = runs[0], runs[1:]
    main["legs"] = legs
    return main


# -- data quality --------------------------------------------------------------------------------


def quality(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Series coverage and gaps (``cryptobot status``'s definitions), the newest validation
    of each series, quarantine by table and reason, and the newest ingest batches."""
    series = [
        {k: clean(v) for k, v in vars(s).items()} | {"is_simulated": s.is_simulated}
        for s in market_status(con)
    ]
    validation = query(
        con,
        """
        select table_name, exchange, symbol, timeframe, success, rows, gaps,
            failures::varchar as failures, run_at
        from validation_runs
        qualify row_number() over (
            partition by table_name, exchange, symbol, timeframe order by run_at desc) = 1
        order by success, table_name, exchange, symbol, timeframe
        """,
    )
    quarantine = [
        {"table_name": t, "reason": r, "rows": n, "last_quarantined_at": clean(at)}
        for t, r, n, at in quarantine_summary(con)
    ]
    names = (
        "id", "source", "table_name", "symbol", "rows", "rows_inserted", "rows_updated",
        "rows_quarantined", "status", "started_at",
    )  # fmt: skip
    batches = [
        {k: clean(v) for k, v in zip(names, row, strict=True)}
        for row in recent_batches(con, limit=20)
    ]
    return {
        "series": series,
        "validation": validation,
        "quarantine": quarantine,
        "batches": batches,
    }


#: acknowledged orders the latency quantiles are taken over (the newest ones)
LATENCY_ORDERS = 500


def order_latency(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Per mode, over its newest acknowledged orders: seconds from the decision (its audit row's
    wall-clock time) to the exchange's acknowledgement, and from sending to acknowledgement
    (p50, p99, max), and how many orders they cover."""
    return query(
        con,
        f"""
        with latest as (
            select o.mode,
                epoch(o.acknowledged_at) - epoch(d.created_at) as decision_to_ack,
                epoch(o.acknowledged_at) - epoch(o.sent_at) as send_to_ack
            from orders o join trade_decisions d on d.id = o.decision_id
            where o.acknowledged_at is not null
            qualify row_number() over (partition by o.mode order by o.acknowledged_at desc)
                <= {LATENCY_ORDERS}
        )
        select mode, count(*) as orders,
            quantile_cont(decision_to_ack, 0.5) as decision_p50,
            quantile_cont(decision_to_ack, 0.99) as decision_p99,
            max(decision_to_ack) as decision_max,
            quantile_cont(send_to_ack, 0.5) as send_p50,
            quantile_cont(send_to_ack, 0.99) as send_p99,
            max(send_to_ack) as send_max
        from latest group by mode order by mode
        """,
    )


def ingest_durations(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """The newest finished ingest batch per (source, table): its seconds from start to end."""
    return query(
        con,
        """
        select source, table_name,
            epoch(finished_at) - epoch(started_at) as seconds, finished_at
        from ingest_batches where finished_at is not null
        qualify row_number() over (partition by source, table_name order by finished_at desc) = 1
        order by source, table_name
        """,
    )
