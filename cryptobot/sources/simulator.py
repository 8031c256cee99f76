"""The simulated market: seeded, multi-asset candles and a sentiment series with a tunable lead.

This is the offline default source and the leak detector's control: with ``signal=0`` nothing in
its output predicts the direction of the next bar, so any edge a pipeline finds on it is a bug.

Model
-----
Bars have length ``dt`` seconds; ``k = dt / 3600`` is the bar length in hours. For symbol ``i``
and bar ``t`` the log return is

    r[i,t] = sigma_i * sqrt(k) * u[i,t]
    u[i,t] = m_t * (b_i * e_M[t] + c_i * e_S[t] + d_i * e_E[i,t]),   b_i^2 + c_i^2 + d_i^2 = 1

with a common market factor ``e_M``, one alt-coin sector factor ``e_S`` (BTC does not load on
it) and an idiosyncratic part ``e_E[i]``. Each component is a GARCH(1,1) process with Student-t
shocks (``df = 5``, rescaled to unit variance):

    e[t] = sqrt(h[t]) * z[t],   h[t] = omega + (alpha * z[t-1]^2 + beta) * h[t-1],   h[0] = 1
    omega = 1 - alpha - beta   (unconditional variance 1)

The hourly parameters (alpha = 0.05, alpha + beta = 0.98) are mapped to the bar length so that
the persistence is the same in clock time: ``alpha + beta = 0.98 ** k``,
``alpha = min(0.05 * sqrt(k), 0.12)``. ``m_t`` is a market-wide regime, a continuous-time
two-state Markov chain (calm: mean stay 21 days, turbulent: 5 days, 2.25 times the calm
volatility) read at each bar's open and normalised so that ``E[m^2] = 1``. Hence ``u`` has
unconditional variance 1, ``sigma_i`` is the symbol's unconditional hourly volatility and
``corr(r_i, r_j) = b_i b_j + c_i c_j`` (BTC/ETH about 0.77, alts lower). All shocks are
symmetric with zero mean and regime and GARCH only scale them: the log price is a driftless
martingale, with no momentum and no mean reversion.

Candles: ``close[t] = close[t-1] * exp(r[t])`` from the symbol's starting level, ``open[t] =
close[t-1]`` exactly. High and low are the extremes of a Brownian bridge from open to close
with the bar's conditional variance ``v`` (exact: ``max = (x + sqrt(x^2 + 2 v E))/2`` with
``x = r`` and ``E`` standard exponential), clamped so that they never cross open or close.
Volume is in base units: the symbol's quote turnover per hour times ``k``, an intraday
(peak 15:00 UTC) and weekend seasonality, an activity term ``0.4 * cond_sd + 0.6 * |u|``
(so it rises with volatility and with the size of the move) and log-normal noise, divided by
the bar's open price.

Known symbols (BTC, ETH, SOL, BNB, XRP against a USD quote) have hand-set levels (as of early
2024), volatilities, loadings and turnover; any other symbol gets them from ``zlib.crc32`` of
its name, so they are the same on every run and machine.

Sentiment
---------
One row per symbol and hour ``H`` on the hourly grid, whatever the candle timeframe, for every
hour inside ``[end - days, end)``. ``ts = H`` is the hour the value describes and
``available_at = H + 1h`` is when it is published. The value is an unbounded standardised
score (mean 0, variance 1):

    value = signal * z_next + sqrt(1 - signal^2) * noise,   noise ~ N(0, 1), i.i.d.

where ``z_next`` is the return over the period starting at ``available_at``, divided by its
unconditional standard deviation:

- timeframe 1h: the bar opening at ``available_at`` (the one after the bar with ``ts = H``);
- timeframes below 1h: the sum of ``u`` over the bars of the hour starting at
  ``available_at``, divided by ``sqrt(bars per hour)``; the correlation with a single next bar
  is then ``signal / sqrt(bars per hour)``;
- timeframes above 1h: ``u`` of the bar opening at ``available_at`` when that is a bar
  boundary; rows published inside a bar are pure noise.

So ``corr(value, next return) = signal`` in population and a point-in-time join ("latest row
with ``available_at <= bar close``") picks the informative row exactly at the close of the bar
before the one it predicts, never earlier. The value is uncorrelated with every bar that closed
at or before ``available_at``. Below 1h a row informs all bars of the hour after it is
published, so a feature joined at a close inside that hour also correlates with the bar that
just closed: that bar opened after the row was published, so this is no leak. The noise comes
from its own random stream, so with ``signal = 0`` sentiment is independent of prices. The
extra bars needed for the rows published at ``end`` are simulated but not returned.

Random streams come from ``numpy.random.SeedSequence(seed, spawn_key=...)``, one per component
and, for per-symbol components, per symbol name: the same arguments give bitwise-identical
frames, and adding a symbol leaves the other symbols' paths unchanged.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from numbers import Integral, Real

import numpy as np
import pandas as pd
import pyarrow as pa

from cryptobot.errors import ConfigError
from cryptobot.sources.base import OHLCV_COLUMNS, SENTIMENT_COLUMNS
from cryptobot.timeframes import SUPPORTED, timeframe_seconds

__all__ = ["SimulatedMarket", "simulate_market"]

HOUR = 3600
DAY = 86400
_EPOCH = datetime(1970, 1, 1)

# GARCH(1,1) on every component, hourly parameters; see the module docstring for the scaling.
T_DF = 5.0
GARCH_ALPHA_1H = 0.05
GARCH_PERSISTENCE_1H = 0.98
GARCH_ALPHA_MAX = 0.12
# Largest log-growth the block solver lets a block reach (exp(40) is far from overflow).
_MAX_LOG_SPAN = 40.0

# Market-wide regimes: mean stay in seconds and relative volatility.
CALM_MEAN_STAY = 21 * DAY
TURBULENT_MEAN_STAY = 5 * DAY
TURBULENT_VOL_RATIO = 2.25

# Volume: intraday cosine seasonality peaking at 15:00 UTC, quieter weekends.
INTRADAY_AMPLITUDE = 0.35
INTRADAY_PEAK = 15 * HOUR
WEEKEND_FACTOR = 0.75
VOLUME_NOISE_SD = 0.35

_USD_QUOTES = frozenset({"USDT", "USDC", "USD", "BUSD", "FDUSD", "TUSD", "DAI"})

# Stream ids for SeedSequence spawn keys: one per model component.
_STREAM_MARKET, _STREAM_SECTOR, _STREAM_REGIME = 0, 1, 2
_STREAM_IDIO, _STREAM_RANGE, _STREAM_VOLUME, _STREAM_SENTIMENT = 3, 4, 5, 6


@dataclass(frozen=True)
class SimulatedMarket:
    """What :func:`simulate_market` returns.

    ``candles``: ``symbol`` + ``OHLCV_COLUMNS``, closed bars sorted by symbol, ts.
    ``sentiment``: ``SENTIMENT_COLUMNS``, hourly rows sorted by symbol, ts.
    """

    candles: pd.DataFrame
    sentiment: pd.DataFrame


@dataclass(frozen=True)
class _Profile:
    """A symbol's starting price, hourly volatility, factor loadings and quote turnover/hour."""

    level: float
    hourly_vol: float
    market_loading: float
    sector_loading: float
    turnover: float

    @property
    def idio_loading(self) -> float:
        return math.sqrt(1.0 - self.market_loading**2 - self.sector_loading**2)


_KNOWN_PROFILES = {
    "BTC": _Profile(42_000.0, 0.0065, 0.91, 0.00, 5.0e7),
    "ETH": _Profile(2_300.0, 0.0085, 0.85, 0.25, 2.5e7),
    "SOL": _Profile(100.0, 0.0130, 0.72, 0.40, 1.0e7),
    "BNB": _Profile(300.0, 0.0090, 0.70, 0.25, 3.0e6),
    "XRP": _Profile(0.6, 0.0110, 0.62, 0.30, 6.0e6),
}


def _profile(symbol: str) -> _Profile:
    base, _, quote = symbol.partition("/")
    known = _KNOWN_PROFILES.get(base.upper())
    if known is not None and quote.split(":")[0].upper() in _USD_QUOTES:
        return known

    def uniform(name: str) -> float:
        return zlib.crc32(f"{symbol}|{name}".encode()) / 2**32

    return _Profile(
        level=10 ** (-2 + 5 * uniform("level")),
        hourly_vol=0.009 + 0.011 * uniform("vol"),
        market_loading=0.50 + 0.25 * uniform("market"),
        sector_loading=0.15 + 0.25 * uniform("sector"),
        turnover=10 ** (5.5 + 1.5 * uniform("turnover")),
    )


def _rng(seed: int, stream: int, symbol: str | None = None) -> np.random.Generator:
    key = (stream,) if symbol is None else (stream, *symbol.encode())
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def _validate(
    symbols: Sequence[str], timeframe: str, days: int, seed: int, signal: float, end: datetime
) -> list[str]:
    if isinstance(symbols, str) or not isinstance(symbols, Sequence):
        raise ConfigError(
            f"symbols must be a list of symbols like ['BTC/USDT', 'ETH/USDT'], got {symbols!r}"
        )
    if not symbols:
        raise ConfigError("symbols is empty: give at least one symbol, e.g. ['BTC/USDT']")
    for symbol in symbols:
        base, _, quote = symbol.partition("/") if isinstance(symbol, str) else ("", "", "")
        if not base or not quote:
            raise ConfigError(f"symbols: {symbol!r} must look like BASE/QUOTE, e.g. BTC/USDT")
    if len(set(symbols)) != len(symbols):
        raise ConfigError(f"symbols contains duplicates: {list(symbols)!r}")
    if timeframe not in SUPPORTED:
        raise ConfigError(
            f"timeframe {timeframe!r} is not supported: use one of {', '.join(SUPPORTED)}"
        )
    if not _is_whole(days) or days <= 0:
        raise ConfigError(f"days must be a positive whole number of days, got {days!r}")
    if not _is_whole(seed) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    if not isinstance(signal, Real) or not 0.0 <= signal < 1.0:
        raise ConfigError(f"signal must be a number in [0, 1), got {signal!r}")
    if not isinstance(end, datetime):
        raise ConfigError(f"end must be a datetime (UTC), got {end!r}")
    return sorted(symbols)


def _is_whole(value: object) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def _epoch_us(moment: datetime) -> int:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return (moment - _EPOCH) // timedelta(microseconds=1)


def garch_variance(z: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """Conditional variances of GARCH(1,1) for each row of the shocks ``z`` (series x time).

    ``h[t] = omega + (alpha * z[t-1]^2 + beta) * h[t-1]`` with ``omega = 1 - alpha - beta`` and
    ``h[0] = 1``. The linear recurrence is solved in blocks: inside a block, with
    ``L[j] = sum(log a[..j])``, ``h[j] = exp(L[j]) * (h_before + omega * sum(exp(-L[..j])))``;
    the block length keeps ``|L| <= 40`` in the decaying direction, and a short loop over blocks
    carries ``h_before`` forward.
    """
    series, steps = z.shape
    omega = 1.0 - alpha - beta
    block = int(np.clip(_MAX_LOG_SPAN / -math.log(beta), 16, 4096))
    blocks = -(-steps // block)
    log_growth = np.zeros((series, blocks * block))
    log_growth[:, 0] = math.log(alpha + beta)  # h[-1] = 1, so h[0] = omega + (alpha+beta) = 1
    np.square(z[:, :-1], out=log_growth[:, 1:steps])
    log_growth[:, 1:steps] *= alpha
    log_growth[:, 1:steps] += beta
    np.log(log_growth[:, 1:steps], out=log_growth[:, 1:steps])
    cum = log_growth.reshape(series, blocks, block)
    np.cumsum(cum, axis=2, out=cum)
    acc = np.exp(-cum)
    np.cumsum(acc, axis=2, out=acc)
    acc *= omega
    before = np.empty((series, blocks))
    state = np.ones(series)
    growth, gained = np.exp(cum[:, :, -1]), acc[:, :, -1].copy()
    for index in range(blocks):
        before[:, index] = state
        state = growth[:, index] * (state + gained[:, index])
    acc += before[:, :, None]
    np.exp(cum, out=cum)
    cum *= acc
    return cum.reshape(series, -1)[:, :steps]


def _student_t(rng: np.random.Generator, size: int) -> np.ndarray:
    return rng.standard_t(T_DF, size) * math.sqrt((T_DF - 2.0) / T_DF)


def _regime_scale(rng: np.random.Generator, offsets: np.ndarray) -> np.ndarray:
    """Volatility multiplier at each offset (seconds from the first bar), with E[m^2] = 1."""
    p_turbulent = TURBULENT_MEAN_STAY / (CALM_MEAN_STAY + TURBULENT_MEAN_STAY)
    calm = 1.0 / math.sqrt(1.0 - p_turbulent + p_turbulent * TURBULENT_VOL_RATIO**2)
    first_state = int(rng.random() < p_turbulent)
    horizon = float(offsets[-1])
    batch = int(2 * horizon / (CALM_MEAN_STAY + TURBULENT_MEAN_STAY)) + 8
    stays: list[np.ndarray] = []
    covered, drawn = 0.0, 0
    while covered <= horizon:
        turbulent = (first_state + drawn + np.arange(batch)) % 2 == 1
        stay = rng.standard_exponential(batch) * np.where(
            turbulent, TURBULENT_MEAN_STAY, CALM_MEAN_STAY
        )
        stays.append(stay)
        covered += float(stay.sum())
        drawn += batch
    switches = np.cumsum(np.concatenate(stays))
    segment = np.searchsorted(switches, offsets, side="right")
    turbulent_now = (first_state + segment) % 2 == 1
    return np.where(turbulent_now, calm * TURBULENT_VOL_RATIO, calm)


def _volume_seasonality(open_s: np.ndarray, dt: int) -> np.ndarray:
    """Mean of the intraday cosine over each bar, times the weekend factor at the bar's open."""
    omega = 2 * math.pi / DAY
    phase = (open_s - INTRADAY_PEAK) % DAY
    intraday = 1.0 + INTRADAY_AMPLITUDE * (np.sin(omega * (phase + dt)) - np.sin(omega * phase)) / (
        omega * dt
    )
    weekday = (open_s // DAY + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    return intraday * np.where(weekday >= 5, WEEKEND_FACTOR, 1.0)


def simulate_market(
    symbols: Sequence[str],
    timeframe: str = "1h",
    days: int = 730,
    seed: int = 42,
    signal: float = 0.0,
    end: datetime = datetime(2026, 1, 1),
) -> SimulatedMarket:
    """Simulate closed ``timeframe`` bars covering ``[end - days, end)`` and hourly sentiment.

    ``end`` is UTC (naive, or aware and converted). Bars open on the timeframe grid counted from
    the Unix epoch. Raises ``ConfigError`` for an empty or malformed symbol list, an
    unsupported timeframe, ``days <= 0``, a negative seed or ``signal`` outside ``[0, 1)``.
    """
    names = _validate(symbols, timeframe, days, seed, signal, end)
    dt = timeframe_seconds(timeframe)
    end_us = _epoch_us(end)
    start_us = end_us - int(days) * DAY * 10**6
    # Grid indices (epoch seconds // length) of the first bar/hour starting at or after the
    # window's start, and the number of them that also end by `end`.
    first_bar = -(-start_us // (dt * 10**6))
    bars = end_us // (dt * 10**6) - first_bar
    first_hour = -(-start_us // (HOUR * 10**6))
    hours = end_us // (HOUR * 10**6) - first_hour
    first, first_hour = first_bar * dt, first_hour * HOUR  # in epoch seconds
    if bars <= 0:
        raise ConfigError(
            f"days={days} with end={end} holds no complete {timeframe} bar: increase days"
        )
    steps = bars + max(1, HOUR // dt)  # extra bars: targets of the rows published at `end`
    offsets = np.arange(steps, dtype=np.int64) * dt

    profiles = [_profile(name) for name in names]
    u, cond_sd = _innovations(names, profiles, seed, dt, offsets)

    candles = _candles(names, profiles, seed, dt, first, u[:, :bars], cond_sd[:, :bars])
    sentiment = _sentiment(names, seed, signal, dt, first, first_hour, hours, u)
    return SimulatedMarket(candles=candles, sentiment=sentiment)


def _innovations(
    names: list[str], profiles: list[_Profile], seed: int, dt: int, offsets: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Unit-variance innovations ``u`` and their conditional sd, both (symbols x steps)."""
    steps = len(offsets)
    k = dt / HOUR
    persistence = GARCH_PERSISTENCE_1H**k
    alpha = min(GARCH_ALPHA_1H * math.sqrt(k), GARCH_ALPHA_MAX)
    beta = persistence - alpha

    shocks = np.empty((2 + len(names), steps))
    shocks[0] = _student_t(_rng(seed, _STREAM_MARKET), steps)
    shocks[1] = _student_t(_rng(seed, _STREAM_SECTOR), steps)
    for row, name in enumerate(names, start=2):
        shocks[row] = _student_t(_rng(seed, _STREAM_IDIO, name), steps)
    variance = garch_variance(shocks, alpha, beta)
    shocks *= np.sqrt(variance)  # e = sqrt(h) * z
    regime = _regime_scale(_rng(seed, _STREAM_REGIME), offsets)

    u = np.empty((len(names), steps))
    cond_sd = np.empty((len(names), steps))
    for row, p in enumerate(profiles):
        b, c, d = p.market_loading, p.sector_loading, p.idio_loading
        u[row] = b * shocks[0] + c * shocks[1] + d * shocks[2 + row]
        cond_sd[row] = b * b * variance[0] + c * c * variance[1] + d * d * variance[2 + row]
    np.sqrt(cond_sd, out=cond_sd)
    u *= regime
    cond_sd *= regime
    return u, cond_sd


def _candles(
    names: list[str],
    profiles: list[_Profile],
    seed: int,
    dt: int,
    first: int,
    u: np.ndarray,
    cond_sd: np.ndarray,
) -> pd.DataFrame:
    """Candles from the innovations of the returned bars (``u``, ``cond_sd``: symbols x bars)."""
    bars = u.shape[1]
    open_s = first + np.arange(bars, dtype=np.int64) * dt
    seasonality = _volume_seasonality(open_s, dt) * (dt / HOUR)
    values = np.empty((5, len(names), bars))  # open, high, low, close, volume
    for row, (name, profile) in enumerate(zip(names, profiles, strict=True)):
        open_, high, low, close, volume = values[:, row]
        returns = u[row] * (profile.hourly_vol * math.sqrt(dt / HOUR))
        np.cumsum(returns, out=close)
        close += math.log(profile.level)
        np.exp(close, out=close)
        open_[0] = profile.level
        open_[1:] = close[:-1]

        # Brownian-bridge extremes of the log path from 0 to `returns`, above and below.
        bar_var = np.square(cond_sd[row] * (profile.hourly_vol * math.sqrt(dt / HOUR)))
        squared = np.square(returns)
        range_rng = _rng(seed, _STREAM_RANGE, name)
        up = np.sqrt(squared + 2.0 * bar_var * range_rng.standard_exponential(bars))
        down = np.sqrt(squared + 2.0 * bar_var * range_rng.standard_exponential(bars))
        np.exp(0.5 * (returns + up), out=high)
        np.exp(0.5 * (returns - down), out=low)
        high *= open_
        low *= open_
        np.maximum(high, np.maximum(open_, close), out=high)
        np.minimum(low, np.minimum(open_, close), out=low)

        noise = _rng(seed, _STREAM_VOLUME, name).standard_normal(bars)
        activity = 0.4 * cond_sd[row] + 0.6 * np.abs(u[row])
        np.exp(VOLUME_NOISE_SD * noise - 0.5 * VOLUME_NOISE_SD**2, out=volume)
        volume *= profile.turnover * seasonality * activity / open_

    frame = pd.DataFrame(values.reshape(5, -1).T, columns=OHLCV_COLUMNS[1:], copy=False)
    frame.insert(0, "ts", np.tile((open_s * 1000).astype("datetime64[ms]"), len(names)))
    frame.insert(0, "symbol", _symbol_column(names, bars))
    return frame


def _symbol_column(names: list[str], repeats: int) -> pd.arrays.ArrowStringArray:
    """``names`` each repeated ``repeats`` times, as pandas' str dtype (pyarrow, no Python str)."""
    chunks = [pa.repeat(pa.scalar(name, pa.large_string()), repeats) for name in names]
    return pd.array(pa.chunked_array(chunks, pa.large_string()), dtype="str")


def _sentiment(
    names: list[str],
    seed: int,
    signal: float,
    dt: int,
    first: int,
    first_hour: int,
    hours: int,
    u: np.ndarray,
) -> pd.DataFrame:
    """Hourly sentiment rows from the innovations ``u`` of all simulated bars (see above)."""
    ts_s = first_hour + np.arange(hours, dtype=np.int64) * HOUR
    published = ts_s + HOUR
    lead = np.zeros((len(names), hours))
    informative = np.ones(hours, dtype=bool)
    if dt <= HOUR:
        per_hour = HOUR // dt
        start = (published - first) // dt
        running = np.zeros((len(names), u.shape[1] + 1))
        np.cumsum(u, axis=1, out=running[:, 1:])
        lead[:] = (running[:, start + per_hour] - running[:, start]) / math.sqrt(per_hour)
    else:
        since_first = published - first
        informative = (since_first >= 0) & (since_first % dt == 0)
        lead[:, informative] = u[:, since_first[informative] // dt]

    noise = np.empty((len(names), hours))
    for row, name in enumerate(names):
        noise[row] = _rng(seed, _STREAM_SENTIMENT, name).standard_normal(hours)
    weight = np.where(informative, math.sqrt(1.0 - signal**2), 1.0)
    value = signal * lead + weight * noise

    columns = {
        "symbol": _symbol_column(names, hours),
        "ts": np.tile((ts_s * 1000).astype("datetime64[ms]"), len(names)),
        "value": value.ravel(),
        "available_at": np.tile((published * 1000).astype("datetime64[ms]"), len(names)),
    }
    return pd.DataFrame({name: columns[name] for name in SENTIMENT_COLUMNS})
