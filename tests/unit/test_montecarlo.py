"""Monte Carlo of a backtest: reproducibility, what each method keeps, the bootstrap's blocks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from matplotlib.figure import Figure

from cryptobot.backtest.montecarlo import (
    METRICS,
    MonteCarloResult,
    figure,
    monte_carlo,
    stationary_bootstrap_indices,
)

PPY = 8760


@pytest.fixture(scope="module")
def returns() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    return rng.normal(0.0002, 0.004, 3000), rng.normal(0.003, 0.03, 120)


@pytest.fixture(scope="module")
def result(returns) -> MonteCarloResult:
    bars, trades = returns
    return monte_carlo(
        bars, trades, paths=300, seed=5, max_drawdown_limit=0.1, periods_per_year=PPY
    )


def arrays(result: MonteCarloResult) -> list[np.ndarray]:
    out = []
    for method in result.methods():
        out += [method.values(metric) for metric in METRICS] + [method.example]
    return out


def test_same_seed_same_result_other_seed_other_result(returns, result) -> None:
    bars, trades = returns
    again = monte_carlo(
        bars, trades, paths=300, seed=5, max_drawdown_limit=0.1, periods_per_year=PPY
    )
    for a, b in zip(arrays(result), arrays(again), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_equal(again.summary(), result.summary())  # NaN == NaN here
    other = monte_carlo(
        bars, trades, paths=300, seed=6, max_drawdown_limit=0.1, periods_per_year=PPY
    )
    assert not np.array_equal(other.permutation.max_drawdown, result.permutation.max_drawdown)
    assert not np.array_equal(other.bootstrap.final_return, result.bootstrap.final_return)


def test_permutation_keeps_the_final_return_and_changes_drawdowns(returns, result) -> None:
    _, trades = returns
    perm = result.permutation
    final = np.prod(1 + trades) - 1
    assert perm.original["final_return"] == pytest.approx(final, rel=1e-12)
    np.testing.assert_allclose(perm.final_return, final, rtol=1e-10)
    per_trade_sharpe = trades.mean() / trades.std(ddof=1)
    np.testing.assert_allclose(perm.sharpe, per_trade_sharpe, rtol=1e-10)
    assert np.unique(perm.max_drawdown).size > 250  # nearly every order has its own drawdown
    assert perm.max_drawdown.min() < perm.original["max_drawdown"] < perm.max_drawdown.max()
    # the example path is a permutation of the trades
    np.testing.assert_array_equal(np.sort(perm.example), np.sort(trades))
    assert not np.array_equal(perm.example, trades)


def test_bootstrap_paths_are_drawn_from_the_input(returns, result) -> None:
    bars, _ = returns
    boot = result.bootstrap
    assert boot.example.shape == bars.shape  # the original length
    assert np.isin(boot.example, bars).all()  # every value is one of the input's
    assert not np.array_equal(boot.example, bars)
    assert boot.final_return[0] == pytest.approx(np.prod(1 + boot.example) - 1, rel=1e-12)
    assert result.block == round(3000 ** (1 / 3))  # default: 14
    assert boot.original["sharpe"] == pytest.approx(
        bars.mean() / bars.std(ddof=1) * math.sqrt(PPY), rel=1e-12
    )


def test_bootstrap_mean_block_length_is_near_block() -> None:
    n, paths, block = 5000, 40, 10.0
    index = stationary_bootstrap_indices(n, paths, block, np.random.default_rng(2))
    assert index.shape == (paths, n) and index.min() >= 0 and index.max() < n
    continues = index[:, 1:] == (index[:, :-1] + 1) % n  # wrap-around continues a block
    blocks = paths + int((~continues).sum())
    # about 20,000 blocks of geometric length (sd 9.5): the mean's standard error is ~0.07,
    # so +-0.5 is over 7 standard errors (and the seed is fixed)
    assert n * paths / blocks == pytest.approx(block, abs=0.5)
    # one block of a very long mean length is a rotation of the series (it wraps around)
    rotation = stationary_bootstrap_indices(10, 50, 1e12, np.random.default_rng(3))
    np.testing.assert_array_equal(
        (rotation - rotation[:, :1]) % 10, np.tile(np.arange(10), (50, 1))
    )
    assert np.unique(rotation[:, 0]).size > 5  # random starts


def test_prob_breach_on_a_hand_made_case() -> None:
    # trades -10%, -10%, +50%: with the +50% first (1.5, 1.35, 1.215) or last (0.9, 0.81,
    # 1.215) the drawdown is 1 - 1.215/1.5 = 1 - 0.81 = 19%; in the middle (0.9, 1.35, 1.215)
    # it is 10%. A 15% limit is reached by 2 of the 3 distinct orders.
    result = monte_carlo(
        [0.01, -0.02, 0.015],
        [-0.1, -0.1, 0.5],
        paths=3000,
        seed=1,
        max_drawdown_limit=0.15,
        periods_per_year=PPY,
    )
    perm = result.permutation
    drawdowns = np.round(perm.max_drawdown, 12)
    assert set(np.unique(drawdowns)) == {0.1, 0.19}
    assert perm.prob_breach == np.mean(drawdowns >= 0.15)
    assert perm.prob_breach == pytest.approx(2 / 3, abs=0.05)  # binomial sd 0.009
    row = next(
        r
        for r in result.summary()
        if r["method"] == "trade_permutation" and r["metric"] == "max_drawdown"
    )
    assert row["prob_breach"] == perm.prob_breach
    assert row["original"] == pytest.approx(0.19)  # -10%, -10%, +50% as traded
    assert len(figure(result).axes) == 6  # final return and Sharpe are one value on every path


def test_summary_rows(result) -> None:
    rows = result.summary()
    assert [(r["method"], r["metric"]) for r in rows] == [
        (m, metric) for m in ("trade_permutation", "stationary_bootstrap") for metric in METRICS
    ]
    for row in rows:
        assert row["p5"] <= row["p25"] <= row["p50"] <= row["p75"] <= row["p95"]
        breach = row["prob_breach"]
        assert (0 <= breach <= 1) if row["metric"] == "max_drawdown" else math.isnan(breach)
    drawdown = rows[4]  # stationary_bootstrap, max_drawdown
    values = result.bootstrap.max_drawdown
    assert drawdown["p50"] == pytest.approx(np.median(values))
    assert drawdown["mean"] == pytest.approx(values.mean())
    assert drawdown["prob_breach"] == pytest.approx(np.mean(values >= 0.1))


def test_figure_has_six_axes_with_the_original_and_the_limit(result) -> None:
    fig = figure(result)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 6
    drawdown_axes = fig.axes[1]  # top row: trade permutation; middle column: max drawdown
    xs = sorted(line.get_xdata()[0] for line in drawdown_axes.get_lines())
    assert xs == sorted([result.permutation.original["max_drawdown"], 0.1])
    assert len(drawdown_axes.patches) > 0  # the histogram's bars


def test_without_trades_only_the_bootstrap_runs(returns) -> None:
    bars, _ = returns
    result = monte_carlo(bars, None, paths=20, periods_per_year=PPY)
    assert result.permutation is None
    assert {r["method"] for r in result.summary()} == {"stationary_bootstrap"}
    assert len(figure(result).axes) == 6


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bar_returns": []}, "bar_returns is empty"),
        ({"trade_returns": []}, "trade_returns is empty"),
        ({"bar_returns": [0.01, math.nan]}, "bar_returns has 1 NaN"),
        ({"trade_returns": [0.01, math.inf]}, "trade_returns has 1 NaN or infinite"),
        ({"trade_returns": [0.01, -1.0]}, "trade_returns must be > -1"),
        ({"paths": 0}, "paths must be a whole number >= 1"),
        ({"paths": 2.5}, "paths must be a whole number >= 1"),
        ({"block": 0.5}, "block"),
        ({"seed": -1}, "seed must be a whole number >= 0"),
        ({"max_drawdown_limit": 1.5}, "max_drawdown_limit"),
        ({"periods_per_year": 0}, "periods_per_year"),
    ],
)
def test_bad_input_names_the_argument(kwargs: dict, message: str) -> None:
    args = {
        "bar_returns": [0.01, -0.01, 0.02],
        "trade_returns": [0.05, -0.02],
        "paths": 10,
        "periods_per_year": PPY,
    }
    args.update(kwargs)
    bars, trades = args.pop("bar_returns"), args.pop("trade_returns")
    with pytest.raises(ValueError, match=message):
        monte_carlo(bars, trades, **args)


def test_a_single_trade_has_no_sharpe_and_still_draws(returns) -> None:
    bars, _ = returns
    result = monte_carlo(bars[:50], [0.05], paths=10, periods_per_year=PPY)
    sharpe = next(
        r
        for r in result.summary()
        if r["method"] == "trade_permutation" and r["metric"] == "sharpe"
    )
    assert math.isnan(sharpe["original"]) and math.isnan(sharpe["p50"])
    np.testing.assert_allclose(result.permutation.final_return, 0.05)
    assert len(figure(result).axes) == 6
