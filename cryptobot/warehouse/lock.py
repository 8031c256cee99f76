"""The one-writer lock: one process at a time writes the warehouse, and a crash never blocks.

DuckDB lets one process write a database file. Writers queue on a lock file beside it
(``warehouse.duckdb.lock``) held with ``flock``: the kernel releases it the moment the holding
process ends, however it ends (a return, an exception, SIGTERM, SIGKILL, the OOM killer), so the
next writer goes on at once. Nothing lives in a server's memory or a table that a crash could
leave behind (the Prefect global concurrency slot this replaces stayed taken after a SIGKILL, and
every later write waited forever).

The holder writes who it is into the file (pid, what it runs, since when). A writer that has to
wait says so once, naming the holder, and gives up after ``timeout`` seconds with a
:class:`~cryptobot.errors.WarehouseBusyError` that names it too.

The lock is re-entrant within a thread (a flow task holds it and the functions it calls take it
again for each short transaction); other threads of the same process wait like other processes.
The file descriptor is not inherited by child processes (Python opens files non-inheritable), so
a subprocess cannot keep a dead writer's lock alive.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptobot.errors import WarehouseBusyError

#: how often a waiting writer tries again (seconds); waits are short, so polling is cheap
POLL_SECONDS = 0.05
_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Holder:
    """Who holds (or last held) the write lock, as it wrote itself into the lock file."""

    pid: int | None
    what: str
    since: str

    def describe(self) -> str:
        if self.pid is None:
            return "another process (it has not said who it is yet)"
        return f"pid {self.pid} ({self.what}) since {self.since}"


class _ThreadState(threading.local):
    def __init__(self) -> None:
        self.depth: dict[str, int] = {}


_local = _ThreadState()
_process_locks: dict[str, threading.Lock] = {}
_registry_lock = threading.Lock()


def lock_path(warehouse: Path) -> Path:
    """The lock file of ``warehouse``: its path with ``.lock`` appended."""
    warehouse = Path(warehouse)
    return warehouse.with_name(warehouse.name + ".lock")


def read_holder(warehouse: Path) -> Holder | None:
    """Who the lock file names, or None when nobody holds the lock now."""
    path = lock_path(warehouse)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:  # a shared lock is free only when no writer holds the exclusive one
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _holder_from(os.pread(fd, 4096, 0))
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _holder_from(raw: bytes) -> Holder:
    try:
        data = json.loads(raw.decode() or "{}")
        return Holder(int(data["pid"]), str(data.get("what", "?")), str(data.get("since", "?")))
    except (ValueError, KeyError, TypeError):
        return Holder(None, "?", "?")


def _describe_self(what: str | None) -> str:
    if what:
        return what
    argv = [Path(sys.argv[0]).name, *sys.argv[1:2]] if sys.argv and sys.argv[0] else ["python"]
    return " ".join(argv)


def _process_lock(key: str) -> threading.Lock:
    with _registry_lock:
        return _process_locks.setdefault(key, threading.Lock())


@contextmanager
def write_lock(
    warehouse: Path,
    *,
    timeout: float,
    what: str | None = None,
    log: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold the warehouse's write lock for the block (re-entrant in this thread).

    Waits at most ``timeout`` seconds for another writer (saying once, through ``log`` or else
    this module's logger, who it waits for), then raises :class:`WarehouseBusyError` naming the
    holder. ``what`` names the holder for others (default: the command line's program and
    command, e.g. ``cryptobot ingest``).
    """
    log = log or _logger.warning
    path = lock_path(warehouse)
    key = os.path.abspath(path)
    depth = _local.depth.get(key, 0)
    if depth:
        _local.depth[key] = depth + 1
        try:
            yield
        finally:
            _local.depth[key] -= 1
        return

    deadline = time.monotonic() + timeout
    in_process = _process_lock(key)
    if not in_process.acquire(timeout=timeout):
        raise WarehouseBusyError(
            f"cannot write to warehouse {warehouse}: another thread of this process has held its "
            f"write lock for over {timeout:.0f} s"
        )
    fd = -1
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _holder_from(os.pread(fd, 4096, 0))
                if time.monotonic() >= deadline:
                    raise WarehouseBusyError(
                        f"cannot write to warehouse {warehouse}: its write lock is held by "
                        f"{holder.describe()}, for over {timeout:.0f} s of waiting. Wait for that "
                        "run to finish (or stop it: a stopped or killed writer releases the lock "
                        "at once), or raise CRYPTOBOT_WRITE_LOCK_TIMEOUT."
                    ) from None
                if not told:
                    log(
                        f"waiting for the warehouse write lock, held by {holder.describe()} "
                        f"(giving up after {timeout:.0f} s)"
                    )
                    told = True
                time.sleep(POLL_SECONDS)
        me = {
            "pid": os.getpid(),
            "what": _describe_self(what),
            "since": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode(), 0)
        _local.depth[key] = 1
        try:
            yield
        finally:
            _local.depth.pop(key, None)
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)  # nobody holds it now (the kernel drops the lock on close)
    finally:
        if fd >= 0:
            os.close(fd)  # closing releases the flock
        in_process.release()


def holds_write_lock(warehouse: Path) -> bool:
    """True when this thread holds ``warehouse``'s write lock."""
    return _local.depth.get(os.path.abspath(lock_path(warehouse)), 0) > 0
