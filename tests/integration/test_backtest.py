"""Backtests on a real warehouse: one execution core (a 30-day paper replay of the trading flow
and a backtest of the same days and champions agree fill for fill), the out-of-sample guard,
idempotent storage, the MLflow record, and bad input refused before anything is stored.

One module-scoped base: two simulated symbols (200 days of 1h bars, a strong planted signal),
features built by dbt, an XGBoost champion per symbol in a temporary MLflow store (its holdout
is the last 37 days). Tests that write work on their own copy.
"""

from __future__ import annotations

import shutil
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cryptobot.cli import app
from cryptobot.config import Settings
from cryptobot.errors import BacktestError
from cryptobot.trading.engine import default_as_of, replay
from cryptobot.warehouse.db import read_connection
from models.backtest import run_model_backtest
from models.dataset import Target
from models.tracking import configure
from tests.champions import simulated_market_with_champions

pytestmark = pytest.mark.integration
runner = CliRunner()

SYMBOLS = ["BTC/USDT", "ETH/USDT"]
HOUR = timedelta(hours=1)


def _quiet(_: str) -> None:
    pass


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("backtest")
    with simulated_market_with_champions(root, SYMBOLS, days=200, seed=4, signal=0.5) as settings:
        yield settings


@pytest.fixture
def account(base: Settings, tmp_path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A copy of the base warehouse (and the same MLflow store), exported for the CLI."""
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(base.warehouse, warehouse)
    monkeypatch.setenv("CRYPTOBOT_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("CRYPTOBOT_DATA_DIR", str(base.data_dir))
    monkeypatch.setenv("CRYPTOBOT_SYMBOLS", ",".join(SYMBOLS))
    monkeypatch.setenv("CRYPTOBOT_TRAINING__MIN_TRAIN", "300")
    monkeypatch.setenv("CRYPTOBOT_TRAINING__FOLDS", "2")
    return base.model_copy(update={"warehouse": warehouse})


def query(settings: Settings, sql: str, params=None) -> pd.DataFrame:
    with read_connection(settings.warehouse) as con:
        return con.execute(sql, params or []).df()


@pytest.mark.slow
def test_a_paper_replay_and_a_backtest_of_the_same_30_days_agree_fill_for_fill(account):
    """The one execution core, shown: 720 hourly runs of the trading flow's step through the
    warehouse and one backtest of the same decision times and champions give the same orders,
    the same fills (side, amount, price, fee) and the same equity curve."""
    end = default_as_of(account)
    days = 30
    replayed = replay(account, days=days, end=end)
    assert replayed.steps == days * 24 and replayed.orders > 40
    start = end - (days * 24 - 1) * HOUR
    run = run_model_backtest(account, start=start, end=end, baselines=False)
    bt = run.main
    assert bt.bars == days * 24
    assert bt.models == {
        s: f"{Target('simulator', s, '1h', 1).name}/" + bt.models[s].split("/")[1] for s in SYMBOLS
    }
    assert set(bt.prediction_source["BTC/USDT"]["bars"]) == {
        f"model v{run.choices['BTC/USDT'].version}"
    }

    orders = query(
        account, "select symbol, bar_ts, side, amount from orders order by bar_ts, symbol"
    )
    mine = bt.orders.sort_values(["bar_ts", "symbol"]).reset_index(drop=True)
    assert len(orders) == len(mine) == replayed.orders
    pd.testing.assert_frame_equal(
        orders.reset_index(drop=True),
        mine[["symbol", "bar_ts", "side", "amount"]],
        check_dtype=False,
        check_exact=True,
    )
    trades = query(
        account, "select symbol, ts, side, amount, price, fee from trades order by ts, symbol"
    )
    fills = bt.fills.sort_values(["ts", "symbol"]).reset_index(drop=True)
    assert len(trades) == len(fills) > 40
    pd.testing.assert_frame_equal(
        trades.reset_index(drop=True),
        fills[["symbol", "ts", "side", "amount", "price", "fee"]],
        check_dtype=False,
        check_exact=False,
        rtol=1e-9,
        atol=0,
    )
    curve = query(account, "select ts, equity, cash, drawdown from equity_curve order by ts")
    assert len(curve) == len(bt.equity)
    np.testing.assert_array_equal(curve["ts"].to_numpy(), bt.equity["ts"].to_numpy())
    np.testing.assert_allclose(curve["equity"], bt.equity["equity"], rtol=1e-9, atol=0)
    np.testing.assert_allclose(curve["cash"], bt.equity["cash"], rtol=1e-9, atol=0)


def test_no_window_before_the_first_out_of_sample_prediction_unless_asked(account):
    run = run_model_backtest(account, baselines=False)
    source = run.main.prediction_source["BTC/USDT"]
    covered = pd.Timestamp(source["covered_from"])
    assert run.main.start >= covered and not run.main.in_sample
    assert set(source["bars"]) == {"walk-forward fold", f"model v{run.choices['BTC/USDT'].version}"}
    early = covered - 10 * 24 * HOUR
    with pytest.raises(BacktestError) as refused:
        run_model_backtest(account, start=early, baselines=False)
    text = str(refused.value)
    assert f"no out-of-sample prediction before {covered:%Y-%m-%d %H:%M}" in text
    assert "--allow-in-sample" in text
    anyway = run_model_backtest(account, start=early, allow_in_sample=True, baselines=False)
    assert anyway.main.in_sample
    assert anyway.main.prediction_source["BTC/USDT"]["bars"]["in-sample"] > 0


def test_the_comparison_legs_trade_the_same_window_with_the_same_costs(account):
    run = run_model_backtest(account, baselines=True)
    labels = {leg.label: leg for leg in run.legs}
    assert set(labels) == {"buy_and_hold", "persistence", "always_up", "zero_return"}
    for leg in run.legs:
        assert (leg.start, leg.end, leg.costs) == (run.main.start, run.main.end, run.main.costs)
        assert leg.run_id != run.main.run_id
    hold = labels["buy_and_hold"]
    assert len(hold.fills) == len(SYMBOLS)  # bought once per symbol, then held
    assert hold.metrics["exposure"] > 0.99


@pytest.mark.usefixtures("prefect_harness")
def test_cli_backtest_stores_once_and_logs_to_mlflow(account):
    args = ["backtest", "--monte-carlo", "200"]
    first = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert first.exit_code == 0, first.output
    assert "buy_and_hold" in first.stdout and "roadmap target" in first.stdout
    assert "stationary_bootstrap" in first.stdout and "SIMULATED" in first.stdout
    runs = query(account, "select run_id, parent_id, role, label, mlflow_run_id from backtest_runs")
    main = runs[runs["role"] == "strategy"]
    assert len(main) == 1 and len(runs) == 5
    assert set(runs.loc[runs["role"] != "strategy", "parent_id"]) == {main["run_id"].iloc[0]}
    counts = {
        t: int(query(account, f"select count(*) n from {t}")["n"][0])
        for t in ("backtest_runs", "backtest_orders", "backtest_fills", "backtest_equity")
    }
    again = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert again.exit_code == 0, again.output
    assert "backtested before with the same inputs" in again.stdout
    assert {t: int(query(account, f"select count(*) n from {t}")["n"][0]) for t in counts} == counts
    client = configure(account)
    logged = client.get_run(main["mlflow_run_id"].iloc[0])
    assert logged.data.tags["backtest.run_id"] == main["run_id"].iloc[0]
    assert logged.data.params["strategy"] == "long_flat"
    assert {"sharpe", "buy_and_hold/total_return", "persistence/sharpe"} <= set(logged.data.metrics)
    artifacts = {a.path for a in client.list_artifacts(logged.info.run_id)}
    assert {"equity.parquet", "fills.parquet", "equity.png", "monte_carlo.png"} <= artifacts


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--strategy", "martingale"], "unknown strategy 'martingale'"),
        (["--model", "simulator.BTC-USDT.1h.h1/99"], "has no version 99"),
        (["--model", "nonsense"], "is not a cryptobot model name"),
        (["--symbols", "DOGE/USDT"], "DOGE"),
        (["--start", "2026-01-02", "--end", "2025-12-01"], "is not before --end"),
        (["--start", "2030-01-01"], "no simulator 1h bars for BTC/USDT, ETH/USDT from 2030"),
        (["--capital", "0"], "--capital must be a positive amount"),
        (["--fee", "-0.001"], "--fee must be a number >= 0"),
        (["--strategy", "sma_cross", "--model", "simulator.BTC-USDT.1h.h1/1"], "drop --model"),
    ],
)
def test_cli_backtest_refuses_bad_input_and_stores_nothing(account, args, says):
    result = runner.invoke(app, ["backtest", *args], env={"COLUMNS": "200"})
    assert result.exit_code == 10, result.output
    assert says in result.output and "error:" in result.output
    assert query(account, "select count(*) n from backtest_runs")["n"][0] == 0
