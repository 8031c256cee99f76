"""End to end through the CLI and the Prefect flows: ingest (simulator) -> validate -> features."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from typer.testing import CliRunner

from cryptobot.cli import app
from cryptobot.warehouse.db import read_connection

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]
runner = CliRunner()


def _ok(args: list[str]) -> str:
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, f"{args}: {result.output}\n{result.exception!r}"
    # both streams: `output` can come back holding only a logging error of Prefect's console
    # handler, which keeps the stream of an earlier invocation
    return result.stdout + result.stderr


def test_simulator_ingest_validate_features_status(settings):
    ingest = "ingest --source simulator --days 30 --symbols BTC/USDT,ETH/USDT --timeframe 1h"
    out = _ok([*ingest.split(), "--seed", "3", "--signal", "0.2"])
    # 2 symbols x 30 days x 24 bars of candles, and as many hourly sentiment rows
    assert "market_data 1,440 rows: 1,440 new, 0 updated, 0 unchanged" in out
    assert "sentiment 1,440 rows: 1,440 new" in out
    with read_connection(settings.warehouse) as con:
        market = con.execute(
            "select count(*), count(distinct symbol), min(source), max(source), min(exchange)"
            " from market_data"
        ).fetchone()
        sentiment = con.execute("select count(*), min(source) from sentiment").fetchone()
    assert market == (2 * 30 * 24, 2, "simulated", "simulated", "simulator")
    assert sentiment == (2 * 30 * 24, "simulated")

    again = _ok([*ingest.split(), "--seed", "3", "--signal", "0.2"])
    assert "market_data 1,440 rows: 0 new, 0 updated, 1,440 unchanged" in again  # idempotent
    assert "sentiment 1,440 rows: 0 new, 0 updated, 1,440 unchanged" in again

    validated = _ok(["validate"])
    assert "NO" not in validated and "BTC/USDT" in validated

    built = _ok(["features"])
    assert "features done" in built
    with read_connection(settings.warehouse) as con:
        features, simulated = con.execute(
            "select count(*), bool_and(is_simulated) from marts.fct_features"
        ).fetchone()
    assert features == 2 * 30 * 24 and simulated

    status = _ok(["status"])
    assert "SIMULATED" in status and "fct_features" in status


def test_import_flow_rejects_a_bad_file_and_keeps_stored_data(settings, tmp_path):
    good = tmp_path / "good.csv"
    good.write_text(
        "timestamp,open,high,low,close,volume\n"
        "1704067200000,100,101,99,100.5,10\n"
        "1704070800000,100.5,102,100,101,12\n"
    )
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "timestamp,open,high,low,close,volume\n"
        "1704074400000,101,100,99,100.5,10\n"  # high below open
        "1704078000000,100.5,102,100,101,-1\n"  # negative volume
    )
    args = ["import", "--exchange", "binance", "--symbol", "BTC/USDT", "--timeframe", "1h"]
    _ok([*args[:1], str(good), *args[1:]])
    result = runner.invoke(app, [args[0], str(bad), *args[1:]])
    assert result.exit_code == 4, result.output
    assert "2 of 2 rows failed" in result.output
    with read_connection(settings.warehouse) as con:
        assert con.execute("select count(*) from market_data").fetchone()[0] == 2
        assert con.execute("select count(*) from quarantine").fetchone()[0] == 2


def test_demo_runs_the_pipeline_and_says_where_to_look(settings):
    out = _ok(["demo", "--days", "10", "--seed", "5", "--no-train"])
    assert "Where to look" in out and str(settings.warehouse) in out
    with read_connection(settings.warehouse) as con:
        rows = con.execute("select count(*) from marts.fct_features").fetchone()[0]
        validations = con.execute("select bool_and(success) from validation_runs").fetchone()[0]
    assert rows == 5 * 10 * 24 and validations


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["ingest", "--days", "0"], "simulator.days"),
        (["ingest", "--signal", "1.5"], "simulator.signal"),
        (["ingest", "--timeframe", "7x"], "timeframes"),
        (["ingest", "--symbols", "BTCUSDT"], "symbols"),
    ],
)
def test_bad_ingest_options_fail_before_any_flow_runs(settings, args, field):
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert field in result.output
    assert "Traceback" not in result.output
    assert not settings.warehouse.exists()  # nothing started, nothing written


TRADING_TABLES = {
    "trade_decisions": "id",
    "orders": "client_order_id",
    "trades": "id",
    "positions": "symbol",
    "equity_curve": "ts",
    "ml_predictions": "model_name, ts",
}


def _without_wall_clock(html: str) -> str:
    """Times after the simulated history's end (2026-01-01) are wall-clock times."""
    return re.sub(
        r"\d{4}-\d\d-\d\d \d\d:\d\d",
        lambda m: m.group(0) if m.group(0) <= "2026-01-01 00:00" else "<wall clock>",
        html,
    )


def _snapshot(warehouse) -> dict:
    with read_connection(warehouse) as con:
        return {
            table: con.execute(f"select * from {table} order by {key}")
            .df()
            # wall-clock columns: when a row was written, an order sent and acknowledged
            .drop(
                columns=["created_at", "resolved_at", "sent_at", "acknowledged_at"], errors="ignore"
            )
            for table, key in TRADING_TABLES.items()
        }


def test_full_demo_trades_reports_and_twice_changes_nothing(settings, tmp_path, monkeypatch):
    """The whole demo, small: train, replay two days of hourly paper trading, the daily report.
    A second run stores nothing new and rewrites the same report; a fresh directory gets the
    same numbers (seeded)."""
    monkeypatch.setenv("CRYPTOBOT_SYMBOLS", "BTC/USDT,ETH/USDT")
    monkeypatch.setenv("CRYPTOBOT_TRAINING__FAMILIES", '["xgboost"]')
    monkeypatch.setenv("CRYPTOBOT_TRAINING__FOLDS", "2")
    monkeypatch.setenv("CRYPTOBOT_TRAINING__MIN_TRAIN", "300")
    args = ["demo", "--days", "90", "--seed", "11", "--signal", "0.5", "--replay-days", "2"]
    first = _ok(args)
    assert "replay" in first and "48 bar(s) (0 traded before)" in first
    assert "Streamlit" in first and "app/main.py" in first and "MLflow UI" in first
    report = next((settings.data_dir / "reports").glob("daily-*.html"))
    html = report.read_text()
    assert "SIMULATED" in html
    state = _snapshot(settings.warehouse)
    assert len(state["equity_curve"]) == 48 and len(state["trade_decisions"]) == 2 * 48
    assert len(state["orders"]) > 0 and len(state["trades"]) > 0

    second = _ok(args)
    # the newest bar is the account's last mark: re-run, and it finds every symbol decided
    assert "48 bar(s) (47 traded before), 0 order(s), 0 fill(s)" in second, second[-3000:]
    again = _snapshot(settings.warehouse)
    for table in TRADING_TABLES:
        assert len(again[table]) == len(state[table]), table
        pd.testing.assert_frame_equal(again[table], state[table], check_exact=True)
    # the same report, but for the times the validation runs happened (the wall clock: the
    # demo re-validates the warehouse on every run, and the report shows when)
    assert _without_wall_clock(report.read_text()) == _without_wall_clock(html)

    fresh = tmp_path / "fresh"
    monkeypatch.setenv("CRYPTOBOT_WAREHOUSE", str(fresh / "warehouse.duckdb"))
    monkeypatch.setenv("CRYPTOBOT_DATA_DIR", str(fresh))
    _ok(args)
    other = _snapshot(fresh / "warehouse.duckdb")
    for table in ("orders", "trades", "equity_curve", "positions"):
        pd.testing.assert_frame_equal(
            other[table].drop(columns=["updated_at"], errors="ignore"),
            state[table].drop(columns=["updated_at"], errors="ignore"),
            check_exact=False,
            rtol=1e-9,
        )
