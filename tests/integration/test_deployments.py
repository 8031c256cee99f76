"""prefect.yaml: each entrypoint loads, its parameters fit the flow, its schedule parses."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from prefect.client.schemas.schedules import CronSchedule
from prefect.flows import load_flow_from_entrypoint

from cryptobot.config import PROJECT_ROOT

pytestmark = pytest.mark.integration
DEPLOYMENTS = yaml.safe_load((PROJECT_ROOT / "prefect.yaml").read_text())["deployments"]


@pytest.mark.parametrize(
    "deployment", DEPLOYMENTS, ids=[f"{d['entrypoint']}:{d['name']}" for d in DEPLOYMENTS]
)
def test_deployment_entrypoint_parameters_and_schedule(deployment, monkeypatch):
    monkeypatch.chdir(PROJECT_ROOT)
    path, _, function = deployment["entrypoint"].partition(":")
    assert Path(path).is_file()
    flow = load_flow_from_entrypoint(deployment["entrypoint"])
    assert flow.fn.__name__ == function
    parameters = deployment.get("parameters") or {}
    # on-demand deployments leave per-run values (a file's path) to the UI's form
    asked_at_run = {"path": "candles.csv", "exchange": "binance", "symbol": "BTC/USDT"}
    required = {k: v for k, v in asked_at_run.items() if k in flow.parameters.required}
    flow.validate_parameters({**required, **parameters})
    for schedule in deployment.get("schedules", []):
        CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"])
    assert deployment["work_pool"]["name"] == "cryptobot"


def test_every_flow_has_a_deployment():
    entrypoints = {d["entrypoint"] for d in DEPLOYMENTS}
    for module in (
        "ingest",
        "features",
        "validate",
        "import_file",
        "train",
        "predict",
        "trade",
        "backtest",
        "report",
        "demo",
    ):
        assert any(e.startswith(f"flows/{module}.py:") for e in entrypoints), module
