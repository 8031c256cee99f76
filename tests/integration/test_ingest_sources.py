"""Each source through the real ingest path into a temporary warehouse."""

from __future__ import annotations

import pytest
import requests

from cryptobot.errors import SourceError
from cryptobot.ingest import ingest_ccxt_series, series_cursor
from cryptobot.warehouse.db import read_connection
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

pytestmark = pytest.mark.integration


def _stored(settings) -> list[tuple]:
    with read_connection(settings.warehouse) as con:
        return con.execute(
            "select ts, open, close, source from market_data where exchange = 'binance' order by ts"
        ).fetchall()


def test_ccxt_ingest_stores_recorded_pages_and_is_idempotent(settings):
    h = harness(BINANCE, page_routes(BINANCE), page_limit=3)
    report = ingest_ccxt_series(
        settings, exchange="binance", symbol="BTC/USDT", timeframe="1h", since=T0, source=h.source
    )
    rows = _stored(settings)
    assert [row[0] for row in rows] == [T0 + i * HOUR for i in range(5)]  # T0+5h was still open
    assert {row[3] for row in rows} == {"ccxt"}
    assert len(report.batches) == 2  # one batch per page
    page = BINANCE.page_json(0)
    assert rows[0][1] == float(page[0][1]) and rows[0][2] == float(page[0][4])

    again = harness(BINANCE, page_routes(BINANCE), page_limit=3)
    report = ingest_ccxt_series(
        settings,
        exchange="binance",
        symbol="BTC/USDT",
        timeframe="1h",
        since=T0,
        source=again.source,
    )
    assert report.total("inserted") == 0 and report.total("updated") == 0
    assert _stored(settings) == rows


def test_ccxt_ingest_killed_mid_run_resumes_from_the_stored_cursor(settings):
    first_page = page_routes(BINANCE)[0]
    broken_second = Route(
        BINANCE.candles,
        [Reply(error=requests.ConnectionError("connection reset"))],
        BINANCE.cursor(T0 + 3 * HOUR),
    )
    h = harness(BINANCE, [first_page, broken_second], page_limit=3, max_retries=1)
    with pytest.raises(SourceError, match="after 2 attempts"):
        ingest_ccxt_series(
            settings,
            exchange="binance",
            symbol="BTC/USDT",
            timeframe="1h",
            since=T0,
            source=h.source,
        )
    assert len(_stored(settings)) == 3  # the first page was committed before the failure
    assert series_cursor(settings, "binance", "BTC/USDT", "1h") == T0 + 3 * HOUR

    resumed = harness(BINANCE, page_routes(BINANCE), page_limit=3)
    ingest_ccxt_series(
        settings, exchange="binance", symbol="BTC/USDT", timeframe="1h", source=resumed.source
    )
    requested = resumed.session.queries(BINANCE.candles)
    assert BINANCE.cursor(T0 + 3 * HOUR).items() <= requested[0].items()  # not from T0 again
    assert [row[0] for row in _stored(settings)] == [T0 + i * HOUR for i in range(5)]


def test_ccxt_bad_symbol_stores_nothing(settings):
    h = harness(
        BINANCE,
        [Route(BINANCE.candles, [recorded("binance", "error_invalid_symbol.json", 400)])],
    )
    with pytest.raises(SourceError, match="BadSymbol"):
        ingest_ccxt_series(
            settings,
            exchange="binance",
            symbol="BTC/USDT",
            timeframe="1h",
            since=T0,
            source=h.source,
        )
    assert not settings.warehouse.exists() or _stored(settings) == []


def _simulated(settings) -> tuple[int, int, int]:
    with read_connection(settings.warehouse) as con:
        return (
            con.execute("select count(*) from market_data").fetchone()[0],
            con.execute("select count(*) from sentiment").fetchone()[0],
            con.execute("select count(distinct batch_id) from market_data").fetchone()[0],
        )


def test_simulator_ingest_is_idempotent_and_a_new_world_replaces_the_old(settings):
    from cryptobot.ingest import ingest_simulator

    args = dict(symbols=["BTC/USDT", "ETH/USDT"], timeframe="1h", days=10, signal=0.0)
    first = ingest_simulator(settings, seed=1, **args)
    assert [b.inserted for b in first.batches] == [2 * 240, 2 * 240]
    with read_connection(settings.warehouse) as con:
        before = con.execute("select * from market_data order by all").fetchall()
    again = ingest_simulator(settings, seed=1, **args)
    assert [(b.inserted, b.updated, b.replaced) for b in again.batches] == [(0, 0, 0)] * 2
    with read_connection(settings.warehouse) as con:
        assert con.execute("select * from market_data order by all").fetchall() == before

    other = ingest_simulator(settings, seed=2, **args)  # another world: replaced, not mixed
    assert [(b.replaced, b.inserted) for b in other.batches] == [(480, 480), (480, 480)]
    assert _simulated(settings) == (480, 480, 1)


def test_adding_a_symbol_to_the_same_world_only_adds_its_rows(settings):
    from cryptobot.ingest import ingest_simulator

    ingest_simulator(settings, symbols=["BTC/USDT"], timeframe="1h", days=5, seed=1, signal=0.2)
    more = ingest_simulator(
        settings, symbols=["BTC/USDT", "ETH/USDT"], timeframe="1h", days=5, seed=1, signal=0.2
    )
    assert [(b.inserted, b.updated, b.replaced) for b in more.batches] == [(120, 0, 0)] * 2
    assert _simulated(settings) == (240, 240, 2)


def test_another_timeframe_is_another_world_and_replaces_all_simulated_rows(settings):
    from cryptobot.ingest import ingest_simulator

    ingest_simulator(settings, symbols=["BTC/USDT"], timeframe="1h", days=5, seed=1, signal=0.3)
    ingest_simulator(settings, symbols=["BTC/USDT"], timeframe="4h", days=5, seed=1, signal=0.3)
    with read_connection(settings.warehouse) as con:
        timeframes = con.execute("select distinct timeframe from market_data").fetchall()
        late = con.execute(
            "select count(*) from sentiment where available_at > ts + interval 1 hour"
        ).fetchone()[0]
    assert timeframes == [("4h",)]
    assert late == 0  # no sentiment row became a "revision" known only today


def test_a_rejected_sentiment_batch_stores_no_candles_either(settings, monkeypatch):
    import numpy as np

    from cryptobot.errors import QualityGateError
    from cryptobot.ingest import ingest_simulator
    from cryptobot.sources import simulator

    real = simulator.simulate_market

    def broken(*args, **kwargs):
        market = real(*args, **kwargs)
        market.sentiment.loc[3, "value"] = np.nan
        return market

    monkeypatch.setattr(simulator, "simulate_market", broken)
    with pytest.raises(QualityGateError, match="sentiment quality gate"):
        ingest_simulator(settings, symbols=["BTC/USDT"], timeframe="1h", days=5, seed=1, signal=0)
    with read_connection(settings.warehouse) as con:
        assert con.execute("select count(*) from market_data").fetchone()[0] == 0
        statuses = con.execute(
            "select table_name, status from ingest_batches order by table_name"
        ).fetchall()
    assert statuses == [("market_data", "not_stored"), ("sentiment", "quarantined")]
