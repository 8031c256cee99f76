from __future__ import annotations

import os
import re
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


# ------------------------------------------------------------------ issue 15: conventions


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CRYPTOBOT_TRADING__INITIAL_CAPITAL", "inf"),
        ("CRYPTOBOT_TRADING__INITIAL_CAPITAL", "nan"),
        ("CRYPTOBOT_RISK__MAX_DRAWDOWN", "NaN"),
        ("CRYPTOBOT_WRITE_LOCK_TIMEOUT", "Infinity"),
        ("CRYPTOBOT_TRAINING__DSR_THRESHOLD", "-inf"),
    ],
)
def test_non_finite_numbers_are_refused_for_every_numeric_setting(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    field = variable.removeprefix("CRYPTOBOT_").lower().replace("__", ".")
    with pytest.raises(ConfigError, match=rf"{re.escape(field)}: .*finite"):
        load_settings()


def test_a_secret_value_is_never_echoed_in_a_configuration_error(monkeypatch, tmp_path: Path):
    (tmp_path / "cryptobot.toml").write_text('exchange_api_kee = "sk-live-0123456789abcdef"\n')
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert "exchange_api_kee" in str(raised.value)
    assert "sk-live-0123456789abcdef" not in str(raised.value)
    assert "value hidden" in str(raised.value)


def test_dotenv_in_the_working_directory_is_read_below_the_environment(monkeypatch, tmp_path: Path):
    (tmp_path / ".env").write_text(
        "CRYPTOBOT_EXCHANGE_API_KEY=from-dotenv-key-0123456789\n"
        "CRYPTOBOT_EXCHANGE=kraken\n"
        "OTHER_TOOL_SETTING=ignored\n"
    )
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.exchange_api_key.get_secret_value() == "from-dotenv-key-0123456789"
    assert settings.exchange == "kraken"
    monkeypatch.setenv("CRYPTOBOT_EXCHANGE", "binance")
    assert load_settings().exchange == "binance"


def test_a_mistyped_name_in_dotenv_is_refused(monkeypatch, tmp_path: Path):
    (tmp_path / ".env").write_text("CRYPTOBOT_EXCHANG=kraken\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"exchang: Extra inputs .*\.env"):
        load_settings()


def test_mlflow_tracking_uri_precedence(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("CRYPTOBOT_DATA_DIR", str(tmp_path))
    assert load_settings().tracking_uri == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5001")
    assert load_settings().tracking_uri == "http://127.0.0.1:5001"
    monkeypatch.setenv("CRYPTOBOT_MLFLOW_TRACKING_URI", "sqlite:////tmp/other.db")
    assert load_settings().tracking_uri == "sqlite:////tmp/other.db"


def test_cli_tracking_uri_option_wins(monkeypatch, tmp_path: Path):
    from typer.testing import CliRunner

    from cryptobot.cli import app

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5001")
    monkeypatch.setenv("CRYPTOBOT_MLFLOW_TRACKING_URI", "sqlite:////tmp/env.db")
    monkeypatch.setattr("os.environ", dict(os.environ))  # the callback writes os.environ
    result = CliRunner().invoke(
        app, ["--mlflow-tracking-uri", "sqlite:////tmp/cli.db", "--version"]
    )
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(
        app, ["--mlflow-tracking-uri", "sqlite:////tmp/cli.db", "status", "--help"]
    )
    assert result.exit_code == 0, result.output
    assert os.environ["CRYPTOBOT_MLFLOW_TRACKING_URI"] == "sqlite:////tmp/cli.db"
    assert load_settings().tracking_uri == "sqlite:////tmp/cli.db"


@pytest.mark.parametrize(
    ("warehouse", "data_dir"),
    [
        ("w/warehouse.duckdb", "w"),
        ("w/experiment.duckdb", "w/experiment"),
    ],
)
def test_runtime_state_derives_from_the_warehouse(monkeypatch, tmp_path, warehouse, data_dir):
    monkeypatch.setenv("CRYPTOBOT_WAREHOUSE", str(tmp_path / warehouse))
    settings = load_settings()
    assert settings.data_dir == tmp_path / data_dir
    assert settings.tracking_uri == f"sqlite:///{(tmp_path / data_dir).resolve() / 'mlflow.db'}"
    assert settings.reports_dir == (tmp_path / data_dir).resolve() / "reports"
    assert settings.mlflow_artifacts == (tmp_path / data_dir).resolve() / "mlartifacts"


def test_two_warehouses_never_share_a_model_registry(monkeypatch, tmp_path: Path):
    seen = set()
    for name in ("a.duckdb", "b.duckdb", "warehouse.duckdb"):
        monkeypatch.setenv("CRYPTOBOT_WAREHOUSE", str(tmp_path / name))
        settings = load_settings()
        seen.add((settings.tracking_uri, settings.mlflow_artifacts, settings.reports_dir))
    assert len(seen) == 3


def test_data_dir_alone_places_the_warehouse_in_it(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("CRYPTOBOT_DATA_DIR", str(tmp_path / "state"))
    settings = load_settings()
    assert settings.warehouse == tmp_path / "state" / "warehouse.duckdb"
    monkeypatch.setenv("CRYPTOBOT_WAREHOUSE", str(tmp_path / "elsewhere.duckdb"))
    both = load_settings()
    assert (both.warehouse, both.data_dir) == (tmp_path / "elsewhere.duckdb", tmp_path / "state")


def test_the_uri_mlflow_copied_into_the_environment_is_not_taken_for_the_users(
    monkeypatch, tmp_path: Path
):
    """mlflow.set_tracking_uri writes MLFLOW_TRACKING_URI for subprocesses: a later warehouse in
    the same process must still get its own registry."""
    import mlflow

    from models.tracking import configure

    monkeypatch.setenv("CRYPTOBOT_DATA_DIR", str(tmp_path / "first"))
    first = load_settings()
    configure(first)
    assert os.environ["MLFLOW_TRACKING_URI"] == first.tracking_uri  # what MLflow does
    monkeypatch.setenv("CRYPTOBOT_DATA_DIR", str(tmp_path / "second"))
    second = load_settings()
    assert second.tracking_uri == f"sqlite:///{(tmp_path / 'second').resolve() / 'mlflow.db'}"
    mlflow.set_tracking_uri(None)


def test_a_child_process_does_not_take_the_parents_mlflow_uri_for_the_users(tmp_path: Path):
    """A CLI started from a process that pointed MLflow somewhere inherits MLFLOW_TRACKING_URI
    (MLflow exports it) and must still use its own warehouse's registry."""
    import subprocess
    import sys

    from models.tracking import configure

    parent = load_settings(data_dir=tmp_path / "parent")
    configure(parent)
    child_dir = tmp_path / "child"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRYPTOBOT_")}
    env["CRYPTOBOT_DATA_DIR"] = str(child_dir)
    assert env["MLFLOW_TRACKING_URI"] == parent.tracking_uri
    printed = subprocess.run(
        [sys.executable, "-c", "from cryptobot.config import load_settings as l; "
         "print(l().tracking_uri)"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert printed == f"sqlite:///{child_dir.resolve() / 'mlflow.db'}"
    __import__("mlflow").set_tracking_uri(None)


def test_every_settings_section_refuses_non_finite_numbers():
    from pydantic import BaseModel

    import cryptobot.config as config

    sections = [
        value
        for value in vars(config).values()
        if isinstance(value, type)
        and issubclass(value, BaseModel)
        and value.__module__ == config.__name__
    ]
    assert len(sections) >= 8
    for section in sections:
        assert section.model_config.get("allow_inf_nan") is False, section.__name__
