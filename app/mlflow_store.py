"""The MLflow registry and runs, read straight from MLflow's embedded SQLite store.

Importing MLflow and building its SQL store costs about 2 s in a fresh process (the import alone
~1.2 s, then SQLAlchemy and the schema check), which alone would break the app's 2 s budget for
opening a page. The store's tables are MLflow's own, documented record (``runs``, ``tags``,
``params``, ``latest_metrics``, ``registered_models``, ``model_versions``,
``model_version_tags``, ``registered_model_aliases``), so the app reads them with one read-only
``sqlite3`` connection per cached read, as ``models.tracking.local_model_path`` does for the
trading flow. Only the default embedded store (``sqlite:///...``) is read this way; for a tracking
server the page points at the MLflow UI instead.

The names read here are the ones training writes (``models/train.py``, ``models/registry.py``):
run tags ``cryptobot.family``, ``cryptobot.baseline``, ``cryptobot.fold``, ``cryptobot.gate``,
``training.key``, ``mlflow.parentRunId``; metrics ``cv/...`` and ``holdout/...``; version tags
``family``, ``gate.decision``, ``gate.reasons``, ``gate.at``, ``promoted_by``, ``promoted_at``,
``promotion.reason``, ``promotion.previous_champion``, ``promotion.forced``.
"""

from __future__ import annotations

import json
import math
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pandas as pd
import streamlit as st

from app.data import CACHE_TTL, file_version
from cryptobot.config import Settings

CHAMPION = "champion"  # models.tracking.CHAMPION (not imported: it would import numpy/mlflow code)
GATE_RUN = "promotion gate"

RUN_TAGS = (
    "cryptobot.family",
    "cryptobot.baseline",
    "cryptobot.fold",
    "cryptobot.gate",
    "training.key",
    "mlflow.parentRunId",
    "mlflow.note.content",
    "data.simulated",
)
GATE_PARAMS = ("challenger", "challenger_version", "best_baseline", "champion_before", "alpha")
VERSION_TAGS = (
    "family",
    "baseline",
    "data.simulated",
    "cv.directional_accuracy",
    "holdout.directional_accuracy",
    "holdout.binomial_p",
    "gate.decision",
    "gate.reasons",
    "gate.at",
    "promoted_by",
    "promoted_at",
    "promotion.reason",
    "promotion.previous_champion",
    "promotion.forced",
)


def store_path(settings: Settings) -> Path | None:
    """The SQLite file of the settings' MLflow store; None for any other kind of store."""
    uri = settings.tracking_uri
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri.removeprefix("sqlite:///")).expanduser().resolve()


def store_version(path: Path) -> tuple[int, ...]:
    return file_version(path) + file_version(path.with_name(path.name + "-wal"))[:2]


def _connect(path: str) -> sqlite3.Connection:
    con = sqlite3.connect(f"{Path(path).as_uri()}?mode=ro", uri=True, timeout=10)
    con.execute("pragma query_only = on")
    return con


def _read(con: sqlite3.Connection, sql: str, params: tuple = ()) -> pd.DataFrame:
    return pd.read_sql_query(sql, con, params=params)


def _ms(series: pd.Series) -> pd.Series:
    """MLflow's epoch milliseconds as naive UTC timestamps (the warehouse convention)."""
    return pd.to_datetime(series, unit="ms", utc=True).dt.tz_localize(None)


def _utc(series: pd.Series) -> pd.Series:
    """ISO times (``2026-01-01T00:00:00Z``) as naive UTC timestamps; blanks as NaT."""
    return pd.to_datetime(series, utc=True, errors="coerce").dt.tz_localize(None)


_READ_ERRORS = (sqlite3.Error, pd.errors.DatabaseError)
#: the registry's columns the pages read when the store is empty
MODEL_COLUMNS = ["name", "created", "champion", "simulated", "symbol", "timeframe"]


def _tables(path: str) -> set[str]:
    with closing(_connect(path)) as con:
        return {row[0] for row in con.execute("select name from sqlite_master where type='table'")}


def _wide(frame: pd.DataFrame, index: list[str]) -> pd.DataFrame:
    """Long (index..., key, value) rows as one column per key; the index as columns."""
    if frame.empty:
        return pd.DataFrame(columns=index)
    return (
        frame.pivot_table(index=index, columns="key", values="value", aggfunc="last")
        .reset_index()
        .rename_axis(columns=None)
    )


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join("?" * len(values)) + ")"


@st.cache_data(ttl=CACHE_TTL, max_entries=32, show_spinner=False)
def registry(path: str, version: tuple[int, ...]) -> dict[str, pd.DataFrame]:
    """Registered models (with their champion and tags) and every version with its tags."""
    del version  # part of the cache key only
    try:
        tables = _tables(path)
    except _READ_ERRORS:
        tables = {}
    if not tables or "registered_models" not in tables:  # not (yet) an MLflow store
        return {"models": pd.DataFrame(columns=MODEL_COLUMNS), "versions": pd.DataFrame()}
    with closing(_connect(path)) as con:
        models = _read(con, "select name, creation_time from registered_models order by name")
        aliases = _read(con, "select name, alias, version from registered_model_aliases")
        model_tags = _read(con, "select name, key, value from registered_model_tags")
        versions = _read(
            con,
            "select name, version, creation_time, run_id, status from model_versions "
            "order by name, version",
        )
        version_tags = _read(
            con,
            f"select name, version, key, value from model_version_tags where key in "
            f"{_in(VERSION_TAGS)}",
            VERSION_TAGS,
        )
    champions = aliases[aliases["alias"] == CHAMPION].set_index("name")["version"]
    models["created"] = _ms(models["creation_time"])
    models["champion"] = models["name"].map(champions).astype("Int64")
    tags = _wide(model_tags, ["name"]).set_index("name")
    for key in ("symbol", "timeframe", "exchange", "horizon", "data.simulated"):
        models[key] = models["name"].map(tags[key]) if key in tags else None
    models["simulated"] = models["data.simulated"].eq("true")

    versions = versions.merge(_wide(version_tags, ["name", "version"]), on=["name", "version"],
                              how="left")  # fmt: skip
    for key in VERSION_TAGS:
        if key not in versions:
            versions[key] = None
    versions["created"] = _ms(versions["creation_time"])
    versions["is_champion"] = versions["version"].eq(versions["name"].map(champions))
    for key in ("cv.directional_accuracy", "holdout.directional_accuracy", "holdout.binomial_p"):
        versions[key] = pd.to_numeric(versions[key], errors="coerce")
    for key in ("gate.at", "promoted_at"):
        versions[key] = _utc(versions[key])
    return {"models": models.drop(columns=["creation_time"]), "versions": versions}


@st.cache_data(ttl=CACHE_TTL, max_entries=64, show_spinner=False)
def experiment_runs(path: str, version: tuple[int, ...], experiment: str) -> pd.DataFrame:
    """Every active run of ``experiment``: name, times, status, the tags above, the gate
    run's params, and every latest metric as a column (``cv/...``, ``holdout/...``, ...)."""
    del version
    if "runs" not in _tables(path):
        return pd.DataFrame()
    with closing(_connect(path)) as con:
        runs = _read(
            con,
            """
            select r.run_uuid, r.name, r.status, r.start_time, r.end_time, r.artifact_uri
            from runs r join experiments e on e.experiment_id = r.experiment_id
            where e.name = ? and r.lifecycle_stage = 'active' and e.lifecycle_stage = 'active'
            """,
            (experiment,),
        )
        scope = (
            "(select r.run_uuid from runs r join experiments e using (experiment_id)"
            " where e.name = ?)"
        )
        tags = _read(
            con,
            f"select run_uuid, key, value from tags where key in {_in(RUN_TAGS)} "
            f"and run_uuid in {scope}",
            (*RUN_TAGS, experiment),
        )
        params = _read(
            con,
            f"select run_uuid, key, value from params where key in {_in(GATE_PARAMS)} "
            f"and run_uuid in {scope}",
            (*GATE_PARAMS, experiment),
        )
        metrics = _read(
            con,
            f"select run_uuid, key, value, is_nan from latest_metrics where run_uuid in {scope}",
            (experiment,),
        )
    if runs.empty:
        return runs
    metrics.loc[metrics["is_nan"].astype(bool), "value"] = float("nan")
    out = runs.set_index("run_uuid")
    for frame, prefix in ((tags, ""), (params, "param."), (metrics, "")):
        if frame.empty:
            continue
        wide = frame.pivot_table(index="run_uuid", columns="key", values="value", aggfunc="last")
        out = out.join(wide.add_prefix(prefix), how="left")
    for key in RUN_TAGS:
        if key not in out:
            out[key] = None
    out["started"] = _ms(out["start_time"])
    return out.reset_index().sort_values("start_time").reset_index(drop=True)


@st.cache_data(ttl=CACHE_TTL, max_entries=256, show_spinner=False)
def run_artifact_json(artifact_uri: str | None, name: str) -> Any:
    """A JSON artifact of a run (e.g. ``roadmap_targets.json``) from a local artifact store;
    None when the run has none or its artifacts are not on this machine."""
    if not artifact_uri or not str(artifact_uri).startswith("file:"):
        return None
    path = Path(unquote(urlparse(str(artifact_uri)).path)) / name
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def roadmap_targets(run: pd.Series) -> dict[str, list[dict]]:
    """The run's walk-forward (``cv``) and holdout metrics against the roadmap targets, as
    training recorded them (``roadmap_targets.json``: ``models.metrics.against_targets``).

    For a run without that artifact they are computed from the run's metrics with
    ``against_targets`` itself, imported only then (``models.metrics`` imports SciPy: ~0.8 s).
    """
    recorded = run_artifact_json(run.get("artifact_uri"), "roadmap_targets.json")
    if isinstance(recorded, dict) and {"cv", "holdout"} <= recorded.keys():
        return recorded
    from models.metrics import ROADMAP_TARGETS, against_targets

    def measured(prefix: str) -> dict[str, float]:
        return {m: _float(run.get(f"{prefix}/{m}")) for m in ROADMAP_TARGETS}

    return {"cv": against_targets(measured("cv")), "holdout": against_targets(measured("holdout"))}


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def target_threshold(label: str) -> float | None:
    """The threshold of a target label as ``Target.label`` writes it (``> 65%`` -> 0.65)."""
    try:
        number = label.split()[-1]
        return float(number.rstrip("%")) / (100 if number.endswith("%") else 1)
    except (AttributeError, IndexError, ValueError):
        return None


# -- shaping (pure pandas, tested through the page) ----------------------------------------------


def family_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The parent run of each family in the newest training (the training key of the newest
    gate run; without one, each family's newest parent run)."""
    if runs.empty:
        return runs
    parents = runs[runs["cryptobot.family"].notna() & runs["cryptobot.fold"].isna()]
    parents = parents[parents["name"] != GATE_RUN]
    gates = runs[runs["name"] == GATE_RUN]
    key = gates["training.key"].dropna()
    key = key[key != ""]
    if not key.empty and (parents["training.key"] == key.iloc[-1]).any():
        parents = parents[parents["training.key"] == key.iloc[-1]]
    return parents.drop_duplicates("cryptobot.family", keep="last").reset_index(drop=True)


def fold_metrics(runs: pd.DataFrame, parents: pd.DataFrame) -> pd.DataFrame:
    """Per-fold metrics (nested runs) of the given parent runs: family, fold, metrics."""
    if runs.empty or parents.empty:
        return pd.DataFrame()
    folds = runs[runs["mlflow.parentRunId"].isin(parents["run_uuid"])].copy()
    folds = folds[folds["cryptobot.fold"].notna()]
    folds["fold"] = pd.to_numeric(folds["cryptobot.fold"], errors="coerce").astype("Int64")
    folds["family"] = folds["cryptobot.family"]
    return folds.sort_values(["family", "fold"]).reset_index(drop=True)


def gate_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Every promotion-gate decision: when, decided what, challenger, champion before, why."""
    if runs.empty:
        return pd.DataFrame()
    gates = runs[runs["name"] == GATE_RUN].copy()
    columns = {
        "started": "decided_at",
        "cryptobot.gate": "decision",
        "param.challenger": "challenger",
        "param.challenger_version": "challenger_version",
        "param.champion_before": "champion_before",
        "param.best_baseline": "best_baseline",
        "mlflow.note.content": "summary",
    }
    for column in columns:
        if column not in gates:
            gates[column] = None
    gates = gates.rename(columns=columns)[list(columns.values())]
    return gates.sort_values("decided_at", ascending=False).reset_index(drop=True)


def champion_history(versions: pd.DataFrame) -> pd.DataFrame:
    """The versions that were given ``champion`` (by the gate or a human), newest first, with
    the current holder marked. MLflow keeps each version's latest promotion only."""
    promoted = versions[versions["promoted_at"].notna() | versions["is_champion"]].copy()
    if promoted.empty:
        return pd.DataFrame()
    promoted["forced"] = promoted["promotion.forced"].eq("true")
    promoted["how"] = (
        promoted["promoted_by"]
        .fillna("?")
        .where(~promoted["forced"], "override by " + promoted["promoted_by"].fillna("?"))
    )
    out = pd.DataFrame(
        {
            "promoted_at": promoted["promoted_at"],
            "version": promoted["version"],
            "family": promoted["family"],
            "current": promoted["is_champion"],
            "promoted_by": promoted["how"],
            "reason": promoted["promotion.reason"].fillna(promoted["gate.reasons"]),
            "previous_champion": promoted["promotion.previous_champion"],
            "cv_accuracy": promoted["cv.directional_accuracy"],
            "holdout_accuracy": promoted["holdout.directional_accuracy"],
        }
    )
    return out.sort_values("promoted_at", ascending=False, na_position="last").reset_index(
        drop=True
    )
