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

    def __init__(self, min_confidence: float = 0.5, **params: float) -> None:
        self.min_confidence = min_confidence
        if params:
            raise ConfigError(f"strategy {self.name!r} takes no parameter(s) {sorted(params)}")

    def populate_targets(self, frame: pd.DataFrame) -> np.ndarray:
        """One target weight (or NaN) per row of ``frame``."""
        raise NotImplementedError

    def _calls(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(confident call, called up) per row; a row without a prediction is not confident."""
        confidence = frame["confidence"].to_numpy(dtype="float64")
        direction = frame["direction"].to_numpy(dtype="float64")
        confident = confidence >= self.min_confidence  # False for NaN
        return confident, direction == 1


class LongFlat(Strategy):
    name = "long_flat"
    description = "long the full allowed size when the model calls up, flat when it calls down"

    def populate_targets(self, frame: pd.DataFrame) -> np.ndarray:
        confident, up = self._calls(frame)
        return np.where(confident, np.where(up, 1.0, 0.0), np.nan)


class LongShort(Strategy):
    name = "long_short"
    description = "long when the model calls up, short when it calls down"

    def populate_targets(self, frame: pd.DataFrame) -> np.ndarray:
        confident, up = self._calls(frame)
        return np.where(confident, np.where(up, 1.0, -1.0), np.nan)


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
    """The classic crossover (the peers' benchmark case): long from the bar whose close puts
    the fast simple moving average above the slow one, flat from the bar that puts it below."""

    name = "sma_cross"
    description = (
        "long while SMA(fast) of the close is above SMA(slow), entering and exiting at crosses"
    )
    uses_model = False
    fast: int = 10
    slow: int = 50

    def __init__(self, min_confidence: float = 0.5, *, fast: int = 10, slow: int = 50) -> None:
        super().__init__(min_confidence)
        if not 1 <= fast < slow:
            raise ConfigError(f"sma_cross needs 1 <= fast < slow, got fast={fast}, slow={slow}")
        self.fast, self.slow = int(fast), int(slow)

    @property
    def warmup(self) -> int:  # type: ignore[override]
        return self.slow

    def populate_targets(self, frame: pd.DataFrame) -> np.ndarray:
        close = frame["close"].to_numpy(dtype="float64")
        above = sma(close, self.fast) > sma(close, self.slow)  # False while warming up
        before = np.concatenate([[above[0]], above[:-1]])
        targets = np.full(len(close), np.nan)
        targets[above & ~before] = 1.0
        targets[~above & before] = 0.0
        return targets


def sma(values: np.ndarray, window: int) -> np.ndarray:
    """Simple moving average of the last ``window`` values (NaN before the first full window)."""
    out = np.full(len(values), np.nan)
    if len(values) >= window:  # each window summed on its own: no drift of a running sum
        out[window - 1 :] = np.lib.stride_tricks.sliding_window_view(values, window).mean(axis=1)
    return out


STRATEGIES: dict[str, type[Strategy]] = {
    cls.name: cls for cls in (LongFlat, LongShort, BuyAndHold, SmaCross)
}


def get_strategy(name: str, min_confidence: float = 0.5, **params) -> Strategy:
    try:
        cls = STRATEGIES[name]
    except KeyError:
        raise ConfigError(
            f"unknown strategy {name!r}: choose one of {', '.join(STRATEGIES)} "
            "(setting trading.strategy, CRYPTOBOT_TRADING__STRATEGY, or --strategy)"
        ) from None
    return cls(min_confidence=min_confidence, **params)
