"""Flow `ingest`: fetch market data (simulator or a ccxt exchange), gate it, store it."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from prefect import flow, task

from cryptobot.config import load_settings
from cryptobot.errors import SourceError
from cryptobot.ingest import IngestReport, ingest_ccxt_series, ingest_simulator
from flows._common import progress


def _retry_network_only(task, task_run, state) -> bool:  # noqa: ARG001 (Prefect's signature)
    """Retry a series only for network trouble; a bad symbol or a rejected batch won't heal."""
    try:
        state.result()
    except SourceError as exc:
        return getattr(exc, "retryable", False)
    except Exception:  # noqa: BLE001 - anything else is not worth a retry
        return False
    return False


@task(name="simulate-market")
def simulate_market_task(
    symbols: list[str], timeframe: str, days: int, seed: int, signal: float
) -> dict:
    report = ingest_simulator(
        load_settings(),
        symbols=symbols,
        timeframe=timeframe,
        days=days,
        seed=seed,
        signal=signal,
        progress=progress(),
    )
    return _as_dict(report)


@task(
    name="fetch-series",
    retries=1,
    retry_delay_seconds=60,
    retry_condition_fn=_retry_network_only,
)
def fetch_series_task(exchange: str, symbol: str, timeframe: str, since: datetime | None) -> dict:
    report = ingest_ccxt_series(
        load_settings(),
        exchange=exchange,
        symbol=symbol,
        timeframe=timeframe,
        since=since,
        progress=progress(),
    )
    return _as_dict(report)


def _as_dict(report: IngestReport) -> dict:
    return {
        "batches": len(report.batches),
        "rows": report.total("rows"),
        "inserted": report.total("inserted"),
        "updated": report.total("updated"),
        "unchanged": report.total("unchanged"),
        "quarantined": report.total("quarantined"),
        "summary": report.summary(),
    }


@flow(name="ingest")
def ingest(
    source: Literal["simulator", "ccxt"] = "simulator",
    symbols: list[str] | None = None,
    timeframe: str | None = None,
    exchange: str | None = None,
    since: datetime | None = None,
    days: int | None = None,
    seed: int | None = None,
    signal: float | None = None,
) -> dict:
    """Ingest candles (and, from the simulator, sentiment) for the configured symbols.

    `source=simulator` (default, offline) makes a seeded simulated market; `source=ccxt` fetches
    closed candles from `exchange` (binance, kraken, tokocrypto, indodax, ...) from the stored
    cursor or `since`. Every batch passes the quality gate before it is stored.
    """
    settings = load_settings()
    symbols = symbols or settings.symbols
    timeframe = timeframe or settings.timeframes[0]
    log = progress()
    if source == "simulator":
        sim = settings.simulator
        result = simulate_market_task(
            symbols,
            timeframe,
            days if days is not None else sim.days,
            seed if seed is not None else sim.seed,
            signal if signal is not None else sim.signal,
        )
        log(result["summary"])
        return result
    exchange = (exchange or settings.exchange).lower()
    totals: dict = {}
    for symbol in symbols:
        result = fetch_series_task(exchange, symbol, timeframe, since)
        for key, value in result.items():
            if isinstance(value, int):
                totals[key] = totals.get(key, 0) + value
    totals["summary"] = (
        f"{exchange}: {totals.get('rows', 0)} rows in {totals.get('batches', 0)} batches, "
        f"{totals.get('inserted', 0)} new, {totals.get('updated', 0)} updated"
    )
    log(totals["summary"])
    return totals
