"""Checks on the times of imported bars that no single row can fail: spacing and range.

A file of candles can be perfectly formed and still wrong for the series it is imported into:

- its bars are spaced differently from the declared timeframe (a 5m file declared ``1m`` would be
  stored with ``available_at = ts + 1m``: every bar would look known four minutes before it
  closed), found by :func:`check_spacing`;
- its times lie before the exchange traded at all (an ISO ``1969-12-31`` date, a date column
  read in the wrong unit) or after now, found by :func:`check_time_range`.

Both raise ``FileFormatError`` naming the file, what was found and what to do; nothing is stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime

import numpy as np
import pandas as pd

from cryptobot.errors import FileFormatError
from cryptobot.timeframes import SUPPORTED, timeframe_seconds

__all__ = [
    "FIRST_TRADING_DAYS",
    "GENESIS_DAY",
    "check_spacing",
    "check_time_range",
    "dominant_spacing",
    "first_trading_day",
    "format_seconds",
]

#: the Bitcoin genesis block: no crypto market has a bar before it (floor for unknown exchanges)
GENESIS_DAY = date(2009, 1, 3)
#: the first day each exchange traded, or a day safely before it (a floor, never a guess after
#: it: a bar before it cannot be real). Override or extend with ``ingest.first_trading_days``.
FIRST_TRADING_DAYS: dict[str, date] = {
    "binance": date(2017, 7, 14),  # Binance opened on 14 July 2017
    "binanceus": date(2019, 9, 18),
    "bitstamp": date(2011, 8, 18),
    "coinbase": date(2015, 1, 26),  # Coinbase Exchange (later GDAX / Advanced Trade)
    "kraken": date(2013, 9, 10),
    "indodax": date(2013, 1, 1),  # as Bitcoin.co.id; start of its first year, to be safe
    "tokocrypto": date(2018, 1, 1),  # founded 2018; start of that year, to be safe
}


def first_trading_day(exchange: str, overrides: Mapping[str, date] | None = None) -> date:
    """The earliest plausible bar date on ``exchange`` (the genesis day for unknown ones)."""
    if overrides and exchange in overrides:
        return overrides[exchange]
    return FIRST_TRADING_DAYS.get(exchange, GENESIS_DAY)


def format_seconds(seconds: int) -> str:
    """A length as a timeframe-style string: 300 -> ``5m``, 7200 -> ``2h``, 90 -> ``90s``."""
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def dominant_spacing(ts: pd.Series | np.ndarray) -> tuple[int, float, int] | None:
    """(spacing in ms, its share of the steps, steps) between consecutive distinct bar times.

    The spacing is the most common step (the smaller one on a tie), so missing bars (gaps, which
    are longer steps) in a series do not change it. None for fewer than two distinct times.
    """
    values = np.sort(np.asarray(ts, dtype="datetime64[ms]").view(np.int64))
    differences = np.diff(values)
    differences = differences[differences > 0]  # repeated times are the gate's business
    if len(differences) == 0:
        return None
    # np.unique hashes (seconds for a million distinct times); the steps take few values
    steps, counts = np.unique(differences, return_counts=True)
    best = int(np.argmax(counts))  # the first of the most common: the smallest step among ties
    total = int(counts.sum())
    return int(steps[best]), float(counts[best] / total), total


def check_spacing(ts: pd.Series | np.ndarray, timeframe: str, *, where: str) -> None:
    """Refuse bars whose usual spacing is not ``timeframe``, naming the spacing found."""
    found = dominant_spacing(ts)
    if found is None:
        return
    step_ms, share, steps = found
    declared = timeframe_seconds(timeframe)
    if step_ms == declared * 1000:
        return
    spacing = format_seconds(step_ms // 1000) if step_ms % 1000 == 0 else f"{step_ms} ms"
    if step_ms > declared * 1000:
        risk = (
            f"stored as {timeframe} bars, each would look available "
            f"{format_seconds(step_ms // 1000 - declared)} before it closed"
        )
    else:
        risk = f"{timeframe} bars cannot start {spacing} apart: the bars would overlap"
    hint = (
        f"import it with --timeframe {spacing}"
        if spacing in SUPPORTED
        else f"resample it to one of {', '.join(SUPPORTED)} first"
    )
    raise FileFormatError(
        f"{where}: bars are {spacing} apart ({share:.0%} of the {steps:,} steps between "
        f"consecutive bars), but the timeframe given is {timeframe}; {risk}. If the file holds "
        f"{spacing} bars, {hint}; nothing was stored"
    )


def check_time_range(
    ts: pd.Series | np.ndarray,
    *,
    exchange: str,
    now: datetime,
    where: str,
    first_days: Mapping[str, date] | None = None,
) -> None:
    """Refuse bars opening before ``exchange``'s first trading day or after ``now`` (naive UTC)."""
    values = np.asarray(ts, dtype="datetime64[ms]")
    if len(values) == 0:
        return
    floor = first_trading_day(exchange, first_days)
    earliest, latest = values.min(), values.max()
    if earliest < np.datetime64(floor, "ms"):
        count = int((values < np.datetime64(floor, "ms")).sum())
        known = (
            f"{exchange}'s first trading day is {floor:%Y-%m-%d}"
            if floor != GENESIS_DAY
            else f"no crypto market traded before the Bitcoin genesis day, {floor:%Y-%m-%d}"
        )
        raise FileFormatError(
            f"{where}: {count:,} bar(s) open before {floor:%Y-%m-%d}, the earliest at "
            f"{_text(earliest)} UTC; {known}. Check the time column (a wrong unit or a "
            "mistyped year?); nothing was stored"
        )
    limit = np.datetime64(now.replace(tzinfo=None), "ms")
    if latest > limit:
        count = int((values > limit).sum())
        raise FileFormatError(
            f"{where}: {count:,} bar(s) open in the future, the latest at {_text(latest)} UTC "
            f"(now is {now:%Y-%m-%d %H:%M} UTC). Check the time column (a wrong unit, year or "
            "time zone?); nothing was stored"
        )


def _text(value: np.datetime64) -> str:
    return pd.Timestamp(value).strftime("%Y-%m-%d %H:%M:%S")
