"""Opening the DuckDB warehouse: one writer, many readers, migrations on first use.

DuckDB lets one process write a database file; other processes may open it read-only only while
no writer holds it. Writers first take the warehouse's write lock (:mod:`cryptobot.warehouse.lock`,
released by the kernel when its holder dies, however it dies), so they queue with a message naming
the holder instead of racing for the file. Writers keep their connection for one short
transaction and close it; readers retry on DuckDB's lock conflict with a bounded, jittered
back-off: a user sees a short wait, never a lock error (unless a writer holds the file for longer
than ``timeout``).

Every connection runs with ``TimeZone = 'UTC'``: the warehouse stores naive UTC timestamps, and
DuckDB would otherwise take the machine's zone (``TZ``) for ``now()::timestamp`` defaults and
casts between ``timestamp`` and ``timestamptz``.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import duckdb

from cryptobot.errors import WarehouseBusyError, WarehouseError
from cryptobot.warehouse.lock import write_lock

_LOCK_MARKERS = ("lock", "conflicting", "being used", "already open")
#: bytes 8-11 of every DuckDB database file
_DUCKDB_MAGIC = b"DUCK"
#: applied globally to each connection's database instance, so cursors inherit it
_SESSION_SETTINGS = "set global TimeZone = 'UTC'"


def file_version(path: Path) -> tuple[int, ...]:
    """(mtime, size) of a file and of its write-ahead log: changes with every commit."""
    parts: list[int] = []
    for candidate in (path, path.with_name(path.name + ".wal")):
        try:
            stat = candidate.stat()
        except OSError:
            parts += [0, 0]
        else:
            parts += [stat.st_mtime_ns, stat.st_size]
    return tuple(parts)


def _is_lock_error(exc: duckdb.Error) -> bool:
    text = str(exc).lower()
    return isinstance(exc, duckdb.IOException | duckdb.ConnectionException) and any(
        marker in text for marker in _LOCK_MARKERS
    )


def _check_is_database_file(path: Path) -> None:
    """Refuse an existing path that is not a DuckDB file before DuckDB sees it.

    DuckDB opens an existing ``.csv``/``.parquet``/``.json`` path as an in-memory database with a
    view over the file: a writer would then "store" into memory and a reader fail with "Cannot
    launch in-memory database in read-only mode". An empty file is left to DuckDB (a file being
    created by another process is empty for a moment; DuckDB reports a truly empty one itself).
    """
    if path.is_dir():
        raise WarehouseError(
            f"warehouse {path} is a directory: CRYPTOBOT_WAREHOUSE (or --warehouse) must name "
            "a DuckDB database file, e.g. data/warehouse.duckdb"
        )
    try:
        with path.open("rb") as file:
            header = file.read(12)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise WarehouseError(f"cannot read warehouse {path}: {exc}") from exc
    if header and header[8:12] != _DUCKDB_MAGIC:
        raise WarehouseError(
            f"{path} is not a DuckDB database file: CRYPTOBOT_WAREHOUSE (or --warehouse) must "
            "name the warehouse's .duckdb file (a new one is created if it does not exist). To "
            "load a CSV or Parquet file of candles, use `cryptobot import PATH`."
        )


def _harden(con: duckdb.DuckDBPyConnection, allow_files: Path | None) -> None:
    """Confine a read-only connection to the warehouse: no file outside it (``read_csv('/etc/
    passwd')``, ``read_text('.env')``, ``COPY ... TO``, ``ATTACH``), no network, no extension
    installed or auto-loaded; then lock the configuration so a query cannot ``SET`` it back.
    ``allow_files``: a directory whose files may be read (and nothing outside it).

    DuckDB shares one database instance between connections of a process to the same file; a
    second read connection finds the first one's locked, confined configuration and keeps it."""
    locked = con.execute("select current_setting('lock_configuration')").fetchone()[0]
    if locked:
        return
    con.execute(_SESSION_SETTINGS)
    if allow_files is not None:
        folder = Path(allow_files).expanduser().resolve()
        if not folder.is_dir():
            raise WarehouseError(f"--allow-files {allow_files}: not a directory")
        con.execute("set allowed_directories = ?", [[str(folder) + os.sep]])
    con.execute("set enable_external_access = false")
    con.execute("set lock_configuration = true")


def _connect(
    path: Path, *, read_only: bool, timeout: float, allow_files: Path | None = None
) -> duckdb.DuckDBPyConnection:
    _check_is_database_file(path)
    deadline = time.monotonic() + timeout
    delay = 0.01
    config: dict = {"threads": 2}
    if read_only:  # no extension fetched or loaded behind a query's back
        config |= {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only, config=config)
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
            continue
        try:
            if read_only:
                _harden(con, allow_files)
            else:
                con.execute(_SESSION_SETTINGS)
        except duckdb.Error as exc:
            con.close()
            raise WarehouseError(f"cannot configure warehouse {path}: {exc}") from exc
        except BaseException:
            con.close()
            raise
        return con


def migration_files(folder: Traversable | Path | None = None) -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration in ``folder`` (default: the package's), in order.

    A migration is named ``<version>_<what>.sql`` with a whole-number version, e.g.
    ``002_add_orders.sql``.
    """
    if folder is None:
        folder = resources.files("cryptobot.warehouse") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            prefix = entry.name.split("_", 1)[0]
            if not prefix.isdigit():
                raise WarehouseError(
                    f"migration file {entry.name} in {folder} does not start with a version "
                    "number: name it <version>_<what>.sql, e.g. 002_add_orders.sql"
                )
            found.append((int(prefix), entry.name, entry.read_text(encoding="utf-8")))
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
    """A connection that may write, under the warehouse's write lock (:mod:`.lock`); migrations
    are applied first. Keep the block short."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with write_lock(path, timeout=timeout):
        con = _connect(path, read_only=False, timeout=timeout)
        try:
            migrate(con)
            yield con
        finally:
            con.close()


@contextmanager
def read_connection(
    path: Path, *, timeout: float = 120.0, allow_files: Path | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection confined to the warehouse (no other file, no network, no
    extension install: :func:`_harden`; ``allow_files``: a directory it may read files under);
    waits (bounded) while a writer holds the file."""
    path = Path(path)
    if not path.exists():
        raise WarehouseError(
            f"no warehouse at {path}: run `cryptobot ingest` first (or set CRYPTOBOT_WAREHOUSE)"
        )
    con = _connect(path, read_only=True, timeout=timeout, allow_files=allow_files)
    try:
        if not schema_is_current(con):
            con.close()
            with write_connection(path, timeout=timeout):
                pass
            con = _connect(path, read_only=True, timeout=timeout, allow_files=allow_files)
        yield con
    finally:
        con.close()


def insert_rows(
    con: duckdb.DuckDBPyConnection, table: str, rows: list[dict], *, replace: bool = False
) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table`` by column name, keeping rows
    already stored under the same key (``replace``: overwriting them). A parameterised insert:
    one statement for all the rows (DuckDB pays milliseconds per statement, not per row)."""
    if not rows:
        return
    columns = list(rows[0])
    verb = "insert or replace" if replace else "insert"
    tail = "" if replace else " on conflict do nothing"
    one = f"({', '.join('?' * len(columns))})"
    con.execute(  # one statement for all rows (executemany runs one statement per row)
        f"{verb} into {table} ({', '.join(columns)}) values {', '.join([one] * len(rows))}{tail}",
        [row[c] for row in rows for c in columns],
    )
