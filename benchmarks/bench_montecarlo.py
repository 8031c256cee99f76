"""Time the backtest Monte Carlo: ``python benchmarks/bench_montecarlo.py``.

Case: 1,000 paths of both methods over 17,520 bar returns (two years of 1h bars) and 2,000
trade returns, seeded random inputs, max-drawdown limit 20%. The goal is well under 10 s on the
2-core machine. Prints the median wall time of three runs (after one warm-up), the paths per
second and the process's peak resident memory.
"""

from __future__ import annotations

import resource
import statistics
import time

import numpy as np

from cryptobot.backtest.montecarlo import monte_carlo

BARS, TRADES, PATHS, RUNS = 17_520, 2_000, 1_000, 3


def main() -> None:
    rng = np.random.default_rng(42)
    bar_returns = rng.normal(0.0001, 0.006, BARS)
    trade_returns = rng.normal(0.002, 0.025, TRADES)

    def run() -> float:
        started = time.perf_counter()
        monte_carlo(
            bar_returns,
            trade_returns,
            paths=PATHS,
            seed=7,
            max_drawdown_limit=0.2,
            periods_per_year=8760,
        )
        return time.perf_counter() - started

    run()  # warm-up: imports, first allocations
    seconds = statistics.median(run() for _ in range(RUNS))
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # KiB on Linux
    print(f"{'case':<40}{'runs':>5}{'seconds':>10}{'paths/s':>10}{'peak RSS':>11}")
    name = f"{PATHS} paths x {BARS:,} bars + {TRADES:,} trades"
    print(f"{name:<40}{RUNS:>5}{seconds:>10.3f}{PATHS / seconds:>10,.0f}{peak_gb:>9.2f}GB")


if __name__ == "__main__":
    main()
