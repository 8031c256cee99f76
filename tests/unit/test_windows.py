"""Risk windows as durations: converted to bars per timeframe, bar counts still accepted."""

from __future__ import annotations

import pytest

from cryptobot.config import load_settings
from cryptobot.errors import ConfigError
from cryptobot.timeframes import window_bars
from cryptobot.trading import core


@pytest.mark.parametrize(
    ("value", "timeframe", "bars"),
    [
        ("24h", "5m", 288),
        ("24h", "1h", 24),
        ("7d", "5m", 2016),
        ("7d", "1h", 168),
        ("90m", "1h", 1),  # rounded down to whole bars
        ("2w", "1d", 14),
        (24, "5m", 24),  # a bar count stays a bar count
        ("24", "5m", 24),
    ],
)
def test_windows_convert_per_timeframe(value, timeframe, bars):
    assert window_bars(value, timeframe) == bars


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("24x", "neither a number of bars"),
        ("-3h", "neither a number of bars"),
        ("0h", "neither a number of bars"),
        (0, "at least 1 bar"),
    ],
)
def test_bad_windows_are_named(value, message):
    with pytest.raises(ConfigError, match=message):
        window_bars(value, "1h", "trading.liquidity_window")


def test_duration_shorter_than_a_bar_is_refused():
    with pytest.raises(ConfigError, match="shorter than one bar"):
        window_bars("30m", "1h", "trading.liquidity_window")


def test_default_windows_cover_a_day_and_a_week_on_5m_bars(monkeypatch):
    """On today's code the defaults were 24 and 168 *bars*: two hours and 14 hours of 5m bars."""
    settings = load_settings()
    params = core.CoreParams.from_settings(settings, 300)
    assert params.liquidity_window == 288
    assert params.correlation_window == 2016
    hourly = core.CoreParams.from_settings(settings, 3600)
    assert (hourly.liquidity_window, hourly.correlation_window) == (24, 168)


def test_windows_from_environment_and_errors_name_the_field(monkeypatch):
    monkeypatch.setenv("CRYPTOBOT_TRADING__LIQUIDITY_WINDOW", "6h")
    monkeypatch.setenv("CRYPTOBOT_TRADING__CORRELATION_WINDOW", "48")
    trading = load_settings().trading
    assert trading.window_bars("15m") == (48, 24)
    monkeypatch.setenv("CRYPTOBOT_TRADING__LIQUIDITY_WINDOW", "6 hours")
    with pytest.raises(ConfigError, match=r"trading\.liquidity_window.*6 hours"):
        load_settings()
    monkeypatch.setenv("CRYPTOBOT_TRADING__LIQUIDITY_WINDOW", "6h")
    monkeypatch.setenv("CRYPTOBOT_TRADING__CORRELATION_WINDOW", "12")
    with pytest.raises(ConfigError, match="at least 24"):
        load_settings()
