"""The log redactor: no known secret in any record, whoever logs it and however."""

from __future__ import annotations

import io
import logging
from urllib.parse import quote

import pytest

from cryptobot import redact
from cryptobot.config import load_settings

SECRET = "Zq8cUm3vT5xw+Kp/9aLr2Nd=="
TOKEN = "123456789:AAH-token_value-xyz"


@pytest.fixture
def stream() -> io.StringIO:
    """A handler added *after* install, on a logger that is not Prefect's: still redacted."""
    redact.install()
    redact.register(SECRET)
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    logger = logging.getLogger("some.library")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield out
    logger.removeHandler(handler)


def test_message_args_exceptions_and_stacks_are_redacted(stream):
    log = logging.getLogger("some.library")
    log.info("plain %s", SECRET)
    log.warning("in a dict %(key)s", {"key": SECRET})
    log.debug(f"url-encoded {quote(SECRET, safe='')}")
    try:
        raise ValueError(f"the exchange said {SECRET!r}")
    except ValueError:
        log.exception("failed")
    log.info("stack", stack_info=True)
    log.info("nothing secret here: %d rows", 3)
    text = stream.getvalue()
    assert SECRET not in text and quote(SECRET, safe="") not in text
    assert text.count(redact.MASK) == 4
    assert "ValueError: the exchange said '<redacted>'" in text  # the traceback stays readable
    assert "nothing secret here: 3 rows" in text


def test_prefect_loggers_and_handlers_are_covered(stream, caplog):
    caplog.set_level(logging.INFO)
    logging.getLogger("prefect.task_runs").info("key %s", SECRET)
    logging.getLogger("httpx").info(f"HTTP Request: POST https://api.telegram.org/bot{TOKEN}/x")
    assert SECRET not in caplog.text and TOKEN not in caplog.text
    assert "/bot<redacted>/x" in caplog.text
    prefect_handlers = [h for h in logging.getLogger("prefect").handlers]
    assert all(redact.REDACTOR in h.filters for h in prefect_handlers)


def test_settings_register_their_secrets(monkeypatch, stream):
    passphrase = "a passphrase never logged"
    monkeypatch.setenv("CRYPTOBOT_KEYSTORE_PASSPHRASE", passphrase)
    monkeypatch.setenv("CRYPTOBOT_TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("CRYPTOBOT_EXCHANGE_API_KEY", "A" * 40 + "\n")
    monkeypatch.setenv("CRYPTOBOT_EXCHANGE_SECRET", "B" * 40)
    load_settings()
    logging.getLogger("some.library").error(
        "leak: %s %s %s %s", passphrase, TOKEN, "A" * 40, "B" * 40
    )
    text = stream.getvalue()
    assert "leak: <redacted> <redacted> <redacted> <redacted>" in text, text


def test_short_values_are_not_registered():
    before = redact.redact("abc and abcde")
    redact.register("abc", "", None, "abcde")
    assert redact.redact("abc and abcde") == before == "abc and abcde"


def test_an_error_leaving_a_trading_task_holds_no_secret():
    from cryptobot.errors import TradingError
    from flows._common import secrets_out_of_errors

    redact.register(SECRET)
    with pytest.raises(TradingError) as info, secrets_out_of_errors():
        raise TradingError(f"binance said no to {SECRET}", retryable=True)
    assert str(info.value) == "binance said no to <redacted>"
    assert info.value.retryable and info.value.__cause__ is None
    assert info.value.__suppress_context__
    original = KeyError("nothing secret")
    with pytest.raises(KeyError) as same, secrets_out_of_errors():
        raise original
    assert same.value is original
