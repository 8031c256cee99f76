"""Evaluation metrics: forecast quality and the roadmap targets.

All inputs are 1-D numpy arrays or pandas Series aligned row by row (positions, not index labels).
What a model earns is not measured here: the trading metrics come from the execution core's
backtest (``cryptobot.backtest``), next-open fills and every cost included.

Conventions:

* An *up move* is ``actual_return > 0``, a *down move* ``< 0``; a zero return is neither and is
  left out of the direction scores.
* The *direction call* is "up" when ``prob_up > 0.5`` (0.5 itself is "down"/flat).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "ROADMAP_TARGETS",
    "Target",
    "against_targets",
    "aligned_arrays",
    "forecast_metrics",
]


def aligned_arrays(**named) -> list[np.ndarray]:
    """Named inputs as 1-D float arrays of one common, non-zero length and without NaN.

    Raises ``ValueError`` naming the offending argument.
    """
    arrays = []
    for name, value in named.items():
        if isinstance(value, pd.Series | pd.Index):
            value = value.to_numpy()
        try:
            array = np.asarray(value, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must be numeric: {exc}") from exc
        if array.ndim != 1:
            raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
        if array.size == 0:
            raise ValueError(f"{name} is empty")
        missing = int(np.isnan(array).sum())
        if missing:
            raise ValueError(f"{name} contains {missing} NaN values (of {array.size})")
        arrays.append(array)
    names = list(named)
    for name, array in zip(names[1:], arrays[1:], strict=True):
        if array.size != arrays[0].size:
            raise ValueError(
                f"{name} has {array.size} rows but {names[0]} has {arrays[0].size}; "
                "the inputs must be aligned row by row"
            )
    return arrays


# --- forecasts --------------------------------------------------------------------------------


def forecast_metrics(actual_return, pred_return, prob_up) -> dict[str, float]:
    """Quality of a return forecast and of the direction call made from ``prob_up``.

    A bar *moved* up when ``actual_return > 0`` and down when ``< 0``; a bar whose return is
    exactly zero (common on real, tick-sized prices) is neither, so it is left out of every
    direction score (it would otherwise count as "down" and flatter a model that calls down).
    A row is *called up* when ``prob_up > 0.5``.

    * ``directional_accuracy``: over the bars that moved, the share whose call matched the move
      (NaN when none moved); ``moved``: how many bars moved; ``up_share``: the share of those
      that moved up (so ``max(up_share, 1 - up_share)`` is what always calling the majority
      scores, the binomial test's null).
    * ``up_accuracy``: of the called-up bars that moved, the share that moved up (NaN if none);
      ``down_accuracy``: of the called-down bars that moved, the share that moved down.
    * ``hit_rate``: mean(sign(pred_return) == sign(actual_return)) over bars that moved and
      have ``pred_return != 0`` (NaN if none): the sign hit rate of the return forecast.
    * ``mae``, ``rmse`` of pred_return against actual_return (every row).
    * ``ic``: Spearman rank correlation of pred_return with actual_return; NaN when either is
      constant (or there are fewer than 2 rows).
    * ``n``: rows; ``zero_share``: the share of rows whose return was exactly zero;
      ``up_calls``: the share of rows called up.
    """
    actual, pred, prob = aligned_arrays(
        actual_return=actual_return, pred_return=pred_return, prob_up=prob_up
    )
    called_up = prob > 0.5
    moved = actual != 0
    went_up = actual > 0
    error = pred - actual
    constant = np.ptp(pred) == 0 or np.ptp(actual) == 0 or actual.size < 2
    up_called = called_up & moved
    down_called = ~called_up & moved
    signed = moved & (pred != 0)
    n_moved = int(moved.sum())
    return {
        "directional_accuracy": (
            float(np.mean(called_up[moved] == went_up[moved])) if n_moved else math.nan
        ),
        "moved": n_moved,
        "up_share": float(went_up[moved].mean()) if n_moved else math.nan,
        "up_accuracy": float(went_up[up_called].mean()) if up_called.any() else math.nan,
        "down_accuracy": float((~went_up[down_called]).mean()) if down_called.any() else math.nan,
        "hit_rate": (
            float(np.mean(np.sign(pred[signed]) == np.sign(actual[signed])))
            if signed.any()
            else math.nan
        ),
        "mae": float(np.mean(np.abs(error))),
        "rmse": float(np.sqrt(np.mean(error**2))),
        "ic": math.nan if constant else float(stats.spearmanr(pred, actual).statistic),
        "n": int(actual.size),
        "zero_share": float(1.0 - n_moved / actual.size),
        "up_calls": float(called_up.mean()),
    }


# --- roadmap targets --------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A roadmap target: ``measured <comparison> threshold`` (strict)."""

    comparison: Literal[">", "<"]
    threshold: float
    percent: bool  # shown as a percentage

    def label(self) -> str:
        value = f"{self.threshold * 100:g}%" if self.percent else f"{self.threshold:g}"
        return f"{self.comparison} {value}"

    def met(self, measured: float) -> bool:
        if math.isnan(measured):
            return False
        if self.comparison == ">":
            return bool(measured > self.threshold)
        return bool(measured < self.threshold)


ROADMAP_TARGETS: Mapping[str, Target] = MappingProxyType(
    {
        "directional_accuracy": Target(">", 0.65, percent=True),
        "sharpe": Target(">", 1.5, percent=False),
        "max_drawdown": Target("<", 0.15, percent=True),
        "win_rate": Target(">", 0.55, percent=True),
        "profit_factor": Target(">", 1.3, percent=False),
    }
)


def against_targets(metrics: Mapping[str, float]) -> list[dict]:
    """One row per roadmap target: ``{metric, target, measured, met}``, in roadmap order.

    A NaN or missing measurement is not met (missing is reported as NaN). Targets are fixed.
    """
    rows = []
    for metric, target in ROADMAP_TARGETS.items():
        value = metrics.get(metric)
        measured = math.nan if value is None else float(value)
        rows.append(
            {
                "metric": metric,
                "target": target.label(),
                "measured": measured,
                "met": target.met(measured),
            }
        )
    return rows
