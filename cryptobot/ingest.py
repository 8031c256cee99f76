"""Ingest: source frames -> quality gate -> one short write transaction.

Every call to ``store_market_frame`` / ``store_sentiment_frame`` is one *batch*: it gets an id,
is validated by the Great Expectations suite of its table, and then either

- passes: its rows are upserted on the table's natural key (new rows inserted, rows whose values
  changed updated, identical rows left alone, so re-ingesting the same data changes nothing), or
- fails: its bad rows go to ``quarantine`` with the rules they broke, nothing else is written,
  and ``QualityGateError`` says how many rows failed which check.

A market batch that passes and changes stored bars is then judged (``cryptobot.revisions``): a
change beyond ``ingest.revision_max_sigma`` refuses the batch (``RevisionError``, nothing but its
record written) unless it was allowed; otherwise each changed bar's previous values go to
``market_data_revisions`` in the transaction that changes it.

Either way an ``ingest_batches`` row records what happened. Each batch is its own transaction,
so a run killed half-way keeps every batch it finished and resumes from the stored cursor.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd

from cryptobot.config import SIMULATOR_EXCHANGE, Settings
from cryptobot.errors import QualityGateError, RevisionError
from cryptobot.quality import gate
from cryptobot.revisions import find_revisions, record_revisions, refusal_message
from cryptobot.sources.base import (
    OHLCV_COLUMNS,
    SOURCE_CCXT,
    SOURCE_FILE,
    SOURCE_SIMULATED,
)
from cryptobot.timeframes import timeframe_delta, timeframe_seconds
from cryptobot.warehouse.db import read_connection, write_connection

if TYPE_CHECKING:
    from cryptobot.sources.ccxt_source import CcxtMarketSource

#: the exchange name simulated series are stored under, so they never mix with a real venue's

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


def utc_now() -> datetime:
    """Now in UTC, without a zone (the warehouse convention), to the microsecond."""
    return datetime.now(UTC).replace(tzinfo=None)


def new_batch_id(now: datetime | None = None) -> str:
    now = now or utc_now()
    return f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


@dataclass
class BatchResult:
    batch_id: str
    table: str
    source: str
    rows: int
    inserted: int = 0
    updated: int = 0
    quarantined: int = 0
    replaced: int = 0
    #: updated rows recorded in market_data_revisions (old and new values)
    revised: int = 0
    #: updated rows whose change was beyond ingest.revision_max_sigma (stored when allowed)
    implausible: int = 0
    status: str = "ok"
    error: str | None = None
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def unchanged(self) -> int:
        return self.rows - self.inserted - self.updated - self.quarantined


@dataclass
class IngestReport:
    batches: list[BatchResult] = field(default_factory=list)
    #: markets whose rules a ccxt ingest stored
    markets: int = 0

    def total(self, attribute: str, table: str | None = None) -> int:
        return sum(
            getattr(batch, attribute)
            for batch in self.batches
            if table is None or batch.table == table
        )

    def summary(self) -> str:
        """Per table: rows, new, updated, unchanged (and quarantined, replaced when any)."""
        parts = []
        for table in dict.fromkeys(batch.table for batch in self.batches):
            text = (
                f"{table} {self.total('rows', table):,} rows: "
                f"{self.total('inserted', table):,} new, {self.total('updated', table):,} "
                f"updated, {self.total('unchanged', table):,} unchanged"
            )
            if self.total("quarantined", table):
                text += f", {self.total('quarantined', table):,} quarantined"
            if self.total("revised", table):
                text += (
                    f" ({self.total('revised', table):,} revised: the previous values are kept "
                    "in market_data_revisions"
                    + (
                        f", {self.total('implausible', table):,} of them implausible and allowed"
                        if self.total("implausible", table)
                        else ""
                    )
                    + ")"
                )
            if self.total("replaced", table):
                text += f" ({self.total('replaced', table):,} rows of another world deleted)"
            parts.append(text)
        return "; ".join(parts) or "nothing new to store"


# --------------------------------------------------------------------------- frames


def market_frame(
    candles: pd.DataFrame,
    *,
    exchange: str,
    timeframe: str,
    source: str,
    batch_id: str,
    fetched_at: datetime,
    symbol: str | None = None,
) -> pd.DataFrame:
    """Candles (OHLCV_COLUMNS, plus ``symbol`` unless given) in the market_data table's layout.

    Constant columns are broadcast from scalars: a 1M-row batch costs milliseconds, not the
    quarter second that building per-row Python lists would.
    """
    ts = candles["ts"]
    if pd.api.types.is_datetime64_any_dtype(ts):
        ts = ts.astype("datetime64[us]")
    frame = pd.DataFrame({"ts": ts.reset_index(drop=True)})
    frame.insert(0, "exchange", exchange)
    if symbol is None:
        frame.insert(1, "symbol", candles["symbol"].astype("str").to_numpy())
    else:
        frame.insert(1, "symbol", symbol)
    frame.insert(2, "timeframe", timeframe)
    for column in OHLCV_COLUMNS[1:]:
        frame[column] = candles[column].to_numpy()
    frame["source"] = source
    frame["fetched_at"] = pd.Timestamp(fetched_at).as_unit("us")
    frame["available_at"] = frame["ts"] + timeframe_delta(timeframe)
    frame["batch_id"] = batch_id
    return frame


def sentiment_frame(
    sentiment: pd.DataFrame, *, source: str, batch_id: str, fetched_at: datetime
) -> pd.DataFrame:
    """Sentiment rows (symbol, ts, value, available_at) in the sentiment table's layout."""
    frame = pd.DataFrame(
        {
            "symbol": sentiment["symbol"].astype("str").to_numpy(),
            "ts": sentiment["ts"].astype("datetime64[us]").to_numpy(),
            "value": sentiment["value"].to_numpy(),
        }
    )
    frame.insert(0, "source", source)
    frame["fetched_at"] = pd.Timestamp(fetched_at).as_unit("us")
    frame["available_at"] = sentiment["available_at"].astype("datetime64[us]").to_numpy()
    frame["batch_id"] = batch_id
    return frame


# --------------------------------------------------------------------------- writing


@dataclass(frozen=True)
class _Table:
    """A raw table's natural key and the value columns whose change makes an update."""

    name: str
    key: tuple[str, ...]
    values: tuple[str, ...]
    #: provenance columns rewritten when the values change (``available_at`` is handled apart)
    refreshed: tuple[str, ...]


MARKET_DATA = _Table(
    "market_data",
    key=("exchange", "symbol", "timeframe", "ts"),
    values=("open", "high", "low", "close", "volume"),
    refreshed=("source", "fetched_at", "batch_id"),
)
SENTIMENT = _Table(
    "sentiment",
    key=("source", "symbol", "ts"),
    values=("value",),
    refreshed=("fetched_at", "batch_id"),
)


def _upsert(
    con: duckdb.DuckDBPyConnection,
    table: _Table,
    staged: str,
    *,
    changed: pd.DataFrame | None = None,
) -> tuple[int, int]:
    """Update rows whose values differ, insert new ones; returns (inserted, updated).

    ``changed``, when given, holds the keys of every stored row that differs (found before, by
    :func:`cryptobot.revisions.find_revisions`): the update then joins only those (none at all
    when it is empty) instead of the whole batch.

    A revised value could not have been known before it was fetched, so an updated row's
    ``available_at`` becomes the revision's ``fetched_at`` (point in time: a later as-of join
    never shows the revision at the original moment).
    """
    on = " and ".join(f"t.{c} = s.{c}" for c in table.key)
    differs = " or ".join(f"t.{c} <> s.{c}" for c in table.values)
    assignments = ", ".join(
        [f"{c} = s.{c}" for c in [*table.values, *table.refreshed]]
        + ["available_at = greatest(s.available_at, s.fetched_at)"]
    )
    updated = 0
    source = staged
    if changed is not None:
        con.register("changed_keys", changed[list(table.key)])
        source = f"(select * from {staged} semi join changed_keys using ({', '.join(table.key)}))"
    try:
        if changed is None or len(changed):
            updated = con.execute(
                f"update {table.name} as t set {assignments} from {source} as s"
                f" where {on} and ({differs})"
            ).fetchone()[0]
    finally:
        if changed is not None:
            con.unregister("changed_keys")
    inserted = con.execute(
        f"insert into {table.name} select s.* from {staged} as s anti join {table.name} as t "
        f"using ({', '.join(table.key)})"
    ).fetchone()[0]
    return int(inserted), int(updated)


@dataclass
class _Batch:
    """One batch to store: its rows, the gate's verdict, and its ingest_batches record."""

    table: _Table
    frame: pd.DataFrame
    gate_result: gate.GateResult
    result: BatchResult
    started_at: datetime
    exchange: str | None = None
    symbols: list[str] = field(default_factory=list)
    timeframe: str | None = None
    params: dict[str, Any] | None = None
    where: str | None = None
    #: (condition, arguments) of stored rows to delete before the upsert, in the same transaction
    replace_where: tuple[str, list[Any]] | None = None
    #: store revisions of stored bars even when implausible (--allow-revisions)
    allow_revisions: bool = False
    #: the stored bars this batch changes (cryptobot.revisions.find_revisions), once judged
    revisions: pd.DataFrame | None = None


def _record_batch(con: duckdb.DuckDBPyConnection, batch: _Batch, error: str | None) -> None:
    result = batch.result
    con.execute(
        "insert into ingest_batches (id, source, table_name, exchange, symbol, timeframe, rows,"
        " rows_inserted, rows_updated, rows_quarantined, status, error, params, started_at,"
        " finished_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            result.batch_id,
            result.source,
            result.table,
            batch.exchange,
            ",".join(batch.symbols) or None,
            batch.timeframe,
            result.rows,
            result.inserted,
            result.updated,
            result.quarantined,
            result.status,
            error,
            json.dumps(batch.params) if batch.params is not None else None,
            batch.started_at,
            utc_now(),
        ],
    )


def _quarantine(
    con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, gate_result: gate.GateResult
) -> None:
    rows = sorted(gate_result.row_reasons)
    bad = frame.iloc[rows]
    records = json.loads(bad.to_json(orient="records", date_format="iso", date_unit="us"))
    quarantined_at = utc_now()
    payload = pd.DataFrame(
        {
            "batch_id": bad["batch_id"].astype("str").to_numpy()
            if "batch_id" in bad
            else ["?"] * len(rows),
            "table_name": table,
            "row_number": rows,
            "exchange": bad["exchange"].to_numpy() if "exchange" in bad else None,
            "symbol": bad["symbol"].to_numpy() if "symbol" in bad else None,
            "timeframe": bad["timeframe"].to_numpy() if "timeframe" in bad else None,
            "ts": pd.to_datetime(bad["ts"], errors="coerce").to_numpy() if "ts" in bad else None,
            "reason": ["; ".join(gate_result.row_reasons[row]) for row in rows],
            "record": [json.dumps(record) for record in records],
            "quarantined_at": quarantined_at,
        }
    )
    con.register("quarantined_rows", payload)
    try:
        con.execute(
            "insert into quarantine select batch_id, table_name, row_number, exchange, symbol,"
            " timeframe, ts, reason, record::json, quarantined_at from quarantined_rows"
        )
    finally:
        con.unregister("quarantined_rows")


def _rejection_message(batch: _Batch) -> str:
    table, batch_id, result = batch.table.name, batch.result.batch_id, batch.gate_result
    origin = f" from {batch.where}" if batch.where else ""
    return (
        f"Batch {batch_id}{origin} was rejected by the {table} quality gate: "
        f"{result.summary()}. The {result.failed_rows} bad rows are in table quarantine "
        f"(see `cryptobot sql \"select * from quarantine where batch_id = '{batch_id}'\"`); "
        f"nothing of this batch was stored and nothing already in {table} changed. Correct the "
        "input (the file or source named above) and run the same command again."
    )


def _store(settings: Settings, batches: list[_Batch]) -> None:
    """Store batches in one transaction, all or none.

    If any batch failed its gate, its bad rows go to quarantine, every batch is recorded (the
    others as ``not_stored``), nothing else is written, and ``QualityGateError`` is raised.
    """
    failed = [batch for batch in batches if not batch.gate_result.success]
    with write_connection(settings.warehouse, timeout=settings.write_lock_timeout) as con:
        con.execute("begin transaction")
        try:
            if failed:
                messages = []
                for batch in batches:
                    if batch.gate_result.success:
                        batch.result.status = "not_stored"
                        _record_batch(con, batch, error="stored with a batch that was rejected")
                        continue
                    batch.result.status = "quarantined"
                    batch.result.quarantined = batch.gate_result.failed_rows
                    _quarantine(con, batch.table.name, batch.frame, batch.gate_result)
                    message = _rejection_message(batch)
                    _record_batch(con, batch, error=message)
                    messages.append(message)
                con.execute("commit")
                first = failed[0]
                raise QualityGateError(
                    " ".join(messages),
                    batch_id=first.result.batch_id,
                    failed_rows=sum(batch.gate_result.failed_rows for batch in failed),
                    failures={
                        rule: count
                        for batch in failed
                        for rule, count in batch.gate_result.failures.items()
                    },
                )
            refused = _judge_revisions(con, settings, batches)
            if refused:
                _refuse(con, batches, refused)
                con.execute("commit")
                first = refused[0]
                raise RevisionError(
                    " ".join(batch.result.error for batch in refused),
                    batch_id=first.result.batch_id,
                    implausible=sum(batch.result.implausible for batch in refused),
                )
            for batch in batches:
                _write(con, batch)
            con.execute("commit")
        except (QualityGateError, RevisionError):
            raise
        except BaseException:
            con.execute("rollback")
            raise


def _judge_revisions(
    con: duckdb.DuckDBPyConnection, settings: Settings, batches: list[_Batch]
) -> list[_Batch]:
    """Find the stored bars each market batch would change and judge them; returns the batches
    refused for an implausible revision. Simulated series are regenerated, not revised: a new
    world replaces the old one (``replace_where``), so they are not judged."""
    refused = []
    for batch in batches:
        if batch.table is not MARKET_DATA or batch.result.source == SOURCE_SIMULATED:
            continue
        t0 = time.perf_counter()
        con.register("staged_batch", batch.frame)
        try:
            batch.revisions = find_revisions(
                con,
                "staged_batch",
                bar_seconds=timeframe_seconds(batch.timeframe or "1h"),
                settings=settings.ingest,
            )
        finally:
            con.unregister("staged_batch")
        batch.result.timings["revisions"] = time.perf_counter() - t0
        if batch.revisions.empty:
            continue
        batch.result.implausible = int((~batch.revisions["plausible"]).sum())
        if batch.result.implausible and not batch.allow_revisions:
            batch.result.error = refusal_message(
                batch.revisions,
                batch_id=batch.result.batch_id,
                where=batch.where,
                limit=settings.ingest.revision_max_sigma,
            )
            refused.append(batch)
    return refused


def _refuse(con: duckdb.DuckDBPyConnection, batches: list[_Batch], refused: list[_Batch]) -> None:
    """Record every batch as not stored: the refused ones with their reason."""
    for batch in batches:
        if batch in refused:
            batch.result.status = "refused"
            _record_batch(con, batch, error=batch.result.error)
        else:
            batch.result.status = "not_stored"
            _record_batch(con, batch, error="stored with a batch that was refused")


def _write(con: duckdb.DuckDBPyConnection, batch: _Batch) -> None:
    table, result = batch.table, batch.result
    if batch.replace_where is not None:
        condition, arguments = batch.replace_where
        deleted = con.execute(f"delete from {table.name} where {condition}", arguments)
        result.replaced = int(deleted.fetchone()[0])
    t0 = time.perf_counter()
    con.register("staged_batch", batch.frame)
    try:
        result.inserted, result.updated = _upsert(
            con, table, "staged_batch", changed=batch.revisions
        )
    finally:
        con.unregister("staged_batch")
    if batch.revisions is not None:
        record_revisions(con, batch.revisions, origin=batch.where, revised_at=utc_now())
        result.revised = len(batch.revisions)
    result.timings["upsert"] = time.perf_counter() - t0
    if batch.exchange is not None:
        con.execute(
            "insert into exchanges (name) values (?) on conflict do nothing", [batch.exchange]
        )
    _record_batch(con, batch, error=None)


def _symbols(frame: pd.DataFrame) -> list[str]:
    return sorted(frame["symbol"].unique()) if len(frame) else []


def _market_batch(
    candles: pd.DataFrame,
    *,
    exchange: str,
    timeframe: str,
    source: str,
    symbol: str | None = None,
    params: dict[str, Any] | None = None,
    where: str | None = None,
    allow_revisions: bool = False,
) -> _Batch:
    """Candles in the table's layout, judged by the gate (nothing is written yet)."""
    started_at = utc_now()
    t0 = time.perf_counter()
    batch_id = new_batch_id(started_at)
    frame = market_frame(
        candles,
        exchange=exchange,
        timeframe=timeframe,
        source=source,
        batch_id=batch_id,
        fetched_at=started_at,
        symbol=symbol,
    )
    t1 = time.perf_counter()
    gate_result = gate.validate_market_data(frame, timeframe_seconds(timeframe))
    result = BatchResult(batch_id=batch_id, table=MARKET_DATA.name, source=source, rows=len(frame))
    result.timings.update(frame=t1 - t0, gate=time.perf_counter() - t1)
    return _Batch(
        table=MARKET_DATA,
        frame=frame,
        gate_result=gate_result,
        result=result,
        started_at=started_at,
        exchange=exchange,
        symbols=_symbols(frame) or ([symbol] if symbol else []),
        timeframe=timeframe,
        params=params,
        where=where,
        allow_revisions=allow_revisions,
    )


def _sentiment_batch(
    sentiment: pd.DataFrame, *, source: str, params: dict[str, Any] | None = None
) -> _Batch:
    started_at = utc_now()
    batch_id = new_batch_id(started_at)
    frame = sentiment_frame(sentiment, source=source, batch_id=batch_id, fetched_at=started_at)
    t0 = time.perf_counter()
    gate_result = gate.validate_sentiment(frame)
    result = BatchResult(batch_id=batch_id, table=SENTIMENT.name, source=source, rows=len(frame))
    result.timings["gate"] = time.perf_counter() - t0
    return _Batch(
        table=SENTIMENT,
        frame=frame,
        gate_result=gate_result,
        result=result,
        started_at=started_at,
        symbols=_symbols(frame),
        params=params,
    )


def _stored(settings: Settings, batches: list[_Batch], t0: float) -> list[BatchResult]:
    _store(settings, batches)
    seconds = time.perf_counter() - t0
    for batch in batches:
        batch.result.seconds = seconds
    return [batch.result for batch in batches]


def store_market_frame(
    settings: Settings,
    candles: pd.DataFrame,
    *,
    exchange: str,
    timeframe: str,
    source: str,
    symbol: str | None = None,
    params: dict[str, Any] | None = None,
    where: str | None = None,
    allow_revisions: bool = False,
) -> BatchResult:
    """Validate and upsert one batch of candles (``symbol`` column unless ``symbol`` is given).

    A batch that changes stored bars by more than ``ingest.revision_max_sigma`` is refused
    (``RevisionError``) unless ``allow_revisions`` (see :mod:`cryptobot.revisions`)."""
    t0 = time.perf_counter()
    batch = _market_batch(
        candles,
        exchange=exchange,
        timeframe=timeframe,
        source=source,
        symbol=symbol,
        params=params,
        where=where,
        allow_revisions=allow_revisions,
    )
    return _stored(settings, [batch], t0)[0]


def store_sentiment_frame(
    settings: Settings,
    sentiment: pd.DataFrame,
    *,
    source: str,
    params: dict[str, Any] | None = None,
) -> BatchResult:
    """Validate and upsert one batch of sentiment rows (symbol, ts, value, available_at)."""
    t0 = time.perf_counter()
    return _stored(settings, [_sentiment_batch(sentiment, source=source, params=params)], t0)[0]


# --------------------------------------------------------------------------- cursors


def series_cursor(
    settings: Settings, exchange: str, symbol: str, timeframe: str
) -> datetime | None:
    """The open time of the next bar to fetch: last stored bar + one timeframe (None if empty)."""
    if not Path(settings.warehouse).exists():
        return None
    with read_connection(settings.warehouse, timeout=settings.write_lock_timeout) as con:
        row = con.execute(
            "select max(ts) from market_data where exchange = ? and symbol = ? and timeframe = ?",
            [exchange, symbol, timeframe],
        ).fetchone()
    if row is None or row[0] is None:
        return None
    return row[0] + timeframe_delta(timeframe)


#: what defines a simulated world; symbols are not part of it (adding one changes no other path)
WORLD_PARAMS = ("seed", "signal", "days", "end", "timeframe")


def stored_world(settings: Settings) -> dict[str, Any] | None:
    """The parameters of the simulated world in the warehouse (its last stored batch), if any."""
    if not Path(settings.warehouse).exists():
        return None
    with read_connection(settings.warehouse, timeout=settings.write_lock_timeout) as con:
        row = con.execute(
            "select params from ingest_batches where source = ? and status = 'ok'"
            " and params is not null order by started_at desc, id desc limit 1",
            [SOURCE_SIMULATED],
        ).fetchone()
    if row is None:
        return None
    params = json.loads(row[0])
    return {key: params.get(key) for key in WORLD_PARAMS}


# --------------------------------------------------------------------------- the three sources


def ingest_simulator(
    settings: Settings,
    *,
    symbols: Sequence[str],
    timeframe: str,
    days: int,
    seed: int,
    signal: float,
    progress: Progress = _quiet,
) -> IngestReport:
    """Simulate the market and store candles (exchange 'simulator') and sentiment, together.

    A warehouse holds one simulated world, defined by seed, signal, days, end and timeframe.
    The simulator is deterministic, so the same world stores the same rows again: a re-run
    changes nothing, and adding a symbol only adds its rows. Another world replaces every
    simulated row (candles and sentiment, all symbols) in the same transaction that stores it,
    so two worlds are never mixed, not even by a run killed half-way.
    """
    from cryptobot.sources.simulator import simulate_market

    end = settings.simulator.end
    world = {
        "seed": seed,
        "signal": signal,
        "days": days,
        "end": end.isoformat(),
        "timeframe": timeframe,
    }
    params = {**world, "symbols": list(symbols)}
    progress(
        f"simulating {len(symbols)} symbols x {days} days of {timeframe} bars "
        f"(seed {seed}, signal {signal}, ending {end:%Y-%m-%d %H:%M} UTC)"
    )
    t0 = time.perf_counter()
    market = simulate_market(
        symbols, timeframe=timeframe, days=days, seed=seed, signal=signal, end=end
    )
    progress(
        f"simulated {len(market.candles):,} candles and {len(market.sentiment):,} sentiment rows"
        f" in {time.perf_counter() - t0:.2f} s"
    )
    candles = _market_batch(
        market.candles,
        exchange=SIMULATOR_EXCHANGE,
        timeframe=timeframe,
        source=SOURCE_SIMULATED,
        params=params,
    )
    sentiment = _sentiment_batch(market.sentiment, source=SOURCE_SIMULATED, params=params)
    previous = stored_world(settings)
    if previous is not None and previous != world:
        changed = ", ".join(
            f"{key} {previous[key]} -> {world[key]}"
            for key in WORLD_PARAMS
            if previous[key] != world[key]
        )
        progress(f"another simulated world ({changed}): it replaces every simulated row")
        candles.replace_where = ("source = ?", [SOURCE_SIMULATED])
        sentiment.replace_where = ("source = ?", [SOURCE_SIMULATED])
    report = IngestReport(batches=_stored(settings, [candles, sentiment], t0))
    for batch in report.batches:
        progress(_describe(batch))
    return report


def ingest_ccxt_series(
    settings: Settings,
    *,
    exchange: str,
    symbol: str,
    timeframe: str,
    since: datetime | None = None,
    until: datetime | None = None,
    source: CcxtMarketSource | None = None,
    allow_revisions: bool = False,
    progress: Progress = _quiet,
) -> IngestReport:
    """Fetch one series from a ccxt exchange, page by page from the stored cursor, and store it.

    Each page is one batch, committed before the next is fetched: killed half-way, the next run
    resumes from the last stored bar. ``source`` defaults to a public client for ``exchange``.
    Only closed bars are fetched, so a normal run revises nothing; re-fetching stored history
    (``since``) revises the bars the exchange has restated, judged as any revision.
    """
    from cryptobot.sources.ccxt_source import CcxtMarketSource

    source = source or CcxtMarketSource(exchange)
    start = since or series_cursor(settings, exchange, symbol, timeframe)
    progress(
        f"{exchange} {symbol} {timeframe}: fetching from "
        + (f"{start:%Y-%m-%d %H:%M} UTC" if start else "the exchange's default look-back")
    )
    report = IngestReport()
    for page in source.fetch_ohlcv(symbol, timeframe, since=start, until=until):
        if page.empty:
            continue
        batch = store_market_frame(
            settings,
            page,
            exchange=exchange,
            timeframe=timeframe,
            source=SOURCE_CCXT,
            symbol=symbol,
            where=f"{exchange} {symbol} {timeframe}",
            allow_revisions=allow_revisions,
        )
        report.batches.append(batch)
        progress(
            f"{exchange} {symbol} {timeframe}: up to {page['ts'].iloc[-1]:%Y-%m-%d %H:%M} "
            + _describe(batch)
        )
    if not report.batches:
        progress(f"{exchange} {symbol} {timeframe}: no new closed bars")
    client = getattr(source, "client", None)  # a source stand-in in tests may have none
    if client is not None and getattr(client, "markets", None):
        report.markets = refresh_markets(settings, exchange, client)
        progress(
            f"{exchange}: rules of {report.markets:,} markets stored (precision, limits, fees)"
        )
    return report


def refresh_markets(settings: Settings, exchange: str, client: Any) -> int:
    """Store the markets a ccxt ``client`` has loaded (``load_markets``) as ``exchange``'s rules
    in the ``markets`` table, replacing the older copy of each; returns how many."""
    from cryptobot.trading.markets import market_rows, store_markets

    rows = market_rows(client, exchange, utc_now())
    if not rows:
        return 0
    with write_connection(settings.warehouse, timeout=settings.write_lock_timeout) as con:
        return store_markets(con, rows)


def import_file(
    settings: Settings,
    path: Path,
    *,
    exchange: str,
    symbol: str,
    timeframe: str,
    file_format: str = "auto",
    allow_revisions: bool = False,
    progress: Progress = _quiet,
) -> IngestReport:
    """Import a CSV/Parquet OHLCV file or a Binance kline dump (plain, gzip or zip) as one batch.

    Before the gate: the file's bars must be spaced ``timeframe`` apart (gaps aside) and lie
    between ``exchange``'s first trading day and now (``FileFormatError`` otherwise). A file that
    changes stored bars implausibly is refused unless ``allow_revisions``.
    """
    from cryptobot.sources.bar_checks import check_spacing, check_time_range
    from cryptobot.sources.file_import import read_ohlcv_file

    t0 = time.perf_counter()
    imported = read_ohlcv_file(path, file_format=file_format)  # type: ignore[arg-type]
    parse_seconds = time.perf_counter() - t0
    check_spacing(imported.candles["ts"], timeframe, where=str(path))
    check_time_range(
        imported.candles["ts"],
        exchange=exchange,
        now=utc_now(),
        where=str(path),
        first_days=settings.ingest.first_trading_days,
    )
    check_seconds = time.perf_counter() - t0 - parse_seconds
    notes = []
    if imported.compression:
        notes.append(f"{imported.compression}-compressed")
    if imported.exact_duplicates_dropped:
        notes.append(f"{imported.exact_duplicates_dropped} exact duplicate rows dropped")
    if imported.was_unsorted:
        notes.append("rows were not in time order and were sorted")
    progress(
        f"read {imported.rows_read:,} rows from {path} ({imported.file_format}) in "
        f"{parse_seconds:.2f} s" + (f"; {'; '.join(notes)}" if notes else "")
    )
    batch = store_market_frame(
        settings,
        imported.candles,
        exchange=exchange,
        timeframe=timeframe,
        source=SOURCE_FILE,
        symbol=symbol,
        params={
            "path": str(path),
            "format": imported.file_format,
            "compression": imported.compression,
        },
        where=str(path),
        allow_revisions=allow_revisions,
    )
    batch.timings.update(parse=parse_seconds, checks=check_seconds)
    progress(_describe(batch))
    return IngestReport(batches=[batch])


def _describe(batch: BatchResult) -> str:
    text = (
        f"{batch.table}: {batch.rows:,} rows -> {batch.inserted:,} new, {batch.updated:,} "
        f"updated, {batch.unchanged:,} unchanged"
    )
    if batch.replaced:
        text += f", {batch.replaced:,} replaced"
    if batch.revised:
        text += f"; {batch.revised:,} revised, the previous values kept in market_data_revisions"
        if batch.implausible:
            text += f" ({batch.implausible:,} beyond ingest.revision_max_sigma, allowed)"
    return text + f" ({batch.seconds:.2f} s)"
