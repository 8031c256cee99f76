"""Flow `train`: walk-forward training of every configured family per target, MLflow tracking,
registration and the promotion gate (see models/train.py)."""

from __future__ import annotations

from prefect import flow, task

from cryptobot.config import load_settings
from flows._common import progress
from models.dataset import Target
from models.train import summarize, train_target


@task(name="train-target")
def train_target_task(
    exchange: str,
    symbol: str,
    timeframe: str,
    horizon: int,
    families: list[str] | None,
    folds: int | None,
    retrain: bool = False,
) -> dict:
    result = train_target(
        load_settings(),
        Target(exchange, symbol, timeframe, horizon),
        families=families,
        folds=folds,
        log=progress(),
        retrain=retrain,
    )
    return summarize(result)


@flow(name="train")
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
    settings = load_settings()
    exchange = exchange or settings.market_exchange
    return [
        train_target_task(
            exchange,
            symbol,
            timeframe or settings.timeframes[0],
            horizon or settings.training.horizon,
            families,
            folds,
            retrain,
        )
        for symbol in (symbols or settings.symbols)
    ]
