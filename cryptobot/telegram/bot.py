"""The Telegram bot's polling loop (``cryptobot telegram``): long-poll getUpdates, obey allowed
chats, answer each command, back off while Telegram fails.

Updates are fetched with ``getUpdates`` and an ``offset`` one past the newest update handled, so
Telegram forgets each update once the next poll confirms it (a restarted bot picks up what it
had not confirmed). Requests go through :func:`cryptobot.notify.call`, which already retries a
429 after Telegram's ``retry_after`` and a 5xx or network error a few times; when that gives up,
the loop waits 1, 2, 4, ... seconds (at most ``telegram.max_backoff``) and polls again. The first
request is ``getMe``: a wrong token fails at once, and commands addressed to another bot in a
group (``/status@other_bot``) are left alone. An error
no wait can mend (a wrong token: 401; a webhook set on the bot: 409) stops the bot with the
message.

Only chats in ``settings.telegram_allowed_chats`` are obeyed; any other chat gets a one-line
refusal, and the refusal is logged with the chat id and the update id, never the message. The
token is in every request URL and nowhere else: not in a reply, a log line or an error.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from cryptobot.config import Settings
from cryptobot.errors import CryptobotError, NotificationError, WarehouseBusyError
from cryptobot.notify import call, redact, send_document, send_message
from cryptobot.telegram.replies import COMMANDS, Ask, Handler, Reply, help_text

logger = logging.getLogger(__name__)

#: failures in a row a ``--once`` run tolerates before it gives up
ONCE_ATTEMPTS = 3
BUSY = "The warehouse is busy (a flow is writing to it); try again in a minute."


@dataclass
class BotStats:
    polls: int = 0
    updates: int = 0
    answered: int = 0
    refused: int = 0
    failures: int = 0  # polls that failed (after notify's own retries)


class TelegramBot:
    """Polls updates and answers commands; ``handlers`` add to (or replace) :data:`COMMANDS`."""

    def __init__(
        self,
        settings: Settings,
        handlers: dict[str, tuple[Handler, str]] | None = None,
        *,
        log: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not settings.telegram_allowed_chats:
            raise NotificationError(
                "the bot obeys no chat: set CRYPTOBOT_TELEGRAM_CHAT_ID (your chat with the bot) "
                "or telegram.allowed_chat_ids"
            )
        self.settings = settings
        # replies wait for a busy warehouse only this long, then say so (never hang)
        self.reply_settings = settings.model_copy(
            update={"write_lock_timeout": settings.telegram.busy_timeout}
        )
        self.commands = {**COMMANDS, **(handlers or {})}
        self.allowed = settings.telegram_allowed_chats
        self.offset = 0
        self.username: str | None = None  # the bot's own, from getMe: /cmd@other is not ours
        self.stats = BotStats()
        self.log = log or logger.info
        self.sleep = sleep
        token = settings.telegram_bot_token
        self._token = token.get_secret_value().strip() if token else ""

    # -- one poll ----------------------------------------------------------------------------

    def introduce(self) -> str:
        """Ask Telegram who the bot is (``getMe``): checks the token before the first poll and
        learns the username that commands in a group are addressed to (``/status@name``)."""
        me = call(self.settings, "getMe", {})
        self.username = str(me.get("username") or "") if isinstance(me, dict) else ""
        return self.username

    def fetch(self, timeout: int) -> list[dict]:
        """The pending updates (waiting up to ``timeout`` seconds for one)."""
        data = {"timeout": str(timeout), "allowed_updates": '["message"]'}
        if self.offset:
            data["offset"] = str(self.offset)
        result = call(
            self.settings,
            "getUpdates",
            data,
            timeout=httpx.Timeout(timeout + 15.0, connect=5.0),
        )
        if not isinstance(result, list):
            raise NotificationError(f"Telegram getUpdates answered {type(result).__name__}")
        return [u for u in result if isinstance(u, dict) and isinstance(u.get("update_id"), int)]

    def poll(self, timeout: int) -> int:
        """Fetch and handle one batch of updates; the number handled."""
        self.stats.polls += 1
        updates = self.fetch(timeout)
        for update in sorted(updates, key=lambda u: u["update_id"]):
            self.handle(update)
            self.offset = max(self.offset, update["update_id"] + 1)
        return len(updates)

    # -- one update --------------------------------------------------------------------------

    def handle(self, update: dict) -> None:
        self.stats.updates += 1
        message = update.get("message")
        if not isinstance(message, dict) or not isinstance(message.get("chat"), dict):
            return  # not a message (an edit, a join): nothing to answer
        chat = str(message["chat"].get("id", ""))
        if chat not in self.allowed:
            self.stats.refused += 1
            logger.warning(
                "refused update %s from chat %s: not an allowed chat (telegram.allowed_chat_ids)",
                update["update_id"],
                chat,
            )
            self._send(chat, Reply("This chat is not allowed to command this bot."))
            return
        text = message.get("text")
        if not isinstance(text, str) or not text.strip().startswith("/"):
            self._send(chat, Reply("Send a command, e.g. /status; /help lists them."))
            return
        words = text.split()
        name, _, addressee = words[0][1:].partition("@")
        name = name.lower()
        if addressee and self.username and addressee.lower() != self.username.lower():
            return  # a group's command for another bot
        sender = message.get("from") or {}
        by = f"telegram chat {chat} user {sender.get('id', '?')}"
        if sender.get("username"):
            by += f" (@{sender['username']})"
        self.log(f"update {update['update_id']} from chat {chat}: /{name}")
        self.stats.answered += 1
        self._send(chat, self.answer(name, Ask(args=words[1:], by=by)))

    def answer(self, name: str, ask: Ask) -> Reply:
        """The reply to ``/name``, errors included as text (the bot never dies of a command)."""
        if name in ("help", "start"):
            return Reply(help_text(self.commands))
        if name not in self.commands:
            return Reply(f"unknown command /{name}\n{help_text(self.commands)}")
        handler, _ = self.commands[name]
        try:
            return handler(self.reply_settings, ask)
        except WarehouseBusyError:
            return Reply(BUSY)
        except CryptobotError as exc:
            return Reply(f"/{name} failed: {exc}")
        except Exception as exc:  # noqa: BLE001 - one bad command must not stop the bot
            logger.exception("/%s failed", name)
            return Reply(f"/{name} failed: {type(exc).__name__} (see the bot's log)")

    def _send(self, chat: str, reply: Reply) -> None:
        text = redact(reply.text, self._token)
        try:
            if reply.document is not None:
                send_document(self.settings, reply.document, caption=text, chat_id=chat)
            else:
                send_message(self.settings, text, chat_id=chat)
        except NotificationError as exc:  # already redacted; the next update is answered anyway
            logger.warning("reply to chat %s not delivered: %s", chat, exc)

    # -- the loop ----------------------------------------------------------------------------

    def backoff(self, failures: int) -> float:
        return min(self.settings.telegram.max_backoff, 2.0 ** (failures - 1))

    def run(self, *, once: bool = False, stop: threading.Event | None = None) -> BotStats:
        """Poll until ``stop`` is set (or, with ``once``, until no update is pending)."""
        failures = 0
        timeout = 0 if once else self.settings.telegram.poll_timeout
        while stop is None or not stop.is_set():
            try:
                if self.username is None:
                    self.introduce()
                handled = self.poll(timeout)
            except NotificationError as exc:
                if not exc.retryable:
                    raise
                failures += 1
                self.stats.failures += 1
                if once and failures >= ONCE_ATTEMPTS:
                    raise
                wait = self.backoff(failures)
                logger.warning("polling Telegram failed (%s); again in %.0f s", exc, wait)
                self.log(f"polling Telegram failed; again in {wait:.0f} s")
                self.sleep(wait)
                continue
            failures = 0
            if once and handled == 0:
                break
        return self.stats
