from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cryptobot.config import PROJECT_ROOT, load_settings, normalize_exchange, normalize_symbol
from cryptobot.errors import ConfigError


def test_defaults_are_the_roadmap_values():
    settings = load_settings()
    assert settings.warehouse == PROJECT_ROOT / "data" / "warehouse.duckdb"
    assert settings.symbols == ["BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT", "XRP/USDT"]
    assert settings.timeframes == ["1h"]
    assert settings.source == "simulator"
    risk = settings.risk
    assert (risk.max_position_size, risk.max_daily_loss, risk.max_drawdown) == (0.05, 0.02, 0.15)
    assert (risk.correlation_limit, risk.leverage_limit) == (0.7, 2.0)
    assert (risk.volatility_threshold, risk.liquidity_minimum, risk.spread_maximum) == (
        0.05,
        1_000_000,
        0.001,
    )


def test_config_file_overrides_defaults_and_environment_overrides_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    config = tmp_path / "cryptobot.toml"
    config.write_text(
        'symbols = ["BTC/USDT"]\nexchange = "Kraken"\n[risk]\nmaxDrawdown = 0.1\n'
        "max_daily_loss = 0.01\n[simulator]\nseed = 7\n"
    )
    monkeypatch.setenv("CRYPTOBOT_CONFIG", str(config))
    settings = load_settings()
    assert settings.symbols == ["BTC/USDT"]
    assert settings.exchange == "kraken"
    assert settings.risk.max_drawdown == 0.1  # camelCase roadmap name accepted
    assert settings.risk.max_daily_loss == 0.01
    assert settings.simulator.seed == 7

    monkeypatch.setenv("CRYPTOBOT_SYMBOLS", "ETH/USDT, SOL/USDT")
    monkeypatch.setenv("CRYPTOBOT_RISK__MAX_DRAWDOWN", "0.2")
    monkeypatch.setenv("CRYPTOBOT_WAREHOUSE", str(tmp_path / "w.duckdb"))
    settings = load_settings()
    assert settings.symbols == ["ETH/USDT", "SOL/USDT"]
    assert settings.risk.max_drawdown == 0.2
    assert settings.risk.max_daily_loss == 0.01  # untouched values still come from the file
    assert settings.warehouse == tmp_path / "w.duckdb"


def test_config_file_in_working_directory_is_read(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cryptobot.toml").write_text('timeframes = ["4h"]\n')
    assert load_settings().timeframes == ["4h"]


@pytest.mark.parametrize(
    ("variable", "value", "field"),
    [
        ("CRYPTOBOT_RISK__MAX_DRAWDOWN", "1.5", "risk.max_drawdown"),
        ("CRYPTOBOT_RISK__LEVERAGE_LIMIT", "0.5", "risk.leverage_limit"),
        ("CRYPTOBOT_SYMBOLS", "BTCUSDT", "symbols"),
        ("CRYPTOBOT_SYMBOLS", "btc/usdt", "symbols"),
        ("CRYPTOBOT_SYMBOLS", '["BTC/USDT", 1]', "symbols"),
        ("CRYPTOBOT_SYMBOLS", '["BTC/USDT",', "symbols"),
        ("CRYPTOBOT_EXCHANGE", "bin ance", "exchange"),
        ("CRYPTOBOT_TIMEFRAMES", "1x", "timeframes"),
        ("CRYPTOBOT_SOURCE", "carrier-pigeon", "source"),
        ("CRYPTOBOT_SIMULATOR__SIGNAL", "1.0", "simulator.signal"),
    ],
)
def test_invalid_configuration_names_the_field(monkeypatch, variable, value, field):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert field in str(error.value)
    assert value.split(",")[0] in str(error.value)


def test_unknown_key_in_config_file_is_rejected(tmp_path: Path, monkeypatch):
    config = tmp_path / "c.toml"
    config.write_text("[risk]\nmax_drawdwn = 0.1\n")
    monkeypatch.setenv("CRYPTOBOT_CONFIG", str(config))
    with pytest.raises(ConfigError, match="max_drawdwn"):
        load_settings()


def test_missing_config_file_is_reported(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("CRYPTOBOT_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match="nope.toml"):
        load_settings()


def test_malformed_toml_is_reported(monkeypatch, tmp_path: Path):
    config = tmp_path / "bad.toml"
    config.write_text("symbols = [\n")
    monkeypatch.setenv("CRYPTOBOT_CONFIG", str(config))
    with pytest.raises(ConfigError, match="invalid configuration"):
        load_settings()


def test_malformed_toml_names_the_file(monkeypatch, tmp_path: Path):
    config = tmp_path / "bad.toml"
    config.write_text('symbols = ["BTC/USDT"\n')
    monkeypatch.setenv("CRYPTOBOT_CONFIG", str(config))
    with pytest.raises(ConfigError, match="not valid TOML") as error:
        load_settings()
    assert str(config) in str(error.value)


def test_malformed_toml_in_working_directory_names_the_file(monkeypatch, tmp_path: Path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cryptobot.toml").write_text("exchange = \n")
    with pytest.raises(ConfigError, match=f"{tmp_path / 'cryptobot.toml'}.*not valid TOML"):
        load_settings()


@pytest.mark.parametrize("name", ["CRYPTOBOT_WAREHOUS", "CRYPTOBOT_SYMBOL", "cryptobot_timeframe"])
def test_mistyped_environment_variable_is_rejected(monkeypatch, tmp_path: Path, name: str):
    monkeypatch.setenv(name, str(tmp_path / "w.duckdb"))
    with pytest.raises(ConfigError) as error:
        load_settings()
    message = str(error.value)
    assert f"unknown environment variable {name}" in message
    for valid in ["CRYPTOBOT_WAREHOUSE", "CRYPTOBOT_SYMBOLS", "CRYPTOBOT_CONFIG"]:
        assert valid in message


def test_mistyped_nested_environment_variable_is_rejected(monkeypatch):
    monkeypatch.setenv("CRYPTOBOT_RISKS__MAX_DRAWDOWN", "0.1")
    with pytest.raises(ConfigError, match="CRYPTOBOT_RISKS__MAX_DRAWDOWN"):
        load_settings()
    monkeypatch.delenv("CRYPTOBOT_RISKS__MAX_DRAWDOWN")
    monkeypatch.setenv("CRYPTOBOT_RISK__MAX_DRAWDWN", "0.1")
    with pytest.raises(ConfigError, match="max_drawdwn"):
        load_settings()


def test_every_documented_environment_variable_is_accepted(monkeypatch, tmp_path: Path):
    config = tmp_path / "c.toml"
    config.write_text("")
    monkeypatch.setenv("CRYPTOBOT_CONFIG", str(config))
    monkeypatch.setenv("CRYPTOBOT_WAREHOUSE", str(tmp_path / "w.duckdb"))
    monkeypatch.setenv("CRYPTOBOT_WRITE_LOCK_TIMEOUT", "5")
    monkeypatch.setenv("CRYPTOBOT_SIMULATOR__SEED", "3")
    settings = load_settings()
    assert (settings.write_lock_timeout, settings.simulator.seed) == (5.0, 3)


@pytest.mark.parametrize(
    "value", ['["BTC/USDT","ETH/USDT"]', '[ "BTC/USDT", "ETH/USDT" ]', "BTC/USDT,ETH/USDT"]
)
def test_symbols_from_environment_as_json_list_or_commas(monkeypatch, value: str):
    monkeypatch.setenv("CRYPTOBOT_SYMBOLS", value)
    assert load_settings().symbols == ["BTC/USDT", "ETH/USDT"]


def test_timeframes_from_environment_as_json_list(monkeypatch):
    monkeypatch.setenv("CRYPTOBOT_TIMEFRAMES", '["1h", "4h"]')
    assert load_settings().timeframes == ["1h", "4h"]


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        ("btcusdt", "did you mean BTC/USDT?"),
        ("btc/usdt", "did you mean BTC/USDT?"),
        ("BTC-USDT", "did you mean BTC/USDT?"),
        ("Eth/Usdt", "did you mean ETH/USDT?"),
        ("BTC", "e.g. BTC/USDT"),
        ("BTC/", "e.g. BTC/USDT"),
        ("BTC/USDT/X", "e.g. BTC/USDT"),
        ("", "e.g. BTC/USDT"),
    ],
)
def test_symbols_must_be_ccxt_unified_upper_case(value: str, hint: str):
    with pytest.raises(ConfigError, match="expected upper-case BASE/QUOTE") as error:
        normalize_symbol(value)
    assert hint in str(error.value)
    assert repr(value) in str(error.value)


def test_symbols_are_stripped_and_kept():
    assert normalize_symbol(" ETH/USDT ") == "ETH/USDT"
    assert normalize_symbol("1000PEPE/USDT") == "1000PEPE/USDT"
    assert normalize_symbol("BTC/IDR") == "BTC/IDR"


def test_lower_case_symbol_in_config_is_rejected_with_a_hint(monkeypatch, tmp_path: Path):
    config = tmp_path / "c.toml"
    config.write_text('symbols = ["BTC/USDT", "eth/usdt"]\n')
    monkeypatch.setenv("CRYPTOBOT_CONFIG", str(config))
    with pytest.raises(ConfigError, match="symbols.*did you mean ETH/USDT"):
        load_settings()


def test_exchange_is_normalized_or_rejected():
    assert normalize_exchange("  Binance ") == "binance"
    assert normalize_exchange("gateio") == "gateio"
    for bad in ["", "  ", "bin ance", "binance/us", "1inch?"]:
        with pytest.raises(ConfigError, match="not a ccxt exchange id"):
            normalize_exchange(bad)
    assert load_settings(exchange=" Kraken ").exchange == "kraken"


def test_simulator_end_in_the_future_is_rejected(monkeypatch):
    future = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=2)
    monkeypatch.setenv("CRYPTOBOT_SIMULATOR__END", future.isoformat())
    with pytest.raises(ConfigError, match="simulator.end.*in the future"):
        load_settings()
    monkeypatch.setenv("CRYPTOBOT_SIMULATOR__END", (future + timedelta(days=1)).isoformat() + "Z")
    with pytest.raises(ConfigError, match="simulator.end.*in the future"):
        load_settings()


def test_simulator_end_in_the_past_is_accepted(monkeypatch):
    past = datetime.now(UTC).replace(tzinfo=None, microsecond=0) - timedelta(minutes=5)
    monkeypatch.setenv("CRYPTOBOT_SIMULATOR__END", past.isoformat())
    assert load_settings().simulator.end == past
