"""The quality gate: a Great Expectations suite per raw table, run on each batch before storing.

Each expectation carries a short human rule (``high >= max(open, close)``) in its ``description``;
that rule is what quarantine rows and error messages name. The suites are built once per process
on an ephemeral GX context (nothing is written to disk, analytics are off).

Both suites check schema and types (prices and values are floats; ``ts``, ``fetched_at`` and
``available_at`` naive datetimes), nulls, ranges, unique keys and point in time (``available_at``
not before ``ts``, nor after ``fetched_at``).

A batch passes only if every expectation passes. Otherwise ``GateResult.row_reasons`` maps each
failing row (its position in the batch) to the rules it broke; table-level failures (a missing
column, a wrong dtype) mark every row.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

MARKET_DATA = "market_data"
SENTIMENT = "sentiment"

#: columns of a market_data batch as validated (``ts_misalignment_s`` is derived for the check)
MARKET_DATA_COLUMNS = [
    "exchange",
    "symbol",
    "timeframe",
    "ts",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "source",
    "fetched_at",
    "available_at",
    "batch_id",
]
SENTIMENT_TABLE_COLUMNS = [
    "source",
    "symbol",
    "ts",
    "value",
    "fetched_at",
    "available_at",
    "batch_id",
]
_CHECK_COLUMN = "ts_misalignment_s"
#: the misalignment written when ``ts`` is not a datetime column: never 0, so the alignment rule
#: fails too instead of passing a batch whose timestamps could not be checked
_NOT_CHECKED = -1
#: timestamp columns of both raw tables: naive datetimes (UTC by convention) at any pandas unit
TIMESTAMP_COLUMNS = ["ts", "fetched_at", "available_at"]
#: pandas dtype names as GX compares them (``np.dtype(name)``); a unit-less "datetime64" matches
#: none of them, and a tz-aware ``datetime64[us, UTC]`` is rejected on purpose: the warehouse
#: stores naive UTC timestamps and the pipeline converts before validating
DATETIME_TYPES = ["datetime64[ns]", "datetime64[us]", "datetime64[ms]", "datetime64[s]"]
#: the largest finite double: "between 0 and _FINITE" also rejects infinity ("inf" parses)
_FINITE = sys.float_info.max
_lock = threading.Lock()


@dataclass(frozen=True)
class GateResult:
    table: str
    rows: int
    success: bool
    #: rule -> number of rows that broke it
    failures: dict[str, int] = field(default_factory=dict)
    #: row position in the batch -> rules it broke
    row_reasons: dict[int, list[str]] = field(default_factory=dict)

    @property
    def failed_rows(self) -> int:
        return len(self.row_reasons)

    def summary(self) -> str:
        if self.success:
            return f"{self.rows} rows passed all checks"
        parts = [f"{rule} ({count} rows)" for rule, count in self.failures.items()]
        return f"{self.failed_rows} of {self.rows} rows failed: " + ", ".join(parts)


def _at_least(gxe: Any, column_a: str, column_b: str, rule: str) -> Any:
    """``column_a >= column_b`` row by row; a missing value is the not-null rule's business."""
    return gxe.ExpectColumnPairValuesAToBeGreaterThanB(
        column_A=column_a,
        column_B=column_b,
        or_equal=True,
        ignore_row_if="either_value_is_missing",
        description=rule,
    )


def _datetime_types(gxe: Any) -> list[Any]:
    return [
        gxe.ExpectColumnValuesToBeInTypeList(
            column=column, type_list=DATETIME_TYPES, description=f"{column} is a datetime"
        )
        for column in TIMESTAMP_COLUMNS
    ]


def _point_in_time(gxe: Any) -> Any:
    """A record cannot be known before the moment it describes starts (ARCHITECTURE rule 1)."""
    return _at_least(gxe, "available_at", "ts", "available at or after ts")


def _market_data_expectations(gxe: Any) -> list[Any]:
    key = ["exchange", "symbol", "timeframe", "ts"]
    prices = ["open", "high", "low", "close"]
    rules: list[Any] = [
        gxe.ExpectTableColumnsToMatchSet(
            column_set=[*MARKET_DATA_COLUMNS, _CHECK_COLUMN],
            exact_match=True,
            description="columns are exactly those of market_data",
        ),
    ]
    for column in ["open", "high", "low", "close", "volume"]:
        rules.append(
            gxe.ExpectColumnValuesToBeInTypeList(
                column=column, type_list=["float64", "Float64"], description=f"{column} is a float"
            )
        )
    rules += _datetime_types(gxe)
    # exchange, timeframe, source, fetched_at, available_at and batch_id are set by the pipeline,
    # never by a source, and the table's NOT NULL constraints guard them: not checked per row here.
    for column in ["symbol", "ts", *prices, "volume"]:
        rules.append(
            gxe.ExpectColumnValuesToNotBeNull(column=column, description=f"{column} is not null")
        )
    for column in prices:
        rules.append(
            gxe.ExpectColumnValuesToBeBetween(
                column=column,
                min_value=0,
                strict_min=True,
                max_value=_FINITE,
                description=f"{column} is finite and > 0",
            )
        )
    rules += [
        gxe.ExpectColumnValuesToBeBetween(
            column="volume", min_value=0, max_value=_FINITE, description="volume is finite and >= 0"
        ),
        _at_least(gxe, "high", "open", "high >= open"),
        _at_least(gxe, "high", "close", "high >= close"),
        _at_least(gxe, "open", "low", "low <= open"),
        _at_least(gxe, "close", "low", "low <= close"),
        gxe.ExpectCompoundColumnsToBeUnique(
            column_list=key, description="unique (exchange, symbol, timeframe, ts)"
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column=_CHECK_COLUMN, value_set=[0], description="ts aligned to the timeframe"
        ),
        _at_least(gxe, "fetched_at", "available_at", "bar closed before it was fetched"),
        _point_in_time(gxe),
    ]
    return rules


def _sentiment_expectations(gxe: Any) -> list[Any]:
    rules: list[Any] = [
        gxe.ExpectTableColumnsToMatchSet(
            column_set=SENTIMENT_TABLE_COLUMNS,
            exact_match=True,
            description="columns are exactly those of sentiment",
        ),
        gxe.ExpectColumnValuesToBeInTypeList(
            column="value", type_list=["float64", "Float64"], description="value is a float"
        ),
        *_datetime_types(gxe),
    ]
    for column in SENTIMENT_TABLE_COLUMNS:
        rules.append(
            gxe.ExpectColumnValuesToNotBeNull(column=column, description=f"{column} is not null")
        )
    rules += [
        gxe.ExpectColumnValuesToBeBetween(
            column="value", min_value=-_FINITE, max_value=_FINITE, description="value is finite"
        ),
        gxe.ExpectCompoundColumnsToBeUnique(
            column_list=["source", "symbol", "ts"], description="unique (source, symbol, ts)"
        ),
        _at_least(gxe, "fetched_at", "available_at", "known before it was fetched"),
        _point_in_time(gxe),
    ]
    return rules


@cache
def _suites() -> dict[str, tuple[Any, Any]]:
    """(batch definition, suite) per table, on one ephemeral GX context."""
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.execution_engine import pandas_execution_engine

    # GX fingerprints every pandas batch (an md5 over a hash of each row) for a batch marker we
    # never read; on a 1M-row batch that is 0.2 s of a 2 s ingest. Its own size threshold
    # switches it off.
    if hasattr(pandas_execution_engine, "HASH_THRESHOLD"):
        pandas_execution_engine.HASH_THRESHOLD = 0

    # GX sets some of its module loggers to INFO itself (e.g. a note about a temporary docs
    # directory on every ephemeral context); keep warnings, drop the chatter
    for name in ("great_expectations", "great_expectations.data_context.types.base"):
        logging.getLogger(name).setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    datasource = context.data_sources.add_pandas("cryptobot")
    built = {}
    for table, expectations in [
        (MARKET_DATA, _market_data_expectations(gxe)),
        (SENTIMENT, _sentiment_expectations(gxe)),
    ]:
        asset = datasource.add_dataframe_asset(table)
        batch_definition = asset.add_batch_definition_whole_dataframe(f"{table}_batch")
        suite = context.suites.add(gx.ExpectationSuite(name=f"{table}_suite"))
        for expectation in expectations:
            suite.add_expectation(expectation)
        built[table] = (batch_definition, suite)
    return built


def suite_rules(table: str) -> list[str]:
    """The human rule of every expectation in a table's suite."""
    _, suite = _suites()[table]
    return [expectation.description for expectation in suite.expectations]


def _run(table: str, frame: pd.DataFrame) -> GateResult:
    batch_definition, suite = _suites()[table]
    frame = frame.reset_index(drop=True)
    with _lock:  # GX contexts are not thread-safe
        batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
        result = batch.validate(suite, result_format={"result_format": "COMPLETE"})
    if result.success:
        return GateResult(table=table, rows=len(frame), success=True)
    failures: Counter[str] = Counter()
    row_reasons: dict[int, list[str]] = {}
    for outcome in result.results:
        if outcome.success:
            continue
        rule = outcome.expectation_config.description or outcome.expectation_config.type
        indexes = outcome.result.get("unexpected_index_list")
        if indexes is None:  # a table-level expectation: the whole batch is bad
            indexes = range(len(frame))
        rows = sorted({int(i) for i in indexes})
        failures[rule] += len(rows)
        for row in rows:
            row_reasons.setdefault(row, []).append(rule)
        if outcome.exception_info and outcome.exception_info.get("raised_exception"):
            failures[rule] = max(failures[rule], 1)
    return GateResult(
        table=table,
        rows=len(frame),
        success=False,
        failures=dict(failures),
        row_reasons=row_reasons,
    )


def validate_market_data(frame: pd.DataFrame, timeframe_seconds: int) -> GateResult:
    """Run the market_data suite on a batch in the table's layout (``MARKET_DATA_COLUMNS``)."""
    checked = frame.copy(deep=False)
    if "ts" in frame.columns and pd.api.types.is_datetime64_any_dtype(frame["ts"]):
        seconds = frame["ts"].to_numpy(dtype="datetime64[s]").astype(np.int64)
        checked[_CHECK_COLUMN] = seconds % timeframe_seconds
    else:  # the "ts is a datetime" rule names the cause; alignment cannot pass unchecked
        checked[_CHECK_COLUMN] = _NOT_CHECKED
    return _run(MARKET_DATA, checked)


def validate_sentiment(frame: pd.DataFrame) -> GateResult:
    """Run the sentiment suite on a batch in the table's layout (``SENTIMENT_TABLE_COLUMNS``)."""
    return _run(SENTIMENT, frame)
