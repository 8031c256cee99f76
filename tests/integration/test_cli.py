"""The CLI's read-only commands and its error handling (no Prefect needed for these)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cryptobot.cli import app
from cryptobot.ingest import store_market_frame
from tests.conftest import make_candles

pytestmark = pytest.mark.integration
runner = CliRunner()
COMMANDS = [
    "ingest",
    "import",
    "features",
    "validate",
    "status",
    "sql",
    "train",
    "models",
    "promote",
    "predict",
    "trade",
    "account",
    "backtest",
    "check-lookahead",
    "keys",
    "report",
    "demo",
    "api",
]


def test_help_lists_every_command_with_help_text():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in COMMANDS:
        assert command in result.output
    for command in COMMANDS:
        sub = runner.invoke(app, [command, "--help"])
        assert sub.exit_code == 0, sub.output
        assert "Usage" in sub.output and len(sub.output.splitlines()) > 5


@pytest.fixture
def populated(settings):
    candles = make_candles(72).drop(index=[10, 11, 12, 40])  # two gaps: 3 and 1 missing bars
    store_market_frame(
        settings, candles, exchange="binance", timeframe="1h", source="file", symbol="BTC/USDT"
    )
    return settings


def test_status_reports_series_coverage_and_gaps(populated):
    result = runner.invoke(app, ["status"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    line = next(row for row in result.output.splitlines() if "BTC/USDT" in row and "binance" in row)
    cells = [cell.strip() for cell in line.strip("│ ").split("│")]
    assert cells == [
        "binance",
        "BTC/USDT",
        "1h",
        "file",
        "2024-01-01 00:00",
        "2024-01-03 23:00",
        "68",
        "4",
        "2",
        "0",
    ]
    assert "largest gaps" in result.output


@pytest.mark.usefixtures("prefect_harness")
def test_import_refuses_an_implausible_revision_until_allowed_and_status_counts_it(
    settings, tmp_path
):
    candles = make_candles(300, price=34_000.0)
    rows = [
        f"{ts.value // 10**6},{o!r},{h!r},{lo!r},{c!r},{v!r}"
        for ts, o, h, lo, c, v in candles.itertuples(index=False)
    ]
    good = tmp_path / "good.csv"
    good.write_text("\n".join(["timestamp,open,high,low,close,volume", *rows]) + "\n")
    common = ["--exchange", "binance", "--symbol", "BTC/USDT", "--timeframe", "1h"]
    assert runner.invoke(app, ["import", str(good), *common]).exit_code == 0
    first = rows[250].split(",")[0]
    bad = tmp_path / "bad.csv"
    bad.write_text(good.read_text().replace(rows[250], f"{first},1,1000000,1,1,5"))
    refused = runner.invoke(app, ["import", str(bad), *common], env={"COLUMNS": "300"})
    assert refused.exit_code == 4, refused.output
    assert "would change 1 stored bar(s)" in refused.output
    assert "--allow-revisions" in refused.output
    assert "Traceback" not in refused.output
    allowed = runner.invoke(app, ["import", str(bad), *common, "--allow-revisions"])
    assert allowed.exit_code == 0, allowed.output
    assert "1 revised" in allowed.output
    status = runner.invoke(app, ["status"], env={"COLUMNS": "200"})
    line = next(row for row in status.output.splitlines() if "BTC/USDT" in row and "binance" in row)
    assert [cell.strip() for cell in line.strip("│ ").split("│")][-1] == "1"
    spaced = runner.invoke(app, ["import", str(good), *common[:-1], "5m"])
    assert spaced.exit_code == 3 and "bars are 1h apart" in spaced.output


def test_sql_prints_rows_and_formats(populated):
    result = runner.invoke(app, ["sql", "select symbol, count(*) as n from market_data group by 1"])
    assert result.exit_code == 0, result.output
    assert "BTC/USDT" in result.output and "68" in result.output
    as_json = runner.invoke(
        app, ["sql", "select count(*) as n from market_data", "--format", "json"]
    )
    assert json.loads(as_json.output) == [{"n": 68}]
    as_csv = runner.invoke(app, ["sql", "select 1 as a, 2 as b", "--format", "csv"])
    assert as_csv.output.splitlines() == ["a,b", "1,2"]
    limited = runner.invoke(app, ["sql", "select * from range(10)", "--limit", "3"])
    assert "first 3 shown" in limited.output


def test_sql_refuses_writes_and_bad_sql_with_clear_errors(populated):
    result = runner.invoke(app, ["sql", "delete from market_data"])
    assert result.exit_code == 1
    assert "read-only" in result.output
    result = runner.invoke(app, ["sql", "select * from no_such_table"])
    assert result.exit_code == 1 and "no_such_table" in result.output


def test_status_without_a_warehouse_says_what_to_do(settings):
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 1
    assert "cryptobot ingest" in result.output


def test_invalid_configuration_fails_at_start_naming_the_field(settings, monkeypatch):
    monkeypatch.setenv("CRYPTOBOT_RISK__MAX_POSITION_SIZE", "-1")
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 2
    assert "risk.max_position_size" in result.output
