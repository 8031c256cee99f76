"""Leak control over many seeds: does the pipeline find an edge only where one was planted?

For each seed: one year of simulated 1h bars for one symbol with signal 0 (a driftless
martingale, sentiment unrelated to returns) and with signal 0.2; features built by dbt; every
family trained walk-forward; the holdout scored. Prints, per seed and in total:
- signal 0: whether any family shows an edge (holdout binomial p < alpha / families, the
  family-wise claim) and whether the gate would promote (against no champion);
- signal 0.2: XGBoost's holdout accuracy and binomial p, its after-cost holdout backtest
  (return beside buy-and-hold's, Sharpe, deflated Sharpe), and whether the gate promotes it.

Nothing is logged to MLflow (``track=False``); the gate decision is the one it would take with no
champion yet. Usage: ``python benchmarks/leak_control_sweep.py [SEEDS] [--families xgboost,lstm]``
(default: seeds 1-10, null families = all defaults, signal families = xgboost).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "False")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")


def run(seed: int, signal: float, families: list[str], root: Path):
    from cryptobot.config import load_settings
    from cryptobot.features import build_features
    from cryptobot.ingest import ingest_simulator
    from models.dataset import Target
    from models.train import train_target

    data = root / f"s{seed}-{signal}"
    data.mkdir()
    settings = load_settings(warehouse=data / "warehouse.duckdb", data_dir=data)
    ingest_simulator(
        settings, symbols=["BTC/USDT"], timeframe="1h", days=365, seed=seed, signal=signal
    )
    build_features(settings, log=lambda _: None)
    return train_target(
        settings,
        Target("simulator", "BTC/USDT", "1h", 1),
        families=families,
        log=lambda _: None,
        track=False,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description="The leak-control pair over many seeds (see the module docstring)."
    )
    parser.add_argument("seeds", nargs="?", default="1-10", help="e.g. 1-20")
    parser.add_argument("--families", default="xgboost,lstm", help="families of the null run")
    parser.add_argument("--signal", type=float, default=0.2, help="the planted signal")
    parser.add_argument("--planted-only", action="store_true", help="skip the null (signal 0) runs")
    args = parser.parse_args()
    first, _, last = args.seeds.partition("-")
    seeds = range(int(first), int(last or first) + 1)
    null_edges = null_promoted = signal_found = signal_promoted = 0
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            started = time.perf_counter()
            if args.planted_only:
                null = None
            else:
                null = run(seed, 0.0, args.families.split(","), Path(tmp))
                k = len(null.evaluations)
                edges = [
                    e.family
                    for e in null.evaluations
                    if e.significance["binomial_p"] < null.alpha / k
                ]
                best_null = min(null.evaluations, key=lambda e: e.significance["binomial_p"])
            planted = run(seed, args.signal, ["xgboost"], Path(tmp))
            xgb = next(e for e in planted.evaluations if e.family == "xgboost")
            p = xgb.significance["binomial_p"]
            signal_found += p < planted.alpha
            signal_promoted += planted.decision.promoted
            if null is not None:
                null_edges += bool(edges)
                null_promoted += null.decision.promoted
            print(
                f"seed {seed:>3}: "
                + (
                    f"signal 0 -> edge in {edges or 'no family'} (lowest p "
                    f"{best_null.significance['binomial_p']:.3f}, {best_null.family}), promoted "
                    f"{null.decision.promoted} | "
                    if null is not None
                    else ""
                )
                + f"signal {args.signal:g} -> xgboost holdout "
                f"{xgb.holdout_metrics['directional_accuracy']:.1%}, p {p:.2g}, after costs "
                f"{xgb.holdout_metrics['total_return']:+.2%} (buy-and-hold "
                f"{planted.buy_and_hold['total_return']:+.2%}), Sharpe "
                f"{xgb.holdout_metrics['sharpe']:.2f}, deflated Sharpe "
                f"{planted.decision.challenger.dsr or float('nan'):.3f}, promoted "
                f"{planted.decision.promoted}"
                + ("" if planted.decision.promoted else f" ({'; '.join(planted.decision.reasons)})")
                + f"  [{time.perf_counter() - started:.0f} s]",
                flush=True,
            )
    n = len(seeds)
    print(
        f"\n{n} seeds: "
        + (
            ""
            if args.planted_only
            else f"signal 0 -> some family showed an edge in {null_edges}/{n}, a model was "
            f"promoted in {null_promoted}/{n}; "
        )
        + f"signal {args.signal:g} -> XGBoost significant in {signal_found}/{n}, promoted in "
        f"{signal_promoted}/{n}"
    )


if __name__ == "__main__":
    main()
