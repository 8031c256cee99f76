"""Flow `status`: log what is in the warehouse (the same tables as `cryptobot status`)."""

from __future__ import annotations

from prefect import flow

from cryptobot.config import load_settings
from cryptobot.render import as_text, status_tables
from cryptobot.warehouse.db import read_connection
from flows._common import progress


@flow(name="status")
def status() -> str:
    """Series, first/last bar, rows and gaps per exchange/symbol/timeframe; batches; quarantine."""
    settings = load_settings()
    with read_connection(settings.warehouse, timeout=settings.write_lock_timeout) as con:
        text = as_text(status_tables(con))
    progress()("\n" + text)
    return text
