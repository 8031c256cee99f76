"""The warehouse write lock: one writer, a named holder, a bounded wait, and no stale claim."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from cryptobot.errors import WarehouseBusyError
from cryptobot.warehouse.db import write_connection
from cryptobot.warehouse.lock import holds_write_lock, lock_path, read_holder, write_lock

HOLD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from cryptobot.warehouse.lock import write_lock
    with write_lock(Path(sys.argv[1]), timeout=5, what="test holder"):
        print("held", flush=True)
        time.sleep(600)
    """
)


def _holder_process(warehouse: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(warehouse)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline().strip() == "held"
    return process


def test_a_free_lock_has_no_holder_and_a_held_one_names_its_process(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    assert read_holder(warehouse) is None
    with write_lock(warehouse, timeout=1, what="unit test"):
        holder = read_holder(warehouse)
        assert holder.pid == os.getpid() and holder.what == "unit test"
        assert holds_write_lock(warehouse)
    assert read_holder(warehouse) is None and not holds_write_lock(warehouse)
    assert lock_path(warehouse).name == "w.duckdb.lock"


def test_the_lock_is_reentrant_in_one_thread(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    with write_lock(warehouse, timeout=1), write_lock(warehouse, timeout=1):
        with write_connection(warehouse, timeout=1) as con:  # takes it a third time
            con.execute("create table t as select 1 as x")
        assert holds_write_lock(warehouse)
    assert not holds_write_lock(warehouse)


def test_a_waiting_writer_names_the_holder_and_gives_up_after_the_timeout(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    holder = _holder_process(warehouse)
    try:
        said = []
        started = time.monotonic()
        with (
            pytest.raises(WarehouseBusyError) as error,
            write_lock(warehouse, timeout=0.5, log=said.append),
        ):
            pass
        waited = time.monotonic() - started
        assert 0.5 <= waited < 3
        assert f"pid {holder.pid} (test holder)" in str(error.value)
        assert "CRYPTOBOT_WRITE_LOCK_TIMEOUT" in str(error.value)
        assert len(said) == 1 and f"pid {holder.pid} (test holder)" in said[0]
    finally:
        holder.kill()
        holder.wait()


def test_a_killed_holder_releases_the_lock_at_once(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    holder = _holder_process(warehouse)
    assert read_holder(warehouse).pid == holder.pid
    os.kill(holder.pid, signal.SIGKILL)  # no cleanup at all
    holder.wait()
    started = time.monotonic()
    with write_lock(warehouse, timeout=5):
        assert time.monotonic() - started < 0.5
        assert read_holder(warehouse).pid == os.getpid()


def test_another_thread_waits_for_the_holding_thread(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    order = []
    entered = threading.Event()

    def other():
        entered.wait()
        with write_lock(warehouse, timeout=5):
            order.append("other")

    thread = threading.Thread(target=other)
    thread.start()
    with write_lock(warehouse, timeout=1):
        entered.set()
        time.sleep(0.2)
        order.append("first")
    thread.join(5)
    assert order == ["first", "other"]
