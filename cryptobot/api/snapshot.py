"""The API's read-only snapshot of the warehouse: fast reads while a flow writes.

DuckDB lets one process open a database file read-write, and while it does no other process can
open the file at all: a reader of the live file waits for every trading step, ingest or dbt build
to close it (``read_connection``'s back-off). An API that read the live file would answer in
"however long the writer holds the file", not in milliseconds.

So the API serves from a copy. Every ``interval`` seconds :meth:`Snapshots.refresh` looks at the
warehouse file and its WAL; when either changed since the last copy (every commit changes one),
it copies both to a new generation under ``<data_dir>/api`` and opens the copy read-only with
one DuckDB connection that every request then reads through its own cursor. The old generation
is closed and deleted once the last request reading it is done.

A copy must be of a committed state, never of a file half-way through a write. Two ways:

- **lock-free** (the usual one, :meth:`Snapshots._copy_quiet`): a seqlock on the files'
  modification times. When neither file was touched for ``QUIET_SECONDS`` before the copy and
  both are unchanged after it, no write happened during the copy: it holds exactly the last
  commit (DuckDB replays the copied WAL on opening). The writer is never made to wait, and this
  works while a flow holds the write lock for a long task (the trading replay holds it for the
  whole replay and opens the file once per step).
- **locked** (:meth:`Snapshots._copy_locked`): when writes never pause long enough, or the API
  has writes of its own to make (tokens' last use), the refresh takes the warehouse's write
  lock like any writer, for at most ``lock_timeout`` seconds, and copies under it.

Every response says how old its data may be: ``as_of`` is the last moment the snapshot was known
to equal the warehouse (the copy's time, or a later check that found the file and its WAL
unchanged) and ``age_seconds`` the time since. A locked copy costs the writer the copy's time
(``benchmarks/bench_api.py`` measures both kinds).

Each generation is immutable, so results of queries are memoised per generation
(:meth:`Snapshot.memo`): under load a costly query runs once per generation, not per request.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from cryptobot.errors import WarehouseBusyError, WarehouseError
from cryptobot.warehouse.db import file_version, schema_is_current, write_connection
from cryptobot.warehouse.lock import write_lock

_logger = logging.getLogger(__name__)
T = TypeVar("T")
#: memoised results kept per generation (each a page or a summary: small)
MEMO_ENTRIES = 512
#: a lock-free copy needs the warehouse untouched this long before it starts (seconds): far
#: above the kernel's timestamp granularity (a few ms), so a write during the copy always shows
QUIET_SECONDS = 0.05
QUIET_ATTEMPTS = 20
#: answers rendered by a new generation before it is served (the most recently asked for)
WARM_KEYS = 48
#: seconds a refresh waits for the lock to write the API's own rows before copying without it
PENDING_LOCK_SECONDS = 0.2


def _copy(source: Path, target: Path) -> None:
    """Copy a file; ``copy_file_range`` shares the blocks on filesystems that can (XFS, btrfs),
    so a large warehouse copies in milliseconds there."""
    with source.open("rb") as src, target.open("wb") as dst:
        try:
            remaining = os.fstat(src.fileno()).st_size
            while remaining > 0:
                done = os.copy_file_range(src.fileno(), dst.fileno(), remaining)
                if done == 0:
                    break
                remaining -= done
        except OSError:  # not supported between these filesystems: plain copy
            src.seek(0)
            dst.seek(0)
            dst.truncate()
            shutil.copyfileobj(src, dst, 1 << 20)


class HotKeys:
    """The answers asked for lately (key -> how to build it), newest last, at most ``size``:
    a new generation renders them before it is served, so requests after a refresh do not wait
    for its queries (the refresh thread does)."""

    def __init__(self, size: int = WARM_KEYS) -> None:
        self.size = size
        self._keys: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def note(self, key: tuple, build: Callable) -> None:
        with self._lock:
            self._keys[key] = build
            self._keys.move_to_end(key)
            while len(self._keys) > self.size:
                self._keys.popitem(last=False)

    def items(self) -> list[tuple[tuple, Callable]]:
        with self._lock:
            return list(self._keys.items())


@dataclass
class Snapshot:
    """One generation: an immutable copy of the warehouse and a read-only connection to it."""

    generation: int
    path: Path
    con: duckdb.DuckDBPyConnection
    copied_at: datetime
    #: the source file's version the copy was made from
    version: tuple[int, ...]
    #: seconds the write lock was held for the copy
    copy_seconds: float
    #: the keys asked for lately, shared by the generations (see :class:`HotKeys`)
    hot: HotKeys | None = None
    verified_at: datetime = field(init=False)
    _refs: int = field(default=0, init=False)
    _retired: bool = field(default=False, init=False)
    _memo: OrderedDict = field(default_factory=OrderedDict, init=False)
    _memo_locks: dict = field(default_factory=dict, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        self.verified_at = self.copied_at

    def age_seconds(self, now: datetime | None = None) -> float:
        now = now or datetime.now(UTC)
        return max(0.0, (now - self.verified_at).total_seconds())

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor for one request's queries (DuckDB cursors are safe to use across threads
        as long as each is used by one thread at a time)."""
        return self.con.cursor()

    def render(self, key: tuple, build: Callable[[Snapshot], Any]) -> bytes:
        """The JSON of ``build(self)`` (a pydantic model), memoised under ``key``."""
        return self.memo(key, lambda: build(self).model_dump_json().encode())

    def remember(self, key: tuple, build: Callable[[Snapshot], Any]) -> None:
        """Note ``key`` as asked for, so the next generation renders it before it is served."""
        if self.hot is not None:
            self.hot.note(key, build)

    def peek(self, key: tuple) -> Any:
        """The memoised value of ``key``, or None."""
        with self._lock:
            return self._memo.get(key)

    def memo(self, key: tuple, compute: Callable[[], T]) -> T:
        """``compute()`` once per key in this generation; concurrent callers of the same key
        wait for the first instead of running the query again."""
        with self._lock:
            if key in self._memo:
                self._memo.move_to_end(key)
                return self._memo[key]
            key_lock = self._memo_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._memo:
                    return self._memo[key]
            value = compute()
            with self._lock:
                self._memo[key] = value
                self._memo_locks.pop(key, None)
                while len(self._memo) > MEMO_ENTRIES:
                    self._memo.popitem(last=False)
            return value

    def _acquire(self) -> None:
        with self._lock:
            self._refs += 1

    def _release(self) -> None:
        with self._lock:
            self._refs -= 1
            done = self._retired and self._refs == 0
        if done:
            self._close()

    def _retire(self) -> None:
        with self._lock:
            self._retired = True
            done = self._refs == 0
        if done:
            self._close()

    def _close(self) -> None:
        with contextlib.suppress(duckdb.Error):
            self.con.close()
        for candidate in (self.path, self.path.with_name(self.path.name + ".wal")):
            candidate.unlink(missing_ok=True)


class Snapshots:
    """The current snapshot of ``warehouse``, refreshed by :meth:`refresh` (or a background
    thread, :meth:`start`); ``on_copy(con)`` runs on each new generation before it is served,
    and ``before_copy()`` runs under the write lock just before a copy (to flush writes the
    API owes the warehouse, e.g. tokens' last use; ``pending()`` says whether it has any, which
    makes a refresh copy even when the warehouse did not change)."""

    def __init__(
        self,
        warehouse: Path,
        folder: Path,
        *,
        interval: float = 2.0,
        lock_timeout: float = 10.0,
        on_copy: Callable[[Snapshot], None] | None = None,
        before_copy: Callable[[], None] | None = None,
        pending: Callable[[], bool] | None = None,
    ) -> None:
        self.warehouse = Path(warehouse).expanduser().resolve()
        self.folder = Path(folder).expanduser().resolve()
        self.interval = interval
        self.lock_timeout = lock_timeout
        self.on_copy = on_copy
        self.before_copy = before_copy
        self.pending = pending
        self._current: Snapshot | None = None
        self._swap = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._files = itertools.count(1)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: why the last refresh kept the older snapshot ("" when it did not)
        self.last_error = ""
        self.hot = HotKeys()
        self.warm_seconds_total = 0.0
        self.copies = 0
        #: copies made without the write lock (``_copy_quiet``)
        self.lock_free_copies = 0
        #: seconds the write lock was held for copies, in total
        self.copy_seconds_total = 0.0

    # -- serving -------------------------------------------------------------------------------

    @property
    def current(self) -> Snapshot | None:
        return self._current

    @contextmanager
    def reading(self) -> Iterator[Snapshot]:
        """The current snapshot, kept open until the block ends."""
        with self._swap:
            snapshot = self._current
            if snapshot is None:
                raise WarehouseError(
                    f"the API has no snapshot of the warehouse {self.warehouse} yet: "
                    f"{self.last_error or 'the first copy has not been made'}"
                )
            snapshot._acquire()
        try:
            yield snapshot
        finally:
            snapshot._release()

    # -- refreshing ----------------------------------------------------------------------------

    def refresh(self, *, force: bool = False) -> bool:
        """Copy the warehouse when it changed since the last copy (or ``force``); True when a
        new generation is served. A writer holding the lock past ``lock_timeout`` leaves the
        older snapshot in place (and says why in ``last_error``)."""
        with self._refresh_lock:
            return self._refresh(force)

    def _refresh(self, force: bool) -> bool:
        if not self.warehouse.is_file():
            self.last_error = (
                f"no warehouse at {self.warehouse}: run `cryptobot ingest` (or `cryptobot demo`) "
                "first, or set CRYPTOBOT_WAREHOUSE"
            )
            return False
        current = self._current
        checked = datetime.now(UTC)
        pending = self.before_copy is not None and self.pending is not None and self.pending()
        unchanged = current is not None and file_version(self.warehouse) == current.version
        if unchanged and not force and not pending:
            # nothing committed since the copy (a commit changes the file or its WAL)
            current.verified_at = checked
            self.last_error = ""
            return False
        self.folder.mkdir(parents=True, exist_ok=True)
        generation = current.generation + 1 if current is not None else 1
        target = self.folder / f"snapshot-{os.getpid()}-{next(self._files)}.duckdb"
        if force:
            plan = [("locked", self.lock_timeout)]
        elif unchanged:  # only the API's own writes (tokens' last use) to make: if the lock is free
            plan = [("locked", PENDING_LOCK_SECONDS)]
        else:  # a new commit: with the API's writes if the lock is free at once, else without
            plan = [("locked", PENDING_LOCK_SECONDS)] if pending else []
            plan += [("quiet", 0.0), ("locked", self.lock_timeout)]
        copied, busy = None, None
        for how, timeout in plan:
            if how == "quiet":
                copied = self._copy_quiet(target)
            else:
                try:
                    copied = self._copy_locked(target, timeout)
                except WarehouseBusyError as exc:
                    busy = exc
            if copied is not None:
                break
        if copied is None:
            self._discard(target)
            if unchanged and not force:  # the snapshot is still the warehouse's state
                current.verified_at = checked
                return False
            self.last_error = f"kept the older snapshot: {busy}"
            _logger.warning("%s", self.last_error)
            return False
        copied_at, version, held = copied
        try:
            con = duckdb.connect(str(target), read_only=True, config={"threads": 2})
            con.execute("set global TimeZone = 'UTC'")
        except duckdb.Error as exc:
            self._discard(target)
            self.last_error = f"cannot open the snapshot {target}: {exc}"
            raise WarehouseError(self.last_error) from exc
        snapshot = Snapshot(generation, target, con, copied_at, version, held, self.hot)
        if self.on_copy is not None:
            self.on_copy(snapshot)
        self._warm(snapshot)
        with self._swap:
            old, self._current = self._current, snapshot
        if old is not None:
            old._retire()
        self.copies += 1
        self.lock_free_copies += how == "quiet"
        self.copy_seconds_total += held
        self.last_error = ""
        return True

    def _warm(self, snapshot: Snapshot) -> None:
        """Render the answers asked for lately on ``snapshot`` before it is served."""
        started = time.perf_counter()
        for key, build in self.hot.items():
            try:
                snapshot.render(key, build)
            except Exception as exc:  # noqa: BLE001 - a request for it will say what is wrong
                _logger.warning("warming %s failed: %s: %s", key, type(exc).__name__, exc)
        self.warm_seconds_total += time.perf_counter() - started

    def _files_of(self, path: Path) -> tuple[Path, Path]:
        return path, path.with_name(path.name + ".wal")

    def _copy_files(self, target: Path) -> None:
        for source, copy in zip(
            self._files_of(self.warehouse), self._files_of(target), strict=True
        ):
            if source.is_file():
                _copy(source, copy)
            else:
                copy.unlink(missing_ok=True)

    def _discard(self, target: Path) -> None:
        for path in self._files_of(target):
            path.unlink(missing_ok=True)

    def _copy_quiet(self, target: Path) -> tuple[datetime, tuple[int, ...], float] | None:
        """Copy without the lock when the file is quiet, like a seqlock: the warehouse file
        and its WAL untouched for ``QUIET_SECONDS`` before the copy and unchanged after it
        mean no write happened during the copy (any write moves the modification time past
        the quiet mark), so the copy is the state of the last commit. None when a write came
        in the way; the writer is never made to wait."""
        for _ in range(QUIET_ATTEMPTS):
            before = file_version(self.warehouse)
            newest = max(before[0::2])
            quiet_for = time.time() - newest / 1e9
            if quiet_for < QUIET_SECONDS:
                time.sleep(QUIET_SECONDS - quiet_for)
                continue
            copied_at = datetime.now(UTC)
            self._copy_files(target)
            if file_version(self.warehouse) == before:
                return copied_at, before, 0.0
        self._discard(target)
        return None

    def _copy_locked(self, target: Path, timeout: float) -> tuple[datetime, tuple[int, ...], float]:
        """Copy under the write lock (queueing behind a writer's step for at most
        ``timeout`` seconds), flushing the API's own pending writes first."""
        started = time.perf_counter()
        quiet = timeout <= PENDING_LOCK_SECONDS  # a brief try: no "waiting for" warning
        with write_lock(
            self.warehouse,
            timeout=timeout,
            what="cryptobot api snapshot",
            log=_logger.debug if quiet else None,
        ):
            if self.before_copy is not None:
                self.before_copy()
            copied_at = datetime.now(UTC)
            version = file_version(self.warehouse)
            self._copy_files(target)
        return copied_at, version, time.perf_counter() - started

    def _remove_orphans(self) -> None:
        """Delete the copies of API processes that are gone (killed before they could)."""
        for path in self.folder.glob("snapshot-*-*.duckdb*"):
            pid = path.name.split("-")[1]
            if pid.isdigit() and int(pid) != os.getpid() and not Path(f"/proc/{pid}").exists():
                path.unlink(missing_ok=True)

    def prepare(self) -> None:
        """Make the first snapshot (without waiting for a writer when the file is quiet) and,
        when it lacks a migration the API reads (``api_tokens``), migrate the warehouse under
        the write lock and copy it again. Raises :class:`WarehouseError` saying why not."""
        if self.folder.is_dir():
            self._remove_orphans()
        if not self.refresh() and self._current is None:
            raise WarehouseError(
                f"the API cannot serve the warehouse {self.warehouse}: {self.last_error}"
            )
        if not schema_is_current(self._current.cursor()):
            with write_connection(self.warehouse, timeout=self.lock_timeout):
                pass
            self.refresh(force=True)

    def start(self) -> None:
        """Refresh every ``interval`` seconds in a daemon thread until :meth:`stop`."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="api-snapshot", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.refresh()
            except Exception as exc:  # noqa: BLE001 - the loop must outlive one bad refresh
                self.last_error = f"snapshot refresh failed: {type(exc).__name__}: {exc}"
                _logger.warning("%s", self.last_error)

    def stop(self) -> None:
        """Stop refreshing, close the snapshot and delete its files."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.lock_timeout + 5)
            self._thread = None
        with self._swap:
            old, self._current = self._current, None
        if old is not None:
            old._retire()

    def status(self) -> dict[str, Any]:
        snapshot = self._current
        return {
            "generation": snapshot.generation if snapshot else None,
            "as_of": snapshot.verified_at if snapshot else None,
            "copied_at": snapshot.copied_at if snapshot else None,
            "age_seconds": snapshot.age_seconds() if snapshot else None,
            "last_copy_lock_seconds": snapshot.copy_seconds if snapshot else None,
            "copies": self.copies,
            "lock_free_copies": self.lock_free_copies,
            "copy_lock_seconds_total": self.copy_seconds_total,
            "warm_seconds_total": self.warm_seconds_total,
            "error": self.last_error or None,
        }
