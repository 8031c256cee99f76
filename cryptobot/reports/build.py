"""``build_report``: gather the figures, render the page, write it under ``reports_dir``."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from cryptobot.config import Settings
from cryptobot.errors import ReportError
from cryptobot.reports.data import ReportData, default_day_and_clock, gather
from cryptobot.reports.html import money, pct, render
from cryptobot.reports.window import check_period, parse_day, report_window
from cryptobot.warehouse.db import read_connection


@dataclass(frozen=True)
class Report:
    path: Path
    html: str
    summary: dict[str, Any]  # the headline figures, JSON-friendly
    data: ReportData

    @property
    def caption(self) -> str:
        return headline_text(self.summary)


def _summary(data: ReportData, path: Path) -> dict[str, Any]:
    h = data.headline
    q = data.quality
    resolved = sum(m["resolved"] for m in data.models)
    correct = sum(
        m["resolved"] * m["live_accuracy"] for m in data.models if m["live_accuracy"] is not None
    )
    return {
        "period": data.window.period,
        "day": data.window.day.isoformat(),
        "label": data.window.label,
        "start": data.window.start.isoformat(),
        "end": data.window.end.isoformat(),
        "mode": data.mode,
        "account": data.account,
        "simulated": data.is_simulated,
        "clock": data.clock,
        "equity_start": h["equity_start"],
        "equity_end": h["equity_end"],
        "pnl": h["pnl"],
        "pnl_pct": h["pnl_pct"],
        "max_drawdown": h["max_drawdown"],
        "trades": h["trades"],
        "fees": h["fees"],
        "open_positions": len(data.positions),
        "decisions": data.decisions["decisions"],
        "blocked": data.decisions.get("blocked", 0),
        "limits_breached": [r["name"] for r in data.risk if r["breached"]],
        "predictions_resolved": resolved,
        "live_accuracy": correct / resolved if resolved else None,
        "series": len(q["series"]),
        "stale_series": sum(1 for s in q["series"] if s["bars_behind"]),
        "failed_validations": sum(1 for v in q["validations"] if not v["success"]),
        "quarantined_rows": sum(r["rows"] for r in q["quarantine"]),
        "backtest_run_id": data.backtest["run_id"] if data.backtest else None,
        "path": str(path),
    }


def headline_text(summary: dict[str, Any]) -> str:
    """A few plain-text lines of the headline: the Telegram caption and the CLI's summary."""
    lines = [
        ("[SIMULATED] " if summary["simulated"] else "")
        + f"cryptobot {summary['period']} report: {summary['label']} "
        f"(account {summary['account']}, {summary['mode']})"
    ]
    if summary["equity_end"] is None:
        lines.append("no equity recorded for this account yet")
    else:
        lines.append(
            f"equity {money(summary['equity_start'])} -> {money(summary['equity_end'])}, "
            f"P&L {money(summary['pnl'], signed=True)} ({pct(summary['pnl_pct'], signed=True)})"
        )
        lines.append(
            f"max drawdown {pct(summary['max_drawdown'])}, {summary['trades']} trades, "
            f"fees {money(summary['fees'])}, {summary['open_positions']} open positions"
        )
    if summary["limits_breached"]:
        lines.append("limits breached: " + ", ".join(summary["limits_breached"]))
    if summary["predictions_resolved"]:
        lines.append(
            f"live accuracy {pct(summary['live_accuracy'], 1)} of "
            f"{summary['predictions_resolved']} resolved predictions"
        )
    quality = []
    if summary["failed_validations"]:
        quality.append(f"{summary['failed_validations']} failed validations")
    if summary["stale_series"]:
        quality.append(f"{summary['stale_series']} stale series")
    if summary["quarantined_rows"]:
        quality.append(f"{summary['quarantined_rows']} quarantined rows")
    lines.append("data quality: " + (", ".join(quality) if quality else "ok"))
    return "\n".join(lines)


def _write(path: Path, text: str) -> None:
    """Write atomically: a reader (or the Telegram upload) never sees half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def build_report(
    settings: Settings,
    period: str = "daily",
    day: date | str | None = None,
    *,
    now: datetime | None = None,
) -> Report:
    """Build the ``period`` report (daily, weekly or monthly) for ``day`` and write it to
    ``settings.reports_dir / "<period>-<YYYY-MM-DD>.html"``.

    ``day`` defaults to the last complete UTC day before ``now`` (aware, or naive UTC; default
    the current time); when the account's equity curve is simulated, to the last complete day
    of its simulated history. The same data always gives the same file.
    """
    period = check_period(period)
    chosen = parse_day(day)
    clock = "the day asked for"
    if chosen is None:
        current = now or datetime.now(UTC)
        if current.tzinfo is not None:  # naive times are UTC already, as in the warehouse
            current = current.astimezone(UTC).replace(tzinfo=None)
        with read_connection(settings.warehouse, timeout=settings.write_lock_timeout) as con:
            chosen, clock = default_day_and_clock(
                con, settings.trading.mode, current, settings.trading.account
            )
    window = report_window(period, chosen)
    data = gather(settings, window, clock=clock)
    html = render(data)
    path = settings.reports_dir / window.filename
    try:
        _write(path, html)
    except OSError as exc:
        raise ReportError(
            f"cannot write the report to {path}: {exc.strerror}. Check CRYPTOBOT_DATA_DIR "
            "(reports go to its reports/ folder)"
        ) from None
    return Report(path=path, html=html, summary=_summary(data, path), data=data)
