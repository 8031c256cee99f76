"""Flow `ingest`: fetch market data (simulator or a ccxt exchange), gate it, store it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from prefect import flow, task

from cryptobot.alerts import alert_enabled, send_alert, stale_series, stale_text
from cryptobot.config import load_settings
from cryptobot.errors import CryptobotError, SourceError
from cryptobot.ingest import IngestReport, ingest_ccxt_series, ingest_simulator, utc_now
from cryptobot.logs import log_target
from cryptobot.warehouse.db import read_connection
from flows._common import ALERT_HOOKS, progress, retry_unless_known, warehouse_writes


@task(name="simulate-market")
def simulate_market_task(
    symbols: list[str], timeframe: str, days: int, seed: int, signal: float
) -> dict:
    with warehouse_writes():
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


@task(name="fetch-series", retries=2, retry_delay_seconds=60, retry_condition_fn=retry_unless_known)
def fetch_series_task(
    exchange: str,
    symbol: str,
    timeframe: str,
    since: datetime | None,
    allow_revisions: bool = False,
) -> dict:
    """One series, page by page; the ccxt source itself retries network errors with back-off,
    and the task retries once more a minute later (it resumes from the stored cursor)."""
    with log_target(f"{exchange}.{symbol}.{timeframe}"), warehouse_writes():
        report = ingest_ccxt_series(
            load_settings(),
            exchange=exchange,
            symbol=symbol,
            timeframe=timeframe,
            since=since,
            allow_revisions=allow_revisions,
            progress=progress(),
        )
    return _as_dict(report)


def stale_data_alert(settings, exchange: str, symbols: list[str], timeframe: str) -> None:
    """After a live ingest: a ``stale_data`` alert for the series whose newest closed bar is
    older than ``telegram.stale_after_minutes`` (the simulator keeps its own clock: not checked)."""
    if not alert_enabled(settings, "stale_data"):
        return
    now = utc_now()
    max_age = timedelta(minutes=settings.telegram.stale_after_minutes)
    try:
        with read_connection(settings.warehouse, timeout=settings.write_lock_timeout) as con:
            stale = stale_series(con, exchange, symbols, timeframe, now, max_age)
    except CryptobotError as exc:  # an alert's check must not fail the ingest
        progress()(f"stale data not checked: {exc}")
        return
    text = stale_text(stale, now, max_age)
    if text:
        progress()(text)
        send_alert(settings, "stale_data", text, log=progress())


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


@flow(name="ingest", **ALERT_HOOKS)
def ingest(
    source: Literal["simulator", "ccxt"] | None = None,
    symbols: list[str] | None = None,
    timeframe: str | None = None,
    exchange: str | None = None,
    since: datetime | None = None,
    days: int | None = None,
    seed: int | None = None,
    signal: float | None = None,
    allow_revisions: bool = False,
) -> dict:
    """Ingest candles (and, from the simulator, sentiment) for the configured symbols.

    `source` defaults to the configured one: `simulator` (offline) makes a seeded simulated
    market; `ccxt` fetches closed candles from `exchange` (binance, kraken, tokocrypto, indodax,
    ...) from the stored cursor or `since`. Every batch passes the quality gate before it is
    stored. With ccxt, a symbol that fails does not stop the others; the flow fails at the end
    naming each failed symbol. Re-fetched bars the exchange restated are kept as revisions; one
    beyond `ingest.revision_max_sigma` fails its symbol unless `allow_revisions`.
    """
    settings = load_settings()
    source = source or settings.source
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
    totals = dict.fromkeys(
        ("batches", "rows", "inserted", "updated", "unchanged", "quarantined"), 0
    )
    failures: list[tuple[str, CryptobotError]] = []
    for symbol in symbols:  # one after another: one writer, and gentle on rate limits
        try:
            result = fetch_series_task(exchange, symbol, timeframe, since, allow_revisions)
        except CryptobotError as exc:
            failures.append((symbol, exc))
            continue
        for key in totals:
            totals[key] += result[key]
    summary = (
        f"{exchange} {timeframe}: {totals['rows']:,} rows in {totals['batches']} batches, "
        f"{totals['inserted']:,} new, {totals['updated']:,} updated, "
        f"{totals['unchanged']:,} unchanged, {totals['quarantined']:,} quarantined"
    )
    log(summary)
    stale_data_alert(settings, exchange, symbols, timeframe)
    if len(failures) == 1 and len(symbols) == 1:
        raise failures[0][1]
    if failures:
        error = SourceError(
            f"{len(failures)} of {len(symbols)} symbols failed ({summary} for the others): "
            + " | ".join(f"{symbol}: {exc}" for symbol, exc in failures)
        )
        error.exit_code = failures[0][1].exit_code  # e.g. 4 when the gate rejected a batch
        raise error
    return {**totals, "summary": summary}
