"""JSON log lines and tracebacks at debug (cryptobot.logs)."""

from __future__ import annotations

import json
import logging

import pytest
from typer.testing import CliRunner

from cryptobot.cli import app
from cryptobot.logs import TRACEBACK_LOGGER, JsonLines, TracebacksAtDebug, log_target


def record(message: str, level: int = logging.INFO, **extra) -> logging.LogRecord:
    made = logging.LogRecord("prefect.task_runs", level, __file__, 1, message, (), None)
    made.__dict__.update(extra)
    return made


def test_a_json_line_has_time_level_run_target_and_message():
    with_args = logging.LogRecord(
        "cryptobot.x", logging.INFO, __file__, 1, "fold %d/%d", (3, 5), None
    )
    parsed = json.loads(JsonLines().format(with_args))
    assert parsed["message"] == "fold 3/5"
    assert parsed["level"] == "INFO"
    assert parsed["time"].endswith("Z") and "T" in parsed["time"]
    with log_target("simulator.BTC-USDT.1h.h1"):
        tagged = json.loads(
            JsonLines().format(
                record("x", flow_name="train", flow_run_id="0b6f", task_run_name="t-1")
            )
        )
    assert tagged["target"] == "simulator.BTC-USDT.1h.h1"
    assert (tagged["flow"], tagged["flow_run_id"], tagged["task"]) == ("train", "0b6f", "t-1")
    outside = json.loads(JsonLines().format(record("y")))
    assert "target" not in outside and "flow" not in outside  # no empty fields


def test_every_line_is_one_json_object_even_with_newlines_and_unicode():
    line = JsonLines().format(record("two\nlines — ünïcode"))
    assert "\n" not in line
    assert json.loads(line)["message"] == "two\nlines — ünïcode"


def test_an_error_keeps_its_message_and_its_traceback_goes_to_debug(caplog):
    try:
        raise ValueError("bad column 'close' in row 3")
    except ValueError:
        import sys

        failed = record("task failed: ValueError", logging.ERROR)
        failed.exc_info = sys.exc_info()
    with caplog.at_level(logging.DEBUG, logger=TRACEBACK_LOGGER):
        assert TracebacksAtDebug().filter(failed)
    assert failed.exc_info is None and failed.exc_text is None
    moved = [r for r in caplog.records if r.name == TRACEBACK_LOGGER]
    assert len(moved) == 1 and moved[0].levelno == logging.DEBUG
    assert "bad column 'close'" in "".join(
        logging.Formatter().formatException(moved[0].exc_info).splitlines()
    )


@pytest.fixture
def json_mode(monkeypatch):
    """The CLI callback switches the process to JSON; switch it back after the test."""
    import cryptobot.logs as logs

    monkeypatch.setattr("os.environ", dict(__import__("os").environ))
    yield
    logs._format = "text"


def test_a_command_error_is_one_json_line_on_stderr(json_mode, tmp_path):
    runner = CliRunner()
    result = runner.invoke(
        app,
        ["--log-format", "json", "sql", "select * from nowhere"],
        env={"CRYPTOBOT_WAREHOUSE": str(tmp_path / "missing.duckdb")},
    )
    assert result.exit_code != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    error = json.loads(lines[0])
    assert error["level"] == "ERROR" and error["exit_code"] == result.exit_code
    assert "no warehouse at" in error["message"]


def test_an_unknown_log_format_is_refused(json_mode):
    result = CliRunner().invoke(app, ["--log-format", "xml", "status"])
    assert result.exit_code == 2
    assert "xml" in result.output


def test_log_format_from_the_environment_is_validated(json_mode, monkeypatch):
    result = CliRunner().invoke(app, ["status"], env={"CRYPTOBOT_LOG_FORMAT": "yaml"})
    assert result.exit_code != 0
    assert "log_format" in result.output
