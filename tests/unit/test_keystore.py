"""The key store: encryption, validation, storage in ``exchanges`` and where keys come from."""

from __future__ import annotations

import base64

import duckdb
import pytest
from pydantic import SecretStr

from cryptobot import keystore
from cryptobot.config import Settings, TradingSettings, load_settings
from cryptobot.errors import ConfigError, KeyStoreError, TradingError
from cryptobot.keystore import check_key_value, decrypt, encrypt

API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
PASSPHRASE = "correct horse battery staple"


def test_a_value_round_trips_and_is_stored_as_versioned_base64():
    token = encrypt(SECRET, PASSPHRASE, exchange="binance", field="secret")
    version, kdf, salt, nonce, sealed = token.split(":")
    assert (version, kdf) == ("v1", "scrypt")
    assert len(base64.b64decode(salt)) == 16 and len(base64.b64decode(nonce)) == 12
    assert len(base64.b64decode(sealed)) == len(SECRET) + 16  # the GCM tag
    assert SECRET not in token and base64.b64encode(SECRET.encode()).decode() not in token
    assert decrypt(token, PASSPHRASE, exchange="binance", field="secret") == SECRET
    # a fresh salt and nonce each time: the same value never gives the same record
    assert encrypt(SECRET, PASSPHRASE, exchange="binance", field="secret") != token


def test_a_wrong_passphrase_is_an_error_not_garbage():
    token = encrypt(SECRET, PASSPHRASE, exchange="binance", field="secret")
    with pytest.raises(KeyStoreError, match="passphrase .* is not the one it was stored with"):
        decrypt(token, "another passphrase!", exchange="binance", field="secret")


def test_a_record_copied_to_another_exchange_or_column_does_not_decrypt():
    token = encrypt(SECRET, PASSPHRASE, exchange="binance", field="secret")
    with pytest.raises(KeyStoreError, match="copied from another exchange"):
        decrypt(token, PASSPHRASE, exchange="kraken", field="secret")
    with pytest.raises(KeyStoreError, match="API key"):
        decrypt(token, PASSPHRASE, exchange="binance", field="api_key")


def test_an_altered_or_foreign_record_is_refused():
    token = encrypt(SECRET, PASSPHRASE, exchange="binance", field="secret")
    head, sealed = token.rsplit(":", 1)
    raw = bytearray(base64.b64decode(sealed))
    raw[0] ^= 1
    with pytest.raises(KeyStoreError, match="altered"):
        decrypt(f"{head}:{base64.b64encode(bytes(raw)).decode()}", PASSPHRASE,
                exchange="binance", field="secret")  # fmt: skip
    with pytest.raises(KeyStoreError, match="not in a format this version reads"):
        decrypt("v2:argon2:a:b:c", PASSPHRASE, exchange="binance", field="secret")
    with pytest.raises(KeyStoreError, match="not base64"):
        decrypt("v1:scrypt:***:b:c", PASSPHRASE, exchange="binance", field="secret")


def test_keys_are_stripped_and_checked_without_echoing_them():
    assert check_key_value(f"  {API_KEY}\n", what="binance API key") == API_KEY
    assert check_key_value(f"{API_KEY}\r\n", what="binance API key") == API_KEY
    cases = {
        "": "is empty",
        " \n\t": "is empty",
        API_KEY[:30] + " " + API_KEY[30:]: "a blank .* at character 31 of 65",
        API_KEY[:10] + "\x00" + API_KEY[10:]: "a control character at character 11",
        API_KEY[:5] + "\u201c" + API_KEY[5:]: "non-ASCII character",
        "short-key": "has 9 characters, not a plausible key length",
        "x" * 600: "has 600 characters",
    }
    for value, message in cases.items():
        with pytest.raises(KeyStoreError, match=message) as info:
            check_key_value(value, what="binance API key")
        assert "binance API key" in str(info.value)
        if value.strip():
            assert value.strip() not in str(info.value)
            assert API_KEY[:12] not in str(info.value)


def test_a_pem_secret_keeps_its_lines():
    pem = (
        "-----BEGIN PRIVATE KEY-----\r\n"
        "MC4CAQAwBQYDK2VwBCIEIGZxjMKZ0sBFdUVmGCq5M+KXdKBTvIDq3rDyVAqgvdZ4\r\n"
        "-----END PRIVATE KEY-----\r\n"
    )
    checked = check_key_value(pem, what="binance secret")
    assert checked.splitlines()[1].startswith("MC4CAQ") and "\r" not in checked
    with pytest.raises(KeyStoreError, match="not a well-formed one"):
        check_key_value("-----BEGIN PRIVATE KEY-----\nMC4 CAQ\n", what="binance secret")


def test_environment_keys_are_stripped_and_a_bad_one_is_named_not_shown(monkeypatch):
    monkeypatch.setenv("CRYPTOBOT_EXCHANGE_API_KEY", API_KEY + "\n")
    monkeypatch.setenv("CRYPTOBOT_EXCHANGE_SECRET", f"  {SECRET}  ")
    settings = load_settings()
    assert settings.exchange_api_key.get_secret_value() == API_KEY
    assert settings.exchange_secret.get_secret_value() == SECRET
    broken = SECRET[:20] + "\t" + SECRET[20:]
    monkeypatch.setenv("CRYPTOBOT_EXCHANGE_SECRET", broken)
    with pytest.raises(ConfigError, match="exchange_secret: .*character 21") as info:
        load_settings()
    assert SECRET[:20] not in str(info.value) and SECRET[21:] not in str(info.value)
    monkeypatch.setenv("CRYPTOBOT_EXCHANGE_SECRET", "")
    assert load_settings().exchange_secret is None  # an empty variable is no key


def _store_settings(settings: Settings, **kw) -> Settings:
    return settings.model_copy(update={"keystore_passphrase": SecretStr(PASSPHRASE), **kw})


def test_keys_are_stored_encrypted_listed_loaded_and_removed(settings):
    settings = _store_settings(settings)
    phrase = keystore.passphrase(settings)
    keystore.store_keys(settings, "binance", f"{API_KEY}\n", f" {SECRET}", phrase)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        row = con.execute(
            "select api_key_encrypted, secret_key_encrypted from exchanges where name = 'binance'"
        ).fetchone()
    assert all(value.startswith("v1:scrypt:") for value in row)
    assert API_KEY not in "".join(row) and SECRET not in "".join(row)
    assert [s.exchange for s in keystore.stored(settings)] == ["binance"]
    loaded = keystore.load_stored_keys(settings, "binance", phrase)
    assert loaded.api_key.get_secret_value() == API_KEY
    assert loaded.secret.get_secret_value() == SECRET
    assert loaded.source == "key store" and API_KEY not in repr(loaded)
    # replacing keeps one row; removing keeps the exchange (its market data refers to it)
    keystore.store_keys(settings, "binance", SECRET, API_KEY, phrase)
    assert keystore.load_stored_keys(settings, "binance", phrase).api_key.get_secret_value() == (
        SECRET
    )
    assert keystore.remove_keys(settings, "binance") is True
    assert keystore.remove_keys(settings, "binance") is False
    assert keystore.stored(settings) == []
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert con.execute("select name from exchanges").fetchall() == [("binance",)]


def test_a_bad_key_is_refused_and_stored_keys_stay(settings):
    settings = _store_settings(settings)
    keystore.store_keys(settings, "binance", API_KEY, SECRET, PASSPHRASE)
    with pytest.raises(KeyStoreError, match="a blank"):
        keystore.store_keys(settings, "binance", API_KEY + " x", SECRET, PASSPHRASE)
    with pytest.raises(KeyStoreError, match="the same value"):
        keystore.store_keys(settings, "binance", API_KEY, API_KEY, PASSPHRASE)
    assert keystore.load_stored_keys(settings, "binance", PASSPHRASE).secret.get_secret_value() == (
        SECRET
    )


def test_the_store_has_one_passphrase(settings):
    settings = _store_settings(settings)
    keystore.store_keys(settings, "binance", API_KEY, SECRET, PASSPHRASE)
    keystore.store_keys(settings, "binance", API_KEY, SECRET, "a new passphrase")  # rotation
    with pytest.raises(KeyStoreError, match="does not decrypt the keys already stored for binance"):
        keystore.store_keys(settings, "kraken", API_KEY, SECRET, PASSPHRASE)
    assert [s.exchange for s in keystore.stored(settings)] == ["binance"]
    keystore.store_keys(settings, "kraken", API_KEY, SECRET, "a new passphrase")


def test_the_passphrase_comes_from_the_setting_or_a_secret_block(settings):
    with pytest.raises(KeyStoreError, match="needs a passphrase: set CRYPTOBOT_KEYSTORE_PASS"):
        keystore.passphrase(settings)
    with pytest.raises(KeyStoreError, match="has 5 characters: use at least 12"):
        keystore.passphrase(_store_settings(settings, keystore_passphrase=SecretStr("short")))
    assert keystore.passphrase(_store_settings(settings)) == PASSPHRASE
    block = settings.model_copy(update={"keystore_passphrase_block": "cryptobot-keystore"})
    with pytest.raises(KeyStoreError, match="this command cannot read"):
        keystore.passphrase(block)
    asked = []
    assert keystore.passphrase(block, lambda name: asked.append(name) or f"{PASSPHRASE}\n") == (
        PASSPHRASE
    )
    assert asked == ["cryptobot-keystore"]


def test_environment_keys_win_over_stored_ones(settings):
    live = _store_settings(settings, trading=TradingSettings(mode="live"), source="ccxt")
    assert keystore.exchange_keys(live) is None
    keystore.store_keys(live, "binance", API_KEY, SECRET, PASSPHRASE)
    keystore.store_keys(live, "kraken", SECRET, API_KEY, PASSPHRASE)
    stored = keystore.exchange_keys(live)
    assert (stored.source, stored.api_key.get_secret_value()) == ("key store", API_KEY)
    env_key, env_secret = "E" * 64, "S" * 64
    from_env = live.model_copy(
        update={"exchange_api_key": SecretStr(env_key), "exchange_secret": SecretStr(env_secret)}
    )
    keys = keystore.exchange_keys(from_env)
    assert (keys.source, keys.api_key.get_secret_value()) == ("environment", env_key)
    # a store that cannot be decrypted is not touched when the environment has the keys
    wrong = from_env.model_copy(update={"keystore_passphrase": SecretStr("wrong passphrase!")})
    assert keystore.exchange_keys(wrong).source == "environment"
    without_env = wrong.model_copy(update={"exchange_api_key": None, "exchange_secret": None})
    with pytest.raises(KeyStoreError, match="not the one it was stored with"):
        keystore.exchange_keys(without_env)
    half = live.model_copy(update={"exchange_api_key": SecretStr(env_key)})
    with pytest.raises(TradingError, match="CRYPTOBOT_EXCHANGE_SECRET is not set"):
        keystore.exchange_keys(half)
    kraken = live.model_copy(update={"exchange": "kraken"})
    assert keystore.exchange_keys(kraken).api_key.get_secret_value() == SECRET
