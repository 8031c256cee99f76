"""MLflow: where runs go, how a trained forecaster becomes a registered pyfunc, and how it loads.

Nothing here imports MLflow at module level (it costs about a second): the CLI's help stays fast.

One experiment and one registered model per target (``Target.name``, e.g.
``simulator.BTC-USDT.1h.h1``). Every family's model of a target is a version of that registered
model; the ``champion`` alias marks the one the trading flow uses. Every version is an MLflow
pyfunc taking the same input columns (the target's features plus ``past_return``), so a caller
loads ``models:/<name>@champion`` and calls ``predict`` without knowing the family.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import subprocess
import tempfile
import warnings
from contextlib import closing
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import numpy as np
import pandas as pd

from cryptobot import __version__
from cryptobot.config import PROJECT_ROOT, Settings, mlflow_uri_set_by_cryptobot
from models.families.base import Forecaster

CHAMPION = "champion"
#: the pyfunc definition logged with every model (MLflow models-from-code)
PYFUNC_FILE = Path(__file__).with_name("pyfunc_model.py")
#: pyfunc output columns
OUTPUT_COLUMNS = ("pred_return", "prob_up", "direction", "confidence")


def _quiet_mlflow() -> None:
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_TRACKING_INSECURE_TLS", "false")
    os.environ.setdefault("DISABLE_MLFLOWDBFS", "true")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    import mlflow  # noqa: F401 - MLflow sets its loggers' levels when imported: import first

    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module="mlflow")
    warnings.filterwarnings("ignore", message=".*Add type hints to the `predict` method")


def _point_at(settings: Settings) -> str:
    """Point MLflow's fluent API at the settings' store (no connection is opened yet)."""
    _quiet_mlflow()
    import mlflow

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    uri = settings.tracking_uri
    mlflow_uri_set_by_cryptobot(uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def configure(settings: Settings):
    """Point MLflow at the settings' store; returns an ``MlflowClient``."""
    from mlflow import MlflowClient

    uri = _point_at(settings)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def ensure_experiment(settings: Settings, client, name: str, tags: dict[str, str]) -> str:
    """The experiment called ``name`` (created with artifacts under ``data/mlartifacts``)."""
    # the UI opens a "forecasting" experiment in its model-training view (not the GenAI one)
    tags = {"mlflow.experimentKind": "forecasting", **tags}
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        if experiment.lifecycle_stage == "deleted":
            client.restore_experiment(experiment.experiment_id)
        for key, value in tags.items():
            if experiment.tags.get(key) != value:
                client.set_experiment_tag(experiment.experiment_id, key, value)
        return experiment.experiment_id
    location = (settings.mlflow_artifacts / name).as_uri()
    return client.create_experiment(name, artifact_location=location, tags=tags)


@cache
def code_version() -> str:
    """The git commit of the checkout (``+dirty`` when it has uncommitted changes), else the
    package version."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()

    try:
        dirty = git("status", "--porcelain", "--untracked-files=no")
        return git("rev-parse", "HEAD") + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return f"cryptobot {__version__} (no git checkout)"


def pip_requirements(forecaster: Forecaster) -> list[str]:
    """Given explicitly: MLflow's inference of them costs seconds per model."""
    import mlflow

    return [
        f"mlflow=={mlflow.__version__}",
        f"numpy=={np.__version__}",
        f"pandas=={pd.__version__}",
        *forecaster.requirements,
    ]


def forecast_output(predictions: pd.DataFrame) -> pd.DataFrame:
    out = predictions.copy()
    prob = out["prob_up"].to_numpy()
    out["direction"] = np.where(np.isnan(prob), np.nan, prob > 0.5)
    out["confidence"] = np.maximum(prob, 1.0 - prob)
    return out[list(OUTPUT_COLUMNS)]


def log_forecaster(
    forecaster: Forecaster,
    *,
    input_columns: list[str],
    registered_name: str,
    metadata: dict[str, Any],
) -> Any:
    """Log ``forecaster`` as the active run's pyfunc ``model`` and register it as a new version
    of ``registered_name`` (created when missing). Returns the new version's number."""
    import mlflow.pyfunc
    from mlflow.models.signature import ModelSignature
    from mlflow.types.schema import ColSpec, Schema

    signature = ModelSignature(
        inputs=Schema([ColSpec("double", name) for name in input_columns]),
        outputs=Schema([ColSpec("double", name) for name in OUTPUT_COLUMNS]),
    )
    with tempfile.TemporaryDirectory(prefix="cryptobot-model-") as tmp:
        state = Path(tmp) / "forecaster"
        forecaster.save(state)
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(PYFUNC_FILE),
            artifacts={"forecaster": str(state)},
            signature=signature,
            pip_requirements=pip_requirements(forecaster),
            metadata={**metadata, "lookback": forecaster.lookback, "family": forecaster.family},
        )
    client = mlflow.MlflowClient()
    if client.search_registered_models(filter_string=f"name = '{registered_name}'") == []:
        client.create_registered_model(registered_name)
    version = client.create_model_version(
        registered_name, source=info.model_uri, run_id=mlflow.active_run().info.run_id
    )
    return str(version.version)


_MODEL_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))$")


def local_model_path(settings: Settings, uri: str) -> Path | None:
    """The local directory of ``models:/<name>@<alias>`` (or ``/<version>``) in the embedded
    SQLite store, read with one query; None for any other store or anything unexpected.

    MLflow's own resolution builds its full SQL tracking store first, which costs ~0.8 s of
    imports in a fresh process; the trading flow loads the champion in a fresh process every
    run. The model version's ``storage_location`` is MLflow's own record of where it lives.
    """
    match = _MODEL_URI.match(uri)
    tracking = settings.tracking_uri
    if match is None or not tracking.startswith("sqlite:///"):
        return None
    database = Path(tracking.removeprefix("sqlite:///"))
    if not database.exists():
        return None
    name, alias, version = match["name"], match["alias"], match["version"]
    sql = (
        "select v.storage_location from registered_model_aliases a join model_versions v "
        "on v.name = a.name and v.version = a.version where a.name = ? and a.alias = ?"
        if alias
        else "select storage_location from model_versions where name = ? and version = ?"
    )
    try:
        with closing(sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True)) as con:
            row = con.execute(sql, [name, alias or int(version)]).fetchone()
    except sqlite3.Error:
        return None
    if not row or not row[0] or not str(row[0]).startswith("file://"):
        return None
    path = Path(unquote(urlparse(row[0]).path))
    return path if (path / "MLmodel").exists() else None


def load_model(uri: str, settings: Settings | None = None):
    """``mlflow.pyfunc.load_model`` from the settings' store (e.g. ``models:/<name>@champion``).

    In the embedded SQLite store the alias is resolved by ``local_model_path`` and the model
    loaded from its directory; otherwise MLflow resolves it. Either way without MLflow's check
    of the model's pip requirements against this environment: the project's lock pins both, and
    the check scans every installed distribution (about 1 s).
    """
    from cryptobot.config import load_settings

    settings = settings or load_settings()
    _point_at(settings)
    import mlflow.pyfunc

    local = local_model_path(settings, uri)
    return mlflow.pyfunc.load_model(str(local) if local else uri, suppress_warnings=True)


def model_lookback(model) -> int:
    """Rows of history a loaded pyfunc needs to answer for the newest row."""
    return int((model.metadata.metadata or {}).get("lookback", 1))
