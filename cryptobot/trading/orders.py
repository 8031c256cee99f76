"""Orders as immutable values with one written-down state machine.

An order is created ``new`` (decided and stored, not yet with a broker), becomes ``submitted``
once a broker has it, and ends ``filled``, ``cancelled`` or ``rejected``; a broker may report
``partially_filled`` on the way. ``ORDER_TRANSITIONS`` is the only place the allowed moves are
listed and :meth:`Order.moved_to` the only way to change a state.

The client order id is derived from (mode, strategy, exchange, symbol, timeframe, bar): every
re-run of the flow for the same bar, and every restart after a crash, computes the same id, so
the warehouse's primary key and the exchange's own duplicate check both refuse a second order.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum

from cryptobot.errors import TradingError


class OrderStatus(StrEnum):
    NEW = "new"
    SUBMITTED = "submitted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


#: every allowed move; a status missing as a key is final
ORDER_TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.NEW: frozenset(
        {OrderStatus.SUBMITTED, OrderStatus.FILLED, OrderStatus.REJECTED, OrderStatus.CANCELLED}
    ),
    OrderStatus.SUBMITTED: frozenset(
        {
            OrderStatus.PARTIALLY_FILLED,
            OrderStatus.FILLED,
            OrderStatus.CANCELLED,
            OrderStatus.REJECTED,
        }
    ),
    OrderStatus.PARTIALLY_FILLED: frozenset(
        {OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED, OrderStatus.CANCELLED}
    ),
}
#: states in which an order may still trade
OPEN_STATES = frozenset({OrderStatus.NEW, OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED})

#: ccxt's order status -> ours (``open`` with a partial fill becomes partially_filled)
CCXT_STATUS = {
    "open": OrderStatus.SUBMITTED,
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELLED,
    "cancelled": OrderStatus.CANCELLED,
    "expired": OrderStatus.CANCELLED,
    "rejected": OrderStatus.REJECTED,
}


def client_order_id(
    mode: str, strategy: str, exchange: str, symbol: str, timeframe: str, bar_ts: datetime
) -> str:
    """``cb`` + 30 hex digits of a hash of the order's identity: 32 characters of
    ``[0-9a-z]``, inside every exchange's client-id rules (Binance: 36, ``[.A-Z:/a-z0-9_-]``)."""
    key = "|".join([mode, strategy, exchange, symbol, timeframe, bar_ts.isoformat()])
    return "cb" + hashlib.sha256(key.encode()).hexdigest()[:30]


def decision_id(
    mode: str, strategy: str, exchange: str, symbol: str, timeframe: str, bar_ts: datetime
) -> str:
    return ":".join([mode, strategy, exchange, symbol, timeframe, bar_ts.isoformat()])


@dataclass(frozen=True)
class Order:
    client_order_id: str
    mode: str
    strategy: str
    exchange: str
    symbol: str
    timeframe: str
    bar_ts: datetime
    side: str  # buy | sell
    amount: float  # base, > 0
    decision_id: str
    created_at: datetime  # the decision time
    is_simulated: bool
    status: OrderStatus = OrderStatus.NEW
    order_type: str = "market"
    filled: float = 0.0
    average_price: float | None = None
    fee: float = 0.0
    exchange_order_id: str | None = None
    reason: str | None = None
    updated_at: datetime | None = None
    account: str = "default"
    #: wall clock (naive UTC) when the order left for the exchange and when the exchange
    #: acknowledged it (the paper desk: at once); None where not seen
    sent_at: datetime | None = None
    acknowledged_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.side not in ("buy", "sell"):
            raise TradingError(f"order {self.client_order_id}: side must be buy or sell")
        if not self.amount > 0:
            raise TradingError(f"order {self.client_order_id}: amount must be > 0")

    @property
    def signed_amount(self) -> float:
        return self.amount if self.side == "buy" else -self.amount

    @property
    def remaining(self) -> float:
        return max(self.amount - self.filled, 0.0)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATES

    def moved_to(self, status: OrderStatus | str, when: datetime, **changes) -> Order:
        """This order in ``status``; refuses a move ``ORDER_TRANSITIONS`` does not list."""
        status = OrderStatus(status)
        if status not in ORDER_TRANSITIONS.get(self.status, frozenset()):
            raise TradingError(
                f"order {self.client_order_id} ({self.symbol} {self.side}) cannot move from "
                f"{self.status} to {status}; allowed: "
                f"{', '.join(sorted(ORDER_TRANSITIONS.get(self.status, ()))) or 'none (final)'}"
            )
        return replace(self, status=status, updated_at=when, **changes)

    def row(self) -> dict:
        """The ``orders`` table row."""
        return {
            "client_order_id": self.client_order_id,
            "account": self.account,
            "mode": self.mode,
            "strategy": self.strategy,
            "exchange": self.exchange,
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "bar_ts": self.bar_ts,
            "side": self.side,
            "order_type": self.order_type,
            "amount": self.amount,
            "status": str(self.status),
            "filled": self.filled,
            "average_price": self.average_price,
            "fee": self.fee,
            "exchange_order_id": self.exchange_order_id,
            "decision_id": self.decision_id,
            "reason": self.reason,
            "is_simulated": self.is_simulated,
            "created_at": self.created_at,
            "updated_at": self.updated_at or self.created_at,
            "sent_at": self.sent_at,
            "acknowledged_at": self.acknowledged_at,
        }

    @classmethod
    def from_row(cls, row: dict) -> Order:
        """The order of an ``orders`` row given as plain Python values (datetimes, not
        pandas Timestamps: the engine's reader converts them)."""
        fields = {key: row[key] for key in cls.__dataclass_fields__ if key in row}
        fields["status"] = OrderStatus(fields["status"])
        return cls(**fields)


def wall_clock() -> datetime:
    """Now, naive UTC (the warehouse's convention), for an order's sent and acknowledged times."""
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Fill:
    """One execution of (part of) an order; becomes a ``trades`` row."""

    trade_id: str
    order: Order
    amount: float  # base, > 0
    price: float
    fee: float  # quote
    ts: datetime  # when it executed
    reference_price: float | None = None  # the mid before spread and slippage
    spread_cost: float = 0.0
    slippage_cost: float = 0.0
    fee_currency: str | None = None
    #: the quote currency's rate in the account currency at the fill (price and fee times it)
    quote_rate: float = 1.0

    @property
    def signed_amount(self) -> float:
        return self.amount if self.order.side == "buy" else -self.amount

    def row(self) -> dict:
        order = self.order
        return {
            "id": self.trade_id,
            "client_order_id": order.client_order_id,
            "exchange": order.exchange,
            "symbol": order.symbol,
            "side": order.side,
            "amount": self.amount,
            "price": self.price,
            "fee": self.fee,
            "fee_currency": self.fee_currency or order.symbol.split("/")[1],
            "account": order.account,
            "mode": order.mode,
            "strategy": order.strategy,
            "ts": self.ts,
            "timeframe": order.timeframe,
            "bar_ts": order.bar_ts,
            "reference_price": self.reference_price,
            "spread_cost": self.spread_cost,
            "slippage_cost": self.slippage_cost,
            "is_simulated": order.is_simulated,
            "quote_rate": self.quote_rate,
        }
