"""The `daily_report` flow and `cryptobot report` under Prefect's test harness, delivering to a
local server standing in for the Telegram Bot API."""

from __future__ import annotations

import logging

import pytest
from typer.testing import CliRunner

from cryptobot.cli import app
from cryptobot.errors import NotificationError
from flows.report import daily_report
from tests.trading_factory import seed_trading
from tests.unit.test_notify import CHAT, TOKEN, telegram  # noqa: F401 - the fixture

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]
runner = CliRunner()


@pytest.fixture
def seeded(settings):
    return seed_trading(settings.warehouse)


@pytest.fixture
def with_telegram(monkeypatch, telegram):  # noqa: F811 - the fixture imported above
    monkeypatch.setenv("CRYPTOBOT_TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("CRYPTOBOT_TELEGRAM_CHAT_ID", CHAT)
    monkeypatch.setenv("CRYPTOBOT_TELEGRAM_API_URL", telegram.url)
    return telegram


def test_flow_builds_and_sends_the_report(settings, seeded, with_telegram, caplog):
    caplog.set_level(logging.INFO)
    result = daily_report(period="weekly", day="2025-12-03")
    path = settings.reports_dir / "weekly-2025-12-03.html"
    assert result["path"] == str(path) and path.is_file()
    assert result["sent"] is True
    assert result["trades"] == len(seeded.trades)
    [request] = with_telegram.requests
    assert request.path == f"/bot{TOKEN}/sendDocument"
    form = request.form()
    assert form["chat_id"] == CHAT
    assert form["document"] == (path.name, path.read_bytes())
    assert form["caption"].startswith("[SIMULATED] cryptobot weekly report")
    assert TOKEN not in caplog.text


def test_flow_without_telegram_only_writes_and_send_true_is_refused(settings, seeded):
    result = daily_report()
    assert result["sent"] is False and result["day"] == "2025-12-02"
    with pytest.raises(NotificationError, match="not configured"):
        daily_report(send=True)


def test_cli_report_prints_the_headline_and_path(settings, seeded):
    result = runner.invoke(app, ["report", "--period", "monthly", "--day", "2025-12-31"])
    assert result.exit_code == 0, result.output
    path = settings.reports_dir / "monthly-2025-12-31.html"
    assert path.is_file()
    assert (
        "[SIMULATED] cryptobot monthly report: December 2025 (account default, paper)"
        in result.output
    )
    last = seeded.equity["equity"].iloc[-1]
    assert f"-> {last:,.2f}" in result.output
    assert f"{len(seeded.trades)} trades" in result.output
    assert path.name in result.output


def test_cli_send_without_telegram_fails_with_a_clear_message(settings, seeded):
    result = runner.invoke(app, ["report", "--send"])
    assert result.exit_code == NotificationError.exit_code
    assert "CRYPTOBOT_TELEGRAM_BOT_TOKEN" in result.output


def test_cli_report_help_and_bad_day():
    help_text = runner.invoke(app, ["report", "--help"])
    assert help_text.exit_code == 0 and "--send" in help_text.output
    bad = runner.invoke(app, ["report", "--day", "31.12.2025"])
    assert bad.exit_code == 2


def test_delivery_is_retried_only_when_a_later_attempt_may_succeed():
    from prefect.states import Failed

    from cryptobot.errors import ConfigError
    from flows._common import retry_unless_known
    from flows.report import send_report_task

    assert send_report_task.retry_condition_fn is retry_unless_known
    flaky = Failed(data=NotificationError("HTTP 503", retryable=True))
    refused = Failed(data=NotificationError("Bad Request: chat not found"))
    config = Failed(data=ConfigError("no such setting"))
    unknown = Failed(data=OSError("connection reset"))  # not ours: may be transient
    assert retry_unless_known(None, None, flaky) is True
    assert retry_unless_known(None, None, refused) is False
    assert retry_unless_known(None, None, config) is False
    assert retry_unless_known(None, None, unknown) is True
