"""Re-validate what is already stored: the same suites as the ingest gate, per series, plus gaps.

The ingest gate stops bad batches before they land; this check answers "is the warehouse still
clean?" after imports from several sources, manual edits or a schema change. Results are
recorded in ``validation_runs`` (the Data quality page reads them).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptobot.config import Settings
from cryptobot.ingest import new_batch_id, utc_now
from cryptobot.quality import gate
from cryptobot.status import market_status
from cryptobot.timeframes import timeframe_seconds
from cryptobot.warehouse.db import read_connection, write_connection


@dataclass(frozen=True)
class ValidationRun:
    table: str
    exchange: str | None
    symbol: str | None
    timeframe: str | None
    rows: int
    success: bool
    failures: dict[str, int] = field(default_factory=dict)
    gaps: int | None = None

    @property
    def label(self) -> str:
        return " ".join(p for p in (self.table, self.exchange, self.symbol, self.timeframe) if p)


def validate_stored(
    settings: Settings,
    *,
    exchange: str | None = None,
    symbol: str | None = None,
    timeframe: str | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> list[ValidationRun]:
    """Validate every stored market_data series (optionally filtered) and the sentiment table."""
    runs: list[ValidationRun] = []
    with read_connection(settings.warehouse, timeout=settings.write_lock_timeout) as con:
        for series in market_status(con):
            if (
                (exchange and series.exchange != exchange)
                or (symbol and series.symbol != symbol)
                or (timeframe and series.timeframe != timeframe)
            ):
                continue
            frame = con.execute(
                "select * from market_data where exchange = ? and symbol = ? and timeframe = ?"
                " order by ts",
                [series.exchange, series.symbol, series.timeframe],
            ).df()
            result = gate.validate_market_data(frame, timeframe_seconds(series.timeframe))
            run = ValidationRun(
                table=gate.MARKET_DATA,
                exchange=series.exchange,
                symbol=series.symbol,
                timeframe=series.timeframe,
                rows=result.rows,
                success=result.success,
                failures=result.failures,
                gaps=series.gaps,
            )
            runs.append(run)
            progress(f"{run.label}: {result.summary()}; {series.gaps} gaps")
        if symbol is None and exchange is None:
            for (source,) in con.execute("select distinct source from sentiment").fetchall():
                frame = con.execute(
                    "select * from sentiment where source = ? order by symbol, ts", [source]
                ).df()
                result = gate.validate_sentiment(frame)
                run = ValidationRun(
                    table=gate.SENTIMENT,
                    exchange=None,
                    symbol=None,
                    timeframe=None,
                    rows=result.rows,
                    success=result.success,
                    failures=result.failures,
                )
                runs.append(run)
                progress(f"{run.label} ({source}): {result.summary()}")
    _record(settings, runs)
    return runs


def _record(settings: Settings, runs: list[ValidationRun]) -> None:
    if not runs:
        return
    run_at = utc_now()
    with write_connection(settings.warehouse, timeout=settings.write_lock_timeout) as con:
        con.executemany(
            "insert into validation_runs values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                [
                    new_batch_id(run_at),
                    run.table,
                    run.exchange,
                    run.symbol,
                    run.timeframe,
                    run.rows,
                    run.success,
                    json.dumps(run.failures),
                    run.gaps,
                    run_at,
                ]
                for run in runs
            ],
        )
