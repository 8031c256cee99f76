from __future__ import annotations

from pathlib import Path

import pytest

from cryptobot.config import PROJECT_ROOT, load_settings
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
