"""Flow `features`: build and test the dbt feature models (incremental by default)."""

from __future__ import annotations

from prefect import flow, task

from cryptobot.config import load_settings
from cryptobot.features import build_features
from flows._common import ALERT_HOOKS, progress, warehouse_writes


@task(name="dbt-build")
def dbt_build_task(full_refresh: bool, select: str | None) -> dict:
    with warehouse_writes():
        result = build_features(
            load_settings(), full_refresh=full_refresh, select=select, log=progress()
        )
    return {
        "models_built": result.models_built,
        "tests_passed": result.tests_passed,
        "rows": result.rows,
        "seconds": round(result.seconds, 2),
        "full_refresh": result.full_refresh,
    }


@flow(name="features", **ALERT_HOOKS)
def features(full_refresh: bool = False, select: str | None = None) -> dict:
    """Run `dbt build` on dbt_project/: staging -> intermediate -> marts (fct_features) + tests."""
    return dbt_build_task(full_refresh, select)
