"""Terminal rendering (rich) shared by the CLI and the flows' logs."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import duckdb
from rich.console import Console
from rich.table import Table

from cryptobot import status


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, float):
        return f"{value:,.6g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def rows_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> Table:
    table = Table(title=title or None, title_justify="left", header_style="bold")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(_cell(value) for value in row))
    return table


def status_tables(con: duckdb.DuckDBPyConnection, *, gaps: int = 5) -> list[Table]:
    """Everything `cryptobot status` shows, as tables."""
    series = status.market_status(con)
    tables = [
        rows_table(
            [
                "exchange",
                "symbol",
                "timeframe",
                "source",
                "first bar",
                "last bar",
                "rows",
                "missing bars",
                "gaps",
            ],
            [
                [
                    s.exchange,
                    s.symbol,
                    s.timeframe,
                    "SIMULATED" if s.is_simulated else s.sources,
                    s.first_ts,
                    s.last_ts,
                    s.rows,
                    s.missing_bars,
                    s.gaps,
                ]
                for s in series
            ],
            title="market_data (ts = bar open, UTC)",
        )
    ]
    largest = status.largest_gaps(con, limit=gaps)
    if largest:
        tables.append(
            rows_table(
                ["exchange", "symbol", "timeframe", "after bar", "next bar", "missing bars"],
                [
                    [g.exchange, g.symbol, g.timeframe, g.after, g.before, g.missing_bars]
                    for g in largest
                ],
                title=f"largest gaps (top {gaps})",
            )
        )
    sentiment = status.sentiment_status(con)
    if sentiment:
        tables.append(
            rows_table(
                ["source", "symbols", "rows", "first", "last", "last available_at"],
                [[("SIMULATED" if r[0] == "simulated" else r[0]), *r[1:]] for r in sentiment],
                title="sentiment",
            )
        )
    features = status.feature_rows(con)
    tables.append(
        rows_table(
            ["table", "rows"],
            [
                [
                    "fct_features",
                    "not built yet: run `cryptobot features`" if features is None else features,
                ]
            ],
            title="features",
        )
    )
    batches = status.recent_batches(con)
    if batches:
        tables.append(
            rows_table(
                [
                    "batch",
                    "source",
                    "table",
                    "symbol",
                    "rows",
                    "new",
                    "updated",
                    "quarantined",
                    "status",
                    "started (UTC)",
                ],
                batches,
                title="recent ingest batches",
            )
        )
    quarantine = status.quarantine_summary(con)
    if quarantine:
        tables.append(
            rows_table(["table", "reason", "rows", "last (UTC)"], quarantine, title="quarantine")
        )
    return tables


def as_text(tables: Sequence[Table], width: int = 140) -> str:
    """Render tables to plain text (for logs)."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False)
    for table in tables:
        console.print(table)
    return buffer.getvalue()
