"""Forecast and strategy metrics against hand-computed examples and scikit-learn / scipy."""

from __future__ import annotations

import math
import statistics
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import (
    accuracy_score,
    mean_absolute_error,
    precision_score,
    root_mean_squared_error,
)

from models.metrics import (
    ROADMAP_TARGETS,
    against_targets,
    equity_curve,
    forecast_metrics,
    periods_per_year,
    strategy_metrics,
)

FEE = 0.001
KEEP = 1 - FEE  # equity kept after paying one fee


# --- forecast_metrics -------------------------------------------------------------------------


def test_forecast_metrics_hand_example() -> None:
    actual = np.array([0.02, -0.01, 0.0, 0.03, -0.02])
    pred = np.array([0.01, 0.01, -0.005, 0.0, -0.01])
    prob = np.array([0.7, 0.6, 0.4, 0.55, 0.3])
    m = forecast_metrics(actual, pred, prob)
    # called up (prob > 0.5): T T F T F; went up (actual > 0, zero is not up): T F F T F
    # agreement: T F T T T -> 4/5
    assert m["directional_accuracy"] == pytest.approx(0.8)
    # called-up rows 0, 1, 3 went up T F T -> 2/3; called-down rows 2, 4 not up T T -> 1
    assert m["up_accuracy"] == pytest.approx(2 / 3)
    assert m["down_accuracy"] == pytest.approx(1.0)
    # pred != 0 on rows 0, 1, 2, 4: signs (+ + - -) vs actual (+ - 0 -) -> hits T F F T -> 1/2
    assert m["hit_rate"] == pytest.approx(0.5)
    # errors: -0.01, 0.02, -0.005, -0.03, 0.01 -> |e| sum 0.075 -> mae 0.015
    assert m["mae"] == pytest.approx(0.015)
    # e^2: 1e-4 + 4e-4 + 2.5e-5 + 9e-4 + 1e-4 = 1.525e-3 -> mean 3.05e-4 -> rmse sqrt(3.05e-4)
    assert m["rmse"] == pytest.approx(math.sqrt(3.05e-4))
    # ranks pred [4.5, 4.5, 2, 3, 1], actual [4, 2, 3, 5, 1]; centred [1.5, 1.5, -1, 0, -2] and
    # [1, -1, 0, 2, -2]: cov sum 1.5 - 1.5 + 0 + 0 + 4 = 4; ss 9.5 and 10 -> ic = 4 / sqrt(95)
    assert m["ic"] == pytest.approx(4 / math.sqrt(95))
    assert m["n"] == 5
    assert m["up_calls"] == pytest.approx(0.6)


def test_forecast_metrics_match_sklearn_and_scipy() -> None:
    rng = np.random.default_rng(3)
    actual = rng.normal(0, 0.01, 500)
    actual[::50] = 0.0  # some zero returns: "not up"
    pred = 0.5 * actual + rng.normal(0, 0.004, 500)
    prob = 1 / (1 + np.exp(-pred * 200))
    m = forecast_metrics(pd.Series(actual), pd.Series(pred), pd.Series(prob))
    went_up, called_up = actual > 0, prob > 0.5
    assert m["directional_accuracy"] == pytest.approx(accuracy_score(went_up, called_up))
    assert m["up_accuracy"] == pytest.approx(precision_score(went_up, called_up))
    assert m["down_accuracy"] == pytest.approx(precision_score(went_up, called_up, pos_label=False))
    assert m["mae"] == pytest.approx(mean_absolute_error(actual, pred))
    assert m["rmse"] == pytest.approx(root_mean_squared_error(actual, pred))
    assert m["ic"] == pytest.approx(spearmanr(pred, actual).statistic)
    assert 0.5 < m["ic"] < 0.9  # the forecast is informative by construction
    assert m["n"] == 500


def test_forecast_metrics_degenerate_cases_without_warnings() -> None:
    actual = np.array([0.01, -0.02, 0.03])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = forecast_metrics(actual, np.zeros(3), np.full(3, 0.5))
    assert math.isnan(m["ic"])  # constant prediction
    assert math.isnan(m["hit_rate"])  # no non-zero prediction
    assert math.isnan(m["up_accuracy"])  # nothing called up (0.5 is not > 0.5)
    # all called down; only -0.02 did not go up -> 1/3
    assert m["down_accuracy"] == pytest.approx(1 / 3)
    assert m["directional_accuracy"] == pytest.approx(1 / 3)
    assert m["up_calls"] == 0.0


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (([0.1, 0.2], [0.1], [0.6, 0.4]), "pred_return has 1 rows but actual_return has 2"),
        (([], [], []), "actual_return is empty"),
        (([0.1, np.nan], [0.1, 0.2], [0.6, 0.4]), "actual_return contains 1 NaN"),
        (([0.1, 0.2], [0.1, 0.2], [0.6, None]), "prob_up contains 1 NaN"),
    ],
)
def test_forecast_metrics_validation(args, pattern) -> None:
    with pytest.raises(ValueError, match=pattern):
        forecast_metrics(*args)


# --- strategy ---------------------------------------------------------------------------------


def test_periods_per_year() -> None:
    assert periods_per_year(3600) == 8760
    assert periods_per_year(86400) == 365
    assert periods_per_year(300) == 105120
    with pytest.raises(ValueError, match="timeframe_seconds"):
        periods_per_year(0)


def hand_example() -> tuple[np.ndarray, np.ndarray, list[float]]:
    gross = [1.10, 0.95, 1.02, 0.90, 1.05, 1.05]
    go_long = np.array([True, True, False, True, False, True])
    # row 0: enter (fee), +10%       -> 1.10 * 0.999                   = 1.0989
    # row 1: hold, -5%               -> 1.0989 * 0.95                  = 1.043955
    # row 2: exit (fee), flat        -> 1.043955 * 0.999               = 1.042911045
    # row 3: enter (fee), -10%       -> 1.042911045 * 0.90 * 0.999     = 0.93768132...
    # row 4: exit (fee), flat        -> 0.93768132 * 0.999             = 0.93674364...
    # row 5: enter (fee), +5%, still open at the end: exit fee too
    #                                -> 0.93674364 * 1.05 * 0.999**2   = 0.98161464...
    eq = [1.10 * KEEP]
    eq.append(eq[-1] * 0.95)
    eq.append(eq[-1] * KEEP)
    eq.append(eq[-1] * 0.90 * KEEP)
    eq.append(eq[-1] * KEEP)
    eq.append(eq[-1] * 1.05 * KEEP * KEEP)
    return np.log(gross), go_long, eq


def test_equity_curve_hand_example() -> None:
    r, go_long, expected = hand_example()
    curve = equity_curve(r, go_long, fee=FEE)
    assert curve == pytest.approx(expected, rel=1e-12)
    assert curve[0] == pytest.approx(1.0989)
    assert curve[2] == pytest.approx(1.042911045)
    assert curve[-1] == pytest.approx(0.981614643, rel=1e-8)


def test_strategy_metrics_hand_example() -> None:
    r, go_long, eq = hand_example()
    m = strategy_metrics(r, go_long, fee=FEE, periods_per_year=8760)
    assert m["total_return"] == pytest.approx(eq[-1] - 1)
    bar = [eq[0] - 1] + [b / a - 1 for a, b in zip(eq, eq[1:], strict=False)]
    assert m["sharpe"] == pytest.approx(statistics.mean(bar) / statistics.stdev(bar) * 8760**0.5)
    # peak 1.0989 after row 0, trough 0.93674364 after row 4
    assert m["max_drawdown"] == pytest.approx(1 - eq[4] / eq[0])
    assert m["max_drawdown"] == pytest.approx(1 - 0.936743639 / 1.0989, rel=1e-8)
    # trades: 1.10*0.95*0.999^2 - 1 = +0.042911045, 0.90*0.999^2 - 1 = -0.1017991,
    #         1.05*0.999^2 - 1 = +0.04790105
    assert m["trades"] == 3
    assert m["win_rate"] == pytest.approx(2 / 3)
    assert m["profit_factor"] == pytest.approx((0.042911045 + 0.04790105) / 0.1017991)
    assert m["exposure"] == pytest.approx(4 / 6)


def test_always_flat() -> None:
    r = np.log([1.1, 0.8, 1.3, 0.9])
    m = strategy_metrics(r, np.zeros(4, bool), periods_per_year=365)
    assert m["total_return"] == 0.0
    assert m["trades"] == 0
    assert m["exposure"] == 0.0
    assert m["max_drawdown"] == 0.0
    assert math.isnan(m["sharpe"]) and math.isnan(m["win_rate"])
    assert math.isnan(m["profit_factor"])
    assert (equity_curve(r, np.zeros(4, bool)) == 1.0).all()


def test_always_long_is_buy_and_hold_minus_two_fees() -> None:
    r = np.random.default_rng(1).normal(0.0005, 0.02, 300)
    m = strategy_metrics(r, np.ones(300, bool), fee=FEE, periods_per_year=8760)
    assert m["total_return"] == pytest.approx(math.exp(r.sum()) * KEEP**2 - 1, rel=1e-10)
    assert m["trades"] == 1
    assert m["exposure"] == 1.0
    assert m["win_rate"] == float(math.exp(r.sum()) * KEEP**2 > 1)


def test_max_drawdown_of_known_paths() -> None:
    # fee 0, always long: equity 1.1, 0.55, 0.66, 1.32, 0.33; drawdowns vs peaks 1.1 and 1.32:
    # 0, 0.5, 0.4, 0, 0.75 -> 0.75
    r = np.log([1.1, 0.5, 1.2, 2.0, 0.25])
    m = strategy_metrics(r, np.ones(5, bool), fee=0.0, periods_per_year=365)
    assert m["max_drawdown"] == pytest.approx(0.75)
    # a path that only falls is measured from the starting equity 1: 0.9 * 0.8 = 0.72 -> 0.28
    m = strategy_metrics(np.log([0.9, 0.8]), [True, True], fee=0.0, periods_per_year=365)
    assert m["max_drawdown"] == pytest.approx(0.28)


def test_win_rate_and_profit_factor_of_known_trades() -> None:
    # fee 0; trades: row 0 (+10%), row 2 (-5%), rows 4-5 (1.2 * 0.9 - 1 = +8%)
    r = np.log([1.10, 3.0, 0.95, 0.5, 1.2, 0.9, 2.0])
    go_long = [True, False, True, False, True, True, False]
    m = strategy_metrics(r, go_long, fee=0.0, periods_per_year=365)
    assert m["trades"] == 3
    assert m["win_rate"] == pytest.approx(2 / 3)
    assert m["profit_factor"] == pytest.approx((0.10 + 0.08) / 0.05)  # 3.6
    assert m["exposure"] == pytest.approx(4 / 7)
    # only a winning trade: inf; only losing: 0
    m = strategy_metrics(np.log([1.1, 1.0]), [True, False], fee=0.0, periods_per_year=365)
    assert m["profit_factor"] == math.inf and m["win_rate"] == 1.0
    m = strategy_metrics(np.log([0.9, 1.0]), [True, False], fee=0.0, periods_per_year=365)
    assert m["profit_factor"] == 0.0 and m["win_rate"] == 0.0


def test_fees_can_turn_a_flat_trade_into_a_loss() -> None:
    # +0.1% gross, two fees of 0.1%: 1.001 * 0.999^2 - 1 = -0.000998999 < 0
    m = strategy_metrics(np.log([1.001, 1.0]), [True, False], fee=FEE, periods_per_year=365)
    assert m["win_rate"] == 0.0
    assert m["total_return"] == pytest.approx(1.001 * KEEP**2 - 1)


@pytest.mark.parametrize(
    ("r", "go_long", "pattern"),
    [
        ([0.1, np.nan], [True, False], "next_return contains 1 NaN"),
        ([0.1, 0.2], [True], "go_long has 1 rows but next_return has 2"),
        ([], [], "next_return is empty"),
        ([0.1, 0.2], [0.5, 1.0], "go_long must be boolean"),
    ],
)
def test_strategy_validation(r, go_long, pattern) -> None:
    with pytest.raises(ValueError, match=pattern):
        strategy_metrics(r, go_long, periods_per_year=365)


# --- roadmap targets --------------------------------------------------------------------------


def test_roadmap_targets_are_fixed_and_ordered() -> None:
    assert list(ROADMAP_TARGETS) == [
        "directional_accuracy",
        "sharpe",
        "max_drawdown",
        "win_rate",
        "profit_factor",
    ]
    assert [(t.comparison, t.threshold) for t in ROADMAP_TARGETS.values()] == [
        (">", 0.65),
        (">", 1.5),
        ("<", 0.15),
        (">", 0.55),
        (">", 1.3),
    ]
    with pytest.raises(TypeError):
        ROADMAP_TARGETS["sharpe"] = None  # type: ignore[index]


def test_against_targets() -> None:
    rows = against_targets(
        {
            "directional_accuracy": 0.66,
            "sharpe": 1.5,  # equal is not better: targets are strict
            "max_drawdown": 0.10,
            "win_rate": math.nan,
            "profit_factor": math.inf,
        }
    )
    assert [r["metric"] for r in rows] == list(ROADMAP_TARGETS)
    assert [r["target"] for r in rows] == ["> 65%", "> 1.5", "< 15%", "> 55%", "> 1.3"]
    assert [r["met"] for r in rows] == [True, False, True, False, True]
    assert rows[0]["measured"] == 0.66
    rows = against_targets({"max_drawdown": 0.2, "sharpe": 2.0})
    assert [r["met"] for r in rows] == [False, True, False, False, False]
    assert math.isnan(rows[0]["measured"])
