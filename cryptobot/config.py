"""All configuration, in one place.

Precedence (lowest first): the defaults below < a TOML config file < environment variables.
The config file is ``cryptobot.toml`` in the working directory, or the path in ``CRYPTOBOT_CONFIG``.
Environment variables use the prefix ``CRYPTOBOT_`` and ``__`` for nesting, e.g.
``CRYPTOBOT_WAREHOUSE=/tmp/w.duckdb``, ``CRYPTOBOT_SYMBOLS=BTC/USDT,ETH/USDT``,
``CRYPTOBOT_RISK__MAX_DRAWDOWN=0.1``. Risk limits also accept the roadmap's camelCase names in
the config file (``maxDrawdown = 0.1``).
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_snake
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from cryptobot.errors import ConfigError
from cryptobot.timeframes import timeframe_seconds

#: The checkout this package lives in; default paths are relative to it, not to the shell's cwd.
PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONFIG_FILE_ENV = "CRYPTOBOT_CONFIG"
DEFAULT_SYMBOLS = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT", "XRP/USDT"]


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class RiskLimits(BaseModel):
    """Hard limits the trading flow enforces before any order (fractions of equity unless noted)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _accept_camel_case(cls, data: Any) -> Any:
        """Accept the roadmap's camelCase names; a snake_case key (e.g. from the environment,
        which outranks the config file) wins when both are given."""
        if not isinstance(data, dict):
            return data
        normalized = {key: value for key, value in data.items() if to_snake(key) == key}
        for key, value in data.items():
            normalized.setdefault(to_snake(key), value)
        return normalized

    max_position_size: float = Field(0.05, gt=0, le=1, description="max notional per position")
    max_daily_loss: float = Field(0.02, gt=0, le=1, description="stop new risk after this loss")
    max_drawdown: float = Field(0.15, gt=0, le=1, description="kill switch on peak-to-trough")
    correlation_limit: float = Field(0.7, ge=0, le=1, description="max |corr| with open positions")
    leverage_limit: float = Field(2.0, ge=1, description="gross exposure / equity")
    volatility_threshold: float = Field(0.05, gt=0, description="max recent bar volatility")
    liquidity_minimum: float = Field(1_000_000, ge=0, description="min 24h quote volume")
    spread_maximum: float = Field(0.001, gt=0, le=1, description="max relative bid/ask spread")


class SimulatorSettings(BaseModel):
    """The built-in simulated market (the default, offline source)."""

    model_config = ConfigDict(extra="forbid")

    seed: int = 42
    days: int = Field(730, gt=0, le=3660)
    signal: float = Field(0.0, ge=0, lt=1)
    end: datetime = Field(
        datetime(2026, 1, 1),
        description="UTC end of the simulated history (fixed, so runs are reproducible)",
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CRYPTOBOT_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    warehouse: Path = Field(PROJECT_ROOT / "data" / "warehouse.duckdb")
    data_dir: Path = Field(PROJECT_ROOT / "data")
    dbt_project_dir: Path = Field(PROJECT_ROOT / "dbt_project")
    symbols: Annotated[list[str], NoDecode] = Field(default_factory=lambda: list(DEFAULT_SYMBOLS))
    timeframes: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["1h"])
    exchange: str = "binance"
    source: Literal["simulator", "ccxt", "file"] = "simulator"
    simulator: SimulatorSettings = Field(default_factory=SimulatorSettings)
    risk: RiskLimits = Field(default_factory=RiskLimits)
    #: seconds a writer waits for another process's write lock before giving up
    write_lock_timeout: float = Field(120.0, gt=0)

    @field_validator("symbols", "timeframes", mode="before")
    @classmethod
    def _csv(cls, value: Any) -> Any:
        return _split_csv(value)

    @field_validator("symbols")
    @classmethod
    def _symbols(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one symbol is needed")
        for symbol in value:
            base, _, quote = symbol.partition("/")
            if not base or not quote:
                raise ValueError(f"symbol {symbol!r} must look like BASE/QUOTE, e.g. BTC/USDT")
        return value

    @field_validator("timeframes")
    @classmethod
    def _timeframes(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one timeframe is needed")
        for timeframe in value:
            try:
                timeframe_seconds(timeframe)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("exchange")
    @classmethod
    def _exchange(cls, value: str) -> str:
        return value.strip().lower()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = config_file_path()
        if config_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)


def config_file_path() -> Path | None:
    explicit = os.environ.get(CONFIG_FILE_ENV)
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"{CONFIG_FILE_ENV}={explicit} does not name a readable file")
        return path
    default = Path.cwd() / "cryptobot.toml"
    return default if default.is_file() else None


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, turning validation errors into one message naming each bad field."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]) or "(settings)"
            problems.append(f"{field}: {error['msg']} (got {error.get('input')!r})")
        where = config_file_path()
        origin = f"config file {where}, " if where else ""
        raise ConfigError(
            "invalid configuration: "
            + "; ".join(problems)
            + f". Check {origin}CRYPTOBOT_* environment variables and command-line options."
        ) from None
    except ValueError as exc:  # e.g. a malformed TOML file
        raise ConfigError(f"invalid configuration: {exc}") from None
