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
