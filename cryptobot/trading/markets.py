"""A market's order rules: the smallest amount, the amount step and the smallest notional.

Live markets take them from ccxt's market description (``limits`` and ``precision``, whose
meaning depends on the exchange's ``precisionMode``). The simulated market uses Binance's spot
rules for USDT pairs: amounts in steps of 0.00001 and at least 5 USDT per order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: ccxt precision modes
DECIMAL_PLACES, SIGNIFICANT_DIGITS, TICK_SIZE = 2, 3, 4


@dataclass(frozen=True)
class MarketRules:
    symbol: str
    amount_step: float = 1e-5
    min_amount: float = 1e-5
    min_cost: float = 5.0

    def round_amount(self, amount: float) -> float:
        """``amount`` rounded towards zero to the step (an order never exceeds what was sized);
        the execution core's rounding (:func:`cryptobot.trading.core.round_amount`)."""
        from cryptobot.trading import core

        return float(core.round_amount(float(amount), float(self.amount_step)))

    def too_small(self, amount: float, price: float) -> str | None:
        """Why an order of ``amount`` at ``price`` is below the market's minimums, or None."""
        from cryptobot.trading import core

        code = core.too_small(float(amount), float(price), self.min_amount, self.min_cost)
        return too_small_reason(code, amount, price, self.min_amount, self.min_cost)

    @classmethod
    def from_ccxt(cls, market: dict[str, Any], precision_mode: int = TICK_SIZE) -> MarketRules:
        precision = (market.get("precision") or {}).get("amount")
        if precision is None:
            step = 1e-8
        elif precision_mode == TICK_SIZE:
            step = float(precision)
        else:
            step = 10.0 ** -float(precision)
        limits = market.get("limits") or {}
        return cls(
            symbol=market["symbol"],
            amount_step=step,
            min_amount=float((limits.get("amount") or {}).get("min") or step),
            min_cost=float((limits.get("cost") or {}).get("min") or 0.0),
        )


def simulated_rules(symbol: str) -> MarketRules:
    return MarketRules(symbol=symbol)


def too_small_reason(
    code: int, amount: float, price: float, min_amount: float, min_cost: float
) -> str | None:
    """The sentence for the core's ``too_small`` answer (None when the order is big enough)."""
    from cryptobot.trading import core

    if code == core.R_MIN_AMOUNT:
        return f"amount {abs(amount):.8g} below the market minimum {min_amount:g}"
    if code == core.R_MIN_COST:
        return f"notional {abs(amount) * price:.2f} below the market minimum {min_cost:g}"
    return None
