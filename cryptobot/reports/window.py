"""Report periods and their windows: half-open ``[start, end)`` in naive UTC, like ``ts``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from cryptobot.errors import ReportError

PERIODS = ("daily", "weekly", "monthly")


@dataclass(frozen=True)
class Window:
    period: str
    day: date  # the day the report is named after
    start: datetime
    end: datetime

    @property
    def label(self) -> str:
        last = (self.end - timedelta(days=1)).date()
        if self.period == "daily":
            return f"{self.day:%A %d %B %Y}"
        if self.period == "weekly":
            return f"{self.start:%d %b %Y} – {last:%d %b %Y}"
        return f"{self.start:%B %Y}"

    @property
    def span(self) -> str:
        """The window's bounds as text, e.g. ``2025-12-31 00:00 – 2026-01-01 00:00 UTC``."""
        return f"{self.start:%Y-%m-%d %H:%M} – {self.end:%Y-%m-%d %H:%M} UTC"

    @property
    def filename(self) -> str:
        return f"{self.period}-{self.day:%Y-%m-%d}.html"


def check_period(period: str) -> str:
    value = str(period).strip().lower()
    if value not in PERIODS:
        raise ReportError(f"unknown report period {period!r}: use one of {', '.join(PERIODS)}")
    return value


def parse_day(value: str | date | None) -> date | None:
    """A report day from ``YYYY-MM-DD`` text (or a date); None stays None (the default day)."""
    if value is None or isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, datetime):
        return value.date()
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise ReportError(f"report day {value!r} is not a date: use YYYY-MM-DD") from None


def report_window(period: str, day: date) -> Window:
    """daily: that UTC day; weekly: the 7 days ending with ``day``; monthly: the calendar month
    containing ``day``, to its end."""
    period = check_period(period)
    midnight = datetime(day.year, day.month, day.day)
    if period == "daily":
        start, end = midnight, midnight + timedelta(days=1)
    elif period == "weekly":
        start, end = midnight - timedelta(days=6), midnight + timedelta(days=1)
    else:
        start = datetime(day.year, day.month, 1)
        end = datetime(day.year + day.month // 12, day.month % 12 + 1, 1)
    return Window(period=period, day=day, start=start, end=end)


def last_complete_day(clock: datetime) -> date:
    """The newest UTC day that has wholly passed at ``clock`` (naive UTC)."""
    return (datetime(clock.year, clock.month, clock.day) - timedelta(days=1)).date()
