"""Time the market simulator: ``python benchmarks/bench_simulator.py``.

Cases: five symbols x two years of 1h bars (the default ingest, median of five runs) and ten
symbols x two years of 1m bars (the large benchmark data set, one run). Prints rows (candles),
seconds, candle rows per second and the process's peak resident memory after the case.
"""

from __future__ import annotations

import resource
import statistics
import time

from cryptobot.sources.simulator import simulate_market

FIVE = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT", "XRP/USDT"]
TEN = [*FIVE, "ADA/USDT", "DOGE/USDT", "AVAX/USDT", "LINK/USDT", "DOT/USDT"]
CASES = [("5 symbols x 730 d x 1h", FIVE, "1h", 5), ("10 symbols x 730 d x 1m", TEN, "1m", 1)]


def time_case(symbols: list[str], timeframe: str, runs: int) -> tuple[int, float]:
    """Rows of candles and the median wall time of ``runs`` simulations."""
    seconds, rows = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        market = simulate_market(symbols, timeframe, days=730, seed=42)
        seconds.append(time.perf_counter() - started)
        rows = len(market.candles)
        del market
    return rows, statistics.median(seconds)


def main() -> None:
    print(f"{'case':<26}{'runs':>5}{'rows':>12}{'seconds':>10}{'rows/s':>14}{'peak RSS':>11}")
    for name, symbols, timeframe, runs in CASES:
        rows, seconds = time_case(symbols, timeframe, runs)
        peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # KiB on Linux
        print(
            f"{name:<26}{runs:>5}{rows:>12,}{seconds:>10.3f}{rows / seconds:>14,.0f}"
            f"{peak_gb:>9.2f}GB"
        )


if __name__ == "__main__":
    main()
