"""Telegram end to end: the flows' failure hook, the daily summary switch, the stale-data check
of an ingest, and the CLI (`telegram --once`, `pause`, `resume`, `status`) against a fake Bot
API on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prefect import flow
from typer.testing import CliRunner

from cryptobot import notify
from cryptobot.cli import app
from cryptobot.config import Settings, load_settings
from cryptobot.errors import SourceError
from flows._common import ALERT_HOOKS
from tests.fake_telegram import TOKEN, FakeTelegram, fake_telegram
from tests.trading_factory import seed_trading

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]
runner = CliRunner()
CHAT = "31337"
SYMBOLS = ("BTC/USDT", "ETH/USDT")


@pytest.fixture
def telegram(settings: Settings, monkeypatch) -> Iterator[FakeTelegram]:
    """The fake Bot API, configured through the environment as a deployment would be."""
    with fake_telegram() as fake:
        monkeypatch.setenv("CRYPTOBOT_TELEGRAM_BOT_TOKEN", TOKEN)
        monkeypatch.setenv("CRYPTOBOT_TELEGRAM_CHAT_ID", CHAT)
        monkeypatch.setenv("CRYPTOBOT_TELEGRAM_API_URL", fake.url)
        monkeypatch.setenv("CRYPTOBOT_SYMBOLS", ",".join(SYMBOLS))
        monkeypatch.setattr(notify, "_sleep", lambda _: None)
        yield fake


@flow(name="doomed", **ALERT_HOOKS)
def doomed() -> None:
    raise SourceError("binance did not answer: ReadTimeout")


def test_a_failed_flow_sends_an_alert_naming_it(telegram):
    with pytest.raises(SourceError):
        doomed()
    (text,) = telegram.sent(CHAT)
    assert text.startswith("cryptobot: flow doomed run ")
    assert text.endswith(
        "failed: Flow run encountered an exception: SourceError: binance did not "
        "answer: ReadTimeout"
    )


def test_the_flow_failure_alert_can_be_switched_off(telegram, monkeypatch):
    monkeypatch.setenv("CRYPTOBOT_TELEGRAM__ALERTS", "fills,risk")
    with pytest.raises(SourceError):
        doomed()
    assert telegram.sent() == []


def test_an_unreachable_telegram_leaves_the_flow_failure_as_it_was(telegram, monkeypatch):
    telegram.fail("sendMessage", 503, "Service Unavailable", times=notify.ATTEMPTS)
    with pytest.raises(SourceError, match="binance did not answer"):
        doomed()
    assert len(telegram.of("sendMessage")) == notify.ATTEMPTS


@pytest.mark.slow  # three reports (~10 s)
def test_the_daily_summary_goes_out_only_while_switched_on(telegram, settings, monkeypatch):
    from flows.report import daily_report

    seed_trading(settings.warehouse, symbols=SYMBOLS)
    sent = daily_report(period="daily")
    assert sent["sent"] and len(telegram.of("sendDocument")) == 1
    monkeypatch.setenv("CRYPTOBOT_TELEGRAM__ALERTS", "fills")
    quiet = daily_report(period="daily")
    assert not quiet["sent"] and len(telegram.of("sendDocument")) == 1
    assert daily_report(period="daily", send=True)["sent"]  # asked for: sent all the same


def test_an_ingest_alerts_on_series_that_went_stale(telegram, settings):
    from flows.ingest import stale_data_alert

    seed_trading(settings.warehouse, symbols=SYMBOLS)  # candles of December 2025: long stale

    @flow
    def check() -> None:
        stale_data_alert(load_settings(), "simulator", list(SYMBOLS), "1h")

    check()
    (text,) = telegram.sent(CHAT)
    assert text.startswith("cryptobot: stale data, 2 series older than 120 min")
    assert "simulator ETH/USDT 1h: newest bar closed 2025-12-03 17:00 UTC" in text


# -- the command line ------------------------------------------------------------------------------


def test_cli_pause_resume_and_status(telegram, settings):
    seed_trading(settings.warehouse, symbols=SYMBOLS)
    paused = runner.invoke(app, ["pause", "--reason", "new model", "--by", "bob"])
    assert paused.exit_code == 0, paused.output
    assert "trading paused since" in paused.stdout and "by cli bob: new model" in paused.stdout
    status = runner.invoke(app, ["status"])
    assert status.exit_code == 0, status.output
    assert "trading paused since" in status.stdout
    again = runner.invoke(app, ["pause"])
    assert again.stdout.startswith("already paused: ")
    resumed = runner.invoke(app, ["resume", "--by", "bob"])
    assert "trading running: resumed since" in resumed.stdout


def test_cli_telegram_once_answers_pending_commands(telegram, settings):
    seed_trading(settings.warehouse, symbols=SYMBOLS)
    telegram.message("/balance", CHAT)
    telegram.message("/status", 999)
    result = runner.invoke(app, ["telegram", "--once"])
    assert result.exit_code == 0, result.output
    assert "1 command(s) answered, 1 refused" in result.stdout
    assert telegram.sent(CHAT)[0].startswith("[SIMULATED] paper account at")
    assert telegram.sent(999) == ["This chat is not allowed to command this bot."]
    assert TOKEN not in result.output


def test_cli_telegram_without_configuration_says_what_to_set(settings):
    result = runner.invoke(app, ["telegram", "--once"])
    assert result.exit_code == 7
    assert "CRYPTOBOT_TELEGRAM_CHAT_ID" in result.output
