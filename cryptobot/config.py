"""All configuration, in one place.

Precedence (lowest first): the defaults below < a TOML config file < a ``.env`` file in the working
directory < environment variables.
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
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
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

from cryptobot.errors import ConfigError, CryptobotError
from cryptobot.timeframes import parse_window, timeframe_seconds, window_bars

#: The checkout this package lives in; default paths are relative to it, not to the shell's cwd.
PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONFIG_FILE_ENV = "CRYPTOBOT_CONFIG"
#: runtime state (warehouse, MLflow, reports) when neither CRYPTOBOT_DATA_DIR nor _WAREHOUSE is set
DEFAULT_DATA_DIR = PROJECT_ROOT / "data"
#: secrets and settings may also come from this file in the working directory (kept out of git)
DOTENV_FILE = ".env"
#: a configuration error never shows the value of a setting whose name contains one of these
_SECRET_WORDS = ("key", "secret", "token", "passphrase", "password")
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

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

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
    liquidity_minimum: float = Field(
        1_000_000,
        ge=0,
        description="min traded volume over trading.liquidity_window, in the account currency",
    )
    spread_maximum: float = Field(0.001, gt=0, le=1, description="max relative bid/ask spread")


class SimulatorSettings(BaseModel):
    """The built-in simulated market (the default, offline source)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

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


class IngestSettings(BaseModel):
    """What a batch of candles must look like before it may change stored bars
    (``cryptobot import``, ``cryptobot ingest``)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    revision_max_sigma: float = Field(
        10.0,
        gt=0,
        description=(
            "a bar already stored may change by at most this many standard deviations of the "
            "series' recent one-bar log returns (close, high and low each); a larger change is "
            "refused unless `--allow-revisions` is given"
        ),
    )
    revision_window: int = Field(
        500,
        ge=10,
        le=100_000,
        description="stored bars before the earliest revised one whose log returns give the SD",
    )
    revision_min_sigma: float = Field(
        1e-4,
        gt=0,
        lt=1,
        description=(
            "floor of that SD (a log return; 1e-4 = 0.01%): a flat or short stored history "
            "does not make every tiny correction implausible"
        ),
    )
    first_trading_days: dict[str, date] = Field(
        default_factory=dict,
        description=(
            "exchange id -> first day it traded, overriding or extending the built-in table "
            "(cryptobot.sources.bar_checks.FIRST_TRADING_DAYS); bars before it are refused"
        ),
    )

    @field_validator("first_trading_days")
    @classmethod
    def _exchange_ids(cls, value: dict[str, date]) -> dict[str, date]:
        try:
            return {normalize_exchange(name): day for name, day in value.items()}
        except ConfigError as exc:
            raise ValueError(str(exc)) from None


class TrainingSettings(BaseModel):
    """Walk-forward training and the promotion gate (``cryptobot train``). What trading a
    model's predictions earns is measured with the trading settings (strategy, costs, limits)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

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

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    mode: Literal["paper", "live"] = Field(
        "paper",
        description="paper (default) simulates fills; live sends orders through ccxt and needs "
        "exchange keys (exchange_api_key and exchange_secret, or `cryptobot keys set`)",
    )
    allow_withdrawal_keys: bool = Field(
        False,
        description="live: accept an exchange key that may withdraw funds (refused by default "
        "where the exchange tells, e.g. Binance's API restrictions)",
    )
    strategy: str = Field("long_flat", description="long_flat (default) or long_short")
    account_currency: str = Field(
        "USDT",
        description="the currency the account holds and every money figure is in (capital, "
        "liquidity minimum, fees, equity, reports); a symbol quoted in another currency is "
        "converted with the stored candles of QUOTE/ACCOUNT (or ACCOUNT/QUOTE) of the same "
        "exchange and timeframe, as of each bar",
    )
    initial_capital: float = Field(
        10_000.0, gt=0, description="starting equity, in the account currency"
    )
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
    correlation_window: int | str = Field(
        "7d",
        description="returns looked at for the correlation check: a duration (7d, 168h) "
        "converted per timeframe, or a number of bars (at least 24)",
    )
    liquidity_window: int | str = Field(
        "24h",
        description="volume summed for the liquidity check: a duration (24h, 90m) converted "
        "per timeframe, or a number of bars",
    )

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

    @field_validator("account_currency", mode="before")
    @classmethod
    def _currency(cls, value: Any) -> str:
        code = str(value).strip()
        if not re.fullmatch(r"[A-Z0-9]{2,12}", code):
            raise ValueError(
                f"account_currency {value!r} is not a currency code: use upper case, e.g. USDT"
            )
        return code

    @field_validator("correlation_window", "liquidity_window", mode="before")
    @classmethod
    def _window(cls, value: Any, info: Any) -> int | str:
        try:
            parsed = parse_window(value, info.field_name)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        if info.field_name == "correlation_window" and isinstance(parsed, int) and parsed < 24:
            raise ValueError(f"correlation_window of {parsed} bars is too short: at least 24")
        return parsed

    def window_bars(self, timeframe: str) -> tuple[int, int]:
        """(correlation_window, liquidity_window) in bars of ``timeframe``."""
        return (
            window_bars(self.correlation_window, timeframe, "trading.correlation_window"),
            window_bars(self.liquidity_window, timeframe, "trading.liquidity_window"),
        )


class MarketOverride(BaseModel):
    """Market rules set by hand for one ``exchange:SYMBOL`` (``[markets."binance:ETH/BTC"]``);
    each given field wins over the stored rules of that market. Amounts are in the base
    currency, the notional in the quote currency, fees are fractions."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    amount_step: float | None = Field(None, gt=0, description="amounts are multiples of this")
    min_amount: float | None = Field(None, ge=0, description="smallest order amount (base)")
    min_notional: float | None = Field(
        None, ge=0, description="smallest order value, in the quote currency"
    )
    taker_fee: float | None = Field(None, ge=0, lt=0.1, description="fee per fill (0.001: 0.1%)")


#: the alerts Telegram can send; each one is switched off by leaving it out of telegram.alerts
ALERT_KINDS = ("fills", "risk", "kill_switch", "flow_failures", "stale_data", "daily_summary")
#: a Telegram chat id: a user's (positive) or a group's or channel's (negative)
CHAT_ID_PATTERN = re.compile(r"^-?[0-9]{1,20}$")


class TelegramSettings(BaseModel):
    """The Telegram bot (``cryptobot telegram``) and which alerts are sent. The bot token, the
    alert chat and the API URL are the top-level ``telegram_bot_token``, ``telegram_chat_id``
    and ``telegram_api_url``."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    alerts: Annotated[list[Literal[ALERT_KINDS]], NoDecode] = Field(  # type: ignore[valid-type]
        default_factory=lambda: list(ALERT_KINDS),
        description="alerts sent to telegram_chat_id: fills (and live rejections), risk "
        "(orders refused by a risk check), kill_switch, flow_failures (a Prefect flow failed or "
        "crashed), stale_data (newest bar older than stale_after_minutes), daily_summary (the "
        "daily report); leave one out to switch it off, [] for none",
    )
    allowed_chat_ids: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="chats whose commands the bot obeys; empty (default): telegram_chat_id only",
    )
    stale_after_minutes: int = Field(
        120,
        ge=1,
        description="stale_data alert: the newest closed bar of a configured series is older "
        "than this (checked after each ingest)",
    )
    poll_timeout: int = Field(
        30, ge=0, le=50, description="seconds a getUpdates long poll waits for new messages"
    )
    max_backoff: float = Field(
        60.0, gt=0, le=3600, description="longest wait between polls while Telegram fails"
    )
    busy_timeout: float = Field(
        5.0,
        gt=0,
        le=120,
        description="seconds a command waits for the warehouse while a flow writes it, then "
        "answers busy, try again",
    )

    @field_validator("alerts", "allowed_chat_ids", mode="before")
    @classmethod
    def _list(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return [str(int(value))]
        if isinstance(value, list):
            return [str(item).strip() if isinstance(item, int) else item for item in value]
        return _split_list(value)

    @field_validator("allowed_chat_ids")
    @classmethod
    def _chat_ids(cls, value: list[str]) -> list[str]:
        for chat in value:
            if not CHAT_ID_PATTERN.match(chat):
                raise ValueError(
                    f"{chat!r} is not a Telegram chat id: a whole number such as 123456789 "
                    "(a user) or -1001234567890 (a group); ask @userinfobot for yours"
                )
        return value


class ApiSettings(BaseModel):
    """The read-only REST API (``cryptobot api serve``)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    host: str = Field("127.0.0.1", description="interface to listen on (0.0.0.0: every one)")
    port: int = Field(8000, ge=1, le=65535, description="TCP port to listen on")
    rate_limit_per_second: float = Field(
        20.0, gt=0, description="requests per second each token may make on average"
    )
    rate_limit_burst: int = Field(
        100, ge=1, description="requests a token may make at once before it is limited"
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="browser origins allowed to call the API (CORS); empty: CORS off",
    )
    snapshot_interval: float = Field(
        2.0, gt=0, le=3600, description="seconds between checks for a newer warehouse snapshot"
    )
    snapshot_lock_timeout: float = Field(
        10.0,
        gt=0,
        description="seconds a snapshot refresh waits for a writer's step to end before it "
        "keeps serving the older snapshot",
    )
    snapshot_dir: Path | None = Field(
        None, description="where the API's snapshot copies live; default <data_dir>/api"
    )
    max_page_size: int = Field(1000, ge=1, le=100_000, description="most rows a page may have")
    docs_public: bool = Field(
        True, description="serve /docs and /openapi.json without a token (they hold no data)"
    )
    prefect_api_url: str | None = Field(
        None,
        description="Prefect server for the deployments' last runs; default PREFECT_API_URL, "
        "else their state is reported unknown",
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CRYPTOBOT_",
        env_nested_delimiter="__",
        env_file=DOTENV_FILE,
        env_file_encoding="utf-8",
        dotenv_filtering="match_prefix",  # other tools' variables in .env are theirs
        extra="forbid",
        validate_default=True,
        allow_inf_nan=False,
    )

    #: the DuckDB file; default ``<data_dir>/warehouse.duckdb``
    warehouse: Path = Field(DEFAULT_DATA_DIR / "warehouse.duckdb")
    #: every other piece of runtime state (MLflow store and artifacts, reports, downloads);
    #: default: derived from ``warehouse`` (:meth:`_one_base_directory`)
    data_dir: Path = Field(DEFAULT_DATA_DIR)
    dbt_project_dir: Path = Field(PROJECT_ROOT / "dbt_project")
    symbols: Annotated[list[str], NoDecode] = Field(default_factory=lambda: list(DEFAULT_SYMBOLS))
    timeframes: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["1h"])
    exchange: str = "binance"
    source: Literal["simulator", "ccxt", "file"] = "simulator"
    simulator: SimulatorSettings = Field(default_factory=SimulatorSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    risk: RiskLimits = Field(default_factory=RiskLimits)
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    trading: TradingSettings = Field(default_factory=TradingSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    markets: dict[str, MarketOverride] = Field(
        default_factory=dict,
        description='market rules by hand, keyed "exchange:SYMBOL" ([markets."binance:ETH/BTC"]); '
        "each field given wins over the rules stored from the exchange",
    )
    exchange_api_key: SecretStr | None = Field(
        None,
        description="live trading API key of `exchange` (environment only, never the config file "
        "in git); wins over the key store; stripped and validated, never logged",
    )
    exchange_secret: SecretStr | None = Field(
        None, description="the secret of exchange_api_key; set both or neither"
    )
    keystore_passphrase: SecretStr | None = Field(
        None,
        description="passphrase the key store (`cryptobot keys`) encrypts exchange keys with "
        "(at least 12 characters); never logged",
    )
    keystore_passphrase_block: str | None = Field(
        None,
        description="name of a Prefect Secret block holding the key store's passphrase, used "
        "when keystore_passphrase is not set",
    )
    #: optional Telegram delivery of reports and alerts
    telegram_bot_token: SecretStr | None = Field(
        None, description="the bot's token from @BotFather; never logged or shown"
    )
    telegram_chat_id: str | None = Field(
        None, description="the chat alerts and reports go to (and, by default, commands from)"
    )
    telegram_api_url: str = Field(
        "https://api.telegram.org", description="the Bot API server (e.g. a local one)"
    )
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    #: MLflow tracking and registry store; default ``sqlite:///<data_dir>/mlflow.db``
    mlflow_tracking_uri: str | None = None
    #: seconds a writer waits for another process's write lock before giving up
    write_lock_timeout: float = Field(120.0, gt=0)
    #: "text" (Prefect's human lines) or "json" (one JSON object per line, cryptobot.logs)
    log_format: Literal["text", "json"] = "text"
    #: the project's log level; DEBUG also shows the tracebacks of errors
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @property
    def market_exchange(self) -> str:
        """The exchange whose series the models use by default: the simulator's when the
        configured source is the simulator, else ``exchange``."""
        return SIMULATOR_EXCHANGE if self.source == "simulator" else self.exchange

    @property
    def tracking_uri(self) -> str:
        """Where MLflow runs and registered models live: ``--mlflow-tracking-uri`` (which sets
        ``CRYPTOBOT_MLFLOW_TRACKING_URI``) > ``CRYPTOBOT_MLFLOW_TRACKING_URI`` > MLflow's own
        ``MLFLOW_TRACKING_URI`` > ``sqlite:///<data_dir>/mlflow.db``."""
        return (
            self.mlflow_tracking_uri
            or users_mlflow_tracking_uri()
            or f"sqlite:///{self.data_dir.resolve() / 'mlflow.db'}"
        )

    @model_validator(mode="after")
    def _one_base_directory(self) -> Settings:
        """All runtime state derives from one place, so two warehouses never share a model
        registry: with only ``data_dir`` set, the warehouse is ``<data_dir>/warehouse.duckdb``;
        with only ``warehouse`` set, ``data_dir`` is its folder when the file is named
        ``warehouse.duckdb``, else ``<folder>/<file stem>/`` (``/x/test.duckdb`` keeps MLflow,
        artifacts and reports in ``/x/test/``)."""
        chosen = self.model_fields_set
        if "data_dir" in chosen and "warehouse" not in chosen:
            self.warehouse = self.data_dir / "warehouse.duckdb"
        elif "warehouse" in chosen and "data_dir" not in chosen:
            folder, name = self.warehouse.parent, self.warehouse
            self.data_dir = folder if name.name == "warehouse.duckdb" else folder / name.stem
        return self

    @property
    def telegram_allowed_chats(self) -> set[str]:
        """Chats whose commands the bot obeys: ``telegram.allowed_chat_ids``, or when that is
        empty the alert chat ``telegram_chat_id`` alone (no chat at all when neither is set)."""
        if self.telegram.allowed_chat_ids:
            return set(self.telegram.allowed_chat_ids)
        chat = (self.telegram_chat_id or "").strip()
        return {chat} if chat else set()

    @property
    def reports_dir(self) -> Path:
        """Where generated reports are written."""
        return self.data_dir.resolve() / "reports"

    @property
    def mlflow_artifacts(self) -> Path:
        """Where run artifacts (models, predictions, plans) are stored."""
        return self.data_dir.resolve() / "mlartifacts"

    @field_validator("log_format", "log_level", mode="before")
    @classmethod
    def _case(cls, value: Any, info) -> Any:
        if not isinstance(value, str):
            return value
        return value.upper() if info.field_name == "log_level" else value.lower()

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

    @field_validator("exchange_api_key", "exchange_secret")
    @classmethod
    def _exchange_key(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        """Stripped (a pasted trailing newline) and checked; an empty variable counts as unset."""
        from cryptobot.keystore import check_key_value

        if value is None or not value.get_secret_value().strip():
            return None
        what = "API key" if info.field_name == "exchange_api_key" else "secret"
        try:
            return SecretStr(check_key_value(value.get_secret_value(), what=f"exchange {what}"))
        except CryptobotError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("markets")
    @classmethod
    def _markets(cls, value: dict[str, MarketOverride]) -> dict[str, MarketOverride]:
        out = {}
        for key, override in value.items():
            exchange, sep, symbol = str(key).partition(":")
            if not sep:
                raise ValueError(
                    f'markets key {key!r} must be exchange:SYMBOL, e.g. "binance:ETH/BTC"'
                )
            try:
                out[f"{normalize_exchange(exchange)}:{normalize_symbol(symbol)}"] = override
            except ConfigError as exc:
                raise ValueError(f"markets key {key!r}: {exc}") from None
        return out

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
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, dotenv_settings]
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


#: settings whose values are secrets: never part of a message, registered for log redaction
SECRET_FIELDS = (
    "exchange_api_key",
    "exchange_secret",
    "keystore_passphrase",
    "telegram_bot_token",
)


def _register_secrets(settings: Settings) -> None:
    """Tell the log redactor every secret these settings hold (rule 7)."""
    from cryptobot import redact

    for name in SECRET_FIELDS:
        value = getattr(settings, name)
        if value is not None:
            redact.register(value.get_secret_value())


#: tracking URIs this process pointed MLflow at: ``mlflow.set_tracking_uri`` also writes
#: ``MLFLOW_TRACKING_URI`` into the environment (for subprocesses), which is then not the user's
_URIS_SET_BY_CRYPTOBOT: set[str] = set()


#: the URI this process (or the process that started it) pointed MLflow at: MLflow's copy in
#: ``MLFLOW_TRACKING_URI`` is inherited by child processes, and so is this marker (not a
#: ``CRYPTOBOT_`` name: it is no setting)
OURS_ENV = "_CRYPTOBOT_MLFLOW_URI_SET"


def mlflow_uri_set_by_cryptobot(uri: str) -> None:
    """Call before ``mlflow.set_tracking_uri(uri)``: MLflow copies it into
    ``MLFLOW_TRACKING_URI``, which must not then pass for the user's own setting, here or in a
    process started from here."""
    _URIS_SET_BY_CRYPTOBOT.add(uri)
    os.environ[OURS_ENV] = uri


def users_mlflow_tracking_uri() -> str | None:
    """MLflow's own ``MLFLOW_TRACKING_URI`` as the user set it (not as MLflow copied ours)."""
    value = os.environ.get("MLFLOW_TRACKING_URI")
    if not value or value in _URIS_SET_BY_CRYPTOBOT or value == os.environ.get(OURS_ENV):
        return None
    return value


def _shown_input(field: str, error: Mapping[str, Any]) -> str:
    """What a configuration error says about the bad value: the value itself, except for a
    secret (or an unknown name, which may be a mistyped secret), whose value is never echoed."""
    value = error.get("input")
    secret = field.split(".")[0] in SECRET_FIELDS or any(
        word in field.lower() for word in _SECRET_WORDS
    )
    if secret or error.get("type") == "extra_forbidden":
        size = len(value) if isinstance(value, str) else None
        return f"value hidden, {size} characters" if size is not None else "value hidden"
    return f"got {value!r}"


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, turning validation errors into one message naming each bad field.

    The secrets the settings hold are registered with :mod:`cryptobot.redact`, so every process
    that loads them masks them in its log records. A bad secret is reported without its value.
    """
    _check_env_names(os.environ)
    try:
        settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]) or "(settings)"
            problems.append(f"{field}: {error['msg']} ({_shown_input(field, error)})")
        where = config_file_path()
        origin = f"config file {where}, " if where else ""
        if Path(DOTENV_FILE).is_file():
            origin += f"{Path(DOTENV_FILE).resolve()}, "
        raise ConfigError(
            "invalid configuration: "
            + "; ".join(problems)
            + f". Check {origin}CRYPTOBOT_* environment variables and command-line options."
        ) from None
    except ValueError as exc:  # a source failed to parse a value
        where = config_file_path()
        origin = f" (config file {where})" if where else ""
        raise ConfigError(f"invalid configuration{origin}: {exc}") from None
    _register_secrets(settings)
    return settings
