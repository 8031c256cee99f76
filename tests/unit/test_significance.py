"""Binomial and Diebold-Mariano tests against hand computations, and DM's size under the null."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from models.significance import (
    DieboldMariano,
    binomial_test,
    bonferroni,
    diebold_mariano,
    direction_error,
    squared_error,
)


def t3_sf(t: float) -> float:
    """Student-t survival function, 3 degrees of freedom, closed form."""
    x = t / math.sqrt(3)
    return 0.5 - (x / (1 + x * x) + math.atan(x)) / math.pi


def t4_sf(t: float) -> float:
    """Student-t survival function, 4 degrees of freedom, closed form."""
    u = t * t / (4 + t * t)  # t^2 / 4 / (1 + t^2 / 4)
    return 0.5 - 0.75 * math.sqrt(u) * (1 - u / 3) * (1 if t >= 0 else -1)


def test_closed_forms_agree_with_scipy() -> None:  # guards the helpers used below
    for t in (-1.3, 0.0, 0.7, 2.5):
        assert t3_sf(t) == pytest.approx(stats.t.sf(t, 3), abs=1e-12)
        assert t4_sf(t) == pytest.approx(stats.t.sf(t, 4), abs=1e-12)


# --- binomial ---------------------------------------------------------------------------------


def test_binomial_test_hand_computed() -> None:
    # P(X >= 7 | n=10, p=0.5) = (C(10,7) + C(10,8) + C(10,9) + C(10,10)) / 2^10
    #                         = (120 + 45 + 10 + 1) / 1024 = 176 / 1024 = 0.171875
    assert binomial_test(7, 10) == pytest.approx(0.171875, rel=1e-12)
    # P(X >= 3 | n=4, p=0.3) = 4 * 0.3^3 * 0.7 + 0.3^4 = 0.0756 + 0.0081 = 0.0837
    assert binomial_test(3, 4, p=0.3) == pytest.approx(0.0837, rel=1e-12)
    expected = sum(math.comb(20, k) * 0.6**k * 0.4 ** (20 - k) for k in range(15, 21))
    assert binomial_test(15, 20, p=0.6) == pytest.approx(expected, rel=1e-10)
    assert binomial_test(0, 10) == pytest.approx(1.0)


def test_binomial_test_validation() -> None:
    with pytest.raises(ValueError, match="trials"):
        binomial_test(0, 0)
    with pytest.raises(ValueError, match="successes"):
        binomial_test(11, 10)
    with pytest.raises(ValueError, match="p must be"):
        binomial_test(5, 10, p=1.0)


# --- Diebold-Mariano --------------------------------------------------------------------------


def test_dm_hand_computed_h1() -> None:
    model = np.array([1.0, 2.0, 1.0, 2.0])
    baseline = np.array([2.0, 3.0, 3.0, 2.0])
    # d = baseline - model = [1, 1, 2, 0], mean 1, centred [0, 0, 1, -1]
    # gamma_0 = (0 + 0 + 1 + 1) / 4 = 0.5 -> DM = 1 / sqrt(0.5 / 4) = sqrt(8)
    # HLN, h=1, n=4: sqrt((4 + 1 - 2 + 0) / 4) = sqrt(3/4) -> statistic sqrt(8 * 3/4) = sqrt(6)
    result = diebold_mariano(model, baseline)
    assert result.statistic == pytest.approx(math.sqrt(6), rel=1e-12)
    assert result.p_value == pytest.approx(t3_sf(math.sqrt(6)), rel=1e-10)  # ~0.04586
    assert result.p_value == pytest.approx(0.045861, abs=1e-6)
    assert result.mean_loss_difference == pytest.approx(1.0)
    assert result.n == 4


def test_dm_hand_computed_h2() -> None:
    d = np.array([1.0, 1.0, 3.0, 3.0, 2.0])
    model = np.ones(5)
    baseline = model + d
    # mean 2, centred [-1, -1, 1, 1, 0]
    # gamma_0 = 4 / 5 = 0.8; gamma_1 = ((-1)(-1) + (1)(-1) + (1)(1) + (0)(1)) / 5 = 1/5 = 0.2
    # var = 0.8 + 2 * 0.2 = 1.2 -> DM = 2 / sqrt(1.2 / 5) = 2 / sqrt(0.24)
    # HLN, h=2, n=5: (5 + 1 - 4 + 2*1/5) / 5 = 0.48 -> statistic 2 * sqrt(0.48 / 0.24) = 2*sqrt(2)
    result = diebold_mariano(model, baseline, horizon=2)
    assert result.statistic == pytest.approx(2 * math.sqrt(2), rel=1e-12)
    assert result.p_value == pytest.approx(t4_sf(2 * math.sqrt(2)), rel=1e-10)  # ~0.02371
    assert result.p_value == pytest.approx(0.023710, abs=1e-6)


def test_dm_falls_back_to_gamma0_when_long_run_variance_is_not_positive() -> None:
    d = np.array([2.0, 0.0, 1.0, 3.0, -1.0])
    # mean 1, centred [1, -1, 0, 2, -2]; gamma_0 = 10/5 = 2;
    # gamma_1 = ((-1)(1) + 0 + 0 + (-2)(2)) / 5 = -1 -> 2 + 2 * (-1) = 0 -> use gamma_0 = 2
    # DM = 1 / sqrt(2 / 5); HLN factor sqrt(0.48) -> statistic sqrt(2.5 * 0.48) = sqrt(1.2)
    result = diebold_mariano(np.zeros(5), d, horizon=2)
    assert result.statistic == pytest.approx(math.sqrt(1.2), rel=1e-12)
    assert result.p_value == pytest.approx(t4_sf(math.sqrt(1.2)), rel=1e-10)


def test_dm_sign_convention() -> None:
    rng = np.random.default_rng(0)
    base = rng.exponential(1.0, 300)
    better = base * 0.7  # the model's losses are lower
    good = diebold_mariano(better, base)
    assert good.statistic > 3 and good.p_value < 0.01
    assert good.mean_loss_difference > 0
    bad = diebold_mariano(base, better)
    assert bad.statistic == pytest.approx(-good.statistic)
    assert bad.p_value > 0.99


def test_dm_identical_losses() -> None:
    losses = np.array([0.3, 0.1, 0.5, 0.2])
    assert diebold_mariano(losses, losses.copy()) == DieboldMariano(0.0, 1.0, 0.0, 4)
    assert diebold_mariano(losses, losses, horizon=3).p_value == 1.0


def test_dm_constant_difference() -> None:
    result = diebold_mariano(np.zeros(5), np.ones(5))
    assert result.statistic == math.inf and result.p_value == 0.0
    result = diebold_mariano(np.ones(5), np.zeros(5))
    assert result.statistic == -math.inf and result.p_value == 1.0


def test_dm_size_under_the_null() -> None:
    rng = np.random.default_rng(20240601)
    rejections = 0
    for _ in range(200):
        model = rng.standard_normal(250) ** 2  # iid squared errors, equal means
        baseline = rng.standard_normal(250) ** 2
        rejections += diebold_mariano(model, baseline).p_value < 0.05
    assert 0.01 <= rejections / 200 <= 0.10


@pytest.mark.parametrize(
    ("args", "kwargs", "pattern"),
    [
        (([1.0, 2.0], [1.0]), {}, "loss_baseline has 1 rows but loss_model has 2"),
        (([1.0, np.nan], [1.0, 2.0]), {}, "loss_model contains 1 NaN"),
        (([], []), {}, "loss_model is empty"),
        (([1.0], [2.0]), {}, "at least 2 rows"),
        (([1.0, 2.0, 3.0], [2.0, 2.0, 2.0]), {"horizon": 0}, "horizon must be an integer >= 1"),
        (([1.0, 2.0, 3.0], [2.0, 2.0, 2.0]), {"horizon": 3}, "horizon must be smaller"),
    ],
)
def test_dm_validation(args, kwargs, pattern) -> None:
    with pytest.raises(ValueError, match=pattern):
        diebold_mariano(*args, **kwargs)


# --- helpers ----------------------------------------------------------------------------------


def test_bonferroni() -> None:
    assert bonferroni(0.05, 5) == pytest.approx(0.01)
    assert bonferroni(0.05, 1) == 0.05
    with pytest.raises(ValueError, match="tests"):
        bonferroni(0.05, 0)
    with pytest.raises(ValueError, match="alpha"):
        bonferroni(1.5, 3)


def test_loss_helpers() -> None:
    assert squared_error([1.0, 2.0, -1.0], [1.5, 0.0, -1.0]).tolist() == [0.25, 4.0, 0.0]
    # calls up/up/down/down vs moves up/down(0 is not up)/down/up -> errors 0, 1, 0, 1
    err = direction_error([0.02, 0.0, -0.01, 0.03], [0.8, 0.51, 0.5, 0.2])
    assert err.tolist() == [0.0, 1.0, 0.0, 1.0]
    with pytest.raises(ValueError, match="prob_up has 1 rows but actual_return has 2"):
        direction_error([0.1, 0.2], [0.6])
