"""Shared fixtures: a temporary warehouse per test, candle factories, one Prefect harness."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "False")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from prefect.logging.configuration import ensure_logging_setup  # noqa: E402

from cryptobot.config import Settings  # noqa: E402

# Prefect sets up logging once per process, binding its console handler to the sys.stderr of
# that moment: do it now, not inside a CliRunner invocation whose stream closes afterwards
ensure_logging_setup()


@pytest.fixture(autouse=True)
def _isolated_config(monkeypatch: pytest.MonkeyPatch, tmp_path_factory) -> None:
    """No test reads the developer's cryptobot.toml or CRYPTOBOT_* variables."""
    for name in list(os.environ):
        if name.startswith("CRYPTOBOT_") or name in (
            "MLFLOW_TRACKING_URI",
            "_CRYPTOBOT_MLFLOW_URI_SET",
        ):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


@pytest.fixture
def settings(tmp_path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings on a fresh warehouse in tmp_path; also exported so flows and CLI see it."""
    warehouse = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("CRYPTOBOT_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("CRYPTOBOT_DATA_DIR", str(tmp_path))
    return Settings(warehouse=warehouse, data_dir=tmp_path)


def make_candles(
    n: int,
    *,
    start: str | datetime = "2024-01-01",
    freq: str = "1h",
    seed: int = 0,
    price: float = 100.0,
) -> pd.DataFrame:
    """Valid OHLCV candles (a geometric random walk): high/low bracket open/close."""
    rng = np.random.default_rng(seed)
    ts = pd.date_range(start, periods=n, freq=freq).as_unit("us")
    close = price * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate([[price], close[:-1]])
    spread = np.abs(rng.normal(0, 0.003, n)) * close
    return pd.DataFrame(
        {
            "ts": ts,
            "open": open_,
            "high": np.maximum(open_, close) + spread,
            "low": np.minimum(open_, close) - spread,
            "close": close,
            "volume": rng.uniform(1, 100, n),
        }
    )


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One temporary Prefect server for the whole session (its start costs ~15 s)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
