"""Flow `train`: walk-forward training of every configured family per target, MLflow tracking,
registration and the promotion gate (see models/train.py)."""

from __future__ import annotations

from prefect import flow, task

from cryptobot.config import load_settings
from cryptobot.logs import log_target
from flows._common import ALERT_HOOKS, progress
from models.dataset import Target, configured_targets
from models.train import summarize, train_target


@task(name="train-target")
def train_target_task(
    target: Target, families: list[str] | None, folds: int | None, retrain: bool = False
) -> dict:
    with log_target(target.name):
        result = train_target(
            load_settings(),
            target,
            families=families,
            folds=folds,
            log=progress(),
            retrain=retrain,
        )
    return summarize(result)


@flow(name="train", **ALERT_HOOKS)
def train(
    symbols: list[str] | None = None,
    families: list[str] | None = None,
    folds: int | None = None,
    horizon: int | None = None,
    timeframe: str | None = None,
    exchange: str | None = None,
    retrain: bool = False,
) -> list[dict]:
    """Train and judge the model families per (symbol, timeframe) from fct_features; the gate
    gives `champion` only to a model that beats the baselines and the champion out of sample.
    Defaults come from the config (`training` section); the exchange defaults to `simulator`
    when the configured source is the simulator. A target whose rows, families, settings and
    code are unchanged since its last training is not trained again unless `retrain`."""
    return [
        train_target_task(target, families, folds, retrain)
        for target in configured_targets(load_settings(), symbols, timeframe, horizon, exchange)
    ]
