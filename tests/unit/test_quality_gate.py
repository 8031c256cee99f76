"""Every rule of the quality gate, on a clean batch and on a batch that breaks it.

``MARKET_CASES`` and ``SENTIMENT_CASES`` hold one or more bad-input cases per rule;
``test_every_rule_has_a_failing_case`` keeps it that way: a rule added to a suite without a case
here fails the test suite.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from cryptobot.ingest import market_frame, sentiment_frame
from cryptobot.quality import gate
from tests.conftest import make_candles

FETCHED = datetime(2025, 1, 1)
TIMESTAMPS = ["ts", "fetched_at", "available_at"]


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


def sentiment_batch() -> pd.DataFrame:
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
    return sentiment_frame(rows, source="simulated", batch_id="s1", fetched_at=FETCHED)


def _set(row: int, **values) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        for column, value in values.items():
            frame.loc[row, column] = value
        return frame

    return change


def _as_str(column: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    return lambda frame: frame.assign(**{column: frame[column].astype(str)})


def _shift(row: int, column: str, of: str, by: pd.Timedelta) -> Callable:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        frame.loc[row, column] = frame.loc[row, of] + by
        return frame

    return change


@dataclass(frozen=True)
class Case:
    id: str
    change: Callable[[pd.DataFrame], pd.DataFrame]
    #: rules that must be among the failures (of ``rows``' reasons, when rows are given)
    rules: tuple[str, ...]
    #: exactly the rows that must fail; None: the whole batch
    rows: frozenset[int] | None


def case(id: str, change, *rules: str, rows: set[int] | None = None) -> Case:
    return Case(id, change, rules, None if rows is None else frozenset(rows))


MARKET_CASES = [
    case(
        "missing column",
        lambda f: f.drop(columns=["volume"]),
        "columns are exactly those of market_data",
    ),
    case("extra column", lambda f: f.assign(note="x"), "columns are exactly those of market_data"),
    *[
        case(f"{c} as text", _as_str(c), f"{c} is a float")
        for c in ["open", "high", "low", "close", "volume"]
    ],
    case(
        "volume as int", lambda f: f.assign(volume=f["volume"].astype("int64")), "volume is a float"
    ),
    case("ts as text", _as_str("ts"), "ts is a datetime", "ts aligned to the timeframe"),
    case("ts zoned", lambda f: f.assign(ts=f["ts"].dt.tz_localize("UTC")), "ts is a datetime"),
    case("fetched_at as text", _as_str("fetched_at"), "fetched_at is a datetime"),
    case("available_at as text", _as_str("available_at"), "available_at is a datetime"),
    case("symbol null", _set(7, symbol=None), "symbol is not null", rows={7}),
    case("ts null", _set(7, ts=pd.NaT), "ts is not null", rows={7}),
    *[
        case(f"{c} null", _set(7, **{c: np.nan}), f"{c} is not null", rows={7})
        for c in ["open", "high", "low", "close", "volume"]
    ],
    case("open < 0", _set(7, open=-5.0), "open is finite and > 0", rows={7}),
    case("high inf", _set(7, high=np.inf), "high is finite and > 0", rows={7}),
    case("low = 0", _set(7, low=0.0), "low is finite and > 0", rows={7}),
    case("close = 0", _set(7, close=0.0), "close is finite and > 0", rows={7}),
    case("volume < 0", _set(7, volume=-1.0), "volume is finite and >= 0", rows={7}),
    case("volume inf", _set(7, volume=np.inf), "volume is finite and >= 0", rows={7}),
    case("high below open", _set(7, high=1.0), "high >= open", rows={7}),
    case(
        "high below close",
        _set(3, open=100.0, close=101.0, high=100.5, low=99.0),
        "high >= close",
        rows={3},
    ),
    case(
        "low above open",
        _set(4, open=100.0, close=101.0, high=102.0, low=100.5),
        "low <= open",
        rows={4},
    ),
    case("low above close", _set(7, low=10_000.0), "low <= close", rows={7}),
    case(
        "duplicate key",
        _shift(10, "ts", "ts", pd.Timedelta(hours=1)),
        "unique (exchange, symbol, timeframe, ts)",
        rows={10, 11},
    ),
    case(
        "ts off the grid",
        _shift(5, "ts", "ts", pd.Timedelta(minutes=1)),
        "ts aligned to the timeframe",
        rows={5},
    ),
    case(
        "bar still open",
        _shift(49, "fetched_at", "ts", pd.Timedelta(minutes=30)),
        "bar closed before it was fetched",
        rows={49},
    ),
    case(
        "available before ts",
        _shift(3, "available_at", "ts", pd.Timedelta(hours=-1)),
        "available at or after ts",
        rows={3},
    ),
]

SENTIMENT_CASES = [
    case(
        "missing column",
        lambda f: f.drop(columns=["value"]),
        "columns are exactly those of sentiment",
    ),
    case("extra column", lambda f: f.assign(note="x"), "columns are exactly those of sentiment"),
    case("value as text", _as_str("value"), "value is a float"),
    *[case(f"{c} as text", _as_str(c), f"{c} is a datetime") for c in TIMESTAMPS],
    *[
        case(f"{c} null", _set(1, **{c: None}), f"{c} is not null", rows={1})
        for c in ["source", "symbol", "batch_id"]
    ],
    *[case(f"{c} null", _set(1, **{c: pd.NaT}), f"{c} is not null", rows={1}) for c in TIMESTAMPS],
    case("value null", _set(2, value=np.nan), "value is not null", rows={2}),
    case("value inf", _set(2, value=np.inf), "value is finite", rows={2}),
    case("value -inf", _set(2, value=-np.inf), "value is finite", rows={2}),
    case(
        "duplicate key",
        _shift(1, "ts", "ts", pd.Timedelta(hours=-1)),
        "unique (source, symbol, ts)",
        rows={0, 1},
    ),
    case(
        "published after fetch",
        _set(0, available_at=pd.Timestamp("2030-01-01")),
        "known before it was fetched",
        rows={0},
    ),
    case(
        "available before ts",
        _shift(0, "available_at", "ts", pd.Timedelta(hours=-1)),
        "available at or after ts",
        rows={0},
    ),
]


def _check(result: gate.GateResult, bad: Case, rows: int) -> None:
    assert not result.success
    for rule in bad.rules:
        assert result.failures.get(rule, 0) >= 1, f"{rule!r} not in {result.failures}"
        assert rule in result.summary()
    if bad.rows is None:
        assert result.failed_rows == rows
    else:
        assert set(result.row_reasons) == bad.rows
        for row in bad.rows:
            assert set(bad.rules) <= set(result.row_reasons[row])


@pytest.mark.parametrize("bad", MARKET_CASES, ids=lambda c: c.id)
def test_market_data_rule_fails_on_bad_input(bad: Case):
    frame = batch()
    _check(gate.validate_market_data(bad.change(frame), 3600), bad, len(frame))


@pytest.mark.parametrize("bad", SENTIMENT_CASES, ids=lambda c: c.id)
def test_sentiment_rule_fails_on_bad_input(bad: Case):
    frame = sentiment_batch()
    _check(gate.validate_sentiment(bad.change(frame)), bad, len(frame))


@pytest.mark.parametrize(
    ("table", "cases"), [(gate.MARKET_DATA, MARKET_CASES), (gate.SENTIMENT, SENTIMENT_CASES)]
)
def test_every_rule_has_a_failing_case(table: str, cases: list[Case]):
    tested = {rule for bad in cases for rule in bad.rules}
    untested = [rule for rule in gate.suite_rules(table) if rule not in tested]
    assert untested == [], f"add a bad-input case for these {table} rules"


def test_clean_batches_pass_every_rule():
    result = gate.validate_market_data(batch(), 3600)
    assert result.success, result.summary()
    assert result.failed_rows == 0
    assert len(gate.suite_rules(gate.MARKET_DATA)) >= 29
    assert gate.validate_sentiment(sentiment_batch()).success


def test_every_datetime_unit_pandas_produces_is_accepted():
    frame = batch(5)
    for unit in ["s", "ms", "us", "ns"]:
        converted = frame.assign(**{c: frame[c].dt.as_unit(unit) for c in TIMESTAMPS})
        assert gate.validate_market_data(converted, 3600).success, unit


def test_text_timestamps_fail_the_alignment_rule_too():
    """A ts that is not a datetime cannot be checked for alignment, so it must not pass it."""
    result = gate.validate_market_data(_as_str("ts")(batch(5)), 3600)
    assert result.failures["ts aligned to the timeframe"] == 5
    assert result.failures["ts is a datetime"] == 5


def test_duplicate_keys_mark_every_copy():
    frame = batch()
    frame.loc[10, "ts"] = frame.loc[11, "ts"]
    result = gate.validate_market_data(frame, 3600)
    assert set(result.row_reasons) == {10, 11}
    assert result.failures["unique (exchange, symbol, timeframe, ts)"] == 2


def test_alignment_depends_on_the_timeframe():
    frame = _shift(5, "ts", "ts", pd.Timedelta(minutes=1))(batch())
    assert gate.validate_market_data(frame, 3600).row_reasons == {
        5: ["ts aligned to the timeframe"]
    }
    # the same minute-aligned batch is fine for a 1m timeframe
    assert gate.validate_market_data(frame.assign(timeframe="1m"), 60).success


def test_several_broken_rows_are_each_named():
    frame = _set(3, high=1.0)(_set(9, volume=-2.0)(batch()))
    result = gate.validate_market_data(frame, 3600)
    assert set(result.row_reasons) == {3, 9}
    assert result.row_reasons[9] == ["volume is finite and >= 0"]
    assert result.summary().startswith("2 of 50 rows failed")
