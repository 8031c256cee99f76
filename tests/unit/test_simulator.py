"""The simulated market: determinism, candle invariants, stylised facts and the sentiment lead.

Statistical checks use a fixed seed, so they are deterministic; their tolerances are still set
as if they were not. A correlation that should be zero is compared with four robust standard
errors, ``sqrt(mean(x^2 y^2) / n)`` on standardised ``x``, ``y`` (valid under the null for
martingale-difference products, so it holds under volatility clustering).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from cryptobot.errors import ConfigError
from cryptobot.sources.base import OHLCV_COLUMNS, SENTIMENT_COLUMNS
from cryptobot.sources.simulator import SimulatedMarket, garch_variance, simulate_market

SYMBOLS = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT", "XRP/USDT"]
END = datetime(2026, 1, 1)


@pytest.fixture(scope="module")
def two_years() -> SimulatedMarket:
    return simulate_market(SYMBOLS, "1h", days=730, seed=7)


def log_returns(candles: pd.DataFrame) -> pd.DataFrame:
    """Bar log returns, one column per symbol, indexed by the bar's open ts."""
    wide = candles.pivot(index="ts", columns="symbol", values=["open", "close"])
    return np.log(wide["close"] / wide["open"])


def null_corr(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Pearson correlation and its robust standard error under "no correlation"."""
    x = (x - x.mean()) / x.std()
    y = (y - y.mean()) / y.std()
    return float(np.mean(x * y)), math.sqrt(float(np.mean(x * x * y * y)) / len(x))


def assert_uncorrelated(x: np.ndarray, y: np.ndarray, what: str) -> None:
    rho, se = null_corr(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    assert abs(rho) < 4 * se, f"{what}: corr {rho:.4f} is more than 4 standard errors ({se:.4f})"


def sentiment_at_bar_close(market: SimulatedMarket, symbol: str, timeframe: str) -> pd.DataFrame:
    """Per bar: its return, the next bar's return and the latest sentiment known at its close.

    This is the join the feature pipeline does: ``available_at <= close``.
    """
    dt = pd.Timedelta(timeframe.replace("m", "min"))
    bars = market.candles[market.candles["symbol"] == symbol].copy()
    bars["close_at"] = (bars["ts"] + dt).astype(bars["ts"].dtype)
    bars["ret"] = np.log(bars["close"] / bars["open"])
    bars["next_ret"] = bars["ret"].shift(-1)
    rows = market.sentiment[market.sentiment["symbol"] == symbol]
    joined = pd.merge_asof(
        bars, rows[["available_at", "value"]], left_on="close_at", right_on="available_at"
    )
    return joined.dropna(subset=["value", "next_ret"])


def last_closed_bar(market: SimulatedMarket, symbol: str, timeframe: str) -> pd.DataFrame:
    """Per sentiment row: the return of the latest bar that closed at or before available_at."""
    dt = pd.Timedelta(timeframe.replace("m", "min"))
    bars = market.candles[market.candles["symbol"] == symbol].copy()
    bars["close_at"] = (bars["ts"] + dt).astype(bars["ts"].dtype)
    bars["ret"] = np.log(bars["close"] / bars["open"])
    rows = market.sentiment[market.sentiment["symbol"] == symbol]
    joined = pd.merge_asof(
        rows, bars[["close_at", "ret"]], left_on="available_at", right_on="close_at"
    )
    return joined.dropna(subset=["ret"])


# --- determinism ------------------------------------------------------------------------------


def test_same_arguments_give_identical_frames() -> None:
    first = simulate_market(SYMBOLS, "15m", days=20, seed=3, signal=0.2)
    again = simulate_market(SYMBOLS, "15m", days=20, seed=3, signal=0.2)
    reordered = simulate_market(list(reversed(SYMBOLS)), "15m", days=20, seed=3, signal=0.2)
    for other in (again, reordered):
        pd.testing.assert_frame_equal(first.candles, other.candles, check_exact=True)
        pd.testing.assert_frame_equal(first.sentiment, other.sentiment, check_exact=True)


def test_seed_changes_every_series() -> None:
    one = simulate_market(SYMBOLS, "1h", days=30, seed=1, signal=0.2)
    two = simulate_market(SYMBOLS, "1h", days=30, seed=2, signal=0.2)
    for column in ["high", "low", "close", "volume"]:
        differs = one.candles[column].to_numpy() != two.candles[column].to_numpy()
        assert differs.mean() > 0.99, column
    assert (one.sentiment["value"] != two.sentiment["value"]).mean() > 0.99


def test_adding_a_symbol_keeps_the_other_paths() -> None:
    small = simulate_market(["BTC/USDT", "ETH/USDT"], "1h", days=30, seed=5, signal=0.3)
    large = simulate_market(
        ["BTC/USDT", "ETH/USDT", "DOGE/USDT"], "1h", days=30, seed=5, signal=0.3
    )
    kept = large.candles[large.candles["symbol"] != "DOGE/USDT"].reset_index(drop=True)
    pd.testing.assert_frame_equal(small.candles, kept, check_exact=True)
    kept = large.sentiment[large.sentiment["symbol"] != "DOGE/USDT"].reset_index(drop=True)
    pd.testing.assert_frame_equal(small.sentiment, kept, check_exact=True)


# --- layout and candle invariants -------------------------------------------------------------


def test_frames_have_the_contract_layout(two_years: SimulatedMarket) -> None:
    candles, sentiment = two_years.candles, two_years.sentiment
    assert list(candles.columns) == ["symbol", *OHLCV_COLUMNS]
    assert list(sentiment.columns) == SENTIMENT_COLUMNS
    assert candles["ts"].dtype.kind == "M" and candles["ts"].dt.tz is None
    assert sentiment["available_at"].dtype.kind == "M" and sentiment["ts"].dt.tz is None
    for column in OHLCV_COLUMNS[1:]:
        assert candles[column].dtype == np.float64, column
    assert sentiment["value"].dtype == np.float64
    for frame in (candles, sentiment):
        assert not frame.isna().any().any()
        ordered = frame.sort_values(["symbol", "ts"], kind="stable").reset_index(drop=True)
        pd.testing.assert_frame_equal(frame, ordered)
        assert not frame.duplicated(["symbol", "ts"]).any()
        assert sorted(frame["symbol"].unique()) == sorted(SYMBOLS)


@pytest.mark.parametrize(("timeframe", "days"), [("1m", 2), ("15m", 10), ("4h", 200), ("1d", 730)])
def test_candles_are_consistent(timeframe: str, days: int) -> None:
    candles = simulate_market(SYMBOLS, timeframe, days=days, seed=11).candles
    body_top = np.maximum(candles["open"], candles["close"])
    body_bottom = np.minimum(candles["open"], candles["close"])
    assert (candles["high"] >= body_top).all()
    assert (candles["low"] <= body_bottom).all()
    assert (candles["low"] > 0).all() and (candles["volume"] > 0).all()
    # the range is a real intrabar range, not just the body
    assert (candles["high"] > body_top).mean() > 0.95
    assert (candles["low"] < body_bottom).mean() > 0.95
    for _, bars in candles.groupby("symbol"):
        assert (bars["open"].to_numpy()[1:] == bars["close"].to_numpy()[:-1]).all()


@pytest.mark.parametrize(
    ("timeframe", "days", "end"),
    [
        ("1m", 2, END),
        ("15m", 7, END),
        ("1h", 30, END),
        ("4h", 60, END),
        ("1d", 90, END),
        ("1h", 30, datetime(2026, 1, 1, 0, 30)),
        ("4h", 60, datetime(2025, 6, 3, 13, 5)),
        ("1h", 30, datetime(2026, 1, 1, 1, tzinfo=timezone(timedelta(hours=1)))),
    ],
)
def test_bars_tile_the_window_on_the_timeframe_grid(
    timeframe: str, days: int, end: datetime
) -> None:
    market = simulate_market(["BTC/USDT", "FOO/BAR"], timeframe, days=days, end=end)
    seconds = int(pd.Timedelta(timeframe.replace("m", "min")).total_seconds())
    naive_end = end.astimezone(UTC).replace(tzinfo=None) if end.tzinfo else end
    window_start = naive_end - timedelta(days=days)
    for _, bars in market.candles.groupby("symbol"):
        epoch = bars["ts"].astype("int64").to_numpy() // 1000  # ms -> s
        assert (epoch % seconds == 0).all()
        assert (np.diff(epoch) == seconds).all()
        assert bars["ts"].iloc[0] >= window_start
        assert bars["ts"].iloc[0] - pd.Timedelta(seconds=seconds) < window_start
        last_close = bars["ts"].iloc[-1] + pd.Timedelta(seconds=seconds)
        assert naive_end - pd.Timedelta(seconds=seconds) < last_close <= naive_end
        if naive_end == END:
            assert len(bars) == days * 86400 // seconds


@pytest.mark.parametrize("timeframe", ["1m", "1h", "4h", "1d"])
def test_sentiment_is_hourly_whatever_the_timeframe(timeframe: str) -> None:
    sentiment = simulate_market(["BTC/USDT", "ETH/USDT"], timeframe, days=3).sentiment
    for _, rows in sentiment.groupby("symbol"):
        assert len(rows) == 3 * 24
        assert (rows["ts"].dt.minute == 0).all() and (rows["ts"].dt.second == 0).all()
        assert (rows["ts"].diff().dropna() == pd.Timedelta("1h")).all()
        assert (rows["available_at"] == rows["ts"] + pd.Timedelta("1h")).all()
        assert rows["ts"].min() == END - timedelta(days=3)
        assert rows["available_at"].max() == END


# --- levels, volatility, volume ---------------------------------------------------------------


def test_levels_and_hourly_volatility_are_realistic(two_years: SimulatedMarket) -> None:
    first_open = two_years.candles.groupby("symbol")["open"].first()
    assert first_open.to_dict() == {
        "BNB/USDT": 300.0,
        "BTC/USDT": 42000.0,
        "ETH/USDT": 2300.0,
        "SOL/USDT": 100.0,
        "XRP/USDT": 0.6,
    }
    vol = log_returns(two_years.candles).std()
    assert 0.005 < vol["BTC/USDT"] < 0.01
    assert (vol.drop("BTC/USDT") > vol["BTC/USDT"]).all()
    assert (vol < 0.03).all()


@pytest.mark.parametrize(("timeframe", "days"), [("15m", 365), ("4h", 730), ("1d", 730)])
def test_volatility_scales_with_the_square_root_of_bar_length(timeframe: str, days: int) -> None:
    # Pooled over four seeds: one path's realised variance wanders with its regimes.
    def hourly_vol(timeframe: str) -> pd.Series:
        hours = pd.Timedelta(timeframe.replace("m", "min")) / pd.Timedelta("1h")
        variances = [
            log_returns(simulate_market(SYMBOLS, timeframe, days=days, seed=seed).candles).var()
            for seed in range(4)
        ]
        return np.sqrt(sum(variances) / len(variances) / hours)

    ratio = hourly_vol(timeframe) / hourly_vol("1h")
    assert ratio.between(0.85, 1.18).all(), ratio.to_dict()


def test_unknown_symbols_get_stable_distinct_profiles() -> None:
    one = simulate_market(["FOO/BAR", "BAZ/USDT"], "1h", days=30, seed=1).candles
    two = simulate_market(["FOO/BAR", "BAZ/USDT"], "1h", days=30, seed=2).candles
    levels = one.groupby("symbol")["open"].first()
    assert levels.equals(two.groupby("symbol")["open"].first())
    # derived from crc32 of the name: the same in every process, whatever PYTHONHASHSEED is
    assert levels.to_dict() == pytest.approx({"FOO/BAR": 0.0668227530, "BAZ/USDT": 11.5706618075})
    assert (one[["open", "high", "low", "close", "volume"]] > 0).all().all()


def test_volume_follows_volatility_and_time_of_day(two_years: SimulatedMarket) -> None:
    candles = two_years.candles[two_years.candles["symbol"] == "BTC/USDT"]
    size = np.abs(np.log(candles["close"] / candles["open"]))
    assert np.corrcoef(size, np.log(candles["volume"]))[0, 1] > 0.3
    by_hour = candles.groupby(candles["ts"].dt.hour)["volume"].mean()
    assert by_hour[14:17].mean() > 1.3 * by_hour[1:4].mean()


# --- stylised facts ---------------------------------------------------------------------------


def test_correlation_structure(two_years: SimulatedMarket) -> None:
    corr = log_returns(two_years.candles).corr()
    assert 0.70 < corr.loc["BTC/USDT", "ETH/USDT"] < 0.85
    for alt in ["SOL/USDT", "BNB/USDT", "XRP/USDT"]:
        assert 0.4 < corr.loc["BTC/USDT", alt] < corr.loc["BTC/USDT", "ETH/USDT"], alt


def test_returns_have_fat_tails(two_years: SimulatedMarket) -> None:
    returns = log_returns(two_years.candles)
    excess_kurtosis = returns.kurt()
    assert (excess_kurtosis > 2).all(), excess_kurtosis.to_dict()
    # Fat tails even given the recent volatility (Student-t shocks, not only a variance mix):
    # a Gaussian GARCH would give about 0.5 here.
    rescaled = returns / returns.rolling(48).std().shift(1)
    assert (rescaled.kurt() > 1.8).all(), rescaled.kurt().to_dict()


def test_volatility_clusters_but_returns_do_not_autocorrelate(two_years: SimulatedMarket) -> None:
    returns = log_returns(two_years.candles)
    for symbol in SYMBOLS:
        r = returns[symbol].to_numpy()
        assert np.corrcoef(np.abs(r[1:]), np.abs(r[:-1]))[0, 1] > 0.1, symbol
        assert np.corrcoef(r[1:] ** 2, r[:-1] ** 2)[0, 1] > 0.03, symbol
        assert_uncorrelated(r[1:], r[:-1], f"{symbol} lag-1 return autocorrelation")


# --- martingale and the sentiment lead --------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nothing_is_predictable_without_signal(seed: int) -> None:
    market = simulate_market(SYMBOLS, "1h", days=365, seed=seed, signal=0.0)
    returns = log_returns(market.candles)
    for symbol in SYMBOLS:
        r = returns[symbol].to_numpy()
        assert_uncorrelated(r[1:], r[:-1], f"{symbol} lag-1 returns")
        assert_uncorrelated(r[2:], r[:-2], f"{symbol} lag-2 returns")
        bars = sentiment_at_bar_close(market, symbol, "1h")
        assert_uncorrelated(bars["value"], bars["next_ret"], f"{symbol} sentiment vs next bar")


def test_without_signal_sentiment_ignores_prices() -> None:
    hourly = simulate_market(["BTC/USDT"], "1h", days=30, seed=4, signal=0.0).sentiment
    daily = simulate_market(["BTC/USDT"], "1d", days=30, seed=4, signal=0.0).sentiment
    pd.testing.assert_frame_equal(hourly, daily, check_exact=True)


def test_signal_sets_the_correlation_with_the_next_bar() -> None:
    # The sample correlation varies with the sample's realised volatility (the signal part
    # scales with it): its spread is about 0.02 per symbol and two years, so the mean over
    # four independent seeds and five symbols sits within 0.03 and each one within 0.1.
    signal, estimates = 0.3, []
    for seed in range(4):
        market = simulate_market(SYMBOLS, "1h", days=730, seed=seed, signal=signal)
        for symbol in SYMBOLS:
            bars = sentiment_at_bar_close(market, symbol, "1h")
            estimates.append(np.corrcoef(bars["value"], bars["next_ret"])[0, 1])
            assert_uncorrelated(bars["value"], bars["ret"], f"{symbol} sentiment vs its bar")
            assert_uncorrelated(
                bars["value"].iloc[1:], bars["ret"].iloc[:-1], f"{symbol} vs previous bar"
            )
    assert abs(np.mean(estimates) - signal) < 0.03, estimates
    assert np.all(np.abs(np.array(estimates) - signal) < 0.1), estimates


@pytest.mark.parametrize(
    ("timeframe", "days", "next_bar_share"), [("15m", 365, 0.5), ("4h", 730, 1)]
)
def test_signal_reaches_a_point_in_time_join(
    timeframe: str, days: int, next_bar_share: float
) -> None:
    signal = 0.5
    market = simulate_market(SYMBOLS, timeframe, days=days, seed=9, signal=signal)
    for symbol in SYMBOLS:
        bars = sentiment_at_bar_close(market, symbol, timeframe)
        rho = np.corrcoef(bars["value"], bars["next_ret"])[0, 1]
        assert abs(rho - signal * next_bar_share) < 0.12, (symbol, rho)
        published_at_close = bars[bars["available_at"] == bars["close_at"]]
        assert_uncorrelated(
            published_at_close["value"], published_at_close["ret"], f"{symbol} bar at publication"
        )
        closed = last_closed_bar(market, symbol, timeframe)
        assert_uncorrelated(closed["value"], closed["ret"], f"{symbol} last closed bar")


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"symbols": []}, "symbols"),
        ({"symbols": "BTC/USDT"}, "symbols"),
        ({"symbols": ["BTCUSDT"]}, "symbols"),
        ({"symbols": ["BTC/"]}, "symbols"),
        ({"symbols": ["BTC/USDT", "BTC/USDT"]}, "symbols"),
        ({"timeframe": "1x"}, "timeframe"),
        ({"timeframe": "7m"}, "timeframe"),
        ({"timeframe": "1w"}, "timeframe"),
        ({"days": 0}, "days"),
        ({"days": -3}, "days"),
        ({"days": 1.5}, "days"),
        ({"days": 1, "timeframe": "1d", "end": datetime(2026, 1, 1, 12)}, "days"),
        ({"seed": -1}, "seed"),
        ({"signal": -0.1}, "signal"),
        ({"signal": 1.0}, "signal"),
        ({"signal": float("nan")}, "signal"),
    ],
)
def test_bad_arguments_raise_config_error(kwargs: dict, named: str) -> None:
    arguments = {"symbols": ["BTC/USDT"], "timeframe": "1h", "days": 5, **kwargs}
    with pytest.raises(ConfigError, match=named):
        simulate_market(**arguments)


def test_garch_solver_matches_the_recursion() -> None:
    rng = np.random.default_rng(0)
    z = rng.standard_t(5, size=(3, 5000)) * math.sqrt(3 / 5)
    alpha, beta = 0.05, 0.93  # blocks of ~550 steps: the state crosses several blocks
    expected = np.empty_like(z)
    h = np.ones(3)
    for t in range(z.shape[1]):
        expected[:, t] = h
        h = (1 - alpha - beta) + (alpha * z[:, t] ** 2 + beta) * h
    np.testing.assert_allclose(garch_variance(z, alpha, beta), expected, rtol=1e-10)
