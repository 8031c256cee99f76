"""All configuration, in one place.

Precedence (lowest first): the defaults below < a TOML config file < environment variables.
The config file is ``cryptobot.toml`` in the working directory, or the path in ``CRYPTOBOT_CONFIG``.
Environment variables use the prefix ``CRYPTOBOT_`` and ``__`` for nesting, e.g.
``CRYPTOBOT_WAREHOUSE=/tmp/w.duckdb``, ``CRYPTOBOT_SYMBOLS=BTC/USDT,ETH/USDT`` (or a JSON list,
``'["BTC/USDT","ETH/USDT"]'``), ``CRYPTOBOT_RISK__MAX_DRAWDOWN=0.1``; a ``CRYPTOBOT_`` variable
that names no setting is an error, not silently ignored. Risk limits also accept the roadmap's
camelCase names in the config file (``maxDrawdown = 0.1``).

Symbols are ccxt unified symbols, ``BASE/QUOTE`` in upper case (``BTC/USDT``); exchanges are ccxt
ids in lower case (``binance``). ``normalize_symbol`` and ``normalize_exchange`` apply the same
rules to command-line options.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
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
#: the exchange id the built-in simulated market is stored under
SIMULATOR_EXCHANGE = "simulator"
DEFAULT_SYMBOLS = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT", "XRP/USDT"]


#: ccxt's unified spot symbol: BASE/QUOTE, upper-case letters and digits (``1000PEPE/USDT``)
SYMBOL_PATTERN = re.compile(r"^[A-Z0-9]+/[A-Z0-9]+$")
#: a ccxt exchange id (``binance``, ``gateio``, ``binanceusdm``)
EXCHANGE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
#: a paper account's name (``trading.account``, ``--account``)
ACCOUNT_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
#: quote currencies tried, longest first, to suggest ``BTC/USDT`` for ``BTCUSDT``
_COMMON_QUOTES = ("FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USD", "EUR", "IDR", "BTC", "ETH", "BNB")


def _symbol_hint(value: str) -> str:
    upper = value.upper().replace("-", "/").replace("_", "/")
    if "/" not in upper:
        quote = next((q for q in _COMMON_QUOTES if upper.endswith(q) and upper != q), None)
        if quote is None:
            return ""
        upper = f"{upper[: -len(quote)]}/{quote}"
    return f": did you mean {upper}?" if SYMBOL_PATTERN.match(upper) else ""


def normalize_symbol(value: str) -> str:
    """A symbol as the warehouse stores it: ccxt's unified ``BASE/QUOTE``, e.g. ``BTC/USDT``.

    Surrounding blanks are dropped; anything else that is not upper-case ``BASE/QUOTE`` (lower
    case, ``BTCUSDT``, ``BTC-USDT``) is refused with a hint rather than silently rewritten, so
    one market never ends up stored under two names.
    """
    symbol = str(value).strip()
    if not SYMBOL_PATTERN.match(symbol):
        hint = _symbol_hint(symbol) or " (e.g. BTC/USDT)"
        raise ConfigError(
            f"symbol {value!r} is not a ccxt unified symbol: expected upper-case BASE/QUOTE{hint}"
        )
    return symbol


def normalize_exchange(value: str) -> str:
    """A ccxt exchange id as the warehouse stores it: blanks dropped, lower case (``binance``)."""
    exchange = str(value).strip().lower()
    if not EXCHANGE_PATTERN.match(exchange):
        raise ConfigError(
            f"exchange {value!r} is not a ccxt exchange id: expected a name such as binance, "
            "kraken, tokocrypto or indodax (letters, digits, underscores)"
        )
    return exchange


def _split_list(value: Any) -> Any:
    """A list from the environment: a JSON list (``'["BTC/USDT","ETH/USDT"]'``) or commas."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not a valid JSON list ({exc.msg} at char {exc.pos})") from None
        if not isinstance(parsed, list) or not all(isinstance(item, str) for item in parsed):
            raise ValueError("a JSON list must hold strings only")
        return [item.strip() for item in parsed]
    return [item.strip() for item in text.split(",") if item.strip()]


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

    @field_validator("end")
    @classmethod
    def _end_not_in_future(cls, value: datetime) -> datetime:
        """Bars after now would be stored as fetched before they closed: the gate rejects them."""
        now = datetime.now(UTC)
        if value > (now if value.tzinfo else now.replace(tzinfo=None)):
            raise ValueError(
                f"end {value.isoformat()} is in the future (now is {now:%Y-%m-%d %H:%M} UTC): "
                "every simulated bar after now would be quarantined as not closed when fetched. "
                "Use a past UTC time"
            )
        return value


class TrainingSettings(BaseModel):
    """Walk-forward training and the promotion gate (``cryptobot train``). What trading a
    model's predictions earns is measured with the trading settings (strategy, costs, limits)."""

    model_config = ConfigDict(extra="forbid")

    families: list[str] = Field(
        default_factory=lambda: ["persistence", "always_up", "zero_return", "xgboost", "lstm"],
        description="model families to train; the baselines always run beside them",
    )
    horizon: int = Field(1, ge=1, le=168, description="label horizon in bars")
    folds: int = Field(5, ge=1, le=50, description="walk-forward folds before the holdout")
    window: Literal["expanding", "rolling"] = "expanding"
    holdout_fraction: float = Field(0.2, gt=0, lt=0.9, description="final holdout share of rows")
    embargo: int | None = Field(
        None, ge=1, description="rows dropped between train and test; default the horizon"
    )
    min_train: int = Field(500, ge=50, description="fewest rows any training window may have")
    alpha: float = Field(
        0.01, gt=0, lt=0.5, description="gate: level of the binomial test of the edge over 50%"
    )
    baseline_alpha: float = Field(
        0.05, gt=0, lt=0.5, description="gate: level of the Diebold-Mariano test vs the baseline"
    )
    dsr_threshold: float = Field(
        0.95,
        gt=0,
        lt=1,
        description="gate: the deflated Sharpe ratio of the after-cost holdout backtest needed",
    )
    seed: int = 42


class TradingSettings(BaseModel):
    """The trading flow (``cryptobot trade``): strategy, account and the paper broker's costs."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["paper", "live"] = Field(
        "paper",
        description="paper (default) simulates fills; live sends orders through ccxt and needs "
        "exchange_api_key and exchange_secret",
    )
    strategy: str = Field("long_flat", description="long_flat (default) or long_short")
    initial_capital: float = Field(10_000.0, gt=0, description="paper account, quote currency")
    min_confidence: float = Field(
        0.5, ge=0.5, le=1, description="act only on calls at least this confident (max(p, 1-p))"
    )
    rebalance_threshold: float = Field(
        0.25, ge=0, le=1, description="skip orders smaller than this share of the target size"
    )
    fee: float = Field(0.001, ge=0, lt=0.1, description="taker fee per fill (0.1%)")
    spread: float = Field(
        0.0002, ge=0, lt=0.1, description="paper: assumed bid/ask spread where no quote is known"
    )
    slippage: float = Field(0.0001, ge=0, lt=0.1, description="paper: fixed slippage per fill")
    impact: float = Field(
        1.0, ge=0, description="paper: square-root impact, slippage += impact*vol*sqrt(q/V)"
    )
    correlation_window: int = Field(168, ge=24, description="bars of returns for correlation")
    liquidity_window: int = Field(24, ge=1, description="bars summed for the liquidity check")
    account: str = Field(
        "default",
        description="the paper account `cryptobot trade` acts on (letters, digits, - and _); "
        "`cryptobot account list` shows them all",
    )
    max_data_age: str | None = Field(
        None,
        description="`cryptobot trade` without --as-of refuses when the newest stored bar "
        "closed longer ago than this (a number and a unit: 90m, 2h, 3d); default two bars of "
        "the timeframe. The simulated market is exempt: its clock is its newest bar",
    )

    @field_validator("account")
    @classmethod
    def _account(cls, value: str) -> str:
        if not ACCOUNT_PATTERN.match(value):
            raise ValueError(
                f"account name {value!r} is not valid: use 1-40 letters, digits, '-' or '_' "
                "(e.g. default, momentum-test)"
            )
        return value

    @field_validator("max_data_age")
    @classmethod
    def _max_data_age(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            timeframe_seconds(value.strip())
        except ConfigError:
            raise ValueError(
                f"max_data_age {value!r} is not a duration: use a number and a unit m, h, d or "
                "w, e.g. 2h or 3d"
            ) from None
        return value.strip()

    def data_age_limit(self, timeframe: str) -> timedelta:
        """How old the newest bar may be for a step without --as-of."""
        if self.max_data_age is not None:
            return timedelta(seconds=timeframe_seconds(self.max_data_age))
        return 2 * timedelta(seconds=timeframe_seconds(timeframe))


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
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    trading: TradingSettings = Field(default_factory=TradingSettings)
    #: live trading keys (environment or .env, never the config file in git); never logged
    exchange_api_key: SecretStr | None = None
    exchange_secret: SecretStr | None = None
    #: optional Telegram delivery of reports and alerts
    telegram_bot_token: SecretStr | None = None
    telegram_chat_id: str | None = None
    telegram_api_url: str = "https://api.telegram.org"
    #: MLflow tracking and registry store; default ``sqlite:///<data_dir>/mlflow.db``
    mlflow_tracking_uri: str | None = None
    #: seconds a writer waits for another process's write lock before giving up
    write_lock_timeout: float = Field(120.0, gt=0)

    @property
    def market_exchange(self) -> str:
        """The exchange whose series the models use by default: the simulator's when the
        configured source is the simulator, else ``exchange``."""
        return SIMULATOR_EXCHANGE if self.source == "simulator" else self.exchange

    @property
    def tracking_uri(self) -> str:
        """Where MLflow runs and registered models live."""
        return self.mlflow_tracking_uri or f"sqlite:///{self.data_dir.resolve() / 'mlflow.db'}"

    @property
    def reports_dir(self) -> Path:
        """Where generated reports are written."""
        return self.data_dir.resolve() / "reports"

    @property
    def mlflow_artifacts(self) -> Path:
        """Where run artifacts (models, predictions, plans) are stored."""
        return self.data_dir.resolve() / "mlartifacts"

    @field_validator("symbols", "timeframes", mode="before")
    @classmethod
    def _list(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("symbols")
    @classmethod
    def _symbols(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one symbol is needed")
        try:
            return [normalize_symbol(symbol) for symbol in value]
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

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
        try:
            return normalize_exchange(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

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
            try:
                sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(
                    f"invalid configuration: config file {config_file} is not valid TOML: {exc}. "
                    f"Fix the file, or point {CONFIG_FILE_ENV} at another one."
                ) from None
        return tuple(sources)


def env_variable_names() -> list[str]:
    """Every top-level ``CRYPTOBOT_*`` variable the settings read (plus ``CRYPTOBOT_CONFIG``)."""
    prefix = Settings.model_config["env_prefix"]
    return sorted([CONFIG_FILE_ENV, *(prefix + name.upper() for name in Settings.model_fields)])


def _check_env_names(environ: Mapping[str, str]) -> None:
    """Refuse a ``CRYPTOBOT_`` variable that names no setting (a typo would silently not apply).

    Names are matched case-insensitively, as pydantic-settings reads them; a nested variable is
    checked here on its first part (``CRYPTOBOT_RISK__...``) and by its model for the rest.
    """
    prefix = Settings.model_config["env_prefix"]
    delimiter = Settings.model_config["env_nested_delimiter"]
    valid = {name.upper() for name in env_variable_names()}
    unknown = []
    for name in environ:
        upper = name.upper()
        if not upper.startswith(prefix):
            continue
        head = upper.split(delimiter, 1)[0] if delimiter else upper
        if head not in valid:
            unknown.append(name)
    if unknown:
        raise ConfigError(
            f"unknown environment variable{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(sorted(unknown))}: {prefix}* variables must name a setting. Valid names: "
            f"{', '.join(env_variable_names())} (nested ones like {prefix}RISK__MAX_DRAWDOWN "
            "use __). Fix the name or unset it."
        )


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
    _check_env_names(os.environ)
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
    except ValueError as exc:  # a source failed to parse a value
        where = config_file_path()
        origin = f" (config file {where})" if where else ""
        raise ConfigError(f"invalid configuration{origin}: {exc}") from None
