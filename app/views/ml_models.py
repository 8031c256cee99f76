"""Models: the registry, each family's walk-forward and holdout metrics side by side, the
champion's history and gate decisions, the roadmap targets, and live predictions vs actual."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from app import charts, data, mlflow_store, ui

#: holdout/cv metrics compared across families (names as training logs them)
COMPARED = (
    "directional_accuracy",
    "hit_rate",
    "ic",
    "sharpe",
    "max_drawdown",
    "win_rate",
    "profit_factor",
    "total_return",
    "trades",
)
FOLD_METRICS = ("directional_accuracy", "sharpe", "ic", "win_rate", "total_return")


def numeric(frame: pd.DataFrame, column: str) -> pd.Series:
    """``frame[column]`` as floats; all NaN when the column is missing (metric never logged)."""
    if column not in frame:
        return pd.Series(math.nan, index=frame.index, dtype=float)
    return pd.to_numeric(frame[column], errors="coerce")


st.title("Models")
settings = ui.settings()
store = mlflow_store.store_path(settings)
if store is None:
    st.info(
        f"This setup tracks models on {settings.tracking_uri}: the app reads MLflow's embedded "
        "SQLite store only, so open that server's MLflow UI for runs and models.",
        icon=":material/info:",
    )
    st.stop()
if not store.is_file():
    ui.empty(f"No MLflow store at `{store}` yet", "cryptobot train")
    st.stop()

version = mlflow_store.store_version(store)
registry = mlflow_store.registry(str(store), version)
models, versions = registry["models"], registry["versions"]
if models.empty:
    ui.empty("No registered models yet", "cryptobot train")
    st.stop()

# -- the registry at a glance -----------------------------------------------------------------
champions = versions[versions["is_champion"]].set_index("name")
table = models.assign(
    champion_family=models["name"].map(champions["family"]),
    cv_accuracy=models["name"].map(champions["cv.directional_accuracy"]),
    holdout_accuracy=models["name"].map(champions["holdout.directional_accuracy"]),
    versions=models["name"].map(versions.groupby("name").size()),
)
names = list(models["name"])
with_champion = [n for n in names if n in champions.index]
configured = [
    f"{settings.market_exchange}.{symbol.replace('/', '-')}.{settings.timeframes[0]}"
    f".h{settings.training.horizon}"
    for symbol in settings.symbols
]
default = next(
    (n for n in configured if n in with_champion),
    next(iter(with_champion), next((n for n in configured if n in names), names[0])),
)
name = st.selectbox(
    "Model",
    names,
    index=names.index(default),
    key="models_model",
    help="one registered model per target: exchange.symbol.timeframe.horizon",
)
model = models.set_index("name").loc[name]
if bool(model["simulated"]):
    ui.simulated_banner(f"{name} was trained and validated on simulated data.")

with st.expander(f"All registered models ({len(models)})", expanded=False):
    st.dataframe(
        table[
            [
                "name",
                "champion",
                "champion_family",
                "cv_accuracy",
                "holdout_accuracy",
                "versions",
                "simulated",
                "created",
            ]
        ],  # fmt: skip
        hide_index=True,
        column_config={
            "champion": st.column_config.NumberColumn("champion version"),
            "champion_family": "champion family",
            "cv_accuracy": st.column_config.NumberColumn("walk-forward accuracy", format="percent"),
            "holdout_accuracy": st.column_config.NumberColumn("holdout accuracy", format="percent"),
        },
        key="models_registry",
    )

model_versions = versions[versions["name"] == name]
champion = model_versions[model_versions["is_champion"]]
champion_row = champion.iloc[0] if not champion.empty else None
cols = st.columns(4)
ui.stat(
    cols[0],
    "Champion",
    f"v{champion_row['version']} {champion_row['family']}" if champion_row is not None else "none",
    "by the gate" if champion_row is not None and champion_row["promoted_by"] == "gate"
    else (f"by {champion_row['promoted_by']}" if champion_row is not None else "gate refused all"),
)  # fmt: skip
ui.stat(
    cols[1],
    "Walk-forward accuracy",
    ui.pct(champion_row["cv.directional_accuracy"]) if champion_row is not None else "–",
    "champion, pooled folds",
)
ui.stat(
    cols[2],
    "Holdout accuracy",
    ui.pct(champion_row["holdout.directional_accuracy"]) if champion_row is not None else "–",
    f"binomial p {ui.number(champion_row['holdout.binomial_p'], '.2g')}"
    if champion_row is not None
    else None,
)
ui.stat(cols[3], "Versions", str(len(model_versions)), f"created {ui.when(model['created'])}")

runs = mlflow_store.experiment_runs(str(store), version, name)
latest = mlflow_store.family_runs(runs)

# the run measured against the roadmap targets: the champion's, else the best challenger's
subject, label, targets = None, "", pd.DataFrame()
if not latest.empty:
    by_run = runs.set_index("run_uuid")
    if champion_row is not None and champion_row["run_id"] in by_run.index:
        subject = by_run.loc[champion_row["run_id"]]
        label = f"champion v{champion_row['version']} ({champion_row['family']})"
    else:
        models_only = latest[~latest["cryptobot.baseline"].eq("true")]
        pool = models_only if not models_only.empty else latest
        subject = pool.loc[numeric(pool, "cv/directional_accuracy").fillna(0).idxmax()]
        label = f"best challenger ({subject['cryptobot.family']}, no champion)"
if subject is not None:
    recorded = mlflow_store.roadmap_targets(subject)
    wf = pd.DataFrame(recorded["cv"])
    holdout = pd.DataFrame(recorded["holdout"]).set_index("metric").reindex(wf["metric"])
    targets = pd.DataFrame(
        {
            "metric": wf["metric"],
            "target": wf["target"],
            "walk-forward": pd.to_numeric(wf["measured"], errors="coerce"),
            "met (walk-forward)": wf["met"].astype(bool),
            "holdout": pd.to_numeric(holdout["measured"], errors="coerce").to_numpy(),
            "met (holdout)": holdout["met"].astype(bool).to_numpy(),
        }
    )
accuracy_target = (
    mlflow_store.target_threshold(targets.set_index("metric").loc["directional_accuracy", "target"])
    if "directional_accuracy" in set(targets.get("metric", []))
    else None
)

# -- runs compared ------------------------------------------------------------------------------
st.subheader("Runs compared")
if latest.empty:
    ui.empty("No training runs in this model's experiment", "cryptobot train")
else:
    run_versions = model_versions.set_index("run_id")["version"]
    compared = pd.DataFrame(
        {
            "family": latest["cryptobot.family"],
            "baseline": latest["cryptobot.baseline"].eq("true"),
            "version": latest["run_uuid"].map(run_versions).astype("Int64"),
        }
    )
    for sample in ("cv", "holdout"):
        for metric in COMPARED:
            column = f"{sample}/{metric}"
            compared[column] = numeric(latest, column)
    compared["binomial_p"] = numeric(latest, "holdout/binomial_p")
    compared["dm_direction_p"] = numeric(latest, "holdout/dm_direction_p")
    compared["started"] = latest["started"]
    percent = {"directional_accuracy", "hit_rate", "max_drawdown", "win_rate", "total_return"}

    def column(sample: str, metric: str):
        label = f"{'walk-forward' if sample == 'cv' else 'holdout'} {metric.replace('_', ' ')}"
        return st.column_config.NumberColumn(
            label, format="percent" if metric in percent else "%.3f"
        )

    config = {f"{s}/{m}": column(s, m) for s in ("cv", "holdout") for m in COMPARED} | {
        "binomial_p": st.column_config.NumberColumn("holdout binomial p", format="%.2g"),
        "dm_direction_p": st.column_config.NumberColumn("DM p vs best baseline", format="%.2g"),
    }
    key_columns = [
        "family", "baseline", "version", "cv/directional_accuracy",
        "holdout/directional_accuracy", "binomial_p", "dm_direction_p", "holdout/sharpe",
        "holdout/max_drawdown", "holdout/win_rate", "holdout/profit_factor",
        "holdout/total_return",
    ]  # fmt: skip
    st.dataframe(compared[key_columns], hide_index=True, column_config=config, key="models_runs")
    with st.expander("Every metric, walk-forward and holdout"):
        st.dataframe(compared, hide_index=True, column_config=config, key="models_runs_all")
    st.vega_lite_chart(
        spec=charts.family_accuracy(
            compared.rename(
                columns={
                    "cv/directional_accuracy": "walk-forward",
                    "holdout/directional_accuracy": "holdout",
                }
            )[["family", "walk-forward", "holdout"]],
            target=accuracy_target,
        ),
        width="stretch",
    )
    st.caption(
        f"The newest training ({ui.when(latest['started'].min())}): every family is scored out of "
        "sample only: walk-forward (pooled test folds, `cv/`) and on the final holdout. "
        "Baselines always run beside the models."
    )

# -- champion history ---------------------------------------------------------------------------
st.subheader("Champion history")
history = mlflow_store.champion_history(model_versions)
gates = mlflow_store.gate_runs(runs)
if history.empty:
    st.info(
        "No version has held `champion`: the gate refused every challenger so far.",
        icon=":material/info:",
    )
else:
    st.dataframe(
        history,
        hide_index=True,
        column_config={
            "cv_accuracy": st.column_config.NumberColumn("walk-forward accuracy", format="percent"),
            "holdout_accuracy": st.column_config.NumberColumn("holdout accuracy", format="percent"),
            "previous_champion": "previous champion",
            "promoted_by": "promoted by",
        },
        key="models_history",
    )
if not gates.empty:
    refused = int((gates["decision"] == "refused").sum())
    st.markdown(
        f"**Gate decisions** ({len(gates)}, {refused} refused): a challenger takes `champion` "
        "only when it beats the best baseline and the current champion on the holdout."
    )
    st.dataframe(gates, hide_index=True, key="models_gates")

# -- walk-forward metrics vs the roadmap targets ------------------------------------------------
st.subheader("Walk-forward metrics vs the roadmap targets")
if subject is None:
    ui.empty("No walk-forward metrics yet", "cryptobot train")
else:
    met = int(targets["met (walk-forward)"].sum())
    st.markdown(f"{label}: **{met} of {len(targets)}** roadmap targets met walk-forward.")
    st.dataframe(
        targets,
        hide_index=True,
        column_config={
            "walk-forward": st.column_config.NumberColumn(format="%.4f"),
            "holdout": st.column_config.NumberColumn(format="%.4f"),
        },
        key="models_targets",
    )
    fold_frame = mlflow_store.fold_metrics(runs, latest)
    available = [m for m in FOLD_METRICS if m in fold_frame]
    if available:
        metric = st.segmented_control(
            "Per fold", available, default=available[0], required=True, key="models_fold_metric"
        )
        st.vega_lite_chart(spec=charts.folds(fold_frame, metric=metric), width="stretch")

# -- live predictions vs actual -----------------------------------------------------------------
st.subheader("Live predictions vs actual")
wh = data.warehouse(settings)
if not wh.exists or not data.has_table(wh, "ml_predictions"):
    ui.empty("No warehouse with predictions yet", "cryptobot predict")
    st.stop()
live = data.predictions(wh, name)
summary, rows = live["summary"], live["rows"]
if summary.empty:
    ui.empty(f"No live predictions of {name} yet", "cryptobot predict")
    st.stop()
if bool(summary["is_simulated"].any()) and not bool(model["simulated"]):
    ui.simulated_banner("The predictions below were made on simulated bars.")
current = str(champion_row["version"]) if champion_row is not None else None
focus = summary[summary["model_version"] == current]
focus = focus.iloc[0] if not focus.empty else summary.iloc[0]
estimate = model_versions.loc[
    model_versions["version"].astype(str) == str(focus["model_version"]), "cv.directional_accuracy"
]
estimate = float(estimate.iloc[0]) if not estimate.empty else math.nan
cols = st.columns(4)
ui.stat(
    cols[0], "Predictions", f"{int(focus['predictions']):,}", f"version {focus['model_version']}"
)
ui.stat(cols[1], "Resolved", f"{int(focus['resolved']):,}", "horizon closed")
ui.stat(cols[2], "Live accuracy", ui.pct(focus["live_accuracy"]), "direction called right")
ui.stat(cols[3], "Walk-forward estimate", ui.pct(estimate), "what validation promised")

resolved = rows.dropna(subset=["actual"])
st.vega_lite_chart(spec=charts.predicted_vs_actual(rows), width="stretch")
if len(resolved) >= 2:
    window = max(2, min(48, len(resolved) // 3))
    rolling = resolved.assign(
        rolling=resolved["correct"].astype(float).rolling(window, min_periods=window).mean()
    ).dropna(subset=["rolling"])
    if not rolling.empty:
        st.markdown(
            f"**Rolling live accuracy** ({window} predictions) vs the walk-forward estimate"
        )
        st.vega_lite_chart(
            spec=charts.rolling_accuracy(rolling, estimate=estimate), width="stretch"
        )
st.dataframe(
    summary,
    hide_index=True,
    column_config={
        "model_version": "version",
        "live_accuracy": st.column_config.NumberColumn("live accuracy", format="percent"),
    },
    key="models_live_summary",
)
with st.expander(f"Newest {len(rows)} predictions"):
    st.dataframe(
        rows.sort_values("ts", ascending=False),
        hide_index=True,
        column_config={
            "predicted": st.column_config.NumberColumn(format="%.5f"),
            "actual": st.column_config.NumberColumn(format="%.5f"),
            "prob_up": st.column_config.NumberColumn("P(up)", format="%.3f"),
        },
        key="models_live_rows",
    )
