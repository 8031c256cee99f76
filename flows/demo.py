"""Flow `demo`: the whole pipeline offline on the simulated market, then where to look."""

from __future__ import annotations

from prefect import flow

from cryptobot.config import load_settings
from cryptobot.errors import BacktestError, QualityGateError
from flows._common import ALERT_HOOKS, progress
from flows.backtest import backtest as backtest_flow
from flows.features import features
from flows.ingest import ingest
from flows.report import daily_report
from flows.status import status
from flows.trade import trade as trade_flow
from flows.train import train as train_flow
from flows.validate import validate

#: the demo plants a sentiment signal strong enough to pay for trading it (0.4: corr with the
#: next hour's return), so the gate has something real to promote and the champions trade; at
#: 0.1 or 0.2 its edge is mostly eaten by the round trip's costs and the gate promotes little
DEMO_SIGNAL = 0.4


@flow(name="demo", **ALERT_HOOKS)
def demo(
    days: int | None = None,
    signal: float = DEMO_SIGNAL,
    seed: int | None = None,
    train: bool = True,
    replay_days: float = 30,
) -> dict:
    """Simulate `days` (default: config) of market data, labelled SIMULATED, with a planted
    sentiment signal `signal`; validate it, build the features, log the warehouse status, and
    (unless `train` is false) train the model families walk-forward, run the promotion gate,
    backtest the champions over every bar with an out-of-sample prediction (beside buy-and-hold
    and the baselines, 1,000 Monte Carlo paths), replay the hourly trading flow over the last
    `replay_days` days bar by bar (paper) and write the daily report of the last day."""
    settings = load_settings()
    days = days if days is not None else settings.simulator.days
    seed = seed if seed is not None else settings.simulator.seed
    log = progress()
    log(
        f"demo: simulated market, {len(settings.symbols)} symbols, {days} days, seed {seed}, "
        f"planted sentiment signal {signal} (labelled SIMULATED everywhere)"
    )
    ingested = ingest(source="simulator", days=days, signal=signal, seed=seed)
    validated = validate()
    failed = [run for run in validated if not run["success"]]
    if failed:
        raise QualityGateError(
            "the demo's validation failed for "
            + ", ".join(f"{run['table']} {run['symbol'] or ''}".strip() for run in failed)
            + ": see `cryptobot validate`",
            batch_id="",
            failed_rows=sum(sum(run["failures"].values()) for run in failed),
            failures={},
        )
    built = features()
    status()
    trained = train_flow() if train else []
    backtested = None
    if train:
        try:
            backtested = backtest_flow(monte_carlo=1000)
        except BacktestError as exc:  # e.g. the gate refused every challenger: nothing to test
            log(f"no backtest: {exc}")
    traded = trade_flow(replay_days=replay_days) if train and replay_days else None
    report = daily_report(period="daily") if traded else None
    return {
        "ingest": ingested,
        "validate": validated,
        "features": built,
        "train": trained,
        "backtest": backtested,
        "trade": traded,
        "report": report,
    }
