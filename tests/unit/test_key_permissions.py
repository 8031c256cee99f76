"""On live start the key's rights are asked of the exchange: one that can withdraw is refused.

Binance is answered by a local HTTP server (``FakeBinanceApi``) through ccxt's real request,
signing and error code: the server checks the key header and the HMAC signature.
"""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr

from cryptobot import keystore
from cryptobot.config import Settings, TradingSettings
from cryptobot.errors import TradingError
from cryptobot.sources import ccxt_source
from cryptobot.trading.brokers import check_key_permissions, live_client
from tests.fake_exchange import API_RESTRICTIONS, FakeBinanceApi

API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
PASSPHRASE = "correct horse battery staple"


def binance_client(fake: FakeBinanceApi, api_key: str = API_KEY, secret: str = SECRET):
    client = fake.configure(ccxt_source.create_client("binance"))
    client.apiKey, client.secret = api_key, secret
    return client


def test_a_trade_only_key_passes_through_the_signed_request():
    lines: list[str] = []
    with FakeBinanceApi(API_KEY, SECRET) as fake:
        check_key_permissions(binance_client(fake), TradingSettings(), log=lines.append)
    [(method, path, query, headers)] = fake.requests
    assert (method, path) == ("GET", "/sapi/v1/account/apiRestrictions")
    assert headers["x-mbx-apikey"] == API_KEY and "timestamp" in query
    assert lines == [
        "binance: the API key may trade spot and cannot withdraw; it is not restricted to your "
        "IP addresses"
    ]


def test_a_key_that_can_withdraw_is_refused_unless_allowed():
    rights = {**API_RESTRICTIONS, "enableWithdrawals": True}
    with FakeBinanceApi(API_KEY, SECRET, rights) as fake:
        with pytest.raises(TradingError, match="may withdraw funds") as info:
            check_key_permissions(binance_client(fake), TradingSettings())
        assert "ALLOW_WITHDRAWAL_KEYS=true" in str(info.value)
        lines: list[str] = []
        allowed = TradingSettings(allow_withdrawal_keys=True)
        fake.restrictions["ipRestrict"] = True
        check_key_permissions(binance_client(fake), allowed, log=lines.append)
    assert lines == [
        "binance: the API key may trade spot and may withdraw (allowed by "
        "trading.allow_withdrawal_keys)"
    ]


def test_a_key_that_cannot_trade_is_refused():
    rights = {**API_RESTRICTIONS, "enableSpotAndMarginTrading": False}
    with (
        FakeBinanceApi(API_KEY, SECRET, rights) as fake,
        pytest.raises(TradingError, match="may not trade spot"),
    ):
        check_key_permissions(binance_client(fake), TradingSettings())


def test_a_key_binance_does_not_accept_is_named_without_its_value():
    with FakeBinanceApi(API_KEY, SECRET) as fake:
        with pytest.raises(TradingError, match="does not accept the API key") as info:
            check_key_permissions(binance_client(fake, api_key=SECRET), TradingSettings())
        with pytest.raises(TradingError, match="does not accept the API key"):
            check_key_permissions(binance_client(fake, secret=API_KEY), TradingSettings())
    assert "-2015" in str(info.value) or "Invalid API-key" in str(info.value)
    assert SECRET not in str(info.value) and API_KEY not in str(info.value)


def test_an_exchange_without_the_endpoint_says_so_in_one_line():
    lines: list[str] = []
    kraken = ccxt_source.create_client("kraken")
    check_key_permissions(kraken, TradingSettings(), log=lines.append)
    assert len(lines) == 1 and "does not tell a key's permissions" in lines[0]


def test_live_start_with_stored_keys_checks_the_key_first(settings, monkeypatch, caplog):
    live = settings.model_copy(
        update={
            "source": "ccxt",
            "trading": TradingSettings(mode="live"),
            "keystore_passphrase": SecretStr(PASSPHRASE),
        }
    )
    keystore.store_keys(live, "binance", API_KEY, SECRET, PASSPHRASE)
    rights = {**API_RESTRICTIONS, "enableWithdrawals": True}
    with FakeBinanceApi(API_KEY, SECRET, rights) as fake:
        real = ccxt_source.create_client
        monkeypatch.setattr(ccxt_source, "create_client", lambda e: fake.configure(real(e)))
        caplog.set_level(logging.INFO)
        with pytest.raises(TradingError, match="may withdraw funds"):
            live_client(live)
        assert "with the keys from the key store" in caplog.text
        fake.restrictions = dict(API_RESTRICTIONS)
        client = live_client(live)
    assert (client.apiKey, client.secret) == (API_KEY, SECRET)
    assert len(fake.requests) == 2


def test_live_mode_refuses_without_any_keys(settings):
    live = Settings(
        warehouse=settings.warehouse, source="ccxt", trading=TradingSettings(mode="live")
    )
    with pytest.raises(TradingError, match="or store them encrypted with `cryptobot keys set"):
        live_client(live)
