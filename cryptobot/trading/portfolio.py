"""Positions, cash and equity: the arithmetic of fills, in one place.

A position holds a signed base amount and the average entry price of that amount. A fill that
adds to it moves the average; one that reduces it realises ``(price - entry) * amount`` (sign
flipped for shorts); one that crosses zero closes the old side and opens the new one at the fill
price. Fees are kept apart (``fees``) and paid from cash. Cash moves by ``-signed_amount *
price - fee``. Equity is cash plus every position marked at its newest close.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime

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

    def applied(self, signed_amount: float, price: float, fee: float, when: datetime) -> Position:
        """The position after a fill of ``signed_amount`` at ``price`` paying ``fee``."""
        old = self.amount
        new = old + signed_amount
        realized = self.realized_pnl
        avg = self.avg_price
        opened = self.opened_at
        if abs(old) < DUST or old * signed_amount > 0:  # opening or adding
            total = abs(old) + abs(signed_amount)
            avg = ((avg or 0.0) * abs(old) + price * abs(signed_amount)) / total
            opened = opened if abs(old) >= DUST else when
        else:  # reducing, closing or flipping
            closed = min(abs(signed_amount), abs(old))
            direction = 1.0 if old > 0 else -1.0
            realized += direction * closed * (price - (avg or price))
            if abs(new) < DUST:
                new, avg, opened = 0.0, None, None
            elif new * old < 0:  # flipped: the rest opens at the fill price
                avg, opened = price, when
        return replace(
            self,
            amount=new,
            avg_price=avg,
            realized_pnl=realized,
            fees=self.fees + fee,
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

    @property
    def daily_loss(self) -> float:
        """Loss since the day's first row as a share of that row's equity (0 when up)."""
        return max(0.0, -self.daily_pnl / self.day_start_equity) if self.day_start_equity else 0.0


def equity_point(
    mode: str,
    when: datetime,
    cash: float,
    positions: dict[str, Position],
    previous: EquityPoint | None,
    is_simulated: bool,
) -> EquityPoint:
    """The account marked to market at ``when``: each position at its ``last_price``; the peak
    and the day's opening equity carried on from ``previous``."""
    # exact sums (math.fsum): the same account gives the same equity whatever the order
    value = math.fsum(p.amount * (p.last_price or 0.0) for p in positions.values())
    gross = math.fsum(abs(p.amount * (p.last_price or 0.0)) for p in positions.values())
    equity = cash + value
    peak = max(equity, previous.peak_equity) if previous else equity
    same_day = previous is not None and previous.ts.date() == when.date()
    day_start = previous.day_start_equity if same_day else equity
    return EquityPoint(
        mode=mode,
        ts=when,
        cash=cash,
        positions_value=value,
        equity=equity,
        gross_exposure=gross,
        peak_equity=peak,
        drawdown=1.0 - equity / peak if peak > 0 else 0.0,
        day_start_equity=day_start,
        daily_pnl=equity - day_start,
        is_simulated=is_simulated,
    )
