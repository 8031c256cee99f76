"""Flow `daily_report`: build the daily, weekly or monthly report and deliver it to Telegram
when a bot token and chat id are configured (deployments `daily`, `weekly`, `monthly`)."""

from __future__ import annotations

from prefect import flow, task

from cryptobot.config import load_settings
from cryptobot.errors import NotificationError
from cryptobot.notify import is_configured, send_document
from cryptobot.reports import build_report, headline_text
from flows._common import ALERT_HOOKS, progress, retry_unless_known


@task(name="build-report")
def build_report_task(period: str, day: str | None) -> dict:
    report = build_report(load_settings(), period, day)
    log = progress()
    log(headline_text(report.summary))
    log(f"report written to {report.path}")
    return report.summary


@task(
    name="send-report",
    retries=2,
    retry_delay_seconds=30,
    retry_condition_fn=retry_unless_known,
)
def send_report_task(summary: dict) -> int | None:
    message = send_document(load_settings(), summary["path"], caption=headline_text(summary))
    progress()(f"report sent to Telegram chat {message.get('chat', {}).get('id', '?')}")
    return message.get("message_id")


@flow(name="daily_report", **ALERT_HOOKS)
def daily_report(period: str = "daily", day: str | None = None, send: bool | None = None) -> dict:
    """Build the `period` report (daily, weekly or monthly) for `day` (YYYY-MM-DD; default the
    last complete UTC day, or the simulated clock's for a simulated account) and send it to
    Telegram: `send` None = when configured (a daily report only while the `daily_summary`
    alert is on), True = required, False = never."""
    settings = load_settings()
    configured = is_configured(settings)
    if send is None and period == "daily" and "daily_summary" not in settings.telegram.alerts:
        send = False  # the daily summary alert is switched off
        progress()("the daily_summary alert is off (telegram.alerts): the report is not sent")
    if send and not configured:  # fail before building: the caller asked for delivery
        raise NotificationError(
            "the report was to be sent (--send) but Telegram is not configured: set "
            "CRYPTOBOT_TELEGRAM_BOT_TOKEN and CRYPTOBOT_TELEGRAM_CHAT_ID"
        )
    summary = build_report_task(period, day)
    sent = False
    if send is not False and configured:
        send_report_task(summary)
        sent = True
    elif send is None:
        progress()("Telegram not configured (CRYPTOBOT_TELEGRAM_BOT_TOKEN, _CHAT_ID): not sent")
    return {**summary, "sent": sent}
