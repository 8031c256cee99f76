"""The execution core: the fill model per cost component, rounding, the risk checks one by one,
the equity point, order timing, and that nothing after a bar changes what happened at it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cryptobot.config import RiskLimits, Settings
from cryptobot.trading import core

HOUR_NS = 3600 * 1_000_000_000
START_NS = 1_767_225_600 * 1_000_000_000  # 2026-01-01 00:00 UTC


# -- one order's arithmetic ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spread", "slippage", "impact", "vol", "expected_slip"),
    [
        (0.0004, 0.0, 0.0, 0.01, 0.0),  # the spread alone: half of it on the price
        (0.0, 0.0001, 0.0, 0.01, 0.0001),  # fixed slippage alone
        (0.0, 0.0, 1.0, 0.01, 0.01 * math.sqrt(200.0 / 1_000_000.0)),  # square-root impact
        (0.0, 0.0, 1.0, math.nan, 0.0),  # unknown volatility: no impact
    ],
)
def test_paper_fill_pays_each_cost_component(spread, slippage, impact, vol, expected_slip):
    # 2 units at an open of 100 with 10,000 units traded in the bar: notional 200 of 1,000,000
    price, fee, spread_cost, slippage_cost = core.paper_fill(
        2.0, 100.0, 10_000.0, vol, 0.001, spread, slippage, impact
    )
    assert price == pytest.approx(100.0 * (1 + spread / 2 + expected_slip), rel=1e-15)
    assert fee == pytest.approx(0.001 * 2.0 * price, rel=1e-15)
    assert spread_cost == pytest.approx(2 * 100 * spread / 2, abs=1e-15)
    assert slippage_cost == pytest.approx(2 * 100 * expected_slip, abs=1e-15)
    sell, sell_fee, _, _ = core.paper_fill(
        -2.0, 100.0, 10_000.0, vol, 0.001, spread, slippage, impact
    )
    assert sell == pytest.approx(100.0 * (1 - spread / 2 - expected_slip), rel=1e-15)
    assert sell_fee == pytest.approx(0.001 * 2.0 * sell, rel=1e-15)


def test_amounts_round_towards_zero_on_the_step_and_minimums_hold_orders_back():
    assert core.round_amount(0.123456, 0.001) == 0.123
    assert core.round_amount(-0.123456, 0.001) == -0.123
    assert core.round_amount(0.7, 0.1) == 0.7  # 7 steps of 0.1, not 0.7000000000000001
    assert core.round_amount(1.9e4 - 1e-13, 1e-5) == 1.9e4  # float error is not a lost step
    assert core.too_small(0.0009, 100.0, 0.001, 5.0) == core.R_MIN_AMOUNT
    assert core.too_small(0.04, 100.0, 0.001, 5.0) == core.R_MIN_COST
    assert core.too_small(0.05, 100.0, 0.001, 5.0) == core.R_NONE


# -- a small world: two symbols, ETH decided, BTC held ----------------------------------------


def world(*, bars=200, corr=0.5, vol=0.01, volume=50_000.0, seed=1):
    """Bars of BTC (k=0) and ETH (k=1) whose returns correlate about ``corr``."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 0.01, bars)
    y = corr * x + math.sqrt(1 - corr**2) * rng.normal(0, 0.01, bars)
    ts = START_NS + np.arange(bars, dtype=np.int64) * HOUR_NS
    market = np.zeros((bars, 2, 5))
    for k, r in enumerate((x, y)):
        close = 100.0 * np.exp(np.cumsum(r))
        market[:, k, core.OPEN] = np.concatenate([[100.0], close[:-1]])
        market[:, k, core.CLOSE] = close
        market[:, k, core.VOLUME] = volume
        market[:, k, core.VOL] = vol
        market[:, k, core.LOGRET] = r
    avail = np.repeat((ts + HOUR_NS)[:, None], 2, axis=1)
    return ts, avail, market


def params(**limits) -> np.ndarray:
    settings = Settings(risk=RiskLimits(**limits))
    return core.CoreParams.from_settings(settings, 3600).array()


RULES = np.array([[1e-5, 1e-5, 5.0, 0.0002]] * 2)


def decide(
    targets_eth: float,
    *,
    btc=5.0,
    cash=9_500.0,
    peak=None,
    day_start=None,
    rules=RULES,
    limits=None,
    **world_kw,
):
    """One step at the last bar: BTC held (``btc`` units), ETH's target given; returns the
    failed check names, the decision row and the check values of ETH."""
    ts, avail, market = world(**world_kw)
    t = len(ts) - 1
    market[t, :, core.CLOSE] = 100.0  # marks at 100: BTC worth btc * 100
    book = core.Book(len(ts), 2, cash)
    book.positions[0, core.S_AMOUNT] = btc
    book.positions[0, core.S_AVG] = 100.0
    if peak is not None:
        book.set_previous(peak, day_start or peak, int(ts[t] + HOUR_NS))
    targets = np.full((len(ts), 2), np.nan)
    targets[t, 1] = targets_eth
    decisions = np.zeros((2, core.N_DECISION))
    checks = np.full((2, core.N_CHECKS, 3), np.nan)
    p = params(**(limits or {}))
    core.step_bars(
        t, t, int(ts[t] + HOUR_NS), ts, avail, market, targets, rules, p, *book.state(),
        decisions, checks, True, np.zeros(200, dtype=np.int64), np.zeros(2),
        np.zeros((len(ts), 2), np.int8),
    )  # fmt: skip
    failed = {core.CHECK_NAMES[i] for i in range(core.N_CHECKS) if checks[1, i, core.PASSED] == 0}
    return failed, decisions[1], checks[1], book


def test_every_limit_passes_inside_the_limits_and_all_are_measured():
    failed, decision, checks, _ = decide(1.0)
    assert failed == set()
    assert decision[core.D_ACTION] == core.ORDER
    assert decision[core.D_WANTED] == pytest.approx(5.0)  # 5% of 10,000 at 100
    assert checks[0, core.VALUE] == pytest.approx(0.05)
    assert checks[3, core.VALUE] == pytest.approx(0.5, abs=0.15)  # corr with the BTC position
    assert checks[3, core.OTHER] == 0
    assert checks[4, core.VALUE] == pytest.approx(0.10)  # 500 BTC + 500 ETH on 10,000
    _, _, market = world()
    closes = np.concatenate([market[-24:-1, 1, core.CLOSE], [100.0]])  # the last marked at 100
    assert checks[6, core.VALUE] == pytest.approx(50_000.0 * closes.sum(), rel=1e-12)


@pytest.mark.parametrize(
    ("kw", "limit"),
    [
        (dict(peak=10_000.0, day_start=10_400.0), "max_daily_loss"),  # 3.8% down today
        (dict(peak=12_000.0, day_start=10_000.0), "max_drawdown"),  # 16.7% below the peak
        (dict(corr=0.95), "correlation_limit"),
        (dict(btc=200.0, cash=-10_000.0), "leverage_limit"),  # 20,000 held on 10,000
        (dict(vol=0.08), "volatility_threshold"),
        (dict(vol=math.nan), "volatility_threshold"),  # unknown fails
        (dict(volume=100.0), "liquidity_minimum"),
        (dict(rules=np.array([[1e-5, 1e-5, 5.0, 0.002]] * 2)), "spread_maximum"),
    ],
)
def test_each_limit_fails_on_its_own_and_blocks_new_risk(kw, limit):
    failed, decision, _, _ = decide(1.0, **kw)
    assert failed == {limit}
    assert decision[core.D_ACTION] == core.BLOCKED


def test_an_oversized_target_fails_the_position_size_check():
    """Sizing never asks for more than the limit; the check guards it all the same."""
    ts, avail, market = world()
    t = len(ts) - 1
    market[t, :, core.CLOSE] = 100.0
    book = core.Book(len(ts), 2, 10_000.0)
    book.positions[:, core.S_MARK] = 100.0
    equity_row = np.zeros(core.N_EQUITY)
    equity_row[[core.E_EQUITY, core.E_PEAK, core.E_DAY_START]] = 10_000.0
    out = np.zeros((core.N_CHECKS, 3))
    rows = np.zeros(200, dtype=np.int64)
    n = core.window_rows(ts, market, avail, t, int(ts[t] + HOUR_NS), params(), rows)
    passed = core.risk_checks(
        1, 100.0, 6.0, RULES, equity_row, book.positions, np.zeros(2), ts, market, avail, t,
        int(ts[t] + HOUR_NS), params(), rows, n, out,
    )  # fmt: skip
    assert not passed and out[0, core.VALUE] == pytest.approx(0.06) and out[0, core.PASSED] == 0
    assert out[1:, core.PASSED].all()


def test_unknown_spread_is_not_checked_and_a_hedge_is_not_correlated_risk():
    failed, _, checks, _ = decide(1.0, rules=np.array([[1e-5, 1e-5, 5.0, np.nan]] * 2))
    assert failed == set() and math.isnan(checks[7, core.VALUE])
    failed, _, checks, _ = decide(-1.0, corr=0.95)  # short ETH against long BTC
    assert failed == set() and checks[3, core.VALUE] < -0.9


def test_reducing_risk_always_goes_and_a_blocked_flip_only_closes():
    ts, avail, market = world()
    t = len(ts) - 1
    p = params(volatility_threshold=0.001)  # every check of new risk fails on volatility
    book = core.Book(len(ts), 2, 9_500.0)
    book.positions[1, core.S_AMOUNT] = 5.0
    targets = np.full((len(ts), 2), np.nan)
    targets[t, 1] = -1.0  # flip long ETH to short
    decisions = np.zeros((2, core.N_DECISION))
    checks = np.zeros((2, core.N_CHECKS, 3))
    core.step_bars(
        t, t, int(ts[t] + HOUR_NS), ts, avail, market, targets, RULES, p, *book.state(),
        decisions, checks, False, np.zeros(200, dtype=np.int64), np.zeros(2),
        np.zeros((len(ts), 2), np.int8),
    )  # fmt: skip
    assert decisions[1, core.D_ACTION] == core.ORDER
    assert decisions[1, core.D_REASON] == core.R_FLIP_CLOSING
    assert book.orders[0, 2] == -5.0  # closes exactly what is held, opens nothing


# -- the equity point and order timing -------------------------------------------------------


def test_equity_point_tracks_peak_drawdown_and_the_day():
    ts, avail, market = world(bars=30)
    market[:, 0, core.CLOSE] = 100.0
    market[24:, 0, core.CLOSE] = 80.0  # the next UTC day starts at bar 24 (its close is 01:00)
    book = core.Book(len(ts), 2, 900.0)
    book.positions[0, core.S_AMOUNT] = 1.0
    no_targets = np.full((len(ts), 2), np.nan)
    core.run_bars(
        0, 29, ts, avail, market, no_targets, RULES, params(), *book.state(),
        np.zeros((len(ts), 2), np.int8),
    )  # fmt: skip
    eq = book.equity
    assert eq[0, core.E_EQUITY] == 1000.0 and eq[0, core.E_PEAK] == 1000.0
    assert eq[22, core.E_DAY_START] == 1000.0  # 23:00 close: still the first day
    assert eq[24, core.E_EQUITY] == 980.0
    assert eq[24, core.E_PEAK] == 1000.0 and eq[24, core.E_DRAWDOWN] == pytest.approx(0.02)
    assert eq[23, core.E_DAY_START] == 1000.0  # bar 23 closes at 00:00 of day 2: a new day
    assert eq[24, core.E_DAILY_PNL] == pytest.approx(-20.0)


def test_an_order_fills_at_the_open_of_the_first_bar_after_its_decision():
    ts, avail, market = world(bars=60)
    t = 40
    avail[t + 1, 1] = core.NO_ROW  # ETH has no bar t+1: the order waits for bar t+2
    targets = np.full((len(ts), 2), np.nan)
    targets[t, :] = 1.0
    book = core.Book(len(ts), 2, 10_000.0)
    p = params(liquidity_minimum=0)
    core.run_bars(
        0, 59, ts, avail, market, targets, RULES, p, *book.state(), np.zeros((len(ts), 2), np.int8),
    )  # fmt: skip
    fills = book.fills[: book.counts[1]]
    by_symbol = {int(book.orders[int(f[core.F_ORDER]), 0]): f for f in fills}
    assert by_symbol[0][core.F_BAR] == t + 1
    assert by_symbol[0][core.F_REFERENCE] == market[t + 1, 0, core.OPEN]
    assert by_symbol[1][core.F_BAR] == t + 2
    assert by_symbol[1][core.F_REFERENCE] == market[t + 2, 1, core.OPEN]


def test_nothing_after_a_bar_changes_what_happened_up_to_it():
    """The core reads no bar after the one it steps: the run on all bars and the run on the
    bars up to t (the future replaced by noise) agree on every fill and mark up to t."""
    ts, avail, market = world(bars=400, corr=0.2)
    rng = np.random.default_rng(7)
    targets = np.where(rng.random((400, 2)) < 0.5, 1.0, -1.0)
    p = params(liquidity_minimum=0)

    def run(m, tg):
        book = core.Book(400, 2, 10_000.0)
        core.run_bars(
            0, 399, ts, avail, m, tg, RULES, p, *book.state(), np.zeros((400, 2), np.int8),
        )  # fmt: skip
        return book

    full = run(market, targets)
    cut = 250
    future = market.copy()
    future[cut + 1 :] *= rng.uniform(0.5, 1.5, future[cut + 1 :].shape)
    other_targets = targets.copy()
    other_targets[cut + 1 :] *= -1
    changed = run(future, other_targets)
    np.testing.assert_array_equal(full.equity[: cut + 1], changed.equity[: cut + 1])
    decided_by_cut = full.orders[: full.counts[0], 1] <= cut
    n = int(decided_by_cut.sum())
    np.testing.assert_array_equal(full.orders[:n, :4], changed.orders[:n, :4])
    assert n > 20


def test_a_backtest_tally_says_why_decisions_did_not_trade():
    ts, avail, market = world(bars=60, volume=100.0)  # far too thin for the liquidity minimum
    targets = np.full((len(ts), 2), np.nan)
    targets[30:, 0] = 1.0
    book = core.Book(len(ts), 2, 10_000.0)
    tally = np.zeros(core.N_REASONS + core.N_CHECKS, dtype=np.int64)
    core.run_bars(
        0, 59, ts, avail, market, targets, RULES, params(), *book.state(),
        np.zeros((len(ts), 2), np.int8), tally,
    )  # fmt: skip
    liquidity = core.N_REASONS + core.CHECK_NAMES.index("liquidity_minimum")
    assert book.counts[0] == 0
    assert tally[core.R_BLOCKED] == 30 and tally[liquidity] == 30
    assert tally[core.R_NONE] == 60 * 2 - 30  # the bars and symbols without a target
    assert tally.sum() - tally[liquidity] == 60 * 2  # one reason per decision


def test_a_pause_blocks_new_risk_but_lets_reducing_and_closing_go():
    """A human's pause is honoured like the kill switch: with every check passing, an entry is
    blocked, a cut or a flip only closes; without the pause the same entry goes."""
    paused = core.CoreParams.from_settings(Settings(), 3600, paused=True).array()
    assert paused[core.P_PAUSED] == 1.0 and params()[core.P_PAUSED] == 0.0

    def step(held: float, target: float, p: np.ndarray):
        ts, avail, market = world()
        t = len(ts) - 1
        market[t, :, core.CLOSE] = 100.0
        book = core.Book(len(ts), 2, 10_000.0 - held * 100.0)
        book.positions[1, core.S_AMOUNT] = held
        book.positions[1, core.S_AVG] = 100.0
        targets = np.full((len(ts), 2), np.nan)
        targets[t, 1] = target
        decisions = np.zeros((2, core.N_DECISION))
        checks = np.full((2, core.N_CHECKS, 3), np.nan)
        core.step_bars(
            t, t, int(ts[t] + HOUR_NS), ts, avail, market, targets, RULES, p, *book.state(),
            decisions, checks, True, np.zeros(200, dtype=np.int64), np.zeros(2),
            np.zeros((len(ts), 2), np.int8),
        )  # fmt: skip
        assert (checks[1, :, core.PASSED] == 1).all()  # no limit is what blocks
        return decisions[1], book.orders[: int(book.counts[0]), 2]

    decision, orders = step(0.0, 1.0, params())
    assert decision[core.D_ACTION] == core.ORDER and orders.tolist() == [5.0]
    decision, orders = step(0.0, 1.0, paused)  # an entry
    assert decision[core.D_ACTION] == core.BLOCKED and decision[core.D_REASON] == core.R_BLOCKED
    assert len(orders) == 0
    decision, orders = step(2.0, 1.0, paused)  # adding to a long
    assert decision[core.D_ACTION] == core.BLOCKED and len(orders) == 0
    decision, orders = step(5.0, 0.0, paused)  # closing
    assert decision[core.D_ACTION] == core.ORDER and orders.tolist() == [-5.0]
    decision, orders = step(5.0, -1.0, paused)  # a flip only closes
    assert decision[core.D_REASON] == core.R_FLIP_CLOSING and orders.tolist() == [-5.0]
