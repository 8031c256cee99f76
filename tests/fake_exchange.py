"""Fake exchanges for live-mode tests (no network).

``FakeExchange`` is an in-memory exchange with ccxt's interface. It answers the calls the live
broker makes, the way ccxt's unified API shapes them: markets with ``precision``/``limits``,
``create_order`` returning an order dict with ``clientOrderId``, ``DuplicateOrderId`` for a
client id it has seen, ``InsufficientFunds`` when the quote balance is short, open/closed order
listings and tickers.

``FakeBinanceApi`` is an HTTP server on 127.0.0.1 speaking Binance's signed REST API, for
tests that go through ccxt's real request, signing and error-mapping code: it checks the
``X-MBX-APIKEY`` header and the HMAC-SHA256 ``signature`` of the query exactly as Binance does,
and answers ``GET /sapi/v1/account/apiRestrictions`` with the payload Binance documents.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

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


#: Binance's answer for a key (GET /sapi/v1/account/apiRestrictions, from its API docs)
API_RESTRICTIONS = {
    "ipRestrict": False,
    "createTime": 1698645219000,
    "enableReading": True,
    "enableWithdrawals": False,
    "enableInternalTransfer": False,
    "enableMargin": False,
    "enableFutures": False,
    "permitsUniversalTransfer": False,
    "enableVanillaOptions": False,
    "enableFixApiTrade": False,
    "enableFixReadOnly": False,
    "enableSpotAndMarginTrading": True,
    "enablePortfolioMarginTrading": False,
}


class FakeBinanceApi:
    """Binance's signed REST API on 127.0.0.1 for one key pair; use as a context manager.

    ``restrictions`` is what the key may do (``API_RESTRICTIONS`` by default); every request is
    recorded in ``requests`` as (method, path, query, headers). A request with another API key or
    a bad signature gets Binance's own error answer (HTTP 401, code -2015 / 400, code -1022).
    """

    def __init__(self, api_key: str, secret: str, restrictions: dict[str, Any] | None = None):
        self.api_key = api_key
        self.secret = secret
        self.restrictions = dict(API_RESTRICTIONS if restrictions is None else restrictions)
        self.requests: list[tuple[str, str, dict[str, str], dict[str, str]]] = []
        self.url = ""
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def _answer(self, method: str, raw_path: str, headers: dict[str, str]) -> tuple[int, Any]:
        parts = urlsplit(raw_path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        self.requests.append((method, parts.path, query, headers))
        if parts.path != "/sapi/v1/account/apiRestrictions":
            return 404, {"code": -1000, "msg": f"unknown path {parts.path}"}
        if headers.get("x-mbx-apikey") != self.api_key:
            return 401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}
        signed, _, signature = parts.query.rpartition("&signature=")
        expected = hmac.new(self.secret.encode(), signed.encode(), hashlib.sha256).hexdigest()
        if "timestamp" not in query or not hmac.compare_digest(signature, expected):
            return 400, {"code": -1022, "msg": "Signature for this request is not valid."}
        return 200, self.restrictions

    def configure(self, client: ccxt.Exchange) -> ccxt.Exchange:
        """Point a ccxt binance client's REST endpoints at this server."""
        for name, url in list(client.urls["api"].items()):
            if isinstance(url, str):
                client.urls["api"][name] = self.url + urlsplit(url).path
        return client

    def __enter__(self) -> FakeBinanceApi:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, body = fake._answer("GET", self.path, headers)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json;charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
