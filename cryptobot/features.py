"""Build the point-in-time feature tables: ``dbt build`` of ``dbt_project/``, run in this process.

The models turn the warehouse's candles and sentiment into ``marts.fct_features`` (see
``dbt_project/README.md``); their data tests run in the same build. dbt is invoked through its
programmatic API (``dbtRunner``) with the warehouse path in ``CRYPTOBOT_WAREHOUSE``, and writes its
compiled SQL, partial-parse state and logs under ``<data_dir>/dbt`` so the checkout stays clean.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from cryptobot.config import Settings, load_settings
from cryptobot.errors import FeatureBuildError
from cryptobot.warehouse.db import read_connection, write_connection
from cryptobot.warehouse.lock import write_lock

#: Where consumers read the features (the marts schema, see generate_schema_name in dbt_project).
FEATURES_TABLE = "marts.fct_features"
WAREHOUSE_ENV = "CRYPTOBOT_WAREHOUSE"

# dbt keeps global state per process: one invocation at a time.
_DBT_LOCK = threading.Lock()
_FAILED = {"error", "fail"}


@dataclass(frozen=True)
class FeatureBuildResult:
    """A successful build: a failing model or data test raises ``FeatureBuildError`` instead."""

    models_built: int
    tests_passed: int
    rows: int  # rows in fct_features after the build
    seconds: float
    full_refresh: bool


def build_features(
    settings: Settings | None = None,
    *,
    full_refresh: bool = False,
    select: str | None = None,
    log: Callable[[str], None] = print,
) -> FeatureBuildResult:
    """Run ``dbt build`` (models and their tests); incremental unless ``full_refresh``.

    ``select`` is a dbt selector (e.g. ``"+fct_features"``); all models by default. Raises
    ``FeatureBuildError`` naming each failing model or test. No other connection to the warehouse
    may be open in this process meanwhile (DuckDB allows one configuration per file).
    """
    settings = settings or load_settings()
    started = time.perf_counter()
    # migrate a new warehouse, and wait (bounded) while another process holds its write lock
    with write_connection(settings.warehouse, timeout=settings.write_lock_timeout):
        pass
    dbt_dir = settings.data_dir / "dbt"
    args = [
        "build",
        "--project-dir",
        str(settings.dbt_project_dir),
        "--profiles-dir",
        str(settings.dbt_project_dir),
        "--target-path",
        str(dbt_dir / "target"),
        "--log-path",
        str(dbt_dir / "logs"),
        "--log-level",
        "none",
        "--no-use-colors",
        "--no-version-check",
    ]
    if full_refresh:
        args.append("--full-refresh")
    if select:
        args += ["--select", select]

    log(
        f"dbt build of {settings.dbt_project_dir.name} on {settings.warehouse}"
        + (" (full refresh)" if full_refresh else "")
    )
    # dbt opens the file itself and does not wait for a lock: if a reader or another writer
    # holds it at that moment, dbt fails before building anything, so try again (bounded)
    deadline = time.monotonic() + settings.write_lock_timeout
    delay = 0.2
    while True:
        with write_lock(settings.warehouse, timeout=settings.write_lock_timeout, log=log):
            result = run_dbt(settings.warehouse, args, log)
        failures = _failures(result, dbt_dir / "logs")
        if failures and _is_schema_change(failures) and "--full-refresh" not in args:
            # the models gained or lost columns since the warehouse was built (an upgrade):
            # incremental rows would miss the new columns, so rebuild everything once
            log("the feature models' columns changed since the last build: rebuilding in full")
            args.append("--full-refresh")
            full_refresh = True
            continue
        if not failures or not _is_lock_failure(failures) or time.monotonic() > deadline:
            break
        log(f"the warehouse is busy (another process has it open); retrying in {delay:.1f} s")
        time.sleep(delay)
        delay = min(delay * 2, 5.0)
    if failures:
        raise FeatureBuildError(failures)

    results = result.result.results
    models_built = sum(r.node.resource_type == "model" and r.status == "success" for r in results)
    tests_passed = sum(
        r.node.resource_type in ("test", "unit_test") and r.status == "pass" for r in results
    )
    rows = _count_rows(settings.warehouse)
    seconds = time.perf_counter() - started
    log(
        f"built {models_built} models, {tests_passed} tests passed; "
        f"{FEATURES_TABLE} has {rows:,} rows ({seconds:.1f} s)"
    )
    return FeatureBuildResult(
        models_built=models_built,
        tests_passed=tests_passed,
        rows=rows,
        seconds=seconds,
        full_refresh=full_refresh,
    )


def run_dbt(warehouse: Path, args: list[str], log: Callable[[str], None]) -> Any:
    """Invoke dbt in this process on ``warehouse`` (one dbt at a time per process: dbt's
    invocation state is global); returns dbt's result."""
    with _DBT_LOCK, _warehouse_env(warehouse):
        return _invoke_dbt(args, log)


@contextmanager
def _warehouse_env(warehouse: Path) -> Iterator[None]:
    """``CRYPTOBOT_WAREHOUSE`` for dbt's profile (profiles.yml reads it), restored afterwards."""
    previous = os.environ.get(WAREHOUSE_ENV)
    os.environ[WAREHOUSE_ENV] = str(warehouse)
    try:
        yield
    finally:
        if previous is None:
            del os.environ[WAREHOUSE_ENV]
        else:
            os.environ[WAREHOUSE_ENV] = previous


def _invoke_dbt(args: list[str], log: Callable[[str], None]) -> Any:
    # imported here: dbt takes about a second to import, and only this function needs it
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    from dbt.cli.main import dbtRunner

    emitting = threading.Lock()  # dbt's worker threads finish nodes concurrently

    def on_event(event: Any) -> None:
        if event.info.name != "NodeFinished":
            return
        run_result = event.data.run_result
        node = event.data.node_info
        if node.resource_type == "model" or run_result.status in _FAILED:
            with emitting:
                log(
                    f"  {node.resource_type} {node.node_name}: {run_result.status} "
                    f"in {run_result.execution_time:.2f} s"
                )

    try:
        return dbtRunner(callbacks=[on_event]).invoke(args)
    finally:
        # dbt-duckdb keeps its DuckDB instance open for the life of the process; close it so the
        # warehouse's lock is released for other connections and processes.
        environment = DuckDBConnectionManager._ENV
        if environment is not None:
            environment.close()
        DuckDBConnectionManager.close_all_connections()


def _failures(result: Any, log_dir: Path) -> str | None:
    """One paragraph naming what failed, or None when the build succeeded."""
    if result.success:
        return None
    where = f"dbt's log is {log_dir / 'dbt.log'}."
    if result.result is None or not hasattr(result.result, "results"):
        problem = _one_line(result.exception)
        return f"dbt build of the feature models failed before running: {problem}. {where}"
    problems = []
    skipped = 0
    for r in result.result.results:
        if r.status == "skipped":
            skipped += 1
        elif r.status in _FAILED:
            rows = f" ({r.failures} failing rows)" if r.failures else ""
            problems.append(
                f"{r.node.resource_type} {r.node.name} {r.status}{rows}: {_one_line(r.message)}"
            )
    after = f" {skipped} dependent nodes were skipped." if skipped else ""
    return (
        "dbt build of the feature models failed: "
        + "; ".join(problems or [_one_line(result.exception)])
        + "."
        + after
        + " Fix the data or the model and build again (`cryptobot features --full-refresh`"
        + f" rebuilds all); {where}"
    )


def _is_schema_change(failures: str) -> bool:
    return "process_schema_changes" in failures or "out of sync" in failures


def _is_lock_failure(failures: str) -> bool:
    text = failures.lower()
    return "could not set lock" in text or "conflicting lock" in text


def _one_line(text: object) -> str:
    return " ".join(str(text or "").split())


def _count_rows(warehouse: Path) -> int:
    with read_connection(warehouse) as con:
        try:
            return con.execute(f"select count(*) from {FEATURES_TABLE}").fetchone()[0]
        except duckdb.CatalogException:
            return 0
