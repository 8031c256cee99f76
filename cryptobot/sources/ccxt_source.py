"""Live market data: closed OHLCV candles from any exchange ccxt supports, one page at a time.

``CcxtMarketSource("binance").fetch_ohlcv("BTC/USDT", "1h", since=cursor)`` yields one frame per
exchange page in the ``OHLCV_COLUMNS`` layout (see :mod:`cryptobot.sources.base`), so the ingest
pipeline can store each page and resume from ``last stored ts + one timeframe`` if it is killed.

How a fetch behaves:

- **Window.** Bars with ``since <= ts < until`` (both naive UTC; ``until`` defaults to open-ended).
  ``since=None`` starts ``DEFAULT_LOOKBACK`` (30 days) before now: exchanges disagree on how far
  back they serve and some answer "everything since 2017" slowly, so a bounded first backfill is
  the safe default; pass an explicit ``since`` to go further back.
- **Closed bars only.** A bar is yielded only once it has closed (``ts + timeframe <= now``), so
  the still-open last candle most exchanges return is dropped. ``now`` is read once per call.
- **Pages.** Each request asks for the exchange's per-call maximum (ccxt's
  ``features[...]["fetchOHLCV"]["limit"]``: binance 1000, kraken 720, tokocrypto 1000, indodax
  2000; ``FALLBACK_PAGE_LIMIT`` when ccxt does not know it). The cursor moves to the last returned
  bar + one timeframe; fetching stops at ``until``/now or when a page brings nothing at or after
  the cursor, which is also the guard against an exchange that ignores ``since`` and answers the
  same page forever.
- **Errors.** ``ccxt.NetworkError`` (timeouts, ``ExchangeNotAvailable``/``OnMaintenance``,
  ``DDoSProtection``, ``RateLimitExceeded``) is retried with exponential backoff; anything else
  ccxt raises (``BadSymbol``, ``AuthenticationError``, other ``ExchangeError``) becomes a
  :class:`~cryptobot.errors.SourceError` at once. Messages name exchange, symbol and timeframe and
  never contain credentials.

Exchange quirks worth knowing (ccxt 4.5):

- kraken serves only the most recent 720 candles of an interval, whatever ``since`` says: a gap
  older than that cannot be backfilled from the API (import Kraken's OHLCVT files instead). Its
  unified symbols use BTC, not XBT (``BTC/USD`` for the pair Kraken calls ``XBT/USD``).
- tokocrypto answers markets of type 1 (e.g. ``BTC/USDT``) from ``api.binance.com`` (Binance's
  data) and only its other markets (e.g. IDR pairs) from its own ``/open/v1/market/klines``.
- indodax's candle endpoint takes a ``from``/``to`` window (``to`` is ccxt's wall clock), has no
  ``5m`` timeframe, and ccxt cuts each answer to the page limit.
- binance loads spot, USD-M and COIN-M markets by default; clients made here load spot only, so
  a region that blocks the futures APIs can still fetch spot candles.
"""

from __future__ import annotations

import copy
import difflib
import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import ccxt
import pandas as pd

from cryptobot.errors import ConfigError, SourceError
from cryptobot.sources.base import OHLCV_COLUMNS
from cryptobot.timeframes import timeframe_seconds

logger = logging.getLogger(__name__)

#: How far back a fetch starts when the caller has no cursor yet (``since=None``).
DEFAULT_LOOKBACK = timedelta(days=30)
#: Candles per request when ccxt does not know the exchange's maximum; small enough for any.
FALLBACK_PAGE_LIMIT = 100
#: Exchanges named in the docs, offered when an exchange id is unknown.
WELL_KNOWN_EXCHANGES = ("binance", "kraken", "tokocrypto", "indodax")

_LOOKBACK_MS = int(DEFAULT_LOOKBACK.total_seconds() * 1000)

#: ccxt options for clients this module creates: market data is spot only.
_CLIENT_OPTIONS: dict[str, dict[str, Any]] = {
    "binance": {"fetchMarkets": {"types": ["spot"]}},
}
#: ccxt client attributes that may hold credentials; their values never reach a message.
_CREDENTIAL_ATTRIBUTES = ("apiKey", "secret", "password", "uid", "privateKey", "token")


def _utc_now() -> datetime:
    """The current time as a naive UTC datetime (the project's convention for ``ts``)."""
    return datetime.now(UTC).replace(tzinfo=None)


def _to_ms(moment: datetime) -> int:
    """Milliseconds since the epoch; a naive datetime is taken to be UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def create_client(exchange_id: str) -> ccxt.Exchange:
    """A public-data ccxt client for ``exchange_id`` with ccxt's rate limiter on and no keys.

    Raises:
        SourceError: ccxt has no exchange of that id; the message lists close and common ids.
    """
    if exchange_id not in ccxt.exchanges:
        close = difflib.get_close_matches(exchange_id.lower(), ccxt.exchanges, n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise SourceError(
            f"unknown exchange id {exchange_id!r}: {hint}ccxt {ccxt.__version__} knows "
            f"{len(ccxt.exchanges)} exchanges, e.g. {', '.join(WELL_KNOWN_EXCHANGES)} "
            "(the full list is ccxt.exchanges). Fix the exchange in your configuration."
        )
    config: dict[str, Any] = {"enableRateLimit": True}
    if exchange_id in _CLIENT_OPTIONS:
        config["options"] = copy.deepcopy(_CLIENT_OPTIONS[exchange_id])
    return getattr(ccxt, exchange_id)(config)


class CcxtMarketSource:
    """Closed OHLCV candles from one ccxt exchange, fetched page by page with retries.

    Args:
        exchange_id: a ccxt exchange id: ``binance``, ``kraken``, ``tokocrypto``, ``indodax``...
        client: a ready ccxt client (tests inject one that answers from recorded payloads);
            by default one is made by :func:`create_client`.
        max_retries: retries after the first attempt of a request that failed with a network
            error, so a request is tried at most ``max_retries + 1`` times.
        backoff_seconds: wait before the first retry; each further retry waits twice as long.
        sleep: how to wait (injected so tests do not).
        now: the current time as a naive UTC datetime (injected so tests are deterministic).

    Attributes:
        exchange_id: the ccxt exchange id.
        client: the ccxt client every request goes through.
    """

    def __init__(
        self,
        exchange_id: str,
        *,
        client: ccxt.Exchange | None = None,
        max_retries: int = 5,
        backoff_seconds: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = _utc_now,
    ) -> None:
        if max_retries < 0 or backoff_seconds < 0:
            raise ConfigError(
                f"ccxt source for {exchange_id}: max_retries ({max_retries}) and backoff_seconds "
                f"({backoff_seconds}) must not be negative"
            )
        if client is not None and client.id != exchange_id:
            raise ConfigError(
                f"ccxt source: the injected client is for {client.id!r}, not {exchange_id!r}"
            )
        self.exchange_id = exchange_id
        self.client = client if client is not None else create_client(exchange_id)
        self._max_retries = max_retries
        self._backoff_seconds = backoff_seconds
        self._sleep = sleep
        self._now = now

    def fetch_ohlcv(
        self,
        symbol: str,
        timeframe: str,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Iterator[pd.DataFrame]:
        """Closed candles with ``since <= ts < until``, one sorted, deduplicated frame per page.

        The timeframe and symbol are checked (and the exchange's markets loaded) when this is
        called; pages are fetched as the returned iterator is consumed.

        Args:
            symbol: unified ccxt symbol, e.g. ``BTC/USDT``.
            timeframe: e.g. ``1h``; must be one the exchange offers.
            since: first bar open time wanted (naive UTC); ``None`` starts ``DEFAULT_LOOKBACK``
                before now. The pipeline passes its cursor: last stored ts + one timeframe.
            until: first bar open time *not* wanted (naive UTC); ``None`` means up to now.

        Raises:
            SourceError: unsupported timeframe, unknown symbol, an exchange error, or a network
                error that outlasted the retries.
            ConfigError: a timeframe the pipeline cannot measure (e.g. ``1M``).
        """
        self._check_timeframe(symbol, timeframe)
        timeframe_ms = timeframe_seconds(timeframe) * 1000
        self._call("loading markets", symbol, timeframe, self.client.load_markets)
        self._check_symbol(symbol, timeframe)
        page_limit = int(
            self.client.feature_value(symbol, "fetchOHLCV", "limit") or FALLBACK_PAGE_LIMIT
        )
        now_ms = _to_ms(self._now())
        start_ms = _to_ms(since) if since is not None else now_ms - _LOOKBACK_MS
        # the first bar open time not to yield: past until, or not closed yet
        end_ms = now_ms - timeframe_ms + 1
        if until is not None:
            end_ms = min(end_ms, _to_ms(until))
        return self._pages(symbol, timeframe, timeframe_ms, page_limit, start_ms, end_ms)

    def _pages(
        self,
        symbol: str,
        timeframe: str,
        timeframe_ms: int,
        page_limit: int,
        start_ms: int,
        end_ms: int,
    ) -> Iterator[pd.DataFrame]:
        """Request pages from the cursor on and yield what each brings in ``[cursor, end_ms)``."""
        cursor = start_ms
        while cursor < end_ms:
            rows = self._call(
                "fetching candles",
                symbol,
                timeframe,
                self.client.fetch_ohlcv,
                symbol,
                timeframe,
                since=cursor,
                limit=page_limit,
            )
            page = _page_frame(rows, cursor, end_ms)
            if page.empty:
                if any(row[0] is not None and row[0] < cursor for row in rows):
                    logger.warning(
                        "%s %s %s: the page asked from %s held only older bars (the exchange "
                        "seems to ignore since); stopping",
                        self.exchange_id,
                        symbol,
                        timeframe,
                        pd.Timestamp(cursor, unit="ms"),
                    )
                return
            yield page
            cursor = int(page["ts"].to_numpy()[-1].astype("int64")) + timeframe_ms

    def _check_timeframe(self, symbol: str, timeframe: str) -> None:
        """Raise SourceError unless the exchange serves candles in ``timeframe``."""
        if not self.client.has.get("fetchOHLCV"):
            raise SourceError(
                f"{self.exchange_id} does not serve OHLCV candles through ccxt, so {symbol} "
                f"{timeframe} cannot be fetched from it: pick another exchange"
            )
        supported = list(self.client.timeframes or {})
        if timeframe not in supported:
            raise SourceError(
                f"{self.exchange_id} has no {timeframe!r} candles (asked for {symbol}): use one "
                f"of {', '.join(supported)}"
            )

    def _check_symbol(self, symbol: str, timeframe: str) -> None:
        """Raise SourceError (with close matches) unless ``symbol`` is a listed market."""
        markets = self.client.markets
        if symbol in markets:
            return
        suggestions = _similar_symbols(self.client, symbol)
        hint = (
            f"Did you mean {', '.join(suggestions)}?"
            if suggestions
            else f"It lists {len(markets)} markets, e.g. {', '.join(sorted(markets)[:5])}."
        )
        raise SourceError(
            f"symbol {symbol!r} is not listed on {self.exchange_id} (BadSymbol), so no "
            f"{timeframe} candles can be fetched. {hint} Use ccxt's unified BASE/QUOTE spelling."
        )

    def _call(
        self,
        action: str,
        symbol: str,
        timeframe: str,
        method: Callable[..., Any],
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        """Run one ccxt call, retrying network errors with exponential backoff.

        ``action`` says what the call does ("fetching candles"), for messages.
        """
        context = f"{self.exchange_id} {symbol} {timeframe}"
        retries = 0
        while True:
            try:
                return method(*args, **kwargs)
            except ccxt.NetworkError as exc:
                if retries == self._max_retries:
                    raise SourceError(
                        f"{context}: {action} failed after {retries + 1} attempts, last with "
                        f"{self._describe(exc)}. The exchange is unreachable, down or limiting "
                        "our rate: check the connection and try again later.",
                        retryable=True,
                    ) from exc
                delay = self._backoff_seconds * 2**retries
                retries += 1
                logger.warning(
                    "%s: %s failed with %s; retry %d of %d in %.1f s",
                    context,
                    action,
                    self._describe(exc),
                    retries,
                    self._max_retries,
                    delay,
                )
                self._sleep(delay)
            except ccxt.BadSymbol as exc:
                raise SourceError(
                    f"{context}: {self.exchange_id} does not know the symbol while {action} "
                    f"({self._describe(exc)}). Check that {symbol} is listed and not delisted."
                ) from exc
            except ccxt.AuthenticationError as exc:
                raise SourceError(
                    f"{context}: {self.exchange_id} refused {action} as not authorised "
                    f"({self._describe(exc)}). Public candles need no API key: check that your "
                    "IP/region may use this exchange and that no invalid keys are configured."
                ) from exc
            except ccxt.BaseError as exc:
                raise SourceError(
                    f"{context}: {self.exchange_id} rejected {action} ({self._describe(exc)}). "
                    "This is not retried: check symbol, timeframe and dates, or the ccxt version."
                ) from exc

    def _describe(self, exc: Exception) -> str:
        """``ClassName: message`` of a ccxt error with any credential of the client masked."""
        text = f"{type(exc).__name__}: {exc}"
        for attribute in _CREDENTIAL_ATTRIBUTES:
            value = getattr(self.client, attribute, None)
            if isinstance(value, str) and value:
                text = text.replace(value, "***")
        return text


def _similar_symbols(client: ccxt.Exchange, symbol: str) -> list[str]:
    """Listed symbols the user may have meant: id spelling, common codes, close strings."""
    found = [market["symbol"] for market in (client.markets_by_id or {}).get(symbol, [])]
    base, slash, quote = symbol.upper().partition("/")
    if slash:
        unified = f"{client.safe_currency_code(base)}/{client.safe_currency_code(quote)}"
        if unified in client.markets:
            found.append(unified)
    found += difflib.get_close_matches(symbol.upper(), list(client.markets), n=3, cutoff=0.6)
    return list(dict.fromkeys(found))[:3]


def _page_frame(rows: list[list[Any]], start_ms: int, end_ms: int) -> pd.DataFrame:
    """ccxt OHLCV rows -> ``OHLCV_COLUMNS`` frame of the bars with ``start_ms <= ts < end_ms``.

    Sorted by ``ts``; of duplicate bars the one the exchange listed last is kept.
    """
    kept = [row[:6] for row in rows if row[0] is not None and start_ms <= row[0] < end_ms]
    frame = pd.DataFrame(kept, columns=OHLCV_COLUMNS)
    frame = frame.astype({column: "float64" for column in OHLCV_COLUMNS[1:]})
    frame["ts"] = frame["ts"].astype("int64").astype("datetime64[ms]")
    frame = frame.sort_values("ts", kind="stable").drop_duplicates("ts", keep="last")
    return frame.reset_index(drop=True)
