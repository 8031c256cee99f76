"""A champion per target for tests that trade: XGBoost trained walk-forward, and promoted by a
human (forced, with a reason) when the gate refuses it on a test's small sample."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptobot.config import Settings
from models.dataset import Target
from models.registry import promote
from models.tracking import CHAMPION, configure
from models.train import train_target


def _quiet(_: str) -> None:
    pass


def train_champion(settings: Settings, target: Target, *, folds: int = 2) -> str:
    """Train ``target``'s XGBoost and make a version of it champion; returns that version."""
    from mlflow.exceptions import MlflowException

    client = configure(settings)
    train_target(settings, target, families=["xgboost"], folds=folds, log=_quiet)
    try:
        return str(client.get_model_version_by_alias(target.name, CHAMPION).version)
    except MlflowException:  # the gate refused on this small sample: a human promotes
        version = max(
            int(v.version)
            for v in client.search_model_versions(f"name='{target.name}'")
            if v.tags.get("family") == "xgboost"
        )
        promote(settings, target.name, str(version), force=True, reason="test", by="t")
        return str(version)


def train_champions(settings: Settings, symbols: list[str], *, folds: int = 2) -> None:
    for symbol in symbols:
        train_champion(settings, Target("simulator", symbol, "1h", 1), folds=folds)


@contextmanager
def simulated_market_with_champions(
    root: Path, symbols: list[str], *, days: int, seed: int, signal: float
) -> Iterator[Settings]:
    """A warehouse of ``days`` of simulated 1h bars of ``symbols`` with a planted signal, its
    features, and an XGBoost champion per symbol (2 folds, 300-row minimum), in ``root``; no
    CRYPTOBOT_* variable of the caller's environment leaks in while it is built."""
    import pytest

    from cryptobot.config import load_settings
    from cryptobot.features import build_features
    from cryptobot.ingest import ingest_simulator

    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("CRYPTOBOT_")]:
            mp.delenv(name)
        mp.chdir(root)
        settings = load_settings(
            warehouse=root / "base.duckdb",
            data_dir=root / "data",
            symbols=symbols,
            training={"min_train": 300, "folds": 2},
        )
        ingest_simulator(
            settings, symbols=symbols, timeframe="1h", days=days, seed=seed, signal=signal
        )
        build_features(settings, log=_quiet)
        train_champions(settings, symbols)
        yield settings
