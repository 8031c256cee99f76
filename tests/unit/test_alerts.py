"""Alerts: each kind switched on or off, the words of a trading step's alerts, stale series,
and a Telegram that fails never failing the caller (fake Bot API on 127.0.0.1)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from pydantic import SecretStr

from cryptobot import notify
from cryptobot.alerts import (
    alert_enabled,
    send_alert,
    stale_series,
    stale_text,
    step_alerts,
)
from cryptobot.config import ALERT_KINDS, Settings, load_settings
from cryptobot.trading.engine import StepResult
from cryptobot.trading.orders import Fill, Order
from cryptobot.warehouse.db import read_connection
from tests.fake_telegram import TOKEN, FakeTelegram, fake_telegram
from tests.trading_factory import seed_trading

CHAT = "-100777"
AT = datetime(2026, 1, 5, 10)


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with fake_telegram() as fake:
        yield fake


def configured(settings: Settings, url: str, alerts: list[str] | None = None) -> Settings:
    telegram = settings.telegram.model_copy(
        update={"alerts": list(ALERT_KINDS) if alerts is None else alerts}
    )
    return settings.model_copy(
        update={
            "telegram_bot_token": SecretStr(TOKEN),
            "telegram_chat_id": CHAT,
            "telegram_api_url": url,
            "telegram": telegram,
        }
    )


def fill(symbol: str, side: str, amount: float, price: float) -> Fill:
    order = Order(
        client_order_id=f"cb-{symbol}",
        mode="paper",
        strategy="long_flat",
        exchange="simulator",
        symbol=symbol,
        timeframe="1h",
        bar_ts=AT - timedelta(hours=2),
        side=side,
        amount=amount,
        decision_id=f"d-{symbol}",
        created_at=AT - timedelta(hours=1),
        is_simulated=True,
    )
    return Fill(
        trade_id=f"cb-{symbol}-1",
        order=order,
        amount=amount,
        price=price,
        fee=amount * price * 0.001,
        ts=AT - timedelta(hours=1),
        reference_price=price,
        spread_cost=0.0,
        slippage_cost=0.0,
    )


def decision(symbol: str, action: str, reason: str | None) -> dict:
    return {
        "symbol": symbol,
        "bar_ts": AT - timedelta(hours=1),
        "action": action,
        "reason": reason,
        "is_simulated": True,
    }


def step(**kwargs) -> StepResult:
    return StepResult(as_of=AT, mode="paper", strategy="long_flat", **kwargs)


def test_each_kind_is_sent_only_while_switched_on(settings, telegram):
    on = configured(settings, telegram.url, ["fills"])
    assert alert_enabled(on, "fills") and not alert_enabled(on, "risk")
    assert send_alert(on, "fills", "a fill")
    assert not send_alert(on, "risk", "a refusal")
    assert telegram.sent() == ["a fill"]
    assert telegram.of("sendMessage")[0].fields["chat_id"] == CHAT
    assert not send_alert(settings, "fills", "not configured")  # no token: nothing sent
    with pytest.raises(ValueError, match="unknown alert kind"):
        alert_enabled(on, "weather")


def test_alerts_can_be_listed_in_the_environment(monkeypatch):
    monkeypatch.setenv("CRYPTOBOT_TELEGRAM__ALERTS", "fills,kill_switch")
    monkeypatch.setenv("CRYPTOBOT_TELEGRAM_CHAT_ID", "12345")
    settings = load_settings()
    assert settings.telegram.alerts == ["fills", "kill_switch"]
    assert settings.telegram_allowed_chats == {"12345"}
    monkeypatch.setenv("CRYPTOBOT_TELEGRAM__ALLOWED_CHAT_IDS", "12,-1009")
    assert load_settings().telegram_allowed_chats == {"12", "-1009"}
    monkeypatch.setenv("CRYPTOBOT_TELEGRAM__ALLOWED_CHAT_IDS", "12,@me")
    with pytest.raises(Exception, match="'@me' is not a Telegram chat id"):
        load_settings()


def test_a_failing_telegram_never_fails_the_caller(settings, telegram, monkeypatch, caplog):
    monkeypatch.setattr(notify, "_sleep", lambda _: None)
    telegram.fail("sendMessage", 500, {"ok": False, "description": "Internal"}, times=10)
    lines: list[str] = []
    with caplog.at_level(logging.WARNING):
        sent = send_alert(configured(settings, telegram.url), "fills", "x", log=lines.append)
    assert sent is False
    assert "fills alert not delivered" in caplog.text and lines
    assert TOKEN not in caplog.text and TOKEN not in "".join(lines)


def test_a_step_sends_its_fills_refusals_and_stale_symbols(settings, telegram):
    result = step(
        fills=[fill("BTC/USDT", "buy", 0.01, 95_000.0), fill("ETH/USDT", "sell", 0.5, 3_300.0)],
        decisions=[
            decision("BTC/USDT", "order", None),
            decision("ETH/USDT", "blocked", "blocked by correlation_limit"),
            decision("SOL/USDT", "skip", "stale data: the newest closed bar 2026-01-05 06:00"),
            decision("XRP/USDT", "blocked", "blocked by the pause (trading paused since ...)"),
        ],
    )
    sent = step_alerts(configured(settings, telegram.url), result)
    assert sent == ["fills", "risk", "stale_data"]
    fills, risk, stale = telegram.sent()
    assert fills.splitlines() == [
        "[SIMULATED] cryptobot paper: 2 fill(s)",
        "buy 0.01 BTC/USDT @ 95,000 (fee 0.95) at 2026-01-05 09:00 UTC",
        "sell 0.5 ETH/USDT @ 3,300 (fee 1.65) at 2026-01-05 09:00 UTC",
    ]
    assert risk.splitlines() == [
        "[SIMULATED] cryptobot paper: risk checks refused 1 order(s)",
        "ETH/USDT bar 2026-01-05 09:00: blocked by correlation_limit",
    ]  # the pause's refusals are not alerts: a human asked for them
    assert stale.splitlines()[1].startswith("SOL/USDT: stale data")


def test_kill_switch_refusals_are_not_repeated_and_quiet_steps_send_nothing(settings, telegram):
    on = configured(settings, telegram.url)
    tripped = step(
        kill_switch=True, decisions=[decision("BTC/USDT", "blocked", "blocked by max_drawdown")]
    )
    assert step_alerts(on, tripped) == []
    assert step_alerts(on, step(decisions=[decision("BTC/USDT", "hold", "at target")])) == []
    assert (
        step_alerts(configured(settings, telegram.url, []), step(fills=[fill("A/B", "buy", 1, 1)]))
        == []
    )
    assert telegram.sent() == []


def test_stale_series_are_those_whose_newest_bar_is_too_old(settings):
    seeded = seed_trading(settings.warehouse, symbols=("BTC/USDT", "ETH/USDT"))
    newest = seeded.start + timedelta(hours=65)  # the last candle's close
    hours = timedelta(hours=2)
    with read_connection(settings.warehouse) as con:
        fresh = stale_series(con, "simulator", ["BTC/USDT"], "1h", newest + hours, hours)
        old = stale_series(
            con, "simulator", ["BTC/USDT", "SOL/USDT"], "1h", newest + 3 * hours, hours
        )
    assert fresh == []
    assert [(s.symbol, s.newest_available_at) for s in old] == [
        ("BTC/USDT", newest),
        ("SOL/USDT", None),
    ]
    text = stale_text(old, newest + 3 * hours, hours)
    assert text.splitlines() == [
        "cryptobot: stale data, 2 series older than 120 min",
        f"simulator BTC/USDT 1h: newest bar closed {newest:%Y-%m-%d %H:%M} UTC (6.0 h ago)",
        "simulator SOL/USDT 1h: no bars stored",
    ]
