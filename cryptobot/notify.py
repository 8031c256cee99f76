"""Telegram delivery of reports and alerts, through the Bot API over httpx.

Configured by ``CRYPTOBOT_TELEGRAM_BOT_TOKEN`` and ``CRYPTOBOT_TELEGRAM_CHAT_ID`` (and
``CRYPTOBOT_TELEGRAM_API_URL``, default ``https://api.telegram.org``, e.g. a local Bot API server).
``notify`` is the call for alerts: it does nothing and returns False when Telegram is not
configured. ``send_message`` and ``send_document`` require the configuration.

A 429 (rate limit: Telegram says how many seconds to wait in ``parameters.retry_after``), a 5xx
or a network failure is retried a few times with a short back-off; anything else raises
:class:`NotificationError` with Telegram's own ``description``. The bot token is part of every
request URL; it never appears in a message, a log line or an exception: httpx's request log and
its error texts are redacted by :mod:`cryptobot.redact` (rule 7).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from cryptobot import redact as redaction
from cryptobot.config import Settings
from cryptobot.errors import NotificationError

#: attempts per call (the first one plus retries)
ATTEMPTS = 4
#: seconds before the 2nd, 3rd, ... attempt after a 5xx or a network failure
BACKOFF = (0.5, 1.0, 2.0)
#: a longer rate-limit wait than this is not waited out: the caller gets an error
MAX_RETRY_AFTER = 60.0
#: Telegram's limits: message text and document caption length
MAX_TEXT = 4096
MAX_CAPTION = 1024
TIMEOUT = httpx.Timeout(10.0, connect=5.0, write=30.0)

#: tests replace this to check the back-off without waiting
_sleep = time.sleep


def _redact(text: str, token: str | None = None) -> str:
    """``text`` with the bot token (and any ``/bot<token>/`` path) masked: the project's log
    redactor (:mod:`cryptobot.redact`) does it, and learns ``token`` for every later record."""
    if token:
        redaction.register(token)
    return redaction.redact(text)


def redact(text: str, token: str | None = None) -> str:
    """``text`` with any ``/bot<token>/`` URL path and the ``token`` itself replaced."""
    return _redact(text, token)


# httpx logs every request's URL at INFO: the redactor keeps the bot token out of the logs
redaction.install()


def is_configured(settings: Settings) -> bool:
    """True when both the bot token and the chat id are set."""
    token = settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else ""
    return bool(token.strip()) and bool((settings.telegram_chat_id or "").strip())


def _require(settings: Settings) -> tuple[str, str]:
    if not is_configured(settings):
        raise NotificationError(
            "Telegram is not configured: set CRYPTOBOT_TELEGRAM_BOT_TOKEN (from @BotFather) and "
            "CRYPTOBOT_TELEGRAM_CHAT_ID (the chat the bot posts to)"
        )
    assert settings.telegram_bot_token is not None and settings.telegram_chat_id is not None
    return settings.telegram_bot_token.get_secret_value().strip(), settings.telegram_chat_id.strip()


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _describe(response: httpx.Response) -> tuple[str, dict[str, Any]]:
    """Telegram's ``description`` and ``parameters`` from an error reply (any body tolerated)."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip() or response.reason_phrase, {}
    if not isinstance(body, dict):
        return str(body)[:200], {}
    return str(body.get("description") or response.reason_phrase), body.get("parameters") or {}


def call(
    settings: Settings,
    method: str,
    data: dict[str, str],
    files: dict[str, tuple[str, bytes, str]] | None = None,
    *,
    timeout: httpx.Timeout = TIMEOUT,
) -> Any:
    """POST one Bot API method, retrying rate limits, 5xx and network failures; its result
    (a message object, or for ``getUpdates`` a list of updates). ``timeout``: a long poll
    needs a read timeout longer than the poll's."""
    token, _ = _require(settings)
    redaction.register(token)  # the URL below holds it: no log line may
    base = settings.telegram_api_url.strip().rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise NotificationError(
            f"CRYPTOBOT_TELEGRAM_API_URL {base!r} is not an http(s) URL: use "
            "https://api.telegram.org (or your local Bot API server's address)"
        )
    url = f"{base}/bot{token}/{method}"
    problem = ""
    invalid = False
    with httpx.Client(timeout=timeout) as client:
        for attempt in range(ATTEMPTS):
            last = attempt == ATTEMPTS - 1
            try:
                response = client.post(url, data=data, files=files)
            except httpx.InvalidURL:  # raised outside this block: its text holds the token
                invalid = True
                break
            except httpx.HTTPError as exc:  # connect, timeout, protocol: the URL holds the token
                problem = f"cannot reach Telegram at {base}: {type(exc).__name__}: "
                problem += _redact(str(exc), token) or "no detail"
                if last:
                    break
                _sleep(BACKOFF[min(attempt, len(BACKOFF) - 1)])
                continue
            if response.status_code == 200:
                try:
                    body = response.json()
                except ValueError:
                    body = {}
                if isinstance(body, dict) and body.get("ok"):
                    result = body.get("result")
                    return {} if result is None else result
                description, _ = _describe(response)
                raise NotificationError(
                    f"Telegram {method} did not succeed: {_redact(description, token)}"
                )
            description, parameters = _describe(response)
            description = _redact(description, token)
            problem = f"Telegram {method} failed: HTTP {response.status_code}: {description}"
            if response.status_code == 429:
                try:
                    wait = float(parameters.get("retry_after", 1))
                except (TypeError, ValueError):
                    wait = 1.0
                if wait > MAX_RETRY_AFTER:
                    raise NotificationError(
                        f"{problem} (rate limited for {wait:.0f} s; try again later)",
                        retryable=True,
                    )
                if last:
                    break
                _sleep(max(wait, 0.0))
                continue
            if response.status_code >= 500:
                if last:
                    break
                _sleep(BACKOFF[min(attempt, len(BACKOFF) - 1)])
                continue
            hint = ""
            if response.status_code in (401, 404):
                hint = " Check CRYPTOBOT_TELEGRAM_BOT_TOKEN (and CRYPTOBOT_TELEGRAM_API_URL)."
            elif response.status_code in (400, 403):
                hint = " Check CRYPTOBOT_TELEGRAM_CHAT_ID and that the bot is in that chat."
            raise NotificationError(problem + "." + hint)
    if invalid:
        raise NotificationError(
            f"cannot build a valid Telegram URL from CRYPTOBOT_TELEGRAM_API_URL {base!r} and the "
            "bot token: check both for stray characters"
        )
    raise NotificationError(f"{problem} (gave up after {ATTEMPTS} attempts)", retryable=True)


def send_message(settings: Settings, text: str, *, chat_id: str | None = None) -> dict[str, Any]:
    """Post ``text`` (plain text, clipped to Telegram's 4096 characters) to the configured chat
    (or ``chat_id``: the bot's reply to a command); returns Telegram's message object. Raises
    NotificationError when not configured or refused."""
    _, configured = _require(settings)
    return call(
        settings,
        "sendMessage",
        {
            "chat_id": chat_id or configured,
            "text": _clip(text, MAX_TEXT),
            "disable_web_page_preview": "true",
        },
    )


def send_document(
    settings: Settings, path: Path | str, caption: str = "", *, chat_id: str | None = None
) -> dict[str, Any]:
    """Upload the file at ``path`` (e.g. a report) to the configured chat (or ``chat_id``) with
    a ``caption`` (clipped to 1024 characters); returns Telegram's message object."""
    _, configured = _require(settings)
    chat_id = chat_id or configured
    path = Path(path)
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise NotificationError(f"cannot read {path} to send it: {exc.strerror}") from None
    mime = "text/html" if path.suffix.lower() in (".html", ".htm") else "application/octet-stream"
    data = {"chat_id": chat_id}
    if caption:
        data["caption"] = _clip(caption, MAX_CAPTION)
    return call(settings, "sendDocument", data, files={"document": (path.name, content, mime)})


def notify(settings: Settings, text: str) -> bool:
    """Send an alert to Telegram if it is configured.

    Returns False, doing nothing, when the bot token or chat id is not set; True once Telegram
    accepted the message. Raises NotificationError when configured but delivery failed (after
    retries): catch it where an alert must not stop the caller.
    """
    if not is_configured(settings):
        return False
    send_message(settings, text)
    return True
