"""The live ccxt market source, offline: native exchange payloads through ccxt's own code.

Every client here is a real ccxt client made by ``create_client`` (the production settings) whose
HTTP session answers from ``tests/fixtures/ccxt/<exchange>/`` instead of the network, so ccxt's
request signing, error mapping and ``parse_ohlcv`` all run. The payloads are hand-made in each
exchange's native format (see the README there). Every test pins "now" and counts sleeps.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import ccxt
import pandas as pd
import pytest
import requests
from requests.structures import CaseInsensitiveDict

from cryptobot.errors import ConfigError, SourceError
from cryptobot.sources.base import OHLCV_COLUMNS
from cryptobot.sources.ccxt_source import CcxtMarketSource, create_client

FIXTURES = Path(__file__).parents[1] / "fixtures" / "ccxt"
HOUR = timedelta(hours=1)
T0 = datetime(2024, 3, 1)  # first bar of every recorded page 1
NOW = T0 + 5 * HOUR + timedelta(minutes=30)  # the T0+5h bar is still open


def ms(moment: datetime) -> int:
    return int((moment - datetime(1970, 1, 1)).total_seconds() * 1000)


# --- a requests session that answers from recorded payloads -----------------------------------


@dataclass
class Reply:
    """One HTTP answer (status and body), or a transport error raised instead of answering."""

    body: str = ""
    status: int = 200
    error: Exception | None = None


def recorded(exchange: str, name: str, status: int = 200) -> Reply:
    return Reply(body=(FIXTURES / exchange / name).read_text(), status=status)


@dataclass
class Route:
    """Requests to ``host_path`` whose query contains ``query`` get ``replies`` in turn.

    The last reply keeps answering once the others are used up.
    """

    host_path: str
    replies: list[Reply]
    query: dict[str, str] = field(default_factory=dict)
    calls: int = 0


class RecordedSession(requests.Session):
    """Stands in for ccxt's ``requests`` session; records every URL and never opens a socket."""

    def __init__(self, routes: list[Route]) -> None:
        super().__init__()
        self.routes = routes
        self.urls: list[str] = []

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        self.urls.append(url)
        if len(self.urls) > 30:
            raise AssertionError("runaway pagination: more than 30 requests")
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        for route in self.routes:
            if (
                parts.netloc + parts.path == route.host_path
                and route.query.items() <= query.items()
            ):
                reply = route.replies[min(route.calls, len(route.replies) - 1)]
                route.calls += 1
                if reply.error is not None:
                    raise reply.error
                response = requests.Response()
                response.status_code = reply.status
                response.reason = HTTPStatus(reply.status).phrase
                response.url = url
                response.headers = CaseInsensitiveDict({"Content-Type": "application/json"})
                response._content = reply.body.encode()
                return response
        raise AssertionError(f"no recorded payload for {method} {url}")

    def queries(self, host_path: str) -> list[dict[str, str]]:
        """Query parameters of the requests made to ``host_path``, in order."""
        return [
            dict(parse_qsl(parts.query))
            for parts in map(urlsplit, self.urls)
            if parts.netloc + parts.path == host_path
        ]


# --- what each exchange's recorded payloads look like -----------------------------------------


def binance_rows(payload: Any) -> list[list[Any]]:
    """/api/v3/klines: [openTime ms, open, high, low, close, volume, closeTime, ...] strings."""
    return [[row[0], *row[1:6]] for row in payload]


def kraken_rows(payload: Any) -> list[list[Any]]:
    """/0/public/OHLC: [time s, open, high, low, close, vwap, volume, count]: volume is 6th."""
    return [[row[0] * 1000, *row[1:5], row[6]] for row in payload["result"]["XXBTZUSD"]]


def tokocrypto_native_rows(payload: Any) -> list[list[Any]]:
    """/open/v1/market/klines: Binance's kline rows inside {"code", "msg", "data"}."""
    return binance_rows(payload["data"])


def indodax_rows(payload: Any) -> list[list[Any]]:
    """/tradingview/history_v2: objects with Time (s), numeric prices and a string Volume."""
    keys = ("Open", "High", "Low", "Close", "Volume")
    return [[row["Time"] * 1000, *(row[key] for key in keys)] for row in payload]


@dataclass(frozen=True)
class Case:
    """One exchange market: where ccxt looks for markets and candles, and how to read them."""

    name: str
    exchange_id: str
    symbol: str
    markets: tuple[tuple[str, str], ...]  # (host/path, fixture) that load_markets asks for
    candles: str  # host/path of the candles endpoint
    pages: tuple[str, str]  # fixtures answering the cursors T0 and T0 + 3h
    cursor: Callable[[datetime], dict[str, str]]  # query params that carry a cursor
    native_rows: Callable[[Any], list[list[Any]]]

    def page_json(self, page: int) -> Any:
        return json.loads((FIXTURES / self.exchange_id / self.pages[page]).read_text())


BINANCE = Case(
    "binance",
    "binance",
    "BTC/USDT",
    (("api.binance.com/api/v3/exchangeInfo", "exchangeInfo.json"),),
    "api.binance.com/api/v3/klines",
    ("klines_BTCUSDT_1h_page1.json", "klines_BTCUSDT_1h_page2.json"),
    lambda since: {"symbol": "BTCUSDT", "interval": "1h", "startTime": str(ms(since))},
    binance_rows,
)
KRAKEN = Case(
    "kraken",
    "kraken",
    "BTC/USD",
    (
        ("api.kraken.com/0/public/Assets", "Assets.json"),
        ("api.kraken.com/0/public/AssetPairs", "AssetPairs.json"),
    ),
    "api.kraken.com/0/public/OHLC",
    ("OHLC_XXBTZUSD_60_page1.json", "OHLC_XXBTZUSD_60_page2.json"),
    # ccxt asks Kraken for one bar before the cursor, in seconds
    lambda since: {"pair": "XXBTZUSD", "interval": "60", "since": str(ms(since - HOUR) // 1000)},
    kraken_rows,
)
TOKOCRYPTO = Case(
    "tokocrypto",
    "tokocrypto",
    "BTC/USDT",
    (("www.tokocrypto.com/open/v1/common/symbols", "symbols.json"),),
    # a type-1 market: ccxt fetches its candles from Binance's host, in Binance's format
    "api.binance.com/api/v3/klines",
    ("binance_klines_BTCUSDT_1h_page1.json", "binance_klines_BTCUSDT_1h_page2.json"),
    lambda since: {"symbol": "BTCUSDT", "interval": "1h", "startTime": str(ms(since))},
    binance_rows,
)
TOKOCRYPTO_NATIVE = Case(
    "tokocrypto-native",
    "tokocrypto",
    "BTC/IDR",
    (("www.tokocrypto.com/open/v1/common/symbols", "symbols.json"),),
    "www.tokocrypto.com/open/v1/market/klines",
    ("klines_BTC_IDR_1h_page1.json", "klines_BTC_IDR_1h_page2.json"),
    lambda since: {"symbol": "BTC_IDR", "interval": "1h", "startTime": str(ms(since))},
    tokocrypto_native_rows,
)
INDODAX = Case(
    "indodax",
    "indodax",
    "BTC/IDR",
    (("indodax.com/api/pairs", "pairs.json"),),
    "indodax.com/tradingview/history_v2",
    ("history_v2_btcidr_60_page1.json", "history_v2_btcidr_60_page2.json"),
    lambda since: {"symbol": "btcidr", "tf": "60", "from": str(ms(since) // 1000)},
    indodax_rows,
)
CASES = [BINANCE, KRAKEN, TOKOCRYPTO, TOKOCRYPTO_NATIVE, INDODAX]
by_name = pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])


def page_routes(case: Case) -> list[Route]:
    """Candle requests from the cursors T0 and T0 + 3h answered with recorded pages 1 and 2."""
    return [
        Route(case.candles, [recorded(case.exchange_id, case.pages[0])], case.cursor(T0)),
        Route(
            case.candles, [recorded(case.exchange_id, case.pages[1])], case.cursor(T0 + 3 * HOUR)
        ),
    ]


@dataclass
class Harness:
    source: CcxtMarketSource
    session: RecordedSession
    sleeps: list[float]


def harness(
    case: Case,
    routes: list[Route],
    *,
    now: datetime = NOW,
    page_limit: int | None = None,
    client: ccxt.Exchange | None = None,
    **source_options: Any,
) -> Harness:
    """A source on a production-configured client whose HTTP answers come from ``routes``.

    The markets routes of ``case`` are appended, so a test's own routes for them win.
    """
    client = client if client is not None else create_client(case.exchange_id)
    client.enableRateLimit = False  # ccxt's limiter would really sleep between requests
    markets = [Route(path, [recorded(case.exchange_id, name)]) for path, name in case.markets]
    session = RecordedSession(routes + markets)
    client.session = session
    if page_limit is not None:  # pretend the exchange serves this many candles per request
        client.features["spot"]["fetchOHLCV"]["limit"] = page_limit
    sleeps: list[float] = []
    source = CcxtMarketSource(
        case.exchange_id, client=client, sleep=sleeps.append, now=lambda: now, **source_options
    )
    return Harness(source, session, sleeps)


def expected_frame(case: Case, page: int, start: datetime, stop: datetime) -> pd.DataFrame:
    """Bars of recorded page ``page`` with ``start <= ts < stop``, built from the JSON alone."""
    rows = [row for row in case.native_rows(case.page_json(page)) if ms(start) <= row[0] < ms(stop)]
    return pd.DataFrame(
        {
            "ts": pd.Series([row[0] for row in rows], dtype="int64").astype("datetime64[ms]"),
            **{
                column: pd.Series([float(row[i]) for row in rows], dtype="float64")
                for i, column in enumerate(OHLCV_COLUMNS[1:], start=1)
            },
        }
    )


def assert_frame_exact(frame: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Same columns, dtypes, index and values, floats compared exactly."""
    pd.testing.assert_frame_equal(frame, expected, check_exact=True)


# --- parsing and pagination -------------------------------------------------------------------


@by_name
def test_parses_recorded_page_into_the_exact_frame(case: Case) -> None:
    h = harness(case, page_routes(case), now=T0 + 3 * HOUR)

    frames = list(h.source.fetch_ohlcv(case.symbol, "1h", since=T0))

    assert len(frames) == 1
    assert list(frames[0].columns) == OHLCV_COLUMNS
    assert_frame_exact(frames[0], expected_frame(case, 0, T0, T0 + 3 * HOUR))
    assert len(frames[0]) == 3
    assert len(h.session.queries(case.candles)) == 1


@by_name
def test_paginates_with_the_since_cursor(case: Case) -> None:
    h = harness(case, page_routes(case), page_limit=3)

    frames = list(h.source.fetch_ohlcv(case.symbol, "1h", since=T0))

    requested = h.session.queries(case.candles)
    assert len(requested) == 2
    assert case.cursor(T0).items() <= requested[0].items()
    assert case.cursor(T0 + 3 * HOUR).items() <= requested[1].items()
    assert len(frames) == 2
    assert_frame_exact(frames[0], expected_frame(case, 0, T0, T0 + 3 * HOUR))
    assert_frame_exact(frames[1], expected_frame(case, 1, T0 + 3 * HOUR, T0 + 5 * HOUR))


@by_name
@pytest.mark.parametrize(
    ("now", "last_bar"),
    [
        (T0 + 6 * HOUR - timedelta(seconds=1), T0 + 4 * HOUR),  # T0+5h still open: dropped
        (T0 + 6 * HOUR, T0 + 5 * HOUR),  # T0+5h closed exactly now: kept
    ],
    ids=["open", "just-closed"],
)
def test_drops_the_still_open_candle(case: Case, now: datetime, last_bar: datetime) -> None:
    last_recorded = max(row[0] for row in case.native_rows(case.page_json(1)))
    assert last_recorded == ms(T0 + 5 * HOUR)
    h = harness(case, page_routes(case), now=now, page_limit=3)

    frames = list(h.source.fetch_ohlcv(case.symbol, "1h", since=T0))

    assert frames[-1]["ts"].iloc[-1] == pd.Timestamp(last_bar)
    assert len(h.session.queries(case.candles)) == 2


def test_page_size_is_the_limit_ccxt_knows_for_the_exchange() -> None:
    h = harness(BINANCE, page_routes(BINANCE), now=T0 + 3 * HOUR)

    list(h.source.fetch_ohlcv("BTC/USDT", "1h", since=T0))

    assert h.session.queries(BINANCE.candles)[0]["limit"] == "1000"


def test_until_is_exclusive_and_stops_fetching() -> None:
    h = harness(BINANCE, page_routes(BINANCE), page_limit=3)

    frames = list(h.source.fetch_ohlcv("BTC/USDT", "1h", since=T0, until=T0 + 2 * HOUR))

    assert [list(frame["ts"]) for frame in frames] == [[pd.Timestamp(T0), pd.Timestamp(T0 + HOUR)]]
    assert len(h.session.queries(BINANCE.candles)) == 1


def test_without_since_starts_thirty_days_back() -> None:
    start = NOW - timedelta(days=30)
    routes = [Route(BINANCE.candles, [Reply(body="[]")], BINANCE.cursor(start))]
    h = harness(BINANCE, routes)

    assert list(h.source.fetch_ohlcv("BTC/USDT", "1h")) == []
    assert len(h.session.queries(BINANCE.candles)) == 1


def test_duplicate_bars_keep_the_last_listed_revision() -> None:
    payload = INDODAX.page_json(0)[:3]
    revised = {**payload[1], "Close": payload[1]["Close"] + 1000, "Volume": "99.5"}
    payload = [payload[1], payload[0], revised, payload[2]]  # unsorted, T0+1h twice
    routes = [Route(INDODAX.candles, [Reply(body=json.dumps(payload))], INDODAX.cursor(T0))]
    h = harness(INDODAX, routes, now=T0 + 3 * HOUR)

    (frame,) = list(h.source.fetch_ohlcv("BTC/IDR", "1h", since=T0))

    assert list(frame["ts"]) == [pd.Timestamp(T0 + i * HOUR) for i in range(3)]
    assert frame.loc[1, "close"] == float(revised["Close"])
    assert frame.loc[1, "volume"] == 99.5


class SinceIgnoringBinance(ccxt.binance):
    """A client whose exchange ignores ``since``: every request returns the newest page."""

    def fetch_ohlcv(
        self,
        symbol: str,
        timeframe: str = "1m",
        since: int | None = None,
        limit: int | None = None,
        params: dict[str, Any] | None = None,
    ) -> list[list[Any]]:
        return super().fetch_ohlcv(symbol, timeframe, None, limit, params or {})


def test_stops_when_the_exchange_repeats_the_same_page(caplog: pytest.LogCaptureFixture) -> None:
    client = SinceIgnoringBinance({"options": {"fetchMarkets": {"types": ["spot"]}}})
    routes = [Route(BINANCE.candles, [recorded("binance", BINANCE.pages[0])])]
    h = harness(BINANCE, routes, client=client, page_limit=3)

    with caplog.at_level(logging.WARNING):
        frames = list(h.source.fetch_ohlcv("BTC/USDT", "1h", since=T0))

    assert len(frames) == 1
    assert_frame_exact(frames[0], expected_frame(BINANCE, 0, T0, T0 + 3 * HOUR))
    assert len(h.session.queries(BINANCE.candles)) == 2
    assert "ignore since" in caplog.text


# --- retries and errors -----------------------------------------------------------------------

RETRIED = [
    # (case, what the candles endpoint answers first, the ccxt error it becomes)
    (BINANCE, recorded("binance", "error_rate_limit.json", 429), "DDoSProtection"),
    (
        BINANCE,
        Reply("<html><body>503 Service Unavailable</body></html>", 503),
        "ExchangeNotAvailable",
    ),
    (BINANCE, Reply(error=requests.exceptions.ReadTimeout("read timed out")), "RequestTimeout"),
    (KRAKEN, recorded("kraken", "error_rate_limit.json"), "DDoSProtection"),
    (KRAKEN, recorded("kraken", "error_unavailable.json"), "ExchangeNotAvailable"),
    (INDODAX, Reply("Too Many Requests", 429), "RateLimitExceeded"),
    (TOKOCRYPTO_NATIVE, Reply("Bad Gateway", 502), "ExchangeNotAvailable"),
    (TOKOCRYPTO, Reply(error=requests.exceptions.ConnectionError("reset")), "NetworkError"),
]


@pytest.mark.parametrize(
    ("case", "failure", "error_name"),
    RETRIED,
    ids=[f"{case.name}-{name}" for case, _, name in RETRIED],
)
def test_retries_network_errors_with_exponential_backoff(
    case: Case, failure: Reply, error_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    page = recorded(case.exchange_id, case.pages[0])
    routes = [Route(case.candles, [failure, failure, page], case.cursor(T0))]
    h = harness(case, routes, now=T0 + 3 * HOUR, backoff_seconds=0.5)

    with caplog.at_level(logging.WARNING):
        frames = list(h.source.fetch_ohlcv(case.symbol, "1h", since=T0))

    assert h.sleeps == [0.5, 1.0]
    assert len(h.session.queries(case.candles)) == 3
    assert_frame_exact(frames[0], expected_frame(case, 0, T0, T0 + 3 * HOUR))
    assert caplog.text.count(error_name) == 2


def test_retries_loading_markets_too() -> None:
    markets = Route("api.binance.com/api/v3/exchangeInfo", [Reply("", 504)])
    markets.replies.append(recorded("binance", "exchangeInfo.json"))
    h = harness(BINANCE, [markets, *page_routes(BINANCE)], now=T0 + 3 * HOUR)

    assert len(list(h.source.fetch_ohlcv("BTC/USDT", "1h", since=T0))) == 1
    assert h.sleeps == [1.0]
    assert markets.calls == 2


def test_gives_up_after_max_retries() -> None:
    routes = [Route(BINANCE.candles, [Reply("Service Unavailable", 503)])]
    h = harness(BINANCE, routes, max_retries=3, backoff_seconds=1.0)

    with pytest.raises(SourceError, match="after 4 attempts") as raised:
        list(h.source.fetch_ohlcv("BTC/USDT", "1h", since=T0))

    assert h.sleeps == [1.0, 2.0, 4.0]
    assert len(h.session.queries(BINANCE.candles)) == 4
    assert "binance BTC/USDT 1h" in str(raised.value)
    assert "ExchangeNotAvailable" in str(raised.value)
    assert raised.value.retryable  # the flow may try the series again later


NOT_RETRIED = [
    (BINANCE, recorded("binance", "error_invalid_symbol.json", 400), "BadSymbol"),
    (BINANCE, recorded("binance", "error_api_key.json", 401), "AuthenticationError"),
    (BINANCE, recorded("binance", "error_illegal_characters.json", 400), "BadRequest"),
    (KRAKEN, recorded("kraken", "error_invalid_pair.json"), "BadSymbol"),
    (KRAKEN, recorded("kraken", "error_invalid_key.json"), "AuthenticationError"),
    (INDODAX, recorded("indodax", "error_invalid_pair.json"), "BadSymbol"),
]


@pytest.mark.parametrize(
    ("case", "failure", "error_name"),
    NOT_RETRIED,
    ids=[f"{case.name}-{name}" for case, _, name in NOT_RETRIED],
)
def test_exchange_errors_are_not_retried(case: Case, failure: Reply, error_name: str) -> None:
    h = harness(case, [Route(case.candles, [failure])])

    with pytest.raises(SourceError) as raised:
        list(h.source.fetch_ohlcv(case.symbol, "1h", since=T0))

    message = str(raised.value)
    assert f"{case.exchange_id} {case.symbol} 1h" in message
    assert error_name in message
    assert h.sleeps == []
    assert len(h.session.queries(case.candles)) == 1
    assert not raised.value.retryable


def test_credentials_never_reach_the_message() -> None:
    client = create_client("binance")
    client.apiKey = "k3y-0123456789abcdef"
    body = json.dumps(
        {"code": -2015, "msg": f"Invalid API-key {client.apiKey}, IP, or permissions."}
    )
    h = harness(BINANCE, [Route(BINANCE.candles, [Reply(body, 401)])], client=client)

    with pytest.raises(SourceError) as raised:
        list(h.source.fetch_ohlcv("BTC/USDT", "1h", since=T0))

    assert "k3y-0123456789abcdef" not in str(raised.value)
    assert "Invalid API-key ***" in str(raised.value)


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "timeframe", "listed"),
    [(KRAKEN, "2h", "1m, 5m, 15m, 30m, 1h, 4h, 1d, 1w, 2w"), (INDODAX, "5m", "1m, 15m, 30m, 1h")],
    ids=["kraken-2h", "indodax-5m"],
)
def test_unsupported_timeframe_lists_the_supported_ones(
    case: Case, timeframe: str, listed: str
) -> None:
    h = harness(case, [])

    with pytest.raises(SourceError, match=f"no '{timeframe}' candles") as raised:
        h.source.fetch_ohlcv(case.symbol, timeframe, since=T0)

    assert listed in str(raised.value)
    assert h.session.urls == []


@pytest.mark.parametrize(
    ("case", "symbol", "hint"),
    [
        (KRAKEN, "XBT/USD", "Did you mean BTC/USD"),  # Kraken's own spelling of the pair
        (BINANCE, "BTCUSDT", "Did you mean BTC/USDT"),  # the exchange's market id
        (INDODAX, "btc/idr", "Did you mean BTC/IDR"),
        (BINANCE, "DOGE/EUR", "It lists 3 markets, e.g. BTC/USDT, ETH/BTC, ETH/USDT."),
    ],
    ids=["kraken-xbt", "binance-id", "indodax-lowercase", "binance-none-close"],
)
def test_unknown_symbol_names_close_matches(case: Case, symbol: str, hint: str) -> None:
    h = harness(case, [])

    with pytest.raises(SourceError, match="BadSymbol") as raised:
        h.source.fetch_ohlcv(symbol, "1h", since=T0)

    assert hint in str(raised.value)
    assert symbol in str(raised.value)
    assert h.session.queries(case.candles) == []


def test_unknown_exchange_id_names_close_and_common_ids() -> None:
    with pytest.raises(SourceError, match="unknown exchange id 'binanse'") as raised:
        CcxtMarketSource("binanse")

    assert "did you mean binance" in str(raised.value)
    assert "kraken, tokocrypto, indodax" in str(raised.value)


def test_exchange_without_candles_is_refused_before_any_request() -> None:
    client = create_client("coincheck")  # ccxt has no fetchOHLCV for it
    client.session = session = RecordedSession([])

    with pytest.raises(SourceError, match="coincheck does not serve OHLCV candles"):
        CcxtMarketSource("coincheck", client=client).fetch_ohlcv("BTC/JPY", "1h")

    assert session.urls == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_retries": -1}, "must not be negative"),
        ({"backoff_seconds": -0.5}, "must not be negative"),
        ({"client": create_client("kraken")}, "client is for 'kraken', not 'binance'"),
    ],
    ids=["max_retries", "backoff_seconds", "client-id"],
)
def test_invalid_settings_are_config_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        CcxtMarketSource("binance", **options)


@pytest.mark.parametrize("exchange_id", ["binance", "kraken", "tokocrypto", "indodax"])
def test_created_clients_use_the_rate_limiter(
    exchange_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    configs: list[dict[str, Any]] = []
    exchange_class = getattr(ccxt, exchange_id)

    class Recording(exchange_class):
        def __init__(self, config: dict[str, Any]) -> None:
            configs.append(config)
            super().__init__(config)

    monkeypatch.setattr(ccxt, exchange_id, Recording)

    source = CcxtMarketSource(exchange_id)

    assert len(configs) == 1
    assert configs[0]["enableRateLimit"] is True
    assert source.client.enableRateLimit is True
    assert not source.client.apiKey


def test_binance_clients_load_spot_markets_only() -> None:
    assert create_client("binance").options["fetchMarkets"]["types"] == ["spot"]
