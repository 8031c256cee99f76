"""An in-memory exchange with ccxt's interface, for live-mode tests (no network).

It answers the calls the live broker makes, the way ccxt's unified API shapes them: markets with
``precision``/``limits``, ``create_order`` returning an order dict with ``clientOrderId``,
``DuplicateOrderId`` for a client id it has seen, ``InsufficientFunds`` when the quote balance is
short, open/closed order listings and tickers.
"""

from __future__ import annotations

import itertools

import ccxt


class FakeExchange:
    id = "fakex"
    precisionMode = ccxt.TICK_SIZE

    def __init__(self, prices: dict[str, float], *, balance: float = 1_000_000.0, fee=0.001):
        self.prices = dict(prices)
        self.balance = balance
        self.fee_rate = fee
        self.orders: dict[str, dict] = {}  # exchange id -> order
        self.calls: list[tuple] = []
        self.has = {"fetchOpenOrders": True, "fetchClosedOrders": True, "createOrder": True}
        self.markets = {
            symbol: {
                "symbol": symbol,
                "precision": {"amount": 0.0001, "price": 0.01},
                "limits": {"amount": {"min": 0.0001}, "cost": {"min": 5.0}},
            }
            for symbol in prices
        }
        self._ids = itertools.count(1000)
        self.apiKey = ""
        self.secret = ""
        self.fill_mode = "closed"  # or "open": orders rest unfilled

    def load_markets(self):
        self.calls.append(("load_markets",))
        return self.markets

    def market(self, symbol):
        if symbol not in self.markets:
            raise ccxt.BadSymbol(f"{self.id} does not have market symbol {symbol}")
        return self.markets[symbol]

    def milliseconds(self):
        return 1_767_225_600_000

    def amount_to_precision(self, symbol, amount):
        step = self.markets[symbol]["precision"]["amount"]
        return f"{int(amount / step) * step:.4f}"

    def fetch_ticker(self, symbol):
        price = self.prices[symbol]
        return {"symbol": symbol, "bid": price * 0.9999, "ask": price * 1.0001, "last": price}

    def create_order(self, symbol, type, side, amount, price=None, params=None):
        params = params or {}
        self.calls.append(("create_order", symbol, type, side, amount, dict(params)))
        client_id = params.get("clientOrderId")
        if any(o["clientOrderId"] == client_id for o in self.orders.values()):
            raise ccxt.DuplicateOrderId(f"{self.id} duplicate clientOrderId {client_id}")
        fill_price = self.prices[symbol] * (1.0005 if side == "buy" else 0.9995)
        cost = amount * fill_price
        if side == "buy" and cost > self.balance:
            raise ccxt.InsufficientFunds(f"{self.id} insufficient balance for {cost:.2f}")
        order_id = str(next(self._ids))
        filled = amount if self.fill_mode == "closed" else 0.0
        order = {
            "id": order_id,
            "clientOrderId": client_id,
            "symbol": symbol,
            "type": type,
            "side": side,
            "amount": amount,
            "filled": filled,
            "remaining": amount - filled,
            "average": fill_price if filled else None,
            "price": fill_price,
            "status": self.fill_mode,
            "fee": {"cost": filled * fill_price * self.fee_rate, "currency": "USDT"},
        }
        self.orders[order_id] = order
        if filled:
            self.balance -= cost if side == "buy" else -cost
        return dict(order)

    def fetch_open_orders(self, symbol=None, since=None, limit=None, params=None):
        self.calls.append(("fetch_open_orders", symbol))
        return [dict(o) for o in self.orders.values() if o["status"] == "open"]

    def fetch_closed_orders(self, symbol=None, since=None, limit=None, params=None):
        self.calls.append(("fetch_closed_orders", symbol))
        return [dict(o) for o in self.orders.values() if o["status"] != "open"]

    def fetch_order(self, order_id, symbol=None, params=None):
        self.calls.append(("fetch_order", order_id))
        return dict(self.orders[order_id])

    def fill_all(self):
        """Fill every resting order (the market moved on)."""
        for order in self.orders.values():
            if order["status"] == "open":
                order.update(
                    status="closed",
                    filled=order["amount"],
                    remaining=0.0,
                    average=order["price"],
                    fee={
                        "cost": order["amount"] * order["price"] * self.fee_rate,
                        "currency": "USDT",
                    },
                )

    def created(self) -> list[tuple]:
        return [c for c in self.calls if c[0] == "create_order"]
