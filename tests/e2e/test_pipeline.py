"""End to end through the CLI and the Prefect flows: ingest (simulator) -> validate -> features."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cryptobot.cli import app
from cryptobot.warehouse.db import read_connection

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_harness")]
runner = CliRunner()


def _ok(args: list[str]) -> str:
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, f"{args}: {result.output}\n{result.exception!r}"
    return result.output


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
