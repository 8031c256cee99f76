"""Forecast metrics against hand-computed examples and scikit-learn / scipy (what trading the
forecasts earns is the execution core's backtest: tests/unit/test_backtest_metrics.py)."""

from __future__ import annotations

import math
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

from models.metrics import ROADMAP_TARGETS, against_targets, forecast_metrics

# --- forecast_metrics -------------------------------------------------------------------------


def test_forecast_metrics_hand_example() -> None:
    actual = np.array([0.02, -0.01, 0.0, 0.03, -0.02])
    pred = np.array([0.01, 0.01, -0.005, 0.0, -0.01])
    prob = np.array([0.7, 0.6, 0.4, 0.55, 0.3])
    m = forecast_metrics(actual, pred, prob)
    # row 2 did not move (a zero return is neither up nor down): scored on rows 0, 1, 3, 4
    # called up: T T T F; went up: T F T F; agreement T F T T -> 3/4
    assert m["directional_accuracy"] == pytest.approx(0.75)
    assert m["moved"] == 4 and m["up_share"] == pytest.approx(0.5)
    assert m["zero_share"] == pytest.approx(0.2)
    # called-up rows that moved 0, 1, 3 went up T F T -> 2/3; called-down row 4 went down -> 1
    assert m["up_accuracy"] == pytest.approx(2 / 3)
    assert m["down_accuracy"] == pytest.approx(1.0)
    # moved and pred != 0: rows 0, 1, 4: signs (+ + -) vs actual (+ - -) -> hits T F T -> 2/3
    assert m["hit_rate"] == pytest.approx(2 / 3)
    # errors: -0.01, 0.02, -0.005, -0.03, 0.01 -> |e| sum 0.075 -> mae 0.015 (every row)
    assert m["mae"] == pytest.approx(0.015)
    # e^2: 1e-4 + 4e-4 + 2.5e-5 + 9e-4 + 1e-4 = 1.525e-3 -> mean 3.05e-4 -> rmse sqrt(3.05e-4)
    assert m["rmse"] == pytest.approx(math.sqrt(3.05e-4))
    # ranks pred [4.5, 4.5, 2, 3, 1], actual [4, 2, 3, 5, 1]; centred [1.5, 1.5, -1, 0, -2] and
    # [1, -1, 0, 2, -2]: cov sum 1.5 - 1.5 + 0 + 0 + 4 = 4; ss 9.5 and 10 -> ic = 4 / sqrt(95)
    assert m["ic"] == pytest.approx(4 / math.sqrt(95))
    assert m["n"] == 5
    assert m["up_calls"] == pytest.approx(0.6)


def test_zero_returns_do_not_flatter_a_model_that_calls_down() -> None:
    """On tick-sized prices many bars do not move; counted as "down" they made calling down
    look like an edge (56-58% for a constant forecast on real 5m candles)."""
    actual = np.array([0.0] * 6 + [0.01, -0.01, 0.01, -0.01])
    always_down = forecast_metrics(actual, np.zeros(10), np.full(10, 0.4))
    assert always_down["directional_accuracy"] == pytest.approx(0.5)  # 2 of the 4 that moved
    assert always_down["zero_share"] == pytest.approx(0.6)
    nothing_moved = forecast_metrics(np.zeros(3), np.zeros(3), np.full(3, 0.4))
    assert math.isnan(nothing_moved["directional_accuracy"]) and nothing_moved["moved"] == 0


def test_forecast_metrics_match_sklearn_and_scipy() -> None:
    rng = np.random.default_rng(3)
    actual = rng.normal(0, 0.01, 500)
    actual[::50] = 0.0  # some zero returns: neither up nor down, left out of the direction scores
    pred = 0.5 * actual + rng.normal(0, 0.004, 500)
    prob = 1 / (1 + np.exp(-pred * 200))
    m = forecast_metrics(pd.Series(actual), pd.Series(pred), pd.Series(prob))
    moved = actual != 0
    went_up, called_up = actual[moved] > 0, prob[moved] > 0.5
    assert m["directional_accuracy"] == pytest.approx(accuracy_score(went_up, called_up))
    assert m["up_accuracy"] == pytest.approx(precision_score(went_up, called_up))
    assert m["down_accuracy"] == pytest.approx(precision_score(went_up, called_up, pos_label=False))
    assert m["mae"] == pytest.approx(mean_absolute_error(actual, pred))
    assert m["rmse"] == pytest.approx(root_mean_squared_error(actual, pred))
    assert m["ic"] == pytest.approx(spearmanr(pred, actual).statistic)
    assert 0.5 < m["ic"] < 0.9  # the forecast is informative by construction
    assert m["n"] == 500 and m["moved"] == 490


def test_forecast_metrics_degenerate_cases_without_warnings() -> None:
    actual = np.array([0.01, -0.02, 0.03])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = forecast_metrics(actual, np.zeros(3), np.full(3, 0.5))
    assert math.isnan(m["ic"])  # constant prediction
    assert math.isnan(m["hit_rate"])  # no non-zero prediction
    assert math.isnan(m["up_accuracy"])  # nothing called up (0.5 is not > 0.5)
    # all called down; only -0.02 went down -> 1/3
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
