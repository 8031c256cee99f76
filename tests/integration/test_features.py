"""The dbt feature layer end to end: synthetic candles and sentiment in a temporary warehouse,
``build_features`` (dbt in process), then the features checked against TA-Lib and numpy, the
as-of sentiment join, the labels, point-in-time safety and incremental == full rebuild.

dbt invocations cost about two seconds each, so the builds are shared by module-scoped fixtures
that move one warehouse forward in time: a first build, new bars appended, a bar backfilled,
sentiment arriving late, a series replaced by another world, a bar corrected in place.
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
from cryptobot.ingest import ingest_simulator, utc_now
from cryptobot.warehouse.db import read_connection, write_connection

pytestmark = pytest.mark.integration

WARMUP = 300
HOUR = timedelta(hours=1)
INDICATORS_TABLE = "intermediate.int_candles_indicators"
#: bars per series in the first build. BTC's incremental look-back starts at bar 1024 (not at
#: bar 0, where the TA-Lib seeds apply) and its series crosses an EMA block boundary (3072) when
#: APPENDED bars arrive, so the incremental run carries EMAs into a block of its own; ETH's
#: look-back starts at bar 0.
FIRST_BARS = {"BTC/USDT": 3060, "ETH/USDT": 1500}
APPENDED = 30
STARTS = {"BTC/USDT": datetime(2024, 1, 1), "ETH/USDT": datetime(2024, 1, 20, 5)}
#: an ETH bar left out of the first build (a gap) and backfilled later
BACKFILLED_ETH_BAR = 700
FEATURE_COLUMNS = [
    "open",
    "high",
    "low",
    "close",
    "volume",
    "bar_index",
    "gap_before",
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
    "sentiment_available_at",
    "sentiment_age_hours",
]
LABEL_COLUMNS = ["fwd_return_1", "fwd_direction_1"]
INDICATORS = ["rsi_14", "macd", "macd_signal", "macd_hist", "bb_upper", "bb_middle", "bb_lower"]
PRICE_INDICATORS = INDICATORS[1:]


def _candles(
    symbol: str,
    bars: int,
    seed: int,
    *,
    start: datetime | None = None,
    level: float = 40_000.0,
    volatility: float = 0.01,
    student_t: float | None = None,
) -> pd.DataFrame:
    """A geometric random walk (normal, or Student-t with `student_t` degrees of freedom,
    scaled to `volatility` per bar) with OHLC around it and a flat-volume stretch."""
    rng = np.random.default_rng(seed)
    if student_t is None:
        shocks = rng.normal(0, volatility, bars)
    else:
        shocks = rng.standard_t(student_t, bars) * volatility / np.sqrt(student_t / (student_t - 2))
    close = level * np.exp(np.cumsum(shocks))
    open_ = np.concatenate([[level], close[:-1]])
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.002, bars)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.002, bars)))
    volume = rng.lognormal(3, 1, bars)
    volume[400:440] = 25.0  # 40 equal volumes: the z-score's SD is 0 there, so it must be NULL
    ts = pd.date_range(start or STARTS[symbol], periods=bars, freq="1h")
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
    """A value every 6 hours, published 90 minutes after the moment it describes (and fetched
    then: these rows are all in the warehouse before the first build)."""
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

    def incremental_and_rebuilt(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        _, incremental = self.build()
        _, rebuilt = self.build(full_refresh=True)
        return incremental, rebuilt


def read_features(warehouse: Path, table: str = FEATURES_TABLE) -> pd.DataFrame:
    with read_connection(warehouse) as con:
        return con.execute(f"select * from {table} order by exchange, symbol, timeframe, ts").df()


def read_market_keys(warehouse: Path) -> pd.DataFrame:
    with read_connection(warehouse) as con:
        return con.execute(
            "select exchange, symbol, timeframe, ts, close from market_data"
            " order by exchange, symbol, timeframe, ts"
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
    return warehouse.incremental_and_rebuilt()


@pytest.fixture(scope="module")
def backfilled_builds(
    warehouse: Warehouse, appended_builds: tuple[pd.DataFrame, pd.DataFrame]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """After ETH's missing bar arrives late: (incremental build, full rebuild)."""
    warehouse.store(warehouse.candles[~warehouse.candles["is_stored"]])
    return warehouse.incremental_and_rebuilt()


# Late sentiment, stored after the builds above: a new BTC value describing the past (available
# 5 minutes before bar 1500's close); another, for bar 800, stamped fetched_at long before the
# last build but stored by an ingest batch that finished after it (an ingest that waited for the
# write lock while that build ran); and a revision of an ETH value, which the ingest stores as it
# does (_upsert): the new value, available only from its fetch, so bars that saw the old value
# now see the one before it.
BTC_CLOSE_1500 = STARTS["BTC/USDT"] + 1501 * HOUR
BTC_CLOSE_800 = STARTS["BTC/USDT"] + 801 * HOUR
REVISED_ETH_TS = STARTS["ETH/USDT"] + 100 * HOUR + 6 * 150 * HOUR


@pytest.fixture(scope="module")
def late_sentiment_builds(
    warehouse: Warehouse, backfilled_builds: tuple[pd.DataFrame, pd.DataFrame]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(features before, incremental build, full rebuild) after late sentiment arrives."""
    _, before = backfilled_builds
    fetched_at = utc_now()
    late = pd.DataFrame(
        {
            "source": "simulated",
            "symbol": "BTC/USDT",
            "ts": [BTC_CLOSE_1500 - timedelta(minutes=35), BTC_CLOSE_800 - timedelta(minutes=35)],
            "value": [333.0, 555.0],
            "fetched_at": [fetched_at, BTC_CLOSE_800],
            "available_at": [BTC_CLOSE_1500 - timedelta(minutes=5), BTC_CLOSE_800],
            "batch_id": ["late", "waited"],
        }
    )
    with write_connection(warehouse.settings.warehouse) as con:
        con.register("late_rows", late)
        con.execute("insert into sentiment by name select * from late_rows")
        con.execute(
            "insert into ingest_batches (id, source, table_name, status, started_at, finished_at)"
            " values ('waited', 'simulated', 'sentiment', 'ok', ?, ?)",
            [BTC_CLOSE_800, utc_now()],
        )
        revised = con.execute(
            "update sentiment set value = 444.0, fetched_at = ?, available_at = ?, "
            "batch_id = 'revised' where symbol = 'ETH/USDT' and ts = ?",
            [fetched_at, fetched_at, REVISED_ETH_TS],
        ).fetchone()[0]
    assert revised == 1
    incremental, rebuilt = warehouse.incremental_and_rebuilt()
    return before, incremental, rebuilt


#: BTC replaced by another world: another seed, starting later and ending earlier than the old
REPLACED_BTC_START = STARTS["BTC/USDT"] + 200 * HOUR
REPLACED_BTC_BARS = 1200


@pytest.fixture(scope="module")
def replaced_builds(
    warehouse: Warehouse, late_sentiment_builds: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(features before, incremental build, int_candles_indicators after it, full rebuild) after
    BTC's series is replaced."""
    _, _, before = late_sentiment_builds
    replacement = _candles("BTC/USDT", REPLACED_BTC_BARS, 99, start=REPLACED_BTC_START)
    with write_connection(warehouse.settings.warehouse) as con:
        # as ingest_simulator does: delete the series and insert the new world, in one transaction
        con.execute("begin transaction")
        con.execute("delete from market_data where symbol = 'BTC/USDT'")
        con.register("replacement", replacement)
        con.execute("insert into market_data by name select * from replacement")
        con.execute("commit")
    _, incremental = warehouse.build()
    indicators = read_features(warehouse.settings.warehouse, INDICATORS_TABLE)
    _, rebuilt = warehouse.build(full_refresh=True)
    return before, incremental, indicators, rebuilt


CORRECTED_ETH_BAR = 1000


@pytest.fixture(scope="module")
def corrected_builds(
    warehouse: Warehouse,
    replaced_builds: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame],
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(features before, incremental build, full rebuild) after an old ETH bar is corrected in
    place (the ingest's upsert updates OHLCV and keeps the key)."""
    *_, before = replaced_builds
    ts = before[before["symbol"] == "ETH/USDT"]["ts"].iloc[CORRECTED_ETH_BAR]
    with write_connection(warehouse.settings.warehouse) as con:
        con.execute(
            "update market_data set close = close * 1.01, high = greatest(high, close * 1.01),"
            " fetched_at = ? where symbol = 'ETH/USDT' and ts = ?",
            [utc_now(), ts],
        )
    incremental, rebuilt = warehouse.incremental_and_rebuilt()
    return before, incremental, rebuilt


def _sma_seeded_ema(x: np.ndarray, alpha: float, seed_index: int, seed_bars: int) -> np.ndarray:
    """TA-Lib's EMA: NaN before `seed_index`, there the mean of the `seed_bars` values ending
    there, then the recursion."""
    y = np.full(len(x), np.nan)
    y[seed_index] = x[seed_index - seed_bars + 1 : seed_index + 1].mean()
    for t in range(seed_index + 1, len(x)):
        y[t] = alpha * x[t] + (1 - alpha) * y[t - 1]
    return y


def numpy_indicators(close: np.ndarray) -> dict[str, np.ndarray]:
    """RSI, MACD and Bollinger bands the way TA-Lib defines them, in plain float64 numpy: the
    recursions themselves and two-pass window statistics (no running sums)."""
    change = np.diff(close, prepend=np.nan)
    gain = _sma_seeded_ema(np.where(change > 0, change, 0.0), 1 / 14, 14, 14)
    loss = _sma_seeded_ema(np.where(change < 0, -change, 0.0), 1 / 14, 14, 14)
    with np.errstate(invalid="ignore"):
        rsi = np.where(gain + loss > 0, 100 * gain / (gain + loss), 0.0)
    macd = _sma_seeded_ema(close, 2 / 13, 25, 12) - _sma_seeded_ema(close, 2 / 27, 25, 26)
    signal = np.full(len(close), np.nan)
    signal[25:] = _sma_seeded_ema(macd[25:], 2 / 10, 8, 9)
    windows = np.lib.stride_tricks.sliding_window_view(close, 20)
    middle = np.full(len(close), np.nan)
    sd = np.full(len(close), np.nan)
    middle[19:] = windows.mean(axis=1)
    sd[19:] = np.sqrt(((windows - middle[19:, None]) ** 2).mean(axis=1))
    return {
        "rsi_14": rsi,
        "macd": macd,
        "macd_signal": signal,
        "macd_hist": macd - signal,
        "bb_upper": middle + 2 * sd,
        "bb_middle": middle,
        "bb_lower": middle - 2 * sd,
    }


def talib_indicators(close: np.ndarray) -> dict[str, np.ndarray]:
    macd, signal, hist = talib.MACD(close, fastperiod=12, slowperiod=26, signalperiod=9)
    upper, middle, lower = talib.BBANDS(close, timeperiod=20, nbdevup=2, nbdevdn=2, matype=0)
    return {
        "rsi_14": talib.RSI(close, timeperiod=14),
        "macd": macd,
        "macd_signal": signal,
        "macd_hist": hist,
        "bb_upper": upper,
        "bb_middle": middle,
        "bb_lower": lower,
    }


def expected_features(candles: pd.DataFrame) -> pd.DataFrame:
    """Every indicator (TA-Lib) and label of one series from TA-Lib and numpy."""
    close = candles["close"].to_numpy()
    volume = candles["volume"].to_numpy()
    log_close = np.log(close)
    ts = candles["ts"].to_numpy()
    expected = pd.DataFrame(index=candles.index)
    for lag in (1, 4, 24):
        # a return spans exactly `lag` bars: NULL when a gap lies inside it
        returns = np.full(len(close), np.nan)
        spans_lag_bars = ts[lag:] - ts[:-lag] == lag * np.timedelta64(1, "h")
        returns[lag:] = np.where(spans_lag_bars, log_close[lag:] - log_close[:-lag], np.nan)
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
    for column, values in talib_indicators(close).items():
        expected[column] = values
    # the label is the next bar's return only if the next stored bar is the next bar in time
    next_is_adjacent = np.zeros(len(close), dtype=bool)
    next_is_adjacent[:-1] = ts[1:] - ts[:-1] == np.timedelta64(1, "h")
    forward = np.full(len(close), np.nan)
    forward[:-1] = log_close[1:] - log_close[:-1]
    expected["fwd_return_1"] = np.where(next_is_adjacent, forward, np.nan)
    gap_before = np.zeros(len(close), dtype=bool)
    gap_before[1:] = ~next_is_adjacent[:-1]
    expected["gap_before"] = gap_before
    return expected


def stored_candles(warehouse: Warehouse, symbol: str) -> pd.DataFrame:
    candles = warehouse.candles
    return candles[(candles["symbol"] == symbol) & candles["is_stored"]].reset_index(drop=True)


def test_first_build_reports_models_tests_and_rows(first_build, warehouse):
    result, features = first_build
    assert result.models_built == 5
    assert result.tests_passed >= 10
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


# TA-Lib parity on three kinds of walk, 3,000 bars each (three EMA blocks): the test fixture's
# 40,000 / 1% normal walk, a 100,000 / 3% hourly Student-t(3) walk (fat tails) and a BTC/IDR-like
# 1.6e9 / 1% walk. RSI is bounded (0..100), so its tolerance is absolute; MACD and Bollinger bands
# are in price units, so theirs is relative to the bar's close (at 1.6e9 one float64 ulp is 2e-7:
# an absolute 1e-6 is out of reach for any float64 implementation, TA-Lib's included).
# Measured from bar 300 (dbt_project/README.md): RSI <= 6e-14 absolute against both references;
# MACD, signal and histogram <= 3e-15 of the close against both; Bollinger bands <= 1e-15 of the
# close against the numpy reference, <= 5e-13 against TA-Lib, whose BBANDS keeps running sums of
# x and x^2 (TA-Lib is the less accurate side there).
PARITY_CASES = {
    "BTC/USDT": {"level": 40_000.0, "volatility": 0.01},
    "BTC/USD": {"level": 100_000.0, "volatility": 0.03, "student_t": 3.0},
    "BTC/IDR": {"level": 1.6e9, "volatility": 0.01},
}
PARITY_BARS = 3000
RSI_ATOL = 1e-12
#: relative to the close: against the float64 numpy reference, and against TA-Lib
PRICE_RTOL = {"numpy": 1e-13, "TA-Lib": 1e-11}


@pytest.fixture(scope="module")
def parity_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(candles, features) of a full build of the parity walks."""
    settings = make_settings(tmp_path_factory.mktemp("parity"))
    candles = pd.concat(
        [
            _candles(symbol, PARITY_BARS, seed, start=datetime(2023, 1, 1), **case)
            for seed, (symbol, case) in enumerate(PARITY_CASES.items(), start=20)
        ],
        ignore_index=True,
    )
    with write_connection(settings.warehouse) as con:
        con.register("new_candles", candles)
        con.execute("insert into market_data by name select * from new_candles")
    build_features(settings, log=lambda _: None)
    return candles, read_features(settings.warehouse)


def _parity_errors(
    ours: pd.DataFrame, close: np.ndarray, reference: dict[str, np.ndarray]
) -> dict[str, float]:
    """Largest error per indicator from bar WARMUP on: absolute for RSI, else relative to close."""
    warm = slice(WARMUP, None)
    errors = {"rsi_14": np.abs(ours["rsi_14"].to_numpy() - reference["rsi_14"])[warm].max()}
    for column in PRICE_INDICATORS:
        error = np.abs(ours[column].to_numpy() - reference[column]) / close
        errors[column] = error[warm].max()
    return errors


@pytest.mark.parametrize("symbol", list(PARITY_CASES))
def test_indicators_match_talib_and_numpy_exactly_in_method(parity_build, symbol):
    """TA-Lib's seeds (SMA seeds for both MACD EMAs at bar 25, RSI's at bar 14) are reproduced,
    so the indicators agree with TA-Lib and with a plain float64 reference to rounding, not just
    after the seeds decayed (with first-value seeds the RSI was 1e-8 off at bar 300). The MACD
    signal line inherits another seed (ema_of_ema), decaying as 0.8^t: ~1e-26 of the MACD's
    scale by bar 300, far below rounding."""
    candles, features = parity_build
    ours = features[features["symbol"] == symbol].reset_index(drop=True)
    close = candles.loc[candles["symbol"] == symbol, "close"].to_numpy()
    assert len(ours) == PARITY_BARS
    assert ours.loc[: WARMUP - 1, INDICATORS].isna().all().all()
    assert ours.loc[WARMUP:, INDICATORS].notna().all().all()
    for name, reference in [
        ("TA-Lib", talib_indicators(close)),
        ("numpy", numpy_indicators(close)),
    ]:
        errors = _parity_errors(ours, close, reference)
        assert errors["rsi_14"] <= RSI_ATOL, (name, errors)
        for column in PRICE_INDICATORS:
            assert errors[column] <= PRICE_RTOL[name], (name, column, errors)


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
    known = ours[ours["fwd_return_1"].notna()]
    assert (known["fwd_direction_1"] == (known["fwd_return_1"] > 0).astype(int)).all()
    assert (ours["fwd_return_1"].isna() == ours["fwd_direction_1"].isna()).all()


def test_labels_are_null_across_a_gap_and_gap_before_marks_it(first_build):
    """ETH's bar 700 is missing from the first build: bar 699's next stored bar is two hours
    later, so its one-bar label would span two bars; it is NULL, and bar 701 says a gap is
    before it. Indicators count stored bars (bar_index), not time."""
    _, features = first_build
    eth = features[features["symbol"] == "ETH/USDT"].reset_index(drop=True)
    before_gap, after_gap = BACKFILLED_ETH_BAR - 1, BACKFILLED_ETH_BAR
    assert eth.loc[after_gap, "ts"] - eth.loc[before_gap, "ts"] == 2 * HOUR
    assert pd.isna(eth.loc[before_gap, "fwd_return_1"])
    assert pd.isna(eth.loc[before_gap, "fwd_direction_1"])
    assert eth["gap_before"].tolist() == [i == after_gap for i in range(len(eth))]
    # every other bar but the last has its label
    labelled = eth["fwd_return_1"].notna()
    assert (~labelled).sum() == 2 and not labelled.iloc[-1]
    btc = features[features["symbol"] == "BTC/USDT"]
    assert not btc["gap_before"].any() and btc["fwd_return_1"].iloc[:-1].notna().all()


def test_returns_and_volatility_are_null_across_a_gap(first_build):
    """ETH's bar 700 is missing: no return may span it. The first bar after it has no one-bar
    return, the next 4 no 4-bar return, the next 24 no 24-bar return and no realized volatility
    (one of their 24 one-bar returns is unknown); every other bar has them."""
    _, features = first_build
    eth = features[features["symbol"] == "ETH/USDT"].reset_index(drop=True)
    after_gap = BACKFILLED_ETH_BAR  # the position of the first bar after the gap
    rows = np.arange(len(eth))
    for column, first_known, span in (
        ("log_return_1", 1, 1),
        ("log_return_4", 4, 4),
        ("log_return_24", 24, 24),
        ("realized_vol_24", 24, 24),
    ):
        expected_null = (rows < first_known) | ((rows >= after_gap) & (rows < after_gap + span))
        assert eth[column].isna().to_numpy().tolist() == expected_null.tolist(), column
    btc = features[features["symbol"] == "BTC/USDT"]
    assert btc["log_return_24"].iloc[24:].notna().all()
    assert btc["realized_vol_24"].iloc[24:].notna().all()


def test_calendar_availability_and_simulated_flag(first_build):
    _, features = first_build
    assert (features["available_at"] == features["ts"] + HOUR).all()
    assert (features["hour_of_day"] == features["ts"].dt.hour).all()
    assert (features["day_of_week"] == features["ts"].dt.day_of_week + 1).all()
    assert features["is_simulated"].all()


def _as_of_sentiment(features: pd.DataFrame, sentiment: pd.DataFrame) -> pd.DataFrame:
    """The sentiment row (value, available_at) each bar should see, by pandas' merge_asof."""
    return (
        pd.merge_asof(
            features[["symbol", "ts", "available_at"]].sort_values("available_at"),
            sentiment[["symbol", "value", "available_at"]]
            .assign(sentiment_available_at=sentiment["available_at"])
            .sort_values("available_at"),
            on="available_at",
            by="symbol",
            direction="backward",
            allow_exact_matches=True,
        )
        .sort_values(["symbol", "ts"])
        .reset_index(drop=True)
    )


def test_sentiment_is_the_latest_value_known_at_the_bar_close(first_build, warehouse):
    _, features = first_build
    known = _as_of_sentiment(features, warehouse.sentiment)
    np.testing.assert_array_equal(features["sentiment"], known["value"])
    assert features["sentiment_available_at"].equals(known["sentiment_available_at"])
    # the age of the value at the bar's close: hours since it became known (its available_at)
    age = (known["available_at"] - known["sentiment_available_at"]).dt.total_seconds() / 3600
    np.testing.assert_allclose(features["sentiment_age_hours"], age)
    assert features["sentiment_age_hours"].min() >= 0

    btc = features[features["symbol"] == "BTC/USDT"].set_index("bar_index")
    assert btc.loc[1000, "sentiment"] == 111.0  # available exactly at the close: used
    assert btc.loc[1000, "sentiment_age_hours"] == 0
    assert btc.loc[1010, "sentiment"] != 222.0  # available one second after the close: not yet
    assert btc.loc[1011, "sentiment"] == 222.0
    eth = features[features["symbol"] == "ETH/USDT"]
    assert eth["sentiment"].iloc[:100].isna().all() and eth["sentiment"].iloc[101:].notna().all()
    assert eth["sentiment_age_hours"].iloc[:100].isna().all()


def _assert_same(actual: pd.DataFrame, expected: pd.DataFrame, columns: list[str]) -> None:
    """Same keys, and the same values: exactly equal (NaN where NaN)."""
    assert len(actual) == len(expected)
    for key in ("exchange", "symbol", "timeframe", "ts"):
        assert (actual[key].to_numpy() == expected[key].to_numpy()).all()
    for column in columns:
        pd.testing.assert_series_equal(
            actual[column].reset_index(drop=True),
            expected[column].reset_index(drop=True),
            check_exact=True,
            check_dtype=False,
            obj=column,
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
    assert not eth["gap_before"].any() and eth["fwd_return_1"].iloc[:-1].notna().all()


def test_late_sentiment_reaches_bars_built_before_it_arrived(late_sentiment_builds, warehouse):
    before, incremental, rebuilt = late_sentiment_builds
    _assert_same(incremental, rebuilt, FEATURE_COLUMNS + LABEL_COLUMNS)
    btc = incremental[incremental["symbol"] == "BTC/USDT"].set_index("bar_index")
    assert btc.loc[1499, "sentiment"] != 333.0 and btc.loc[1500, "sentiment"] == 333.0
    assert btc.loc[1500, "sentiment_age_hours"] == pytest.approx(5 / 60)
    assert btc.loc[800, "sentiment"] == 555.0 and btc.loc[800, "sentiment_age_hours"] == 0
    # the revised ETH value is known only from its fetch (after every bar): the bars that saw
    # the old value now see the one before it
    eth_before = before[before["symbol"] == "ETH/USDT"].reset_index(drop=True)
    eth_after = incremental[incremental["symbol"] == "ETH/USDT"].reset_index(drop=True)
    saw_revised = eth_before["available_at"] >= REVISED_ETH_TS + timedelta(minutes=90)
    saw_revised &= eth_before["available_at"] < REVISED_ETH_TS + timedelta(hours=6, minutes=90)
    assert saw_revised.sum() == 6
    assert (
        eth_after.loc[saw_revised, "sentiment"] != eth_before.loc[saw_revised, "sentiment"]
    ).all()
    assert (eth_after["sentiment"] != 444.0).all()


def test_a_replaced_series_is_recomputed_and_leaves_no_orphans(replaced_builds, warehouse):
    """BTC replaced by a shorter world from another seed (as a new simulator run does): its
    features are the new world's, with no row left from the old one, and ETH is untouched."""
    before, incremental, indicators, rebuilt = replaced_builds
    _assert_same(incremental, rebuilt, FEATURE_COLUMNS + LABEL_COLUMNS)
    market = read_market_keys(warehouse.settings.warehouse)
    for table, built in [(FEATURES_TABLE, incremental), (INDICATORS_TABLE, indicators)]:
        assert len(built) == len(market), table
        for column in ("symbol", "ts", "close"):
            assert (built[column].to_numpy() == market[column].to_numpy()).all(), (table, column)
    btc = incremental[incremental["symbol"] == "BTC/USDT"]
    assert len(btc) == REPLACED_BTC_BARS and btc["ts"].min() == REPLACED_BTC_START
    assert (btc["bar_index"].to_numpy() == np.arange(REPLACED_BTC_BARS)).all()
    # ETH: the same values, and only its last bar was rewritten (its label may have arrived)
    eth_before = before[before["symbol"] == "ETH/USDT"].reset_index(drop=True)
    eth_after = incremental[incremental["symbol"] == "ETH/USDT"].reset_index(drop=True)
    _assert_same(eth_after, eth_before, FEATURE_COLUMNS + LABEL_COLUMNS)
    rewritten = eth_after["built_at"] != eth_before["built_at"]
    assert rewritten.sum() <= 1 and not rewritten.iloc[:-1].any()


def test_a_bar_corrected_in_place_is_recomputed(corrected_builds):
    before, incremental, rebuilt = corrected_builds
    _assert_same(incremental, rebuilt, FEATURE_COLUMNS + LABEL_COLUMNS)
    eth_before = before[before["symbol"] == "ETH/USDT"].reset_index(drop=True)
    eth_after = incremental[incremental["symbol"] == "ETH/USDT"].reset_index(drop=True)
    assert eth_after.loc[CORRECTED_ETH_BAR, "close"] == pytest.approx(
        eth_before.loc[CORRECTED_ETH_BAR, "close"] * 1.01
    )
    assert eth_after.loc[CORRECTED_ETH_BAR - 1, "fwd_return_1"] != pytest.approx(
        eth_before.loc[CORRECTED_ETH_BAR - 1, "fwd_return_1"]
    )


def test_a_new_simulated_world_from_the_ingest_leaves_no_stale_features(tmp_path):
    """The real ingest path: ingest_simulator stamps fetched_at with utc_now() and, when its
    parameters change, replaces the stored simulated candles and sentiment with another world
    (here shorter, from another seed). The incremental build after it equals a full rebuild and
    holds exactly the stored bars."""
    settings = make_settings(tmp_path)
    store = Warehouse(settings, pd.DataFrame(), pd.DataFrame())
    symbols = ["BTC/USDT", "ETH/USDT"]
    ingest_simulator(settings, symbols=symbols, timeframe="1h", days=60, seed=1, signal=0.0)
    _, first = store.build()
    ingest_simulator(settings, symbols=symbols[:1], timeframe="1h", days=30, seed=2, signal=0.5)
    incremental, rebuilt = store.incremental_and_rebuilt()
    _assert_same(incremental, rebuilt, FEATURE_COLUMNS + LABEL_COLUMNS)
    market = read_market_keys(settings.warehouse)
    assert len(incremental) == len(market) < len(first)
    for column in ("symbol", "ts", "close"):
        assert (incremental[column].to_numpy() == market[column].to_numpy()).all(), column


def test_the_data_tests_catch_stale_orphaned_or_mislabelled_features(tmp_path):
    """The singular dbt tests that guard the incremental logic, run on a corrupted table."""
    settings = make_settings(tmp_path)
    candles = pd.concat([_candles("BTC/USDT", 400, 5), _candles("ETH/USDT", 400, 6)])
    sentiment = _sentiment("BTC/USDT", STARTS["BTC/USDT"], 60, 7)
    with write_connection(settings.warehouse) as con:
        con.register("new_candles", candles)
        con.execute("insert into market_data by name select * from new_candles")
        con.register("sentiment_rows", sentiment)
        con.execute("insert into sentiment by name select * from sentiment_rows")
    build_features(settings, log=lambda _: None)
    with write_connection(settings.warehouse) as con:
        # stale: a BTC bar whose candle changed; orphaned: a series that no longer exists
        con.execute(
            f"update {FEATURES_TABLE} set close = close + 1"
            " where symbol = 'BTC/USDT' and bar_index = 10"
        )
        con.execute(
            f"insert into {FEATURES_TABLE} select * replace ('SOL/USDT' as symbol,"
            " null as fwd_return_1, null as fwd_direction_1)"
            f" from {FEATURES_TABLE} where symbol = 'ETH/USDT' and bar_index = 5"
        )
        # a label missing in the middle of a series, and a stale sentiment value
        con.execute(
            f"update {FEATURES_TABLE} set fwd_return_1 = null, fwd_direction_1 = null"
            " where symbol = 'BTC/USDT' and bar_index = 50"
        )
        con.execute(
            f"update {FEATURES_TABLE} set sentiment = sentiment + 1"
            " where symbol = 'BTC/USDT' and bar_index = 60"
        )
        # a 4-bar return where there are not 4 bars before (the orphan has one too)
        con.execute(
            f"update {FEATURES_TABLE} set log_return_4 = 0.01"
            " where symbol = 'BTC/USDT' and bar_index = 2"
        )
    with pytest.raises(FeatureBuildError) as failure:
        build_features(settings, select="test_type:singular", log=lambda _: None)
    message = str(failure.value)
    assert "fct_features_matches_candles fail (2 failing rows)" in message
    assert "fct_features_labels_null_only_at_the_end_or_a_gap fail (1 failing rows)" in message
    assert "fct_features_sentiment_is_the_latest_known fail (1 failing rows)" in message
    assert "fct_features_returns_null_across_a_gap fail (2 failing rows)" in message


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


def test_a_warehouse_busy_when_dbt_opens_it_is_retried_not_reported(tmp_path, monkeypatch):
    from types import SimpleNamespace

    import cryptobot.features as features

    settings = make_settings(tmp_path)
    ingest_simulator(settings, symbols=["BTC/USDT"], timeframe="1h", days=3, seed=1, signal=0)
    real = features._invoke_dbt
    calls = []

    def busy_once(args, log):
        calls.append(args)
        if len(calls) == 1:  # what dbt returns when another process holds the file's lock
            return SimpleNamespace(
                success=False,
                result=None,
                exception="IO Error: Could not set lock on file: Conflicting lock is held",
            )
        return real(args, log)

    monkeypatch.setattr(features, "_invoke_dbt", busy_once)
    lines: list[str] = []
    result = build_features(settings, log=lines.append)
    assert len(calls) == 2 and result.rows == 3 * 24
    assert any("warehouse is busy" in line for line in lines)


def test_other_dbt_failures_are_not_retried(tmp_path, monkeypatch):
    from types import SimpleNamespace

    import cryptobot.features as features

    calls = []

    def broken(args, log):
        calls.append(args)
        return SimpleNamespace(success=False, result=None, exception="Parsing Error: bad yml")

    monkeypatch.setattr(features, "_invoke_dbt", broken)
    with pytest.raises(FeatureBuildError, match="Parsing Error"):
        build_features(make_settings(tmp_path), log=lambda _: None)
    assert len(calls) == 1


def test_a_warehouse_built_by_older_models_is_rebuilt_in_full(tmp_path):
    settings = make_settings(tmp_path)
    ingest_simulator(settings, symbols=["BTC/USDT"], timeframe="1h", days=3, seed=1, signal=0)
    build_features(settings, log=lambda _: None)
    with write_connection(settings.warehouse) as con:  # as an earlier version left it
        con.execute("alter table intermediate.int_candles_indicators drop column gap_before")
        con.execute("alter table marts.fct_features drop column gap_before")
    lines: list[str] = []
    result = build_features(settings, log=lines.append)
    assert result.full_refresh and result.rows == 3 * 24
    assert any("rebuilding in full" in line for line in lines)
    assert "gap_before" in read_features(settings.warehouse).columns
