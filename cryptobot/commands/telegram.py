"""`cryptobot telegram` (the bot's polling loop), `cryptobot pause` and `cryptobot resume`.

The bot and its replies are in ``cryptobot.telegram``; this module adds ``/models`` (it reads the
MLflow registry through ``models.registry``, a layer above the core), parses the options and
runs the loop until Ctrl-C.
"""

from __future__ import annotations

import getpass
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from cryptobot.cli import _fail, app, console
from cryptobot.config import Settings, load_settings
from cryptobot.errors import CryptobotError


def _models_reply(settings: Settings, ask):
    from cryptobot.telegram.replies import Reply, models_text
    from models.registry import list_models

    return Reply(models_text(list_models(settings)))


@app.command()
def telegram(
    once: Annotated[
        bool,
        typer.Option(
            "--once",
            help="Answer the commands waiting now, then exit (for cron or a test) instead of "
            "polling until Ctrl-C.",
        ),
    ] = False,
) -> None:
    """Run the Telegram bot: answer commands from allowed chats until Ctrl-C.

    Needs CRYPTOBOT_TELEGRAM_BOT_TOKEN (from @BotFather) and CRYPTOBOT_TELEGRAM_CHAT_ID (your
    chat with the bot; only it may command the bot unless telegram.allowed_chat_ids lists
    others). Other chats get a refusal, logged without their message.

    Commands: /status, /balance, /positions, /pnl [day|week|month], /trades [n], /models,
    /pause [why], /resume [why], /report [daily|weekly|monthly], /help. While paused, the
    trading step sends no order that adds risk (closing still goes); every pause and resume is
    stored with who, when and why. A command waits at most telegram.busy_timeout seconds for a
    warehouse a flow is writing, then answers "busy, try again".

    Examples: `cryptobot telegram`, `cryptobot telegram --once`.
    """
    with _bot_logging():
        _run_bot(once)


@contextmanager
def _bot_logging() -> Iterator[None]:
    """The bot's log lines on stderr (JSON with --log-format json) and httpx quiet (one line per
    long poll otherwise), for the bot's lifetime only."""
    from cryptobot import logs

    root, httpx_logger = logging.getLogger(), logging.getLogger("httpx")
    added = None
    if not root.handlers:
        added = logging.StreamHandler(sys.stderr)
        added.setFormatter(
            logs.JsonLines()
            if logs.current_format() == "json"
            else logging.Formatter("%(asctime)s %(levelname)s %(message)s")
        )
        root.addHandler(added)
    level = httpx_logger.level
    httpx_logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        httpx_logger.setLevel(level)
        if added is not None:
            root.removeHandler(added)


def _run_bot(once: bool) -> None:
    from cryptobot.telegram.bot import TelegramBot

    try:
        settings = load_settings()
        bot = TelegramBot(
            settings,
            {"models": (_models_reply, "each model's champion and its accuracy")},
            log=lambda line: console.print(line, highlight=False, soft_wrap=True),
        )
        allowed = ", ".join(sorted(bot.allowed))
        console.print(
            f"telegram bot: obeying chat(s) {allowed}; "
            + ("answering pending commands" if once else "polling, Ctrl-C to stop"),
            highlight=False,
        )
        stats = bot.run(once=once)
    except CryptobotError as exc:
        raise _fail(exc) from None
    except KeyboardInterrupt:
        stats = bot.stats
    console.print(
        f"telegram bot: {stats.answered} command(s) answered, {stats.refused} refused, "
        f"{stats.failures} failed poll(s)",
        highlight=False,
    )


def _by(by: str | None) -> str:
    return f"cli {by or getpass.getuser()}"


@app.command()
def pause(
    reason: Annotated[str | None, typer.Option(help="Why (stored in the audit trail).")] = None,
    by: Annotated[str | None, typer.Option(help="Who (default: your user name).")] = None,
) -> None:
    """Pause trading: from the next step no order adds risk (reducing and closing positions
    still go, as under the kill switch) until `cryptobot resume`. Stored in the warehouse with
    who, when and why; `cryptobot status` and Telegram's /status show it.

    Example: `cryptobot pause --reason "exchange maintenance"`.
    """
    from cryptobot.trading.pause import set_paused

    try:
        change = set_paused(load_settings(), True, by=_by(by), source="cli", reason=reason)
    except CryptobotError as exc:
        raise _fail(exc) from None
    prefix = "" if change.changed else "already paused: "
    console.print(prefix + change.state.describe(), highlight=False, soft_wrap=True)


@app.command()
def resume(
    reason: Annotated[str | None, typer.Option(help="Why (stored in the audit trail).")] = None,
    by: Annotated[str | None, typer.Option(help="Who (default: your user name).")] = None,
) -> None:
    """Resume trading after `cryptobot pause` (or Telegram's /pause): new risk is allowed from
    the next step. Stored with who, when and why.

    Example: `cryptobot resume --reason "maintenance over"`.
    """
    from cryptobot.trading.pause import set_paused

    try:
        change = set_paused(load_settings(), False, by=_by(by), source="cli", reason=reason)
    except CryptobotError as exc:
        raise _fail(exc) from None
    prefix = "" if change.changed else "not paused: "
    console.print(prefix + change.state.describe(), highlight=False, soft_wrap=True)
