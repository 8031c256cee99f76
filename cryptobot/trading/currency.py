"""The account currency: what capital, limits, equity and every money figure are in.

The account holds cash in one currency (``trading.account_currency``, USDT by default). A
symbol ``BASE/QUOTE`` whose quote is another currency (``ETH/BTC``) is traded as if each fill
converted cash at the rate of that moment: its prices, fees and traded value are multiplied by
the quote's rate in the account currency, taken from the stored candles of ``QUOTE/ACCOUNT``
(``BTC/USDT``) of the same exchange and timeframe, or of ``ACCOUNT/QUOTE`` inverted. Point in
time: at a bar's close the rate is the close of the newest conversion candle known then
(``available_at <= close``); a fill at a bar's open uses the rate known at that open.

A symbol whose quote cannot be converted over the window traded (no such candles stored, or
none known yet at the first decision) is refused before anything runs, naming the series to
ingest or import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pandas as pd

from cryptobot.errors import ConfigError

if TYPE_CHECKING:  # the reports use the rates without the execution core
    from cryptobot.trading.bars import Bars


def quote_of(symbol: str) -> str:
    """``"BTC"`` for ``"ETH/BTC"``."""
    return symbol.split("/", 1)[1]


@dataclass(frozen=True)
class Conversion:
    """How a quote currency is valued in the account currency: the stored ``series`` (a
    symbol of the same exchange and timeframe), inverted when it is ``ACCOUNT/QUOTE``."""

    quote: str
    series: str
    inverted: bool


def conversions_needed(symbols: list[str], account: str) -> list[str]:
    """The quote currencies among ``symbols`` that are not the account currency, in order."""
    return list(dict.fromkeys(quote_of(s) for s in symbols if quote_of(s) != account))


def find_conversion(
    con: duckdb.DuckDBPyConnection, exchange: str, timeframe: str, quote: str, account: str
) -> Conversion | None:
    """The stored series that values ``quote`` in ``account`` on ``exchange``/``timeframe``:
    ``QUOTE/ACCOUNT`` when stored, else ``ACCOUNT/QUOTE`` (inverted), else None."""
    for series, inverted in ((f"{quote}/{account}", False), (f"{account}/{quote}", True)):
        found = con.execute(
            "select count(*) from market_data where exchange = ? and symbol = ? and timeframe = ?",
            [exchange, series, timeframe],
        ).fetchone()[0]
        if found:
            return Conversion(quote, series, inverted)
    return None


def _missing(exchange: str, timeframe: str, symbol: str, quote: str, account: str) -> ConfigError:
    return ConfigError(
        f"{symbol} is quoted in {quote} but the account currency is {account}: no {exchange} "
        f"{timeframe} candles of {quote}/{account} (or {account}/{quote}) are stored to convert "
        f"it. Ingest or import {quote}/{account} {timeframe} from {exchange} over the same "
        f"window, or set trading.account_currency = {quote!r}, or drop {symbol}."
    )


def check_convertible(
    con: duckdb.DuckDBPyConnection, exchange: str, timeframe: str, symbols: list[str], account: str
) -> dict[str, Conversion]:
    """The conversion of every quote currency ``symbols`` need; refuses (naming the series to
    ingest) the first that has none."""
    found = {}
    for quote in conversions_needed(symbols, account):
        conversion = find_conversion(con, exchange, timeframe, quote, account)
        if conversion is None:
            symbol = next(s for s in symbols if quote_of(s) == quote)
            raise _missing(exchange, timeframe, symbol, quote, account)
        found[quote] = conversion
    return found


def series_rates(rows: pd.DataFrame, as_of_ns: np.ndarray, inverted: bool) -> np.ndarray:
    """The rate known at each ``as_of_ns`` (int64 ns): the close of the newest row of ``rows``
    (``ts``, ``available_at``, ``close``) available by then, inverted if asked; NaN before any."""
    if rows.empty:
        return np.full(len(as_of_ns), np.nan)
    rows = rows.sort_values(["available_at", "ts"])
    avail = rows["available_at"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    closes = rows["close"].to_numpy(dtype="float64")
    # the row with the newest ts among those available: ts and available_at move together for
    # candles, but a late revision must not hand back an older bar
    ts = rows["ts"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    newest = np.maximum.accumulate(ts)
    best = np.maximum.accumulate(np.where(ts == newest, np.arange(len(ts)), 0))
    at = np.searchsorted(avail, as_of_ns, side="right") - 1
    out = np.where(at >= 0, closes[best[np.maximum(at, 0)]], np.nan)
    return 1.0 / out if inverted else out


@dataclass(frozen=True)
class ConversionRows:
    """The stored rows of each conversion series a set of symbols needs (by quote)."""

    account: str
    series: dict[str, tuple[Conversion, pd.DataFrame]]

    def rates(self, bars: Bars, as_of_last: int | None = None) -> np.ndarray | None:
        """``rates[t, k]``: symbol ``k``'s quote in the account currency known at bar ``t``'s
        close (the last bar's: ``as_of_last`` ns when given, the trading flow's clock); None
        when every symbol is quoted in the account currency (the core then uses 1)."""
        if not self.series:
            return None
        as_of = bars.ts + bars.bar_ns
        if as_of_last is not None and len(as_of):
            as_of = as_of.copy()
            as_of[-1] = as_of_last
        rates = np.ones((len(bars), len(bars.symbols)))
        for quote, (conversion, rows) in self.series.items():
            column = series_rates(rows, as_of, conversion.inverted)
            for k, symbol in enumerate(bars.symbols):
                if quote_of(symbol) == quote:
                    rates[:, k] = column
        return rates


def read_conversions(
    con: duckdb.DuckDBPyConnection,
    exchange: str,
    timeframe: str,
    symbols: list[str],
    account: str,
    *,
    since: pd.Timestamp | None = None,
    until: pd.Timestamp | None = None,
) -> ConversionRows:
    """The rows (``ts``, ``available_at``, ``close``) of each conversion series ``symbols``
    need on ``exchange``/``timeframe``, available by ``until``; refuses a quote without one.
    ``since``: rows older than that are not read, except the newest of them (the rate still
    known then)."""
    out = {}
    for quote, conversion in check_convertible(con, exchange, timeframe, symbols, account).items():
        where = "exchange = ? and symbol = ? and timeframe = ?"
        params: list = [exchange, conversion.series, timeframe]
        if until is not None:
            where += " and available_at <= ?"
            params.append(pd.Timestamp(until).to_pydatetime())
        if since is not None:
            where += (
                f" and ts >= coalesce((select max(ts) from market_data where {where}"
                " and available_at <= ?), ?)"
            )
            start = pd.Timestamp(since).to_pydatetime()
            params += [*params, start, start]
        rows = con.execute(
            f"select ts, available_at, close from market_data where {where} order by ts", params
        ).df()
        out[quote] = (conversion, rows)
    return ConversionRows(account, out)


def check_rates(rates: np.ndarray | None, bars: Bars, first: int, last: int, account: str) -> None:
    """Refuse a window in which some symbol has no known rate at a decision (its conversion
    series starts later than the window)."""
    if rates is None:
        return
    window = rates[first : last + 1]
    bad = np.isnan(window) | (window <= 0)
    if not bad.any():
        return
    t, k = np.argwhere(bad)[0]
    symbol = bars.symbols[int(k)]
    quote = quote_of(symbol)
    when = pd.Timestamp(int(bars.ts[first + int(t)] + bars.bar_ns))
    raise ConfigError(
        f"{symbol} is quoted in {quote} but no {quote}/{account} (or {account}/{quote}) close is "
        f"known at {when:%Y-%m-%d %H:%M} UTC, a decision time of the window: the conversion "
        f"series starts later. Ingest or import {quote}/{account} back to that time, or start "
        "the window later."
    )
