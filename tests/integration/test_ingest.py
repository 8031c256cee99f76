"""Storing batches: upsert semantics, idempotency, and the gate's quarantine path."""

from __future__ import annotations

import json

import pytest

from cryptobot.errors import QualityGateError
from cryptobot.ingest import store_market_frame, store_sentiment_frame
from cryptobot.warehouse.db import read_connection
from tests.conftest import make_candles

pytestmark = pytest.mark.integration


def _table(settings, table="market_data"):
    with read_connection(settings.warehouse) as con:
        return con.execute(f"select * from {table} order by all").fetchall()


def _store(settings, candles, **kwargs):
    return store_market_frame(
        settings,
        candles,
        exchange="binance",
        timeframe="1h",
        source="file",
        symbol="BTC/USDT",
        **kwargs,
    )


def test_first_ingest_inserts_and_sets_point_in_time_columns(settings):
    candles = make_candles(48)
    result = _store(settings, candles)
    assert (result.rows, result.inserted, result.updated, result.unchanged) == (48, 48, 0, 0)
    with read_connection(settings.warehouse) as con:
        ts, available_at, fetched_at, batch_id, source = con.execute(
            "select ts, available_at, fetched_at, batch_id, source from market_data order by ts"
            " limit 1"
        ).fetchone()
        batch = con.execute("select status, rows, rows_inserted from ingest_batches").fetchone()
        exchanges = con.execute("select name, is_active from exchanges").fetchall()
    assert ts == candles["ts"].iloc[0].to_pydatetime()
    assert (available_at - ts).total_seconds() == 3600  # a 1h bar is known at its close
    assert fetched_at >= available_at
    assert batch_id == result.batch_id and source == "file"
    assert batch == ("ok", 48, 48)
    assert exchanges == [("binance", True)]


def test_reingesting_the_same_data_changes_nothing(settings):
    candles = make_candles(48)
    _store(settings, candles)
    before = _table(settings)
    again = _store(settings, candles)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 48)
    assert _table(settings) == before  # fetched_at and batch_id untouched too


def test_overlapping_batch_inserts_new_and_updates_revised_bars(settings):
    candles = make_candles(48)
    _store(settings, candles.iloc[:30])
    revised = candles.iloc[20:].copy()
    revised.loc[25, "volume"] += 1.0
    result = _store(settings, revised)
    assert (result.inserted, result.updated, result.unchanged) == (18, 1, 9)
    with read_connection(settings.warehouse) as con:
        assert con.execute("select count(*) from market_data").fetchone()[0] == 48
        volume, available_at, fetched_at = con.execute(
            "select volume, available_at, fetched_at from market_data where ts = ?",
            [candles.loc[25, "ts"]],
        ).fetchone()
        untouched = con.execute(
            "select available_at - ts from market_data where ts = ?", [candles.loc[24, "ts"]]
        ).fetchone()[0]
    assert volume == pytest.approx(candles.loc[25, "volume"] + 1.0)
    assert available_at == fetched_at  # a revision is known from when it was fetched
    assert untouched.total_seconds() == 3600


def test_failed_batch_is_quarantined_and_changes_nothing_stored(settings):
    good = make_candles(48)
    _store(settings, good)
    before = _table(settings)

    bad = make_candles(24, start="2024-01-03", seed=1)
    bad.loc[3, "high"] = bad.loc[3, "low"] / 2
    bad.loc[5, "volume"] = -3.0
    bad.loc[6, "ts"] = bad.loc[7, "ts"]
    with pytest.raises(QualityGateError) as error:
        _store(settings, bad)
    message = str(error.value)
    assert "4 of 24 rows failed" in message
    assert "volume is finite and >= 0 (1 rows)" in message
    assert "unique (exchange, symbol, timeframe, ts) (2 rows)" in message
    assert "quarantine" in message and error.value.batch_id in message
    assert error.value.failed_rows == 4

    assert _table(settings) == before  # the 20 good rows of the bad batch were not stored either
    with read_connection(settings.warehouse) as con:
        rows = con.execute(
            "select row_number, reason, record, ts from quarantine order by row_number"
        ).fetchall()
        status = con.execute(
            "select status, rows_quarantined, error from ingest_batches where id = ?",
            [error.value.batch_id],
        ).fetchone()
    assert [r[0] for r in rows] == [3, 5, 6, 7]
    assert "high >= open" in rows[0][1] and "high >= close" in rows[0][1]
    assert rows[1][1] == "volume is finite and >= 0"
    assert json.loads(rows[1][2])["volume"] == -3.0
    assert status[0] == "quarantined" and status[1] == 4 and "rejected" in status[2]


def test_sentiment_upsert_is_idempotent(settings):
    import pandas as pd

    rows = pd.DataFrame(
        {
            "symbol": ["BTC/USDT"] * 3,
            "ts": pd.date_range("2024-01-01", periods=3, freq="h"),
            "value": [0.1, 0.2, 0.3],
            "available_at": pd.date_range("2024-01-01 01:00", periods=3, freq="h"),
        }
    )
    first = store_sentiment_frame(settings, rows, source="simulated")
    again = store_sentiment_frame(settings, rows, source="simulated")
    assert (first.inserted, again.inserted, again.updated) == (3, 0, 0)
    changed = rows.assign(value=[0.1, 0.2, 0.4])
    revision = store_sentiment_frame(settings, changed, source="simulated")
    assert revision.updated == 1
    with read_connection(settings.warehouse) as con:
        available = con.execute(
            "select value, available_at, fetched_at from sentiment order by ts"
        ).fetchall()
    # the revised value is known only from when it was fetched; the others keep their time
    assert available[2][0] == 0.4 and available[2][1] == available[2][2]
    assert available[1][1] == pd.Timestamp("2024-01-01 02:00")
