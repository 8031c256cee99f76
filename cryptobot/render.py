"""Terminal rendering (rich) shared by the CLI and the flows' logs.

Data is shown verbatim: cells, headers and titles are ``rich.text.Text``, never parsed as Rich
markup or emoji codes (a value ``[bold]hi`` prints as ``[bold]hi``, ``[/x]`` does not crash).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from datetime import date, datetime, time
from typing import Any

import duckdb
from rich.console import Console
from rich.table import Table
from rich.text import Text

from cryptobot import status

SIMULATED_LABEL = "SIMULATED"


def significant(value: float, digits: int = 6) -> str:
    """``value`` with ``digits`` significant digits in plain decimal notation (no exponent),
    thousands separators, trailing zeros dropped: ``34,123.5``, ``0.0000085`` (ADA/BTC), ``1.5``.
    Whole digits are never cut: ``1,234,567``."""
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(digits - 1 - magnitude, 0)
    text = f"{value:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def price_text(value: float | None) -> str:
    """A price in its quote currency: six significant digits and at least two decimals, so a
    BTC-quoted pair's 0.0000085 is not shown as 0.0000 and BTC/USDT keeps its cents."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    value = float(value)
    if not math.isfinite(value) or value == 0:
        return significant(value)
    decimals = max(5 - math.floor(math.log10(abs(value))), 2)
    whole, _, fraction = f"{value:,.{decimals}f}".partition(".")
    return f"{whole}.{fraction[:2]}{fraction[2:].rstrip('0')}"


def money_text(value: float | None, *, signed: bool = False) -> str:
    """A money figure (equity, fees, costs): two decimals from 1 up; below that four
    significant digits, so a fee of 0.000045 BTC does not read 0.00."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    value = float(value)
    decimals = 2
    if 0 < abs(value) < 1:  # at least two decimals, more for four significant digits
        decimals = max(2, 3 - math.floor(math.log10(abs(value))))
    text = f"{value:+,.{decimals}f}" if signed else f"{value:,.{decimals}f}"
    whole, _, fraction = text.partition(".")
    return f"{whole}.{fraction[:2]}{fraction[2:].rstrip('0')}"


def _compact(value: Any) -> str:
    """For people scanning a summary: minutes, 6 significant digits, thousands separators."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, float):
        return f"{value:,.6g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _exact(value: Any) -> str:
    """For query results: nothing rounded or reformatted away.

    Floats as ``repr`` (the shortest string that reads back to the same double), datetimes in
    ISO form with fractional seconds when they have them, integers without separators.
    """
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    return str(value)


def _cell(value: Any, *, exact: bool = False) -> Text:
    if exact and value is None:
        return Text("NULL", style="dim")
    return Text(_exact(value) if exact else _compact(value))


def rows_table(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    title: str = "",
    *,
    exact: bool = False,
    keep: Sequence[int] = (),
) -> Table:
    """A table of ``rows`` under ``columns``, every value shown as text, never as markup.

    ``exact=True`` (for `cryptobot sql`) shows floats at full precision, timestamps in full ISO
    form, NULL as a dim ``NULL`` and folds long values instead of cutting them; the default is the
    compact form `cryptobot status` uses. Columns whose positions are in ``keep`` (names, say)
    are never shortened: the others give way first when the terminal is narrow.
    """
    cells = [[_cell(value, exact=exact) for value in row] for row in rows]
    table = Table(title=Text(title) if title else None, title_justify="left", header_style="bold")
    for index, column in enumerate(columns):
        if index in keep:
            width = max([len(str(column))] + [cell.cell_len for cell in (r[index] for r in cells)])
            table.add_column(Text(str(column)), no_wrap=True, min_width=width)
        else:
            table.add_column(Text(str(column)), overflow="fold" if exact else "ellipsis")
    for row in cells:
        table.add_row(*row)
    return table


def source_label(sources: str) -> str:
    """The sources of a series as shown: SIMULATED only when every row is simulated.

    ``sources`` is the comma-separated list ``status`` reports (``"ccxt,simulated"``); a mixed
    series lists each source with the simulated one marked, e.g. ``ccxt, SIMULATED``.
    """
    names = [name.strip() for name in sources.split(",") if name.strip()]
    shown = [SIMULATED_LABEL if name == "simulated" else name for name in names]
    return ", ".join(dict.fromkeys(shown))


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
                "revisions",
            ],
            [
                [
                    s.exchange,
                    s.symbol,
                    s.timeframe,
                    source_label(s.sources),
                    s.first_ts,
                    s.last_ts,
                    s.rows,
                    s.missing_bars,
                    s.gaps,
                    s.revisions,
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
                [[source_label(r[0]), *r[1:]] for r in sentiment],
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
