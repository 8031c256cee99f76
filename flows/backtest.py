"""Flow `backtest`: replay a strategy over stored history through the trading flow's execution
core, on each bar's out-of-sample prediction, beside buy-and-hold and the baselines; record it
in the warehouse and MLflow (see models/backtest.py)."""

from __future__ import annotations

from datetime import datetime

from prefect import flow, task

from cryptobot.backtest.store import store_backtests
from cryptobot.config import load_settings
from flows._common import ALERT_HOOKS, progress, warehouse_writes
from models.backtest import already_recorded, log_to_mlflow, run_model_backtest, summarize


@task(name="backtest")
def backtest_task(
    symbols: list[str] | None,
    timeframe: str | None,
    exchange: str | None,
    start: datetime | None,
    end: datetime | None,
    strategy: str | None,
    model: str | None,
    capital: float | None,
    costs: dict[str, float | None],
    allow_in_sample: bool,
    monte_carlo: int,
    seed: int,
) -> dict:
    settings = load_settings()
    log = progress()
    run = run_model_backtest(
        settings,
        symbols=symbols,
        timeframe=timeframe,
        exchange=exchange,
        start=start,
        end=end,
        strategy=strategy,
        model=model,
        capital=capital,
        costs=costs,
        allow_in_sample=allow_in_sample,
        monte_carlo_paths=monte_carlo,
        seed=seed,
        log=log,
    )
    if already_recorded(settings, run):
        log(f"backtest {run.main.run_id}: the same inputs were backtested before; nothing stored")
    else:
        log_to_mlflow(settings, run)
        with warehouse_writes():
            run.new_runs = store_backtests(
                settings, run.main, run.legs, mlflow_run_id=run.mlflow_run_ids[0]
            )
        log(f"backtest {run.main.run_id}: stored ({run.new_runs} run(s) with its legs)")
    return summarize(run, settings)


@flow(name="backtest", **ALERT_HOOKS)
def backtest(
    symbols: list[str] | None = None,
    timeframe: str | None = None,
    exchange: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    strategy: str | None = None,
    model: str | None = None,
    capital: float | None = None,
    fee: float | None = None,
    spread: float | None = None,
    slippage: float | None = None,
    impact: float | None = None,
    allow_in_sample: bool = False,
    monte_carlo: int = 0,
    seed: int = 0,
) -> dict:
    """Backtest `strategy` (default: the trading settings') with `model` (default: each
    target's champion; `NAME@alias`, `NAME/version` or `@alias`) over [`start`, `end`] (bar
    closes, UTC; default: from the first bar with an out-of-sample prediction to the newest),
    with the trading settings' capital and costs unless given. `monte_carlo` paths (0: none)
    of trade reshuffling and a block bootstrap. Re-running the same backtest stores nothing."""
    return backtest_task(
        symbols,
        timeframe,
        exchange,
        start,
        end,
        strategy,
        model,
        capital,
        {"fee": fee, "spread": spread, "slippage": slippage, "impact": impact},
        allow_in_sample,
        monte_carlo,
        seed,
    )
