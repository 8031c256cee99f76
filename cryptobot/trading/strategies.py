"""Strategies: a frame of bars (and the model's predictions) in, target positions out.

A strategy is one class with one method, ``populate_targets``, as freqtrade's ``populate_*``
methods are: it gets one symbol's bars oldest first (the feature columns of ``fct_features``,
``open``/``close``, and, for a strategy that uses a model, the model's out-of-sample answer per
bar: ``pred_return``, ``prob_up``, ``direction``, ``confidence``; NaN where it had none) and
returns, per bar, the wanted position as a weight in [-1, 1] of the largest position the risk
limits allow (``risk.max_position_size`` of equity), or NaN for "no decision on this bar: keep
what is held". Sizing, rounding, the risk checks and the fills happen after it, the same for
every strategy, in the execution core (:mod:`cryptobot.trading.core`).

A strategy decides from the bars up to and including each row (a row's target may use that
row's close, never a later one); the trading flow calls it on the rows known at its bar and
takes the newest target, the backtest calls it once on the whole history, and the lookahead
check (``cryptobot check-lookahead``) verifies that the two agree.

To add one: write the class here (or in any module imported by this one) and add it to
``STRATEGIES``.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd

from cryptobot.errors import ConfigError

#: the prediction columns a model-driven strategy reads (the pyfunc's output)
PREDICTION_COLUMNS = ("pred_return", "prob_up", "direction", "confidence")


class Strategy:
    name: ClassVar[str]
    description: ClassVar[str]
    #: False for a strategy that trades on prices alone (no model, no predictions)
    uses_model: ClassVar[bool] = True
    #: bars of history ``populate_targets`` needs before its first target (beyond the row)
    warmup: ClassVar[int] = 0
    #: False: a position already on the wanted side is held as it is (enter and hold), instead
    #: of being resized towards the target when it drifts outside the rebalance band
    resize: ClassVar[bool] = True

    def __init__(self, min_confidence: float = 0.5, *, cost: float = 0.0, **params: float) -> None:
        self.min_confidence = min_confidence
        #: what one fill costs as a fraction of its notional (fee, half the spread, slippage):
        #: a trade is worth making only when the forecast beats it
        self.cost = cost
        if params:
            raise ConfigError(f"strategy {self.name!r} takes no parameter(s) {sorted(params)}")

    def populate_targets(self, frame: pd.DataFrame) -> np.ndarray:
        """One target weight (or NaN) per row of ``frame``."""
        raise NotImplementedError

    def _calls(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(confident, called up, forecast return) per row; a row without a prediction is not
        confident."""
        confidence = frame["confidence"].to_numpy(dtype="float64")
        direction = frame["direction"].to_numpy(dtype="float64")
        forecast = frame["pred_return"].to_numpy(dtype="float64")
        confident = confidence >= self.min_confidence  # False for NaN
        return confident, direction == 1, forecast


class LongFlat(Strategy):
    """Long while the model expects a gain worth its costs. A confident up call enters (or
    stays) when the forecast return over the horizon beats a round trip's cost (two fills); a
    confident down call exits when the forecast loss beats one fill's cost (what leaving costs);
    anything in between keeps what is held, so a forecast too small to pay for its trade never
    trades."""

    name = "long_flat"
    description = (
        "long when the model calls up and the forecast beats a round trip's costs, flat when it "
        "calls down and the forecast loss beats the exit's cost"
    )

    def populate_targets(self, frame: pd.DataFrame) -> np.ndarray:
        confident, up, forecast = self._calls(frame)
        enter = confident & up & (forecast > 2 * self.cost)
        leave = confident & ~up & (forecast < -self.cost)
        return np.where(enter, 1.0, np.where(leave, 0.0, np.nan))


class LongShort(Strategy):
    """Long or short while the model expects a move worth a round trip's costs: a confident up
    call with a forecast above the round-trip cost goes long, a confident down call with a
    forecast below minus that cost goes short; anything in between keeps what is held."""

    name = "long_short"
    description = "long or short when the model's forecast move beats a round trip's costs"

    def populate_targets(self, frame: pd.DataFrame) -> np.ndarray:
        confident, up, forecast = self._calls(frame)
        long = confident & up & (forecast > 2 * self.cost)
        short = confident & ~up & (forecast < -2 * self.cost)
        return np.where(long, 1.0, np.where(short, -1.0, np.nan))


class BuyAndHold(Strategy):
    name = "buy_and_hold"
    description = (
        "the benchmark: buy the full allowed size at the first bar the risk checks allow, hold"
    )
    uses_model = False
    resize = False

    def populate_targets(self, frame: pd.DataFrame) -> np.ndarray:
        return np.ones(len(frame))


class SmaCross(Strategy):
    """The classic crossover (the peers' benchmark case): long from the bar whose close takes the
    fast simple moving average above the slow one, flat from the bar that takes it below; no
    decision on the other bars (the position is held)."""

    name = "sma_cross"
    description = (
        "long while SMA(fast) of the close is above SMA(slow), entering and exiting at crosses"
    )
    uses_model = False
    fast: int = 10
    slow: int = 50

    def __init__(
        self, min_confidence: float = 0.5, *, cost: float = 0.0, fast: int = 10, slow: int = 50
    ) -> None:
        super().__init__(min_confidence, cost=cost)
        if not 1 <= fast < slow:
            raise ConfigError(f"sma_cross needs 1 <= fast < slow, got fast={fast}, slow={slow}")
        self.fast, self.slow = int(fast), int(slow)

    @property
    def warmup(self) -> int:  # type: ignore[override]
        return self.slow

    def populate_targets(self, frame: pd.DataFrame) -> np.ndarray:
        close = frame["close"].to_numpy(dtype="float64")
        fast, slow = sma(close, self.fast), sma(close, self.slow)
        above, below = fast > slow, fast < slow  # False while either is still warming up
        known = ~np.isnan(slow)
        targets = np.full(len(close), np.nan)
        # a cross is a change from the previous bar's comparison, both bars' averages known
        targets[1:][above[1:] & ~above[:-1] & known[:-1]] = 1.0
        targets[1:][below[1:] & ~below[:-1] & known[:-1]] = 0.0
        return targets


def sma(values: np.ndarray, window: int) -> np.ndarray:
    """Simple moving average of the last ``window`` values (NaN before the first full window),
    as a difference of running sums (the arithmetic of vectorbt's and TA-Lib's moving averages,
    so every engine sees the same crossings; O(n))."""
    out = np.full(len(values), np.nan)
    if len(values) >= window:
        sums = np.concatenate([[0.0], np.cumsum(values)])
        out[window - 1 :] = (sums[window:] - sums[:-window]) / window
    return out


STRATEGIES: dict[str, type[Strategy]] = {
    cls.name: cls for cls in (LongFlat, LongShort, BuyAndHold, SmaCross)
}


def get_strategy(
    name: str, min_confidence: float = 0.5, *, cost: float = 0.0, **params
) -> Strategy:
    try:
        cls = STRATEGIES[name]
    except KeyError:
        raise ConfigError(
            f"unknown strategy {name!r}: choose one of {', '.join(STRATEGIES)} "
            "(setting trading.strategy, CRYPTOBOT_TRADING__STRATEGY, or --strategy)"
        ) from None
    return cls(min_confidence=min_confidence, cost=cost, **params)


def fill_cost(trading) -> float:
    """What one fill costs as a fraction of its notional under the trading settings: the taker
    fee, half the spread and the fixed slippage (impact depends on the size and is left out)."""
    return trading.fee + trading.spread / 2 + trading.slippage


def strategy_from_settings(settings, name: str | None = None, **params) -> Strategy:
    """``name`` (default: the trading setting) with the settings' confidence and costs."""
    trading = settings.trading
    return get_strategy(
        name or trading.strategy, trading.min_confidence, cost=fill_cost(trading), **params
    )
