"""The dbt feature layer end to end: synthetic candles and sentiment in a temporary warehouse,
``build_features`` (dbt in process), then the features checked against TA-Lib and numpy, the
as-of sentiment join, the labels, point-in-time safety and incremental == full rebuild.

dbt invocations cost about two seconds each, so the builds are shared by module-scoped fixtures
that move one warehouse forward in time: a first build, new bars appended, a bar backfilled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import talib

from cryptobot.config import Settings
from cryptobot.errors import FeatureBuildError
from cryptobot.features import FEATURES_TABLE, FeatureBuildResult, build_features
from cryptobot.warehouse.db import read_connection, write_connection

pytestmark = pytest.mark.integration

WARMUP = 300
HOUR = timedelta(hours=1)
#: bars per series in the first build; BTC's series then crosses an EMA block boundary (2048)
#: when APPENDED bars arrive, so the incremental run carries EMAs into a block of its own.
FIRST_BARS = {"BTC/USDT": 2040, "ETH/USDT": 1500}
APPENDED = 30
STARTS = {"BTC/USDT": datetime(2024, 1, 1), "ETH/USDT": datetime(2024, 1, 20, 5)}
#: an ETH bar left out of the first build and backfilled later (a gap filled after the fact)
BACKFILLED_ETH_BAR = 700
FEATURE_COLUMNS = [
    "open",
    "high",
    "low",
    "close",
    "volume",
    "bar_index",
    "log_return_1",
    "log_return_4",
    "log_return_24",
    "realized_vol_24",
    "rsi_14",
    "macd",
    "macd_signal",
    "macd_hist",
    "bb_upper",
    "bb_middle",
    "bb_lower",
    "volume_zscore_24",
    "hour_of_day",
    "day_of_week",
    "sentiment",
    "sentiment_age_hours",
]
LABEL_COLUMNS = ["fwd_return_1", "fwd_direction_1"]


def _candles(symbol: str, bars: int, seed: int) -> pd.DataFrame:
    """A geometric random walk around 40,000 with OHLC around it and a flat-volume stretch."""
    rng = np.random.default_rng(seed)
    close = 40_000 * np.exp(np.cumsum(rng.normal(0, 0.01, bars)))
    open_ = np.concatenate([[40_000.0], close[:-1]])
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.002, bars)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.002, bars)))
    volume = rng.lognormal(3, 1, bars)
    volume[400:440] = 25.0  # 40 equal volumes: the z-score's SD is 0 there, so it must be NULL
    ts = pd.date_range(STARTS[symbol], periods=bars, freq="1h")
    return pd.DataFrame(
        {
            "exchange": "binance",
            "symbol": symbol,
            "timeframe": "1h",
            "ts": ts,
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": volume,
            "source": "simulated",
            "fetched_at": ts + HOUR,
            "available_at": ts + HOUR,
            "batch_id": "test",
        }
    )


def _sentiment(symbol: str, start: datetime, periods: int, seed: int) -> pd.DataFrame:
    """A value every 6 hours, published 90 minutes after the moment it describes."""
    rng = np.random.default_rng(seed)
    ts = pd.date_range(start, periods=periods, freq="6h")
    return pd.DataFrame(
        {
            "source": "simulated",
            "symbol": symbol,
            "ts": ts,
            "value": rng.normal(0, 1, periods),
            "fetched_at": ts + timedelta(minutes=90),
            "available_at": ts + timedelta(minutes=90),
            "batch_id": "test",
        }
    )


# Two hand-placed BTC values around bar 1000 (whose close is START + 1001 h): one available
# exactly at the close (usable for bar 1000), one a second after bar 1010's close (usable only
# from bar 1011 on). Both fall between the 6-hourly values, so they are the latest ones known.
BTC_CLOSE_1000 = STARTS["BTC/USDT"] + 1001 * HOUR
BTC_CLOSE_1010 = STARTS["BTC/USDT"] + 1011 * HOUR
PLANTED = pd.DataFrame(
    {
        "source": "simulated",
        "symbol": "BTC/USDT",
        "ts": [BTC_CLOSE_1000 - timedelta(minutes=10), BTC_CLOSE_1010 - timedelta(minutes=10)],
        "value": [111.0, 222.0],
        "fetched_at": [BTC_CLOSE_1000, BTC_CLOSE_1010 + timedelta(seconds=1)],
        "available_at": [BTC_CLOSE_1000, BTC_CLOSE_1010 + timedelta(seconds=1)],
        "batch_id": "test",
    }
)


@dataclass
class Warehouse:
    settings: Settings
    candles: pd.DataFrame  # every bar that will ever exist, with is_stored telling which are in
    sentiment: pd.DataFrame

    def store(self, candles: pd.DataFrame) -> None:
        with write_connection(self.settings.warehouse) as con:
            con.register("new_candles", candles.drop(columns="is_stored"))
            con.execute("insert into market_data by name select * from new_candles")
        self.candles.loc[candles.index, "is_stored"] = True

    def build(self, *, full_refresh: bool = False) -> tuple[FeatureBuildResult, pd.DataFrame]:
        result = build_features(self.settings, full_refresh=full_refresh, log=lambda _: None)
        return result, read_features(self.settings.warehouse)


def read_features(warehouse: Path) -> pd.DataFrame:
    with read_connection(warehouse) as con:
        return con.execute(
            f"select * from {FEATURES_TABLE} order by exchange, symbol, timeframe, ts"
        ).df()


def make_settings(root: Path) -> Settings:
    return Settings(warehouse=root / "warehouse.duckdb", data_dir=root / "data")


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    settings = make_settings(tmp_path_factory.mktemp("features"))
    candles = []
    for seed, (symbol, bars) in enumerate(FIRST_BARS.items()):
        frame = _candles(symbol, bars + APPENDED, seed)
        frame["is_stored"] = False
        candles.append(frame)
    sentiment_rows = pd.concat(
        [
            _sentiment("BTC/USDT", STARTS["BTC/USDT"] - timedelta(days=2), 700, 10),
            # ETH's sentiment starts 100 hours after its first bar: NULL until then
            _sentiment("ETH/USDT", STARTS["ETH/USDT"] + 100 * HOUR, 500, 11),
            PLANTED,
        ],
        ignore_index=True,
    )
    with write_connection(settings.warehouse) as con:
        con.register("sentiment_rows", sentiment_rows)
        con.execute("insert into sentiment by name select * from sentiment_rows")
    store = Warehouse(settings, pd.concat(candles, ignore_index=True), sentiment_rows)
    bar_number = store.candles.groupby("symbol").cumcount()
    first = bar_number < store.candles["symbol"].map(FIRST_BARS)
    backfilled = (store.candles["symbol"] == "ETH/USDT") & (bar_number == BACKFILLED_ETH_BAR)
    store.store(store.candles[first & ~backfilled])
    return store


@pytest.fixture(scope="module")
def first_build(warehouse: Warehouse) -> tuple[FeatureBuildResult, pd.DataFrame]:
    return warehouse.build()


@pytest.fixture(scope="module")
def appended_builds(
    warehouse: Warehouse, first_build: tuple[FeatureBuildResult, pd.DataFrame]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """After APPENDED new bars per series: (incremental build, full rebuild)."""
    bar_number = warehouse.candles.groupby("symbol").cumcount()
    new = bar_number >= warehouse.candles["symbol"].map(FIRST_BARS)
    warehouse.store(warehouse.candles[new])
    _, incremental = warehouse.build()
    _, rebuilt = warehouse.build(full_refresh=True)
    return incremental, rebuilt


@pytest.fixture(scope="module")
def backfilled_builds(
    warehouse: Warehouse, appended_builds: tuple[pd.DataFrame, pd.DataFrame]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """After ETH's missing bar arrives late: (incremental build, full rebuild)."""
    warehouse.store(warehouse.candles[~warehouse.candles["is_stored"]])
    _, incremental = warehouse.build()
    _, rebuilt = warehouse.build(full_refresh=True)
    return incremental, rebuilt


def expected_features(candles: pd.DataFrame) -> pd.DataFrame:
    """Every indicator and label of one series from TA-Lib and numpy."""
    close = candles["close"].to_numpy()
    volume = candles["volume"].to_numpy()
    log_close = np.log(close)
    expected = pd.DataFrame(index=candles.index)
    for lag in (1, 4, 24):
        returns = np.full(len(close), np.nan)
        returns[lag:] = log_close[lag:] - log_close[:-lag]
        expected[f"log_return_{lag}"] = returns
    expected["realized_vol_24"] = (
        pd.Series(expected["log_return_1"].to_numpy()).rolling(24).std(ddof=1).to_numpy()
    )
    windows = np.lib.stride_tricks.sliding_window_view(volume, 24)
    mean, sd = windows.mean(axis=1), windows.std(axis=1)
    zscore = np.full(len(volume), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        zscore[23:] = np.where(sd > 0, (volume[23:] - mean) / sd, np.nan)
    expected["volume_zscore_24"] = zscore
    expected["rsi_14"] = talib.RSI(close, timeperiod=14)
    macd, signal, hist = talib.MACD(close, fastperiod=12, slowperiod=26, signalperiod=9)
    expected["macd"], expected["macd_signal"], expected["macd_hist"] = macd, signal, hist
    upper, middle, lower = talib.BBANDS(close, timeperiod=20, nbdevup=2, nbdevdn=2, matype=0)
    expected["bb_upper"], expected["bb_middle"], expected["bb_lower"] = upper, middle, lower
    forward = np.full(len(close), np.nan)
    forward[:-1] = log_close[1:] - log_close[:-1]
    expected["fwd_return_1"] = forward
    return expected


INDICATORS = ["rsi_14", "macd", "macd_signal", "macd_hist", "bb_upper", "bb_middle", "bb_lower"]


def stored_candles(warehouse: Warehouse, symbol: str) -> pd.DataFrame:
    candles = warehouse.candles
    return candles[(candles["symbol"] == symbol) & candles["is_stored"]].reset_index(drop=True)


def test_first_build_reports_models_tests_and_rows(first_build, warehouse):
    result, features = first_build
    assert result.models_built == 4
    assert result.tests_passed >= 10
    assert result.tests_failed == 0
    assert result.rows == len(features) == warehouse.candles["is_stored"].sum()
    assert not result.full_refresh
    assert (features.groupby("symbol")["bar_index"].max() + 1).to_dict() == {
        "BTC/USDT": FIRST_BARS["BTC/USDT"],
        "ETH/USDT": FIRST_BARS["ETH/USDT"] - 1,
    }


@pytest.mark.parametrize("symbol", list(FIRST_BARS))
def test_indicators_match_talib_after_warmup_and_are_null_before(first_build, warehouse, symbol):
    _, features = first_build
    ours = features[features["symbol"] == symbol].reset_index(drop=True)
    expected = expected_features(stored_candles(warehouse, symbol))
    assert (ours["bar_index"] == np.arange(len(ours))).all()
    warm = ours["bar_index"] >= WARMUP
    assert ours.loc[~warm, INDICATORS].isna().all().all()
    for column in INDICATORS:
        # prices are ~40,000: an absolute 1e-6 is a relative ~3e-11
        np.testing.assert_allclose(
            ours.loc[warm, column], expected.loc[warm, column], rtol=0, atol=1e-6, err_msg=column
        )
    assert ours.loc[warm, "rsi_14"].between(0, 100).all()


@pytest.mark.parametrize("symbol", list(FIRST_BARS))
def test_returns_volatility_zscore_and_labels_match_numpy(first_build, warehouse, symbol):
    _, features = first_build
    ours = features[features["symbol"] == symbol].reset_index(drop=True)
    expected = expected_features(stored_candles(warehouse, symbol))
    columns = [
        "log_return_1",
        "log_return_4",
        "log_return_24",
        "realized_vol_24",
        "volume_zscore_24",
        "fwd_return_1",
    ]
    for column in columns:
        np.testing.assert_allclose(
            ours[column], expected[column], rtol=1e-9, atol=1e-12, err_msg=column
        )
    assert ours["volume_zscore_24"].iloc[423:440].isna().all()  # flat volume: SD 0
    assert np.isnan(ours["fwd_return_1"].iloc[-1]) and pd.isna(ours["fwd_direction_1"].iloc[-1])
    known = ours.iloc[:-1]
    assert (known["fwd_direction_1"] == (known["fwd_return_1"] > 0).astype(int)).all()


def test_calendar_availability_and_simulated_flag(first_build):
    _, features = first_build
    assert (features["available_at"] == features["ts"] + HOUR).all()
    assert (features["hour_of_day"] == features["ts"].dt.hour).all()
    assert (features["day_of_week"] == features["ts"].dt.day_of_week + 1).all()
    assert features["is_simulated"].all()


def test_sentiment_is_the_latest_value_known_at_the_bar_close(first_build, warehouse):
    _, features = first_build
    known = pd.merge_asof(
        features[["symbol", "ts", "available_at"]].sort_values("available_at"),
        warehouse.sentiment[["symbol", "ts", "value", "available_at"]]
        .rename(columns={"ts": "sentiment_ts"})
        .sort_values("available_at"),
        on="available_at",
        by="symbol",
        direction="backward",
        allow_exact_matches=True,
    ).sort_values(["symbol", "ts"])
    np.testing.assert_array_equal(features["sentiment"], known["value"])
    age = (known["available_at"] - known["sentiment_ts"]).dt.total_seconds() / 3600
    np.testing.assert_allclose(features["sentiment_age_hours"], age)

    btc = features[features["symbol"] == "BTC/USDT"].set_index("bar_index")
    assert btc.loc[1000, "sentiment"] == 111.0  # available exactly at the close: used
    assert btc.loc[1010, "sentiment"] != 222.0  # available one second after the close: not yet
    assert btc.loc[1011, "sentiment"] == 222.0
    eth = features[features["symbol"] == "ETH/USDT"]
    assert eth["sentiment"].iloc[:100].isna().all() and eth["sentiment"].iloc[101:].notna().all()


def _assert_same(actual: pd.DataFrame, expected: pd.DataFrame, columns: list[str]) -> None:
    assert len(actual) == len(expected)
    for key in ("exchange", "symbol", "timeframe", "ts"):
        assert (actual[key].to_numpy() == expected[key].to_numpy()).all()
    for column in columns:
        np.testing.assert_allclose(
            actual[column].astype(float),
            expected[column].astype(float),
            rtol=1e-12,
            atol=1e-9,
            err_msg=column,
        )


def test_new_bars_do_not_change_the_features_of_earlier_bars(first_build, appended_builds):
    _, before = first_build
    _, rebuilt = appended_builds
    earlier = rebuilt.merge(before[["symbol", "ts"]], on=["symbol", "ts"])
    _assert_same(earlier, before, FEATURE_COLUMNS)
    # labels too, except on each series' previously last bar, whose next bar is now known
    last = before.groupby("symbol")["ts"].transform("max") == before["ts"]
    _assert_same(earlier[~last.to_numpy()], before[~last], LABEL_COLUMNS)
    assert before.loc[last, "fwd_return_1"].isna().all()
    assert earlier.loc[last.to_numpy(), "fwd_return_1"].notna().all()


def test_incremental_build_after_new_bars_equals_a_full_rebuild(appended_builds):
    incremental, rebuilt = appended_builds
    # the incremental run wrote only each series' previously last bar and the new ones
    latest = incremental[incremental["built_at"] == incremental["built_at"].max()]
    assert latest.groupby("symbol").size().to_dict() == dict.fromkeys(FIRST_BARS, APPENDED + 1)
    _assert_same(incremental, rebuilt, FEATURE_COLUMNS + LABEL_COLUMNS)
    assert rebuilt.groupby("symbol")["bar_index"].max().to_dict() == {
        "BTC/USDT": FIRST_BARS["BTC/USDT"] + APPENDED - 1,
        "ETH/USDT": FIRST_BARS["ETH/USDT"] + APPENDED - 2,
    }


def test_incremental_build_after_a_backfill_equals_a_full_rebuild(backfilled_builds, warehouse):
    incremental, rebuilt = backfilled_builds
    _assert_same(incremental, rebuilt, FEATURE_COLUMNS + LABEL_COLUMNS)
    assert len(rebuilt) == len(warehouse.candles)
    eth = rebuilt[rebuilt["symbol"] == "ETH/USDT"]
    assert (eth["bar_index"].to_numpy() == np.arange(len(eth))).all()


def test_a_failing_data_test_raises_naming_the_test(tmp_path):
    settings = make_settings(tmp_path)
    candles = _candles("BTC/USDT", 50, seed=3)
    candles["timeframe"] = "1x"  # no such timeframe: the bar's close, available_at, is unknown
    with write_connection(settings.warehouse) as con:
        con.register("new_candles", candles)
        con.execute("insert into market_data by name select * from new_candles")
    with pytest.raises(FeatureBuildError) as failure:
        build_features(settings, log=lambda _: None)
    message = str(failure.value)
    assert "not_null_int_candles_indicators_available_at" in message
    assert "50 failing rows" in message


def test_simulated_sentiment_never_meets_real_candles(tmp_path):
    settings = make_settings(tmp_path)
    real = _candles("BTC/USDT", 40, seed=4).assign(source="ccxt")
    simulated = real.assign(exchange="simulator", source="simulated")
    sentiment = _sentiment("BTC/USDT", STARTS["BTC/USDT"] - timedelta(days=1), 20, seed=5)
    with write_connection(settings.warehouse) as con:
        for name, frame in [("real", real), ("simulated", simulated)]:
            con.register(name, frame)
            con.execute(f"insert into market_data by name select * from {name}")
        con.register("sentiment_rows", sentiment)
        con.execute("insert into sentiment by name select * from sentiment_rows")
    build_features(settings, log=lambda _: None)
    features = read_features(settings.warehouse)
    by_exchange = features.groupby("exchange")["sentiment"].count()
    assert by_exchange["binance"] == 0  # real candles: no simulated sentiment joined
    assert by_exchange["simulator"] == 40
