"""Each flow under Prefect's test harness (one temporary server for the session)."""

from __future__ import annotations

import pytest

from cryptobot.errors import SourceError
from cryptobot.warehouse.db import read_connection
from flows.import_file import import_file
from flows.ingest import ingest
from flows.sql import sql
from flows.status import status
from flows.validate import validate
from tests.unit.test_ccxt_source import (
    BINANCE,
    HOUR,
    T0,
    Reply,
    Route,
    harness,
    page_routes,
    recorded,
)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]


def test_ingest_flow_simulator_then_validate_status_and_sql(settings):
    result = ingest(source="simulator", symbols=["BTC/USDT"], timeframe="4h", days=20, seed=5)
    assert result["inserted"] == 20 * 6 + 20 * 24  # 4h candles + the hourly sentiment series
    runs = validate()
    assert {run["table"] for run in runs} == {"market_data", "sentiment"}
    assert all(run["success"] for run in runs)
    text = status()
    assert "SIMULATED" in text and "BTC/USDT" in text and "4h" in text
    rows = sql("select count(*) from market_data where timeframe = '4h'")
    assert rows == [[20 * 6]]


def test_ingest_flow_ccxt_uses_the_live_client_code(settings, monkeypatch):
    no_more = Route(BINANCE.candles, [Reply("[]")])  # later cursors: the exchange has nothing yet
    h = harness(BINANCE, [*page_routes(BINANCE), no_more], page_limit=3)
    monkeypatch.setattr("cryptobot.sources.ccxt_source.create_client", lambda _id: h.source.client)
    result = ingest(
        source="ccxt", exchange="binance", symbols=["BTC/USDT"], timeframe="1h", since=T0
    )
    assert result["inserted"] == 6  # with the real clock every recorded bar has closed
    with read_connection(settings.warehouse) as con:
        last = con.execute("select max(ts) from market_data where exchange = 'binance'").fetchone()
    assert last[0] == T0 + 5 * HOUR


def test_import_flow_reports_timings(settings, tmp_path):
    path = tmp_path / "klines.csv"
    path.write_text(
        "1704067200000,100,101,99,100.5,10,1704070799999,1000,5,4,400,0\n"
        "1704070800000,100.5,102,100,101,12,1704074399999,1200,6,5,500,0\n"
    )
    result = import_file(str(path), exchange="binance", symbol="BTC/USDT", timeframe="1h")
    assert (result["rows"], result["inserted"]) == (2, 2)
    assert set(result["timings"]) >= {"parse", "gate", "upsert"}


def test_ingest_flow_ccxt_goes_on_past_a_failing_symbol(settings, monkeypatch):
    bad_symbol = Route(
        BINANCE.candles,
        [recorded("binance", "error_invalid_symbol.json", 400)],
        {"symbol": "ETHUSDT"},
    )
    no_more = Route(BINANCE.candles, [Reply("[]")])
    h = harness(BINANCE, [bad_symbol, *page_routes(BINANCE), no_more], page_limit=3)
    monkeypatch.setattr("cryptobot.sources.ccxt_source.create_client", lambda _id: h.source.client)
    with pytest.raises(SourceError, match="1 of 2 symbols failed") as failure:
        ingest(
            source="ccxt",
            exchange="binance",
            symbols=["ETH/USDT", "BTC/USDT"],
            timeframe="1h",
            since=T0,
        )
    assert "ETH/USDT" in str(failure.value) and "BadSymbol" in str(failure.value)
    with read_connection(settings.warehouse) as con:
        stored = con.execute("select distinct symbol from market_data").fetchall()
    assert stored == [("BTC/USDT",)]  # the failing symbol did not stop the next one
