"""Significance tests: is the model better than chance, and better than the baseline?

* :func:`binomial_test`: one-sided exact test that a success rate (e.g. directional accuracy)
  exceeds ``p``.
* :func:`diebold_mariano`: one-sided Diebold-Mariano test (with the Harvey-Leybourne-Newbold
  small-sample correction) that the model's expected loss is lower than the baseline's.
* :func:`bonferroni`: the per-test level when several tests are run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from models.metrics import aligned_arrays

__all__ = [
    "DieboldMariano",
    "binomial_test",
    "bonferroni",
    "diebold_mariano",
    "direction_error",
    "squared_error",
]


def binomial_test(successes: int, trials: int, p: float = 0.5) -> float:
    """One-sided exact p-value of ``successes`` out of ``trials`` under rate ``p``.

    Alternative: the true success rate is greater than ``p``, i.e. ``P(X >= successes)`` for
    ``X ~ Binomial(trials, p)``.
    """
    if trials < 1:
        raise ValueError(f"trials must be >= 1, got {trials!r}")
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must be in [0, trials={trials}], got {successes!r}")
    if not 0 < p < 1:
        raise ValueError(f"p must be in (0, 1), got {p!r}")
    return float(stats.binomtest(int(successes), int(trials), p, alternative="greater").pvalue)


@dataclass(frozen=True)
class DieboldMariano:
    """Result of :func:`diebold_mariano`; positive ``statistic`` means the model is better."""

    statistic: float
    p_value: float
    mean_loss_difference: float  # mean(loss_baseline - loss_model)
    n: int


def diebold_mariano(loss_model, loss_baseline, horizon: int = 1) -> DieboldMariano:
    """One-sided Diebold-Mariano test that the model's expected loss is lower than the baseline's.

    ``d_t = loss_baseline_t - loss_model_t`` (positive when the model is better). The long-run
    variance of ``d`` is the original DM rectangular sum ``gamma_0 + 2 * sum_{k=1}^{h-1} gamma_k``
    of mean-removed autocovariances with ``1/n`` normalisation (``gamma_0`` alone if that sum is
    <= 0). ``DM = mean(d) / sqrt(var / n)``, multiplied by the Harvey-Leybourne-Newbold (1997)
    factor ``sqrt((n + 1 - 2h + h(h-1)/n) / n)``; the p-value is ``1 - t_{n-1}.cdf(statistic)``.

    If ``d`` is identically 0 the result is statistic 0, p-value 1. If ``d`` is a non-zero
    constant (zero variance) the statistic is +/-inf and the p-value 0 or 1.
    """
    model, baseline = aligned_arrays(loss_model=loss_model, loss_baseline=loss_baseline)
    n = model.size
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise ValueError(f"horizon must be an integer >= 1, got {horizon!r}")
    if n < 2:
        raise ValueError(f"loss_model needs at least 2 rows for the test, got {n}")
    if horizon >= n:
        raise ValueError(f"horizon must be smaller than the number of rows ({n}), got {horizon}")

    d = baseline - model
    mean = float(d.mean())
    if not d.any():
        return DieboldMariano(statistic=0.0, p_value=1.0, mean_loss_difference=0.0, n=n)
    centred = d - mean
    gammas = [float(centred[k:] @ centred[: n - k]) / n for k in range(horizon)]
    variance = gammas[0] + 2.0 * sum(gammas[1:])
    if variance <= 0:
        variance = gammas[0]
    if variance <= 0:  # d is a non-zero constant
        statistic = math.copysign(math.inf, mean)
        return DieboldMariano(statistic, 0.0 if mean > 0 else 1.0, mean, n)
    dm = mean / math.sqrt(variance / n)
    correction = math.sqrt((n + 1 - 2 * horizon + horizon * (horizon - 1) / n) / n)
    statistic = dm * correction
    p_value = float(stats.t.sf(statistic, df=n - 1))
    return DieboldMariano(statistic=statistic, p_value=p_value, mean_loss_difference=mean, n=n)


def bonferroni(alpha: float, tests: int) -> float:
    """Per-test significance level keeping the family-wise error rate at ``alpha``."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if isinstance(tests, bool) or not isinstance(tests, int) or tests < 1:
        raise ValueError(f"tests must be an integer >= 1, got {tests!r}")
    return alpha / tests


def squared_error(actual, pred) -> np.ndarray:
    """Per-row squared error ``(pred - actual)**2``."""
    a, p = aligned_arrays(actual=actual, pred=pred)
    return (p - a) ** 2


def direction_error(actual_return, prob_up) -> np.ndarray:
    """Per-row 0/1 loss of the direction call: 1 where ``(prob_up > 0.5) != (actual_return > 0)``.

    Same conventions as :func:`models.metrics.forecast_metrics` (zero return is "not up").
    """
    a, p = aligned_arrays(actual_return=actual_return, prob_up=prob_up)
    return ((p > 0.5) != (a > 0)).astype(float)
