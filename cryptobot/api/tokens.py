"""API tokens: created, listed and revoked in the warehouse (``api_tokens``), checked in memory.

A token is ``cbt_`` + 32 random bytes (URL-safe base64). Only its SHA-256 is stored, so the
warehouse (or a backup of it) does not hold a usable token; the token itself is printed once, by
``cryptobot api token create``. The running API reads the table from its snapshot into a dict
(hash -> token), so checking a token costs one hash and one lookup; a new or revoked token takes
effect with the next snapshot (``api.snapshot_interval``, or once the writer of the moment ends
its step).

``last_used_at`` is kept in memory and written to the warehouse at most once a minute per token,
under the write lock the snapshot refresh already holds: a request never waits for a write.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from cryptobot.errors import ApiError
from cryptobot.warehouse.db import read_connection, write_connection

PREFIX = "cbt_"
#: seconds between writes of a token's last use
LAST_USED_EVERY = timedelta(seconds=60)
MAX_NAME = 100


@dataclass(frozen=True)
class TokenInfo:
    token_id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise ApiError(
            f"token name {name!r} is not valid: give 1 to {MAX_NAME} printable characters, "
            "e.g. --name grafana"
        )
    return name


def create_token(warehouse: Path, name: str, *, timeout: float = 120.0) -> tuple[str, TokenInfo]:
    """A new token named ``name`` (unique among active tokens): (the token, its record)."""
    name = _check_name(name)
    token = PREFIX + secrets.token_urlsafe(32)
    token_id = secrets.token_hex(4)
    created = _now()
    with write_connection(warehouse, timeout=timeout) as con:
        taken = con.execute(
            "select token_id from api_tokens where name = ? and revoked_at is null", [name]
        ).fetchone()
        if taken:
            raise ApiError(
                f"an active API token named {name!r} exists already (id {taken[0]}): revoke it "
                f"first (`cryptobot api token revoke {taken[0]}`) or choose another name"
            )
        con.execute(
            "insert into api_tokens (token_id, name, token_hash, created_at) values (?, ?, ?, ?)",
            [token_id, name, hash_token(token), created],
        )
    return token, TokenInfo(token_id, name, created, None, None)


def _rows(con: duckdb.DuckDBPyConnection) -> list[TokenInfo]:
    rows = con.execute(
        "select token_id, name, created_at, last_used_at, revoked_at from api_tokens "
        "order by created_at, token_id"
    ).fetchall()
    return [TokenInfo(*row) for row in rows]


def list_tokens(warehouse: Path, *, timeout: float = 120.0) -> list[TokenInfo]:
    with read_connection(warehouse, timeout=timeout) as con:
        return _rows(con)


def revoke_token(warehouse: Path, key: str, *, timeout: float = 120.0) -> TokenInfo:
    """Revoke the active token whose id or name is ``key``."""
    with write_connection(warehouse, timeout=timeout) as con:
        found = con.execute(
            "select token_id, name, created_at, last_used_at, revoked_at from api_tokens "
            "where (token_id = $key or name = $key) and revoked_at is null",
            {"key": key},
        ).fetchall()
        if not found:
            raise ApiError(
                f"no active API token has the id or name {key!r}: see `cryptobot api token list`"
            )
        if len(found) > 1:  # an id that is also another token's name
            raise ApiError(f"{key!r} names more than one token: revoke it by its id")
        revoked = _now()
        con.execute(
            "update api_tokens set revoked_at = ? where token_id = ?", [revoked, found[0][0]]
        )
    token_id, name, created, used, _ = found[0]
    return TokenInfo(token_id, name, created, used, revoked)


class TokenTable:
    """The active tokens of one snapshot, and the last uses not yet written back."""

    def __init__(self) -> None:
        self._by_hash: dict[str, TokenInfo] = {}
        self._used: dict[str, datetime] = {}
        self._written: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def load(self, con: duckdb.DuckDBPyConnection) -> None:
        rows = con.execute(
            "select token_hash, token_id, name, created_at, last_used_at from api_tokens "
            "where revoked_at is null"
        ).fetchall()
        table = {row[0]: TokenInfo(row[1], row[2], row[3], row[4], None) for row in rows}
        with self._lock:
            self._by_hash = table
            for info in table.values():
                if info.last_used_at is not None:
                    self._written.setdefault(info.token_id, info.last_used_at)

    def __len__(self) -> int:
        return len(self._by_hash)

    def check(self, token: str) -> TokenInfo | None:
        """The active token ``token`` is, or None; notes its use."""
        digest = hash_token(token)
        info = self._by_hash.get(digest)
        if info is None:  # a lookup by hash: timing reveals nothing usable about a token
            return None
        with self._lock:
            self._used[info.token_id] = _now()
        return info

    def pending(self) -> dict[str, datetime]:
        """Last uses older writes do not yet record, for tokens last written over a minute ago."""
        with self._lock:
            return {
                token_id: used
                for token_id, used in self._used.items()
                if token_id not in self._written
                or used - self._written[token_id] >= LAST_USED_EVERY
            }

    def has_pending(self) -> bool:
        return bool(self.pending())

    def flush(self, warehouse: Path, *, timeout: float) -> None:
        """Write the pending last uses (the caller holds the write lock, or it is taken)."""
        due = self.pending()
        if not due:
            return
        with write_connection(warehouse, timeout=timeout) as con:
            con.executemany(
                "update api_tokens set last_used_at = ? where token_id = ?",
                [[used, token_id] for token_id, used in due.items()],
            )
        with self._lock:
            self._written.update(due)
