"""Timeframe strings (``1m``, ``1h``, ``1d``...) as used by ccxt, and their lengths."""

from __future__ import annotations

import re
from datetime import timedelta

from cryptobot.errors import ConfigError

_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}
_PATTERN = re.compile(r"^(\d+)([mhdw])$")

#: Timeframes the pipeline supports end to end (the simulator, the gate and the dbt models).
SUPPORTED = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d")


def timeframe_seconds(timeframe: str) -> int:
    """Length of one bar in seconds: ``timeframe_seconds("1h") == 3600``."""
    match = _PATTERN.match(timeframe or "")
    if not match or int(match.group(1)) <= 0:
        raise ConfigError(
            f"timeframe {timeframe!r} is not valid: use a number and a unit, one of "
            f"{', '.join(SUPPORTED)}"
        )
    return int(match.group(1)) * _UNITS[match.group(2)]


def timeframe_seconds_sql(column: str = "timeframe") -> str:
    """The same rule as :func:`timeframe_seconds`, as a DuckDB expression over ``column``.

    (dbt_project/macros/timeframe_seconds.sql states it once more for the dbt models.)
    """
    units = " ".join(f"when '{unit}' then {seconds}" for unit, seconds in _UNITS.items())
    return (
        f"(try_cast(regexp_extract({column}, '^([0-9]+)[{''.join(_UNITS)}]$', 1) as bigint)"
        f" * case right({column}, 1) {units} end)"
    )


def timeframe_delta(timeframe: str) -> timedelta:
    return timedelta(seconds=timeframe_seconds(timeframe))


#: a window given as a duration: a number and a unit (``90m``, ``24h``, ``7d``, ``2w``)
_DURATION = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")


def parse_window(value: int | str, name: str = "window") -> int | str:
    """A window setting as given: a whole number of bars (``24``, or ``"24"``) or a duration
    (``"24h"``, ``"7d"``, ``"90m"``, ``"2w"``); anything else is a :class:`ConfigError`."""
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be a number of bars or a duration like 24h, not {value!r}")
    if isinstance(value, int):
        if value < 1:
            raise ConfigError(f"{name} must be at least 1 bar, got {value}")
        return value
    text = str(value).strip().lower()
    if text.isdigit():
        return parse_window(int(text), name)
    match = _DURATION.match(text)
    if not match or int(match.group(1)) <= 0:
        raise ConfigError(
            f"{name} {value!r} is neither a number of bars (e.g. 24) nor a duration: use a "
            "positive number and a unit m, h, d or w (e.g. 90m, 24h, 7d)"
        )
    return f"{int(match.group(1))}{match.group(2)}"


def window_bars(value: int | str, timeframe: str | int, name: str = "window") -> int:
    """How many ``timeframe`` bars a window setting covers: a bar count as it is, a duration
    divided by the bar length and rounded down (``window_bars("24h", "5m") == 288``,
    ``window_bars("90m", "1h") == 1``). A duration shorter than one bar is an error.
    ``timeframe`` may also be given as the bar's length in seconds."""
    parsed = parse_window(value, name)
    if isinstance(parsed, int):
        return parsed
    match = _DURATION.match(parsed)
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    bar = timeframe if isinstance(timeframe, int) else timeframe_seconds(timeframe)
    if seconds < bar:
        raise ConfigError(
            f"{name} {parsed} is shorter than one bar ({bar} s): give at least one bar's "
            "length or a number of bars"
        )
    return seconds // bar
