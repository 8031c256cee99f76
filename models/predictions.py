"""Champion predictions into ``ml_predictions``, and their outcomes once the bars have closed.

``predict_latest`` asks the target's ``champion`` for the newest closed bars that it has not yet
predicted and stores one row per (model, version, symbol, timeframe, bar): a re-run stores
nothing twice. ``resolve_outcomes`` fills ``actual`` (the realised log return over the horizon)
and ``correct`` (the direction call matched it) for every stored prediction whose horizon has
closed, so live accuracy can be set against the walk-forward estimate (``live_accuracy``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cryptobot.config import Settings
from cryptobot.errors import ModelError
from cryptobot.ingest import utc_now
from cryptobot.warehouse.db import read_connection, write_connection
from models.dataset import FEATURES, Target, read_feature_rows
from models.families.base import LABEL_RETURN
from models.tracking import CHAMPION, configure, load_model, model_lookback


@dataclass(frozen=True)
class PredictionResult:
    target: str
    version: str | None
    family: str | None
    stored: int  # new rows in ml_predictions
    latest_ts: pd.Timestamp | None
    latest: dict | None  # the newest prediction (pred_return, prob_up, direction, confidence)


@dataclass
class Champion:
    """A target's ``champion``, loaded once: which version it is and how to ask it."""

    target: Target
    version: str
    family: str | None
    model: object  # the mlflow pyfunc
    columns: list[str]  # its input signature
    lookback: int  # rows of history it needs for the newest row
    #: the first bar of its holdout: it was trained on the bars before (None: not recorded)
    holdout_start: pd.Timestamp | None = None

    def trained_on(self, bar_ts) -> bool:
        """Whether the model trained on the bar opening at ``bar_ts`` (an in-sample bar)."""
        return self.holdout_start is not None and pd.Timestamp(bar_ts) < self.holdout_start

    @property
    def required(self) -> list[str]:
        """Inputs that must be present (sentiment may be missing: the models carry its age)."""
        return [c for c in self.columns if c in FEATURES and c != "sentiment"]

    def predict(self, rows: pd.DataFrame, bars: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(output, rows answered) for the newest ``bars`` of ``rows`` (oldest first, features
        complete); bars the model could not answer (too little history) are left out."""
        window = rows.iloc[-(bars + self.lookback - 1) :]
        output = self.model.predict(window[self.columns].astype("float64")).iloc[-bars:]
        answered = np.isfinite(output["pred_return"].to_numpy()) & np.isfinite(output["prob_up"])
        return output[answered], window.iloc[-bars:][answered]

    def rows(self, output: pd.DataFrame, predicted: pd.DataFrame) -> pd.DataFrame:
        """``ml_predictions`` rows for an answer of :meth:`predict`."""
        target = self.target
        return pd.DataFrame(
            {
                "model_name": target.name,
                "model_version": self.version,
                "symbol": target.symbol,
                "timeframe": target.timeframe,
                "ts": predicted["ts"].to_numpy(),
                "predicted": output["pred_return"].to_numpy(),
                "confidence": output["confidence"].to_numpy(),
                "exchange": target.exchange,
                "horizon": target.horizon,
                "family": self.family,
                "prob_up": output["prob_up"].to_numpy(),
                "direction": output["direction"].to_numpy().astype("int16"),
                "is_simulated": predicted["is_simulated"].to_numpy(),
                "created_at": utc_now(),
            }
        )


def load_champion(settings: Settings, target: Target) -> Champion | None:
    """The target's champion, or None when no version holds the alias."""
    client = configure(settings)
    from mlflow.exceptions import MlflowException

    try:
        version = client.get_model_version_by_alias(target.name, CHAMPION)
    except MlflowException:
        return None
    return load_version(settings, target, str(version.version), version.tags.get("family"))


def no_champion_reason(settings: Settings, target: Target) -> str:
    """Why ``target`` has no champion, for the trading flow's audit: the gate refused its newest
    challenger (and why), no version was passed, or nothing was trained."""
    from mlflow.exceptions import MlflowException

    client = configure(settings)
    try:
        versions = client.search_model_versions(f"name='{target.name}'", max_results=10000)
    except MlflowException:
        versions = []
    refused = [v for v in versions if (v.tags or {}).get("gate.decision") == "refused"]
    if refused:
        newest = max(refused, key=lambda v: int(v.version))
        return (
            f"no champion for {target.name}: its challenger v{newest.version} "
            f"({newest.tags.get('family', '?')}) was refused by the gate: "
            f"{newest.tags.get('gate.reasons', 'no reason recorded')} (a human override: "
            "`cryptobot promote --force --reason`)"
        )
    if versions:
        return (
            f"no champion for {target.name}: no version was passed by the gate "
            f"(see `cryptobot models {target.name}`)"
        )
    return f"no champion for {target.name}: run `cryptobot train`"


def load_version(settings: Settings, target: Target, version: str, family: str | None) -> Champion:
    """Version ``version`` of the target's registered model, ready to predict as the trading
    flow asks it (the champion, a backtest's model, the lookahead check's)."""
    model = load_model(f"models:/{target.name}/{version}", settings)
    return Champion(
        target=target,
        version=str(version),
        family=family,
        model=model,
        columns=model.metadata.get_input_schema().input_names(),
        lookback=model_lookback(model),
        holdout_start=holdout_start(settings, target.name, version),
    )


def holdout_start(settings: Settings, name: str, version: str) -> pd.Timestamp | None:
    """The first holdout bar of a registered version's training run: the version's model was
    trained on the bars before it (their predictions are in-sample). None when not recorded."""
    from mlflow.exceptions import MlflowException

    client = configure(settings)
    try:
        run_id = client.get_model_version(name, str(version)).run_id
        value = client.get_run(run_id).data.params.get("holdout_start") if run_id else None
    except MlflowException:
        return None
    return None if value is None or pd.isna(pd.Timestamp(value)) else pd.Timestamp(value)


def store_predictions(con, frame: pd.DataFrame) -> int:
    """Insert ``ml_predictions`` rows, keeping any already stored; returns how many were new."""
    if frame.empty:
        return 0
    name = frame["model_name"].iloc[0]
    before = _count(con, name)
    con.register("new_predictions", frame)
    try:
        con.execute(
            "insert into ml_predictions by name select * from new_predictions "
            "on conflict do nothing"
        )
    finally:
        con.unregister("new_predictions")
    return _count(con, name) - before


def predict_latest(settings: Settings, target: Target, *, bars: int = 1) -> PredictionResult:
    """Predict the newest ``bars`` feature rows with the champion and store the new ones.

    A target with no champion stores nothing.
    """
    if bars < 1:
        raise ModelError(f"bars must be at least 1, got {bars}")
    champion = load_champion(settings, target)
    if champion is None:
        return PredictionResult(target.name, None, None, 0, None, None)
    rows = read_feature_rows(settings, target).dropna(subset=champion.required)
    if rows.empty:
        raise ModelError(f"no feature rows for {target.name}: run `cryptobot features` first")
    output, predicted = champion.predict(rows, bars)
    frame = champion.rows(output, predicted)
    with write_connection(settings.warehouse, timeout=settings.write_lock_timeout) as con:
        stored = store_predictions(con, frame)
    return PredictionResult(
        target.name,
        champion.version,
        champion.family,
        stored,
        predicted["ts"].iloc[-1] if len(predicted) else None,
        output.iloc[-1].to_dict() if len(output) else None,
    )


def _count(con, name: str) -> int:
    # fetchall: DuckDB 2 keeps a half-read result open and refuses the next statement
    return con.execute(
        "select count(*) from ml_predictions where model_name = ?", [name]
    ).fetchall()[0][0]


def resolve_outcomes(settings: Settings) -> int:
    """Fill ``actual`` and ``correct`` of every prediction whose horizon has closed; returns
    how many rows were resolved."""
    with read_connection(settings.warehouse, timeout=settings.write_lock_timeout) as con:
        open_rows = con.execute(
            """
            select distinct model_name, min(ts) as since
            from ml_predictions where actual is null and exchange is not null
            group by model_name
            """
        ).fetchall()
    if not open_rows:
        return 0
    outcomes = []
    for name, since in open_rows:
        target = Target.from_name(name)
        rows = read_feature_rows(settings, target, since=pd.Timestamp(since))
        known = rows.dropna(subset=[LABEL_RETURN])
        outcomes.append(
            pd.DataFrame({"model_name": name, "ts": known["ts"], "actual": known[LABEL_RETURN]})
        )
    outcomes = pd.concat(outcomes, ignore_index=True)
    if outcomes.empty:
        return 0
    with write_connection(settings.warehouse, timeout=settings.write_lock_timeout) as con:
        con.register("outcomes", outcomes)
        resolved = con.execute(
            """
            update ml_predictions p
            set actual = o.actual,
                correct = (p.direction = 1) = (o.actual > 0),
                resolved_at = ?
            from outcomes o
            where p.model_name = o.model_name and p.ts = o.ts and p.actual is null
            returning 1
            """,
            [utc_now()],
        ).fetchall()
        con.unregister("outcomes")
    return len(resolved)


def live_accuracy(settings: Settings) -> dict[tuple[str, str], tuple[int, float]]:
    """(model name, version) -> (resolved predictions, share correct)."""
    with read_connection(settings.warehouse, timeout=settings.write_lock_timeout) as con:
        rows = con.execute(
            """
            select model_name, model_version, count(*), avg(correct::int)
            from ml_predictions where correct is not null
            group by all
            """
        ).fetchall()
    return {(name, version): (n, float(share)) for name, version, n, share in rows}
