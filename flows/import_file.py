"""Flow `import-file`: import an OHLCV CSV/Parquet file or a Binance kline dump."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from prefect import flow

from cryptobot.config import load_settings
from cryptobot.ingest import import_file as import_file_core
from flows._common import ALERT_HOOKS, progress, warehouse_writes


@flow(name="import-file", **ALERT_HOOKS)
def import_file(
    path: str,
    exchange: str,
    symbol: str,
    timeframe: str = "1h",
    file_format: Literal["auto", "ccxt", "binance"] = "auto",
    allow_revisions: bool = False,
) -> dict:
    """Read `path` (plain, gzip or zip), check its spacing and time range, run the market_data
    quality gate on it, and upsert it as one batch; changes to stored bars are kept in
    market_data_revisions, and an implausible one needs `allow_revisions`."""
    with warehouse_writes():
        report = import_file_core(
            load_settings(),
            Path(path),
            exchange=exchange.lower(),
            symbol=symbol,
            timeframe=timeframe,
            file_format=file_format,
            allow_revisions=allow_revisions,
            progress=progress(),
        )
    batch = report.batches[0]
    return {
        "batch_id": batch.batch_id,
        "rows": batch.rows,
        "inserted": batch.inserted,
        "updated": batch.updated,
        "revised": batch.revised,
        "implausible": batch.implausible,
        "unchanged": batch.unchanged,
        "timings": batch.timings,
        "summary": report.summary(),
    }
