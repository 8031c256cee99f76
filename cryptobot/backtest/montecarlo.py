"""Monte Carlo robustness of a backtest result: trade-order reshuffling and a block bootstrap.

Two ways of asking "how much of this result is the particular path history happened to take":

* **Trade-order reshuffling.** The closed round trips' returns, in random order, compounded into
  an equity path starting at 1. The final return (a product) and the per-trade Sharpe (a mean
  and a std) do not depend on the order, so they are the same on every path; the drawdown does,
  and its distribution is what this method shows.
* **Stationary block bootstrap** (Politis & Romano 1994) of the portfolio's per-bar returns:
  blocks start at uniformly random positions, their lengths are geometric with mean ``block``,
  and a block running past the end wraps around to the start. Each path has the original
  length. It keeps short-range dependence (volatility clusters) within blocks and shows the
  spread of final return, drawdown and Sharpe that the same kind of market could have given.

Everything is vectorised with numpy: no Python loop over bars or paths, only over chunks of
paths that bound the memory (about 2 million elements per array).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from cryptobot.backtest.metrics import finite_vector

__all__ = [
    "METHODS",
    "METRICS",
    "PERCENTILES",
    "MethodPaths",
    "MonteCarloResult",
    "figure",
    "monte_carlo",
    "stationary_bootstrap_indices",
]

METHODS = ("trade_permutation", "stationary_bootstrap")
METRICS = ("final_return", "max_drawdown", "sharpe")
PERCENTILES = (5, 25, 50, 75, 95)
BLUE = "#1f5fae"
_CHUNK_ELEMENTS = 1 << 21  # elements per (paths x length) array in one chunk
_LABELS = {
    "trade_permutation": "trade order reshuffled",
    "stationary_bootstrap": "stationary block bootstrap",
    "final_return": "final return",
    "max_drawdown": "max drawdown",
    "sharpe": "Sharpe",
}


@dataclass(frozen=True, eq=False)
class MethodPaths:
    """One method's per-path metrics (arrays of length ``paths``) and the unresampled values.

    ``sharpe`` is per trade (mean / std, ddof=1, not annualised) for ``trade_permutation`` and
    annualised per bar for ``stationary_bootstrap``. ``example`` holds the resampled returns of
    the first path, for drawing one. ``prob_breach`` is the share of paths whose max drawdown is
    at least the limit (NaN without a limit).
    """

    method: str
    final_return: np.ndarray
    max_drawdown: np.ndarray
    sharpe: np.ndarray
    original: Mapping[str, float]
    example: np.ndarray
    prob_breach: float

    def values(self, metric: str) -> np.ndarray:
        return {
            "final_return": self.final_return,
            "max_drawdown": self.max_drawdown,
            "sharpe": self.sharpe,
        }[metric]


@dataclass(frozen=True, eq=False)
class MonteCarloResult:
    """Both methods' paths; ``permutation`` is None when no trade returns were given."""

    permutation: MethodPaths | None
    bootstrap: MethodPaths
    paths: int
    block: float  # mean block length used by the bootstrap
    seed: int
    max_drawdown_limit: float | None
    periods_per_year: float

    def methods(self) -> list[MethodPaths]:
        return [m for m in (self.permutation, self.bootstrap) if m is not None]

    def summary(self) -> list[dict]:
        """One row per (method, metric): the original value, percentiles, mean and prob_breach.

        Keys: ``method, metric, original, p5, p25, p50, p75, p95, mean, prob_breach``;
        ``prob_breach`` is filled on the ``max_drawdown`` rows (NaN elsewhere and without a
        limit). Percentiles and mean skip NaN paths (a Sharpe of a path without variance).
        """
        rows = []
        for method in self.methods():
            for metric in METRICS:
                values = method.values(metric)
                finite = values[np.isfinite(values)]
                if finite.size:
                    quantiles = np.percentile(finite, PERCENTILES)
                    mean = float(finite.mean())
                else:
                    quantiles, mean = [math.nan] * len(PERCENTILES), math.nan
                row = {
                    "method": method.method,
                    "metric": metric,
                    "original": method.original[metric],
                }
                row.update({f"p{p}": float(q) for p, q in zip(PERCENTILES, quantiles, strict=True)})
                row["mean"] = mean
                row["prob_breach"] = method.prob_breach if metric == "max_drawdown" else math.nan
                rows.append(row)
        return rows


# --- input checks -----------------------------------------------------------------------------


def _returns(name: str, value) -> np.ndarray:
    array = finite_vector(name, value)
    if (array <= -1).any():
        first = int(np.flatnonzero(array <= -1)[0])
        raise ValueError(
            f"{name} must be > -1 (a loss of 100% or more leaves no equity to compound); "
            f"position {first} has {array[first]!r}"
        )
    return array


def _whole(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


# --- the resampling ---------------------------------------------------------------------------


def stationary_bootstrap_indices(
    n: int, paths: int, block: float, rng: np.random.Generator
) -> np.ndarray:
    """``(paths, n)`` indices into a series of length ``n``: the stationary bootstrap.

    Each step starts a new block with probability ``1 / block`` (so block lengths are geometric
    with mean ``block``; the first step of a path always starts one) at a uniformly random
    position; otherwise it takes the next index, wrapping from ``n - 1`` to 0.
    """
    new = rng.random((paths, n)) < 1.0 / block
    new[:, 0] = True
    flat = new.ravel()
    starts = rng.integers(0, n, size=int(flat.sum()))
    position = np.arange(flat.size)
    block_start = np.maximum.accumulate(np.where(flat, position, 0))
    index = (starts[np.cumsum(flat) - 1] + (position - block_start)) % n
    return index.reshape(paths, n)


def _metrics(returns: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Final return, max drawdown and Sharpe (times ``scale``) of each row, compounded from 1."""
    growth = np.cumprod(1.0 + returns, axis=1)
    peaks = np.maximum(np.maximum.accumulate(growth, axis=1), 1.0)  # 1 is the first peak
    max_drawdown = np.max(1.0 - growth / peaks, axis=1)
    final = growth[:, -1] - 1.0
    if returns.shape[1] < 2:
        return final, max_drawdown, np.full(returns.shape[0], math.nan)
    std = returns.std(axis=1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        sharpe = np.where(std > 0, returns.mean(axis=1) / std * scale, math.nan)
    return final, max_drawdown, sharpe


def _run(
    method: str,
    returns: np.ndarray,
    paths: int,
    draw,  # (rows) -> (rows, len(returns)) resampled returns
    scale: float,
    limit: float | None,
) -> MethodPaths:
    chunk = max(1, _CHUNK_ELEMENTS // returns.size)
    finals, drawdowns, sharpes = [], [], []
    example = None
    for begin in range(0, paths, chunk):
        sample = draw(min(chunk, paths - begin))
        if example is None:
            example = sample[0].copy()
        final, drawdown, sharpe = _metrics(sample, scale)
        finals.append(final)
        drawdowns.append(drawdown)
        sharpes.append(sharpe)
    original = _metrics(returns[np.newaxis, :], scale)
    max_drawdown = np.concatenate(drawdowns)
    return MethodPaths(
        method=method,
        final_return=np.concatenate(finals),
        max_drawdown=max_drawdown,
        sharpe=np.concatenate(sharpes),
        original=dict(zip(METRICS, (float(v[0]) for v in original), strict=True)),
        example=example,
        prob_breach=float(np.mean(max_drawdown >= limit)) if limit is not None else math.nan,
    )


def monte_carlo(
    bar_returns: Sequence[float] | np.ndarray,
    trade_returns: Sequence[float] | np.ndarray | None,
    *,
    paths: int = 1000,
    block: float | None = None,
    seed: int = 0,
    max_drawdown_limit: float | None = None,
    periods_per_year: float,
) -> MonteCarloResult:
    """Resample a backtest ``paths`` times both ways (see the module docstring).

    * ``bar_returns``: the portfolio's per-bar returns (``equity_t / equity_{t-1} - 1``).
    * ``trade_returns``: the closed round trips' returns (``round_trips(...)['return']`` of the
      rows with ``open == False``); ``None`` skips the reshuffling (a backtest without closed
      trades), an empty sequence is an error.
    * ``block``: the bootstrap's mean block length in bars; default ``round(n ** (1/3))``, at
      least 1 (1 is the plain i.i.d. bootstrap).
    * ``seed``: the same seed gives the same result. The two methods draw from independent
      streams (``numpy.random.SeedSequence(seed).spawn(2)``), so the bootstrap does not change
      when the trades do.
    * ``max_drawdown_limit``: a fraction in (0, 1]; ``prob_breach`` is the share of paths whose
      max drawdown is at least this.
    * ``periods_per_year``: annualises the bootstrap's Sharpe; the reshuffled paths' Sharpe is
      per trade.

    Each path starts at 1: its final return is ``prod(1 + r) - 1``, its max drawdown
    ``max(1 - E_t / max(1, E_0 .. E_t))``, its Sharpe ``mean(r) / std(r, ddof=1)`` (times
    ``sqrt(periods_per_year)`` for bars). Reshuffling keeps the final return and the per-trade
    Sharpe on every path (up to float rounding): only its drawdowns say something new.

    Raises ``ValueError`` naming the argument for empty or non-finite returns, returns at or
    below -1, ``paths`` < 1, ``block`` < 1, a bad seed or limit.
    """
    bars = _returns("bar_returns", bar_returns)
    trades = _returns("trade_returns", trade_returns) if trade_returns is not None else None
    paths = _whole("paths", paths, 1)
    seed = _whole("seed", seed, 0)
    try:
        periods = float(periods_per_year)
    except (TypeError, ValueError):
        periods = math.nan
    if not (math.isfinite(periods) and periods > 0):
        raise ValueError(f"periods_per_year must be a finite number > 0, got {periods_per_year!r}")
    n = bars.size
    if block is None:
        block = float(max(1, round(n ** (1 / 3))))
    elif not (isinstance(block, int | float | np.number) and math.isfinite(block) and block >= 1):
        raise ValueError(f"block (the mean block length in bars) must be >= 1, got {block!r}")
    block = float(block)
    limit = None
    if max_drawdown_limit is not None:
        limit = float(max_drawdown_limit)
        if not (0 < limit <= 1):
            raise ValueError(
                f"max_drawdown_limit must be a fraction in (0, 1], got {max_drawdown_limit!r}"
            )

    permutation_seed, bootstrap_seed = np.random.SeedSequence(seed).spawn(2)
    permutation = None
    if trades is not None:
        trade_rng = np.random.default_rng(permutation_seed)
        permutation = _run(
            "trade_permutation",
            trades,
            paths,
            lambda rows: trade_rng.permuted(np.tile(trades, (rows, 1)), axis=1),
            1.0,
            limit,
        )
    bar_rng = np.random.default_rng(bootstrap_seed)
    bootstrap = _run(
        "stationary_bootstrap",
        bars,
        paths,
        lambda rows: bars[stationary_bootstrap_indices(n, rows, block, bar_rng)],
        math.sqrt(periods),
        limit,
    )
    return MonteCarloResult(
        permutation=permutation,
        bootstrap=bootstrap,
        paths=paths,
        block=block,
        seed=seed,
        max_drawdown_limit=limit,
        periods_per_year=periods,
    )


# --- the figure -------------------------------------------------------------------------------


def figure(result: MonteCarloResult) -> Figure:
    """Histograms of final return, max drawdown and Sharpe (columns) for both methods (rows).

    The original value is a vertical line in each panel, the max-drawdown limit (when given) a
    dashed red one in the drawdown panels. Built with matplotlib's object API (no pyplot state);
    render it with ``figure.savefig`` or the report's SVG helper.
    """
    fig = Figure(figsize=(13, 7), layout="constrained")
    axes = fig.subplots(2, 3, squeeze=False)
    bins = int(min(60, max(10, math.sqrt(result.paths))))
    for row, (name, method) in enumerate(
        zip(METHODS, (result.permutation, result.bootstrap), strict=True)
    ):
        for col, metric in enumerate(METRICS):
            ax = axes[row][col]
            title = f"{_LABELS[name]}: {_LABELS[metric]}"
            if metric == "sharpe":
                title += " (per trade)" if name == "trade_permutation" else " (annualised)"
            ax.set_title(title, fontsize=9, loc="left")
            if method is None:
                ax.text(
                    0.5, 0.5, "no closed trades", ha="center", va="center", transform=ax.transAxes
                )
                ax.set_xticks([])
                ax.set_yticks([])
                continue
            values = method.values(metric)
            finite = values[np.isfinite(values)]
            if finite.size:
                center = float(np.median(finite))
                spread = float(np.ptp(finite))
                if spread <= 1e-9 * max(1.0, abs(center)):  # order-invariant: one value
                    half = 0.05 * max(abs(center), 1e-6)
                    ax.set_xlim(center - half, center + half)
                    ax.set_yticks([])
                    ax.locator_params(axis="x", nbins=3)
                    value = f"{center:.1%}" if metric != "sharpe" else f"{center:.4g}"
                    why = "\nthe order of trades does not change it" if row == 0 else ""
                    ax.text(
                        0.5,
                        0.5,
                        f"{value} on every path{why}",
                        transform=ax.transAxes,
                        ha="center",
                        va="center",
                        bbox={"facecolor": "white", "edgecolor": "none"},
                    )
                else:
                    ax.hist(finite, bins=bins, color=BLUE, alpha=0.75)
            else:
                ax.text(0.5, 0.5, "undefined on every path", ha="center", transform=ax.transAxes)
            original = method.original[metric]
            if math.isfinite(original):
                ax.axvline(original, color="black", linewidth=1.5, label="original")
            if metric == "max_drawdown" and result.max_drawdown_limit is not None:
                ax.axvline(
                    result.max_drawdown_limit,
                    color="#c62828",
                    linestyle="--",
                    linewidth=1.5,
                    label=f"limit ({method.prob_breach:.0%} of paths reach it)",
                )
            if metric in ("final_return", "max_drawdown"):
                ax.xaxis.set_major_formatter(PercentFormatter(1.0))
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=8, loc="upper right")
    fig.suptitle(
        f"Monte Carlo: {result.paths} paths, mean block {result.block:g} bars, seed {result.seed}",
        fontsize=10,
    )
    return fig
