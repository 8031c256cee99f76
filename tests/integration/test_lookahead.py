"""`cryptobot check-lookahead` on real warehouses: it passes where nothing looks ahead, and fails,
naming the column, where a feature, a model or a strategy does.

One module-scoped base warehouse: two simulated symbols (60 days of 1h bars, signal 0.3, an
XGBoost champion each) and a Binance kline file of 90 days of 1h candles (with a gap) imported
as binance BTC/USDT, features built by dbt once. Tests that change something work on a copy.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cryptobot.cli import app
from cryptobot.config import Settings, load_settings
from cryptobot.features import build_features
from cryptobot.ingest import import_file, ingest_simulator, store_market_frame
from cryptobot.trading.strategies import STRATEGIES, Strategy
from models.dataset import Target, load_dataset
from models.families import FAMILY_MODULES, register
from models.families.base import Forecaster, prediction_frame
from models.tracking import configure, log_forecaster
from tests.champions import train_champion
from tests.conftest import make_candles

pytestmark = pytest.mark.integration
runner = CliRunner()

SIMULATED = ["BTC/USDT", "ETH/USDT"]
#: a difference line: "  SYMBOL YYYY-MM-DD HH:MM STAGE COLUMN: full run ..., truncated ..."
DIFFERENCE = re.compile(
    r"^\s+(?P<symbol>\S+) (?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d) "
    r"(?P<stage>feature|prediction|decision) (?P<column>\S+): full run"
)


def _quiet(_: str) -> None:
    pass


def write_binance_klines(path: Path, days: int, *, seed: int, gap: slice) -> None:
    """A Binance public-data kline CSV (no header, ms times) of 1h candles, ``gap`` left out."""
    candles = make_candles(days * 24, start="2025-01-01", seed=seed, price=42_000.0)
    candles = candles.drop(index=range(gap.start, gap.stop))
    open_ms = candles["ts"].astype("int64") // 1_000  # µs -> ms
    pd.DataFrame(
        {
            "open_time": open_ms,
            "open": candles["open"],
            "high": candles["high"],
            "low": candles["low"],
            "close": candles["close"],
            "volume": candles["volume"],
            "close_time": open_ms + 3_599_999,
            "quote_volume": candles["volume"] * candles["close"],
            "count": 100,
            "taker_buy_volume": candles["volume"] / 2,
            "taker_buy_quote_volume": candles["volume"] * candles["close"] / 2,
            "ignore": 0,
        }
    ).to_csv(path, header=False, index=False, float_format="%.8f")


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("lookahead")
    settings = load_settings(
        warehouse=root / "base.duckdb",
        data_dir=root / "data",
        symbols=SIMULATED,
        training={"min_train": 300, "folds": 2},
    )
    ingest_simulator(settings, symbols=SIMULATED, timeframe="1h", days=60, seed=3, signal=0.3)
    klines = root / "BTCUSDT-1h-2025.csv"
    write_binance_klines(klines, 90, seed=11, gap=slice(1000, 1003))
    import_file(settings, klines, exchange="binance", symbol="BTC/USDT", timeframe="1h")
    build_features(settings, log=_quiet)
    for symbol in SIMULATED:
        train_champion(settings, Target("simulator", symbol, "1h", 1))
    return settings


def use(monkeypatch: pytest.MonkeyPatch, warehouse: Path, data_dir: Path) -> None:
    monkeypatch.setenv("CRYPTOBOT_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("CRYPTOBOT_DATA_DIR", str(data_dir))


def check(*args: str):
    return runner.invoke(app, ["check-lookahead", *args], env={"COLUMNS": "200"})


def table_row(output: str, symbol: str) -> list[str]:
    line = next(row for row in output.splitlines() if row.startswith(f"│ {symbol} "))
    return [cell.strip() for cell in line.strip("│ ").split("│")]


def differences(output: str) -> pd.DataFrame:
    found = [m.groupdict() for m in map(DIFFERENCE.match, output.splitlines()) if m]
    return pd.DataFrame(found, columns=["symbol", "ts", "stage", "column"])


def scratch_left(data_dir: Path) -> list[Path]:
    return list(data_dir.glob("lookahead-*"))


# -- clean runs ---------------------------------------------------------------------------------


def test_simulated_features_predictions_and_decisions_do_not_look_ahead(
    base: Settings, monkeypatch: pytest.MonkeyPatch
):
    use(monkeypatch, base.warehouse, base.data_dir)
    result = check("--symbols", ",".join(SIMULATED), "--strategy", "long_flat")
    assert result.exit_code == 0, result.output
    assert "no lookahead" in result.output and "SIMULATED" in result.output
    for symbol in SIMULATED:
        symbol_, bars, features, predictions, decisions, worst, model = table_row(
            result.output, symbol
        )
        assert int(bars) >= 50
        assert features == predictions == decisions == f"{bars}/{bars}"
        assert model.startswith("@champion v") and model.endswith("xgboost")
        assert worst == "none" or float(worst) <= 1e-9
    assert not differences(result.output).size
    assert not scratch_left(base.data_dir)  # the scratch warehouse is removed


def test_a_file_imported_series_passes_with_a_price_only_strategy(
    base: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    use(monkeypatch, base.warehouse, tmp_path / "empty")  # an MLflow store without models
    result = check(
        "--exchange", "binance", "--symbols", "BTC/USDT", "--strategy", "sma_cross", "--bars", "60"
    )
    assert result.exit_code == 0, result.output
    _, bars, features, predictions, decisions, _, model = table_row(result.output, "BTC/USDT")
    assert (bars, features, decisions) == ("60", "60/60", "60/60")
    assert (predictions, model) == ("skipped", "none")
    assert "no champion for binance.BTC-USDT.1h.h1: predictions not checked" in result.output
    assert "SIMULATED" not in result.output


@pytest.mark.slow
def test_a_file_imported_series_passes_with_its_own_model(
    base: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    data_dir = tmp_path / "data"
    settings = base.model_copy(update={"data_dir": data_dir})
    train_champion(settings, Target("binance", "BTC/USDT", "1h", 1))
    use(monkeypatch, base.warehouse, data_dir)
    result = check("--exchange", "binance", "--symbols", "BTC/USDT", "--strategy", "long_short")
    assert result.exit_code == 0, result.output
    _, bars, features, predictions, decisions, _, model = table_row(result.output, "BTC/USDT")
    assert features == predictions == decisions == "50/50" and "xgboost" in model


# -- it can fail --------------------------------------------------------------------------------


class PeekNextClose(Strategy):
    """Long when the NEXT bar closes higher: a strategy that looks ahead."""

    name = "peek_next_close"
    description = "test only: reads the next bar's close"
    uses_model = False

    def populate_targets(self, frame: pd.DataFrame) -> np.ndarray:
        close = frame["close"].to_numpy(dtype="float64")
        ahead = np.append(close[1:], np.nan)
        return np.where(np.isnan(ahead), np.nan, (ahead > close).astype(float))


def test_a_feature_carrying_the_next_close_and_a_peeking_strategy_are_named(
    base: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    warehouse = tmp_path / "tampered.duckdb"
    shutil.copy(base.warehouse, warehouse)
    with duckdb.connect(str(warehouse)) as con:  # rsi_14 now says where the next close goes
        con.execute(
            """
            update marts.fct_features f
            set rsi_14 = case when n.next_close > f.close then 70.0 else 30.0 end
            from (
                select exchange, symbol, timeframe, ts,
                    lead(close) over (partition by exchange, symbol, timeframe order by ts)
                        as next_close
                from marts.fct_features
            ) n
            where f.exchange = n.exchange and f.symbol = n.symbol
                and f.timeframe = n.timeframe and f.ts = n.ts
                and f.rsi_14 is not null and n.next_close is not null
            """
        )
    monkeypatch.setitem(STRATEGIES, PeekNextClose.name, PeekNextClose)
    use(monkeypatch, warehouse, tmp_path / "empty")
    result = check(
        "--exchange", "binance", "--symbols", "BTC/USDT", "--strategy", PeekNextClose.name
    )
    assert result.exit_code == 11, result.output
    found = differences(result.output)
    features = found[found["stage"] == "feature"]
    assert set(features["column"]) == {"rsi_14"}  # exactly the tampered column
    assert len(features) >= 45  # every cut but where the tampered value happens to match
    assert set(found["stage"]) == {"feature", "decision"}
    assert set(found.loc[found["stage"] == "decision", "column"]) == {"target_weight"}
    _, bars, feature_tally, _, decisions, worst, _ = table_row(result.output, "BTC/USDT")
    assert feature_tally == f"{50 - len(features)}/50" and float(worst) > 1e-9
    assert decisions.endswith("/50") and decisions != "50/50"
    assert "lookahead found in feature rsi_14" in result.output
    assert "decision target_weight" in result.output
    assert not scratch_left(tmp_path / "empty")


@pytest.mark.slow
def test_a_dbt_window_that_reaches_one_bar_forward_is_named(
    base: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The bug the check exists for: a feature model whose window ends one bar after the row.
    The full build and the recomputation run the same (wrong) SQL; only the recomputation lacks
    the bar after the cut."""
    project = tmp_path / "dbt_project"
    shutil.copytree(base.dbt_project_dir, project, ignore=shutil.ignore_patterns("target", "logs"))
    model = project / "models" / "intermediate" / "int_candles_indicators.sql"
    honest = "avg(close) over (series rows between 19 preceding and current row) as close_mean_20"
    assert honest in model.read_text()
    model.write_text(
        model.read_text().replace(honest, honest.replace("current row", "1 following"))
    )
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(base.warehouse, warehouse)
    data_dir = tmp_path / "data"
    leaky = base.model_copy(
        update={"warehouse": warehouse, "data_dir": data_dir, "dbt_project_dir": project}
    )
    build_features(leaky, full_refresh=True, log=_quiet)  # its data tests do not notice
    use(monkeypatch, warehouse, data_dir)
    monkeypatch.setenv("CRYPTOBOT_DBT_PROJECT_DIR", str(project))
    result = check("--exchange", "binance", "--symbols", "BTC/USDT", "--strategy", "sma_cross")
    assert result.exit_code == 11, result.output
    found = differences(result.output)
    assert set(found["column"]) == {"bb_upper", "bb_middle", "bb_lower"}
    assert (found["column"] == "bb_middle").sum() >= 49  # every cut but the series' last bar


class PeekNextReturn(Forecaster):
    """Predicts each row's label from the next row's log_return_1: a model that looks ahead
    when it predicts a batch (the last row of a batch has no next row, and predicts 0)."""

    family = "peek_next_return"

    def fit(self, train: pd.DataFrame, features: list[str]) -> None:
        self.features = ["log_return_1"]

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        ahead = frame["log_return_1"].shift(-1).fillna(0.0).to_numpy()
        return prediction_frame(frame.index, ahead, (ahead > 0).astype(float))


def test_a_model_that_reads_the_next_row_is_named(base: Settings, monkeypatch: pytest.MonkeyPatch):
    import mlflow

    monkeypatch.setitem(FAMILY_MODULES, PeekNextReturn.family, __name__)
    register(PeekNextReturn)
    target = Target("simulator", "BTC/USDT", "1h", 1)
    client = configure(base)
    mlflow.set_experiment(target.name)
    forecaster = PeekNextReturn()
    forecaster.fit(load_dataset(base, target).frame, ["log_return_1"])
    with mlflow.start_run(run_name="peek-next-return"):
        version = log_forecaster(
            forecaster,
            input_columns=["log_return_1"],
            registered_name=target.name,
            metadata={"test": "lookahead"},
        )
    client.set_model_version_tag(target.name, version, "family", PeekNextReturn.family)
    use(monkeypatch, base.warehouse, base.data_dir)
    result = check("--model", f"{target.name}/{version}", "--strategy", "long_flat")
    assert result.exit_code == 11, result.output
    found = differences(result.output)
    assert set(found["symbol"]) == {"BTC/USDT"}
    assert "feature" not in set(found["stage"])  # the features are clean
    predictions = found[found["stage"] == "prediction"]
    assert set(predictions["column"]) == {"pred_return", "prob_up"}
    assert (predictions["column"] == "pred_return").sum() >= 49  # all but the last bar
    assert set(found.loc[found["stage"] == "decision", "column"]) == {"target_weight"}
    _, _, features, tally, _, _, model = table_row(result.output, "BTC/USDT")
    assert features == "50/50" and tally != "50/50"
    assert model == f"v{version} {PeekNextReturn.family}"


# -- bad input ----------------------------------------------------------------------------------


def test_bad_input_gets_one_clear_paragraph(
    base: Settings, settings: Settings, monkeypatch: pytest.MonkeyPatch
):
    use(monkeypatch, base.warehouse, base.data_dir)
    result = check("--bars", "49")
    assert result.exit_code == 2
    assert "--bars 49 is too few: the check needs at least 50 bars per symbol" in result.output

    result = check("--symbols", "DOGE/USDT")
    assert result.exit_code == 2
    assert "no candles for simulator DOGE/USDT 1h" in result.output
    assert "simulator BTC/USDT 1h" in result.output  # what is stored instead

    result = check("--exchange", "binance", "--symbols", "BTC/USDT", "--bars", "5000")
    assert result.exit_code == 2 and "the check needs 5000 (--bars)" in result.output

    result = check("--strategy", "nope")
    assert result.exit_code == 2 and "unknown strategy 'nope'" in result.output

    # candles stored, features never built
    store_market_frame(
        settings,
        make_candles(500),
        exchange="binance",
        timeframe="1h",
        source="file",
        symbol="BTC/USDT",
    )
    use(monkeypatch, settings.warehouse, settings.data_dir)
    result = check("--exchange", "binance", "--symbols", "BTC/USDT")
    assert result.exit_code == 5
    assert "run `cryptobot features` first" in result.output
