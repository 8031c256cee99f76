"""A fake Telegram Bot API on 127.0.0.1 for the bot's and the alerts' tests (no network).

It speaks the Bot API's HTTP shape: ``POST /bot<token>/<method>`` with a urlencoded or multipart
body, answered with ``{"ok": true, "result": ...}``. ``getMe`` answers the bot's identity;
``getUpdates`` serves the queued updates whose ``update_id`` is at least the request's
``offset`` (an offset confirms and forgets every earlier update, as Telegram does);
``sendMessage`` and ``sendDocument`` answer a message object.
``fail`` queues error answers for a method (e.g. 429 with ``retry_after``, 500); every request is
recorded with its fields.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

TOKEN = "987654321:AAH-fake_bot-TOKEN-for_tests"


@dataclass
class Call:
    path: str
    fields: dict

    @property
    def method(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def token(self) -> str:
        return self.path.split("/")[1].removeprefix("bot")


def _fields(content_type: str, body: bytes) -> dict:
    if content_type.startswith("application/x-www-form-urlencoded"):
        return {k: v[0] for k, v in parse_qs(body.decode()).items()}
    if not content_type.startswith("multipart/"):
        return {}
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    out = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        filename = part.get_filename()
        out[name] = (filename, payload) if filename else payload.decode()
    return out


@dataclass
class FakeTelegram:
    url: str = ""
    calls: list[Call] = field(default_factory=list)
    updates: list[dict] = field(default_factory=list)
    failures: dict[str, list[tuple[int, dict | str]]] = field(default_factory=dict)
    next_update: int = 100
    me: dict = field(
        default_factory=lambda: {"id": 987654321, "is_bot": True, "username": "cryptobot_test_bot"}
    )
    lock: threading.Lock = field(default_factory=threading.Lock)

    # -- what a test sets up -----------------------------------------------------------------

    def message(self, text: str, chat: int | str, *, user: int = 555, username: str = "alice"):
        """Queue a user's message, as Telegram delivers it in getUpdates."""
        with self.lock:
            self.next_update += 1
            self.updates.append(
                {
                    "update_id": self.next_update,
                    "message": {
                        "message_id": self.next_update * 10,
                        "from": {
                            "id": user,
                            "is_bot": False,
                            "first_name": "Alice",
                            "username": username,
                        },
                        "chat": {"id": int(chat), "type": "private"},
                        "date": 1764892800,
                        "text": text,
                    },
                }
            )
        return self.next_update

    def fail(self, method: str, status: int, body: dict | str, times: int = 1) -> None:
        self.failures.setdefault(method, []).extend([(status, body)] * times)

    # -- what a test reads -------------------------------------------------------------------

    def sent(self, chat: int | str | None = None) -> list[str]:
        """Texts (and captions) sent, in order, optionally to one chat only."""
        return [
            c.fields.get("text") or c.fields.get("caption") or ""
            for c in self.calls
            if c.method in ("sendMessage", "sendDocument")
            and (chat is None or c.fields.get("chat_id") == str(chat))
        ]

    def of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    # -- the server --------------------------------------------------------------------------

    def answer(self, call: Call) -> tuple[int, dict | str]:
        with self.lock:
            self.calls.append(call)
            queued = self.failures.get(call.method)
            if queued:
                return queued.pop(0)
            if call.method == "getUpdates":
                offset = int(call.fields.get("offset", 0) or 0)
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
                return 200, {"ok": True, "result": list(self.updates)}
            if call.method == "getMe":
                return 200, {"ok": True, "result": self.me}
            if call.method in ("sendMessage", "sendDocument"):
                chat = call.fields.get("chat_id", "0")
                return 200, {
                    "ok": True,
                    "result": {"message_id": len(self.calls), "chat": {"id": int(chat)}},
                }
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}


@contextmanager
def fake_telegram() -> Iterator[FakeTelegram]:
    fake = FakeTelegram()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length)
            call = Call(self.path, _fields(self.headers.get("Content-Type", ""), body))
            status, reply = fake.answer(call)
            data = reply.encode() if isinstance(reply, str) else json.dumps(reply).encode()
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
