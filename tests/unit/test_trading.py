"""The trading layer's plain parts: orders, strategies, portfolio arithmetic, risk, brokers."""

from __future__ import annotations

import math
from datetime import datetime

import ccxt
import numpy as np
import pandas as pd
import pytest
from pydantic import SecretStr

from cryptobot.config import RiskLimits, Settings, TradingSettings
from cryptobot.errors import ConfigError, TradingError
from cryptobot.trading import core
from cryptobot.trading.brokers import LiveBroker, check_live_allowed
from cryptobot.trading.markets import DECIMAL_PLACES, TICK_SIZE, MarketRules
from cryptobot.trading.orders import (
    ORDER_TRANSITIONS,
    Order,
    OrderStatus,
    client_order_id,
)
from cryptobot.trading.portfolio import EquityPoint, Position
from cryptobot.trading.risk import describe_checks
from cryptobot.trading.strategies import get_strategy, sma
from tests.fake_exchange import FakeExchange

T0 = datetime(2025, 12, 1, 10)
T1 = datetime(2025, 12, 1, 11)


def make_order(side="buy", amount=0.5, status=OrderStatus.NEW, **kw) -> Order:
    cid = client_order_id("paper", "long_flat", "simulator", "BTC/USDT", "1h", T0)
    return Order(
        client_order_id=cid,
        mode="paper",
        strategy="long_flat",
        exchange="simulator",
        symbol="BTC/USDT",
        timeframe="1h",
        bar_ts=T0,
        side=side,
        amount=amount,
        decision_id="d",
        created_at=T1,
        is_simulated=True,
        status=status,
        **kw,
    )


# -- orders ---------------------------------------------------------------------------------


def test_client_order_id_is_stable_unique_and_exchange_safe():
    a = client_order_id("paper", "long_flat", "binance", "BTC/USDT", "1h", T0)
    assert a == client_order_id("paper", "long_flat", "binance", "BTC/USDT", "1h", T0)
    others = {
        client_order_id("live", "long_flat", "binance", "BTC/USDT", "1h", T0),
        client_order_id("paper", "long_short", "binance", "BTC/USDT", "1h", T0),
        client_order_id("paper", "long_flat", "binance", "ETH/USDT", "1h", T0),
        client_order_id("paper", "long_flat", "binance", "BTC/USDT", "1h", T1),
    }
    assert a not in others and len(others) == 4
    assert len(a) <= 36 and a.isalnum() and a.startswith("cb")


def test_order_state_machine_allows_only_listed_moves():
    order = make_order()
    submitted = order.moved_to("submitted", T1)
    partial = submitted.moved_to("partially_filled", T1, filled=0.2)
    done = partial.moved_to("filled", T1, filled=0.5)
    assert (done.status, done.filled, done.remaining, done.is_open) == ("filled", 0.5, 0.0, False)
    assert order.status == "new"  # values are immutable: moves return new orders
    for final in (OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED):
        assert final not in ORDER_TRANSITIONS
    with pytest.raises(TradingError, match="cannot move from filled to submitted"):
        done.moved_to("submitted", T1)
    with pytest.raises(TradingError, match="cannot move from new to partially_filled"):
        order.moved_to("partially_filled", T1)


def test_order_refuses_nonsense():
    with pytest.raises(TradingError, match="side"):
        make_order(side="hold")
    with pytest.raises(TradingError, match="amount"):
        make_order(amount=0)


def test_order_row_round_trip():
    order = make_order().moved_to("submitted", T1)
    assert Order.from_row(order.row()) == order


# -- strategies -----------------------------------------------------------------------------


def calls(*probs: float) -> pd.DataFrame:
    p = np.array(probs, dtype=float)
    return pd.DataFrame(
        {
            "pred_return": p - 0.5,
            "prob_up": p,
            "direction": np.where(np.isnan(p), np.nan, p > 0.5),
            "confidence": np.maximum(p, 1 - p),
        }
    )


def same(a, b) -> bool:
    return np.array_equal(np.asarray(a, float), np.asarray(b, float), equal_nan=True)


def test_long_flat_and_long_short():
    long_flat, long_short = get_strategy("long_flat"), get_strategy("long_short")
    assert same(long_flat.populate_targets(calls(0.6, 0.4, np.nan)), [1.0, 0.0, np.nan])
    assert same(long_short.populate_targets(calls(0.6, 0.4)), [1.0, -1.0])
    cautious = get_strategy("long_flat", min_confidence=0.55)
    # not confident (or no prediction): no decision, keep what is held
    assert same(cautious.populate_targets(calls(0.53, 0.47, 0.56, 0.44)), [np.nan, np.nan, 1, 0])


def test_model_strategies_trade_only_forecasts_that_pay_for_their_costs():
    frame = calls(0.6, 0.6, 0.6, 0.4, 0.4, 0.4)
    frame["pred_return"] = [0.0030, 0.0015, 0.0010, -0.0005, -0.0015, -0.0030]
    long_flat = get_strategy("long_flat", cost=0.0012)  # a round trip costs 0.24%
    # enter only above the round trip; leave only when the loss beats one fill (0.12%)
    assert same(long_flat.populate_targets(frame), [1, np.nan, np.nan, np.nan, 0, 0])
    long_short = get_strategy("long_short", cost=0.0012)
    assert same(long_short.populate_targets(frame), [1, np.nan, np.nan, np.nan, np.nan, -1])


def test_buy_and_hold_and_the_sma_crossover():
    assert same(get_strategy("buy_and_hold").populate_targets(calls(0.1, 0.9)), [1.0, 1.0])
    close = np.array([5, 4, 3, 2, 1, 2, 3, 4, 5, 4, 3, 2, 1], dtype=float)
    cross = get_strategy("sma_cross", fast=2, slow=4)
    targets = cross.populate_targets(pd.DataFrame({"close": close}))
    fast, slow = sma(close, 2), sma(close, 4)
    assert same(fast[1:3], [4.5, 3.5]) and same(slow[3:5], [3.5, 2.5])
    # fast crosses above slow at bar 5 (2 + 1)/2 = 1.5 > ... then below again at bar 9 or 10
    assert same(np.flatnonzero(targets == 1.0), [np.flatnonzero(fast > slow)[0]])
    above = fast > slow
    assert set(np.flatnonzero(targets == 0.0)) == {
        i for i in range(1, len(close)) if above[i - 1] and not above[i]
    }
    with pytest.raises(ConfigError, match="fast < slow"):
        get_strategy("sma_cross", fast=50, slow=10)


def test_unknown_strategy_names_the_choices():
    with pytest.raises(ConfigError, match="long_flat, long_short"):
        get_strategy("martingale")


# -- markets --------------------------------------------------------------------------------


def test_market_rules_round_down_to_the_step_and_check_minimums():
    rules = MarketRules("BTC/USDT", amount_step=0.001, min_amount=0.001, min_cost=5.0)
    assert rules.round_amount(0.123456) == 0.123
    assert rules.round_amount(-0.123456) == -0.123
    assert rules.round_amount(0.0009) == 0.0
    # float error must not cost a step: 0.7 / 0.1 is 6.999999999999999 in floats
    assert MarketRules("X/USDT", amount_step=0.1, min_amount=0.1).round_amount(0.7) == 0.7
    assert "below the market minimum 0.001" in rules.too_small(0.0005, 50_000)
    assert "notional 4.00 below" in rules.too_small(0.002, 2000)
    assert rules.too_small(0.002, 50_000) is None


def test_market_rules_from_ccxt_in_both_precision_modes():
    market = {"symbol": "X/USDT", "precision": {"amount": 0.01}, "limits": {"cost": {"min": 10}}}
    tick = MarketRules.from_ccxt(market, TICK_SIZE)
    assert (tick.amount_step, tick.min_amount, tick.min_cost) == (0.01, 0.01, 10.0)
    decimals = MarketRules.from_ccxt({**market, "precision": {"amount": 3}}, DECIMAL_PLACES)
    assert math.isclose(decimals.amount_step, 0.001)


# -- portfolio ------------------------------------------------------------------------------


def test_position_arithmetic_open_add_reduce_flip():
    p = Position("paper", "x", "BTC/USDT")
    p = p.applied(1.0, 100.0, 0.1, T0)
    p = p.applied(1.0, 110.0, 0.11, T0)
    assert (p.amount, p.avg_price, p.realized_pnl) == (2.0, 105.0, 0.0)
    p = p.applied(-0.5, 120.0, 0.06, T1)
    assert (p.amount, p.avg_price) == (1.5, 105.0)
    assert math.isclose(p.realized_pnl, 7.5)
    p = p.applied(-2.5, 100.0, 0.25, T1)  # close 1.5 (-7.5) and open a 1.0 short at 100
    assert (p.amount, p.avg_price, p.opened_at) == (-1.0, 100.0, T1)
    assert math.isclose(p.realized_pnl, 0.0)
    assert math.isclose(p.fees, 0.52)
    p = p.applied(1.0, 90.0, 0.09, T1)
    assert (p.amount, p.avg_price) == (0.0, None)
    assert math.isclose(p.realized_pnl, 10.0)


def test_the_audit_describes_every_check_of_the_core():
    point = EquityPoint(
        "paper", T0, 9_500.0, 500.0, 10_000.0, 500.0, 10_000.0, 0.0, 10_000.0, 0.0, True
    )
    checks = np.zeros((core.N_CHECKS, 3))
    checks[:, core.PASSED] = 1.0
    checks[:, core.VALUE] = [0.05, 0.0, 0.0, 0.81, 0.1, 0.01, 5e6, 0.0002]
    checks[3, core.OTHER] = 0
    checks[3, core.PASSED] = 0.0
    described = describe_checks(
        "ETH/USDT", checks, ["BTC/USDT", "ETH/USDT"], point, RiskLimits(), 100.0, 5.0, "assumed"
    )
    assert [c.name for c in described] == list(RiskLimits.model_fields)
    assert [c.name for c in described if not c.passed] == ["correlation_limit"]
    assert described[3].detail == "correlation with open BTC/USDT position +0.81"
    assert described[0].detail == "ETH/USDT target 500.00 = 5.00% of equity"
    assert described[4].detail == "gross exposure 1,000.00 = 0.10x equity after the order"
    assert described[7].detail == "spread 0.0200% (assumed)" and described[7].limit == 0.001
    checks[[3, 5, 6, 7], core.VALUE] = np.nan
    unknown = describe_checks(
        "ETH/USDT", checks, ["BTC/USDT", "ETH/USDT"], point, RiskLimits(), 100.0, 5.0, "assumed"
    )
    assert unknown[3].value is None and unknown[3].detail == "no other open position"
    assert unknown[5].detail == "volatility unknown (indicator warm-up)"
    assert unknown[6].detail == "volume unknown" and unknown[7].detail.startswith("spread unknown")


# -- brokers --------------------------------------------------------------------------------


def live_settings(tmp_path, **kw) -> Settings:
    return Settings(
        trading=TradingSettings(mode="live"),
        source="ccxt",
        warehouse=tmp_path / "w.duckdb",
        **kw,
    )


def test_live_mode_refuses_without_keys_and_on_simulated_prices(tmp_path):
    with pytest.raises(
        TradingError, match="CRYPTOBOT_EXCHANGE_API_KEY and CRYPTOBOT_EXCHANGE_SECRET"
    ):
        check_live_allowed(live_settings(tmp_path))
    api_key, secret = "key-123" + "k" * 40, "sec-456" + "s" * 40
    with pytest.raises(TradingError, match="CRYPTOBOT_EXCHANGE_SECRET is not set"):
        check_live_allowed(live_settings(tmp_path, exchange_api_key=SecretStr(api_key)))
    keys = dict(exchange_api_key=SecretStr(api_key), exchange_secret=SecretStr(secret))
    assert check_live_allowed(live_settings(tmp_path, **keys)).source == "environment"
    with pytest.raises(TradingError, match="simulated prices") as info:
        check_live_allowed(Settings(trading=TradingSettings(mode="live"), **keys))
    assert api_key not in str(info.value) and secret not in str(info.value)


def test_live_broker_sends_the_client_order_id_once():
    exchange = FakeExchange({"BTC/USDT": 50_000.0})
    broker = LiveBroker(exchange)
    order = make_order(amount=0.01234)
    done, fills = broker.submit(order, T1)
    (call,) = exchange.created()
    assert call[1:5] == ("BTC/USDT", "market", "buy", 0.0123)  # amount_to_precision
    assert call[5] == {"clientOrderId": order.client_order_id}
    assert done.status == "filled" and done.exchange_order_id
    assert len(fills) == 1 and math.isclose(fills[0].price, 50_000 * 1.0005)
    # a restart that lost the answer submits again: the broker finds the order, sends nothing
    again, fills_again = broker.submit(order, T1)
    assert len(exchange.created()) == 1
    assert again.status == "filled" and again.exchange_order_id == done.exchange_order_id
    assert [f.trade_id for f in fills_again] == [f.trade_id for f in fills]  # same id: stored once


def test_live_broker_reads_a_duplicate_as_the_existing_order():
    exchange = FakeExchange({"BTC/USDT": 50_000.0})
    exchange.has["fetchClosedOrders"] = False  # the first lookup cannot see closed orders
    order = make_order(amount=0.01)
    exchange.create_order(
        "BTC/USDT", "market", "buy", 0.01, None, {"clientOrderId": order.client_order_id}
    )
    exchange.has["fetchClosedOrders"] = True
    broker = LiveBroker(exchange)
    broker.find = lambda o, _real=broker.find: None if len(exchange.created()) < 2 else _real(o)
    done, _ = broker.submit(order, T1)
    assert done.status == "filled" and len(exchange.created()) == 2  # second one refused


def test_live_broker_partial_fill_then_fill_and_rejection():
    exchange = FakeExchange({"BTC/USDT": 50_000.0}, balance=100.0)
    exchange.apiKey = "balance"  # a key that the exchange's message happens to contain
    broker = LiveBroker(exchange)
    rejected, fills = broker.submit(make_order(amount=1.0), T1)
    assert rejected.status == "rejected" and "InsufficientFunds" in rejected.reason
    assert "balance" not in rejected.reason and "***" in rejected.reason and not fills
    exchange.balance = 1e9
    exchange.fill_mode = "open"
    resting, fills = broker.submit(make_order(amount=0.5), T1)
    assert resting.status == "submitted" and not fills
    exchange.fill_all()
    filled, fills = broker.refresh(resting, T1)
    assert filled.status == "filled" and len(fills) == 1 and fills[0].amount == 0.5


def test_live_broker_network_error_is_retryable_and_keeps_the_order_new():
    exchange = FakeExchange({"BTC/USDT": 50_000.0})

    def down(*args, **kwargs):
        raise ccxt.NetworkError("timeout")

    exchange.create_order = down
    with pytest.raises(TradingError, match="stays new") as info:
        LiveBroker(exchange).submit(make_order(), T1)
    assert info.value.retryable
