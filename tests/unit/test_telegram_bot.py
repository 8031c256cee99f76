"""The Telegram bot against a fake Bot API on 127.0.0.1: commands answered from a seeded
warehouse, unknown chats refused, 429 and 5xx survived with backoff, the token never shown."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import datetime

import pandas as pd
import pytest
from pydantic import SecretStr

from cryptobot import notify
from cryptobot.config import Settings
from cryptobot.errors import NotificationError, WarehouseError
from cryptobot.reports.html import money
from cryptobot.telegram.bot import BUSY, ONCE_ATTEMPTS, TelegramBot
from cryptobot.telegram.replies import Ask, Reply, models_text
from cryptobot.trading.pause import pause_history, pause_state
from cryptobot.warehouse.db import read_connection
from tests.fake_telegram import TOKEN, FakeTelegram, fake_telegram
from tests.trading_factory import SeededTrading, seed_trading

CHAT = 4242
STRANGER = 666
SYMBOLS = ["BTC/USDT", "ETH/USDT"]


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with fake_telegram() as fake:
        yield fake


@pytest.fixture
def no_waits(monkeypatch) -> list[float]:
    """notify's own retry waits, recorded instead of slept."""
    waited: list[float] = []
    monkeypatch.setattr(notify, "_sleep", waited.append)
    return waited


@pytest.fixture
def bot_settings(settings: Settings, telegram: FakeTelegram) -> Settings:
    return settings.model_copy(
        update={
            "symbols": SYMBOLS,
            "telegram_bot_token": SecretStr(TOKEN),
            "telegram_chat_id": str(CHAT),
            "telegram_api_url": telegram.url,
        }
    )


@pytest.fixture
def seeded(bot_settings: Settings) -> SeededTrading:
    return seed_trading(bot_settings.warehouse, symbols=tuple(SYMBOLS))


def run_once(settings: Settings, **kwargs) -> tuple[TelegramBot, list[float]]:
    backoffs: list[float] = []
    bot = TelegramBot(settings, sleep=backoffs.append, **kwargs)
    bot.run(once=True)
    return bot, backoffs


def ask(telegram: FakeTelegram, settings: Settings, text: str) -> str:
    telegram.message(text, CHAT)
    before = len(telegram.sent(CHAT))
    run_once(settings)
    replies = telegram.sent(CHAT)[before:]
    assert len(replies) == 1, replies
    return replies[0]


def _no_token(text: str) -> None:
    assert TOKEN not in text
    assert TOKEN.split(":")[1] not in text


# -- commands on a known account ----------------------------------------------------------------


def test_balance_is_the_newest_equity_mark(telegram, bot_settings, seeded):
    reply = ask(telegram, bot_settings, "/balance")
    last = seeded.equity.iloc[-1]
    assert reply.startswith("[SIMULATED] paper account at " + f"{last['ts']:%Y-%m-%d %H:%M}")
    assert f"equity {money(last['equity'])}" in reply
    assert f"cash {money(last['cash'])}" in reply
    assert f"since start {money(last['equity'] - 10_000, signed=True)}" in reply


def test_trades_lists_the_newest_fills_newest_first(telegram, bot_settings, seeded):
    reply = ask(telegram, bot_settings, "/trades 3")
    lines = reply.splitlines()
    newest = seeded.trades.sort_values(["ts", "id"], ascending=False).head(3)
    assert lines[0] == "[SIMULATED] paper: the newest 3 fill(s)"
    for line, fill in zip(lines[1:], newest.itertuples(), strict=True):
        assert line.startswith(f"{fill.ts:%Y-%m-%d %H:%M} {fill.side} {fill.amount:.8g} ")
        assert fill.symbol in line


def test_positions_are_what_the_fills_add_up_to(telegram, bot_settings, seeded):
    reply = ask(telegram, bot_settings, "/positions")
    trades = seeded.trades
    amounts = trades["amount"].where(trades["side"] == "buy", -trades["amount"])
    signed = trades.assign(signed=amounts)
    held = signed.groupby("symbol")["signed"].sum()
    held = held[held.abs() > 1e-12]
    assert len(held), "the seeded account should end with an open position"
    for symbol, amount in held.items():
        line = next(line for line in reply.splitlines() if line.startswith(symbol))
        assert f"{symbol} long {amount:.8g} @ " in line
        assert "unrealised" in line


def test_pnl_of_the_day_week_and_month(telegram, bot_settings, seeded):
    equity = seeded.equity
    last = equity.iloc[-1]
    midnight = pd.Timestamp(last["ts"]).normalize()
    start = equity[equity["ts"] <= midnight].iloc[-1]["equity"]
    reply = ask(telegram, bot_settings, "/pnl")
    assert f"{money(start)} -> {money(last['equity'])}" in reply
    assert money(last["equity"] - start, signed=True) in reply
    for symbol in SYMBOLS:
        assert any(line.startswith(f"{symbol}: net ") for line in reply.splitlines())
    # the whole history lies in the week and in the month: P&L from the initial capital
    for word in ("week", "month"):
        reply = ask(telegram, bot_settings, f"/pnl {word}")
        assert f"{money(10_000)} -> {money(last['equity'])}" in reply
    assert "usage: /pnl [day|week|month]" in ask(telegram, bot_settings, "/pnl year")


def test_status_says_paused_kill_switch_and_newest_bars(telegram, bot_settings, seeded):
    reply = ask(telegram, bot_settings, "/status@CryptoBot_Test_Bot")
    assert "trading is not paused" in reply
    assert "kill switch off" in reply
    closes = seeded.start + pd.Timedelta(hours=65)  # 65 candles, each known at its close
    for symbol in SYMBOLS:
        assert f"{symbol}: newest bar closed {closes:%Y-%m-%d %H:%M} UTC" in reply


def test_pause_and_resume_are_stored_with_who_and_why(telegram, bot_settings, seeded):
    reply = ask(telegram, bot_settings, "/pause exchange   maintenance")
    assert reply.startswith("trading paused since ")
    assert "telegram chat 4242 user 555 (@alice): exchange maintenance" in reply
    assert "already paused" in ask(telegram, bot_settings, "/pause again")
    assert "PAUSED" in ask(telegram, bot_settings, "/status")
    assert ask(telegram, bot_settings, "/resume done").startswith("trading running: resumed")
    assert ask(telegram, bot_settings, "/resume").startswith("not paused")
    with read_connection(bot_settings.warehouse) as con:
        history = pause_history(con)
        assert not pause_state(con).paused
    assert [(h.paused, h.source, h.reason) for h in history] == [
        (False, "telegram", "done"),
        (True, "telegram", "exchange maintenance"),
    ]
    assert history[1].changed_by == "telegram chat 4242 user 555 (@alice)"


def test_report_is_built_and_sent_as_a_document(telegram, bot_settings, seeded):
    telegram.message("/report", CHAT)
    run_once(bot_settings)
    (document,) = telegram.of("sendDocument")
    filename, content = document.fields["document"]
    assert filename == "daily-2025-12-02.html"  # the last complete day of the simulated clock
    assert b"<html" in content[:200].lower()
    assert document.fields["caption"].startswith("[SIMULATED] cryptobot daily report")


def test_help_unknown_commands_and_bad_arguments(telegram, bot_settings, seeded):
    assert "/pnl [day|week|month]" in ask(telegram, bot_settings, "/help")
    assert ask(telegram, bot_settings, "/frobnicate").startswith("unknown command /frobnicate")
    assert "usage: /trades [n]" in ask(telegram, bot_settings, "/trades many")
    assert "from 1 to 50" in ask(telegram, bot_settings, "/trades 500")
    assert "/help" in ask(telegram, bot_settings, "hello bot")


def test_an_empty_warehouse_says_what_to_run(telegram, bot_settings):
    assert "no warehouse" in ask(telegram, bot_settings, "/balance")
    seed_trading(bot_settings.warehouse, symbols=tuple(SYMBOLS), mode="live")  # not our account
    assert "no equity mark yet: run `cryptobot trade`" in ask(telegram, bot_settings, "/balance")
    assert "no fills yet" in ask(telegram, bot_settings, "/trades")


def test_models_reply_names_each_champion():
    text = models_text(
        [
            {
                "name": "simulator.BTC-USDT.1h.h1",
                "versions": 3,
                "simulated": True,
                "champion": "2",
                "champion_family": "xgboost",
                "metrics": {"directional_accuracy": 0.5312, "sharpe": 1.234},
                "live": (40, 0.55),
            },
            {"name": "binance.ETH-USDT.1h.h1", "versions": 1, "champion": None},
        ]
    )
    assert text.splitlines() == [
        "simulator.BTC-USDT.1h.h1 [SIMULATED]: champion v2 xgboost, holdout accuracy 53.1%, "
        "Sharpe 1.23, live 55.0% of 40",
        "binance.ETH-USDT.1h.h1: 1 version(s), no champion",
    ]
    assert models_text([]) == "no registered models yet: run `cryptobot train`"


# -- who may command the bot ----------------------------------------------------------------------


def test_an_unknown_chat_is_refused_and_logged_without_its_message(
    telegram, bot_settings, seeded, caplog
):
    telegram.message("/pause secret plan", STRANGER)
    with caplog.at_level(logging.INFO):
        bot, _ = run_once(bot_settings)
    assert telegram.sent(STRANGER) == ["This chat is not allowed to command this bot."]
    assert bot.stats.refused == 1 and bot.stats.answered == 0
    with read_connection(bot_settings.warehouse) as con:
        assert not pause_state(con).paused  # the command did not run
    assert f"chat {STRANGER}" in caplog.text
    assert "secret plan" not in caplog.text and "/pause" not in caplog.text


def test_allowed_chat_ids_replace_the_alert_chat(telegram, bot_settings, seeded):
    other = bot_settings.model_copy(
        update={"telegram": bot_settings.telegram.model_copy(update={"allowed_chat_ids": ["7"]})}
    )
    telegram.message("/balance", CHAT)
    telegram.message("/balance", 7, user=7)
    run_once(other)
    assert telegram.sent(CHAT) == ["This chat is not allowed to command this bot."]
    assert telegram.sent(7)[0].startswith("[SIMULATED] paper account at")


def test_a_bot_without_any_allowed_chat_refuses_to_start(bot_settings):
    with pytest.raises(NotificationError, match="obeys no chat"):
        TelegramBot(bot_settings.model_copy(update={"telegram_chat_id": None}))


# -- polling: offsets, rate limits, server errors --------------------------------------------------


def test_updates_are_confirmed_with_the_next_offset(telegram, bot_settings, seeded):
    first = telegram.message("/balance", CHAT)
    second = telegram.message("/trades 1", CHAT)
    run_once(bot_settings)
    offsets = [c.fields.get("offset") for c in telegram.of("getUpdates")]
    assert offsets == [None, str(second + 1)]  # the second poll confirms both, finds none
    assert first < second and telegram.updates == []
    assert len(telegram.sent(CHAT)) == 2
    run_once(bot_settings)  # a restarted bot answers nothing twice
    assert len(telegram.sent(CHAT)) == 2


def test_a_rate_limit_is_waited_out_as_telegram_asks(telegram, bot_settings, seeded, no_waits):
    telegram.message("/balance", CHAT)
    too_many = {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 3"}
    telegram.fail("getUpdates", 429, {**too_many, "parameters": {"retry_after": 3}})
    telegram.fail("sendMessage", 429, {**too_many, "parameters": {"retry_after": 2}})
    bot, backoffs = run_once(bot_settings)
    assert no_waits == [3.0, 2.0]
    assert backoffs == [] and bot.stats.answered == 1
    assert telegram.sent(CHAT)[-1].startswith("[SIMULATED] paper account")


def test_server_errors_back_off_then_the_bot_goes_on(telegram, bot_settings, seeded, no_waits):
    telegram.message("/balance", CHAT)
    # two whole polls fail (notify tries each 4 times), the third gets the update
    telegram.fail("getUpdates", 502, "<html>Bad Gateway</html>", times=2 * notify.ATTEMPTS)
    bot, backoffs = run_once(bot_settings)
    assert backoffs == [1.0, 2.0]  # the bot's own backoff doubles
    assert no_waits == list(notify.BACKOFF) * 2
    assert bot.stats.failures == 2 and bot.stats.answered == 1


def test_backoff_is_capped(bot_settings):
    bot = TelegramBot(bot_settings)
    assert [bot.backoff(n) for n in (1, 2, 3, 7, 12)] == [1.0, 2.0, 4.0, 60.0, 60.0]


def test_once_gives_up_after_repeated_failures(telegram, bot_settings, no_waits):
    telegram.fail("getUpdates", 500, {"ok": False, "description": "Internal"}, times=100)
    with pytest.raises(NotificationError) as failed:
        run_once(bot_settings)
    assert failed.value.retryable
    assert len(telegram.of("getUpdates")) == ONCE_ATTEMPTS * notify.ATTEMPTS


def test_a_wrong_token_stops_the_bot_with_a_hint(telegram, bot_settings):
    unauthorized = {"ok": False, "error_code": 401, "description": "Unauthorized"}
    telegram.fail("getMe", 401, unauthorized)
    with pytest.raises(NotificationError, match="CRYPTOBOT_TELEGRAM_BOT_TOKEN") as failed:
        run_once(bot_settings)
    _no_token(str(failed.value))
    assert telegram.of("getUpdates") == []  # the token is checked before the first poll


def test_a_command_for_another_bot_in_a_group_is_left_alone(telegram, bot_settings, seeded):
    telegram.message("/balance@other_bot", CHAT)
    telegram.message("/trades@cryptobot_test_bot 1", CHAT)
    bot, _ = run_once(bot_settings)
    (reply,) = telegram.sent(CHAT)
    assert reply.startswith("[SIMULATED] paper: the newest 1 fill(s)")
    assert bot.stats.answered == 1


def test_a_reply_that_cannot_be_delivered_does_not_stop_the_bot(telegram, bot_settings, seeded):
    telegram.message("/balance", CHAT)
    telegram.message("/trades 1", CHAT)
    telegram.fail("sendMessage", 400, {"ok": False, "description": "Bad Request: chat not found"})
    bot, _ = run_once(bot_settings)
    assert bot.stats.answered == 2
    assert len(telegram.sent(CHAT)) == 2  # both tried; the second delivered


# -- a busy warehouse and failing commands -------------------------------------------------------


def test_a_busy_warehouse_answers_busy_instead_of_hanging(telegram, bot_settings, seeded):
    holder = textwrap.dedent(
        f"""
        import duckdb, sys, time
        con = duckdb.connect({str(bot_settings.warehouse)!r})
        print("holding", flush=True)
        time.sleep(20)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "holding"
        quick = bot_settings.model_copy(
            update={"telegram": bot_settings.telegram.model_copy(update={"busy_timeout": 0.3})}
        )
        started = time.monotonic()
        assert ask(telegram, quick, "/balance") == BUSY
        assert time.monotonic() - started < 5
    finally:
        proc.kill()
        proc.wait()


def test_a_failing_command_answers_its_error_without_the_token(telegram, bot_settings, seeded):
    def leaky(settings: Settings, request: Ask) -> Reply:
        raise WarehouseError(f"cannot open {settings.telegram_api_url}/bot{TOKEN}/getMe")

    def broken(settings: Settings, request: Ask) -> Reply:
        raise ZeroDivisionError("boom")

    handlers = {"leaky": (leaky, "leaks"), "broken": (broken, "breaks")}
    telegram.message("/leaky", CHAT)
    telegram.message("/broken", CHAT)
    bot, _ = run_once(bot_settings, handlers=handlers)
    leaked, broke = telegram.sent(CHAT)
    assert leaked.startswith("/leaky failed: cannot open") and "/bot<redacted>/" in leaked
    assert broke == "/broken failed: ZeroDivisionError (see the bot's log)"


def test_the_token_is_in_no_message_and_no_log_line(telegram, bot_settings, seeded, caplog):
    lines: list[str] = []
    for text in ("/status", "/balance", "/positions", "/pnl week", "/trades", "/pause x"):
        telegram.message(text, CHAT)
    telegram.message("/resume", STRANGER)
    with caplog.at_level(logging.DEBUG):
        bot = TelegramBot(bot_settings, log=lines.append, sleep=lambda _: None)
        bot.run(once=True)
    assert bot.stats.answered == 6
    for call in telegram.calls:
        assert call.token == TOKEN  # the token is in the URL (only there)
        for value in call.fields.values():
            _no_token(value if isinstance(value, str) else repr(value))
    _no_token(caplog.text)
    _no_token("\n".join(lines))
    assert any("from chat 4242: /pnl" in line for line in lines)


def test_pause_history_keeps_every_change(bot_settings, seeded):
    from cryptobot.trading.pause import set_paused

    when = datetime(2026, 1, 1, 12)
    first = set_paused(bot_settings, True, by="cli bob", source="cli", reason="why", now=when)
    again = set_paused(bot_settings, True, by="cli eve", source="cli")
    assert first.changed and not again.changed and again.state.changed_by == "cli bob"
    assert first.state.describe() == "trading paused since 2026-01-01 12:00 UTC by cli bob: why"
