"""Each exchange's markets from ccxt's ``load_markets`` on recorded native payloads, stored in the
warehouse and used as the paper broker's and the backtest's order rules (config overrides win)."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from decimal import Decimal

import pytest

from cryptobot.config import Settings
from cryptobot.errors import ConfigError
from cryptobot.ingest import ingest_ccxt_series
from cryptobot.trading.brokers import LiveBroker, PaperBroker
from cryptobot.trading.markets import (
    DECIMAL_PLACES,
    SIGNIFICANT_DIGITS,
    TICK_SIZE,
    market_rows,
    market_rules,
    precision_step,
    store_markets,
)
from cryptobot.warehouse.db import read_connection, write_connection
from tests.fake_exchange import FakeExchange
from tests.unit.test_ccxt_source import (
    BINANCE,
    FIXTURES,
    INDODAX,
    KRAKEN,
    T0,
    TOKOCRYPTO,
    harness,
    page_routes,
)

FETCHED = datetime(2026, 1, 1)


def loaded(case):
    """A production ccxt client of ``case``'s exchange with its markets loaded from the
    recorded payloads (ccxt's own request and parse code)."""
    h = harness(case, [])
    h.source.client.load_markets()
    return h.source.client


def raw(exchange: str, name: str):
    return json.loads((FIXTURES / exchange / name).read_text())


def binance_like(symbols: list[dict]) -> dict[str, dict]:
    """What Binance's exchangeInfo (and Tokocrypto's symbols) say of each market's rules."""
    out = {}
    for market in symbols:
        filters = {f["filterType"]: f for f in market["filters"]}
        notional = filters.get("NOTIONAL") or filters["MIN_NOTIONAL"]
        out[f"{market['baseAsset']}/{market['quoteAsset']}"] = {
            "amount_step": float(filters["LOT_SIZE"]["stepSize"]),
            "min_amount": float(filters["LOT_SIZE"]["minQty"]),
            "min_cost": float(notional["minNotional"]),
            "price_step": float(filters["PRICE_FILTER"]["tickSize"]),
        }
    return out


def kraken_expected() -> dict[str, dict]:
    names = {"XBT": "BTC"}
    out = {}
    for pair in raw("kraken", "AssetPairs.json")["result"].values():
        base, quote = pair["wsname"].split("/")
        out[f"{names.get(base, base)}/{names.get(quote, quote)}"] = {
            "amount_step": float(Decimal(1).scaleb(-pair["lot_decimals"])),
            "min_amount": float(pair["ordermin"]),
            "min_cost": float(pair["costmin"]),
            "price_step": float(pair["tick_size"]),
            "taker_fee": pair["fees"][0][1] / 100,
        }
    return out


def indodax_expected() -> dict[str, dict]:
    return {
        f"{pair['traded_currency'].upper()}/{pair['base_currency'].upper()}": {
            "min_amount": pair["trade_min_traded_currency"],
            "min_cost": float(pair["trade_min_base_currency"]),  # in the quote currency
            "taker_fee": pair["trade_fee_percent"] / 100,  # 0.3 means 0.3%
        }
        for pair in raw("indodax", "pairs.json")
    }


def test_binance_markets_from_exchange_info():
    rows = {r["symbol"]: r for r in market_rows(loaded(BINANCE), "binance", FETCHED)}
    expected = binance_like(raw("binance", "exchangeInfo.json")["symbols"])
    assert set(rows) == set(expected) == {"ETH/BTC", "BTC/USDT", "ETH/USDT"}
    for symbol, want in expected.items():
        row = rows[symbol]
        assert {k: row[k] for k in want} == pytest.approx(want), symbol
        assert row["precision_mode"] == "tick_size"
        assert json.loads(row["raw"])["symbol"] == symbol  # ccxt's unified market, kept whole
    assert (rows["ETH/BTC"]["base"], rows["ETH/BTC"]["quote"]) == ("ETH", "BTC")
    assert rows["ETH/BTC"]["min_cost"] == pytest.approx(0.0001)  # BTC, not 5 USDT


def test_kraken_markets_from_asset_pairs():
    rows = {r["symbol"]: r for r in market_rows(loaded(KRAKEN), "kraken", FETCHED)}
    expected = kraken_expected()
    assert set(rows) == set(expected)
    for symbol, want in expected.items():
        assert {k: rows[symbol][k] for k in want} == pytest.approx(want), symbol


def test_tokocrypto_markets_from_symbols():
    rows = {r["symbol"]: r for r in market_rows(loaded(TOKOCRYPTO), "tokocrypto", FETCHED)}
    expected = binance_like(raw("tokocrypto", "symbols.json")["data"]["list"])
    assert set(rows) == set(expected)
    for symbol, want in expected.items():
        assert {k: rows[symbol][k] for k in want} == pytest.approx(want), symbol
    assert rows["BTC/IDR"]["min_cost"] == 20_000.0  # IDR


def test_indodax_markets_with_its_fee_in_percent_and_minimum_order_value():
    """ccxt 4.5 reads trade_fee_percent 0.3 as a 30% fee and files the minimum order value as a
    minimum price: the stored rules take the exchange's own fields."""
    client = loaded(INDODAX)
    assert client.markets["BTC/IDR"]["taker"] == 0.3  # ccxt's reading, kept in raw
    rows = {r["symbol"]: r for r in market_rows(client, "indodax", FETCHED)}
    expected = indodax_expected()
    assert set(rows) == set(expected)
    for symbol, want in expected.items():
        assert {k: rows[symbol][k] for k in want} == pytest.approx(want), symbol
        assert rows[symbol]["amount_step"] == 1e-8


@pytest.mark.parametrize(
    ("value", "mode", "step"),
    [
        ("0.001", TICK_SIZE, 0.001),
        (3, DECIMAL_PLACES, 0.001),
        (0, DECIMAL_PLACES, 1.0),
        (4, SIGNIFICANT_DIGITS, None),  # no fixed step: the minimum amount stands in
        (None, TICK_SIZE, None),
    ],
)
def test_precision_modes_normalise_to_a_step(value, mode, step):
    got = precision_step(value, mode)
    assert got == (pytest.approx(step) if step is not None else None)


def test_stored_markets_are_the_rules_overrides_win_and_a_missing_one_warns(tmp_path, monkeypatch):
    settings = Settings(
        warehouse=tmp_path / "w.duckdb",
        data_dir=tmp_path,
        markets={"Binance:ETH/USDT": {"min_notional": 10.0, "taker_fee": 0.00075}},
    )
    with write_connection(settings.warehouse) as con:
        assert store_markets(con, market_rows(loaded(BINANCE), "binance", FETCHED)) == 3
    warnings: list[str] = []
    with read_connection(settings.warehouse) as con:
        rules = market_rules(
            settings, "binance", ["ETH/BTC", "ETH/USDT", "SOL/USDT"], con, warn=warnings.append
        )
    eth_btc = rules["ETH/BTC"]
    assert (eth_btc.amount_step, eth_btc.min_amount, eth_btc.min_cost) == (1e-4, 1e-4, 1e-4)
    assert eth_btc.taker_fee == 0.001 and eth_btc.origin == "stored"
    eth_usdt = rules["ETH/USDT"]  # the key was normalised to binance:ETH/USDT
    assert (eth_usdt.min_cost, eth_usdt.taker_fee, eth_usdt.amount_step) == (10.0, 0.00075, 1e-4)
    assert eth_usdt.origin == "override"
    assert rules["SOL/USDT"].origin == "default" and rules["SOL/USDT"].min_cost == 5.0
    assert len(warnings) == 1 and "binance SOL/USDT" in warnings[0]
    # the paper broker trades on them; the simulated market keeps its own rules
    broker = PaperBroker(settings.trading, rules)
    assert broker.rules("ETH/BTC").min_cost == 1e-4
    assert market_rules(settings, "simulator", ["ETH/BTC"])["ETH/BTC"].origin == "default"


def test_markets_are_replaced_not_duplicated(tmp_path):
    settings = Settings(warehouse=tmp_path / "w.duckdb", data_dir=tmp_path)
    rows = market_rows(loaded(BINANCE), "binance", FETCHED)
    with write_connection(settings.warehouse) as con:
        store_markets(con, rows)
        store_markets(con, [{**rows[0], "min_cost": 0.0002, "fetched_at": datetime(2026, 2, 1)}])
        stored = con.execute(
            "select count(*), max(min_cost) filter (where symbol = ?) from markets", ["ETH/BTC"]
        ).fetchone()
    assert stored == (3, 0.0002)


def test_a_bad_market_override_key_is_named(tmp_path):
    from cryptobot.config import load_settings

    with pytest.raises(ConfigError, match="exchange:SYMBOL"):
        load_settings(markets={"ETH/BTC": {"min_notional": 1.0}})
    with pytest.raises(ConfigError, match="min_notionall"):
        load_settings(markets={"binance:ETH/BTC": {"min_notionall": 1.0}})


def test_live_broker_takes_the_config_override_over_the_exchange():
    client = FakeExchange({"BTC/USDT": 50_000.0})
    overrides = Settings(markets={"fakex:BTC/USDT": {"min_notional": 12.5}}).markets
    rules = LiveBroker(client, overrides=overrides).rules("BTC/USDT")
    assert (rules.min_cost, rules.amount_step) == (12.5, 0.0001)


def test_a_ccxt_ingest_stores_the_exchange_markets(settings, caplog):
    h = harness(BINANCE, page_routes(BINANCE), page_limit=3)
    report = ingest_ccxt_series(
        settings, exchange="binance", symbol="BTC/USDT", timeframe="1h", since=T0, source=h.source
    )
    assert report.markets == 3
    with read_connection(settings.warehouse) as con:
        stored = con.execute(
            "select symbol, amount_step, min_cost, taker_fee from markets "
            "where exchange = 'binance' order by symbol"
        ).fetchall()
    assert stored == [
        ("BTC/USDT", 1e-5, 5.0, 0.001),
        ("ETH/BTC", 1e-4, 1e-4, 0.001),
        ("ETH/USDT", 1e-4, 5.0, 0.001),
    ]
    with caplog.at_level(logging.WARNING), read_connection(settings.warehouse) as con:
        rules = market_rules(settings, "binance", ["ETH/BTC"], con)
    assert rules["ETH/BTC"].min_cost == 1e-4 and not caplog.records
