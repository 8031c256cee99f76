"""Backtest metrics against hand arithmetic, quantstats' definitions and the DSR paper's example."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import quantstats as qs
from scipy import stats

from cryptobot.backtest.metrics import (
    ROUND_TRIP_COLUMNS,
    DeflatedSharpe,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    performance,
    probabilistic_sharpe_ratio,
    probabilistic_sharpe_ratio_from_moments,
    round_trips,
)

T0 = pd.Timestamp("2024-01-01 00:00")


def hours(*offsets: float) -> list[pd.Timestamp]:
    return [T0 + pd.Timedelta(hours=h) for h in offsets]


def fills_frame(*rows: tuple) -> pd.DataFrame:
    """Rows of (symbol, hour, side, amount, price, fee[, spread_cost, slippage_cost])."""
    records = []
    for row in rows:
        symbol, hour, side, amount, price, fee, *costs = row
        spread, slippage = costs or (0.0, 0.0)
        records.append(
            {
                "symbol": symbol,
                "ts": T0 + pd.Timedelta(hours=hour),
                "side": side,
                "amount": amount,
                "price": price,
                "fee": fee,
                "spread_cost": spread,
                "slippage_cost": slippage,
            }
        )
    return pd.DataFrame(records)


# --- performance on a tiny curve, by hand -----------------------------------------------------

# capital 100, then marks 110, 99, 118.8, 106.92 at hours 0, 1, 2 and 5 (a 3h gap before the last)
CAPITAL = 100.0
EQUITY = [110.0, 99.0, 118.8, 106.92]
GROSS = [0.0, 50.0, 60.0, 0.0]
TINY_FILLS = fills_frame(
    ("BTC/USDT", 0, "buy", 1.0, 50.0, 0.05, 0.02, 0.01),
    ("BTC/USDT", 2, "sell", 1.0, 60.0, 0.06, 0.03, 0.01),
)


@pytest.fixture(scope="module")
def tiny() -> dict[str, float]:
    return performance(
        EQUITY,
        CAPITAL,
        TINY_FILLS,
        periods_per_year=8,
        gross_exposure=GROSS,
        ts=hours(0, 1, 2, 5),
    )


def test_returns_and_ratios_by_hand(tiny) -> None:
    # r = 110/100-1, 99/110-1, 118.8/99-1, 106.92/118.8-1 = 0.1, -0.1, 0.2, -0.1
    # mean = 0.1/4 = 0.025; deviations 0.075, -0.125, 0.175, -0.125; squares sum to
    # 0.005625 + 0.015625 + 0.030625 + 0.015625 = 0.0675; / (4-1) = 0.0225; std = 0.15
    assert tiny["total_return"] == pytest.approx(0.0692, rel=1e-12)  # 106.92/100 - 1
    assert tiny["annualized_return"] == pytest.approx(1.0692**2 - 1, rel=1e-12)  # (8/4) years^-1
    assert tiny["annualized_return"] == pytest.approx(0.14318864, rel=1e-8)
    assert tiny["volatility"] == pytest.approx(0.15 * math.sqrt(8), rel=1e-12)
    assert tiny["sharpe"] == pytest.approx(0.025 / 0.15 * math.sqrt(8), rel=1e-12)  # 0.4714
    # downside deviation = sqrt((0 + 0.01 + 0 + 0.01) / 4) = sqrt(0.005)
    # sortino = 0.025 / sqrt(0.005) * sqrt(8) = 0.025 * sqrt(1600) = 1
    assert tiny["sortino"] == pytest.approx(1.0, rel=1e-12)


def test_drawdown_by_hand(tiny) -> None:
    # path 100, 110, 99, 118.8, 106.92; running peak 100, 110, 110, 118.8, 118.8
    # drawdowns 0, 0, 1 - 99/110 = 0.1, 0, 1 - 106.92/118.8 = 0.1
    assert tiny["max_drawdown"] == pytest.approx(0.1, rel=1e-12)
    assert tiny["calmar"] == pytest.approx((1.0692**2 - 1) / 0.1, rel=1e-12)  # 1.4318864
    # under water: from the peak 110 (mark 0) until 118.8 (mark 2) = 2 marks; from 118.8
    # (mark 2) to the end (mark 3), never recovered = 1 mark -> 2
    assert tiny["max_drawdown_bars"] == 2
    # in hours (marks at 0, 1, 2, 5): 2h for the first stretch, 5 - 2 = 3h for the second -> 3
    assert tiny["max_drawdown_duration_hours"] == pytest.approx(3.0)


def test_trades_exposure_turnover_costs_by_hand(tiny) -> None:
    # one long round trip: bought 1 @ 50, sold 1 @ 60, fees 0.05 + 0.06
    assert tiny["trades"] == 1 and tiny["open_trades"] == 0
    assert tiny["win_rate"] == 1.0
    assert tiny["profit_factor"] == math.inf  # a win and no loss
    assert tiny["avg_trade_return"] == pytest.approx((10 - 0.11) / 50, rel=1e-12)  # 0.1978
    assert tiny["exposure"] == pytest.approx(0.5)  # 2 of 4 marks with gross exposure > 0
    # mean(0/110, 50/99, 60/118.8, 0/106.92) = (0.50505... + 0.50505...) / 4
    assert tiny["avg_gross_leverage"] == pytest.approx((50 / 99 + 60 / 118.8) / 4, rel=1e-12)
    assert tiny["avg_gross_leverage"] == pytest.approx(0.2525252525, rel=1e-9)
    # traded notional 50 + 60 = 110; mean equity (110 + 99 + 118.8 + 106.92) / 4 = 108.68
    assert tiny["turnover"] == pytest.approx(110 / 108.68, rel=1e-12)
    assert tiny["turnover_per_year"] == pytest.approx(110 / 108.68 * 8 / 4, rel=1e-12)
    assert tiny["fills"] == 2
    assert tiny["fees"] == pytest.approx(0.11)
    assert tiny["spread_cost"] == pytest.approx(0.05)
    assert tiny["slippage_cost"] == pytest.approx(0.02)
    assert tiny["costs"] == pytest.approx(0.18)  # 0.11 + 0.05 + 0.02
    assert tiny["costs_share"] == pytest.approx(0.0018)  # 0.18 / 100


def test_capital_is_the_first_peak_and_an_unrecovered_stretch_runs_to_the_end() -> None:
    # path 100 | 90, 95, 99, 101, 100, 100.5: the first bar already loses 10% of the capital;
    # under water from the capital (before mark 0) until 101 (mark 3) = 4 marks
    early = performance([90, 95, 99, 101, 100, 100.5], 100, None, periods_per_year=8760)
    assert early["max_drawdown"] == pytest.approx(0.1)
    assert early["max_drawdown_bars"] == 4
    assert math.isnan(early["max_drawdown_duration_hours"])  # no ts given
    # path 100 | 101, 100, 99, 98: the peak 101 (mark 0) is never regained: 3 marks to the end
    late = performance([101, 100, 99, 98], 100, None, periods_per_year=8760)
    assert late["max_drawdown"] == pytest.approx(1 - 98 / 101)
    assert late["max_drawdown_bars"] == 3


def test_win_rate_and_profit_factor_with_losses() -> None:
    fills = fills_frame(
        ("BTC/USDT", 0, "buy", 1.0, 100.0, 0.0),
        ("BTC/USDT", 1, "sell", 1.0, 110.0, 0.0),  # +10
        ("BTC/USDT", 2, "sell", 2.0, 100.0, 0.0),
        ("BTC/USDT", 3, "buy", 2.0, 102.0, 0.0),  # short: -4
        ("ETH/USDT", 3, "buy", 1.0, 10.0, 0.0),  # still open, unmarked
    )
    result = performance([100, 101, 102, 103], 100, fills, periods_per_year=8760)
    assert result["trades"] == 2 and result["open_trades"] == 1
    assert result["win_rate"] == 0.5
    assert result["profit_factor"] == pytest.approx(10 / 4)
    assert result["avg_trade_return"] == pytest.approx((10 / 100 + -4 / 200) / 2)
    # without gross exposure, exposure and leverage are unknown, not 0
    assert math.isnan(result["exposure"]) and math.isnan(result["avg_gross_leverage"])


def test_flat_curve_has_undefined_ratios_and_no_trades() -> None:
    result = performance([100.0, 100.0, 100.0], 100.0, None, periods_per_year=8760)
    assert result["total_return"] == 0.0 and result["max_drawdown"] == 0.0
    for key in ("sharpe", "sortino", "calmar", "win_rate", "profit_factor", "avg_trade_return"):
        assert math.isnan(result[key]), key
    assert result["trades"] == 0 and result["fills"] == 0 and result["turnover"] == 0.0


# --- against quantstats -----------------------------------------------------------------------


@pytest.mark.parametrize(("seed", "drift"), [(1, 0.0004), (2, -0.0003), (3, 0.0)])
def test_matches_quantstats(seed: int, drift: float) -> None:
    """quantstats 0.0.86 (``quantstats/stats.py``) on the same per-bar returns.

    Conventions line up once ``periods`` is passed: its sharpe/volatility use pandas' std
    (ddof=1) times sqrt(periods); its sortino's downside deviation is
    sqrt(sum(r[r<0]^2) / count) over all bars; its cagr is total ** (periods / count) - 1
    (periods, not calendar days, in this version); its max_drawdown prepends a phantom
    baseline of 1 (our capital as the first peak) and is negative; calmar = cagr / |max dd|.
    """
    rng = np.random.default_rng(seed)
    returns = rng.normal(drift, 0.01, 400)
    capital = 1000.0
    equity = capital * np.cumprod(1 + returns)
    ours = performance(equity, capital, None, periods_per_year=8760)
    series = pd.Series(returns, index=pd.date_range("2024-01-01", periods=400, freq="h"))
    assert ours["sharpe"] == pytest.approx(qs.stats.sharpe(series, periods=8760), rel=1e-9)
    assert ours["sortino"] == pytest.approx(qs.stats.sortino(series, periods=8760), rel=1e-9)
    assert ours["volatility"] == pytest.approx(qs.stats.volatility(series, periods=8760), rel=1e-9)
    assert ours["annualized_return"] == pytest.approx(qs.stats.cagr(series, periods=8760), rel=1e-9)
    assert ours["max_drawdown"] == pytest.approx(-qs.stats.max_drawdown(series), rel=1e-9)
    assert ours["calmar"] == pytest.approx(qs.stats.calmar(series, periods=8760), rel=1e-9)


# --- round trips ------------------------------------------------------------------------------


def trip(trips: pd.DataFrame, i: int) -> dict:
    return trips.iloc[i].to_dict()


def test_long_with_adds_and_partial_exits() -> None:
    trips = round_trips(
        fills_frame(
            ("BTC/USDT", 0, "buy", 1.0, 100.0, 0.10),
            ("BTC/USDT", 1, "buy", 1.0, 110.0, 0.11),  # add: position 2
            ("BTC/USDT", 2, "sell", 0.5, 120.0, 0.06),  # partial exit: 1.5
            ("BTC/USDT", 3, "sell", 1.5, 90.0, 0.135),  # closes
        )
    )
    assert list(trips.columns) == list(ROUND_TRIP_COLUMNS)
    assert len(trips) == 1
    t = trip(trips, 0)
    assert t["side"] == "long" and not t["open"]
    assert t["entry_ts"] == T0 and t["exit_ts"] == T0 + pd.Timedelta(hours=3)
    assert t["duration"] == pd.Timedelta(hours=3)
    assert t["entry_price"] == pytest.approx((100 + 110) / 2)  # 105
    assert t["exit_price"] == pytest.approx((0.5 * 120 + 1.5 * 90) / 2)  # 97.5
    assert t["amount"] == pytest.approx(2.0)
    # price P&L = 60 + 135 - 210 = -15; fees 0.10 + 0.11 + 0.06 + 0.135 = 0.405
    assert t["fees"] == pytest.approx(0.405)
    assert t["pnl"] == pytest.approx(-15.405)
    assert t["return"] == pytest.approx(-15.405 / 210)


def test_short() -> None:
    trips = round_trips(
        fills_frame(
            ("ETH/USDT", 0, "sell", 2.0, 50.0, 0.1),
            ("ETH/USDT", 4, "buy", 2.0, 45.0, 0.09),
        )
    )
    t = trip(trips, 0)
    assert t["side"] == "short" and t["amount"] == pytest.approx(2.0)
    assert t["pnl"] == pytest.approx(2 * (50 - 45) - 0.19)  # 9.81
    assert t["return"] == pytest.approx(9.81 / 100)


def test_flip_splits_the_fee_pro_rata() -> None:
    trips = round_trips(
        fills_frame(
            ("BTC/USDT", 0, "buy", 1.0, 100.0, 0.1),
            ("BTC/USDT", 1, "sell", 3.0, 110.0, 0.3),  # 1 closes the long, 2 open a short
            ("BTC/USDT", 2, "buy", 2.0, 105.0, 0.2),
        )
    )
    assert list(trips["side"]) == ["long", "short"]
    long, short = trip(trips, 0), trip(trips, 1)
    # the flip's fee 0.3 is 1/3 closing (0.1) and 2/3 opening (0.2)
    assert long["fees"] == pytest.approx(0.1 + 0.1)
    assert long["pnl"] == pytest.approx(10 - 0.2)
    assert long["exit_ts"] == short["entry_ts"] == T0 + pd.Timedelta(hours=1)
    assert short["amount"] == pytest.approx(2.0) and short["entry_price"] == pytest.approx(110)
    assert short["fees"] == pytest.approx(0.2 + 0.2)
    assert short["pnl"] == pytest.approx(2 * (110 - 105) - 0.4)


def test_open_trip_is_valued_at_its_mark_or_left_out() -> None:
    fills = fills_frame(
        ("BTC/USDT", 0, "buy", 1.0, 100.0, 0.1),
        ("BTC/USDT", 1, "sell", 1.0, 101.0, 0.1),  # closed
        ("BTC/USDT", 2, "sell", 0.5, 100.0, 0.05),  # open short
        ("SOL/USDT", 2, "buy", 4.0, 20.0, 0.08),  # open long
    )
    marked = round_trips(fills, {"BTC/USDT": 90.0, "SOL/USDT": 25.0})
    assert list(marked["open"]) == [False, True, True]
    short, sol = trip(marked, 1), trip(marked, 2)
    assert short["pnl"] == pytest.approx(0.5 * (100 - 90) - 0.05)  # no exit fee at the mark
    assert short["exit_price"] == pytest.approx(90.0)
    assert pd.isna(short["exit_ts"]) and pd.isna(short["duration"])
    assert sol["pnl"] == pytest.approx(4 * (25 - 20) - 0.08)
    only_sol = round_trips(fills, {"SOL/USDT": 25.0})
    assert list(only_sol["symbol"]) == ["BTC/USDT", "SOL/USDT"]  # the BTC short is left out
    assert len(round_trips(fills)) == 1  # no marks: only the closed trip


def test_float_noise_still_closes_a_trip() -> None:
    trips = round_trips(
        fills_frame(
            ("BTC/USDT", 0, "buy", 0.1, 100.0, 0.0),
            ("BTC/USDT", 1, "buy", 0.2, 100.0, 0.0),
            ("BTC/USDT", 2, "sell", 0.3, 110.0, 0.0),  # 0.1 + 0.2 - 0.3 != 0 in floats
            ("BTC/USDT", 3, "buy", 0.3, 120.0, 0.0),
        )
    )
    assert list(trips["side"]) == ["long"]  # the last buy opens no short: the long closed first
    assert trip(trips, 0)["pnl"] == pytest.approx(0.3 * 10)


def test_no_fills_give_an_empty_frame_with_the_columns() -> None:
    empty = round_trips(fills_frame())
    assert empty.empty and list(empty.columns) == list(ROUND_TRIP_COLUMNS)


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"equity": []}, "equity is empty"),
        ({"equity": [100, math.nan]}, "equity has 1 NaN"),
        ({"equity": [100, -1]}, "equity must stay > 0"),
        ({"capital": 0}, "capital must be a finite number > 0"),
        ({"capital": -5}, "capital must be a finite number > 0"),
        ({"periods_per_year": 0}, "periods_per_year"),
        ({"gross_exposure": [1, 2]}, "gross_exposure has 2 values but equity has 3"),
        ({"ts": hours(0, 1)}, "ts has 2 values but equity has 3"),
        ({"ts": hours(0, 2, 1)}, "ts must be in increasing order"),
    ],
)
def test_bad_curve_input_names_the_argument(kwargs: dict, message: str) -> None:
    args = {"equity": [100.0, 101.0, 102.0], "capital": 100.0, "periods_per_year": 8760}
    args.update(kwargs)
    equity, capital = args.pop("equity"), args.pop("capital")
    with pytest.raises(ValueError, match=message):
        performance(equity, capital, None, **args)


def test_bad_fills_name_the_column() -> None:
    good = fills_frame(("BTC/USDT", 0, "buy", 1.0, 100.0, 0.1))
    with pytest.raises(ValueError, match="fills lacks the column"):
        performance([100.0], 100.0, good.drop(columns="fee"), periods_per_year=8760)
    with pytest.raises(ValueError, match=r"fills\['side'\] must be 'buy' or 'sell'"):
        round_trips(good.assign(side="long"))
    with pytest.raises(ValueError, match=r"fills\['amount'\] must be > 0"):
        round_trips(good.assign(amount=-1.0))
    with pytest.raises(ValueError, match=r"fills\['price'\] has 1 NaN"):
        round_trips(good.assign(price=math.nan))
    with pytest.raises(ValueError, match=r"final_marks\['BTC/USDT'\]"):
        round_trips(good, {"BTC/USDT": math.nan})


# --- PSR and DSR ------------------------------------------------------------------------------

# Bailey & López de Prado, "The Deflated Sharpe Ratio" (J. Portfolio Management 40(5), 2014),
# section "A numerical example": N = 100 independent trials, the best has an annualised SR of
# 2.5 on T = 1250 daily returns (5 years x 250 days), the trials' annualised Sharpe ratios have
# variance V = 1/2, the selected returns have skewness -3 and kurtosis 10. Per bar:
# SR = 2.5 / sqrt(250), V = 0.5 / 250. The paper prints E[max SR] ~= 0.1132 and DSR ~= 0.9004.
PAPER_SR = 2.5 / math.sqrt(250)
PAPER_V = 0.5 / 250


def test_expected_max_sharpe_reproduces_the_paper() -> None:
    assert round(expected_max_sharpe(100, PAPER_V), 4) == 0.1132
    assert expected_max_sharpe(1, PAPER_V) == 0.0
    # by hand: (1 - γ) Φ⁻¹(0.99) + γ Φ⁻¹(1 - 1/(100 e)), γ = 0.5772156649
    z = (1 - 0.5772156649) * stats.norm.ppf(0.99) + 0.5772156649 * stats.norm.ppf(
        1 - 1 / (100 * math.e)
    )
    assert expected_max_sharpe(100, 4.0) == pytest.approx(2 * z, rel=1e-9)


def test_deflated_sharpe_reproduces_the_paper_from_its_moments() -> None:
    sr0 = expected_max_sharpe(100, PAPER_V)
    dsr = probabilistic_sharpe_ratio_from_moments(
        PAPER_SR, 1250, skew=-3.0, kurtosis=10.0, sr_benchmark=sr0
    )
    assert round(dsr, 4) == 0.9004


def test_deflated_sharpe_reproduces_the_paper_from_returns() -> None:
    # skewness -3 with kurtosis 10 = 1 + (-3)^2 is a two-point distribution: a rare loss with
    # probability p, 13p^2 - 13p + 1 = 0 -> p = 0.08397, i.e. 105 of 1250 bars (skew -2.9994)
    T = 1250
    loss = np.r_[np.full(105, -1.0), np.zeros(T - 105)]
    returns = PAPER_SR + (loss - loss.mean()) / loss.std(ddof=1)  # mean/std(ddof=1) = PAPER_SR
    u = np.linspace(-1.0, 1.0, 100)
    trial_sharpes = math.sqrt(PAPER_V) * (u - u.mean()) / u.std(ddof=1)  # var (ddof=1) = V
    result = deflated_sharpe_ratio(returns, trial_sharpes)
    assert isinstance(result, DeflatedSharpe)
    assert result.n_trials == 100 and result.observations == 1250
    assert result.sharpe == pytest.approx(PAPER_SR, rel=1e-12)
    assert result.skew == pytest.approx(-3.0, abs=1e-3) and result.kurtosis == pytest.approx(
        10, abs=4e-3
    )
    assert result.variance == pytest.approx(PAPER_V, rel=1e-12)  # above the sampling floor
    assert round(result.sr0, 4) == 0.1132
    assert round(result.dsr, 4) == 0.9004


def test_psr_by_hand_and_against_mlfinlab() -> None:
    # mlfinlab's test_backtest_statistics.py: SR 1.14 vs benchmark 1, T = 250, normal (0, 3)
    # -> 0.95727. By hand: z = 0.14 * sqrt(249) / sqrt(1 + (3 - 1)/4 * 1.14^2) = 1.72005
    assert probabilistic_sharpe_ratio_from_moments(
        1.14, 250, skew=0.0, kurtosis=3.0, sr_benchmark=1.0
    ) == pytest.approx(0.95727, abs=1e-5)
    z = 0.14 * math.sqrt(249) / math.sqrt(1 + 0.5 * 1.14**2)
    assert probabilistic_sharpe_ratio_from_moments(
        1.14, 250, skew=0.0, kurtosis=3.0, sr_benchmark=1.0
    ) == pytest.approx(stats.norm.cdf(z), rel=1e-12)


def test_psr_from_returns_uses_their_moments() -> None:
    returns = np.random.default_rng(7).standard_t(5, 500) * 0.01 + 0.001
    sr = returns.mean() / returns.std(ddof=1)
    g3, g4 = stats.skew(returns), stats.kurtosis(returns, fisher=False)
    expected = stats.norm.cdf(
        (sr - 0.02) * math.sqrt(499) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2)
    )
    assert probabilistic_sharpe_ratio(returns, 0.02) == pytest.approx(expected, rel=1e-12)
    assert math.isnan(probabilistic_sharpe_ratio([0.01, 0.01, 0.01]))  # no variance


def test_few_similar_trials_cannot_lower_the_bar_below_chance() -> None:
    returns = np.random.default_rng(3).normal(0.001, 0.01, 1000)
    result = deflated_sharpe_ratio(returns, [0.050, 0.051, 0.052])  # sample variance 1e-6
    sr, g3, g4 = result.sharpe, result.skew, result.kurtosis
    floor = (1 - g3 * sr + (g4 - 1) / 4 * sr**2) / 999  # ~1e-3, the sampling variance
    assert result.variance == pytest.approx(floor, rel=1e-12)
    assert result.sr0 == pytest.approx(expected_max_sharpe(3, floor), rel=1e-12)
    assert result.dsr < probabilistic_sharpe_ratio(returns, 0.0)
    single = deflated_sharpe_ratio(returns, [result.sharpe])
    assert single.sr0 == 0.0 and single.dsr == pytest.approx(probabilistic_sharpe_ratio(returns))


def test_dsr_bad_input() -> None:
    with pytest.raises(ValueError, match="trial_sharpes is empty"):
        deflated_sharpe_ratio([0.01, 0.02, -0.01], [])
    with pytest.raises(ValueError, match="returns has 1 NaN"):
        deflated_sharpe_ratio([0.01, math.nan, -0.01], [0.1])
    with pytest.raises(ValueError, match="n_trials must be >= 1"):
        expected_max_sharpe(0, 1.0)
    with pytest.raises(ValueError, match="returns needs at least 2"):
        probabilistic_sharpe_ratio([0.01])
