"""Pausing trading by hand: stored in the warehouse, audited, honoured by every trading step.

``cryptobot trade pause|resume`` and Telegram's ``/pause`` and ``/resume`` append one row to
``trading_pauses`` (migration 007) with who, when and why; the newest row is the current state.
While paused the trading step sends no order that adds risk: the execution core blocks it as it
does under the drawdown kill switch (:data:`cryptobot.trading.core.P_PAUSED`), so reducing and
closing positions still go, and the decision's audit row says who paused and why. Open orders
already on the book are not cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

from cryptobot.config import Settings
from cryptobot.errors import TradingError
from cryptobot.ingest import utc_now
from cryptobot.warehouse.db import write_connection

#: the longest reason stored (a chat message can be 4096 characters)
MAX_REASON = 500
SOURCES = ("telegram", "cli")


@dataclass(frozen=True)
class PauseState:
    """Trading's pause as last set: ``paused`` and the row that set it (None: never set)."""

    paused: bool
    changed_at: datetime | None = None
    changed_by: str | None = None
    source: str | None = None
    reason: str | None = None

    def describe(self) -> str:
        """One line for a reply, a log or an audit row's reason."""
        if self.changed_at is None:
            return "trading is not paused (never paused)"
        word = "paused" if self.paused else "running: resumed"
        why = f": {self.reason}" if self.reason else ""
        return (
            f"trading {word} since {self.changed_at:%Y-%m-%d %H:%M} UTC by {self.changed_by}{why}"
        )


NOT_PAUSED = PauseState(paused=False)


def pause_state(con: duckdb.DuckDBPyConnection) -> PauseState:
    """The current pause state, read on an open connection (read-only is enough)."""
    row = con.execute(
        "select paused, changed_at, changed_by, source, reason from trading_pauses "
        "order by id desc limit 1"
    ).fetchone()
    if row is None:
        return NOT_PAUSED
    paused, changed_at, changed_by, source, reason = row
    return PauseState(bool(paused), changed_at, changed_by, source, reason)


def pause_history(con: duckdb.DuckDBPyConnection, limit: int = 10) -> list[PauseState]:
    """The newest ``limit`` pauses and resumes, newest first (the audit trail)."""
    rows = con.execute(
        "select paused, changed_at, changed_by, source, reason from trading_pauses "
        "order by id desc limit ?",
        [limit],
    ).fetchall()
    return [PauseState(bool(p), at, by, source, reason) for p, at, by, source, reason in rows]


@dataclass(frozen=True)
class PauseChange:
    state: PauseState  # the state after the call
    changed: bool  # False: it was already so; nothing was written


def set_paused(
    settings: Settings,
    paused: bool,
    *,
    by: str,
    source: str,
    reason: str | None = None,
    now: datetime | None = None,
) -> PauseChange:
    """Pause (``paused=True``) or resume trading, recording who, when and why.

    Pausing what is already paused (or resuming what runs) writes nothing and says so: the
    audit trail keeps the original row. Under the warehouse's write lock (bounded by
    ``settings.write_lock_timeout``: a busy warehouse raises WarehouseBusyError)."""
    if source not in SOURCES:
        raise TradingError(f"pause source {source!r} is not one of {', '.join(SOURCES)}")
    by = " ".join(str(by).split())[:200]
    if not by:
        raise TradingError("a pause or resume must say who did it (by)")
    reason = " ".join(str(reason).split())[:MAX_REASON] if reason else None
    when = now or utc_now()
    with write_connection(settings.warehouse, timeout=settings.write_lock_timeout) as con:
        con.execute("begin transaction")
        try:
            current = pause_state(con)
            if current.paused == paused:
                con.execute("rollback")
                return PauseChange(current, changed=False)
            con.execute(
                "insert into trading_pauses (paused, changed_at, changed_by, source, reason) "
                "values (?, ?, ?, ?, ?)",
                [paused, when, by, source, reason],
            )
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    return PauseChange(PauseState(paused, when, by, source, reason), changed=True)
