"""Named paper accounts: listed, reset and archived, their history kept (migration 010).

Every trading row (``orders``, ``trades``, ``positions``, ``equity_curve``, ``trade_decisions``)
belongs to an ``account`` (a name, ``default`` unless ``trading.account`` or ``--account`` says
otherwise) and a ``mode`` (paper | live). An account is registered in ``accounts`` by its first
step.

- **reset** moves every row of a paper account into the ``*_archive`` tables (the same columns
  plus ``archive_id`` and ``archived_at``) and leaves the account empty: its next step starts
  from ``trading.initial_capital``, as on the first day.
- **archive** does the same and closes the name: a step on it is refused until ``reset`` reopens
  it (empty). Use it to retire an experiment so no schedule trades it by mistake.

Both run in one transaction: each table's rows are copied to its archive, the copy counted, and
only then deleted; a count that differs rolls everything back. Nothing is ever deleted without
being archived first. Live accounts mirror an exchange's holdings and cannot be reset.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import duckdb

from cryptobot.config import ACCOUNT_PATTERN, Settings
from cryptobot.errors import TradingError
from cryptobot.ingest import utc_now
from cryptobot.warehouse.db import read_connection, write_connection

DEFAULT_ACCOUNT = "default"
#: the tables whose rows belong to an account, in the order they are archived
ACCOUNT_TABLES = ("trade_decisions", "orders", "trades", "positions", "equity_curve")


def check_account_name(account: str) -> str:
    """``account`` when it is a valid name (the rule of ``trading.account``), else an error."""
    if not ACCOUNT_PATTERN.match(account or ""):
        raise TradingError(
            f"account name {account!r} is not valid: use 1-40 letters, digits, '-' or '_' "
            "(e.g. default, momentum-test)"
        )
    return account


def owner_key(mode: str, account: str) -> str:
    """The account's part of decision and client order ids: the mode alone for ``default`` (the
    ids rows had before accounts were named), ``mode@account`` for any other."""
    return mode if account == DEFAULT_ACCOUNT else f"{mode}@{account}"


def require_open_account(con: duckdb.DuckDBPyConnection, account: str, mode: str) -> None:
    """Refuse a step on an archived account."""
    found = con.execute(
        "select archived_at from accounts where account = ? and mode = ?", [account, mode]
    ).fetchall()
    if found and found[0][0] is not None:
        raise TradingError(
            f"the {mode} account {account!r} was archived at {found[0][0]:%Y-%m-%d %H:%M} UTC "
            "and cannot trade: `cryptobot account reset "
            f"{account}` reopens it empty, or trade another account (--account NAME or "
            "trading.account)"
        )


def open_account(con: duckdb.DuckDBPyConnection, account: str, mode: str) -> None:
    """Register the account at its first step (nothing when it exists)."""
    con.execute(
        "insert into accounts (account, mode, created_at) values (?, ?, ?) on conflict do nothing",
        [account, mode, utc_now()],
    )


@dataclass(frozen=True)
class AccountSummary:
    account: str
    mode: str
    created_at: datetime | None
    last_step: datetime | None  # the newest equity mark
    equity: float | None
    trades: int
    decisions: int
    archived_at: datetime | None
    archives: int  # resets and archives so far
    is_simulated: bool

    @property
    def status(self) -> str:
        return "archived" if self.archived_at else "open"


def list_accounts(settings: Settings) -> list[AccountSummary]:
    """Every account: mode, when created, its last step and equity, fills and decisions, and
    how often it was archived."""
    with read_connection(settings.warehouse, timeout=settings.write_lock_timeout) as con:
        rows = con.execute(
            """
            with known as (
                select account, mode from accounts
                union select account, mode from equity_curve
                union select account, mode from trade_decisions
            ),
            marks as (
                select account, mode, max(ts) as last_step, arg_max(equity, ts) as equity,
                    bool_or(is_simulated) as simulated
                from equity_curve group by all
            ),
            fills as (select account, mode, count(*) as n from trades group by all),
            decided as (
                select account, mode, count(*) as n, min(decided_at) as first
                from trade_decisions group by all
            ),
            archived as (select account, mode, count(*) as n from account_archives group by all)
            select k.account, k.mode, coalesce(a.created_at, d.first), m.last_step, m.equity,
                coalesce(f.n, 0), coalesce(d.n, 0), a.archived_at, coalesce(x.n, 0),
                coalesce(m.simulated, false)
            from known k
            left join accounts a using (account, mode)
            left join marks m using (account, mode)
            left join fills f using (account, mode)
            left join decided d using (account, mode)
            left join archived x using (account, mode)
            order by k.account, k.mode
            """
        ).fetchall()
    return [AccountSummary(*row) for row in rows]


@dataclass(frozen=True)
class ArchiveResult:
    archive_id: str
    account: str
    mode: str
    action: str  # reset | archive
    archived_at: datetime
    rows: dict[str, int]  # table -> rows moved

    @property
    def moved(self) -> int:
        return sum(self.rows.values())


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    return {
        name: kind
        for name, kind in con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'main' and table_name = ? order by ordinal_position",
            [table],
        ).fetchall()
    }


def _follow_columns(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Give ``<table>_archive`` any column a later migration added to ``table``."""
    archive = _columns(con, f"{table}_archive")
    for name, kind in _columns(con, table).items():
        if name not in archive:
            con.execute(f'alter table {table}_archive add column "{name}" {kind}')


def archive_account(
    settings: Settings,
    account: str,
    *,
    close: bool,
    mode: str = "paper",
    now: datetime | None = None,
) -> ArchiveResult:
    """Move every row of the ``mode`` account ``account`` into the archive tables in one
    transaction; ``close`` (``account archive``) also closes the name to trading, else
    (``account reset``) the account stays open, empty, and an archived one is reopened."""
    if mode != "paper":
        raise TradingError(
            f"the live account {account!r} mirrors the exchange's holdings and cannot be reset "
            "or archived; only paper accounts can"
        )
    now = now or utc_now()
    action = "archive" if close else "reset"
    with write_connection(settings.warehouse, timeout=settings.write_lock_timeout) as con:
        known = con.execute(
            "select archived_at from accounts where account = ? and mode = ?", [account, mode]
        ).fetchall()
        held = {
            table: con.execute(
                f"select count(*) from {table} where account = ? and mode = ?", [account, mode]
            ).fetchone()[0]
            for table in ACCOUNT_TABLES
        }
        if not known and not any(held.values()):
            names = [
                r[0]
                for r in con.execute(
                    "select account from accounts where mode = $1 union select account from "
                    "equity_curve where mode = $1 union select account from trade_decisions "
                    "where mode = $1 order by 1",
                    [mode],
                ).fetchall()
            ]
            raise TradingError(
                f"no {mode} account named {account!r}"
                + (f"; accounts: {', '.join(names)}" if names else "; no account has traded yet")
                + " (see `cryptobot account list`)"
            )
        if close and known and known[0][0] is not None and not any(held.values()):
            raise TradingError(
                f"the {mode} account {account!r} is already archived (at "
                f"{known[0][0]:%Y-%m-%d %H:%M} UTC) and holds no rows"
            )
        archive_id = f"{account}-{mode}-{now:%Y%m%dT%H%M%S%f}"
        con.execute("begin transaction")
        try:
            marks = con.execute(
                "select min(ts), max(ts), arg_max(equity, ts) from equity_curve "
                "where account = ? and mode = ?",
                [account, mode],
            ).fetchone()
            moved = {}
            for table in ACCOUNT_TABLES:
                _follow_columns(con, table)
                copied = con.execute(
                    f"insert into {table}_archive by name select *, ? as archive_id, "
                    f"? as archived_at from {table} where account = ? and mode = ?",
                    [archive_id, now, account, mode],
                ).fetchone()[0]
                deleted = con.execute(
                    f"delete from {table} where account = ? and mode = ?", [account, mode]
                ).fetchone()[0]
                if copied != deleted or copied != held[table]:
                    raise TradingError(
                        f"archiving {table} of account {account!r}: copied {copied} rows but "
                        f"{deleted} would be deleted (of {held[table]}); nothing was changed"
                    )
                moved[table] = int(copied)
            con.execute(
                "insert into account_archives values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [archive_id, account, mode, action, now, *marks, json.dumps(moved)],
            )
            con.execute(
                "insert into accounts (account, mode, created_at, archived_at) "
                "values (?, ?, ?, ?) on conflict (account, mode) do update "
                "set archived_at = excluded.archived_at",
                [account, mode, now, now if close else None],
            )
            if not close:  # reopened empty: it starts again now
                con.execute(
                    "update accounts set created_at = ? where account = ? and mode = ?",
                    [now, account, mode],
                )
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    return ArchiveResult(archive_id, account, mode, action, now, moved)
