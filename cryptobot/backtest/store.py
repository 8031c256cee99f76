"""Backtests in the warehouse: ``backtest_runs``, ``backtest_orders``, ``backtest_fills`` and
``backtest_equity`` (migration 004), keyed by the run id derived from the run's inputs, so
storing the same backtest again adds nothing. One transaction per call: a crash stores a run
whole or not at all."""

from __future__ import annotations

import json
import math

import pandas as pd

from cryptobot.backtest.engine import BacktestResult, code_version
from cryptobot.config import Settings
from cryptobot.ingest import utc_now
from cryptobot.warehouse.db import read_connection, write_connection


def _json(value) -> str:
    def clean(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [clean(x) for x in v]
        return v

    return json.dumps(clean(value), default=str, sort_keys=True)


def run_row(result: BacktestResult, parent_id: str | None, mlflow_run_id: str | None) -> dict:
    costs = result.costs
    return {
        "run_id": result.run_id,
        "parent_id": parent_id,
        "role": result.role,
        "label": result.label,
        "exchange": result.exchange,
        "timeframe": result.timeframe,
        "symbols": ",".join(result.symbols),
        "start_ts": result.start,
        "end_ts": result.end,
        "bars": result.bars,
        "strategy": result.strategy,
        "models": _json(result.models) if result.models else None,
        "prediction_source": _json(result.prediction_source) if result.prediction_source else None,
        "in_sample": result.in_sample,
        "is_simulated": result.is_simulated,
        "capital": result.capital,
        "fee": costs.fee,
        "spread": costs.spread,
        "slippage": costs.slippage,
        "impact": costs.impact,
        "settings": _json(result.settings),
        "data_fingerprint": result.data_fingerprint,
        "code_version": code_version(),
        "metrics": _json(result.metrics),
        "mlflow_run_id": mlflow_run_id,
        "seconds": result.seconds,
        "created_at": utc_now(),
    }


def stored_run_ids(settings: Settings, run_ids: list[str]) -> set[str]:
    """The ones of ``run_ids`` already in the warehouse."""
    if not run_ids or not settings.warehouse.exists():
        return set()
    with read_connection(settings.warehouse, timeout=settings.write_lock_timeout) as con:
        found = con.execute(
            f"select run_id from backtest_runs where run_id in ({', '.join('?' * len(run_ids))})",
            run_ids,
        ).fetchall()
    return {row[0] for row in found}


def store_backtests(
    settings: Settings,
    main: BacktestResult,
    legs: list[BacktestResult],
    *,
    mlflow_run_id: str | None = None,
) -> int:
    """Store a backtest and its comparison legs (one transaction); returns how many runs were
    new (0 when this exact backtest was stored before)."""
    results = [(main, None), *((leg, main.run_id) for leg in legs)]
    with write_connection(settings.warehouse, timeout=settings.write_lock_timeout) as con:
        con.execute("begin transaction")
        try:
            new = 0
            for result, parent in results:
                exists = con.execute(
                    "select 1 from backtest_runs where run_id = ?", [result.run_id]
                ).fetchall()
                if exists:
                    continue
                new += 1
                _insert(
                    con, "backtest_runs", pd.DataFrame([run_row(result, parent, mlflow_run_id)])
                )
                run = {"run_id": result.run_id}
                _insert(con, "backtest_orders", result.orders.assign(**run))
                _insert(con, "backtest_fills", result.fills.assign(**run))
                _insert(con, "backtest_equity", result.equity.assign(**run))
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
    return new


def _insert(con, table: str, frame: pd.DataFrame) -> None:
    if frame.empty:
        return
    con.register("new_rows", frame)
    try:
        con.execute(f"insert into {table} by name select * from new_rows on conflict do nothing")
    finally:
        con.unregister("new_rows")
