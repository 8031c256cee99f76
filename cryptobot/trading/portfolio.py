"""Positions, cash and equity: the arithmetic of fills, in one place.

A position holds a signed base amount and the average entry price of that amount. A fill that
adds to it moves the average; one that reduces it realises ``(price - entry) * amount`` (sign
flipped for shorts); one that crosses zero closes the old side and opens the new one at the fill
price. Fees are kept apart (``fees``) and paid from cash. Cash moves by ``-signed_amount *
price - fee``. Equity is cash plus every position marked at its newest close. The arithmetic
itself is the execution core's (:mod:`cryptobot.trading.core`); these are its records.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np

#: amounts smaller than this are zero (float dust left by rounding)
DUST = 1e-12


@dataclass(frozen=True)
class Position:
    mode: str
    exchange: str
    symbol: str
    amount: float = 0.0
    avg_price: float | None = None
    realized_pnl: float = 0.0
    fees: float = 0.0
    last_price: float | None = None
    opened_at: datetime | None = None
    updated_at: datetime | None = None
    is_simulated: bool = False
    account: str = "default"

    def applied(self, signed_amount: float, price: float, fee: float, when: datetime) -> Position:
        """The position after a fill of ``signed_amount`` at ``price`` paying ``fee`` (the
        execution core's arithmetic, :func:`cryptobot.trading.core.apply_fill`)."""
        from cryptobot.trading import core

        state = np.array(
            [
                [
                    self.amount,
                    np.nan if self.avg_price is None else self.avg_price,
                    self.realized_pnl,
                    self.fees,
                    np.nan,
                ]
            ]
        )
        core.apply_fill(state, 0, float(signed_amount), float(price), float(fee))
        amount, avg, realized, fees = (float(v) for v in state[0, :4])
        old = self.amount
        opened = self.opened_at
        if abs(old) < DUST or amount * old < 0:  # opened, or flipped: the rest opens now
            opened = when
        if abs(amount) < DUST:
            amount, opened = 0.0, None
        return replace(
            self,
            amount=amount,
            avg_price=None if math.isnan(avg) else avg,
            realized_pnl=realized,
            fees=fees,
            opened_at=opened,
            updated_at=when,
        )

    def marked(self, price: float, when: datetime) -> Position:
        return replace(self, last_price=price, updated_at=when)

    @property
    def unrealized_pnl(self) -> float:
        if not self.amount or self.avg_price is None or self.last_price is None:
            return 0.0
        return self.amount * (self.last_price - self.avg_price)

    def row(self) -> dict:
        return {
            "account": self.account,
            "mode": self.mode,
            "exchange": self.exchange,
            "symbol": self.symbol,
            "amount": self.amount,
            "avg_price": self.avg_price,
            "realized_pnl": self.realized_pnl,
            "fees": self.fees,
            "last_price": self.last_price,
            "opened_at": self.opened_at,
            "updated_at": self.updated_at,
            "is_simulated": self.is_simulated,
        }


@dataclass(frozen=True)
class EquityPoint:
    """One ``equity_curve`` row."""

    mode: str
    ts: datetime
    cash: float
    positions_value: float
    equity: float
    gross_exposure: float
    peak_equity: float
    drawdown: float
    day_start_equity: float
    daily_pnl: float
    is_simulated: bool
    account: str = "default"

    @property
    def daily_loss(self) -> float:
        """Loss since the day's first row as a share of that row's equity (0 when up)."""
        return max(0.0, -self.daily_pnl / self.day_start_equity) if self.day_start_equity else 0.0
