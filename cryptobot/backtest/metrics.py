"""After-cost performance metrics of a backtest: round trips, the equity curve's ratios, PSR/DSR.

Pure functions of what a backtest produces, no I/O:

* an equity curve ``equity`` (the account marked at each decision time, oldest first) and the
  starting ``capital`` (the equity before the first mark), optionally ``gross_exposure`` (the sum
  of |position notional| at each mark) and ``ts`` (the time of each mark);
* fills: a DataFrame with columns ``symbol, ts, side ('buy'|'sell'), amount (> 0, base), price,
  fee, spread_cost, slippage_cost`` in execution order. ``price`` is the price actually paid, so
  spread and slippage are already inside it; ``fee`` is charged on top, in quote currency.

The per-bar return is ``r_t = equity_t / equity_{t-1} - 1`` with ``equity_{-1} = capital``: one
return per mark, the first one measured from the starting capital. Crypto trades 24/7, so
``periods_per_year`` is 8760 for 1h bars (no trading-day calendar).

The Probabilistic and Deflated Sharpe Ratios follow Bailey & López de Prado, "The Sharpe Ratio
Efficient Frontier" (2012) and "The Deflated Sharpe Ratio" (2014); they work on PER-BAR
(non-annualised) Sharpe ratios throughout.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "EULER_MASCHERONI",
    "FILL_COLUMNS",
    "ROUND_TRIP_COLUMNS",
    "DeflatedSharpe",
    "deflated_sharpe_ratio",
    "expected_max_sharpe",
    "performance",
    "probabilistic_sharpe_ratio",
    "probabilistic_sharpe_ratio_from_moments",
    "round_trips",
]

EULER_MASCHERONI = 0.5772156649015329
FILL_COLUMNS = ("symbol", "ts", "side", "amount", "price", "fee", "spread_cost", "slippage_cost")
ROUND_TRIP_COLUMNS = (
    "symbol",
    "side",
    "entry_ts",
    "exit_ts",
    "entry_price",
    "exit_price",
    "amount",
    "pnl",
    "return",
    "fees",
    "duration",
    "open",
)
_TRIP_FILL_COLUMNS = ("symbol", "ts", "side", "amount", "price", "fee")
_ZERO = 1e-9  # a position within this fraction of the amounts involved counts as flat


# --- input checks -----------------------------------------------------------------------------


def finite_vector(name: str, value, *, allow_empty: bool = False) -> np.ndarray:
    """``value`` as a 1-D float array without NaN or infinities; ``ValueError`` naming ``name``."""
    if isinstance(value, pd.Series | pd.Index):
        value = value.to_numpy()
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric, one number per element: {exc}") from None
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.size == 0 and not allow_empty:
        raise ValueError(f"{name} is empty: at least one value is needed")
    bad = ~np.isfinite(array)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name} has {int(bad.sum())} NaN or infinite values (of {array.size}, the first at "
            f"position {first}); fill or drop them first"
        )
    return array


def _positive_number(name: str, value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not (math.isfinite(number) and number > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return number


def _times(name: str, value, size: int) -> pd.DatetimeIndex:
    try:
        times = pd.DatetimeIndex(pd.to_datetime(np.asarray(value)))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must hold datetimes, one per mark: {exc}") from None
    if len(times) != size:
        raise ValueError(f"{name} has {len(times)} values but equity has {size}: one time per mark")
    if times.hasnans:
        raise ValueError(f"{name} has missing times (NaT); every mark needs its time")
    if not times.is_monotonic_increasing:
        raise ValueError(f"{name} must be in increasing order (oldest first), like equity")
    return times


def _check_fills(fills, columns: Sequence[str]) -> pd.DataFrame:
    """The fills frame after checks; ``None`` or a frame without rows means no fills."""
    if fills is not None and not isinstance(fills, pd.DataFrame):
        raise ValueError(f"fills must be a pandas DataFrame, got {type(fills).__name__}")
    if fills is None or len(fills) == 0:
        return pd.DataFrame({column: [] for column in columns})
    missing = [column for column in columns if column not in fills.columns]
    if missing:
        raise ValueError(
            f"fills lacks the column(s) {', '.join(missing)}; it needs {', '.join(columns)}"
        )
    for column in ("amount", "price", "fee", "spread_cost", "slippage_cost"):
        if column in columns:
            values = finite_vector(f"fills[{column!r}]", fills[column], allow_empty=True)
            if column in ("amount", "price") and (values <= 0).any():
                first = int(np.flatnonzero(values <= 0)[0])
                raise ValueError(
                    f"fills[{column!r}] must be > 0 in every row; row {first} has {values[first]!r}"
                )
    sides = fills["side"].astype(str)
    wrong = ~sides.isin(["buy", "sell"])
    if wrong.any():
        first = sides[wrong].iloc[0]
        raise ValueError(
            f"fills['side'] must be 'buy' or 'sell'; {int(wrong.sum())} row(s) are not, e.g. "
            f"{first!r}"
        )
    if fills["symbol"].isna().any():
        raise ValueError("fills['symbol'] has missing values; every fill needs its symbol")
    return fills


# --- round trips ------------------------------------------------------------------------------


@dataclass
class _Trip:
    """A round trip being built (private and mutable while the fills are walked)."""

    symbol: str
    side: str  # long | short
    entry_ts: pd.Timestamp
    entry_qty: float = 0.0
    entry_notional: float = 0.0
    exit_qty: float = 0.0
    exit_notional: float = 0.0
    fees: float = 0.0
    amount: float = 0.0  # max |position|

    def row(self, exit_ts, *, is_open: bool) -> dict:
        sign = 1.0 if self.side == "long" else -1.0
        pnl = sign * (self.exit_notional - self.entry_notional) - self.fees
        return {
            "symbol": self.symbol,
            "side": self.side,
            "entry_ts": self.entry_ts,
            "exit_ts": exit_ts,
            "entry_price": self.entry_notional / self.entry_qty,
            "exit_price": self.exit_notional / self.exit_qty,
            "amount": self.amount,
            "pnl": pnl,
            "return": pnl / self.entry_notional,
            "fees": self.fees,
            "duration": pd.NaT if is_open else exit_ts - self.entry_ts,
            "open": is_open,
        }


def _walk(fills: pd.DataFrame, final_marks: Mapping[str, float] | None) -> tuple[list[dict], int]:
    """Round-trip rows (in the order they opened) and the number of open trips left unmarked."""
    marks = dict(final_marks or {})
    for symbol, mark in marks.items():
        _positive_number(f"final_marks[{symbol!r}]", mark)
    rows: list[tuple[int, dict]] = []  # (opening fill's position, row)
    unmarked = 0
    frame = pd.DataFrame(
        {
            "symbol": fills["symbol"].to_numpy(),
            "side": fills["side"].astype(str).to_numpy(),
            "amount": fills["amount"].to_numpy(dtype=float),
            "price": fills["price"].to_numpy(dtype=float),
            "fee": fills["fee"].to_numpy(dtype=float),
            "order": np.arange(len(fills)),
        }
    )
    try:
        frame["ts"] = pd.to_datetime(fills["ts"]).reset_index(drop=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"fills['ts'] must hold datetimes, one per fill: {exc}") from None
    for symbol, group in frame.groupby("symbol", sort=False):
        position = 0.0
        trip: _Trip | None = None
        opened_at = -1
        for ts, side, amount, price, fee, order in zip(
            group["ts"],
            group["side"],
            group["amount"],
            group["price"],
            group["fee"],
            group["order"],
            strict=True,
        ):
            sign = 1.0 if side == "buy" else -1.0
            if trip is not None and sign * position < 0:  # reduces (maybe closes or flips) the trip
                closing = min(amount, abs(position))
                rest = amount - closing
                if rest <= _ZERO * amount:  # closes to float noise: all of this fill closes
                    closing, rest = amount, 0.0
                trip.exit_qty += closing
                trip.exit_notional += closing * price
                trip.fees += fee * closing / amount
                position += sign * closing
                if abs(position) <= _ZERO * max(trip.amount, amount):
                    rows.append((opened_at, trip.row(ts, is_open=False)))
                    trip, position = None, 0.0
                if rest == 0.0:
                    continue
                fee, amount = fee * rest / amount, rest  # a flip: the rest opens a new trip
            if trip is None:
                trip = _Trip(symbol=symbol, side="long" if sign > 0 else "short", entry_ts=ts)
                opened_at = int(order)
            trip.entry_qty += amount
            trip.entry_notional += amount * price
            trip.fees += fee
            position += sign * amount
            trip.amount = max(trip.amount, abs(position))
        if trip is not None:
            if symbol in marks:
                trip.exit_qty += abs(position)
                trip.exit_notional += abs(position) * float(marks[symbol])
                rows.append((opened_at, trip.row(pd.NaT, is_open=True)))
            else:
                unmarked += 1
    rows.sort(key=lambda item: item[0])
    return [row for _, row in rows], unmarked


def round_trips(
    fills: pd.DataFrame, final_marks: Mapping[str, float] | None = None
) -> pd.DataFrame:
    """The round trips in ``fills``, one row each, in the order they opened.

    Per symbol, a round trip opens when the signed position (base amount, shorts negative)
    leaves 0 and closes when it returns to 0; fills in between add to it or partly exit it. A
    fill that crosses zero (a flip) closes the old trip with the part of its amount that brings
    the position to 0 and opens a new trip with the rest; its fee is split between them pro rata
    by amount. A trip still open after the last fill is valued at ``final_marks[symbol]`` with no
    exit fee and flagged ``open=True``; without a mark for its symbol it is left out.

    Columns:

    * ``symbol``, ``side`` (``long`` | ``short``), ``entry_ts`` (the opening fill's ``ts``),
      ``exit_ts`` (the closing fill's; NaT while open).
    * ``entry_price``: volume-weighted price of the fills that opened or added to the trip.
    * ``exit_price``: volume-weighted price of the fills that reduced it (and, for an open trip,
      the final mark for what is still held).
    * ``amount``: the largest absolute position the trip reached, in base.
    * ``pnl``: price P&L minus all fees of the trip, in quote: ``exit notional - entry notional``
      for a long, the opposite for a short, ``- fees``. Spread and slippage are already in the
      fill prices.
    * ``return``: ``pnl / entry notional`` (entry notional = sum of amount * price of the opening
      and adding fills).
    * ``fees``: the trip's share of the fills' fees.
    * ``duration``: ``exit_ts - entry_ts`` (NaT while open).
    * ``open``: True for a trip valued at its final mark.
    """
    fills = _check_fills(fills, _TRIP_FILL_COLUMNS)
    rows, _ = _walk(fills, final_marks)
    if not rows:
        return pd.DataFrame({column: [] for column in ROUND_TRIP_COLUMNS})
    return pd.DataFrame(rows, columns=list(ROUND_TRIP_COLUMNS))


# --- the equity curve -------------------------------------------------------------------------


def _longest_underwater(path: np.ndarray, clock: np.ndarray) -> float:
    """Longest stretch, on ``clock``, from a peak of ``path`` until it is back at or above it.

    A stretch still under water at the end of ``path`` runs until its last point.
    """
    peaks = np.maximum.accumulate(path)
    under = path < peaks
    if not under.any():
        return 0.0
    index = np.arange(path.size)
    peak_at = np.maximum.accumulate(np.where(under, 0, index))  # the last point at its peak
    # the last underwater point of a stretch ends at the next point (the recovery) or, at the
    # very end, at itself; earlier points of the stretch give shorter spans, so the max is right
    ends = np.minimum(index + 1, path.size - 1)
    return float(np.max((clock[ends] - clock[peak_at])[under]))


def performance(
    equity,
    capital: float,
    fills: pd.DataFrame | None,
    *,
    periods_per_year: float,
    gross_exposure=None,
    ts=None,
    final_marks: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """After-cost metrics of one backtest.

    Notation: ``n = len(equity)``, ``E_t`` the equity at mark ``t`` (``t = 0 .. n-1``),
    ``E_{-1} = capital``, ``r_t = E_t / E_{t-1} - 1`` (n bar returns), ``P = periods_per_year``,
    ``mean`` and ``std`` over the n bar returns (``std`` with ddof=1), NaN where undefined.
    Round-trip statistics use :func:`round_trips` (``final_marks`` values the trips still open).

    Keys:

    * ``total_return`` = ``E_{n-1} / capital - 1``.
    * ``annualized_return`` (CAGR) = ``(E_{n-1} / capital) ** (P / n) - 1``.
    * ``volatility`` = ``std(r) * sqrt(P)``.
    * ``sharpe`` = ``mean(r) / std(r) * sqrt(P)``; risk-free rate 0; NaN when ``std`` is 0 (or
      n < 2).
    * ``sortino`` = ``mean(r) / DD * sqrt(P)`` with the downside deviation
      ``DD = sqrt(mean(min(r_t, 0) ** 2))`` averaged over ALL n bars; NaN when ``DD`` is 0.
    * ``calmar`` = ``annualized_return / max_drawdown``; NaN when ``max_drawdown`` is 0.
    * ``max_drawdown`` = ``max_t (1 - E_t / max_{s<=t} E_s)`` over ``capital, E_0 .. E_{n-1}``
      (the starting capital is the first peak), a positive fraction.
    * ``max_drawdown_bars``: the longest stretch, in marks, from a peak (the capital counts as
      one) until equity is back at or above that peak, or until the last mark if it never is.
    * ``max_drawdown_duration_hours``: the same stretch measured in hours of ``ts`` (the capital
      is stamped one bar, the median spacing of ``ts``, before the first mark; the longest in
      hours may be another stretch than the longest in marks when ``ts`` has gaps); NaN without
      ``ts``.
    * ``trades``: closed round trips; ``open_trades``: trips still open after the last fill
      (marked or not).
    * ``win_rate`` = closed trips with ``pnl > 0`` / closed trips; NaN with none.
    * ``profit_factor`` = ``sum(pnl of winners) / |sum(pnl of losers)|`` over closed trips; inf
      with wins and no losses; NaN with no closed trips or only zero-P&L ones.
    * ``avg_trade_return`` = mean of the closed trips' ``return``; NaN with none.
    * ``exposure`` = share of marks with ``gross_exposure > 0``; NaN without ``gross_exposure``.
    * ``avg_gross_leverage`` = ``mean(gross_exposure_t / E_t)``; NaN without ``gross_exposure``.
    * ``turnover`` = ``sum(amount * price)`` over all fills / ``mean(E)``.
    * ``turnover_per_year`` = ``turnover * P / n``.
    * ``fills``: the number of fills; ``fees``, ``spread_cost``, ``slippage_cost``: their sums
      over all fills (quote); ``costs`` = ``fees + spread_cost + slippage_cost``;
      ``costs_share`` = ``costs / capital``.

    Raises ``ValueError`` naming the argument for an empty or non-finite ``equity``, equity at or
    below 0, a non-positive ``capital`` or ``periods_per_year``, ``gross_exposure`` or ``ts`` of
    another length than ``equity``, and malformed fills.
    """
    values = finite_vector("equity", equity)
    capital = _positive_number("capital", capital)
    periods = _positive_number("periods_per_year", periods_per_year)
    if (values <= 0).any():
        first = int(np.flatnonzero(values <= 0)[0])
        raise ValueError(
            f"equity must stay > 0 to define returns; mark {first} has {values[first]!r} (the "
            f"account was wiped out: report that run as a total loss instead of computing ratios)"
        )
    n = values.size
    exposure_values = None
    if gross_exposure is not None:
        exposure_values = finite_vector("gross_exposure", gross_exposure)
        if exposure_values.size != n:
            raise ValueError(
                f"gross_exposure has {exposure_values.size} values but equity has {n}: one per mark"
            )
        if (exposure_values < 0).any():
            raise ValueError("gross_exposure must be >= 0 (a sum of absolute notionals)")
    times = _times("ts", ts, n) if ts is not None else None
    fills = _check_fills(fills, FILL_COLUMNS)

    # --- returns and ratios
    path = np.concatenate([[capital], values])
    returns = path[1:] / path[:-1] - 1.0
    mean = float(returns.mean())
    std = float(returns.std(ddof=1)) if n > 1 else math.nan
    root = math.sqrt(periods)
    sharpe = mean / std * root if std > 0 else math.nan
    downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
    sortino = mean / downside * root if downside > 0 else math.nan
    growth = float(values[-1] / capital)
    with np.errstate(over="ignore"):  # a short, steep curve annualises to inf, not an error
        annualized = float(np.float64(growth) ** (periods / n) - 1.0)
    max_drawdown = float(np.max(1.0 - path / np.maximum.accumulate(path)))
    calmar = annualized / max_drawdown if max_drawdown > 0 else math.nan
    drawdown_bars = int(_longest_underwater(path, np.arange(n + 1, dtype=float)))
    drawdown_hours = math.nan
    if times is not None:
        hours = np.asarray((times - times[0]) / pd.Timedelta(hours=1), dtype=float)
        bar = float(np.median(np.diff(hours))) if n > 1 else 0.0
        drawdown_hours = _longest_underwater(path, np.concatenate([[-bar], hours]))

    # --- round trips
    rows, unmarked = _walk(fills, final_marks)
    closed = [row for row in rows if not row["open"]]
    pnl = np.array([row["pnl"] for row in closed], dtype=float)
    wins, losses = float(pnl[pnl > 0].sum()), float(-pnl[pnl < 0].sum())
    if pnl.size == 0 or (wins == 0 and losses == 0):
        profit_factor = math.nan
    elif losses == 0:
        profit_factor = math.inf
    else:
        profit_factor = wins / losses

    # --- exposure, turnover, costs
    if exposure_values is not None:
        exposure = float(np.mean(exposure_values > 0))
        leverage = float(np.mean(exposure_values / values))
    else:
        exposure = leverage = math.nan
    amounts = fills["amount"].to_numpy(dtype=float)
    notional = float(np.sum(amounts * fills["price"].to_numpy(dtype=float)))
    turnover = notional / float(values.mean())
    fees = float(fills["fee"].to_numpy(dtype=float).sum())
    spread_cost = float(fills["spread_cost"].to_numpy(dtype=float).sum())
    slippage_cost = float(fills["slippage_cost"].to_numpy(dtype=float).sum())
    costs = fees + spread_cost + slippage_cost
    return {
        "total_return": float(growth - 1.0),
        "annualized_return": float(annualized),
        "volatility": std * root,
        "sharpe": sharpe,
        "sortino": sortino,
        "calmar": calmar,
        "max_drawdown": max_drawdown,
        "max_drawdown_bars": drawdown_bars,
        "max_drawdown_duration_hours": drawdown_hours,
        "trades": len(closed),
        "open_trades": len(rows) - len(closed) + unmarked,
        "win_rate": float(np.mean(pnl > 0)) if pnl.size else math.nan,
        "profit_factor": profit_factor,
        "avg_trade_return": (
            float(np.mean([row["return"] for row in closed])) if closed else math.nan
        ),
        "exposure": exposure,
        "avg_gross_leverage": leverage,
        "turnover": turnover,
        "turnover_per_year": turnover * periods / n,
        "fills": len(fills),
        "fees": fees,
        "spread_cost": spread_cost,
        "slippage_cost": slippage_cost,
        "costs": costs,
        "costs_share": costs / capital,
    }


# --- Probabilistic and Deflated Sharpe Ratio --------------------------------------------------


def _sharpe_moments(returns) -> tuple[float, float, float, int]:
    """Per-bar Sharpe (mean / std, ddof=1), skewness, kurtosis (non-excess) and T of ``returns``.

    Skewness and kurtosis are the sample moments (``scipy.stats.skew`` and
    ``scipy.stats.kurtosis(fisher=False)``, biased, as in the papers' formulas). All three are
    NaN when the returns do not vary.
    """
    values = finite_vector("returns", returns)
    if values.size < 2:
        raise ValueError(
            f"returns needs at least 2 observations for a Sharpe ratio, got {values.size}"
        )
    std = float(values.std(ddof=1))
    if not std > 0:
        return math.nan, math.nan, math.nan, values.size
    sharpe = float(values.mean()) / std
    skew = float(stats.skew(values, bias=True))
    kurtosis = float(stats.kurtosis(values, fisher=False, bias=True))
    return sharpe, skew, kurtosis, values.size


def _sharpe_variance_term(sharpe: float, skew: float, kurtosis: float) -> float:
    """``1 - γ3·SR + (γ4 - 1)/4·SR²``: (T - 1) times the sampling variance of a Sharpe estimate."""
    return 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2


def probabilistic_sharpe_ratio_from_moments(
    sharpe: float,
    observations: int,
    *,
    skew: float,
    kurtosis: float,
    sr_benchmark: float = 0.0,
) -> float:
    """PSR from the moments: ``Φ((SR - SR*)·sqrt(T - 1) / sqrt(1 - γ3·SR + (γ4 - 1)/4·SR²))``.

    ``sharpe`` (SR) and ``sr_benchmark`` (SR*) are per-bar (non-annualised) Sharpe ratios,
    ``observations`` is T, ``skew`` γ3 and ``kurtosis`` γ4 (non-excess: 3 for a normal). NaN when
    any of them is NaN or the variance term is not positive (degenerate moments).
    """
    if isinstance(observations, bool) or not float(observations).is_integer():
        raise ValueError(f"observations must be a whole number, got {observations!r}")
    if observations < 2:
        raise ValueError(f"observations must be >= 2 for a Sharpe ratio, got {observations}")
    if any(math.isnan(x) for x in (sharpe, skew, kurtosis, sr_benchmark)):
        return math.nan
    term = _sharpe_variance_term(sharpe, skew, kurtosis)
    if not term > 0:
        return math.nan
    z = (sharpe - sr_benchmark) * math.sqrt(observations - 1) / math.sqrt(term)
    return float(stats.norm.cdf(z))


def probabilistic_sharpe_ratio(returns, sr_benchmark: float = 0.0) -> float:
    """Probability that the true per-bar Sharpe ratio of ``returns`` exceeds ``sr_benchmark``.

    ``Φ((SR^ - SR*)·sqrt(T - 1) / sqrt(1 - γ3·SR^ + (γ4 - 1)/4·SR^²))`` (Bailey & López de
    Prado 2012, eq. for PSR), with ``SR^ = mean / std (ddof=1)`` of the T returns, γ3 their
    skewness and γ4 their (non-excess) kurtosis; ``sr_benchmark`` (SR*) is per bar too, not
    annualised. NaN when the returns do not vary.
    """
    sharpe, skew, kurtosis, observations = _sharpe_moments(returns)
    return probabilistic_sharpe_ratio_from_moments(
        sharpe, observations, skew=skew, kurtosis=kurtosis, sr_benchmark=float(sr_benchmark)
    )


def expected_max_sharpe(n_trials: float, variance: float) -> float:
    """Expected maximum of ``n_trials`` Sharpe estimates whose true Sharpe is 0 (Bailey & LdP 2014).

    ``sqrt(V)·((1 - γ)·Φ⁻¹(1 - 1/N) + γ·Φ⁻¹(1 - 1/(N·e)))``, γ the Euler–Mascheroni constant,
    ``V`` the variance of the trials' Sharpe ratios; 0 for N = 1 (nothing was selected).
    """
    try:
        trials, var = float(n_trials), float(variance)
    except (TypeError, ValueError):
        raise ValueError(
            f"n_trials and variance must be numbers, got {n_trials!r}, {variance!r}"
        ) from None
    if not (math.isfinite(trials) and trials >= 1):
        raise ValueError(f"n_trials must be >= 1, got {n_trials!r}")
    if not (math.isfinite(var) and var >= 0):
        raise ValueError(f"variance must be a finite number >= 0, got {variance!r}")
    if trials == 1:
        return 0.0
    g = EULER_MASCHERONI
    z = (1 - g) * stats.norm.ppf(1 - 1 / trials) + g * stats.norm.ppf(1 - 1 / (trials * math.e))
    return float(math.sqrt(var) * z)


@dataclass(frozen=True)
class DeflatedSharpe:
    """The Deflated Sharpe Ratio of a candidate and what went into it (all Sharpes per bar)."""

    dsr: float  # PSR(sr0): probability the true Sharpe beats the best of n_trials lucky ones
    sharpe: float  # the candidate's per-bar Sharpe, mean / std (ddof=1)
    sr0: float  # expected maximum Sharpe of n_trials skill-less trials
    n_trials: int
    variance: float  # V used for sr0 (see deflated_sharpe_ratio)
    skew: float
    kurtosis: float  # non-excess
    observations: int  # T


def deflated_sharpe_ratio(returns, trial_sharpes: Sequence[float]) -> DeflatedSharpe:
    """Deflated Sharpe Ratio of the candidate ``returns`` selected among ``trial_sharpes``.

    ``trial_sharpes`` are the per-bar (non-annualised) Sharpe ratios of every configuration that
    was tried, the candidate's own included, so ``N = len(trial_sharpes)``. Then
    ``SR0 = expected_max_sharpe(N, V)`` and ``dsr = PSR(SR0)``
    (:func:`probabilistic_sharpe_ratio` with ``sr_benchmark = SR0``), where

        V = max(var(trial_sharpes, ddof=1)   [only when N >= 2],
                (1 - γ3·SR^ + (γ4 - 1)/4·SR^²) / (T - 1))

    The first term is the paper's V, the dispersion of the trials' Sharpe ratios. The second is
    the sampling variance of a single Sharpe estimate over T bars (the PSR denominator squared):
    even trials without any skill scatter at least that much by chance. A handful of near
    identical trials (a small parameter sweep) has a sample variance far below it, which would
    make SR0 — the bar the candidate has to clear — lower than chance alone puts it, and the DSR
    optimistic; taking the larger of the two never lets too few or too similar trials lower the
    bar. With one trial, SR0 = 0 and the DSR is the PSR against 0.

    NaN ``dsr`` (and Sharpe, moments) when the returns do not vary.
    """
    sharpe, skew, kurtosis, observations = _sharpe_moments(returns)
    trials = finite_vector("trial_sharpes", trial_sharpes)
    n_trials = trials.size
    if math.isnan(sharpe):
        return DeflatedSharpe(
            math.nan, math.nan, math.nan, n_trials, math.nan, math.nan, math.nan, observations
        )
    sampling = _sharpe_variance_term(sharpe, skew, kurtosis) / (observations - 1)
    dispersion = float(trials.var(ddof=1)) if n_trials >= 2 else 0.0
    variance = max(dispersion, sampling)
    sr0 = expected_max_sharpe(n_trials, variance)
    dsr = probabilistic_sharpe_ratio_from_moments(
        sharpe, observations, skew=skew, kurtosis=kurtosis, sr_benchmark=sr0
    )
    return DeflatedSharpe(
        dsr=dsr,
        sharpe=sharpe,
        sr0=sr0,
        n_trials=n_trials,
        variance=variance,
        skew=skew,
        kurtosis=kurtosis,
        observations=observations,
    )
