"""The bot's commands as plain functions: settings and the command's words in, a reply out.

Each handler reads the warehouse through ``read_connection`` and the same code the reports use
(:func:`cryptobot.reports.data.account_figures` for P&L and positions, :mod:`cryptobot.status`
style queries for the data), so a number here is the number in the report. None of them needs
Telegram: the bot (:mod:`cryptobot.telegram.bot`) parses a message into an :class:`Ask`, calls
the handler and sends its :class:`Reply`. A handler raising ``WarehouseBusyError`` (a flow holds
the warehouse longer than ``telegram.busy_timeout``) becomes "busy, try again" in the bot.

``/models`` needs the MLflow registry (the ``models`` package, above this core): the command
line passes its handler in (:func:`models_text` formats what ``models.registry.list_models``
returns).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptobot.alerts import stale_series
from cryptobot.config import Settings
from cryptobot.errors import CryptobotError
from cryptobot.ingest import utc_now
from cryptobot.reports.data import account_figures
from cryptobot.reports.html import money, pct, price
from cryptobot.reports.window import report_window
from cryptobot.trading.pause import pause_state, set_paused
from cryptobot.warehouse.db import read_connection

#: /trades without a number lists this many fills; at most MAX_TRADES
DEFAULT_TRADES = 10
MAX_TRADES = 50
PNL_PERIODS = {"day": "daily", "week": "weekly", "month": "monthly"}
REPORT_PERIODS = ("daily", "weekly", "monthly")


class UsageError(CryptobotError):
    """A command's arguments are wrong; the message says how to call it."""


@dataclass(frozen=True)
class Ask:
    """One command from an allowed chat: its words after the command, and who sent it."""

    args: list[str] = field(default_factory=list)
    by: str = "telegram"  # e.g. "telegram chat 12345 user 678 (@alice)"


@dataclass(frozen=True)
class Reply:
    text: str
    document: Path | None = None  # a file sent with ``text`` as its caption (/report)


Handler = Callable[[Settings, Ask], Reply]


def _clock(con, mode: str, account: str) -> tuple[datetime | None, bool]:
    """The account's newest equity mark and whether it is simulated (None: never marked)."""
    row = con.execute(
        "select max(ts), arg_max(is_simulated, ts) from equity_curve "
        "where account = ? and mode = ?",
        [account, mode],
    ).fetchone()
    return row[0], bool(row[1])


def _sim(simulated: bool) -> str:
    return "[SIMULATED] " if simulated else ""


def _read(settings: Settings):
    return read_connection(settings.warehouse, timeout=settings.write_lock_timeout)


# -- the commands -----------------------------------------------------------------------------


def status_reply(settings: Settings, ask: Ask) -> Reply:
    """Trading mode, pause, kill switch, the account's last mark and each series' newest bar."""
    mode = settings.trading.mode
    exchange, timeframe = settings.market_exchange, settings.timeframes[0]
    with _read(settings) as con:
        pause = pause_state(con)
        clock, simulated = _clock(con, mode, settings.trading.account)
        last = con.execute(
            "select drawdown, equity from equity_curve where account = ? and mode = ? "
            "order by ts desc limit 1",
            [settings.trading.account, mode],
        ).fetchone()
        decided = con.execute(
            "select max(decided_at) from trade_decisions where account = ? and mode = ?",
            [settings.trading.account, mode],
        ).fetchone()[0]
        # the simulated market has its own clock (its newest bar); a live one is judged by now
        now = utc_now() if settings.source != "simulator" else None
        max_age = timedelta(minutes=settings.telegram.stale_after_minutes)
        newest = dict(
            con.execute(
                "select symbol, max(available_at) from market_data "
                "where exchange = ? and timeframe = ? group by symbol",
                [exchange, timeframe],
            ).fetchall()
        )
        stale = (
            {
                s.symbol
                for s in stale_series(con, exchange, settings.symbols, timeframe, now, max_age)
            }
            if now is not None
            else set()
        )
    lines = [f"{_sim(simulated)}cryptobot {mode} trading, strategy {settings.trading.strategy}"]
    lines.append(("PAUSED: " if pause.paused else "") + pause.describe())
    if last is None:
        lines.append("account: no equity mark yet (run `cryptobot trade`)")
    else:
        drawdown, equity = last
        limit = settings.risk.max_drawdown
        kill = (
            f"KILL SWITCH ON: drawdown {pct(drawdown)} >= {pct(limit)}, no new risk"
            if drawdown >= limit
            else f"kill switch off (drawdown {pct(drawdown)} of {pct(limit)})"
        )
        lines.append(f"equity {money(equity)} at {clock:%Y-%m-%d %H:%M} UTC; {kill}")
    if decided is not None:
        lines.append(f"last decision {decided:%Y-%m-%d %H:%M} UTC")
    lines.append(f"data ({exchange} {timeframe}):")
    for symbol in settings.symbols:
        at = newest.get(symbol)
        if at is None:
            lines.append(f"  {symbol}: no bars")
            continue
        mark = " STALE" if symbol in stale else ""
        lines.append(f"  {symbol}: newest bar closed {at:%Y-%m-%d %H:%M} UTC{mark}")
    return Reply("\n".join(lines))


def balance_reply(settings: Settings, ask: Ask) -> Reply:
    """The account's newest equity mark: equity, cash, positions, exposure, drawdown, today."""
    mode = settings.trading.mode
    with _read(settings) as con:
        row = con.execute(
            "select ts, cash, positions_value, equity, gross_exposure, drawdown, daily_pnl, "
            "is_simulated from equity_curve where account = ? and mode = ? "
            "order by ts desc limit 1",
            [settings.trading.account, mode],
        ).fetchone()
    if row is None:
        return Reply(f"the {mode} account has no equity mark yet: run `cryptobot trade`")
    ts, cash, value, equity, gross, drawdown, daily, simulated = row
    capital = settings.trading.initial_capital
    return Reply(
        "\n".join(
            [
                f"{_sim(simulated)}{mode} account at {ts:%Y-%m-%d %H:%M} UTC",
                f"equity {money(equity)} (cash {money(cash)}, positions {money(value)})",
                f"since start {money(equity - capital, signed=True)} "
                f"({pct((equity - capital) / capital, signed=True)} on {money(capital)})",
                f"today {money(daily, signed=True)}, drawdown {pct(drawdown)}, "
                f"gross exposure {money(gross)}",
            ]
        )
    )


def _window_figures(settings: Settings, period: str):
    mode = settings.trading.mode
    with _read(settings) as con:
        clock, simulated = _clock(con, mode, settings.trading.account)
        if clock is None:
            return None, None, None, None, simulated
        window = report_window(period, clock.date())
        headline, by_symbol, positions = account_figures(con, window, mode, settings)
    return window, headline, by_symbol, positions, simulated


def positions_reply(settings: Settings, ask: Ask) -> Reply:
    """Open positions at the newest mark: amount, entry, mark, notional, unrealised P&L."""
    mode = settings.trading.mode
    window, headline, _, positions, simulated = _window_figures(settings, "daily")
    if window is None:
        return Reply(f"the {mode} account has no equity mark yet: run `cryptobot trade`")
    at = headline["equity_end_ts"]
    head = f"{_sim(simulated)}{mode} positions at {at:%Y-%m-%d %H:%M} UTC"
    if not positions:
        return Reply(f"{head}: none open")
    lines = [head]
    for p in positions:
        lines.append(
            f"{p['symbol']} {p['side']} {abs(p['amount']):.8g} @ {price(p['avg_price'])}, "
            f"mark {price(p['mark'])}, value {money(p['notional'])} "
            f"({pct(p['share'], 1)} of equity), unrealised {money(p['unrealized'], signed=True)}"
        )
    return Reply("\n".join(lines))


def pnl_reply(settings: Settings, ask: Ask) -> Reply:
    """P&L of the day, week (7 days) or calendar month up to the newest mark, per symbol."""
    word = (ask.args[0] if ask.args else "day").lower()
    if word not in PNL_PERIODS or len(ask.args) > 1:
        raise UsageError(f"usage: /pnl [day|week|month] (got {' '.join(ask.args)!r})")
    mode = settings.trading.mode
    window, h, by_symbol, _, simulated = _window_figures(settings, PNL_PERIODS[word])
    if window is None:
        return Reply(f"the {mode} account has no equity mark yet: run `cryptobot trade`")
    lines = [
        f"{_sim(simulated)}{mode} P&L, {word} {window.label} "
        f"(to {h['equity_end_ts']:%Y-%m-%d %H:%M} UTC)",
        f"equity {money(h['equity_start'])} -> {money(h['equity_end'])}: "
        f"{money(h['pnl'], signed=True)} ({pct(h['pnl_pct'], signed=True)})",
        f"max drawdown {pct(h['max_drawdown'])}, {h['trades']} trades, fees {money(h['fees'])}",
    ]
    for row in by_symbol:
        lines.append(
            f"{row['symbol']}: net {money(row['net'], signed=True)} (realised "
            f"{money(row['realized'], signed=True)}, unrealised change "
            f"{money(row['unrealized_change'], signed=True)}, fees {money(row['fees'])}, "
            f"{row['trades']} trades)"
        )
    return Reply("\n".join(lines))


def trades_reply(settings: Settings, ask: Ask) -> Reply:
    """The newest N fills (default 10, at most 50), newest first."""
    if len(ask.args) > 1 or (ask.args and not ask.args[0].isdigit()):
        raise UsageError(f"usage: /trades [n], n a number up to {MAX_TRADES}")
    n = int(ask.args[0]) if ask.args else DEFAULT_TRADES
    if not 1 <= n <= MAX_TRADES:
        raise UsageError(f"usage: /trades [n], n from 1 to {MAX_TRADES} (got {n})")
    mode = settings.trading.mode
    with _read(settings) as con:
        rows = con.execute(
            "select ts, symbol, side, amount, price, fee, coalesce(is_simulated, false) "
            "from trades where account = ? and mode = ? order by ts desc, id desc limit ?",
            [settings.trading.account, mode, n],
        ).fetchall()
    if not rows:
        return Reply(f"the {mode} account has no fills yet")
    simulated = any(row[6] for row in rows)
    lines = [f"{_sim(simulated)}{mode}: the newest {len(rows)} fill(s)"]
    for ts, symbol, side, amount, fill_price, fee, _ in rows:
        lines.append(
            f"{ts:%Y-%m-%d %H:%M} {side} {amount:.8g} {symbol} @ {price(fill_price)} "
            f"(fee {fee:,.4g})"
        )
    return Reply("\n".join(lines))


def models_text(registered: list[dict[str, Any]]) -> str:
    """The registry as ``models.registry.list_models`` returns it: each model's champion and
    its holdout accuracy and Sharpe, and its live accuracy so far."""
    if not registered:
        return "no registered models yet: run `cryptobot train`"
    lines = []
    for m in registered:
        sim = " [SIMULATED]" if m.get("simulated") else ""
        if not m.get("champion"):
            lines.append(f"{m['name']}{sim}: {m['versions']} version(s), no champion")
            continue
        metrics = m.get("metrics") or {}
        live = m.get("live")
        lines.append(
            f"{m['name']}{sim}: champion v{m['champion']} {m.get('champion_family') or ''}, "
            f"holdout accuracy {pct(metrics.get('directional_accuracy'), 1)}, Sharpe "
            f"{_number(metrics.get('sharpe'))}"
            + (f", live {pct(live[1], 1)} of {live[0]}" if live else "")
        )
    return "\n".join(lines)


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _reason(ask: Ask) -> str | None:
    return " ".join(ask.args) or None


def pause_reply(settings: Settings, ask: Ask) -> Reply:
    """Pause trading: no order that adds risk until /resume (reducing and closing still go)."""
    change = set_paused(settings, True, by=ask.by, source="telegram", reason=_reason(ask))
    if not change.changed:
        return Reply(f"already paused: {change.state.describe()}")
    return Reply(
        f"{change.state.describe()}. No order that adds risk until /resume; reducing and "
        "closing positions still go."
    )


def resume_reply(settings: Settings, ask: Ask) -> Reply:
    """Resume trading after /pause."""
    change = set_paused(settings, False, by=ask.by, source="telegram", reason=_reason(ask))
    if not change.changed:
        return Reply(f"not paused: {change.state.describe()}")
    return Reply(f"{change.state.describe()}. New risk is allowed again from the next step.")


def report_reply(settings: Settings, ask: Ask) -> Reply:
    """Build the daily (or weekly, monthly) report of the last complete day and send it."""
    from cryptobot.reports import build_report, headline_text

    period = (ask.args[0] if ask.args else "daily").lower()
    if period not in REPORT_PERIODS or len(ask.args) > 1:
        raise UsageError(f"usage: /report [daily|weekly|monthly] (got {' '.join(ask.args)!r})")
    report = build_report(settings, period)
    return Reply(headline_text(report.summary), document=report.path)


#: command -> (handler, one line of help)
COMMANDS: dict[str, tuple[Handler, str]] = {
    "status": (status_reply, "mode, pause, kill switch, newest data"),
    "balance": (balance_reply, "equity, cash, positions value, drawdown"),
    "positions": (positions_reply, "open positions with marks and unrealised P&L"),
    "pnl": (pnl_reply, "[day|week|month] P&L, per symbol"),
    "trades": (trades_reply, f"[n] the newest n fills (default {DEFAULT_TRADES})"),
    "pause": (pause_reply, "[why] stop new risk (audited)"),
    "resume": (resume_reply, "[why] allow new risk again"),
    "report": (report_reply, "[daily|weekly|monthly] the HTML report"),
}


def help_text(commands: dict[str, tuple[Handler, str]]) -> str:
    lines = ["cryptobot commands:"]
    lines += [f"/{name} {text}" for name, (_, text) in commands.items()]
    lines.append("/help this list")
    return "\n".join(lines)
