"""Issue 15, account lifecycle: a step on stale data refuses, a replay without --as-of ends at the
newest stored bar, paper accounts are named, listed, reset and archived, and a replay over a
champion's training rows is refused unless allowed (then labelled in-sample)."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import pytest

from cryptobot.config import Settings
from cryptobot.errors import TradingError
from cryptobot.ingest import store_market_frame
from cryptobot.trading.engine import StepResult, Trader, default_as_of, describe_age, replay
from tests.conftest import make_candles

pytestmark = pytest.mark.integration

HOUR = timedelta(hours=1)


def _binance(settings: Settings) -> Settings:
    """Settings for real (non-simulated) binance candles of BTC/USDT."""
    return settings.model_copy(update={"source": "ccxt", "symbols": ["BTC/USDT"]})


def _store(settings: Settings, start: str, n: int) -> None:
    store_market_frame(
        settings,
        make_candles(n, start=start),
        exchange="binance",
        timeframe="1h",
        source="ccxt",
        symbol="BTC/USDT",
    )


def _count(settings: Settings, table: str) -> int:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return con.execute(f"select count(*) from {table}").fetchone()[0]


def test_describe_age_names_the_two_largest_units():
    assert describe_age(timedelta(days=365 * 3 + 62)) == "3 years 2 months"
    assert describe_age(timedelta(days=5, hours=4, minutes=3)) == "5 days 4 hours"
    assert describe_age(timedelta(hours=2)) == "2 hours"
    assert describe_age(timedelta(seconds=20)) == "less than a minute"


def test_a_step_on_data_that_ended_years_ago_refuses_and_writes_nothing(settings):
    real = _binance(settings)
    _store(real, "2023-06-01", 48)  # the newest bar closes 2023-06-03 00:00
    with pytest.raises(TradingError) as caught:
        Trader(real).step()
    message = str(caught.value)
    assert "newest BTC/USDT 1h bar on binance closed at 2023-06-03 00:00 UTC" in message
    assert "years" in message and "ago" in message
    assert "pass --as-of to trade history" in message
    assert _count(real, "equity_curve") == 0  # no mark dated today


def test_fresh_data_steps_at_the_newest_bar_close_not_the_clock(settings):
    real = _binance(settings)
    _store(real, "2023-06-01", 48)
    now = datetime(2023, 6, 3, 1, 30)  # 1.5 h after the newest close: within two 1h bars
    assert default_as_of(real, now=now) == datetime(2023, 6, 3)
    strict = real.model_copy(
        update={"trading": real.trading.model_copy(update={"max_data_age": "1h"})}
    )
    with pytest.raises(TradingError, match=r"\(1 hour 30 minutes ago\)"):
        default_as_of(strict, now=now)


def test_replay_without_as_of_ends_at_the_newest_stored_bar(settings, monkeypatch):
    real = _binance(settings)
    _store(real, "2023-06-01", 48)
    stepped = []

    def step(self, as_of=None):  # the bar grid the replay walks; the step itself is tested apart
        stepped.append(as_of)
        return StepResult(as_of=as_of, mode="paper", strategy="t", already_marked=True)

    monkeypatch.setattr(Trader, "step", step)
    monkeypatch.setattr("models.predictions.resolve_outcomes", lambda settings: 0)
    result = replay(real, days=0.5)  # a replay trades history: not refused for its age
    assert result.end == datetime(2023, 6, 3)
    assert stepped == [datetime(2023, 6, 2, 12) + HOUR * k for k in range(1, 13)]
