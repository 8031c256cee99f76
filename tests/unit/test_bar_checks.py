"""Spacing and time-range checks of imported bars (``cryptobot.sources.bar_checks``)."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest

from cryptobot.errors import FileFormatError
from cryptobot.sources.bar_checks import (
    check_spacing,
    check_time_range,
    dominant_spacing,
    first_trading_day,
    format_seconds,
)

NOW = datetime(2026, 12, 5, 12, 0)


def times(start: str, periods: int, freq: str) -> pd.Series:
    return pd.Series(pd.date_range(start, periods=periods, freq=freq).as_unit("ms"))


def refused(call, *fragments: str) -> str:
    with pytest.raises(FileFormatError) as caught:
        call()
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


def test_a_5m_file_declared_1m_is_refused_naming_the_spacing() -> None:
    ts = times("2024-01-01", 100, "5min")
    message = refused(
        lambda: check_spacing(ts, "1m", where="btc-5m.csv"),
        "btc-5m.csv: bars are 5m apart (100% of the 99 steps",
        "the timeframe given is 1m",
        "each would look available 4m before it closed",
        "--timeframe 5m",
    )
    assert "nothing was stored" in message


def test_a_1m_file_declared_1h_is_refused_as_overlapping() -> None:
    refused(
        lambda: check_spacing(times("2024-01-01", 120, "1min"), "1h", where="f.csv"),
        "bars are 1m apart",
        "1h bars cannot start 1m apart",
        "--timeframe 1m",
    )


def test_gaps_do_not_change_the_spacing_and_matching_files_pass() -> None:
    ts = times("2024-01-01", 200, "1h")
    sparse = ts.drop(index=list(range(10, 60, 3)) + list(range(100, 130))).reset_index(drop=True)
    assert dominant_spacing(sparse)[0] == 3_600_000
    check_spacing(sparse, "1h", where="f.csv")  # no error
    check_spacing(times("2024-01-01", 1, "1h"), "1m", where="f.csv")  # one bar: nothing to tell
    # unsorted input and repeated times (left for the quality gate) do not confuse it
    shuffled = pd.Series(np.r_[ts.to_numpy()[::-1], ts.to_numpy()[:5]])
    check_spacing(shuffled, "1h", where="f.csv")


def test_an_unsupported_spacing_is_named_with_a_hint() -> None:
    refused(
        lambda: check_spacing(times("2024-01-01", 10, "90s"), "1m", where="f.csv"),
        "bars are 90s apart",
        "resample it",
    )
    assert format_seconds(7200) == "2h" and format_seconds(86400) == "1d"


@pytest.mark.parametrize("text", ["1969-12-31T23:00:00Z", "1970-01-01T00:00:00Z", "2017-07-13"])
def test_bars_before_the_exchanges_first_trading_day_are_refused(text: str) -> None:
    ts = pd.Series(pd.to_datetime([text, "2024-01-01"], format="ISO8601", utc=True))
    ts = ts.dt.tz_convert(None).dt.as_unit("ms")
    refused(
        lambda: check_time_range(ts, exchange="binance", now=NOW, where="old.csv"),
        "old.csv: 1 bar(s) open before 2017-07-14",
        "binance's first trading day is 2017-07-14",
    )


def test_unknown_exchanges_use_the_bitcoin_genesis_day_and_overrides_apply() -> None:
    ts = times("2008-12-31", 3, "1D")
    refused(
        lambda: check_time_range(ts, exchange="someexchange", now=NOW, where="f.csv"),
        "open before 2009-01-03",
        "Bitcoin genesis day",
    )
    assert first_trading_day("kraken") == date(2013, 9, 10)
    overrides = {"someexchange": date(2008, 1, 1)}
    check_time_range(ts, exchange="someexchange", now=NOW, where="f.csv", first_days=overrides)


def test_bars_in_the_future_are_refused_and_the_last_closed_one_passes() -> None:
    past = times("2026-12-05 10:00", 3, "1h")  # 10:00, 11:00, 12:00 (opening now)
    check_time_range(past, exchange="binance", now=NOW, where="f.csv")
    future = times("2026-12-05 11:00", 3, "1h")
    refused(
        lambda: check_time_range(future, exchange="binance", now=NOW, where="f.csv"),
        "1 bar(s) open in the future, the latest at 2026-12-05 13:00:00 UTC",
        "now is 2026-12-05 12:00 UTC",
    )
