"""Leak control: the pipeline finds an edge only where one was planted (ARCHITECTURE rule 3).

One year of simulated 1h bars, one symbol. With ``signal=0`` the market is a driftless martingale
and sentiment is unrelated to it: no family may show an edge on the holdout and no model may
become champion; if one did, features or labels would be seeing the future. With
``signal=0.2`` (sentiment at bar t correlates 0.2 with the return of bar t+1), XGBoost must find
the edge, and only the after-cost checks may refuse it; with ``signal=0.4`` the edge pays its
costs and XGBoost must be promoted. The null case goes through the CLI as a user would type it.
``benchmarks/leak_control_sweep.py`` runs the same pair over many seeds.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cryptobot.cli import app
from cryptobot.config import load_settings
from cryptobot.features import build_features
from cryptobot.ingest import ingest_simulator
from models.dataset import Target
from models.tracking import CHAMPION, configure
from models.train import train_target

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
runner = CliRunner()
TARGET = Target("simulator", "BTC/USDT", "1h", 1)


def _ok(args: list[str]) -> str:
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, f"{args}: {result.output}\n{result.exception!r}"
    return result.output


def _champion(settings):
    from mlflow.exceptions import MlflowException

    client = configure(settings)
    try:
        return client.get_model_version_by_alias(TARGET.name, CHAMPION)
    except MlflowException:
        return None


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize("seed", [1, 2])
def test_no_edge_and_no_champion_on_a_martingale_by_hand(settings, seed):
    _ok(
        "ingest --source simulator --days 365 --signal 0 --symbols BTC/USDT --timeframe 1h "
        f"--seed {seed}".split()
    )
    _ok(["features"])
    out = _ok(["train", "--symbols", "BTC/USDT"])  # every default family: baselines, xgboost, lstm

    client = configure(settings)
    parents = client.search_runs(
        [client.get_experiment_by_name(TARGET.name).experiment_id],
        filter_string="tags.`cryptobot.family` != '' and attributes.run_name != 'promotion gate'",
    )
    families = {
        run.data.tags["cryptobot.family"]: run
        for run in parents
        if "mlflow.parentRunId" not in run.data.tags
    }
    assert set(families) == {"persistence", "always_up", "zero_return", "xgboost", "lstm"}
    alpha = load_settings().training.alpha
    for family, run in families.items():
        p = run.data.metrics["holdout/binomial_p"]
        assert p >= alpha / len(families), f"{family} shows an edge on a martingale (p = {p})"
        assert run.data.tags["data.simulated"] == "true"
    assert _champion(settings) is None
    assert "refused" in out and "promoted to champion" not in out


AFTER_COSTS = {
    "beats buy-and-hold after costs",
    "beats every baseline after costs",
    "positive after-cost Sharpe",
    "deflated Sharpe",
}


def _planted(settings, seed: int, signal: float):
    ingest_simulator(
        settings, symbols=["BTC/USDT"], timeframe="1h", days=365, seed=seed, signal=signal
    )
    build_features(settings, log=lambda _: None)
    result = train_target(settings, TARGET, families=["xgboost"], log=lambda _: None)
    return result, next(e for e in result.evaluations if e.family == "xgboost")


@pytest.mark.parametrize("seed", [1, 2])
def test_xgboost_finds_a_weak_planted_signal_and_only_costs_decide(settings, seed):
    """signal 0.2 (sentiment correlates 0.2 with the next hour's return): XGBoost must find the
    edge; whether it pays is for the after-cost checks alone. (Over 20 seeds it was significant
    in 18 and promoted in 7: a 0.2 correlation with the next hour is worth about its round trip's
    0.24% of costs, see benchmarks/leak_control_sweep.py.)"""
    result, xgb = _planted(settings, seed, 0.2)
    assert xgb.holdout_metrics["directional_accuracy"] > 0.5
    assert xgb.significance["binomial_p"] < result.alpha
    failed = {c.name for c in result.decision.checks if not c.passed}
    assert failed <= AFTER_COSTS, result.decision.reasons
    assert result.decision.promoted == (not failed)


@pytest.mark.parametrize("seed", [1, 2])
def test_xgboost_finds_a_planted_signal_that_pays_and_is_promoted(settings, seed):
    """signal 0.4: an edge that pays its costs must earn champion (19 of 20 seeds in the sweep)."""
    result, xgb = _planted(settings, seed, 0.4)
    assert xgb.significance["binomial_p"] < result.alpha
    assert xgb.holdout_metrics["total_return"] > result.buy_and_hold["total_return"]
    assert result.decision.promoted, result.decision.reasons
    champion = _champion(settings)
    assert champion is not None and str(champion.version) == xgb.version
    assert champion.tags["family"] == "xgboost" and champion.tags["gate.decision"] == "promoted"
