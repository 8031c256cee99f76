"""Training, MLflow tracking, the registry, the promotion gate and predictions, on tiny models.

One module-scoped warehouse: one simulated symbol (BTC/USDT, 1h bars, 120 days) with a strong
planted sentiment signal (0.5), its features built by dbt, then ``train_target`` with the three
baselines and XGBoost (2 walk-forward folds) into a temporary MLflow store. With that signal the
XGBoost challenger must earn ``champion``; a re-run on the same rows must not move it. A second
target (horizon 2) trains the LSTM, which has no edge there (the sentiment leads one bar only), so
that target has no champion.

The tests share the store, so they run in file order: the promotion tests restore the gate's
champion when they are done, and the CLI tests come last.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cryptobot.cli import app
from cryptobot.config import Settings, load_settings
from cryptobot.errors import ModelError
from cryptobot.features import build_features
from cryptobot.ingest import ingest_simulator
from cryptobot.warehouse.db import read_connection
from models.dataset import Target, read_feature_rows
from models.families.base import LABEL_RETURN
from models.registry import list_models, model_versions, promote
from models.tracking import CHAMPION, configure, load_model
from models.train import BASELINES, TargetResult, summarize, train_target

pytestmark = pytest.mark.integration
runner = CliRunner()

SYMBOL = "BTC/USDT"
DAYS = 120
SEED = 7
SIGNAL = 0.5
FOLDS = 2
MIN_TRAIN = 300
TARGET = Target("simulator", SYMBOL, "1h", 1)
LSTM_TARGET = Target("simulator", SYMBOL, "1h", 2)
GATE_ALPHA = 0.01
FAMILIES = [*BASELINES, "xgboost"]


def _quiet(_: str) -> None:
    pass


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    """The temp data dir with one simulated symbol and its features (exported in the env while
    the module's fixtures run; tests that need it in the env use ``cli_env``)."""
    root = tmp_path_factory.mktemp("models")
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("CRYPTOBOT_")]:
            mp.delenv(name)
        mp.chdir(root)
        mp.setenv("CRYPTOBOT_WAREHOUSE", str(root / "warehouse.duckdb"))
        mp.setenv("CRYPTOBOT_DATA_DIR", str(root / "data"))
        settings = load_settings(training={"min_train": MIN_TRAIN, "folds": FOLDS})
        assert settings.warehouse == root / "warehouse.duckdb"
        ingest_simulator(
            settings,
            symbols=[SYMBOL],
            timeframe="1h",
            days=DAYS,
            seed=SEED,
            signal=SIGNAL,
        )
        build_features(settings, log=_quiet)
        yield settings


@pytest.fixture(scope="module")
def trained(store: Settings) -> TargetResult:
    """The first training of TARGET: baselines + xgboost, into an empty MLflow store."""
    lines: list[str] = []
    result = train_target(store, TARGET, families=["xgboost"], folds=FOLDS, log=lines.append)
    assert any(line.startswith("  gate:") for line in lines), lines
    return result


@pytest.fixture(scope="module")
def rerun(store: Settings, trained: TargetResult) -> dict:
    """The same training forced again on the same rows: (result, champion before, after)."""
    client = configure(store)
    before = _champion(client)
    result = train_target(
        store, TARGET, families=["xgboost"], folds=FOLDS, log=_quiet, retrain=True
    )
    after = _champion(client)
    return {"result": result, "before": before, "after": after}


@pytest.fixture(scope="module")
def lstm_trained(store: Settings, trained: TargetResult) -> TargetResult:
    """The LSTM (default, small hyper-parameters: 5 epochs, 16 hidden units) on horizon 2."""
    return train_target(store, LSTM_TARGET, families=["lstm"], folds=FOLDS, log=_quiet)


@pytest.fixture
def cli_env(store: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The store in the env again (conftest clears CRYPTOBOT_* before every test)."""
    monkeypatch.setenv("CRYPTOBOT_WAREHOUSE", str(store.warehouse))
    monkeypatch.setenv("CRYPTOBOT_DATA_DIR", str(store.data_dir))
    monkeypatch.setenv("CRYPTOBOT_TRAINING__MIN_TRAIN", str(MIN_TRAIN))
    monkeypatch.setenv("CRYPTOBOT_TRAINING__FOLDS", str(FOLDS))
    return store


def _champion(client, name: str = TARGET.name) -> str:
    """The champion's version number (MLflow 3 gives it as an int, the registry helpers too)."""
    return str(client.get_model_version_by_alias(name, CHAMPION).version)


def _evaluation(result: TargetResult, family: str):
    return next(e for e in result.evaluations if e.family == family)


def _holdout_input(result: TargetResult, columns: list[str], lookback: int) -> pd.DataFrame:
    """The holdout rows (with the history rows a model of ``lookback`` needs before them)."""
    frame = result.dataset.frame
    start = max(0, result.plan.holdout.start - lookback + 1)
    return frame.iloc[start : result.plan.holdout.stop][columns].astype("float64")


def _download(run_id: str, path: str, dst: Path) -> Path:
    import mlflow.artifacts

    return Path(
        mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path, dst_path=dst)
    )


# -- training and MLflow contents ----------------------------------------------------------------


def test_training_evaluates_the_baselines_and_xgboost_and_finds_the_planted_edge(trained):
    assert [e.family for e in trained.evaluations] == FAMILIES
    assert [e.is_baseline for e in trained.evaluations] == [True, True, True, False]
    assert trained.dataset.is_simulated
    assert "sentiment" in trained.dataset.features
    assert len(trained.plan.folds) == FOLDS
    assert all(len(fold.train) >= MIN_TRAIN for fold in trained.plan.folds)
    xgb = _evaluation(trained, "xgboost")
    assert xgb.holdout_metrics["directional_accuracy"] > 0.55
    assert xgb.significance["binomial_p"] < GATE_ALPHA
    assert trained.best_baseline in BASELINES
    assert all(e.version is not None and e.run_id is not None for e in trained.evaluations)
    # each family is one new version, in training order
    assert [int(e.version) for e in trained.evaluations] == [1, 2, 3, 4]

    summary = summarize(trained)
    json.dumps(summary)  # plain JSON-able values
    assert summary["target"] == TARGET.name
    assert summary["challenger"] == "xgboost" and summary["promoted"] is True
    assert [f["family"] for f in summary["families"]] == FAMILIES
    assert summary["experiment_id"] == trained.experiment_id
    assert summary["roadmap"], "the challenger's holdout metrics against the roadmap targets"


def test_one_experiment_with_one_parent_run_per_family_and_nested_fold_runs(store, trained):
    client = configure(store)
    experiment = client.get_experiment_by_name(TARGET.name)
    assert experiment is not None and experiment.experiment_id == trained.experiment_id
    assert experiment.tags["cryptobot.target"] == TARGET.name
    assert experiment.tags["data.simulated"] == "true"
    runs = client.search_runs([experiment.experiment_id], max_results=10_000)
    by_id = {run.info.run_id: run for run in runs}
    for evaluation in trained.evaluations:
        parent = by_id[evaluation.run_id]
        assert parent.info.run_name == evaluation.family
        assert "mlflow.parentRunId" not in parent.data.tags
        folds = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == evaluation.run_id]
        assert len(folds) == FOLDS
        assert sorted(r.data.tags["cryptobot.fold"] for r in folds) == ["1", "2"]
        for fold_run in folds:
            number = int(fold_run.data.params["fold"])
            expected = evaluation.fold_metrics[number - 1]["directional_accuracy"]
            assert fold_run.data.metrics["directional_accuracy"] == pytest.approx(expected)
            assert fold_run.data.tags["cryptobot.family"] == evaluation.family
            plan_fold = trained.plan.folds[number - 1]
            assert int(fold_run.data.params["train_rows"]) == len(plan_fold.train)
            assert int(fold_run.data.params["test_rows"]) == len(plan_fold.test)


def test_parent_runs_hold_params_metrics_tags_and_the_dataset(store, trained):
    client = configure(store)
    dataset = trained.dataset
    for evaluation in trained.evaluations:
        run = client.get_run(evaluation.run_id)
        params, metrics, tags = run.data.params, run.data.metrics, run.data.tags
        assert params["family"] == evaluation.family
        assert params["seed"] == "42"
        assert params["horizon"] == "1"
        assert params["folds"] == str(FOLDS)
        assert params["embargo"] == "1"
        assert params["min_train"] == str(MIN_TRAIN)
        assert params["best_baseline"] == trained.best_baseline
        assert params["rows"] == str(len(dataset.frame))
        assert params["features"].split(",") == dataset.features
        for key, value in evaluation.params.items():
            assert params[f"model.{key}"] == str(value)
        if evaluation.family == "xgboost":
            assert params["model.n_estimators"] == "300"

        assert metrics["cv/directional_accuracy"] == pytest.approx(
            evaluation.cv_metrics["directional_accuracy"]
        )
        assert metrics["holdout/directional_accuracy"] == pytest.approx(
            evaluation.holdout_metrics["directional_accuracy"]
        )
        assert metrics["holdout/binomial_p"] == pytest.approx(evaluation.significance["binomial_p"])
        if evaluation.family == trained.best_baseline:
            assert "holdout/dm_direction_p" not in metrics
        else:
            assert metrics["holdout/dm_direction_p"] == pytest.approx(
                evaluation.significance["dm_direction_p"]
            )
            assert 0.0 <= metrics["holdout/dm_direction_p"] <= 1.0
        history = client.get_metric_history(run.info.run_id, "fold/directional_accuracy")
        assert sorted(m.step for m in history) == [1, 2]
        assert [m.value for m in sorted(history, key=lambda m: m.step)] == pytest.approx(
            [f["directional_accuracy"] for f in evaluation.fold_metrics]
        )
        assert metrics["train_seconds"] >= 0

        assert tags["data.fingerprint"] == dataset.fingerprint
        assert tags["data.simulated"] == "true"
        assert tags["code.version"].strip()
        assert re.fullmatch(r"[0-9a-f]{64}", tags["dbt.manifest_sha256"])
        assert tags["cryptobot.target"] == TARGET.name
        assert tags["cryptobot.family"] == evaluation.family
        assert tags["cryptobot.baseline"] == str(evaluation.is_baseline).lower()

        inputs = run.inputs.dataset_inputs
        assert len(inputs) == 1
        assert inputs[0].dataset.name == TARGET.name
        assert inputs[0].dataset.digest == dataset.fingerprint[:36]
        assert {t.key: t.value for t in inputs[0].tags}["mlflow.data.context"] == "training"


def test_parent_runs_log_the_plan_targets_and_holdout_predictions(store, trained, tmp_path):
    client = configure(store)
    for evaluation in trained.evaluations:
        run_id = evaluation.run_id
        names = {a.path for a in client.list_artifacts(run_id)}
        assert {
            "walk_forward_plan.json",
            "roadmap_targets.json",
            "holdout_predictions.parquet",
            "cv_predictions.parquet",
        } <= names
        assert ("feature_importance.json" in names) == (evaluation.family == "xgboost")
        dst = tmp_path / evaluation.family
        plan = json.loads(_download(run_id, "walk_forward_plan.json", dst).read_text())
        assert plan == json.loads(json.dumps(trained.plan.describe()))
        roadmap = json.loads(_download(run_id, "roadmap_targets.json", dst).read_text())
        assert set(roadmap) == {"cv", "holdout"} and roadmap["holdout"]
        holdout = pd.read_parquet(_download(run_id, "holdout_predictions.parquet", dst))
        assert len(holdout) == len(trained.plan.holdout)
        pd.testing.assert_frame_equal(
            holdout.reset_index(drop=True),
            evaluation.holdout_predictions.reset_index(drop=True),
            check_dtype=False,
        )


def test_each_model_is_a_pyfunc_with_the_feature_signature_and_requirements(store, trained):
    import mlflow.models
    import mlflow.pyfunc

    configure(store)
    expected_inputs = [*trained.dataset.features, "past_return"]
    for evaluation in trained.evaluations:
        uri = f"models:/{TARGET.name}/{evaluation.version}"
        info = mlflow.models.get_model_info(uri)
        assert info.flavors.keys() >= {"python_function"}
        assert info.signature.inputs.input_names() == expected_inputs
        assert info.signature.outputs.input_names() == [
            "pred_return",
            "prob_up",
            "direction",
            "confidence",
        ]
        assert info.metadata["family"] == evaluation.family
        assert info.metadata["target"] == TARGET.name
        assert info.metadata["lookback"] == 1
        assert info.metadata["features"] == trained.dataset.features
        requirements = Path(mlflow.pyfunc.get_model_dependencies(uri)).read_text().split()
        names = {re.split(r"[=<>~!]", line, maxsplit=1)[0].lower() for line in requirements}
        assert {"mlflow", "numpy", "pandas"} <= names
        # the distribution that provides xgboost (xgboost-cpu in this project's lock)
        xgb_lines = [line for line in requirements if line.lower().startswith("xgboost")]
        if evaluation.family == "xgboost":
            import xgboost

            assert len(xgb_lines) == 1 and xgb_lines[0].endswith(f"=={xgboost.__version__}")
        else:
            assert xgb_lines == []


def test_the_gate_run_records_the_promotion(store, trained):
    client = configure(store)
    gate_runs = client.search_runs(
        [trained.experiment_id],
        filter_string="tags.`cryptobot.gate` = 'promoted'",
        max_results=100,
    )
    assert len(gate_runs) == 1
    run = gate_runs[0]
    assert run.info.run_name == "promotion gate"
    assert run.data.params["challenger"] == "xgboost"
    assert run.data.params["challenger_version"] == _evaluation(trained, "xgboost").version
    assert run.data.params["champion_before"] == "none"
    assert run.data.params["best_baseline"] == trained.best_baseline
    assert run.data.metrics["promoted"] == 1.0
    assert run.data.tags["data.fingerprint"] == trained.dataset.fingerprint
    assert "promoted to champion" in run.data.tags["mlflow.note.content"]
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert "gate_decision.json" in names


# -- the registry and the champion --------------------------------------------------------------


def test_the_gate_promotes_the_xgboost_challenger(store, trained):
    decision = trained.decision
    assert decision is not None
    assert decision.promoted, decision.summary()
    assert decision.challenger.family == "xgboost"
    assert [c.name for c in decision.checks] == [
        "edge",
        "beats best baseline",
        "beats buy-and-hold after costs",
        "beats every baseline after costs",
        "positive after-cost Sharpe",
        "deflated Sharpe",
    ]
    client = configure(store)
    xgb = _evaluation(trained, "xgboost")
    # the gate's after-cost numbers are the execution core's holdout backtest
    assert xgb.holdout_metrics["total_return"] > trained.buy_and_hold["total_return"]
    assert xgb.holdout_metrics["fees"] > 0 and xgb.holdout_metrics["trades"] > 0
    assert decision.challenger.dsr > 0.95 and decision.challenger.trials == 1
    champion = client.get_model_version_by_alias(TARGET.name, CHAMPION)
    assert str(champion.version) == xgb.version
    tags = champion.tags
    assert tags["gate.decision"] == "promoted"
    assert tags["gate.reasons"] == "all checks passed"
    assert tags["promoted_by"] == "gate"
    assert tags["family"] == "xgboost" and tags["baseline"] == "false"
    assert tags["run_id"] == xgb.run_id
    assert tags["data.fingerprint"] == trained.dataset.fingerprint
    assert float(tags["holdout.directional_accuracy"]) == pytest.approx(
        xgb.holdout_metrics["directional_accuracy"], abs=1e-6
    )
    baseline_version = client.get_model_version(TARGET.name, trained.evaluations[0].version)
    assert "gate.decision" not in baseline_version.tags
    model = client.get_registered_model(TARGET.name)
    assert model.tags == {
        "exchange": "simulator",
        "symbol": SYMBOL,
        "timeframe": "1h",
        "horizon": "1",
        "data.simulated": "true",
    }


def test_the_champion_loads_and_reproduces_the_holdout_predictions(store, trained):
    model = load_model(f"models:/{TARGET.name}@{CHAMPION}", store)
    assert model.metadata.metadata["family"] == "xgboost"
    columns = model.metadata.get_input_schema().input_names()
    output = model.predict(_holdout_input(trained, columns, lookback=1))
    assert list(output.columns) == ["pred_return", "prob_up", "direction", "confidence"]
    expected = _evaluation(trained, "xgboost").holdout_predictions
    assert len(output) == len(expected)
    np.testing.assert_allclose(output["pred_return"], expected["pred_return"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(output["prob_up"], expected["prob_up"], rtol=0, atol=1e-9)
    prob = output["prob_up"].to_numpy()
    assert ((prob >= 0) & (prob <= 1)).all()
    np.testing.assert_array_equal(output["direction"].to_numpy(), (prob > 0.5).astype(float))
    np.testing.assert_allclose(output["confidence"], np.maximum(prob, 1 - prob), atol=1e-12)
    assert (output["direction"] == 1).any() and (output["direction"] == 0).any()


def test_the_champion_resolves_locally_to_the_directory_mlflow_records(store, trained):
    from urllib.parse import urlparse

    import mlflow.pyfunc

    from models.tracking import local_model_path

    client = configure(store)
    version = client.get_model_version_by_alias(TARGET.name, CHAMPION)
    local = local_model_path(store, f"models:/{TARGET.name}@{CHAMPION}")
    logged = client.get_logged_model(version.source.removeprefix("models:/"))
    assert local is not None and local == Path(urlparse(logged.artifact_location).path)
    assert local_model_path(store, f"models:/{TARGET.name}/{version.version}") == local
    assert local_model_path(store, f"models:/{TARGET.name}@nobody") is None
    assert local_model_path(store, "runs:/abc/model") is None
    # MLflow's own resolution of the alias loads the very same model
    columns = load_model(f"models:/{TARGET.name}@{CHAMPION}", store).metadata.get_input_schema()
    rows = _holdout_input(trained, columns.input_names(), lookback=1)
    ours = load_model(f"models:/{TARGET.name}@{CHAMPION}", store).predict(rows)
    theirs = mlflow.pyfunc.load_model(f"models:/{TARGET.name}@{CHAMPION}").predict(rows)
    pd.testing.assert_frame_equal(ours, theirs)


def test_every_version_loads_by_number_and_answers(store, trained):
    for evaluation in trained.evaluations:
        model = load_model(f"models:/{TARGET.name}/{evaluation.version}", store)
        columns = model.metadata.get_input_schema().input_names()
        output = model.predict(_holdout_input(trained, columns, lookback=1))
        expected = evaluation.holdout_predictions
        np.testing.assert_allclose(output["pred_return"], expected["pred_return"], atol=1e-9)
        np.testing.assert_allclose(output["prob_up"], expected["prob_up"], atol=1e-9)


def test_list_models_shows_the_champion_and_its_holdout_metrics(store, trained):
    models = {m["name"]: m for m in list_models(store)}
    entry = models[TARGET.name]
    xgb = _evaluation(trained, "xgboost")
    assert str(entry["champion"]) == xgb.version
    assert entry["champion_family"] == "xgboost"
    assert entry["promoted_by"] == "gate"
    assert entry["simulated"] is True
    assert entry["versions"] == len(model_versions(store, TARGET.name))
    metrics = entry["metrics"]
    assert metrics["directional_accuracy"] == pytest.approx(
        xgb.holdout_metrics["directional_accuracy"]
    )
    assert metrics["binomial_p"] == pytest.approx(xgb.significance["binomial_p"])
    assert metrics["dm_direction_p"] == pytest.approx(xgb.significance["dm_direction_p"])
    assert metrics["sharpe"] == pytest.approx(xgb.holdout_metrics["sharpe"])


def test_model_versions_are_listed_newest_first_with_their_families(store, trained):
    versions = model_versions(store, TARGET.name)
    numbers = [int(v["version"]) for v in versions]
    assert numbers == sorted(numbers, reverse=True)
    assert len(numbers) == len(set(numbers)) >= len(FAMILIES)
    by_version = {str(v["version"]): v for v in versions}
    for evaluation in trained.evaluations:
        row = by_version[evaluation.version]
        assert row["family"] == evaluation.family
        assert row["holdout_accuracy"] == pytest.approx(
            evaluation.holdout_metrics["directional_accuracy"], abs=1e-6
        )
    xgb = by_version[_evaluation(trained, "xgboost").version]
    assert xgb["gate"] == "promoted" and xgb["promoted_by"] == "gate"
    assert xgb["cv_accuracy"] == pytest.approx(
        _evaluation(trained, "xgboost").cv_metrics["directional_accuracy"], abs=1e-6
    )
    assert all(v["gate"] == "" for v in by_version.values() if v["family"] in BASELINES)


def test_model_versions_and_the_cli_mark_the_champion_alias(cli_env, trained, monkeypatch):
    """models.registry.model_versions reads the versions with search_model_versions, which in
    MLflow 3 (SQL store) returns them without their aliases: no version shows ``champion``."""
    champion = _champion(configure(cli_env))
    versions = model_versions(cli_env, TARGET.name)
    marked = [str(v["version"]) for v in versions if CHAMPION in v["aliases"]]
    assert marked == [champion], "model_versions() shows no version with the champion alias"
    _wide_console(monkeypatch)
    result = runner.invoke(app, ["models", TARGET.name])
    assert result.exit_code == 0, result.output
    rows = _version_rows(result.output)
    assert CHAMPION in rows[champion], "`cryptobot models NAME` shows no champion alias"


# -- predictions -------------------------------------------------------------------------------


def _stored(settings: Settings, name: str) -> pd.DataFrame:
    with read_connection(settings.warehouse, timeout=settings.write_lock_timeout) as con:
        return con.execute(
            "select * from ml_predictions where model_name = ? order by ts", [name]
        ).df()


def test_predict_latest_stores_the_newest_bars_once(store, trained):
    from models.predictions import predict_latest

    client = configure(store)
    champion = client.get_model_version_by_alias(TARGET.name, CHAMPION)
    result = predict_latest(store, TARGET, bars=24)
    assert result.version == str(champion.version) and result.family == "xgboost"
    assert result.stored == 24
    stored = _stored(store, TARGET.name)
    assert len(stored) == 24
    rows = read_feature_rows(store, TARGET)
    assert list(stored["ts"]) == list(rows["ts"].iloc[-24:])
    assert result.latest_ts == rows["ts"].iloc[-1]
    assert set(stored["model_version"]) == {str(champion.version)}
    assert set(stored["family"]) == {"xgboost"}
    assert set(stored["exchange"]) == {"simulator"} and set(stored["horizon"]) == {1}
    assert stored["is_simulated"].all()
    assert stored["actual"].isna().all() and stored["correct"].isna().all()
    # what the champion answers for those bars
    model = load_model(f"models:/{TARGET.name}@{CHAMPION}", store)
    columns = model.metadata.get_input_schema().input_names()
    expected = model.predict(rows.iloc[-24:][columns].astype("float64"))
    np.testing.assert_allclose(stored["predicted"], expected["pred_return"], atol=1e-12)
    np.testing.assert_allclose(stored["prob_up"], expected["prob_up"], atol=1e-12)
    np.testing.assert_allclose(stored["confidence"], expected["confidence"], atol=1e-12)
    np.testing.assert_array_equal(stored["direction"], expected["direction"].astype(int))
    assert result.latest["prob_up"] == pytest.approx(expected["prob_up"].iloc[-1])

    again = predict_latest(store, TARGET, bars=24)
    assert again.stored == 0 and again.version == str(champion.version)
    assert len(_stored(store, TARGET.name)) == 24


def test_resolve_outcomes_fills_actual_and_correct_of_closed_bars(store, trained):
    from models.predictions import live_accuracy, predict_latest, resolve_outcomes

    if _stored(store, TARGET.name).empty:  # run alone
        predict_latest(store, TARGET, bars=24)
    resolved = resolve_outcomes(store)
    stored = _stored(store, TARGET.name)
    horizon = TARGET.horizon
    assert resolved == len(stored) - horizon
    assert stored["actual"].iloc[-horizon:].isna().all()
    assert stored["correct"].iloc[-horizon:].isna().all()
    closed = stored.iloc[:-horizon]
    assert closed["actual"].notna().all() and closed["resolved_at"].notna().all()
    rows = read_feature_rows(store, TARGET).set_index("ts")
    np.testing.assert_allclose(
        closed["actual"], rows.loc[closed["ts"], LABEL_RETURN].to_numpy(), atol=1e-15
    )
    expected_correct = (closed["direction"] == 1) == (closed["actual"] > 0)
    assert (closed["correct"].astype(bool) == expected_correct).all()

    assert resolve_outcomes(store) == 0  # nothing left whose horizon has closed
    accuracy = live_accuracy(store)
    version = stored["model_version"].iloc[0]
    n, share = accuracy[(TARGET.name, version)]
    assert n == len(closed)
    assert share == pytest.approx(closed["correct"].astype(bool).mean())


def test_a_target_without_a_champion_predicts_nothing(store, trained):
    from models.predictions import predict_latest

    unknown = Target("simulator", "ETH/USDT", "1h", 1)
    result = predict_latest(store, unknown, bars=5)
    assert result.version is None and result.stored == 0 and result.latest is None
    assert _stored(store, unknown.name).empty


# -- the LSTM ----------------------------------------------------------------------------------


def test_the_lstm_version_loads_by_number_and_reproduces_its_holdout(store, lstm_trained):
    from models.predictions import predict_latest

    lstm = _evaluation(lstm_trained, "lstm")
    assert [e.family for e in lstm_trained.evaluations] == [*BASELINES, "lstm"]
    # at horizon 2 the sentiment (which leads one bar) gives the LSTM no edge: refused
    decision = lstm_trained.decision
    assert decision is not None and not decision.promoted, decision.summary()
    client = configure(store)
    version = client.get_model_version(LSTM_TARGET.name, lstm.version)
    assert version.tags["gate.decision"] == "refused"
    assert version.tags["family"] == "lstm"

    model = load_model(f"models:/{LSTM_TARGET.name}/{lstm.version}", store)
    lookback = int(model.metadata.metadata["lookback"])
    assert lookback == lstm.params["input_chunk_length"] + LSTM_TARGET.horizon - 1
    columns = model.metadata.get_input_schema().input_names()
    assert columns == [*lstm_trained.dataset.features, "past_return"]
    output = model.predict(_holdout_input(lstm_trained, columns, lookback))
    output = output.iloc[-len(lstm.holdout_predictions) :]
    expected = lstm.holdout_predictions
    np.testing.assert_allclose(output["pred_return"], expected["pred_return"], atol=1e-9)
    np.testing.assert_allclose(output["prob_up"], expected["prob_up"], atol=1e-9)
    assert output["prob_up"].notna().all()

    result = predict_latest(store, LSTM_TARGET, bars=3)  # no champion for this target
    assert result.version is None and result.stored == 0
    assert _stored(store, LSTM_TARGET.name).empty


# -- the gate on a re-run, and the human override --------------------------------------------------


def test_a_plain_rerun_on_unchanged_rows_trains_and_registers_nothing(store, trained):
    client = configure(store)
    versions = len(client.search_model_versions(f"name='{TARGET.name}'"))
    runs = len(client.search_runs([trained.experiment_id], max_results=1000))
    lines: list[str] = []
    again = train_target(store, TARGET, families=["xgboost"], folds=FOLDS, log=lines.append)
    assert again.evaluations == [] and again.previous is not None, lines
    assert len(client.search_model_versions(f"name='{TARGET.name}'")) == versions
    assert len(client.search_runs([trained.experiment_id], max_results=1000)) == runs
    summary, first = summarize(again), summarize(trained)
    assert summary["unchanged"] and "unchanged since" in lines[-1]
    assert summary["families"] == first["families"] and summary["decision"] == first["decision"]


def test_a_rerun_registers_new_versions_but_does_not_move_the_champion(store, trained, rerun):
    result: TargetResult = rerun["result"]
    first_xgb = _evaluation(trained, "xgboost")
    assert rerun["before"] == rerun["after"] == first_xgb.version
    assert result.dataset.fingerprint == trained.dataset.fingerprint
    new_versions = [int(e.version) for e in result.evaluations]
    assert min(new_versions) > max(int(e.version) for e in trained.evaluations)
    xgb = _evaluation(result, "xgboost")
    np.testing.assert_array_equal(
        xgb.holdout_predictions["prob_up"], first_xgb.holdout_predictions["prob_up"]
    )  # deterministic: the challenger equals the champion, so it does not beat it
    decision = result.decision
    assert decision is not None and not decision.promoted
    checks = {c.name: c.passed for c in decision.checks}
    assert checks == {
        "edge": True,
        "beats best baseline": True,
        "beats buy-and-hold after costs": True,
        "beats every baseline after costs": True,
        "positive after-cost Sharpe": True,
        "deflated Sharpe": True,
        "beats champion": False,
    }
    # the same configuration trained again on the same holdout is one trial, not two
    assert decision.challenger.trials == 1
    assert len(decision.reasons) == 1 and "champion" in decision.reasons[0]

    client = configure(store)
    tags = client.get_model_version(TARGET.name, xgb.version).tags
    assert tags["gate.decision"] == "refused"
    assert "champion" in tags["gate.reasons"] and f"v{first_xgb.version}" in tags["gate.reasons"]
    assert "promoted_by" not in tags
    gate_runs = client.search_runs(
        [result.experiment_id],
        filter_string="tags.`cryptobot.gate` = 'refused'",
        max_results=100,
    )
    assert any(
        r.data.params["champion_before"] == f"xgboost v{first_xgb.version}" for r in gate_runs
    )


def test_promote_requires_the_gate_or_a_forced_override_with_a_reason(store, trained, rerun):
    client = configure(store)
    champion = _evaluation(trained, "xgboost").version
    refused = _evaluation(rerun["result"], "xgboost").version
    baseline = trained.evaluations[0].version

    with pytest.raises(ModelError, match="not passed by the gate") as excinfo:
        promote(store, TARGET.name, baseline, force=False, reason=None)
    assert "never judged by the gate" in str(excinfo.value) and "--force" in str(excinfo.value)
    with pytest.raises(ModelError, match="not passed by the gate") as excinfo:
        promote(store, TARGET.name, refused, force=False, reason="equal is enough")
    assert "refused" in str(excinfo.value) and "champion" in str(excinfo.value)
    for reason in (None, "", "   "):
        with pytest.raises(ModelError, match="--reason"):
            promote(store, TARGET.name, refused, force=True, reason=reason)
    assert _champion(client) == champion

    result = promote(
        store, TARGET.name, refused, force=True, reason=" same model, newer run ", by="tester"
    )
    assert result["version"] == refused and str(result["previous"]) == champion
    assert _champion(client) == refused
    tags = client.get_model_version(TARGET.name, refused).tags
    assert tags["promoted_by"] == "tester"
    assert tags["promotion.reason"] == "same model, newer run"
    assert tags["promotion.forced"] == "true"
    assert tags["promotion.previous_champion"] == champion
    assert tags["promoted_at"]
    assert {m["name"]: m for m in list_models(store)}[TARGET.name]["promoted_by"] == "tester"

    # the gate's own champion may be given back without --force
    back = promote(store, TARGET.name, champion, force=False, reason=None, by="tester")
    assert str(back["previous"]) == refused
    assert _champion(client) == champion
    tags = client.get_model_version(TARGET.name, champion).tags
    assert tags["promoted_by"] == "gate" and tags["promotion.forced"] == "false"
    assert tags["promotion.previous_champion"] == refused
    assert "promotion.reason" not in tags


def test_promote_and_versions_of_unknown_models_or_versions_say_what_exists(store, trained):
    with pytest.raises(
        ModelError, match="no registered model named 'simulator.NOPE-USDT.1h.h1'"
    ) as e:
        promote(store, "simulator.NOPE-USDT.1h.h1", "1", force=True, reason="x")
    assert TARGET.name in str(e.value)  # the registered ones are listed
    with pytest.raises(ModelError, match="has no version 999") as e:
        promote(store, TARGET.name, "999", force=True, reason="x")
    assert f"cryptobot models {TARGET.name}" in str(e.value)
    with pytest.raises(ModelError, match="no registered model named"):
        model_versions(store, "simulator.NOPE-USDT.1h.h1")


# -- the command line ----------------------------------------------------------------------------


def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console

    import cryptobot.cli

    monkeypatch.setattr(cryptobot.cli, "console", Console(width=250))


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip("│ ").split("│")]


def _version_rows(output: str) -> dict[str, list[str]]:
    """The cells of each row of the `cryptobot models NAME` table, by version number."""
    rows = {}
    for line in output.splitlines():
        cells = _cells(line)
        match = re.fullmatch(r"v?(\d+)", cells[0])
        if len(cells) > 3 and match:
            rows[match.group(1)] = cells
    return rows


def test_cli_models_lists_the_model_with_its_champion(cli_env, trained, monkeypatch):
    _wide_console(monkeypatch)
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    assert "SIMULATED" in result.output
    line = next(row for row in result.output.splitlines() if TARGET.name in row)
    cells = _cells(line)
    champion = _champion(configure(cli_env))
    # the champion's version (``4`` or ``v4 xgboost``, whatever the layout) and its family
    assert any(re.fullmatch(rf"v?{champion}( xgboost)?", cell) for cell in cells), cells
    assert any("xgboost" in cell for cell in cells), cells
    accuracy = _evaluation(trained, "xgboost").holdout_metrics["directional_accuracy"]
    assert f"{accuracy:.1%}" in cells, cells


def test_cli_models_name_lists_the_versions(cli_env, trained, monkeypatch):
    _wide_console(monkeypatch)
    result = runner.invoke(app, ["models", TARGET.name])
    assert result.exit_code == 0, result.output
    rows = _version_rows(result.output)
    versions = model_versions(cli_env, TARGET.name)
    assert list(rows) == [str(v["version"]) for v in versions]  # newest first
    xgb = _evaluation(trained, "xgboost")
    assert "xgboost" in rows[xgb.version] and "promoted" in rows[xgb.version]
    accuracy = xgb.holdout_metrics["directional_accuracy"]
    assert f"{accuracy:.1%}" in rows[xgb.version]
    assert "persistence" in rows[trained.evaluations[0].version]


def test_cli_models_of_an_unknown_name_fails_with_a_message(cli_env, trained):
    result = runner.invoke(app, ["models", "simulator.NOPE-USDT.1h.h1"])
    assert result.exit_code == ModelError.exit_code
    assert "no registered model named" in result.output


def test_cli_promote_force_without_reason_fails_with_a_message(cli_env, trained):
    client = configure(cli_env)
    before = _champion(client)
    result = runner.invoke(app, ["promote", TARGET.name, trained.evaluations[0].version, "--force"])
    assert result.exit_code == ModelError.exit_code, result.output
    assert "--reason" in result.output
    assert _champion(client) == before


def test_cli_train_refuses_unknown_families_before_starting_prefect(cli_env, monkeypatch):
    import flows.train

    def no_flow(**_):
        raise AssertionError("the train flow must not start")

    monkeypatch.setattr(flows.train, "train", no_flow)
    result = runner.invoke(app, ["train", "--families", "xgboost,nope"])
    assert result.exit_code != 0
    assert "unknown model family nope" in result.output
    for name in ("always_up", "lstm", "persistence", "xgboost", "zero_return"):
        assert name in result.output


@pytest.mark.usefixtures("prefect_harness")
def test_cli_train_prints_the_tables_and_the_gate(cli_env, trained, monkeypatch):
    _wide_console(monkeypatch)
    client = configure(cli_env)
    before = _champion(client)
    result = runner.invoke(
        app,
        ["train", "--symbols", SYMBOL, "--families", "xgboost", "--folds", str(FOLDS), "--retrain"],
    )
    assert result.exit_code == 0, result.output
    output = result.output
    assert f"{TARGET.name} [SIMULATED]: out of sample, {FOLDS} walk-forward folds" in output
    for family in FAMILIES:
        assert family in output
    assert "roadmap targets: xgboost on the holdout" in output
    gate = next(line for line in output.splitlines() if line.startswith("gate:"))
    # same rows, same seed: the new xgboost equals the champion, so the gate refuses it
    assert "refused" in gate and f"vs champion xgboost v{before}" in gate
    assert "compare runs:" in output and cli_env.tracking_uri in output
    assert _champion(client) == before


@pytest.mark.usefixtures("prefect_harness")
def test_cli_predict_asks_the_champion_and_resolves(cli_env, trained):
    client = configure(cli_env)
    champion = _champion(client)
    result = runner.invoke(app, ["predict", "--symbols", SYMBOL, "--bars", "3"])
    assert result.exit_code == 0, result.output
    line = next(row for row in result.output.splitlines() if row.startswith(TARGET.name))
    assert f"v{champion} (xgboost)" in line
    last_ts = read_feature_rows(cli_env, TARGET)["ts"].iloc[-1]
    assert str(last_ts) in line
    assert re.search(r"prob_up 0\.\d{3}", line)
    assert re.search(r"resolved \d+ earlier prediction\(s\)", result.output)
    stored = _stored(cli_env, TARGET.name)
    assert last_ts in set(stored["ts"])
    assert not math.isnan(stored["predicted"].iloc[-1])


# -- after a killed training (kept last: it adds a half-registered version to the store) --------


def test_the_next_training_marks_what_a_killed_one_left(store, trained):
    import subprocess

    client = configure(store)
    gone = subprocess.Popen(["true"])
    gone.wait()
    tags = {
        "training.key": "killed-before-the-gate",
        "cryptobot.pid": str(gone.pid),
        "cryptobot.host": __import__("socket").gethostname(),
    }
    killed = client.create_run(trained.experiment_id, tags=tags)  # left RUNNING
    source = client.get_model_version(TARGET.name, _champion(client)).source
    half = str(client.create_model_version(TARGET.name, source, run_id=killed.info.run_id).version)
    before = {m["name"]: m for m in list_models(store)}[TARGET.name]
    assert before["incomplete"] == 1  # never counted, even before the cleanup
    assert half not in {v["version"] for v in model_versions(store, TARGET.name)}

    lines: list[str] = []
    train_target(store, TARGET, families=["xgboost"], folds=FOLDS, log=lines.append)
    assert any("an earlier training was interrupted: 1 run(s) left RUNNING" in x for x in lines)
    assert client.get_run(killed.info.run_id).info.status == "FAILED"
    assert client.get_model_version(TARGET.name, half).tags["incomplete"] == "true"
    with pytest.raises(ModelError, match="is incomplete"):
        promote(store, TARGET.name, half, force=True, reason="no", by="t")
    # every version of the trainings that reached the gate is marked complete, none incomplete
    for version in client.search_model_versions(f"name='{TARGET.name}'"):
        if str(version.version) != half:
            assert version.tags.get("training.complete") == "true", version.version
            assert "incomplete" not in version.tags
