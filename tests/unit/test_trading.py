"""The trading layer's plain parts: orders, strategies, portfolio arithmetic, risk, brokers."""

from __future__ import annotations

import math
from datetime import datetime

import ccxt
import pytest
from pydantic import SecretStr

from cryptobot.config import RiskLimits, Settings, TradingSettings
from cryptobot.errors import ConfigError, TradingError
from cryptobot.trading.brokers import Bar, LiveBroker, PaperBroker, check_live_allowed
from cryptobot.trading.markets import DECIMAL_PLACES, TICK_SIZE, MarketRules
from cryptobot.trading.orders import (
    ORDER_TRANSITIONS,
    Order,
    OrderStatus,
    client_order_id,
)
from cryptobot.trading.portfolio import Position, equity_point
from cryptobot.trading.risk import OrderContext, adds_risk, pre_trade_checks
from cryptobot.trading.strategies import Prediction, get_strategy
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


def up(p: float) -> Prediction:
    return Prediction(
        pred_return=p - 0.5, prob_up=p, direction=int(p > 0.5), confidence=max(p, 1 - p)
    )


def test_long_flat_and_long_short():
    long_flat, long_short = get_strategy("long_flat"), get_strategy("long_short")
    assert long_flat.target_weight(up(0.6), 0.0) == 1.0
    assert long_flat.target_weight(up(0.4), 1.0) == 0.0
    assert long_short.target_weight(up(0.4), 1.0) == -1.0
    cautious = get_strategy("long_flat", min_confidence=0.55)
    assert cautious.target_weight(up(0.53), 0.0) == 0.0  # not confident: keep what it has
    assert cautious.target_weight(up(0.47), 1.0) == 1.0
    assert cautious.target_weight(up(0.56), 0.0) == 1.0


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


def test_equity_point_tracks_peak_drawdown_and_the_day():
    btc = Position("paper", "x", "BTC/USDT", amount=1.0, avg_price=100, last_price=100)
    first = equity_point("paper", T0, 900.0, {"BTC/USDT": btc}, None, True)
    assert (first.equity, first.peak_equity, first.drawdown) == (1000.0, 1000.0, 0.0)
    lower = equity_point("paper", T1, 900.0, {"BTC/USDT": btc.marked(80, T1)}, first, True)
    assert (lower.equity, lower.peak_equity, lower.day_start_equity) == (980.0, 1000.0, 1000.0)
    assert math.isclose(lower.drawdown, 0.02) and math.isclose(lower.daily_loss, 0.02)
    next_day = equity_point(
        "paper", datetime(2025, 12, 2), 900.0, {"BTC/USDT": btc.marked(80, T1)}, lower, True
    )
    assert (next_day.day_start_equity, next_day.daily_pnl, next_day.peak_equity) == (
        980.0,
        0.0,
        1000.0,
    )


# -- risk -----------------------------------------------------------------------------------


def context(**kw) -> OrderContext:
    base = dict(
        symbol="ETH/USDT",
        price=100.0,
        current_amount=0.0,
        target_amount=5.0,  # 500 = 5% of 10,000
        exposures={"BTC/USDT": 500.0},
        correlations={"BTC/USDT": 0.5},
        volatility=0.01,
        quote_volume=5e6,
        spread=0.0002,
        spread_source="assumed",
    )
    base.update(kw)
    return OrderContext(**base)


def flat_equity(equity=10_000.0, peak=10_000.0, day_start=10_000.0):
    return equity_point.__globals__["EquityPoint"](
        "paper",
        T0,
        equity,
        0.0,
        equity,
        0.0,
        peak,
        1 - equity / peak,
        day_start,
        equity - day_start,
        True,
    )


def failed(checks) -> set[str]:
    return {c.name for c in checks if not c.passed}


def test_every_limit_is_checked_and_passes_inside_the_limits():
    checks = pre_trade_checks(context(), flat_equity(), RiskLimits())
    assert [c.name for c in checks] == list(RiskLimits.model_fields)
    assert failed(checks) == set()


@pytest.mark.parametrize(
    ("ctx", "equity", "limit"),
    [
        (dict(target_amount=6.0), {}, "max_position_size"),
        (dict(target_amount=4.0), dict(equity=9_700.0, day_start=10_000.0), "max_daily_loss"),
        (dict(target_amount=4.0), dict(equity=8_000.0, day_start=8_000.0), "max_drawdown"),
        (dict(correlations={"BTC/USDT": 0.9}), {}, "correlation_limit"),
        (dict(exposures={"BTC/USDT": 20_000.0}), {}, "leverage_limit"),
        (dict(volatility=0.08), {}, "volatility_threshold"),
        (dict(volatility=None), {}, "volatility_threshold"),
        (dict(quote_volume=5e5), {}, "liquidity_minimum"),
        (dict(spread=0.002), {}, "spread_maximum"),
    ],
)
def test_each_limit_fails_on_its_own(ctx, equity, limit):
    checks = pre_trade_checks(context(**ctx), flat_equity(**equity), RiskLimits())
    assert failed(checks) == {limit}


def test_correlation_counts_only_same_direction_exposure():
    hedge = context(correlations={"BTC/USDT": 0.95}, exposures={"BTC/USDT": -500.0})
    assert failed(pre_trade_checks(hedge, flat_equity(), RiskLimits())) == set()


def test_adds_risk():
    assert adds_risk(0, 1) and adds_risk(1, -1) and adds_risk(-1, -2)
    assert not adds_risk(2, 1) and not adds_risk(1, 0) and not adds_risk(-2, -1)


# -- brokers --------------------------------------------------------------------------------


def test_paper_fill_pays_spread_slippage_impact_and_fee():
    trading = TradingSettings(fee=0.001, spread=0.0004, slippage=0.0001, impact=1.0)
    broker = PaperBroker(trading)
    order = make_order(amount=2.0).moved_to("submitted", T1)
    bar = Bar(ts=T1, open=100.0, volume=10_000.0, volatility=0.01)
    done, fill = broker.fill(order, bar)
    impact = 0.01 * math.sqrt(200.0 / 1_000_000.0)
    expected = 100.0 * (1 + 0.0002 + 0.0001 + impact)
    assert math.isclose(fill.price, expected)
    assert math.isclose(fill.fee, 0.001 * 2.0 * expected)
    assert math.isclose(fill.spread_cost, 2 * 100 * 0.0002)
    assert math.isclose(fill.slippage_cost, 2 * 100 * (0.0001 + impact))
    assert (done.status, done.filled, fill.ts, fill.reference_price) == ("filled", 2.0, T1, 100.0)
    sold, sell = broker.fill(make_order(side="sell", amount=2.0).moved_to("submitted", T1), bar)
    assert sell.price < 100.0 and math.isclose(100.0 - sell.price, expected - 100.0)


def live_settings(**kw) -> Settings:
    return Settings(trading=TradingSettings(mode="live"), source="ccxt", **kw)


def test_live_mode_refuses_without_keys_and_on_simulated_prices():
    with pytest.raises(
        TradingError, match="CRYPTOBOT_EXCHANGE_API_KEY and CRYPTOBOT_EXCHANGE_SECRET"
    ):
        check_live_allowed(live_settings())
    with pytest.raises(TradingError, match="CRYPTOBOT_EXCHANGE_SECRET is not set"):
        check_live_allowed(live_settings(exchange_api_key=SecretStr("k")))
    keys = dict(exchange_api_key=SecretStr("key-123"), exchange_secret=SecretStr("sec-456"))
    check_live_allowed(live_settings(**keys))
    with pytest.raises(TradingError, match="simulated prices") as info:
        check_live_allowed(Settings(trading=TradingSettings(mode="live"), **keys))
    assert "key-123" not in str(info.value) and "sec-456" not in str(info.value)


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
