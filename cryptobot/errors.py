"""The project's own exceptions.

Every message says what was wrong, where, and what to do about it. The CLI turns any
``CryptobotError`` into a one-paragraph message and a non-zero exit code; anything else is a bug.
"""

from __future__ import annotations


class CryptobotError(Exception):
    """Base class: an error a user can act on."""

    exit_code = 1


class ConfigError(CryptobotError):
    """Configuration is invalid (a field, a file or an environment variable)."""

    exit_code = 2


class WarehouseError(CryptobotError):
    """The DuckDB warehouse could not be opened, migrated or written."""


class WarehouseBusyError(WarehouseError):
    """Another process holds the warehouse's write lock for longer than we are willing to wait."""


class SourceError(CryptobotError):
    """A data source failed (network, exchange, bad symbol, ...).

    ``retryable`` is true when a later attempt may succeed (the network, not the request).
    """

    def __init__(self, message: str, *, retryable: bool = False):
        super().__init__(message)
        self.retryable = retryable


class FileFormatError(CryptobotError):
    """An input file cannot be read: missing columns, wrong types, encoding, empty, ..."""

    exit_code = 3


class QualityGateError(CryptobotError):
    """A batch failed the quality gate. Its bad rows were quarantined; nothing stored changed."""

    exit_code = 4

    def __init__(self, message: str, *, batch_id: str, failed_rows: int, failures: dict[str, int]):
        super().__init__(message)
        self.batch_id = batch_id
        self.failed_rows = failed_rows
        self.failures = failures


class RevisionError(CryptobotError):
    """A batch would change stored bars by more than their series' recent volatility makes
    plausible. Nothing of it was stored; ``--allow-revisions`` stores it (the old values are
    kept in ``market_data_revisions``). Exit code 4, as any other rejected batch."""

    exit_code = 4

    def __init__(self, message: str, *, batch_id: str, implausible: int):
        super().__init__(message)
        self.batch_id = batch_id
        self.implausible = implausible


class FeatureBuildError(CryptobotError):
    """dbt failed to build or test the feature models."""

    exit_code = 5


class ModelError(CryptobotError):
    """Training, the registry or a model could not do what was asked (no data, too few rows,
    unknown family or model version, a refused promotion)."""

    exit_code = 6


class TradingError(CryptobotError):
    """The trading flow cannot act: live mode without keys, an impossible order transition,
    an exchange that cannot be reached (``retryable``)."""

    exit_code = 9

    def __init__(self, message: str, *, retryable: bool = False):
        super().__init__(message)
        self.retryable = retryable


class BacktestError(CryptobotError):
    """A backtest cannot run as asked: an unknown strategy, model or symbol, a window with no
    data or no out-of-sample prediction, a bad capital or cost."""

    exit_code = 10


class NotificationError(CryptobotError):
    """A notification (Telegram) could not be delivered, or delivery was asked for but is not
    configured. ``retryable`` is true when a later attempt may succeed (network, rate limit)."""

    exit_code = 7

    def __init__(self, message: str, *, retryable: bool = False):
        super().__init__(message)
        self.retryable = retryable


class ReportError(CryptobotError):
    """A report could not be built as asked (unknown period, a day that is not a date, ...)."""

    exit_code = 8


class LookaheadError(CryptobotError):
    """``check-lookahead`` found a feature, prediction or decision of a bar that differs when it
    is recomputed from only the data known at the bar's close: something looks ahead."""

    exit_code = 11


class KeyStoreError(CryptobotError):
    """The encrypted key store cannot do what was asked: no passphrase, a wrong passphrase or an
    altered record, a key that fails validation, no keys stored for that exchange."""

    exit_code = 12


class ApiError(CryptobotError):
    """The REST API or its tokens cannot do what was asked (an unknown or duplicate token name,
    a port in use, no warehouse to serve)."""

    exit_code = 13
