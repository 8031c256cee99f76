"""Telegram delivery against a local HTTP server standing in for the Bot API (no network)."""

from __future__ import annotations

import json
import logging
import socket
import threading
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from cryptobot import notify
from cryptobot.config import Settings
from cryptobot.errors import NotificationError

TOKEN = "123456789:AAF-secret_TOKEN-value"
CHAT = "-1001234"
OK = (200, {"ok": True, "result": {"message_id": 77, "chat": {"id": int(CHAT)}}})


@dataclass
class Request:
    path: str
    content_type: str
    body: bytes

    @property
    def method(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    def form(self) -> dict[str, str]:
        """Fields of a urlencoded or multipart body; files as {name: (filename, bytes)}."""
        if self.content_type.startswith("application/x-www-form-urlencoded"):
            return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}
        message = BytesParser(policy=HTTP).parsebytes(
            f"Content-Type: {self.content_type}\r\n\r\n".encode() + self.body
        )
        fields = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            filename = part.get_filename()
            fields[name] = (filename, payload) if filename else payload.decode()
        return fields


@dataclass
class FakeTelegram:
    """Replies from ``script`` in order (then 200 ok), recording every request."""

    url: str
    requests: list[Request] = field(default_factory=list)
    script: list[tuple[int, dict | str]] = field(default_factory=list)


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    fake = FakeTelegram(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length", 0))
            fake.requests.append(
                Request(self.path, self.headers.get("Content-Type", ""), self.rfile.read(length))
            )
            status, body = fake.script.pop(0) if fake.script else OK
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    waited: list[float] = []
    monkeypatch.setattr(notify, "_sleep", waited.append)
    return waited


def configured(tmp_path: Path, url: str) -> Settings:
    return Settings(
        warehouse=tmp_path / "w.duckdb",
        data_dir=tmp_path,
        telegram_bot_token=TOKEN,
        telegram_chat_id=CHAT,
        telegram_api_url=url,
    )


def _no_token(exc: BaseException) -> None:
    text = "".join(traceback.format_exception(exc)) + repr(exc) + str(exc)
    assert TOKEN not in text
    assert TOKEN.split(":")[1] not in text


def test_notify_does_nothing_when_not_configured(tmp_path, telegram):
    settings = Settings(warehouse=tmp_path / "w.duckdb", data_dir=tmp_path)
    assert notify.notify(settings, "hello") is False
    half = Settings(
        warehouse=tmp_path / "w.duckdb",
        data_dir=tmp_path,
        telegram_bot_token=TOKEN,
        telegram_api_url=telegram.url,
    )
    assert notify.notify(half, "hello") is False  # a token without a chat id
    assert telegram.requests == []
    with pytest.raises(NotificationError, match="not configured"):
        notify.send_message(settings, "hello")


def test_notify_posts_the_message_to_the_bot_path(tmp_path, telegram, caplog):
    caplog.set_level(logging.DEBUG)
    assert notify.notify(configured(tmp_path, telegram.url), "drawdown 12% > 10%") is True
    [request] = telegram.requests
    assert request.path == f"/bot{TOKEN}/sendMessage"
    assert request.form() == {
        "chat_id": CHAT,
        "text": "drawdown 12% > 10%",
        "disable_web_page_preview": "true",
    }
    assert "sendMessage" in caplog.text  # httpx logged the request ...
    assert TOKEN not in caplog.text  # ... without the token


def test_long_messages_are_clipped_to_telegram_limit(tmp_path, telegram):
    notify.send_message(configured(tmp_path, telegram.url), "x" * 5000)
    text = telegram.requests[0].form()["text"]
    assert len(text) == notify.MAX_TEXT and text.endswith("…")


def test_send_document_uploads_the_file_with_caption(tmp_path, telegram):
    report = tmp_path / "daily-2025-12-31.html"
    report.write_text("<html><body>report</body></html>", encoding="utf-8")
    message = notify.send_document(configured(tmp_path, telegram.url), report, caption="P&L +1")
    assert message["message_id"] == 77
    [request] = telegram.requests
    assert request.path == f"/bot{TOKEN}/sendDocument"
    assert request.content_type.startswith("multipart/form-data")
    form = request.form()
    assert form["chat_id"] == CHAT
    assert form["caption"] == "P&L +1"
    assert form["document"] == ("daily-2025-12-31.html", report.read_bytes())


def test_rate_limit_is_retried_after_the_time_telegram_asks(tmp_path, telegram, sleeps):
    telegram.script = [
        (
            429,
            {
                "ok": False,
                "error_code": 429,
                "description": "Too Many Requests: retry after 3",
                "parameters": {"retry_after": 3},
            },
        ),
        OK,
    ]
    assert notify.notify(configured(tmp_path, telegram.url), "hi") is True
    assert len(telegram.requests) == 2
    assert sleeps == [3.0]


def test_server_errors_are_retried_with_backoff(tmp_path, telegram, sleeps):
    telegram.script = [(500, "oops"), (502, {"ok": False, "description": "Bad Gateway"}), OK]
    notify.send_message(configured(tmp_path, telegram.url), "hi")
    assert len(telegram.requests) == 3
    assert sleeps == list(notify.BACKOFF[:2])


def test_persistent_server_errors_give_up_with_a_retryable_error(tmp_path, telegram, sleeps):
    telegram.script = [(503, {"ok": False, "description": "Service Unavailable"})] * 10
    with pytest.raises(NotificationError, match="Service Unavailable") as failure:
        notify.send_message(configured(tmp_path, telegram.url), "hi")
    assert len(telegram.requests) == notify.ATTEMPTS
    assert failure.value.retryable
    _no_token(failure.value)


def test_bad_request_raises_telegram_description_without_the_token(tmp_path, telegram, sleeps):
    telegram.script = [
        (400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"})
    ]
    with pytest.raises(NotificationError, match="Bad Request: chat not found") as failure:
        notify.notify(configured(tmp_path, telegram.url), "hi")
    assert len(telegram.requests) == 1  # a refused request is not retried
    assert sleeps == []
    assert not failure.value.retryable
    assert "CRYPTOBOT_TELEGRAM_CHAT_ID" in str(failure.value)
    _no_token(failure.value)


def test_wrong_token_says_which_setting_to_check(tmp_path, telegram):
    telegram.script = [(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})]
    with pytest.raises(NotificationError, match="Unauthorized.*TELEGRAM_BOT_TOKEN") as failure:
        notify.send_message(configured(tmp_path, telegram.url), "hi")
    _no_token(failure.value)


def test_a_long_rate_limit_is_not_waited_out(tmp_path, telegram, sleeps):
    telegram.script = [
        (429, {"ok": False, "description": "Too Many Requests", "parameters": {"retry_after": 600}})
    ]
    with pytest.raises(NotificationError, match="rate limited for 600 s") as failure:
        notify.send_message(configured(tmp_path, telegram.url), "hi")
    assert failure.value.retryable and sleeps == []


def test_unreachable_api_is_retried_then_fails_without_the_token(tmp_path, sleeps, caplog):
    caplog.set_level(logging.DEBUG)
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(NotificationError, match="cannot reach Telegram") as failure:
        notify.send_message(configured(tmp_path, f"http://127.0.0.1:{port}"), "hi")
    assert len(sleeps) == notify.ATTEMPTS - 1
    assert failure.value.retryable
    assert failure.value.__context__ is None and failure.value.__cause__ is None
    _no_token(failure.value)
    assert TOKEN not in caplog.text


def test_api_url_must_be_http(tmp_path):
    with pytest.raises(NotificationError, match="not an http"):
        notify.send_message(configured(tmp_path, "api.telegram.org"), "hi")


def test_missing_document_is_a_clear_error(tmp_path, telegram):
    with pytest.raises(NotificationError, match="cannot read"):
        notify.send_document(configured(tmp_path, telegram.url), tmp_path / "missing.html")
    assert telegram.requests == []


def test_redaction_covers_any_bot_path():
    assert notify._redact(f"POST http://x/bot{TOKEN}/sendMessage") == (
        "POST http://x/bot<redacted>/sendMessage"
    )
    assert notify._redact(f"token {TOKEN} leaked", TOKEN) == "token <redacted> leaked"
