"""Strategies: a model's prediction in, a target position out.

A strategy is one class with one method, ``target_weight``: the prediction of the newest closed
bar (and the current weight) in, the wanted position out as a weight in [-1, 1] of the largest
position the risk limits allow (``risk.max_position_size`` of equity). Sizing, rounding and risk
checks happen after it, the same for every strategy. To add one: write the class and add it to
``STRATEGIES``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from cryptobot.errors import ConfigError


@dataclass(frozen=True)
class Prediction:
    """The champion's answer for one bar (the columns of the model's pyfunc output)."""

    pred_return: float  # forecast log return over the horizon
    prob_up: float
    direction: int  # 1 up, 0 down
    confidence: float  # max(prob_up, 1 - prob_up)


class Strategy:
    name: ClassVar[str]
    description: ClassVar[str]

    def __init__(self, min_confidence: float = 0.5) -> None:
        self.min_confidence = min_confidence

    def target_weight(self, prediction: Prediction, current_weight: float) -> float:
        raise NotImplementedError

    def _confident(self, prediction: Prediction) -> bool:
        return prediction.confidence >= self.min_confidence


class LongFlat(Strategy):
    name = "long_flat"
    description = "long the full allowed size when the model calls up, flat otherwise"

    def target_weight(self, prediction: Prediction, current_weight: float) -> float:
        if not self._confident(prediction):
            return current_weight  # not sure enough to change anything
        return 1.0 if prediction.direction == 1 else 0.0


class LongShort(Strategy):
    name = "long_short"
    description = "long when the model calls up, short when it calls down"

    def target_weight(self, prediction: Prediction, current_weight: float) -> float:
        if not self._confident(prediction):
            return current_weight
        return 1.0 if prediction.direction == 1 else -1.0


STRATEGIES: dict[str, type[Strategy]] = {cls.name: cls for cls in (LongFlat, LongShort)}


def get_strategy(name: str, min_confidence: float = 0.5) -> Strategy:
    try:
        return STRATEGIES[name](min_confidence=min_confidence)
    except KeyError:
        raise ConfigError(
            f"unknown strategy {name!r}: choose one of {', '.join(STRATEGIES)} "
            "(setting trading.strategy, CRYPTOBOT_TRADING__STRATEGY)"
        ) from None
