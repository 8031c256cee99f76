"""Flow `predict`: the champion of each target predicts the newest closed bars into
ml_predictions, and earlier predictions whose horizon has closed get their outcome."""

from __future__ import annotations

from prefect import flow, task

from cryptobot.config import load_settings
from cryptobot.logs import log_target
from flows._common import ALERT_HOOKS, progress, warehouse_writes
from models.dataset import Target, configured_targets
from models.predictions import predict_latest, resolve_outcomes


@task(name="predict-target")
def predict_target_task(target: Target, bars: int) -> dict:
    with log_target(target.name), warehouse_writes():
        result = predict_latest(load_settings(), target, bars=bars)
    log = progress()
    if result.version is None:
        log(f"{result.target}: no champion yet (run `cryptobot train`); nothing predicted")
    else:
        latest = result.latest or {}
        log(
            f"{result.target}: champion v{result.version} ({result.family}) stored "
            f"{result.stored} new prediction(s); bar {result.latest_ts}: "
            f"pred_return {latest.get('pred_return', float('nan')):+.5f}, "
            f"prob_up {latest.get('prob_up', float('nan')):.3f}"
        )
    return {
        "target": result.target,
        "version": result.version,
        "family": result.family,
        "stored": result.stored,
        "latest_ts": str(result.latest_ts) if result.latest_ts is not None else None,
        "latest": result.latest,
    }


@task(name="resolve-outcomes")
def resolve_outcomes_task() -> int:
    with warehouse_writes():
        resolved = resolve_outcomes(load_settings())
    progress()(f"{resolved} earlier prediction(s) resolved (actual and correct filled)")
    return resolved


@flow(name="predict", **ALERT_HOOKS)
def predict(
    symbols: list[str] | None = None,
    bars: int = 1,
    horizon: int | None = None,
    timeframe: str | None = None,
    exchange: str | None = None,
) -> dict:
    """Predict the newest `bars` closed bars per symbol with its champion, then resolve the
    predictions whose horizon has closed since."""
    results = [
        predict_target_task(target, bars)
        for target in configured_targets(load_settings(), symbols, timeframe, horizon, exchange)
    ]
    return {"predictions": results, "resolved": resolve_outcomes_task()}
