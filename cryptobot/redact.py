"""Keep secrets out of every log record (rule 7), whoever logs it: our code, httpx, ccxt, Prefect.

Every secret value the process knows is registered here: the exchange keys from the environment
and from the key store (once decrypted), the key store's passphrase and the Telegram bot token
(:func:`cryptobot.config.load_settings` registers the ones in the settings). :func:`install`
then redacts them from every record the process creates:

- a log record factory (``logging.setLogRecordFactory``) applies :class:`RedactSecrets` to each
  record as it is made, before any logger filter or handler sees it, so records of loggers and
  handlers configured later (Prefect's API handler that stores run logs in its database, pytest's
  capture) are covered too;
- the same filter is added to the root logger, Prefect's loggers and all their handlers, for
  records made by a foreign factory.

A record's message (with its arguments merged in), its formatted exception and stack text are
searched for every secret (and its URL-encoded form) and each is replaced by ``<redacted>``. A
Telegram bot path ``/bot<token>/`` is redacted whatever the token. Values shorter than
``MIN_SECRET_LENGTH`` are not registered: masking every "abc" in every log line would hide more
than it protects.
"""

from __future__ import annotations

import logging
import re
import threading
import traceback
from collections.abc import Iterable
from urllib.parse import quote

MASK = "<redacted>"
MIN_SECRET_LENGTH = 6
#: ``/bot<token>/`` in a Telegram Bot API URL, whatever the token
_TELEGRAM_BOT_PATH = re.compile(r"/bot[^/\s]+/")
#: loggers whose handlers get the filter on install (besides the root logger's)
PREFECT_LOGGERS = ("prefect", "prefect.flow_runs", "prefect.task_runs", "prefect.server", "httpx")


class RedactSecrets(logging.Filter):
    """A logging filter that replaces every registered secret in a record; never drops one."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._secrets: frozenset[str] = frozenset()
        self._pattern: re.Pattern[str] | None = None

    def add(self, *values: str | None) -> None:
        """Register secret values (None, blanks and values shorter than the minimum ignored)."""
        new = set()
        for value in values:
            if not value:
                continue
            for form in {value, value.strip(), quote(value.strip(), safe="")}:
                if len(form) >= MIN_SECRET_LENGTH:
                    new.add(form)
        with self._lock:
            if new <= self._secrets:
                return
            self._secrets = self._secrets | new
            # longest first, so a secret that contains another is masked whole
            alternatives = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(s) for s in alternatives))

    def clear(self) -> None:
        """Forget every registered value (tests)."""
        with self._lock:
            self._secrets = frozenset()
            self._pattern = None

    def redact(self, text: str) -> str:
        """``text`` with every registered secret and any Telegram bot path masked."""
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(MASK, text)
        if "/bot" in text:
            text = _TELEGRAM_BOT_PATH.sub(f"/bot{MASK}/", text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_cryptobot_redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: logging reports it itself; keep the raw parts
            message = None
        if message is not None:
            clean = self.redact(message)
            if clean != message:
                # the arguments are merged into the message: no secret left in ``args``
                record.msg, record.args = clean, None
        else:
            record.msg = self.redact(str(record.msg))
            if record.args:
                record.args = tuple(self.redact(repr(a)) for a in _as_tuple(record.args))
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            clean = self.redact(text)
            if clean != text:
                # the exception object itself holds the secret: keep only the redacted text
                record.exc_info, record.exc_text = None, clean
        elif record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        record._cryptobot_redacted = True
        return True


def _as_tuple(args: object) -> Iterable[object]:
    return args.values() if isinstance(args, dict) else args  # type: ignore[return-value]


#: the process's one redactor
REDACTOR = RedactSecrets()
_installed = False
_install_lock = threading.Lock()


def register(*values: str | None) -> None:
    """Register secret values to be masked in every log record from now on."""
    REDACTOR.add(*values)


def redact(text: str) -> str:
    """``text`` with every registered secret masked (for error messages built from foreign text,
    such as an exchange's or Telegram's answer)."""
    return REDACTOR.redact(text)


def install() -> None:
    """Redact every log record of this process from now on (idempotent; cheap to call again).

    Called by the CLI at start and by the flows' common module when a flow process imports it.
    The filter is (re)attached to the root logger, Prefect's loggers and all their handlers on
    every call, since Prefect configures its handlers after import.
    """
    global _installed
    with _install_lock:
        if not _installed:
            previous = logging.getLogRecordFactory()

            def factory(*args, **kwargs) -> logging.LogRecord:
                record = previous(*args, **kwargs)
                REDACTOR.filter(record)
                return record

            logging.setLogRecordFactory(factory)
            _installed = True
    for logger in (logging.getLogger(), *(logging.getLogger(n) for n in PREFECT_LOGGERS)):
        if REDACTOR not in logger.filters:
            logger.addFilter(REDACTOR)
        for handler in logger.handlers:
            if REDACTOR not in handler.filters:
                handler.addFilter(REDACTOR)
