"""Opening the DuckDB warehouse: one writer, many readers, migrations on first use.

DuckDB lets one process write a database file; other processes may open it read-only only while
no writer holds it. So writers keep their connection for one short transaction and close it, and
both sides retry on a lock conflict with a bounded, jittered back-off: a user sees a short wait,
never a lock error (unless a writer holds the file for longer than ``timeout``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import duckdb

from cryptobot.errors import WarehouseBusyError, WarehouseError

_LOCK_MARKERS = ("lock", "conflicting", "being used", "already open")


def _is_lock_error(exc: duckdb.Error) -> bool:
    text = str(exc).lower()
    return isinstance(exc, duckdb.IOException | duckdb.ConnectionException) and any(
        marker in text for marker in _LOCK_MARKERS
    )


def _connect(path: Path, *, read_only: bool, timeout: float) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only, config={"threads": 2})
        except duckdb.Error as exc:
            if not _is_lock_error(exc):
                raise WarehouseError(f"cannot open warehouse {path}: {exc}") from exc
            if time.monotonic() >= deadline:
                mode = "read" if read_only else "write to"
                raise WarehouseBusyError(
                    f"cannot {mode} warehouse {path}: another process has held its write lock "
                    f"for over {timeout:.0f} s. Wait for the running flow to finish (see "
                    "`cryptobot status`) or raise CRYPTOBOT_WRITE_LOCK_TIMEOUT."
                ) from exc
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.5)


def migration_files() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration shipped with the package, in order."""
    folder = resources.files("cryptobot.warehouse") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [version for version, _, _ in found]
    if len(set(versions)) != len(versions):
        raise WarehouseError(f"two migrations share a version number: {versions}")
    return found


def migrate(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply every migration not yet recorded in ``schema_version``; returns the names applied."""
    con.execute(
        "create table if not exists schema_version ("
        " version integer primary key, name varchar not null, applied_at timestamp not null)"
    )
    done = {row[0] for row in con.execute("select version from schema_version").fetchall()}
    applied = []
    for version, name, sql in migration_files():
        if version in done:
            continue
        con.execute("begin transaction")
        try:
            con.execute(sql)
            con.execute(
                "insert into schema_version values (?, ?, now()::timestamp)", [version, name]
            )
            con.execute("commit")
        except duckdb.Error as exc:
            con.execute("rollback")
            raise WarehouseError(f"migration {name} failed: {exc}") from exc
        applied.append(name)
    return applied


def schema_is_current(con: duckdb.DuckDBPyConnection) -> bool:
    try:
        done = {row[0] for row in con.execute("select version from schema_version").fetchall()}
    except duckdb.CatalogException:
        return False
    return {version for version, _, _ in migration_files()} <= done


@contextmanager
def write_connection(path: Path, *, timeout: float = 120.0) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection that may write; migrations are applied first. Keep the block short."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = _connect(path, read_only=False, timeout=timeout)
    try:
        migrate(con)
        yield con
    finally:
        con.close()


@contextmanager
def read_connection(path: Path, *, timeout: float = 120.0) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection; waits (bounded) while a writer holds the file."""
    path = Path(path)
    if not path.exists():
        raise WarehouseError(
            f"no warehouse at {path}: run `cryptobot ingest` first (or set CRYPTOBOT_WAREHOUSE)"
        )
    con = _connect(path, read_only=True, timeout=timeout)
    try:
        if not schema_is_current(con):
            con.close()
            with write_connection(path, timeout=timeout):
                pass
            con = _connect(path, read_only=True, timeout=timeout)
        yield con
    finally:
        con.close()
