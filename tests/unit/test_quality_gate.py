"""Every rule of the quality gate, on a clean batch and on a batch that breaks it."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from cryptobot.ingest import market_frame, sentiment_frame
from cryptobot.quality import gate
from tests.conftest import make_candles

FETCHED = datetime(2025, 1, 1)


def batch(n: int = 50, timeframe: str = "1h") -> pd.DataFrame:
    freq = {"1h": "1h", "1m": "1min", "1d": "1D"}[timeframe]
    return market_frame(
        make_candles(n, freq=freq),
        exchange="binance",
        timeframe=timeframe,
        source="file",
        batch_id="b1",
        fetched_at=FETCHED,
        symbol="BTC/USDT",
    )


def test_clean_batch_passes_every_rule():
    result = gate.validate_market_data(batch(), 3600)
    assert result.success, result.summary()
    assert result.failed_rows == 0
    assert len(gate.suite_rules(gate.MARKET_DATA)) >= 25


def _break(frame: pd.DataFrame, row: int, **values) -> pd.DataFrame:
    frame = frame.copy()
    for column, value in values.items():
        frame.loc[row, column] = value
    return frame


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"high": 1.0}, "high >= open"),
        ({"low": 10_000.0}, "low <= close"),
        ({"open": -5.0}, "open is finite and > 0"),
        ({"close": 0.0}, "close is finite and > 0"),
        ({"volume": -1.0}, "volume is finite and >= 0"),
        ({"high": np.inf}, "high is finite and > 0"),
        ({"volume": np.inf}, "volume is finite and >= 0"),
        ({"open": np.nan}, "open is not null"),
        ({"volume": np.nan}, "volume is not null"),
    ],
)
def test_each_price_rule_names_the_failing_row(change, rule):
    frame = _break(batch(), 7, **change)
    result = gate.validate_market_data(frame, 3600)
    assert not result.success
    assert rule in result.row_reasons[7]
    assert result.failures[rule] >= 1
    assert set(result.row_reasons) == {7}
    assert rule in result.summary()


def test_high_below_close_and_low_above_open_are_caught():
    frame = batch()
    frame.loc[3, ["open", "close"]] = [100.0, 101.0]
    frame.loc[3, ["high", "low"]] = [100.5, 99.0]  # high < close
    frame.loc[4, ["open", "close"]] = [100.0, 101.0]
    frame.loc[4, ["high", "low"]] = [102.0, 100.5]  # low > open
    result = gate.validate_market_data(frame, 3600)
    assert result.row_reasons[3] == ["high >= close"]
    assert result.row_reasons[4] == ["low <= open"]


def test_duplicate_keys_mark_every_copy():
    frame = batch()
    frame.loc[10, "ts"] = frame.loc[11, "ts"]
    result = gate.validate_market_data(frame, 3600)
    assert not result.success
    assert set(result.row_reasons) == {10, 11}
    assert result.failures["unique (exchange, symbol, timeframe, ts)"] == 2


def test_timestamps_must_be_aligned_to_the_timeframe():
    frame = batch()
    frame.loc[5, "ts"] = frame.loc[5, "ts"] + pd.Timedelta(minutes=1)
    result = gate.validate_market_data(frame, 3600)
    assert result.row_reasons == {5: ["ts aligned to the timeframe"]}
    # the same minute-aligned batch is fine for a 1m timeframe
    assert gate.validate_market_data(frame.assign(timeframe="1m"), 60).success


def test_a_bar_not_closed_when_fetched_is_rejected():
    frame = batch()
    frame.loc[len(frame) - 1, "fetched_at"] = frame.loc[len(frame) - 1, "ts"] + pd.Timedelta(
        minutes=30
    )
    result = gate.validate_market_data(frame, 3600)
    assert result.row_reasons == {len(frame) - 1: ["bar closed before it was fetched"]}


def test_wrong_type_and_missing_column_fail_the_whole_batch():
    frame = batch(5)
    frame["close"] = frame["close"].astype(str)
    result = gate.validate_market_data(frame, 3600)
    assert not result.success
    assert "close is a float" in result.failures
    assert result.failed_rows == 5

    missing = batch(5).drop(columns=["volume"])
    result = gate.validate_market_data(missing, 3600)
    assert "columns are exactly those of market_data" in result.failures
    assert result.failed_rows == 5


def test_sentiment_suite():
    rows = pd.DataFrame(
        {
            "symbol": ["BTC/USDT", "BTC/USDT", "ETH/USDT"],
            "ts": pd.to_datetime(["2024-01-01 00:00", "2024-01-01 01:00", "2024-01-01 00:00"]),
            "value": [0.1, -0.2, 0.3],
            "available_at": pd.to_datetime(
                ["2024-01-01 01:00", "2024-01-01 02:00", "2024-01-01 01:00"]
            ),
        }
    )
    frame = sentiment_frame(rows, source="simulated", batch_id="s1", fetched_at=FETCHED)
    assert gate.validate_sentiment(frame).success
    bad = frame.copy()
    bad.loc[1, "ts"] = bad.loc[0, "ts"]
    bad.loc[2, "value"] = np.nan
    result = gate.validate_sentiment(bad)
    assert result.row_reasons[0] == ["unique (source, symbol, ts)"]
    assert "value is not null" in result.row_reasons[2]
    late = frame.copy()
    late.loc[0, "available_at"] = pd.Timestamp("2030-01-01")
    assert gate.validate_sentiment(late).row_reasons == {0: ["known before it was fetched"]}
