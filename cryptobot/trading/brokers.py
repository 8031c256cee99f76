"""Brokers: where orders go. Paper (the default) simulates fills; live sends them through ccxt.

**Paper.** An order decided at a bar's close is filled at the next price that existed after the
decision: the open of the next bar, known once that bar is stored (the flow's next run). The
execution core fills it (:func:`cryptobot.trading.core.paper_fill`: half the spread, a fixed
slippage and a square-root market impact, then the taker fee), the same in the trading flow and
in a backtest. The spread is the configured assumption (``trading.spread``) since the simulated
market has no order book; the spread risk check uses the same figure, labelled "assumed".

**Live.** ``create_order`` with the client order id in ``params["clientOrderId"]``. Before any
submission the broker asks the exchange for an order with that id (open and recent closed
orders), and a ``DuplicateOrderId`` answer is read the same way: a restart after a crash finds
the order it sent instead of sending it again. Live mode refuses to start without keys.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

import ccxt

from cryptobot.config import Settings, TradingSettings
from cryptobot.errors import TradingError
from cryptobot.trading.markets import MarketRules, simulated_rules, with_override
from cryptobot.trading.orders import CCXT_STATUS, Fill, Order, OrderStatus


class PaperBroker:
    mode = "paper"

    def __init__(
        self, trading: TradingSettings, rules: dict[str, MarketRules] | None = None
    ) -> None:
        self.spread_assumed = trading.spread
        #: each symbol's market rules (:func:`cryptobot.trading.markets.market_rules`);
        #: a symbol not given trades on the defaults
        self.market_rules = dict(rules or {})

    def rules(self, symbol: str) -> MarketRules:
        return self.market_rules.get(symbol) or simulated_rules(symbol)

    def spread(self, symbol: str) -> tuple[float | None, str]:
        return self.spread_assumed, "assumed (paper)"

    def submit(self, order: Order, when: datetime) -> tuple[Order, list[Fill]]:
        """The paper desk takes the order; the core fills it at the next bar's open."""
        return order.moved_to(OrderStatus.SUBMITTED, when), []


def live_client(settings: Settings) -> Any:
    """An authenticated ccxt client for ``settings.exchange``; refuses without keys."""
    from cryptobot.sources.ccxt_source import create_client

    check_live_allowed(settings)
    client = create_client(settings.exchange)
    client.apiKey = settings.exchange_api_key.get_secret_value()
    client.secret = settings.exchange_secret.get_secret_value()
    return client


def check_live_allowed(settings: Settings) -> None:
    missing = [
        name
        for name, value in (
            ("CRYPTOBOT_EXCHANGE_API_KEY", settings.exchange_api_key),
            ("CRYPTOBOT_EXCHANGE_SECRET", settings.exchange_secret),
        )
        if value is None or not value.get_secret_value()
    ]
    if missing:
        raise TradingError(
            f"live trading on {settings.exchange} refused: {' and '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not set. Put the exchange keys in the "
            "environment (or .env), or set trading.mode = paper."
        )
    if settings.source == "simulator":
        raise TradingError(
            "live trading refused: the configured source is the simulator, so the models would "
            f"trade real money on {settings.exchange} from simulated prices. Set source = ccxt."
        )


class LiveBroker:
    mode = "live"

    def __init__(
        self,
        client: Any,
        *,
        lookback_ms: int = 7 * 24 * 3600 * 1000,
        overrides: dict[str, Any] | None = None,
    ) -> None:
        self.client = client
        self.lookback_ms = lookback_ms
        #: ``settings.markets``: rules set by hand win over the exchange's own
        self.overrides = overrides or {}
        self._markets_loaded = False

    def _markets(self) -> None:
        if not self._markets_loaded:
            self.client.load_markets()
            self._markets_loaded = True

    def rules(self, symbol: str) -> MarketRules:
        """The exchange's current rules of ``symbol`` (``load_markets``), under the config's
        override of ``exchange:symbol`` if any."""
        self._markets()
        rules = MarketRules.from_ccxt(self.client.market(symbol), self.client.precisionMode)
        return with_override(rules, self.overrides.get(f"{self.client.id}:{symbol}"))

    def spread(self, symbol: str) -> tuple[float | None, str]:
        ticker = self.client.fetch_ticker(symbol)
        bid, ask = ticker.get("bid"), ticker.get("ask")
        if not bid or not ask:
            return None, "no quote"
        return (ask - bid) / ((ask + bid) / 2), "ticker"

    def find(self, order: Order) -> dict | None:
        """The exchange's record of our client order id, if it has one."""
        since = self.client.milliseconds() - self.lookback_ms
        for method, capability in (
            ("fetch_open_orders", "fetchOpenOrders"),
            ("fetch_closed_orders", "fetchClosedOrders"),
        ):
            if not self.client.has.get(capability):
                continue
            for found in getattr(self.client, method)(order.symbol, since):
                if found.get("clientOrderId") == order.client_order_id:
                    return found
        return None

    def submit(self, order: Order, when: datetime) -> tuple[Order, list[Fill]]:
        """Send ``order`` unless the exchange already has it; return its state and new fills."""
        self._markets()
        answer = self.find(order)
        if answer is None:
            try:
                answer = self.client.create_order(
                    order.symbol,
                    "market",
                    order.side,
                    float(self.client.amount_to_precision(order.symbol, order.amount)),
                    None,
                    {"clientOrderId": order.client_order_id},
                )
            except ccxt.DuplicateOrderId:
                answer = self.find(order)
                if answer is None:
                    raise TradingError(
                        f"{order.symbol}: the exchange says order {order.client_order_id} exists "
                        "but does not list it; check the exchange before the next run"
                    ) from None
            except (ccxt.InsufficientFunds, ccxt.InvalidOrder) as exc:
                reason = self._redacted(f"{type(exc).__name__}: {exc}")[:300]
                return order.moved_to(OrderStatus.REJECTED, when, reason=reason), []
            except ccxt.NetworkError as exc:
                raise TradingError(
                    f"{order.symbol}: could not reach {self.client.id} to send order "
                    f"{order.client_order_id} ({type(exc).__name__}); it stays new and the next "
                    "run sends it (the client order id keeps that safe)",
                    retryable=True,
                ) from None
        return self.apply(order, answer, when)

    def _redacted(self, text: str) -> str:
        """``text`` with every credential the client holds masked (rule 7: never in a record)."""
        from cryptobot.sources.ccxt_source import _CREDENTIAL_ATTRIBUTES

        for attribute in _CREDENTIAL_ATTRIBUTES:
            value = getattr(self.client, attribute, None)
            if isinstance(value, str) and value:
                text = text.replace(value, "***")
        return text

    def refresh(self, order: Order, when: datetime) -> tuple[Order, list[Fill]]:
        """Catch up with an open order (a partial fill, a cancel) on a later run."""
        if order.exchange_order_id is None:
            return self.submit(order, when)
        answer = self.client.fetch_order(order.exchange_order_id, order.symbol)
        return self.apply(order, answer, when)

    def apply(self, order: Order, answer: dict, when: datetime) -> tuple[Order, list[Fill]]:
        """The order after the exchange's answer, and the fills not seen before."""
        status = CCXT_STATUS.get(answer.get("status") or "open", OrderStatus.SUBMITTED)
        filled = float(answer.get("filled") or 0.0)
        if status == OrderStatus.SUBMITTED and filled > 0:
            status = OrderStatus.PARTIALLY_FILLED
        fills = []
        new_amount = filled - order.filled
        if new_amount > 1e-12:
            price = float(answer.get("average") or answer.get("price") or 0.0)
            fee_total = float((answer.get("fee") or {}).get("cost") or 0.0)
            fills.append(
                Fill(
                    # the cumulative amount filled names the increment: stable across re-reads
                    trade_id=f"{order.client_order_id}-{filled:.8f}",
                    order=order,
                    amount=new_amount,
                    price=price,
                    fee=fee_total - order.fee,
                    ts=when,
                    fee_currency=(answer.get("fee") or {}).get("currency"),
                )
            )
        changes = {
            "filled": filled,
            "average_price": answer.get("average") or order.average_price,
            "fee": float((answer.get("fee") or {}).get("cost") or order.fee),
            "exchange_order_id": str(answer.get("id")) if answer.get("id") else None,
        }
        if status == order.status:
            return replace(order, updated_at=when, **changes), fills
        return order.moved_to(status, when, **changes), fills
