"""A small warehouse and MLflow store for the Streamlit app's tests, built once per process.

Every page has something to show, with known figures:

- BTC/USDT: 60 days of simulated 1h bars with a strong planted sentiment signal, its features
  (dbt), the baselines and XGBoost trained walk-forward (2 folds) into MLflow; then a human
  override gives ``champion`` to the persistence baseline and the gate's XGBoost gets it back,
  so the champion history has both kinds of promotion; the champion predicts the last 48 bars
  and the outcomes are resolved.
- ETH/USDT and SOL/USDT: ``seed_trading``'s 64-bar trading history (exchange ``simulator``),
  with three SOL bars deleted (one gap of 3 bars), two quarantined rows and a failed
  validation of SOL beside a passed one of ETH.

``app_warehouse(tmp_path_factory)`` builds it on first use and returns the same one after, so
the AppTest module and the browser test share the cost (about 25 s, mostly dbt) in one session.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from cryptobot.config import Settings, TrainingSettings
from tests.trading_factory import SeededTrading, seed_trading

BTC = "BTC/USDT"
TRADED = ("ETH/USDT", "SOL/USDT")
MODEL = "simulator.BTC-USDT.1h.h1"
PREDICTED_BARS = 48
#: the SOL bars removed to make one gap
GAP = pd.date_range("2025-12-30 05:00", periods=3, freq="1h")


@dataclass(frozen=True)
class AppWarehouse:
    root: Path
    settings: Settings
    seeded: SeededTrading
    #: the registered version numbers: {family: version} of the training, and the override's
    versions: dict[str, str]

    @property
    def env(self) -> dict[str, str]:
        """The variables that point the app (in or out of process) at this warehouse."""
        return {
            "CRYPTOBOT_WAREHOUSE": str(self.settings.warehouse),
            "CRYPTOBOT_DATA_DIR": str(self.settings.data_dir),
        }


_BUILT: AppWarehouse | None = None


def _quiet(_: str) -> None:
    return None


def app_warehouse(tmp_path_factory: pytest.TempPathFactory) -> AppWarehouse:
    global _BUILT
    if _BUILT is None:
        _BUILT = _build(tmp_path_factory.mktemp("app_warehouse"))
    return _BUILT


def _build(root: Path) -> AppWarehouse:
    from cryptobot.features import build_features
    from cryptobot.ingest import ingest_simulator
    from cryptobot.warehouse.db import write_connection
    from models.dataset import Target
    from models.predictions import predict_latest, resolve_outcomes
    from models.registry import promote
    from models.train import train_target

    settings = Settings(
        warehouse=root / "warehouse.duckdb",
        data_dir=root / "data",
        training=TrainingSettings(min_train=300, folds=2),
    )
    saved = {
        name: os.environ.pop(name) for name in list(os.environ) if name.startswith("CRYPTOBOT_")
    }
    try:
        ingest_simulator(settings, symbols=[BTC], timeframe="1h", days=60, seed=7, signal=0.5)
        seeded = seed_trading(settings.warehouse, symbols=TRADED, start="2025-12-29", bars=64)
        with write_connection(settings.warehouse) as con:
            con.execute(
                "delete from market_data where symbol = 'SOL/USDT' and list_contains(?, ts)",
                [list(GAP.to_pydatetime())],
            )
            now = pd.Timestamp("2026-01-01 00:30")
            for number, reason in enumerate(["high < low", "high < low"]):
                con.execute(
                    "insert into quarantine values (?, 'market_data', ?, 'simulator', 'SOL/USDT',"
                    " '1h', ?, ?, ?, ?)",
                    [
                        "bad-batch",
                        number,
                        GAP[0] + pd.Timedelta(hours=number),
                        reason,
                        json.dumps({"open": 1, "high": 0.5, "low": 1.5}),
                        now,
                    ],
                )
            for symbol, success, failures, gaps in (
                ("ETH/USDT", True, {}, 0),
                ("SOL/USDT", False, {"gaps": 1}, 1),
            ):
                con.execute(
                    "insert into validation_runs values (?, 'market_data', 'simulator', ?, '1h',"
                    " ?, ?, ?, ?, ?)",
                    [f"v-{symbol}", symbol, 65, success, json.dumps(failures), gaps, now],
                )
        build_features(settings, log=_quiet)
        target = Target("simulator", BTC, "1h", 1)
        result = train_target(settings, target, families=["xgboost"], folds=2, log=_quiet)
        versions = {e.family: str(e.version) for e in result.evaluations}
        assert result.decision is not None and result.decision.promoted, (
            f"the fixture needs XGBoost promoted by the gate: {result.decision}"
        )
        promote(settings, MODEL, versions["persistence"], force=True, reason="app test override",
                by="tester")  # fmt: skip
        promote(settings, MODEL, versions["xgboost"], force=False, reason=None)
        predict_latest(settings, target, bars=PREDICTED_BARS)
        resolve_outcomes(settings)
    finally:
        os.environ.update(saved)
    return AppWarehouse(root=root, settings=settings, seeded=seeded, versions=versions)
