"""Flow `validate`: re-run the quality suites on what is stored, record the results."""

from __future__ import annotations

from prefect import flow, task

from cryptobot.config import load_settings
from cryptobot.quality.stored import validate_stored
from flows._common import ALERT_HOOKS, progress, warehouse_writes


@task(name="validate-stored")
def validate_stored_task(
    exchange: str | None, symbol: str | None, timeframe: str | None
) -> list[dict]:
    with warehouse_writes():
        runs = validate_stored(
            load_settings(),
            exchange=exchange,
            symbol=symbol,
            timeframe=timeframe,
            progress=progress(),
        )
    return [
        {
            "table": run.table,
            "exchange": run.exchange,
            "symbol": run.symbol,
            "timeframe": run.timeframe,
            "rows": run.rows,
            "success": run.success,
            "failures": run.failures,
            "gaps": run.gaps,
        }
        for run in runs
    ]


@flow(name="validate", **ALERT_HOOKS)
def validate(
    exchange: str | None = None, symbol: str | None = None, timeframe: str | None = None
) -> list[dict]:
    """Validate stored market data (per series) and sentiment with the ingest gate's suites."""
    return validate_stored_task(exchange, symbol, timeframe)
