"""The account currency: a symbol quoted in another currency is valued at its quote's rate in the
account currency per bar (point in time); a quote without a stored conversion is refused."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from cryptobot.config import RiskLimits, Settings, TradingSettings
from cryptobot.errors import ConfigError
from cryptobot.trading import core
from cryptobot.trading.bars import Bars
from cryptobot.trading.currency import check_convertible, read_conversions, series_rates
from cryptobot.warehouse.db import write_connection

HOUR_NS = 3600 * 1_000_000_000
START_NS = 1_767_225_600 * 1_000_000_000  # 2026-01-01 00:00 UTC


def settings(**risk) -> Settings:
    return Settings(
        risk=RiskLimits(**{"volatility_threshold": 1.0, "liquidity_minimum": 0.0, **risk}),
        trading=TradingSettings(
            fee=0.001, spread=0.0, slippage=0.0, impact=0.0, liquidity_window=1,
            correlation_window=24,
        ),
    )  # fmt: skip


def eth_btc(rates: list[float] | None):
    """Three hourly bars of ETH/BTC (0.05, 0.051, 0.052), each known at its close; with
    ``rates`` (BTC in USDT at each close) the core's FX field."""
    ts = START_NS + np.arange(3, dtype=np.int64) * HOUR_NS
    fields = 5 if rates is None else 6
    market = np.zeros((3, 1, fields))
    market[:, 0, core.OPEN] = [0.0495, 0.051, 0.0515]
    market[:, 0, core.CLOSE] = [0.05, 0.051, 0.052]
    market[:, 0, core.VOLUME] = 1_000.0
    market[:, 0, core.VOL] = 0.01
    market[:, 0, core.LOGRET] = 0.0
    if rates is not None:
        market[:, 0, core.FX] = rates
    return Bars(["ETH/BTC"], HOUR_NS, ts, (ts + HOUR_NS)[:, None].copy(), market)


def run(bars: Bars, s: Settings, capital: float = 10_000.0):
    targets = np.full((3, 1), np.nan)
    targets[0, 0] = 1.0  # buy at the first close, fill at the second bar's open
    rules = np.array([[1e-4, 1e-4, 1e-4, 0.0, 0.001]])  # Binance's ETH/BTC: min notional in BTC
    book = core.Book(3, 1, capital)
    tally = np.zeros(core.N_REASONS + core.N_CHECKS, np.int64)
    core.run_bars(
        0, 2, bars.ts, bars.avail, bars.market, targets, rules,
        core.CoreParams.from_settings(s, 3600).array(), *book.state(),
        np.zeros((3, 1), np.int8), tally,
    )  # fmt: skip
    return book, tally


def test_a_btc_quoted_symbol_is_sized_filled_and_marked_in_the_account_currency():
    rates = [40_000.0, 41_000.0, 42_000.0]
    book, _ = run(eth_btc(rates), settings())
    # 5% of 10,000 USDT at 0.05 BTC x 40,000 USDT/BTC = 2,000 USDT an ETH: 0.25 ETH
    assert book.orders[0, 2] == pytest.approx(0.25)
    fill = book.fills[0]
    assert fill[core.F_PRICE] == pytest.approx(0.051)  # the exchange's price, in BTC
    assert fill[core.F_RATE] == 40_000.0  # the rate known at bar 1's open: bar 0's close
    fee_btc = 0.001 * 0.25 * 0.051
    cash = 10_000.0 - (0.25 * 0.051 + fee_btc) * 40_000.0
    equity = book.equity
    assert equity[1, core.E_CASH] == pytest.approx(cash, rel=1e-12)
    assert equity[1, core.E_EQUITY] == pytest.approx(cash + 0.25 * 0.051 * 41_000.0, rel=1e-12)
    assert equity[2, core.E_EQUITY] == pytest.approx(cash + 0.25 * 0.052 * 42_000.0, rel=1e-12)
    assert book.positions[0, core.S_AVG] == pytest.approx(0.051 * 40_000.0)  # USDT an ETH
    assert book.positions[0, core.S_FEES] == pytest.approx(fee_btc * 40_000.0)


def test_without_rates_the_same_money_was_read_as_btc():
    """Today's arithmetic: 10,000 'BTC' of capital buys 10,000 ETH; the rates fix that."""
    book, _ = run(eth_btc(None), settings())
    assert book.orders[0, 2] == pytest.approx(500.0 / 0.05)


def test_the_liquidity_minimum_is_in_the_account_currency():
    """A bar of 1,000 ETH at 0.05 BTC is 50 BTC, 2 million USDT: a 1 million USDT floor passes;
    read in BTC (no rates) the same floor blocks the buy."""
    book, tally = run(eth_btc([40_000.0] * 3), settings(liquidity_minimum=1_000_000.0))
    assert int(book.counts[0]) == 1 and tally[core.R_BLOCKED] == 0
    book, tally = run(eth_btc(None), settings(liquidity_minimum=1_000_000.0))
    assert int(book.counts[0]) == 0
    assert tally[core.N_REASONS + core.CHECK_NAMES.index("liquidity_minimum")] == 1


def test_rates_are_point_in_time_and_a_late_revision_never_goes_back():
    hour = pd.Timedelta(hours=1)
    t0 = pd.Timestamp("2026-01-01")
    rows = pd.DataFrame(
        {
            "ts": [t0, t0 + hour, t0 + 2 * hour, t0],  # the last: bar 0 revised later
            "available_at": [t0 + hour, t0 + 2 * hour, t0 + 3 * hour, t0 + 5 * hour],
            "close": [100.0, 101.0, 102.0, 99.0],
        }
    )
    as_of = (
        np.array([t0 + hour - pd.Timedelta(seconds=1), t0 + hour, t0 + 2.5 * hour, t0 + 6 * hour])
        .astype("datetime64[ns]")
        .astype(np.int64)
    )
    got = series_rates(rows, as_of, inverted=False)
    assert np.isnan(got[0])  # nothing known yet
    assert list(got[1:]) == [100.0, 101.0, 102.0]  # the revision of bar 0 is not the newest
    assert list(series_rates(rows, as_of[1:3], inverted=True)) == [1 / 100.0, 1 / 101.0]


def _candles(con, symbol: str, closes: list[float], start: datetime) -> None:
    for i, close in enumerate(closes):
        ts = start + timedelta(hours=i)
        con.execute(
            "insert into market_data values ('binance', ?, '1h', ?, ?, ?, ?, ?, 1.0, 'file', ?, ?,"
            " 'b')",
            [symbol, ts, close, close, close, close, ts + timedelta(hours=1),
             ts + timedelta(hours=1)],
        )  # fmt: skip


def test_a_quote_without_a_conversion_series_is_refused_naming_what_to_ingest(tmp_path):
    s = Settings(warehouse=tmp_path / "w.duckdb", data_dir=tmp_path)
    with write_connection(s.warehouse) as con:
        with pytest.raises(ConfigError) as error:
            check_convertible(con, "binance", "1h", ["ETH/USDT", "ETH/BTC"], "USDT")
        message = str(error.value)
        assert "ETH/BTC is quoted in BTC" in message and "BTC/USDT 1h" in message
        # USDT/BTC stored: used inverted
        _candles(con, "USDT/BTC", [0.000025, 0.00002], datetime(2026, 1, 1))
        found = check_convertible(con, "binance", "1h", ["ETH/BTC"], "USDT")
        assert (found["BTC"].series, found["BTC"].inverted) == ("USDT/BTC", True)
        rows = read_conversions(con, "binance", "1h", ["ETH/BTC"], "USDT")
    bars = eth_btc(None)
    rates = rows.rates(Bars(bars.symbols, HOUR_NS, bars.ts[:2], bars.avail[:2], bars.market[:2]))
    assert list(rates[:, 0]) == pytest.approx([40_000.0, 50_000.0])


def test_report_marks_of_a_btc_quoted_market_are_in_the_account_currency(tmp_path):
    from cryptobot.reports.data import _Book, _marks

    s = Settings(warehouse=tmp_path / "w.duckdb", data_dir=tmp_path)
    start = datetime(2026, 1, 1)
    fills = pd.DataFrame(
        {
            "id": ["a"],
            "ts": [pd.Timestamp(start + timedelta(hours=1))],
            "exchange": ["binance"],
            "symbol": ["ETH/BTC"],
            "timeframe": ["1h"],
            "side": ["buy"],
            "amount": [0.5],
            "price": [2_000.0],  # in USDT, as the report reads trades
            "fee": [1.0],
        }
    )
    book = _Book(fills, "paper")
    when = start + timedelta(hours=3)  # bars 0..2 closed by then
    with write_connection(s.warehouse) as con:
        _candles(con, "ETH/BTC", [0.05, 0.051, 0.052], start)
        assert _marks(con, book, [when], "USDT") == {}  # no BTC/USDT: no mark in USDT
        _candles(con, "BTC/USDT", [40_000.0, 41_000.0, 42_000.0], start)
        marks = _marks(con, book, [when], "USDT")
    assert marks == {("binance", "ETH/BTC", when): pytest.approx(0.052 * 42_000.0)}
