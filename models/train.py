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

from cryptobot.config import Settings
from cryptobot.errors import ModelError
from cryptobot.timeframes import timeframe_seconds
from models import gate as gate_module
from models.dataset import Dataset, Target, dbt_manifest_info, load_dataset
from models.families import family_names, get_family
from models.families.base import LABEL_RETURN, Forecaster
from models.families.baselines import PAST_RETURN
from models.metrics import (
    against_targets,
    forecast_metrics,
    periods_per_year,
    strategy_metrics,
)
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


def score(
    frame: pd.DataFrame, predictions: pd.DataFrame, *, timeframe: str, fee: float
) -> dict[str, float]:
    """Forecast and strategy metrics of ``predictions`` (aligned with ``frame``'s rows).

    Rows a model could not answer for (no history yet) are scored as a flat, 50% forecast: the
    model gets no credit for them and no rows are dropped from the comparison.
    """
    pred_return = predictions["pred_return"].fillna(0.0).to_numpy()
    prob_up = predictions["prob_up"].fillna(0.5).to_numpy()
    actual = frame[LABEL_RETURN].to_numpy()
    metrics = forecast_metrics(actual, pred_return, prob_up)
    metrics |= strategy_metrics(
        frame["next_return"].to_numpy(),
        prob_up > 0.5,
        fee=fee,
        periods_per_year=periods_per_year(timeframe_seconds(timeframe)),
    )
    return metrics


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
    fee: float,
    params: dict[str, Any] | None = None,
    log: Callable[[str], None] = print,
) -> Evaluation:
    """Walk-forward evaluation of one family, then its fit on all development rows, scored on
    the holdout. Plain computation: ``log_evaluation`` records the result in MLflow."""
    started = time.perf_counter()
    cls = get_family(family)
    frame = dataset.frame
    horizon = dataset.target.horizon
    timeframe = dataset.target.timeframe
    fold_metrics, pooled = [], []
    for fold in plan.folds:
        model = cls(seed=seed, horizon=horizon, **(params or {}))
        model.fit(frame.iloc[fold.train.start : fold.train.stop], dataset.features)
        predictions = _forecast(model, frame, fold.test)
        test = frame.iloc[fold.test.start : fold.test.stop]
        metrics = score(test, predictions, timeframe=timeframe, fee=fee)
        fold_metrics.append(metrics)
        pooled.append(_with_actuals(test, predictions))
    cv_predictions = pd.concat(pooled, ignore_index=True)
    cv_metrics = score(cv_predictions, cv_predictions, timeframe=timeframe, fee=fee)
    model = cls(seed=seed, horizon=horizon, **(params or {}))
    model.fit(frame.iloc[plan.final_train.start : plan.final_train.stop], dataset.features)
    holdout = frame.iloc[plan.holdout.start : plan.holdout.stop]
    holdout_raw = _forecast(model, frame, plan.holdout)
    holdout_predictions = _with_actuals(holdout, holdout_raw)
    holdout_metrics = score(holdout, holdout_raw, timeframe=timeframe, fee=fee)
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
    )


def _direction_losses(predictions: pd.DataFrame) -> np.ndarray:
    return direction_error(
        predictions[LABEL_RETURN].to_numpy(), predictions["prob_up"].fillna(0.5).to_numpy()
    )


def _squared_losses(predictions: pd.DataFrame) -> np.ndarray:
    return squared_error(
        predictions[LABEL_RETURN].to_numpy(), predictions["pred_return"].fillna(0.0).to_numpy()
    )


def add_significance(evaluations: list[Evaluation], horizon: int) -> str:
    """Binomial test of every family's holdout accuracy; Diebold-Mariano of every model against
    the best baseline (chosen on walk-forward accuracy). Returns the best baseline's family."""
    baselines = [e for e in evaluations if e.is_baseline]
    best = max(baselines, key=lambda e: e.cv_metrics["directional_accuracy"])
    for evaluation in evaluations:
        holdout = evaluation.holdout_predictions
        hits = int(round(evaluation.holdout_metrics["directional_accuracy"] * len(holdout)))
        evaluation.significance["binomial_p"] = binomial_test(hits, len(holdout))
        if evaluation is best:
            continue
        for loss, losses in (("direction", _direction_losses), ("squared", _squared_losses)):
            dm = diebold_mariano(losses(holdout), losses(best.holdout_predictions), horizon=horizon)
            evaluation.significance[f"dm_{loss}_statistic"] = dm.statistic
            evaluation.significance[f"dm_{loss}_p"] = dm.p_value
    return best.family


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
    settings: Settings, client, target: Target, frame: pd.DataFrame, plan: WalkForwardPlan
):
    """The current champion's accuracy on this holdout (None when there is no champion)."""
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
    called_up = output["prob_up"].fillna(0.5).to_numpy() > 0.5
    accuracy = float(np.mean(called_up == (holdout[LABEL_RETURN].to_numpy() > 0)))
    return gate_module.Scored(
        family=version.tags.get("family", "?"),
        version=version.version,
        directional_accuracy=accuracy,
        binomial_p=binomial_test(int(round(accuracy * len(holdout))), len(holdout)),
    )


def gate_decision(
    name: str,
    evaluations: list[Evaluation],
    best_baseline: str,
    champion: gate_module.Scored | None,
    *,
    alpha: float,
    baseline_alpha: float = 0.05,
) -> tuple[gate_module.GateDecision, Evaluation | None]:
    """The challenger (best non-baseline by walk-forward accuracy) and the gate's decision."""
    by_family = {e.family: e for e in evaluations}
    models = [e for e in evaluations if not e.is_baseline]
    challenger = max(models, key=lambda e: e.cv_metrics["directional_accuracy"], default=None)

    def scored(e: Evaluation) -> gate_module.Scored:
        return gate_module.Scored(
            family=e.family,
            version=e.version,
            directional_accuracy=e.holdout_metrics["directional_accuracy"],
            binomial_p=e.significance["binomial_p"],
            dm_p=e.significance.get("dm_direction_p"),
            dm_statistic=e.significance.get("dm_direction_statistic"),
        )

    decision = gate_module.decide(
        name,
        scored(challenger) if challenger else None,
        scored(by_family[best_baseline]),
        champion,
        alpha=alpha,
        baseline_alpha=baseline_alpha,
    )
    return decision, challenger


def apply_gate(
    settings: Settings,
    client,
    experiment_id: str,
    result_parts: tuple[Dataset, WalkForwardPlan, list[Evaluation], str],
    *,
    run_tags: dict[str, str],
    key: str | None = None,
) -> tuple[gate_module.GateDecision, str]:
    """Decide, record the decision (a run + version tags), and move the alias if promoted.
    Returns the decision and the gate run's id."""
    import mlflow

    dataset, plan, evaluations, best_baseline = result_parts
    target = dataset.target
    champion = _champion_score(settings, client, target, dataset.frame, plan)
    decision, challenger_eval = gate_decision(
        target.name,
        evaluations,
        best_baseline,
        champion,
        alpha=settings.training.alpha,
        baseline_alpha=settings.training.baseline_alpha,
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
            }
        )
        mlflow.log_metric("promoted", float(decision.promoted))
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
        "fee": training.fee,
        "alpha": training.alpha,
        "baseline_alpha": training.baseline_alpha,
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
                fee=training.fee,
                experiment_id=experiment_id,
                previous=previous,
            )
    evaluations = [
        evaluate_family(dataset, plan, name, seed=training.seed, fee=training.fee, log=log)
        for name in names
    ]
    best_baseline = add_significance(evaluations, target.horizon)
    result = TargetResult(
        target,
        dataset,
        plan,
        evaluations,
        best_baseline,
        decision=None,
        alpha=training.alpha,
        fee=training.fee,
    )
    if not track:  # nothing logged: the decision as it would be against no champion
        result.decision, _ = gate_decision(
            target.name,
            evaluations,
            best_baseline,
            None,
            alpha=training.alpha,
            baseline_alpha=training.baseline_alpha,
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
                    )
                },
                "binomial_p": number(s.get("binomial_p")),
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
        "experiment_id": result.experiment_id,
        "unchanged": False,
    }
