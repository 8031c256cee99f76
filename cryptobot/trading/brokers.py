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
the order it sent instead of sending it again. Live mode refuses to start without keys (from the
environment, else the encrypted key store: :mod:`cryptobot.keystore`), and with a key that may
withdraw where the exchange tells (Binance's API restrictions) unless
``trading.allow_withdrawal_keys``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

import ccxt

from cryptobot.config import Settings, TradingSettings
from cryptobot.errors import TradingError
from cryptobot.keystore import ExchangeKeys, SecretBlockReader, exchange_keys
from cryptobot.trading.markets import MarketRules, simulated_rules, with_override
from cryptobot.trading.orders import CCXT_STATUS, Fill, Order, OrderStatus, wall_clock

logger = logging.getLogger(__name__)


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
        """The paper desk takes the order (acknowledged at once); the core fills it at the next
        bar's open."""
        now = wall_clock()
        return order.moved_to(OrderStatus.SUBMITTED, when, sent_at=now, acknowledged_at=now), []


def live_client(
    settings: Settings,
    *,
    read_secret_block: SecretBlockReader | None = None,
    log: Callable[[str], None] = logger.info,
) -> Any:
    """An authenticated ccxt client for ``settings.exchange`` whose key may trade and may not
    withdraw (see :func:`check_key_permissions`); refuses without keys."""
    from cryptobot.sources.ccxt_source import create_client

    keys = check_live_allowed(settings, read_secret_block=read_secret_block)
    client = create_client(settings.exchange)
    client.apiKey = keys.api_key.get_secret_value()
    client.secret = keys.secret.get_secret_value()
    log(f"live trading on {settings.exchange} with the keys from the {keys.source}")
    check_key_permissions(client, settings.trading, log=log)
    return client


def check_live_allowed(
    settings: Settings, *, read_secret_block: SecretBlockReader | None = None
) -> ExchangeKeys:
    """The keys live trading will use (environment, else key store); TradingError without any
    or when the prices would be simulated."""
    keys = exchange_keys(settings, read_secret_block)
    if keys is None:
        raise TradingError(
            f"live trading on {settings.exchange} refused: no exchange keys. Set "
            f"CRYPTOBOT_EXCHANGE_API_KEY and CRYPTOBOT_EXCHANGE_SECRET in the environment (or "
            f".env), or store them encrypted with `cryptobot keys set {settings.exchange}`; or "
            "set trading.mode = paper."
        )
    if settings.source == "simulator":
        raise TradingError(
            "live trading refused: the configured source is the simulator, so the models would "
            f"trade real money on {settings.exchange} from simulated prices. Set source = ccxt."
        )
    return keys


def _binance_restrictions(client: Any) -> dict[str, bool]:
    """Binance's ``GET /sapi/v1/account/apiRestrictions`` for the client's key."""
    answer = client.sapi_get_account_apirestrictions()
    return {
        "withdraw": bool(answer.get("enableWithdrawals")),
        "trade": bool(answer.get("enableSpotAndMarginTrading")),
        "ip_restricted": bool(answer.get("ipRestrict")),
    }


#: exchanges whose API tells what a key may do: ccxt id -> reader of
#: {withdraw, trade, ip_restricted}
PERMISSION_READERS: dict[str, Callable[[Any], dict[str, bool]]] = {
    "binance": _binance_restrictions,
}


def check_key_permissions(
    client: Any, trading: TradingSettings, *, log: Callable[[str], None] = logger.info
) -> None:
    """Refuse a key that may withdraw (unless ``trading.allow_withdrawal_keys``) or may not
    trade spot, where the exchange says so; elsewhere say in one log line that it cannot be
    checked. Runs before the first order of every live run, so a key whose rights were widened
    on the exchange since the last run is caught too."""
    reader = PERMISSION_READERS.get(client.id)
    if reader is None:
        log(
            f"{client.id}: this exchange does not tell a key's permissions through its API, so "
            "they are not checked: make sure the key cannot withdraw"
        )
        return
    try:
        rights = reader(client)
    except ccxt.AuthenticationError as exc:
        raise TradingError(
            f"live trading refused: {client.id} does not accept the API key "
            f"({_redacted(client, f'{type(exc).__name__}: {exc}')[:300]}). Check the key, its "
            "secret and the key's IP whitelist on the exchange."
        ) from None
    except ccxt.NetworkError as exc:
        raise TradingError(
            f"could not reach {client.id} to check the API key's permissions "
            f"({type(exc).__name__}); no order was sent",
            retryable=True,
        ) from None
    except ccxt.BaseError as exc:
        raise TradingError(
            f"live trading refused: {client.id} did not say what the API key may do "
            f"({_redacted(client, f'{type(exc).__name__}: {exc}')[:300]})"
        ) from None
    if rights["withdraw"] and not trading.allow_withdrawal_keys:
        raise TradingError(
            f"live trading refused: the {client.id} API key may withdraw funds, so anyone who "
            "got it could empty the account. Create a key without withdrawal rights on the "
            "exchange (recommended), or accept this one with "
            "CRYPTOBOT_TRADING__ALLOW_WITHDRAWAL_KEYS=true."
        )
    if not rights["trade"]:
        raise TradingError(
            f"live trading refused: the {client.id} API key may not trade spot (enable "
            "'Spot & Margin Trading' for it on the exchange)"
        )
    withdraw = (
        "may withdraw (allowed by trading.allow_withdrawal_keys)"
        if rights["withdraw"]
        else "cannot withdraw"
    )
    ip = "" if rights.get("ip_restricted") else "; it is not restricted to your IP addresses"
    log(f"{client.id}: the API key may trade spot and {withdraw}{ip}")


def _redacted(client: Any, text: str) -> str:
    """``text`` with every credential the client holds masked (rule 7: never in a record)."""
    from cryptobot.sources.ccxt_source import _CREDENTIAL_ATTRIBUTES

    for attribute in _CREDENTIAL_ATTRIBUTES:
        value = getattr(client, attribute, None)
        if isinstance(value, str) and value:
            text = text.replace(value, "***")
    return text


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
        sent = acknowledged = None
        if answer is None:
            try:
                sent = wall_clock()
                answer = self.client.create_order(
                    order.symbol,
                    "market",
                    order.side,
                    float(self.client.amount_to_precision(order.symbol, order.amount)),
                    None,
                    {"clientOrderId": order.client_order_id},
                )
                acknowledged = wall_clock()
            except ccxt.DuplicateOrderId:
                answer = self.find(order)
                if answer is None:
                    raise TradingError(
                        f"{order.symbol}: the exchange says order {order.client_order_id} exists "
                        "but does not list it; check the exchange before the next run"
                    ) from None
            except (ccxt.InsufficientFunds, ccxt.InvalidOrder) as exc:
                reason = self._redacted(f"{type(exc).__name__}: {exc}")[:300]
                rejected = order.moved_to(
                    OrderStatus.REJECTED, when, reason=reason, sent_at=sent,
                    acknowledged_at=wall_clock(),
                )  # fmt: skip
                return rejected, []
            except ccxt.NetworkError as exc:
                raise TradingError(
                    f"{order.symbol}: could not reach {self.client.id} to send order "
                    f"{order.client_order_id} ({type(exc).__name__}); it stays new and the next "
                    "run sends it (the client order id keeps that safe)",
                    retryable=True,
                ) from None
        done, fills = self.apply(order, answer, when)
        if acknowledged is not None:
            done = replace(done, sent_at=sent, acknowledged_at=acknowledged)
        return done, fills

    def _redacted(self, text: str) -> str:
        return _redacted(self.client, text)

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
