"""Walk-forward training of every family for one target, tracked in MLflow, then the gate.

``train_target`` is the whole job for one (exchange, symbol, timeframe, horizon):

1. load the labelled feature rows (``models.dataset``) and plan the folds (``models.splits``):
   folds move forward in time, an embargo of at least the horizon separates each training
   window from its test block, and the final holdout is never used for any choice;
2. per family, one MLflow run (nested runs per fold): fit on each fold's training rows, forecast
   its test rows, score them (``models.metrics``); then fit on all development rows, forecast
   the holdout, score it, test it (binomial vs 50%, Diebold-Mariano vs the best baseline) and
   register the model as a version of the target's registered model;
3. the gate (``models.gate``) gives ``champion`` to the best non-baseline family by walk-forward
   accuracy only if it beats the best baseline and the current champion on the holdout, and
   records why when it refuses.

Only out-of-sample numbers are reported anywhere: per fold, pooled over the folds (``cv/``) and on
the holdout (``holdout/``). The baselines always run, whatever families are asked for.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cryptobot.backtest.metrics import deflated_sharpe_ratio
from cryptobot.config import Settings
from cryptobot.errors import ModelError
from models import gate as gate_module
from models.dataset import Dataset, Target, dbt_manifest_info, load_dataset
from models.families import family_names, get_family
from models.families.base import LABEL_RETURN, Forecaster
from models.families.baselines import PAST_RETURN
from models.judge import Judge
from models.metrics import against_targets, forecast_metrics
from models.recovery import COMPLETE_TAG, owner_tags, recover_interrupted
from models.significance import (
    binomial_test,
    diebold_mariano,
    direction_error,
    squared_error,
)
from models.splits import WalkForwardPlan, walk_forward
from models.tracking import (
    CHAMPION,
    code_version,
    configure,
    ensure_experiment,
    load_model,
    log_forecaster,
    model_lookback,
)

BASELINES = ("persistence", "always_up", "zero_return")


@dataclass
class Evaluation:
    """Out-of-sample forecasts of one family on one target, and their scores."""

    family: str
    is_baseline: bool
    params: dict[str, Any]
    fold_metrics: list[dict[str, float]]
    cv_predictions: pd.DataFrame  # pooled fold test rows: ts, actual, next_return, forecasts
    cv_metrics: dict[str, float]
    holdout_predictions: pd.DataFrame
    holdout_metrics: dict[str, float]
    model: Forecaster  # fitted on the development rows; scored on the holdout
    seconds: float
    significance: dict[str, float] = field(default_factory=dict)
    run_id: str | None = None
    version: str | None = None
    holdout_returns: np.ndarray | None = None  # bar returns of the holdout backtest


@dataclass
class TargetResult:
    target: Target
    dataset: Dataset
    plan: WalkForwardPlan
    evaluations: list[Evaluation]
    best_baseline: str
    decision: gate_module.GateDecision | None
    alpha: float = 0.01
    fee: float = 0.001
    experiment_id: str | None = None
    buy_and_hold: dict[str, float] = field(default_factory=dict)  # its holdout backtest
    strategy: str = "long_flat"
    previous: dict[str, Any] | None = None  # the earlier summary when nothing changed


def resolve_families(requested: list[str] | tuple[str, ...]) -> list[str]:
    """The baselines first (always), then the requested families, each once."""
    known = family_names()
    unknown = [name for name in requested if name not in known]
    if unknown:
        raise ValueError(
            f"unknown model family {', '.join(map(repr, unknown))}; known: {', '.join(known)}"
        )
    rest = [name for name in dict.fromkeys(requested) if name not in BASELINES]
    return [*BASELINES, *rest]


def _forecast(model: Forecaster, frame: pd.DataFrame, rows: range) -> pd.DataFrame:
    """The model's forecasts for ``rows`` of ``frame``, given the history rows it needs."""
    start = max(0, rows.start - model.lookback + 1)
    predictions = model.predict(frame.iloc[start : rows.stop])
    return predictions.iloc[rows.start - start :]


def score(frame: pd.DataFrame, predictions: pd.DataFrame) -> dict[str, float]:
    """Forecast metrics of ``predictions`` (aligned with ``frame``'s rows).

    Rows a model could not answer for (no history yet) are scored as a flat, 50% forecast: the
    model gets no credit for them and no rows are dropped from the comparison. What trading the
    predictions earns is the execution core's backtest (:class:`models.judge.Judge`).
    """
    pred_return = predictions["pred_return"].fillna(0.0).to_numpy()
    prob_up = predictions["prob_up"].fillna(0.5).to_numpy()
    actual = frame[LABEL_RETURN].to_numpy()
    return forecast_metrics(actual, pred_return, prob_up)


def _with_actuals(frame: pd.DataFrame, predictions: pd.DataFrame) -> pd.DataFrame:
    out = frame[["ts", LABEL_RETURN, "next_return"]].copy()
    out["pred_return"] = predictions["pred_return"].to_numpy()
    out["prob_up"] = predictions["prob_up"].to_numpy()
    return out.reset_index(drop=True)


def evaluate_family(
    dataset: Dataset,
    plan: WalkForwardPlan,
    family: str,
    *,
    seed: int,
    judge: Judge,
    params: dict[str, Any] | None = None,
    log: Callable[[str], None] = print,
) -> Evaluation:
    """Walk-forward evaluation of one family, then its fit on all development rows, scored on
    the holdout: forecast metrics and the execution core's after-cost backtest of trading the
    predictions (per fold, over the folds' test blocks in a row, and on the holdout). Plain
    computation: ``log_evaluation`` records the result in MLflow."""
    started = time.perf_counter()
    cls = get_family(family)
    frame = dataset.frame
    horizon = dataset.target.horizon
    fold_metrics, pooled = [], []
    for fold in plan.folds:
        model = cls(seed=seed, horizon=horizon, **(params or {}))
        model.fit(frame.iloc[fold.train.start : fold.train.stop], dataset.features)
        predictions = _forecast(model, frame, fold.test)
        test = frame.iloc[fold.test.start : fold.test.stop]
        answered = _with_actuals(test, predictions).assign(fold=fold.number)
        fold_metrics.append(score(test, predictions) | judge(answered).metrics)
        pooled.append(answered)
    cv_predictions = pd.concat(pooled, ignore_index=True)
    cv_metrics = score(cv_predictions, cv_predictions) | judge(cv_predictions).metrics
    model = cls(seed=seed, horizon=horizon, **(params or {}))
    model.fit(frame.iloc[plan.final_train.start : plan.final_train.stop], dataset.features)
    holdout = frame.iloc[plan.holdout.start : plan.holdout.stop]
    holdout_raw = _forecast(model, frame, plan.holdout)
    holdout_predictions = _with_actuals(holdout, holdout_raw)
    backtest = judge(holdout_predictions)
    holdout_metrics = score(holdout, holdout_raw) | backtest.metrics
    seconds = time.perf_counter() - started
    log(
        f"  {family:<12} cv accuracy {cv_metrics['directional_accuracy']:.2%}  "
        f"holdout {holdout_metrics['directional_accuracy']:.2%}  ({seconds:.1f} s)"
    )
    return Evaluation(
        family=family,
        is_baseline=cls.is_baseline,
        params=model.params,
        fold_metrics=fold_metrics,
        cv_predictions=cv_predictions,
        cv_metrics=cv_metrics,
        holdout_predictions=holdout_predictions,
        holdout_metrics=holdout_metrics,
        model=model,
        seconds=seconds,
        holdout_returns=backtest.bar_returns,
    )


def _moved(predictions: pd.DataFrame) -> pd.DataFrame:
    """The rows whose realised return was not exactly zero: a zero is neither up nor down."""
    return predictions[predictions[LABEL_RETURN].to_numpy() != 0]


def _direction_losses(predictions: pd.DataFrame) -> np.ndarray:
    return direction_error(
        predictions[LABEL_RETURN].to_numpy(), predictions["prob_up"].fillna(0.5).to_numpy()
    )


def _squared_losses(predictions: pd.DataFrame) -> np.ndarray:
    return squared_error(
        predictions[LABEL_RETURN].to_numpy(), predictions["pred_return"].fillna(0.0).to_numpy()
    )


def majority_share(predictions: pd.DataFrame) -> float:
    """The larger of the up and down shares among the rows that moved: what always calling the
    majority direction scores (the binomial test's null)."""
    moved = _moved(predictions)[LABEL_RETURN].to_numpy()
    if moved.size == 0:
        return 0.5
    up = float(np.mean(moved > 0))
    return max(up, 1.0 - up)


def add_significance(evaluations: list[Evaluation], horizon: int) -> str:
    """Binomial test of every family's holdout accuracy against always calling the holdout's
    majority direction (bars that did not move left out); Diebold-Mariano of every model
    against the best baseline (chosen on walk-forward accuracy). Returns the best baseline."""
    baselines = [e for e in evaluations if e.is_baseline]
    best = max(baselines, key=lambda e: _or_minus(e.cv_metrics["directional_accuracy"]))
    for evaluation in evaluations:
        holdout = evaluation.holdout_predictions
        moved = _moved(holdout)
        null = majority_share(holdout)
        evaluation.significance["majority_share"] = null
        accuracy = evaluation.holdout_metrics["directional_accuracy"]
        hits = 0 if np.isnan(accuracy) else int(round(accuracy * len(moved)))
        evaluation.significance["binomial_p"] = (
            binomial_test(hits, len(moved), p=min(null, 1 - 1e-12)) if len(moved) else 1.0
        )
        if evaluation is best:
            continue
        best_moved = _moved(best.holdout_predictions)
        for loss, losses, mine, theirs in (
            ("direction", _direction_losses, moved, best_moved),
            ("squared", _squared_losses, holdout, best.holdout_predictions),
        ):
            dm = diebold_mariano(losses(mine), losses(theirs), horizon=horizon)
            evaluation.significance[f"dm_{loss}_statistic"] = dm.statistic
            evaluation.significance[f"dm_{loss}_p"] = dm.p_value
    return best.family


def _or_minus(value: float) -> float:
    return -np.inf if value is None or np.isnan(value) else value


# -- MLflow ------------------------------------------------------------------------------------


def _run_tags(settings: Settings, dataset: Dataset) -> dict[str, str]:
    return {
        "cryptobot.target": dataset.target.name,
        "cryptobot.exchange": dataset.target.exchange,
        "cryptobot.symbol": dataset.target.symbol,
        "cryptobot.timeframe": dataset.target.timeframe,
        "data.simulated": str(dataset.is_simulated).lower(),
        "data.fingerprint": dataset.fingerprint,
        "code.version": code_version(),
        **owner_tags(),  # whose process: a killed training's runs are found by the next one
        **{
            f"dbt.{key.removeprefix('dbt_')}": value
            for key, value in dbt_manifest_info(settings).items()
        },
    }


def _clean(metrics: dict[str, float], prefix: str) -> dict[str, float]:
    """MLflow metrics: finite floats only (NaN/inf are left out and shown as missing)."""
    return {
        f"{prefix}{key}": float(value)
        for key, value in metrics.items()
        if value is not None and np.isfinite(value)
    }


def _log_frame(mlflow, frame: pd.DataFrame, name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        frame.to_parquet(path, index=False)
        mlflow.log_artifact(str(path))


def log_evaluation(
    run_tags: dict[str, str],
    client,
    experiment_id: str,
    dataset: Dataset,
    plan: WalkForwardPlan,
    evaluation: Evaluation,
    *,
    config: dict[str, Any],
    best_baseline: str,
    key: str | None = None,
) -> None:
    """One parent run per family (nested runs per fold), the model registered as a version.
    ``run_tags`` are the target's tags (``_run_tags``), computed once per training."""
    import mlflow
    import mlflow.data

    target = dataset.target
    fingerprint = run_tags["data.fingerprint"]
    tags = run_tags | {
        "cryptobot.family": evaluation.family,
        "cryptobot.baseline": str(evaluation.is_baseline).lower(),
        "mlflow.runName": evaluation.family,
        "training.key": key or "",
    }
    with mlflow.start_run(experiment_id=experiment_id, run_name=evaluation.family, tags=tags):
        run = mlflow.active_run()
        mlflow.log_params(
            {**config, **{f"model.{k}": v for k, v in evaluation.params.items()}}
            | {
                "family": evaluation.family,
                "features": ",".join(dataset.features),
                "dropped_features": json.dumps(dataset.dropped_features),
                "rows": len(dataset.frame),
                "data_start": str(dataset.start),
                "data_end": str(dataset.end),
                "holdout_start": str(dataset.frame["ts"].iloc[plan.holdout.start]),
                "holdout_end": str(dataset.frame["ts"].iloc[plan.holdout.stop - 1]),
                "strategy": run_tags.get("trading.strategy", ""),
                "best_baseline": best_baseline,
            }
        )
        ml_dataset = mlflow.data.from_pandas(
            dataset.frame[["ts", *dataset.features, LABEL_RETURN, "next_return"]],
            name=target.name,
            targets=LABEL_RETURN,
            digest=fingerprint[:36],
        )
        mlflow.log_input(ml_dataset, context="training")
        for fold, metrics in zip(plan.folds, evaluation.fold_metrics, strict=True):
            with mlflow.start_run(
                experiment_id=experiment_id,
                run_name=f"{evaluation.family} fold {fold.number}",
                nested=True,
                tags={"cryptobot.family": evaluation.family, "cryptobot.fold": str(fold.number)},
            ):
                mlflow.log_params(
                    {
                        "fold": fold.number,
                        "train_rows": len(fold.train),
                        "test_rows": len(fold.test),
                        "train_start": str(dataset.frame["ts"].iloc[fold.train.start]),
                        "test_start": str(dataset.frame["ts"].iloc[fold.test.start]),
                        "test_end": str(dataset.frame["ts"].iloc[fold.test.stop - 1]),
                    }
                )
                mlflow.log_metrics(_clean(metrics, ""))
            mlflow.log_metrics(_clean(metrics, "fold/"), step=fold.number)
        mlflow.log_metrics(_clean(evaluation.cv_metrics, "cv/"))
        mlflow.log_metrics(_clean(evaluation.holdout_metrics, "holdout/"))
        mlflow.log_metrics(_clean(evaluation.significance, "holdout/"))
        mlflow.log_metric("train_seconds", evaluation.seconds)
        mlflow.log_dict(plan.describe(), "walk_forward_plan.json")
        mlflow.log_dict(
            {
                "cv": against_targets(evaluation.cv_metrics),
                "holdout": against_targets(evaluation.holdout_metrics),
            },
            "roadmap_targets.json",
        )
        if hasattr(evaluation.model, "feature_importance"):
            mlflow.log_dict(evaluation.model.feature_importance(), "feature_importance.json")
        _log_frame(mlflow, evaluation.cv_predictions, "cv_predictions.parquet")
        _log_frame(mlflow, evaluation.holdout_predictions, "holdout_predictions.parquet")
        evaluation.version = log_forecaster(
            evaluation.model,
            input_columns=[*dataset.features, PAST_RETURN],
            registered_name=target.name,
            metadata={
                "target": target.name,
                "horizon": target.horizon,
                "features": dataset.features,
                "simulated": dataset.is_simulated,
            },
        )
        evaluation.run_id = run.info.run_id
    version_tags = {
        "family": evaluation.family,
        "baseline": str(evaluation.is_baseline).lower(),
        "run_id": evaluation.run_id,
        "data.simulated": str(dataset.is_simulated).lower(),
        "data.fingerprint": fingerprint,
        "holdout.directional_accuracy": f"{evaluation.holdout_metrics['directional_accuracy']:.6f}",
        "holdout.binomial_p": f"{evaluation.significance['binomial_p']:.6g}",
        "cv.directional_accuracy": f"{evaluation.cv_metrics['directional_accuracy']:.6f}",
    }
    for key, value in version_tags.items():
        client.set_model_version_tag(target.name, evaluation.version, key, value)


def _champion_score(
    settings: Settings,
    client,
    target: Target,
    frame: pd.DataFrame,
    plan: WalkForwardPlan,
    judge: Judge,
):
    """The current champion on this holdout: its accuracy (bars that moved) and what trading
    its predictions earns after costs (None when there is no champion)."""
    from mlflow.exceptions import MlflowException

    try:
        version = client.get_model_version_by_alias(target.name, CHAMPION)
    except MlflowException:
        return None
    model = load_model(f"models:/{target.name}@{CHAMPION}", settings)
    columns = model.metadata.get_input_schema().input_names()
    start = max(0, plan.holdout.start - model_lookback(model) + 1)
    rows = frame.iloc[start : plan.holdout.stop]
    output = model.predict(rows[columns].astype("float64")).iloc[plan.holdout.start - start :]
    holdout = frame.iloc[plan.holdout.start : plan.holdout.stop]
    scored = score(holdout, output.reset_index(drop=True).set_index(holdout.index))
    answered = _with_actuals(holdout, output.reset_index(drop=True).set_index(holdout.index))
    moved = int((holdout[LABEL_RETURN].to_numpy() != 0).sum())
    accuracy = scored["directional_accuracy"]
    null = majority_share(answered)
    return gate_module.Scored(
        family=version.tags.get("family", "?"),
        version=version.version,
        directional_accuracy=accuracy,
        binomial_p=(
            binomial_test(int(round(accuracy * moved)), moved, p=min(null, 1 - 1e-12))
            if moved and not np.isnan(accuracy)
            else 1.0
        ),
        after_cost_return=judge(answered).metrics["total_return"],
    )


def trial_sharpes(
    client,
    experiment_id: str | None,
    holdout: tuple[pd.Timestamp, pd.Timestamp],
    evaluations: list[Evaluation],
) -> dict[str, float]:
    """Every challenger tested on this holdout, by configuration (family and hyper-parameters),
    with its per-bar after-cost holdout Sharpe: the trials the deflated Sharpe ratio counts.

    A trial is a non-baseline family run of this target's experiment whose holdout overlaps at
    least half of this one (a retraining a day later re-uses most of the same bars); the same
    configuration run again (a retrain on a few new bars) counts once, with its newest Sharpe.
    The gate keeps the count in MLflow's own runs, so nothing can forget it.
    """
    trials: dict[str, tuple[float, float]] = {}  # configuration -> (start time, sharpe)
    start, end = holdout
    span = (end - start).total_seconds() or 1.0

    def key(family: str, params: dict[str, Any]) -> str:
        return family + json.dumps(
            {k: str(v) for k, v in params.items() if k.startswith("model.")}, sort_keys=True
        )

    if client is not None and experiment_id is not None:
        runs = client.search_runs(
            [experiment_id],
            filter_string="tags.`cryptobot.baseline` = 'false'",
            max_results=5000,
        )
        for run in runs:
            params = run.data.params
            sharpe = run.data.metrics.get("holdout/sharpe_bar")
            if sharpe is None or "holdout_start" not in params or "holdout_end" not in params:
                continue  # judged before the after-cost gate: no comparable Sharpe
            overlap = min(end, pd.Timestamp(params["holdout_end"])) - max(
                start, pd.Timestamp(params["holdout_start"])
            )
            if overlap.total_seconds() < 0.5 * span:
                continue
            name = key(params.get("family", "?"), params)
            if name not in trials or run.info.start_time > trials[name][0]:
                trials[name] = (run.info.start_time, float(sharpe))
    for e in evaluations:  # this training's challengers (already among the runs when tracked)
        if not e.is_baseline:
            name = key(e.family, {f"model.{k}": v for k, v in e.params.items()})
            value = e.holdout_metrics.get("sharpe_bar", np.nan)
            if name not in trials and np.isfinite(value):
                trials[name] = (np.inf, float(value))
    return {name: sharpe for name, (_, sharpe) in trials.items()}


def gate_decision(
    name: str,
    evaluations: list[Evaluation],
    best_baseline: str,
    champion: gate_module.Scored | None,
    *,
    alpha: float,
    baseline_alpha: float = 0.05,
    dsr_threshold: float = 0.95,
    buy_and_hold_return: float = np.nan,
    trials: dict[str, float] | None = None,
) -> tuple[gate_module.GateDecision, Evaluation | None]:
    """The challenger (best non-baseline by walk-forward accuracy) and the gate's decision.
    ``trials``: every challenger tested on this holdout (configuration -> per-bar Sharpe)."""
    by_family = {e.family: e for e in evaluations}
    models = [e for e in evaluations if not e.is_baseline]
    challenger = max(
        models, key=lambda e: _or_minus(e.cv_metrics["directional_accuracy"]), default=None
    )

    def scored(e: Evaluation, *, deflate: bool = False) -> gate_module.Scored:
        dsr, counted = None, 0
        if deflate and e.holdout_returns is not None and e.holdout_returns.size > 2:
            sharpes = list((trials or {}).values()) or [e.holdout_metrics.get("sharpe_bar")]
            sharpes = [v for v in sharpes if v is not None and np.isfinite(v)]
            counted = max(len(sharpes), 1)
            try:
                dsr = deflated_sharpe_ratio(e.holdout_returns, sharpes or [0.0]).dsr
            except ValueError:
                dsr = None
        return gate_module.Scored(
            family=e.family,
            version=e.version,
            directional_accuracy=e.holdout_metrics["directional_accuracy"],
            binomial_p=e.significance["binomial_p"],
            dm_p=e.significance.get("dm_direction_p"),
            dm_statistic=e.significance.get("dm_direction_statistic"),
            after_cost_return=e.holdout_metrics.get("total_return", np.nan),
            sharpe=e.holdout_metrics.get("sharpe", np.nan),
            dsr=dsr,
            trials=counted,
        )

    majority = by_family[best_baseline].significance.get("majority_share", 0.5)
    decision = gate_module.decide(
        name,
        scored(challenger, deflate=True) if challenger else None,
        scored(by_family[best_baseline]),
        champion,
        baselines=[scored(e) for e in evaluations if e.is_baseline],
        buy_and_hold_return=buy_and_hold_return,
        alpha=alpha,
        baseline_alpha=baseline_alpha,
        dsr_threshold=dsr_threshold,
        majority=majority,
    )
    return decision, challenger


def _holdout_span(dataset: Dataset, plan: WalkForwardPlan) -> tuple[pd.Timestamp, pd.Timestamp]:
    ts = dataset.frame["ts"]
    return ts.iloc[plan.holdout.start], ts.iloc[plan.holdout.stop - 1]


def apply_gate(
    settings: Settings,
    client,
    experiment_id: str,
    result_parts: tuple[Dataset, WalkForwardPlan, list[Evaluation], str],
    *,
    run_tags: dict[str, str],
    judge: Judge,
    buy_and_hold_return: float,
    key: str | None = None,
) -> tuple[gate_module.GateDecision, str]:
    """Decide, record the decision (a run + version tags), and move the alias if promoted.
    Returns the decision and the gate run's id."""
    import mlflow

    dataset, plan, evaluations, best_baseline = result_parts
    target = dataset.target
    champion = _champion_score(settings, client, target, dataset.frame, plan, judge)
    trials = trial_sharpes(client, experiment_id, _holdout_span(dataset, plan), evaluations)
    decision, challenger_eval = gate_decision(
        target.name,
        evaluations,
        best_baseline,
        champion,
        alpha=settings.training.alpha,
        baseline_alpha=settings.training.baseline_alpha,
        dsr_threshold=settings.training.dsr_threshold,
        buy_and_hold_return=buy_and_hold_return,
        trials=trials,
    )
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    with mlflow.start_run(
        experiment_id=experiment_id,
        run_name="promotion gate",
        tags=run_tags
        | {
            "cryptobot.gate": "promoted" if decision.promoted else "refused",
            "mlflow.note.content": decision.summary(),
            "training.key": key or "",
        },
    ) as gate_run:
        mlflow.log_params(
            {
                "challenger": challenger_eval.family if challenger_eval else "none",
                "challenger_version": challenger_eval.version if challenger_eval else "none",
                "best_baseline": best_baseline,
                "champion_before": f"{champion.family} v{champion.version}" if champion else "none",
                "alpha": settings.training.alpha,
                "baseline_alpha": settings.training.baseline_alpha,
                "dsr_threshold": settings.training.dsr_threshold,
                "trials": len(trials),
            }
        )
        mlflow.log_metric("promoted", float(decision.promoted))
        if decision.challenger is not None and decision.challenger.dsr is not None:
            mlflow.log_metric("deflated_sharpe", decision.challenger.dsr)
        mlflow.log_dict(
            {
                "decision": "promoted" if decision.promoted else "refused",
                "summary": decision.summary(),
                "checks": [check.__dict__ for check in decision.checks],
                "reasons": decision.reasons,
            },
            "gate_decision.json",
        )
    if challenger_eval is not None:
        client.set_model_version_tag(
            target.name,
            challenger_eval.version,
            "gate.decision",
            "promoted" if decision.promoted else "refused",
        )
        client.set_model_version_tag(
            target.name,
            challenger_eval.version,
            "gate.reasons",
            "; ".join(decision.reasons) or "all checks passed",
        )
        client.set_model_version_tag(target.name, challenger_eval.version, "gate.at", now)
    for evaluation in evaluations:  # the gate judged this training: none of it is half-done
        client.set_model_version_tag(target.name, evaluation.version, COMPLETE_TAG, "true")
    if decision.promoted:
        client.set_registered_model_alias(target.name, CHAMPION, challenger_eval.version)
        client.set_model_version_tag(target.name, challenger_eval.version, "promoted_by", "gate")
        client.set_model_version_tag(target.name, challenger_eval.version, "promoted_at", now)
    return decision, gate_run.info.run_id


def _source_hash() -> str:
    """sha256 of the model code (every .py under models/): a changed model retrains."""
    digest = hashlib.sha256()
    root = Path(__file__).resolve().parent
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def training_key(dataset: Dataset, names: list[str], config: dict[str, Any]) -> str:
    """What makes a training run unique: the rows, the families and their hyper-parameters,
    the settings, the model code and the libraries. The same key means the same result."""
    import mlflow

    payload = {
        "target": dataset.target.name,
        "fingerprint": dataset.fingerprint,
        "features": dataset.features,
        "families": {name: get_family(name).default_params() for name in names},
        "config": config,
        "code": _source_hash(),
        "libraries": [mlflow.__version__, *(r for n in names for r in get_family(n).requirements)],
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _previous_summary(client, experiment_id: str, key: str) -> dict[str, Any] | None:
    """The summary of an earlier run of exactly this training (same key), if any."""
    import mlflow.artifacts

    runs = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`training.key` = '{key}' and attributes.run_name = 'promotion gate'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not runs:
        return None
    try:
        summary = mlflow.artifacts.load_dict(f"{runs[0].info.artifact_uri}/summary.json")
    except Exception:  # noqa: BLE001 - an older run without a summary: train again
        return None
    started = datetime.fromtimestamp(runs[0].info.start_time / 1000, UTC)
    return {**summary, "unchanged_since": f"{started:%Y-%m-%d %H:%M} UTC"}


def train_target(
    settings: Settings,
    target: Target,
    *,
    families: list[str] | None = None,
    folds: int | None = None,
    log: Callable[[str], None] = print,
    track: bool = True,
    retrain: bool = False,
) -> TargetResult:
    """Train, evaluate, log, register and gate every family for one target.

    Idempotent: when the same rows, families, settings and code were trained before, nothing is
    trained or registered again and the earlier result is reported (``retrain`` forces a run).
    """
    training = settings.training
    try:
        names = resolve_families(families or training.families)
        dataset = load_dataset(settings, target)
        embargo = max(training.embargo or target.horizon, target.horizon)
        plan = walk_forward(
            len(dataset.frame),
            folds=folds or training.folds,
            holdout_fraction=training.holdout_fraction,
            embargo=embargo,
            window=training.window,
            min_train=training.min_train,
        )
    except ValueError as exc:
        raise ModelError(f"cannot train {target.name}: {exc}") from None
    holdout_ts = dataset.frame["ts"].iloc[plan.holdout.start]
    log(
        f"{target.name}: {len(dataset.frame):,} rows {dataset.start:%Y-%m-%d} .. "
        f"{dataset.end:%Y-%m-%d}, {len(plan.folds)} folds ({training.window}), embargo "
        f"{embargo} bar(s), holdout from {holdout_ts:%Y-%m-%d %H:%M} ({len(plan.holdout):,} rows)"
        + (" [SIMULATED]" if dataset.is_simulated else "")
    )
    if dataset.dropped_features:
        log(f"  features left out (mostly null): {dataset.dropped_features}")
    config = {
        "horizon": target.horizon,
        "folds": len(plan.folds),
        "window": training.window,
        "embargo": embargo,
        "holdout_fraction": training.holdout_fraction,
        "min_train": training.min_train,
        "seed": training.seed,
        "alpha": training.alpha,
        "baseline_alpha": training.baseline_alpha,
        "dsr_threshold": training.dsr_threshold,
        # what the after-cost backtests depend on
        "trading": settings.trading.model_dump(
            include={
                "strategy",
                "min_confidence",
                "rebalance_threshold",
                "fee",
                "spread",
                "slippage",
                "impact",
                "correlation_window",
                "liquidity_window",
                "initial_capital",
            }
        ),
        "risk": settings.risk.model_dump(),
    }
    client = experiment_id = key = None
    if track:
        client = configure(settings)
        experiment_id = ensure_experiment(
            settings,
            client,
            target.name,
            tags={
                "cryptobot.target": target.name,
                "data.simulated": str(dataset.is_simulated).lower(),
            },
        )
        recovered = recover_interrupted(client, experiment_id, target.name)
        if recovered.failed_runs or recovered.incomplete_versions:
            log("  " + recovered.describe(target.name))
        key = training_key(dataset, names, config)
        previous = None if retrain else _previous_summary(client, experiment_id, key)
        if previous is not None:
            log(
                f"  unchanged since {previous['unchanged_since']} (same rows, families, settings "
                "and code): nothing trained or registered; `--retrain` forces a new run"
            )
            return TargetResult(
                target,
                dataset,
                plan,
                [],
                previous["best_baseline"],
                decision=None,
                alpha=training.alpha,
                fee=settings.trading.fee,
                experiment_id=experiment_id,
                previous=previous,
            )
    judge = Judge(settings, dataset)
    evaluations = [
        evaluate_family(dataset, plan, name, seed=training.seed, judge=judge, log=log)
        for name in names
    ]
    best_baseline = add_significance(evaluations, target.horizon)
    holdout = evaluations[0].holdout_predictions
    buy_and_hold = judge.buy_and_hold(holdout).metrics
    result = TargetResult(
        target,
        dataset,
        plan,
        evaluations,
        best_baseline,
        decision=None,
        alpha=training.alpha,
        fee=settings.trading.fee,
        buy_and_hold=buy_and_hold,
        strategy=settings.trading.strategy,
    )
    if not track:  # nothing logged: the decision as it would be against no champion
        result.decision, _ = gate_decision(
            target.name,
            evaluations,
            best_baseline,
            None,
            alpha=training.alpha,
            baseline_alpha=training.baseline_alpha,
            dsr_threshold=training.dsr_threshold,
            buy_and_hold_return=buy_and_hold["total_return"],
            trials=trial_sharpes(None, None, _holdout_span(dataset, plan), evaluations),
        )
        return result
    run_tags = _run_tags(settings, dataset)  # the fingerprint hashes every row: once
    for evaluation in evaluations:
        log_evaluation(
            run_tags,
            client,
            experiment_id,
            dataset,
            plan,
            evaluation,
            config=config,
            best_baseline=best_baseline,
            key=key,
        )
    _ensure_registered_model_tags(client, dataset)
    result.decision, gate_run_id = apply_gate(
        settings,
        client,
        experiment_id,
        (dataset, plan, evaluations, best_baseline),
        run_tags=run_tags,
        judge=judge,
        buy_and_hold_return=buy_and_hold["total_return"],
        key=key,
    )
    result.experiment_id = experiment_id
    client.log_dict(gate_run_id, summarize(result), "summary.json")
    log(f"  gate: {result.decision.summary()}")
    return result


def _ensure_registered_model_tags(client, dataset: Dataset) -> None:
    target = dataset.target
    for key, value in {
        "exchange": target.exchange,
        "symbol": target.symbol,
        "timeframe": target.timeframe,
        "horizon": str(target.horizon),
        "data.simulated": str(dataset.is_simulated).lower(),
    }.items():
        client.set_registered_model_tag(target.name, key, value)


def summarize(result: TargetResult) -> dict[str, Any]:
    """What the CLI and the flow report for one target (plain JSON-able values)."""
    if result.previous is not None:
        return {**result.previous, "unchanged": True}

    def number(value: float) -> float | None:
        return None if value is None or not np.isfinite(value) else float(value)

    families = []
    for e in result.evaluations:
        h, s = e.holdout_metrics, e.significance
        families.append(
            {
                "family": e.family,
                "baseline": e.is_baseline,
                "version": e.version,
                "seconds": round(e.seconds, 2),
                "cv_accuracy": number(e.cv_metrics["directional_accuracy"]),
                **{
                    f"holdout_{k}": number(h.get(k))
                    for k in (
                        "directional_accuracy",
                        "hit_rate",
                        "ic",
                        "rmse",
                        "total_return",
                        "sharpe",
                        "max_drawdown",
                        "win_rate",
                        "profit_factor",
                        "trades",
                        "fees",
                        "costs",
                        "exposure",
                    )
                },
                "binomial_p": number(s.get("binomial_p")),
                "majority_share": number(s.get("majority_share")),
                # family-wise: does ANY family show an edge? (Bonferroni over the families)
                "edge": bool(s.get("binomial_p", 1.0) < result.alpha / len(result.evaluations)),
                "dm_direction_p": number(s.get("dm_direction_p")),
                "dm_squared_p": number(s.get("dm_squared_p")),
            }
        )
    decision = result.decision
    challenger = decision.challenger if decision else None
    challenger_eval = next(
        (e for e in result.evaluations if challenger and e.family == challenger.family), None
    )
    return {
        "target": result.target.name,
        "simulated": result.dataset.is_simulated,
        "rows": len(result.dataset.frame),
        "holdout_rows": len(result.plan.holdout),
        "folds": len(result.plan.folds),
        "best_baseline": result.best_baseline,
        "alpha": result.alpha,
        "fee": result.fee,
        "strategy": result.strategy,
        "buy_and_hold": {
            k: number(result.buy_and_hold.get(k))
            for k in (
                "total_return",
                "sharpe",
                "max_drawdown",
                "trades",
                "win_rate",
                "profit_factor",
                "fees",
                "costs",
                "exposure",
            )
        },
        "deflated_sharpe": number(challenger.dsr)
        if challenger and challenger.dsr is not None
        else None,
        "trials": challenger.trials if challenger else 0,
        "families": families,
        "challenger": challenger.family if challenger else None,
        "promoted": bool(decision and decision.promoted),
        "decision": decision.summary() if decision else "not tracked",
        "reasons": decision.reasons if decision else [],
        "roadmap": [
            {**row, "measured": number(row["measured"])}
            for row in against_targets(challenger_eval.holdout_metrics)
        ]
        if challenger_eval
        else [],
        # what kept the challenger's holdout decisions from trading (blocks, market minimums)
        "held_back": {
            k: int(v)
            for k, v in (challenger_eval.holdout_metrics if challenger_eval else {}).items()
            if k.startswith(("blocked", "held_"))
        },
        "experiment_id": result.experiment_id,
        "unchanged": False,
    }
