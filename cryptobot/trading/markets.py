"""A market's order rules: the amount step, the smallest amount, the smallest notional, the fee.

Where they come from, per exchange and symbol (:func:`market_rules`):

1. ``[markets."exchange:SYMBOL"]`` in the config: each field given wins;
2. the ``markets`` table: ccxt's ``load_markets`` as stored by every ccxt ingest
   (:func:`store_markets`), with ccxt's precision normalised to a step: ``TICK_SIZE`` exchanges
   (binance, kraken, tokocrypto) give the step itself, ``DECIMAL_PLACES`` ones a number of
   decimals (step ``10**-places``), ``SIGNIFICANT_DIGITS`` has no fixed step (the smallest
   amount, else 1e-8, is taken);
3. else today's defaults (Binance's spot rules for USDT pairs: steps of 0.00001, at least 5 per
   order, the configured fee), with a one-line warning naming the missing market.

The simulated market keeps its own rules (:func:`simulated_rules`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import duckdb

logger = logging.getLogger(__name__)

#: ccxt precision modes
DECIMAL_PLACES, SIGNIFICANT_DIGITS, TICK_SIZE = 2, 3, 4
PRECISION_MODES = {
    DECIMAL_PLACES: "decimal_places",
    SIGNIFICANT_DIGITS: "significant_digits",
    TICK_SIZE: "tick_size",
}
#: the step when a market gives none
FALLBACK_STEP = 1e-8


@dataclass(frozen=True)
class MarketRules:
    symbol: str
    amount_step: float = 1e-5
    min_amount: float = 1e-5
    min_cost: float = 5.0
    #: the taker fee per fill; None: the configured ``trading.fee``
    taker_fee: float | None = None
    #: where the rules came from: default | stored | override (over stored or default)
    origin: str = "default"

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

    def fee(self, default: float) -> float:
        return default if self.taker_fee is None else self.taker_fee

    @classmethod
    def from_ccxt(cls, market: dict[str, Any], precision_mode: int = TICK_SIZE) -> MarketRules:
        row = market_row("", market, precision_mode, datetime(1970, 1, 1))
        return cls.from_row(row)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> MarketRules:
        """The rules of a ``markets`` row (missing limits: no minimum beyond one step)."""
        step = _number(row["amount_step"]) or FALLBACK_STEP
        return cls(
            symbol=row["symbol"],
            amount_step=step,
            min_amount=_number(row["min_amount"]) or step,
            min_cost=_number(row["min_cost"]) or 0.0,
            taker_fee=_number(row["taker_fee"]),
            origin="stored",
        )


def simulated_rules(symbol: str) -> MarketRules:
    return MarketRules(symbol=symbol)


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number else None  # NaN: none


def precision_step(value: Any, precision_mode: int) -> float | None:
    """ccxt's ``precision`` entry as a step: the tick itself, or ``10**-places``; None for
    significant digits (no fixed step) or when the market gives none."""
    number = _number(value)
    if number is None or precision_mode == SIGNIFICANT_DIGITS:
        return None
    if precision_mode == TICK_SIZE:
        return number if number > 0 else None
    return 10.0**-number


def _indodax(row: dict[str, Any], info: dict[str, Any]) -> None:
    """ccxt 4.5 reads Indodax's ``trade_fee_percent`` (0.3 for 0.3%) as a fraction and files
    ``trade_min_base_currency`` (the smallest order value, in the quote currency, e.g. 10,000
    IDR) as a minimum price; both are taken from the exchange's own fields here."""
    fee = _number(info.get("trade_fee_percent"))
    if fee is not None:
        row["taker_fee"] = fee / 100.0
    row["min_cost"] = _number(info.get("trade_min_base_currency")) or row["min_cost"]


#: fixes of ccxt's parse of some exchanges' markets, by exchange id
_QUIRKS = {"indodax": _indodax}


def market_row(
    exchange: str, market: dict[str, Any], precision_mode: int, fetched_at: datetime
) -> dict[str, Any]:
    """A ``markets`` row from one of ccxt's unified markets."""
    precision = market.get("precision") or {}
    limits = market.get("limits") or {}
    min_amount = _number((limits.get("amount") or {}).get("min"))
    step = precision_step(precision.get("amount"), precision_mode)
    if step is None:
        step = min_amount or FALLBACK_STEP
    row = {
        "exchange": exchange,
        "symbol": market["symbol"],
        "base": market.get("base") or market["symbol"].split("/")[0],
        "quote": market.get("quote") or market["symbol"].split("/")[1].split(":")[0],
        "active": market.get("active"),
        "amount_step": step,
        "price_step": precision_step(precision.get("price"), precision_mode),
        "min_amount": min_amount,
        "min_cost": _number((limits.get("cost") or {}).get("min")),
        "maker_fee": _number(market.get("maker")),
        "taker_fee": _number(market.get("taker")),
        "precision_mode": PRECISION_MODES.get(precision_mode, str(precision_mode)),
        "fetched_at": fetched_at,
        "raw": json.dumps(market, sort_keys=True, default=str),
    }
    quirk = _QUIRKS.get(exchange)
    if quirk is not None:
        quirk(row, market.get("info") or {})
    return row


def market_rows(client: Any, exchange: str, fetched_at: datetime) -> list[dict[str, Any]]:
    """A ``markets`` row for every spot market a ccxt client has loaded."""
    mode = int(getattr(client, "precisionMode", TICK_SIZE))
    return [
        market_row(exchange, market, mode, fetched_at)
        for market in (client.markets or {}).values()
        if market.get("spot", True) and "/" in str(market.get("symbol", ""))
    ]


def store_markets(con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]]) -> int:
    """Replace the stored markets of each exchange in ``rows`` with ``rows`` (a market the
    exchange no longer lists is kept: old backtests still need its rules). Returns how many."""
    from cryptobot.warehouse.db import insert_rows

    for start in range(0, len(rows), 500):  # bounded statement size for exchanges of 3,000
        insert_rows(con, "markets", rows[start : start + 500], replace=True)
    return len(rows)


def market_rules(
    settings: Any,
    exchange: str,
    symbols: list[str],
    con: duckdb.DuckDBPyConnection | None = None,
    *,
    warn: Any = None,
) -> dict[str, MarketRules]:
    """Each symbol's rules on ``exchange``: the config's override over the stored market, or
    the defaults with a one-line warning (``warn``, default the module's logger) naming it.
    The simulator's market keeps its own rules."""
    from cryptobot.config import SIMULATOR_EXCHANGE

    warn = warn or logger.warning
    if exchange == SIMULATOR_EXCHANGE:
        return {s: simulated_rules(s) for s in symbols}
    stored: dict[str, MarketRules] = {}
    if con is not None:
        try:
            frame = con.execute(
                "select * from markets where exchange = ? and symbol in "
                f"({', '.join('?' * len(symbols))})",
                [exchange, *symbols],
            ).df()
        except duckdb.CatalogException:
            frame = None
        if frame is not None:
            for row in frame.to_dict("records"):
                stored[row["symbol"]] = MarketRules.from_row(row)
    out = {}
    for symbol in symbols:
        rules = stored.get(symbol)
        override = settings.markets.get(f"{exchange}:{symbol}")
        if rules is None:
            rules = simulated_rules(symbol)
            if override is None:
                warn(
                    f"no stored market rules for {exchange} {symbol}: using the defaults (amount "
                    f"step {rules.amount_step:g}, min notional {rules.min_cost:g}); run a ccxt "
                    f'ingest of {exchange} or set [markets."{exchange}:{symbol}"] in the config'
                )
        out[symbol] = with_override(rules, override)
    return out


def with_override(rules: MarketRules, override: Any) -> MarketRules:
    """``rules`` with each field an override (``config.MarketOverride``) gives; as they are
    without one."""
    if override is None:
        return rules
    given = {
        "amount_step": override.amount_step,
        "min_amount": override.min_amount,
        "min_cost": override.min_notional,
        "taker_fee": override.taker_fee,
    }
    return replace(rules, origin="override", **{k: v for k, v in given.items() if v is not None})


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
