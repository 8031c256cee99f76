"""Read candle files a user brings: ccxt-style CSV/Parquet and Binance public-data kline CSVs.

``read_ohlcv_file`` turns one file into a frame in the ``OHLCV_COLUMNS`` layout (see
``cryptobot.sources.base``) plus a few counts the ingest pipeline reports. Formats:

``ccxt-csv`` / ``ccxt-parquet``
    A header naming a time column (one of ``timestamp``, ``time``, ``date``, ``datetime``,
    ``open_time``, ``ts``; the first of these wins when several are present) and ``open``,
    ``high``, ``low``, ``close``, ``volume``, in any letter case; extra columns are ignored. The
    time is integer milliseconds since the epoch, ISO-8601 text (an offset is converted to UTC,
    text without one is taken as UTC) or, in Parquet, a timestamp or date type.
``binance-kline-csv``
    The monthly/daily dumps from Binance's public data site: 12 columns, usually without a header
    (newer dumps may start with ``open_time,open,...,ignore``). Columns 0-5 are used.

Compression: a gzip file (``.csv.gz``, or gzip bytes under any name: found by the magic bytes
``1f 8b``, not the suffix) and a zip archive holding one file (Binance's monthly and daily dumps)
are decompressed, streamed into a temporary file, and read as above; ``compression`` says which.

Integer times are read per row by magnitude: values from 1e14 on are microseconds (Binance spot
dumps since 2025), smaller ones milliseconds; values below 1e11 (before 1973: seconds?) or from
1e17 on (nanoseconds?) are rejected. ``ts`` is ``datetime64[ms]``; a sub-millisecond part, which
no bar open time has, is truncated.

What this module decides and what it leaves to the quality gate:

- A file it cannot read as candles raises ``FileFormatError`` naming the file, the line (CSV) or
  row (Parquet) and column where possible, and what was expected: missing or empty file, bytes
  that are not UTF-8, missing columns, a field that is not a number, a wrong number of columns,
  a time it cannot parse.
- Rows that repeat an earlier row exactly (same ``ts``, same five values) are dropped and counted.
- Rows that share a ``ts`` but differ in a value are all kept, in file order: which one is right
  is not a format question, and the quality gate quarantines them as duplicate keys.
- Rows out of time order are sorted (stable) and ``was_unsorted`` says so.
- Empty price fields become NaN; NaN, negative or inconsistent prices are kept for the quality
  gate to judge. Only text that is not a number is an error here.

Speed: the CSV path is one pass of Arrow's multi-threaded CSV reader with explicit column types
(about 0.1 s for a million rows); the slow row-by-row scan that locates a bad line runs only
after the fast reader has failed.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import re
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from cryptobot.errors import FileFormatError
from cryptobot.sources.base import OHLCV_COLUMNS

__all__ = ["BINANCE_KLINE_COLUMNS", "TIME_COLUMN_NAMES", "ImportedFile", "read_ohlcv_file"]

#: accepted names of the time column in a ccxt-layout file, in order of preference
TIME_COLUMN_NAMES = ("timestamp", "time", "date", "datetime", "open_time", "ts")
PRICE_COLUMNS = ("open", "high", "low", "close", "volume")
#: the columns of a Binance public-data kline CSV (also its header row, when it has one)
BINANCE_KLINE_COLUMNS = (
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "count",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "ignore",
)
PARQUET_SUFFIXES = (".parquet", ".pq")
_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGIC = b"PK\x03\x04"
_COPY_CHUNK = 1 << 20

_MIN_MILLIS = 10**11  # 1973-03-03 in ms; smaller integers are most likely seconds
_MIN_MICROS = 10**14  # 5138-11-16 in ms, 1973-03-03 in µs
_MAX_MICROS = 10**17  # 5138-11-16 in µs; larger integers are most likely nanoseconds

_INTEGER = re.compile(r"\s*[+-]?\d+\s*")
_NUMBER = re.compile(
    r"\s*[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|nan|inf|infinity)\s*", re.IGNORECASE
)
_ZONE_SUFFIX = re.compile(r"(?:Z|[+-]\d\d:?\d\d)\s*$", re.IGNORECASE)

_EXPECTED_TIME = (
    "expected integer milliseconds since the epoch (e.g. 1704067200000) or ISO-8601 text "
    "(e.g. 2024-01-01T00:00:00Z)"
)
_EXPECTED_NUMBER = (
    "expected a decimal number such as 42000.5 (leave the field empty for a missing value)"
)
_EXPECTED_BINANCE = (
    f"a Binance kline CSV has {len(BINANCE_KLINE_COLUMNS)} columns "
    f"({', '.join(BINANCE_KLINE_COLUMNS)})"
)

FileFormatChoice = Literal["auto", "ccxt", "binance"]


@dataclass(frozen=True)
class ImportedFile:
    """Candles read from one file, with what was noticed while reading it."""

    path: Path
    file_format: str  # "ccxt-csv" | "ccxt-parquet" | "binance-kline-csv"
    candles: pd.DataFrame  # OHLCV_COLUMNS, sorted by ts (stable: equal ts keep file order)
    rows_read: int  # data rows in the file (header and blank lines not counted)
    exact_duplicates_dropped: int  # rows identical to an earlier row in ts and all five values
    was_unsorted: bool  # the file's rows were not in ts order
    compression: str | None = None  # "gzip" or "zip" when the file was compressed


@dataclass(frozen=True)
class _CsvLayout:
    """Where the needed fields are in one CSV file, as found from its first lines."""

    file_format: str
    names: tuple[str, ...]  # a label per column, for messages
    skip_rows: int  # lines before the first data line (leading blank lines and the header)
    time_index: int
    price_indices: tuple[int, ...]  # open, high, low, close, volume
    integer_time: bool  # the time column holds integers (else text)
    column_count_hint: str  # what a wrong number of columns should be told

    def column_label(self, index: int) -> str:
        return f"column {index + 1} '{self.names[index]}'"


def read_ohlcv_file(path: str | Path, *, file_format: FileFormatChoice = "auto") -> ImportedFile:
    """Read one file of candles into the ``OHLCV_COLUMNS`` layout.

    ``file_format`` is ``"auto"`` (Parquet by its ``.parquet``/``.pq`` suffix or its magic bytes;
    a CSV whose first line is 12 fields of data, or the Binance header, is a Binance kline file;
    any other CSV is ccxt layout), ``"ccxt"`` (CSV or Parquet, by the same test) or
    ``"binance"``. Raises ``FileFormatError`` for a file that cannot be read as candles.
    """
    path = Path(path)
    if file_format not in ("auto", "ccxt", "binance"):
        raise FileFormatError(
            f"{path}: unknown file format {file_format!r}; use 'auto', 'ccxt' or 'binance'"
        )
    _check_readable(path)
    if _starts_with(path, _GZIP_MAGIC) or _starts_with(path, _ZIP_MAGIC):
        return _read_compressed(path, file_format)
    return _read_plain(path, file_format)


def _read_plain(path: Path, file_format: FileFormatChoice) -> ImportedFile:
    if path.suffix.lower() in PARQUET_SUFFIXES or _starts_with(path, b"PAR1"):
        if file_format == "binance":
            raise FileFormatError(
                f"{path}: is a Parquet file, but Binance kline files are CSV; "
                "use file format 'ccxt' or 'auto' for Parquet in ccxt layout"
            )
        return _read_parquet(path)
    _check_utf8(path)
    return _read_csv(path, _sniff_csv_layout(path, file_format))


def _read_compressed(path: Path, file_format: FileFormatChoice) -> ImportedFile:
    """A gzip file or a zip archive of one file: decompressed into a temporary file (streamed,
    so memory stays flat) that the plain readers read; messages name ``path``, not the copy."""
    with tempfile.TemporaryDirectory(prefix="cryptobot-import-") as folder:
        if _starts_with(path, _GZIP_MAGIC):
            compression = "gzip"
            inner_name = path.name[:-3] if path.name.lower().endswith(".gz") else path.name
            copy = Path(folder) / (inner_name or "candles.csv")
            try:
                with gzip.open(path, "rb") as source, copy.open("wb") as target:
                    shutil.copyfileobj(source, target, _COPY_CHUNK)
            except (OSError, EOFError, zlib.error) as error:
                raise FileFormatError(
                    f"{path}: starts like gzip (bytes 1f 8b) but cannot be decompressed "
                    f"({error}); expected a whole gzip-compressed CSV (is the download cut "
                    "short?)"
                ) from None
        else:
            compression = "zip"
            copy = _unzip_single_member(path, Path(folder))
        if copy.stat().st_size == 0:
            raise FileFormatError(
                f"{path}: the {compression}-compressed file inside is empty; expected a CSV or "
                "Parquet file of candles"
            )
        label = f"{path} ({compression}-compressed)"
        try:
            imported = _read_plain(copy, file_format)
        except FileFormatError as error:
            raise FileFormatError(str(error).replace(str(copy), label)) from None
    return dataclasses.replace(imported, path=path, compression=compression)


def _unzip_single_member(path: Path, folder: Path) -> Path:
    """Extract the one file of a zip archive (a Binance dump holds one CSV) into ``folder``."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = [info for info in archive.infolist() if not info.is_dir()]
            if len(members) != 1:
                names = ", ".join(info.filename for info in members[:5]) or "none"
                raise FileFormatError(
                    f"{path}: is a zip archive of {len(members)} files ({names}); expected "
                    "exactly one CSV or Parquet file inside, as in Binance's public-data dumps "
                    "(unzip it and import the files one by one)"
                )
            copy = folder / (Path(members[0].filename).name or "candles.csv")
            with archive.open(members[0]) as source, copy.open("wb") as target:
                shutil.copyfileobj(source, target, _COPY_CHUNK)
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as error:
        raise FileFormatError(
            f"{path}: starts like a zip archive (bytes 50 4b 03 04) but cannot be read "
            f"({error}); expected a whole zip file holding one CSV (is the download cut short?)"
        ) from None
    return copy


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise FileFormatError(
            f"{path}: file not found; expected a CSV or Parquet file of candles "
            f"(relative paths are taken from {Path.cwd()})"
        )
    if not path.is_file():
        raise FileFormatError(f"{path}: is not a regular file; expected a CSV or Parquet file")
    if path.stat().st_size == 0:
        raise FileFormatError(
            f"{path}: file is empty (0 bytes); expected a CSV or Parquet file of candles"
        )


def _starts_with(path: Path, magic: bytes) -> bool:
    with path.open("rb") as handle:
        return handle.read(len(magic)) == magic


def _check_utf8(path: Path) -> None:
    """Validate the whole file as UTF-8 with Arrow (about 0.15 ms per MB); locate a bad byte."""
    with pa.memory_map(str(path)) as source:
        data = source.read_buffer()
        offsets = pa.py_buffer(np.array([0, data.size], dtype=np.int64))
        try:
            pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, data]).validate(full=True)
            return
        except pa.ArrowInvalid:
            raw = data.to_pybytes()
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        column = error.start - (raw.rfind(b"\n", 0, error.start) + 1) + 1
        raise FileFormatError(
            f"{path}: line {line}, byte {column} of the line (byte offset {error.start} in the "
            f"file): byte 0x{raw[error.start]:02x} is not valid UTF-8; expected a UTF-8 text file "
            "(re-save it as UTF-8, e.g. 'CSV UTF-8' in a spreadsheet)"
        ) from None


def _first_lines(path: Path, count: int) -> list[tuple[int, list[str]]]:
    """Line number and fields of the first ``count`` non-blank lines (a UTF-8 BOM is skipped)."""
    found: list[tuple[int, list[str]]] = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for number, line in enumerate(handle, start=1):
            text = line.rstrip("\r\n")
            if text:
                found.append((number, next(csv.reader([text]))))
                if len(found) == count:
                    break
    return found


def _sniff_csv_layout(path: Path, file_format: FileFormatChoice) -> _CsvLayout:
    """Decide ccxt or Binance layout, header or not, and where the columns are."""
    lines = _first_lines(path, 2)
    if not lines:
        raise FileFormatError(f"{path}: file has only blank lines; expected a CSV of candles")
    first_line, first = lines[0]
    first_is_data = bool(_INTEGER.fullmatch(first[0]))
    normalised = tuple(name.strip().lower() for name in first)
    is_binance = file_format == "binance" or (
        file_format == "auto"
        and (
            normalised == BINANCE_KLINE_COLUMNS
            or (first_is_data and len(first) == len(BINANCE_KLINE_COLUMNS))
        )
    )
    if is_binance:
        if len(first) != len(BINANCE_KLINE_COLUMNS):
            raise FileFormatError(
                f"{path}: line {first_line} has {len(first)} columns; {_EXPECTED_BINANCE}"
            )
        has_data = first_is_data or len(lines) > 1
        layout = _CsvLayout(
            file_format="binance-kline-csv",
            names=BINANCE_KLINE_COLUMNS,
            skip_rows=first_line - (1 if first_is_data else 0),
            time_index=0,
            price_indices=(1, 2, 3, 4, 5),
            integer_time=True,
            column_count_hint=_EXPECTED_BINANCE,
        )
    else:
        if first_is_data:
            raise FileFormatError(
                f"{path}: line {first_line} is data, not a header ({len(first)} columns): a ccxt "
                "CSV needs a header row naming timestamp, open, high, low, close, volume, and a "
                f"headerless file must be a Binance kline CSV ({len(BINANCE_KLINE_COLUMNS)} "
                "columns)"
            )
        time_index, price_indices = _resolve_columns(path, first)
        has_data = len(lines) > 1
        layout = _CsvLayout(
            file_format="ccxt-csv",
            names=tuple(first),
            skip_rows=first_line,
            time_index=time_index,
            price_indices=price_indices,
            integer_time=has_data and _is_integer_field(lines[1][1], time_index),
            column_count_hint=f"expected {len(first)} like the header on line {first_line}",
        )
    if not has_data:
        raise FileFormatError(
            f"{path}: has a header but no data rows; expected candles after line {first_line}"
        )
    return layout


def _is_integer_field(fields: Sequence[str], index: int) -> bool:
    return index < len(fields) and bool(_INTEGER.fullmatch(fields[index]))


def _resolve_columns(path: Path, names: Sequence[str]) -> tuple[int, tuple[int, ...]]:
    """Indices of the time column and of open..volume in a ccxt-layout header."""
    lowered = [name.strip().lower() for name in names]
    time_name = next((name for name in TIME_COLUMN_NAMES if name in lowered), None)
    missing = [name for name in PRICE_COLUMNS if name not in lowered]
    if time_name is None or missing:
        if time_name is None:
            missing.insert(0, f"a time column (one of {', '.join(TIME_COLUMN_NAMES)})")
        found = ", ".join(repr(name) for name in names) or "none"
        raise FileFormatError(
            f"{path}: missing required column(s): {', '.join(missing)}; found: {found}; expected "
            "a header with a time column and open, high, low, close, volume (any letter case; "
            "extra columns are ignored)"
        )
    for name in (time_name, *PRICE_COLUMNS):
        positions = [index + 1 for index, other in enumerate(lowered) if other == name]
        if len(positions) > 1:
            raise FileFormatError(
                f"{path}: column {name!r} appears {len(positions)} times (columns "
                f"{', '.join(map(str, positions))}); expected it once"
            )
    return lowered.index(time_name), tuple(lowered.index(name) for name in PRICE_COLUMNS)


def _read_csv(path: Path, layout: _CsvLayout) -> ImportedFile:
    names = [f"c{index}" for index in range(len(layout.names))]
    time_name = names[layout.time_index]
    price_names = [names[index] for index in layout.price_indices]
    column_types = {name: pa.float64() for name in price_names}
    column_types[time_name] = pa.int64() if layout.integer_time else pa.string()
    try:
        table = pcsv.read_csv(
            str(path),
            read_options=pcsv.ReadOptions(column_names=names, skip_rows=layout.skip_rows),
            convert_options=pcsv.ConvertOptions(
                column_types=column_types,
                include_columns=[time_name, *price_names],
                null_values=[""],
            ),
        )
    except pa.ArrowInvalid as error:
        problem = _find_bad_field(path, layout) or f"the CSV reader said: {error}"
        raise FileFormatError(f"{path}: {problem}") from None

    def locate(row: int) -> str:
        return _locate_row(path, layout, row)

    ts = _to_datetime(path, table[time_name], layout.column_label(layout.time_index), locate)
    prices = {
        column: table[name].to_numpy()
        for column, name in zip(PRICE_COLUMNS, price_names, strict=True)
    }
    return _finish(path, layout.file_format, ts, prices)


def _data_rows(path: Path, layout: _CsvLayout) -> Iterator[tuple[int, list[str]]]:
    """Line number and fields of each data row, read the slow way (error paths only)."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        for row in reader:
            if row and reader.line_num > layout.skip_rows:
                yield reader.line_num, row


def _locate_row(path: Path, layout: _CsvLayout, row_index: int) -> str:
    """``line N`` of the data row at ``row_index`` (0-based, as the fast reader counted)."""
    for index, (line, _) in enumerate(_data_rows(path, layout)):
        if index == row_index:
            return f"line {line}"
    return f"data row {row_index + 1}"


def _find_bad_field(path: Path, layout: _CsvLayout) -> str | None:
    """Describe the first row the fast reader must have failed on, or None if none is found."""
    for line, row in _data_rows(path, layout):
        if len(row) != len(layout.names):
            return f"line {line} has {len(row)} columns; {layout.column_count_hint}"
        value = row[layout.time_index]
        if layout.integer_time and not _INTEGER.fullmatch(value):
            return (
                f"line {line}, {layout.column_label(layout.time_index)}: {value!r} is not a "
                f"valid time (earlier rows hold integer milliseconds); {_EXPECTED_TIME}"
            )
        for index in layout.price_indices:
            value = row[index]
            if value and not _NUMBER.fullmatch(value):
                return (
                    f"line {line}, {layout.column_label(index)}: {value!r} is not a number; "
                    f"{_EXPECTED_NUMBER}"
                )
    return None


#: says where a row is: ``line 7`` in a CSV, ``row 6`` in a Parquet file (rows count from 0)
RowLocator = Callable[[int], str]


def _to_datetime(path: Path, column: pa.ChunkedArray, label: str, locate: RowLocator) -> np.ndarray:
    """Convert the time column ``label`` to naive UTC ``datetime64[ms]``."""
    kind = column.type
    if column.null_count:
        row = pc.index(column.is_null(), True).as_py()
        raise FileFormatError(
            f"{path}: {locate(row)}, {label}: the time is empty; {_EXPECTED_TIME}"
        )
    if pa.types.is_integer(kind):
        return _epoch_to_datetime(path, column.to_numpy().astype(np.int64), label, locate)
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        utc = pc.cast(column, pa.timestamp("ms", tz=getattr(kind, "tz", None)), safe=False)
        return pc.cast(utc, pa.timestamp("ms")).to_numpy()
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _text_to_datetime(path, column, label, locate)
    raise FileFormatError(
        f"{path}: {label} has type {kind}; expected integer milliseconds since the epoch, "
        "a timestamp type or ISO-8601 text"
    )


def _epoch_to_datetime(
    path: Path, values: np.ndarray, label: str, locate: RowLocator
) -> np.ndarray:
    """Integers since the epoch to ``datetime64[ms]``: ms, or µs from 1e14 on (per row)."""
    implausible = (values < _MIN_MILLIS) | (values >= _MAX_MICROS)
    if implausible.any():
        row = int(np.argmax(implausible))
        raise FileFormatError(
            f"{path}: {locate(row)}, {label}: {values[row]} is not a time in milliseconds or "
            "microseconds since the epoch (seconds or nanoseconds?); expected 13 digits for "
            "milliseconds (e.g. 1704067200000) or 16 for microseconds (e.g. 1704067200000000)"
        )
    micros = values >= _MIN_MICROS
    if micros.any():
        values = np.where(micros, values // 1000, values)
    return values.astype("datetime64[ms]")


def _text_to_datetime(
    path: Path, column: pa.ChunkedArray, label: str, locate: RowLocator
) -> np.ndarray:
    """ISO-8601 text to naive UTC: Arrow's strict parser first, pandas' for mixed zones."""
    zone = "UTC" if _ZONE_SUFFIX.search(column[0].as_py()) else None
    try:
        parsed = pc.cast(column, pa.timestamp("ms", tz=zone))
        return pc.cast(parsed, pa.timestamp("ms")).to_numpy()
    except pa.ArrowInvalid:
        pass
    lenient = pd.to_datetime(
        pd.Series(column.to_numpy()), format="ISO8601", utc=True, errors="coerce"
    )
    bad = lenient.isna().to_numpy()
    if bad.any():
        row = int(np.argmax(bad))
        raise FileFormatError(
            f"{path}: {locate(row)}, {label}: {column[row].as_py()!r} is not a valid time; "
            f"{_EXPECTED_TIME}"
        )
    return lenient.dt.tz_convert(None).to_numpy().astype("datetime64[ms]")


def _read_parquet(path: Path) -> ImportedFile:
    try:
        names = pq.read_schema(path).names
        time_index, price_indices = _resolve_columns(path, names)
        table = pq.read_table(
            path, columns=[names[time_index], *(names[index] for index in price_indices)]
        )
    except (pa.ArrowException, OSError) as error:
        raise FileFormatError(
            f"{path}: is not a readable Parquet file ({error}); expected Parquet with columns "
            "timestamp, open, high, low, close, volume"
        ) from None
    if table.num_rows == 0:
        raise FileFormatError(f"{path}: has no rows; expected at least one candle")

    def locate(row: int) -> str:
        return f"row {row + 1}"

    time_name = names[time_index]
    ts = _to_datetime(path, table[time_name], f"column {time_name!r}", locate)
    prices = {
        column: _parquet_prices(path, table[names[index]], f"column {names[index]!r}", locate)
        for column, index in zip(PRICE_COLUMNS, price_indices, strict=True)
    }
    return _finish(path, "ccxt-parquet", ts, prices)


def _parquet_prices(
    path: Path, column: pa.ChunkedArray, label: str, locate: RowLocator
) -> np.ndarray:
    """A numeric (or numeric-text) Parquet column as float64; nulls and blank text become NaN."""
    kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return pc.cast(column, pa.float64()).to_numpy()
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        raise FileFormatError(
            f"{path}: {label} has type {kind}; expected a numeric type (float or integer)"
        )
    trimmed = pc.utf8_trim_whitespace(column)
    try:
        return pc.cast(pc.if_else(pc.equal(trimmed, ""), None, trimmed), pa.float64()).to_numpy()
    except pa.ArrowInvalid as error:
        values = trimmed.to_pylist()
        row = next((i for i, v in enumerate(values) if v and not _NUMBER.fullmatch(v)), None)
        if row is None:
            raise FileFormatError(f"{path}: {label}: {error}; {_EXPECTED_NUMBER}") from None
        raise FileFormatError(
            f"{path}: {locate(row)}, {label}: {values[row]!r} is not a number; {_EXPECTED_NUMBER}"
        ) from None


def _finish(
    path: Path, file_format: str, ts: np.ndarray, prices: dict[str, np.ndarray]
) -> ImportedFile:
    """Sort by ts (stable), drop exact duplicate rows, and package the result."""
    candles = pd.DataFrame({"ts": ts, **prices}, columns=OHLCV_COLUMNS)
    rows_read = len(candles)
    steps = np.diff(ts.view(np.int64))
    was_unsorted = bool((steps < 0).any())
    if was_unsorted:
        candles = candles.iloc[np.argsort(ts, kind="stable")]
    dropped = 0
    if not (steps > 0).all():  # some ts repeats: look for rows repeated in full
        repeated = candles.duplicated(keep="first")
        dropped = int(repeated.sum())
        candles = candles[~repeated.to_numpy()]
    return ImportedFile(
        path=path,
        file_format=file_format,
        candles=candles.reset_index(drop=True),
        rows_read=rows_read,
        exact_duplicates_dropped=dropped,
        was_unsorted=was_unsorted,
    )
