"""Migrations, and one writer with concurrent readers in other processes."""

from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

import cryptobot
from cryptobot.errors import WarehouseBusyError, WarehouseError
from cryptobot.warehouse.db import migration_files, read_connection, write_connection

pytestmark = pytest.mark.integration


def test_migrations_apply_once_in_order(tmp_path: Path):
    path = tmp_path / "w.duckdb"
    with write_connection(path) as con:
        versions = con.execute("select version, name from schema_version order by 1").fetchall()
        tables = {row[0] for row in con.execute("show tables").fetchall()}
    assert versions == [(v, name) for v, name, _ in migration_files()]
    assert {
        "exchanges",
        "market_data",
        "sentiment",
        "trades",
        "ml_predictions",
        "ingest_batches",
        "quarantine",
        "validation_runs",
    } <= tables
    with write_connection(path) as con:
        recorded = con.execute("select * from schema_version order by version").fetchall()
    with write_connection(path) as con:  # re-running is a no-op: same rows, same applied_at
        again = con.execute("select * from schema_version order by version").fetchall()
    with read_connection(path) as con:
        read = con.execute("select * from schema_version order by version").fetchall()
    assert again == recorded == read
    assert [(v, name) for v, name, _ in recorded] == versions


def test_migration_without_a_version_number_is_a_warehouse_error(tmp_path: Path):
    (tmp_path / "001_initial.sql").write_text("select 1;")
    (tmp_path / "add_orders.sql").write_text("select 1;")
    with pytest.raises(WarehouseError, match="add_orders.sql.*does not start with a version"):
        migration_files(tmp_path)
    (tmp_path / "add_orders.sql").rename(tmp_path / "002_add_orders.sql")
    assert [v for v, _, _ in migration_files(tmp_path)] == [1, 2]


def test_two_migrations_with_one_version_are_a_warehouse_error(tmp_path: Path):
    (tmp_path / "001_initial.sql").write_text("select 1;")
    (tmp_path / "001_again.sql").write_text("select 1;")
    with pytest.raises(WarehouseError, match="share a version"):
        migration_files(tmp_path)


_TZ_PROBE = """
import sys
from pathlib import Path
from cryptobot.warehouse.db import read_connection, write_connection
path = Path(sys.argv[1])
with write_connection(path) as con:
    con.execute("insert into exchanges (name) values ('probe')")
    print(con.execute("select created_at from exchanges").fetchone()[0].isoformat())
    print(con.cursor().execute("select now()::timestamp").fetchone()[0].isoformat())
with read_connection(path) as con:
    print(con.execute("select now()::timestamp").fetchone()[0].isoformat())
"""


@pytest.mark.parametrize("zone", ["Asia/Jakarta", "America/New_York"])
def test_default_timestamps_are_utc_whatever_the_machine_zone(tmp_path: Path, zone: str):
    before = datetime.now(UTC).replace(tzinfo=None)
    probe = subprocess.run(
        [sys.executable, "-c", _TZ_PROBE, str(tmp_path / "w.duckdb")],
        env={**os.environ, "TZ": zone, "PYTHONPATH": str(Path(cryptobot.__file__).parents[1])},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    after = datetime.now(UTC).replace(tzinfo=None)
    stamps = [datetime.fromisoformat(line) for line in probe.stdout.split()]
    assert len(stamps) == 3
    for stamp in stamps:  # created_at default, a cursor's now(), a reader's now()
        assert before <= stamp <= after, f"{stamp} is not UTC now ({before} .. {after})"


@pytest.mark.parametrize("name", ["candles.csv", "candles.parquet", "notes.txt"])
def test_a_file_that_is_not_a_warehouse_is_refused_clearly(tmp_path: Path, name: str):
    path = tmp_path / name
    path.write_text("timestamp,open,high,low,close,volume\n1704067200000,1,1,1,1,1\n")
    with (
        pytest.raises(WarehouseError, match="is not a DuckDB database file"),
        read_connection(path),
    ):
        pass
    with (
        pytest.raises(WarehouseError, match="is not a DuckDB database file"),
        write_connection(path),
    ):
        pass
    assert path.read_text().startswith("timestamp,")  # untouched


def test_a_directory_is_refused_clearly(tmp_path: Path):
    with pytest.raises(WarehouseError, match="is a directory"), read_connection(tmp_path):
        pass


def test_market_data_primary_key_is_enforced(tmp_path: Path):
    with write_connection(tmp_path / "w.duckdb") as con:
        row = "('x', 'BTC/USDT', '1h', '2024-01-01', 1, 1, 1, 1, 1, 's', now(), now(), 'b')"
        con.execute(f"insert into market_data values {row}")
        with pytest.raises(duckdb.ConstraintException):
            con.execute(f"insert into market_data values {row}")


def test_reader_of_missing_warehouse_gets_a_clear_error(tmp_path: Path):
    with (
        pytest.raises(WarehouseError, match="run `cryptobot ingest` first"),
        read_connection(tmp_path / "absent.duckdb"),
    ):
        pass


def test_read_only_connection_refuses_writes(tmp_path: Path):
    path = tmp_path / "w.duckdb"
    with write_connection(path):
        pass
    with read_connection(path) as con, pytest.raises(duckdb.Error, match="read-only"):
        con.execute("delete from market_data")


def _hold_write_lock(path: str, seconds: float, ready) -> None:
    con = duckdb.connect(path)
    ready.set()
    time.sleep(seconds)
    con.close()


def test_busy_writer_beyond_timeout_is_reported_not_raised_raw(tmp_path: Path):
    path = tmp_path / "w.duckdb"
    with write_connection(path):
        pass
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    holder = ctx.Process(target=_hold_write_lock, args=(str(path), 5.0, ready))
    holder.start()
    try:
        assert ready.wait(30)
        with (
            pytest.raises(WarehouseBusyError, match="write lock"),
            read_connection(path, timeout=0.5),
        ):
            pass
    finally:
        holder.join()


def _writer(path: str, batches: int, rows_per_batch: int) -> None:
    from cryptobot.config import Settings
    from cryptobot.ingest import store_market_frame
    from tests.conftest import make_candles

    settings = Settings(warehouse=Path(path), data_dir=Path(path).parent)
    for i in range(batches):
        candles = make_candles(rows_per_batch, start=f"2020-01-{i + 1:02d}", seed=i)
        store_market_frame(
            settings, candles, exchange="binance", timeframe="1h", source="file", symbol="BTC/USDT"
        )


def _reader(path: str, stop, out) -> None:
    counts, errors = [], []
    while not stop.is_set():
        try:
            with read_connection(Path(path), timeout=60) as con:
                counts.append(con.execute("select count(*) from market_data").fetchone()[0])
        except Exception as exc:  # noqa: BLE001 - the test reports any error that reached us
            errors.append(repr(exc))
        time.sleep(0.005)
    out.put((counts, errors))


def test_reader_process_queries_while_writer_process_ingests(tmp_path: Path):
    path = tmp_path / "w.duckdb"
    with write_connection(path):
        pass
    ctx = mp.get_context("spawn")
    stop, out = ctx.Event(), ctx.Queue()
    reader = ctx.Process(target=_reader, args=(str(path), stop, out))
    writer = ctx.Process(target=_writer, args=(str(path), 20, 24))
    reader.start()
    writer.start()
    writer.join(timeout=300)
    stop.set()
    counts, errors = out.get(timeout=120)
    reader.join(timeout=60)
    assert writer.exitcode == 0
    assert errors == []
    assert len(counts) >= 5, "the reader should have read many times while the writer ran"
    assert counts == sorted(counts), "a reader never sees rows disappear"
    assert counts[0] < 20 * 24, "the reader started before the writer finished"
    assert len(set(counts)) > 2, f"reads did not interleave with the writes: {sorted(set(counts))}"
    assert all(count % 24 == 0 for count in counts), "a reader sees whole batches only"
    with read_connection(path) as con:
        assert con.execute("select count(*) from market_data").fetchone()[0] == 20 * 24
        assert con.execute("select count(*) from ingest_batches").fetchone()[0] == 20
