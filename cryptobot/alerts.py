"""Telegram alerts: what is worth a message, in which words, and sending it without ever failing.

Each alert has a kind (``cryptobot.config.ALERT_KINDS``) and is sent only while that kind is in
``telegram.alerts`` and Telegram is configured (:mod:`cryptobot.notify`):

* ``fills``: the fills a trading step booked (and live orders the exchange rejected);
* ``risk``: orders a risk check refused (a blocked entry or a flip cut to a close); refusals by
  the kill switch (it has its own alert) and by a human's pause are not repeated every hour;
* ``kill_switch``: the drawdown kill switch tripped (sent by the trading engine);
* ``flow_failures``: a Prefect flow failed or crashed (the flows' state hooks);
* ``stale_data``: a configured series' newest closed bar is older than
  ``telegram.stale_after_minutes`` after an ingest, or the trading step skipped a symbol on stale
  data;
* ``daily_summary``: the daily report, sent by the ``daily`` report deployment.

:func:`send_alert` never raises: an alert that cannot be delivered is logged as a warning and
the flow, the trading step or the ingest goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb

from cryptobot.config import ALERT_KINDS, Settings
from cryptobot.notify import is_configured, notify, redact

logger = logging.getLogger(__name__)

#: the longest failure message quoted in a flow-failure alert
MAX_DETAIL = 600


def alert_enabled(settings: Settings, kind: str) -> bool:
    """True when ``kind`` is switched on (``telegram.alerts``) and Telegram is configured."""
    if kind not in ALERT_KINDS:
        raise ValueError(f"unknown alert kind {kind!r}: one of {', '.join(ALERT_KINDS)}")
    return kind in settings.telegram.alerts and is_configured(settings)


def send_alert(
    settings: Settings, kind: str, text: str, *, log: Callable[[str], None] | None = None
) -> bool:
    """Send ``text`` as a ``kind`` alert; True once Telegram accepted it. Does nothing (False)
    when the kind is switched off or Telegram is not configured; a delivery failure is logged
    as a warning (through ``log`` too, when given) and returns False: it never raises."""
    if not alert_enabled(settings, kind):
        return False
    try:
        return notify(settings, text)
    except Exception as exc:  # noqa: BLE001 - an alert must never stop what it reports on
        token = (
            settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else ""
        )
        problem = redact(f"{kind} alert not delivered: {type(exc).__name__}: {exc}", token)
        logger.warning(problem)
        if log is not None:
            log(problem)
        return False


# -- the trading step ------------------------------------------------------------------------------


def fills_text(mode: str, fills: Iterable) -> str | None:
    """One line per fill (``cryptobot.trading.orders.Fill``) of a step; None when none."""
    lines = [
        f"{fill.order.side} {fill.amount:.8g} {fill.order.symbol} @ {fill.price:,.6g} "
        f"(fee {fill.fee:,.4g}) at {fill.ts:%Y-%m-%d %H:%M} UTC"
        for fill in fills
    ]
    if not lines:
        return None
    simulated = any(fill.order.is_simulated for fill in fills)
    head = f"{'[SIMULATED] ' if simulated else ''}cryptobot {mode}: {len(lines)} fill(s)"
    return "\n".join([head, *lines])


def refusals_text(mode: str, decisions: Iterable[dict], *, kill_switch: bool) -> str | None:
    """The decisions a risk check refused (blocked, or a flip cut to a close); those refused
    only by the kill switch (while it is on) or only by a pause are left out."""
    lines = []
    simulated = False
    for row in decisions:
        reason = row.get("reason") or ""
        refused = row["action"] == "blocked" or reason.startswith("flip blocked")
        if not refused or "by the pause" in reason:
            continue
        if kill_switch and reason == "blocked by max_drawdown":
            continue
        simulated = simulated or bool(row.get("is_simulated"))
        lines.append(f"{row['symbol']} bar {row['bar_ts']:%Y-%m-%d %H:%M}: {reason}")
    if not lines:
        return None
    head = f"{'[SIMULATED] ' if simulated else ''}cryptobot {mode}: risk checks refused"
    return "\n".join([f"{head} {len(lines)} order(s)", *lines])


def stale_decisions_text(mode: str, decisions: Iterable[dict]) -> str | None:
    """The symbols the step skipped because their newest bar was stale."""
    lines = [
        f"{row['symbol']}: {row['reason']}"
        for row in decisions
        if (row.get("reason") or "").startswith("stale data")
    ]
    if not lines:
        return None
    return "\n".join([f"cryptobot {mode}: trading skipped {len(lines)} symbol(s)", *lines])


def step_alerts(settings: Settings, result, log: Callable[[str], None] | None = None) -> list[str]:
    """The fills, risk and stale-data alerts of one trading step (``StepResult``); returns the
    kinds sent. The kill-switch alert is the engine's own (sent when it trips)."""
    sent = []
    if result.already_marked:
        return sent
    for kind, text in (
        ("fills", fills_text(result.mode, result.fills)),
        ("risk", refusals_text(result.mode, result.decisions, kill_switch=result.kill_switch)),
        ("stale_data", stale_decisions_text(result.mode, result.decisions)),
    ):
        if text and send_alert(settings, kind, text, log=log):
            sent.append(kind)
    return sent


# -- stale data ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class StaleSeries:
    exchange: str
    symbol: str
    timeframe: str
    newest_available_at: datetime | None  # None: no bar stored at all


def stale_series(
    con: duckdb.DuckDBPyConnection,
    exchange: str,
    symbols: list[str],
    timeframe: str,
    now: datetime,
    max_age: timedelta,
) -> list[StaleSeries]:
    """The configured series whose newest stored bar became known (``available_at``, its close)
    more than ``max_age`` before ``now`` (naive UTC), or that have no bar at all."""
    rows = dict(
        con.execute(
            "select symbol, max(available_at) from market_data "
            "where exchange = ? and timeframe = ? group by symbol",
            [exchange, timeframe],
        ).fetchall()
    )
    return [
        StaleSeries(exchange, symbol, timeframe, rows.get(symbol))
        for symbol in symbols
        if rows.get(symbol) is None or now - rows[symbol] > max_age
    ]


def stale_text(stale: list[StaleSeries], now: datetime, max_age: timedelta) -> str | None:
    if not stale:
        return None
    minutes = int(max_age.total_seconds() // 60)
    lines = [
        f"{s.exchange} {s.symbol} {s.timeframe}: "
        + (
            "no bars stored"
            if s.newest_available_at is None
            else f"newest bar closed {s.newest_available_at:%Y-%m-%d %H:%M} UTC "
            f"({(now - s.newest_available_at).total_seconds() / 3600:.1f} h ago)"
        )
        for s in stale
    ]
    head = f"cryptobot: stale data, {len(stale)} series older than {minutes} min"
    return "\n".join([head, *lines])
