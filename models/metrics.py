"""Evaluation metrics: forecast quality, a long/flat strategy backtest and the roadmap targets.

All inputs are 1-D numpy arrays or pandas Series aligned row by row (positions, not index labels).

Conventions:

* An *up move* is ``actual_return > 0``; a zero return is "not up".
* The strategy's *direction call* is "up" when ``prob_up > 0.5`` (0.5 itself is "down"/flat).
* Returns fed to the strategy are bar LOG returns; the strategy's own returns are simple returns.
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
    "equity_curve",
    "forecast_metrics",
    "periods_per_year",
    "strategy_metrics",
]

SECONDS_PER_YEAR = 365 * 24 * 3600  # crypto trades 24/7


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


def _positions(go_long, n: int) -> np.ndarray:
    """go_long as a 0/1 float array; rejects anything but booleans or 0/1."""
    (pos,) = aligned_arrays(go_long=go_long)
    if not np.isin(pos, (0.0, 1.0)).all():
        raise ValueError("go_long must be boolean (or 0/1)")
    if pos.size != n:
        raise ValueError(f"go_long has {pos.size} rows but next_return has {n}")
    return pos


# --- forecasts --------------------------------------------------------------------------------


def forecast_metrics(actual_return, pred_return, prob_up) -> dict[str, float]:
    """Quality of a return forecast and of the direction call made from ``prob_up``.

    An up move is ``actual_return > 0`` (a zero return is "not up"); a row is *called up* when
    ``prob_up > 0.5``.

    * ``directional_accuracy``: mean((prob_up > 0.5) == (actual_return > 0)), the accuracy of
      the direction call the strategy trades.
    * ``up_accuracy``: fraction of called-up rows that went up (precision of up calls; NaN if
      there are none); ``down_accuracy``: fraction of called-down rows that did not go up.
    * ``hit_rate``: mean(sign(pred_return) == sign(actual_return)) over rows with
      ``pred_return != 0`` (NaN if none): the sign hit rate of the return forecast. A zero actual
      return counts as a miss there.
    * ``mae``, ``rmse`` of pred_return against actual_return.
    * ``ic``: Spearman rank correlation of pred_return with actual_return; NaN when either is
      constant (or there are fewer than 2 rows).
    * ``n``: rows; ``up_calls``: fraction of rows called up.
    """
    actual, pred, prob = aligned_arrays(
        actual_return=actual_return, pred_return=pred_return, prob_up=prob_up
    )
    called_up = prob > 0.5
    went_up = actual > 0
    nonzero = pred != 0
    error = pred - actual
    constant = np.ptp(pred) == 0 or np.ptp(actual) == 0 or actual.size < 2
    return {
        "directional_accuracy": float(np.mean(called_up == went_up)),
        "up_accuracy": float(went_up[called_up].mean()) if called_up.any() else math.nan,
        "down_accuracy": float((~went_up[~called_up]).mean()) if (~called_up).any() else math.nan,
        "hit_rate": (
            float(np.mean(np.sign(pred[nonzero]) == np.sign(actual[nonzero])))
            if nonzero.any()
            else math.nan
        ),
        "mae": float(np.mean(np.abs(error))),
        "rmse": float(np.sqrt(np.mean(error**2))),
        "ic": math.nan if constant else float(stats.spearmanr(pred, actual).statistic),
        "n": int(actual.size),
        "up_calls": float(called_up.mean()),
    }


# --- strategy ---------------------------------------------------------------------------------


def periods_per_year(timeframe_seconds: int) -> float:
    """Bars per year for a bar of ``timeframe_seconds`` (crypto trades 24/7, 365 days)."""
    if timeframe_seconds <= 0:
        raise ValueError(f"timeframe_seconds must be > 0, got {timeframe_seconds!r}")
    return SECONDS_PER_YEAR / timeframe_seconds


def _bar_factors(next_return, go_long, fee: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(equity factor per row incl. fees, gross growth per row, position per row)."""
    if not 0 <= fee < 1:
        raise ValueError(f"fee must be in [0, 1), got {fee!r}")
    (log_ret,) = aligned_arrays(next_return=next_return)
    pos = _positions(go_long, log_ret.size)
    growth = 1.0 + pos * np.expm1(log_ret)
    changes = np.abs(np.diff(pos, prepend=0.0))
    factors = growth * (1.0 - fee * changes)
    factors[-1] *= 1.0 - fee * pos[-1]  # close a position still open after the last row
    return factors, growth, pos


def equity_curve(next_return, go_long, *, fee: float = 0.001) -> np.ndarray:
    """Equity of the long/flat strategy, one value per row, starting from 1 before row 0.

    At row ``t`` the strategy holds ``pos_t = go_long[t]`` for the next bar, whose LOG return is
    ``next_return[t]``; every change of position pays ``fee`` (a fraction of equity, per side) on
    that bar::

        equity_t = equity_{t-1} * (1 + pos_t * (exp(r_t) - 1)) * (1 - fee * |pos_t - pos_{t-1}|)

    with ``pos_{-1} = 0`` and ``equity_{-1} = 1``. A position still open after the last row pays
    the exit fee, applied to the last value.
    """
    factors, _, _ = _bar_factors(next_return, go_long, fee)
    return np.cumprod(factors)


def _trade_returns(growth: np.ndarray, pos: np.ndarray, fee: float) -> np.ndarray:
    """Compounded net return of each run of consecutive long rows, entry and exit fee included."""
    edges = np.diff(np.concatenate([[0.0], pos, [0.0]]))
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1)
    return np.array(
        [np.prod(growth[a:b]) * (1.0 - fee) ** 2 - 1.0 for a, b in zip(starts, stops, strict=True)]
    )


def strategy_metrics(
    next_return, go_long, *, fee: float = 0.001, periods_per_year: float
) -> dict[str, float]:
    """Backtest of the simplest strategy: long for the next bar when ``go_long``, flat otherwise.

    See :func:`equity_curve` for the equity arithmetic. Keys:

    * ``total_return``: final equity - 1.
    * ``sharpe``: mean / std (ddof=1) of the per-bar net returns ``equity_t / equity_{t-1} - 1``
      (flat bars included, as 0) times ``sqrt(periods_per_year)``; NaN if the std is 0.
    * ``max_drawdown``: max of ``1 - equity / running max``, the starting equity 1 included, as
      a positive fraction.
    * ``trades``: round trips = runs of consecutive long rows.
    * ``win_rate``: fraction of trades whose compounded net return (both fees included) is > 0;
      NaN if there are no trades.
    * ``profit_factor``: sum of winning trades' returns / |sum of losing trades' returns|; inf if
      there are wins and no losses, NaN if there are no trades (or only zero-return trades).
    * ``exposure``: fraction of rows long.
    """
    if not periods_per_year > 0:
        raise ValueError(f"periods_per_year must be > 0, got {periods_per_year!r}")
    factors, growth, pos = _bar_factors(next_return, go_long, fee)
    equity = np.cumprod(factors)
    bar_returns = factors - 1.0

    std = float(np.std(bar_returns, ddof=1)) if bar_returns.size > 1 else math.nan
    sharpe = (
        float(np.mean(bar_returns) / std * math.sqrt(periods_per_year))
        if std > 0 and math.isfinite(std)
        else math.nan
    )
    peaks = np.maximum.accumulate(np.concatenate([[1.0], equity]))
    max_drawdown = float(np.max(1.0 - np.concatenate([[1.0], equity]) / peaks))

    trades = _trade_returns(growth, pos, fee)
    wins = trades[trades > 0].sum()
    losses = -trades[trades < 0].sum()
    if trades.size == 0 or (wins == 0 and losses == 0):
        profit_factor = math.nan
    elif losses == 0:
        profit_factor = math.inf
    else:
        profit_factor = float(wins / losses)
    return {
        "total_return": float(equity[-1] - 1.0),
        "sharpe": sharpe,
        "max_drawdown": max_drawdown,
        "trades": int(trades.size),
        "win_rate": float(np.mean(trades > 0)) if trades.size else math.nan,
        "profit_factor": profit_factor,
        "exposure": float(pos.mean()),
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
