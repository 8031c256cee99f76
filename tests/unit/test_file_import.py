"""Tests for ``cryptobot.sources.file_import``: formats, detection, bad input, duplicates, order."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cryptobot.errors import FileFormatError
from cryptobot.sources.base import OHLCV_COLUMNS
from cryptobot.sources.file_import import ImportedFile, read_ohlcv_file

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "files"
BINANCE_SAMPLE = FIXTURES / "BTCUSDT-1h-2024-01-01.csv"
CCXT_SAMPLE = FIXTURES / "ETH-USDT_1h_ccxt.csv"
BINANCE_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,"
    "taker_buy_volume,taker_buy_quote_volume,ignore"
)
HEADER = "timestamp,open,high,low,close,volume"
T0 = 1704067200000  # 2024-01-01T00:00:00Z in ms
HOUR = 3_600_000
PRICE = ("open", "high", "low", "close", "volume")


def write(tmp_path: Path, text: str, name: str = "candles.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def ccxt_csv(tmp_path: Path, *rows: str, header: str = HEADER) -> Path:
    return write(tmp_path, "\n".join([header, *rows]) + "\n")


def binance_row(open_time: int, close: float = 42000.5) -> str:
    return (
        f"{open_time},42000.0,42100.0,41900.0,{close},12.5,{open_time + HOUR - 1},"
        "525000.0,1000,6.0,252000.0,0"
    )


def expect_error(path: Path, *fragments: str, **kwargs: str) -> str:
    """Read ``path``, expect FileFormatError naming the file and every fragment; return it."""
    with pytest.raises(FileFormatError) as caught:
        read_ohlcv_file(path, **kwargs)
    message = str(caught.value)
    for fragment in (path.name, *fragments):
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


def ts(*texts: str) -> list[pd.Timestamp]:
    return [pd.Timestamp(text) for text in texts]


def assert_layout(result: ImportedFile) -> None:
    frame = result.candles
    assert list(frame.columns) == OHLCV_COLUMNS
    assert frame["ts"].dtype == np.dtype("datetime64[ms]")
    for column in OHLCV_COLUMNS[1:]:
        assert frame[column].dtype == np.float64
    assert frame["ts"].is_monotonic_increasing
    assert isinstance(frame.index, pd.RangeIndex)


# --- ccxt CSV -------------------------------------------------------------------------------


def test_ccxt_csv_with_millisecond_timestamps(tmp_path: Path) -> None:
    path = ccxt_csv(
        tmp_path,
        f"{T0},42000.5,42100,41900.25,42050,12.5",
        f"{T0 + HOUR},42050,42200,42000,42150.75,8",
    )
    result = read_ohlcv_file(path)
    assert_layout(result)
    assert result.file_format == "ccxt-csv"
    assert result.path == path
    assert (result.rows_read, result.exact_duplicates_dropped, result.was_unsorted) == (2, 0, False)
    assert result.candles["ts"].tolist() == ts("2024-01-01 00:00", "2024-01-01 01:00")
    assert result.candles.iloc[0, 1:].tolist() == [42000.5, 42100.0, 41900.25, 42050.0, 12.5]


def test_ccxt_csv_with_iso_timestamps_converts_offsets_to_utc(tmp_path: Path) -> None:
    path = ccxt_csv(
        tmp_path,
        "2024-01-01T02:00:00+02:00,1,2,0.5,1.5,10",
        "2024-01-01T01:00:00Z,1,2,0.5,1.5,10",
        "2024-01-01T03:00:00.000+0100,1,2,0.5,1.5,10",
        header="datetime,open,high,low,close,volume",
    )
    result = read_ohlcv_file(path)
    assert_layout(result)
    assert result.candles["ts"].tolist() == ts(
        "2024-01-01 00:00", "2024-01-01 01:00", "2024-01-01 02:00"
    )


def test_ccxt_csv_with_naive_iso_timestamps_taken_as_utc(tmp_path: Path) -> None:
    path = ccxt_csv(
        tmp_path,
        "2024-01-01 00:00:00,1,2,0.5,1.5,10",
        "2024-01-01T01:00,1,2,0.5,1.5,10",
        "2024-01-02,1,2,0.5,1.5,10",
        header="Date,Open,High,Low,Close,Volume",
    )
    assert read_ohlcv_file(path).candles["ts"].tolist() == ts(
        "2024-01-01 00:00", "2024-01-01 01:00", "2024-01-02 00:00"
    )


def test_ccxt_csv_with_mixed_zoned_and_naive_iso_timestamps(tmp_path: Path) -> None:
    path = ccxt_csv(
        tmp_path,
        "2024-01-01T00:00:00Z,1,2,0.5,1.5,10",
        "2024-01-01 01:00:00,1,2,0.5,1.5,10",
        "2024-01-01T04:00:00.123456+02:00,1,2,0.5,1.5,10",
        header="time,open,high,low,close,volume",
    )
    assert read_ohlcv_file(path).candles["ts"].tolist() == ts(
        "2024-01-01 00:00", "2024-01-01 01:00", "2024-01-01 02:00:00.123"
    )


def test_ccxt_csv_header_is_case_insensitive_and_extra_columns_are_ignored(tmp_path: Path) -> None:
    path = ccxt_csv(
        tmp_path,
        f'"BTC/USDT",{T0},"2024-01-01",1.5,1,2,0.5,10',
        header=' Symbol,"TimeStamp",datetime,CLOSE,Open,High,Low,Volume ',
    )
    result = read_ohlcv_file(path)
    assert result.candles["ts"].tolist() == ts("2024-01-01")  # timestamp wins over datetime
    assert result.candles.iloc[0, 1:].tolist() == [1.0, 2.0, 0.5, 1.5, 10.0]


def test_ccxt_sample_with_bom_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + CCXT_SAMPLE.read_bytes())
    for candidate in (CCXT_SAMPLE, path):
        result = read_ohlcv_file(candidate)
        assert result.file_format == "ccxt-csv"
        assert result.rows_read == 4
        assert result.candles["ts"].iloc[0] == pd.Timestamp("2025-01-01")
        assert result.candles["close"].tolist() == [3343.23, 3353.68, 3356.2, 3347.65]


def test_parsed_values_equal_the_file_values_exactly(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    values = rng.lognormal(mean=8, sigma=3, size=(500, 5))
    values[::7] = np.round(values[::7], 2)
    times = T0 + np.arange(500, dtype=np.int64) * 60_000
    rows = [
        f"{t}," + ",".join(repr(float(v)) for v in row)
        for t, row in zip(times, values, strict=True)
    ]
    result = read_ohlcv_file(ccxt_csv(tmp_path, *rows))
    assert np.array_equal(result.candles[OHLCV_COLUMNS[1:]].to_numpy(), values)
    assert np.array_equal(result.candles["ts"].to_numpy().astype(np.int64), times)


def test_empty_fields_become_nan_and_bad_values_are_kept(tmp_path: Path) -> None:
    path = ccxt_csv(
        tmp_path,
        f"{T0},,2,0.5,-1.5,NaN",
        f'{T0 + HOUR},1,"",0.5,inf,0',
    )
    frame = read_ohlcv_file(path).candles
    assert np.isnan(frame.loc[0, "open"]) and np.isnan(frame.loc[0, "volume"])
    assert frame.loc[0, "close"] == -1.5
    assert np.isnan(frame.loc[1, "high"]) and frame.loc[1, "close"] == np.inf


# --- Parquet --------------------------------------------------------------------------------


def test_parquet_with_integer_milliseconds(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "Timestamp": [T0 + HOUR, T0],
            "open": [2.0, 1.0],
            "high": [3, 2],  # integers are fine
            "low": [1.0, 0.5],
            "close": [2.5, 1.5],
            "volume": [7.0, 10.0],
            "symbol": ["BTC/USDT", "BTC/USDT"],
        }
    )
    path = tmp_path / "candles.parquet"
    frame.to_parquet(path)
    result = read_ohlcv_file(path)
    assert_layout(result)
    assert result.file_format == "ccxt-parquet"
    assert result.was_unsorted
    assert result.candles["ts"].tolist() == ts("2024-01-01 00:00", "2024-01-01 01:00")
    assert result.candles["high"].tolist() == [2.0, 3.0]


def test_parquet_with_zoned_timestamp_type_converts_to_utc(tmp_path: Path) -> None:
    times = pd.to_datetime(["2024-01-01 01:00", "2024-01-01 02:00"]).tz_localize("Europe/Berlin")
    frame = pd.DataFrame({"datetime": times, **{c: [1.0, 2.0] for c in OHLCV_COLUMNS[1:]}})
    path = tmp_path / "candles.pq"
    frame.to_parquet(path)
    result = read_ohlcv_file(path, file_format="ccxt")
    assert result.candles["ts"].tolist() == ts("2024-01-01 00:00", "2024-01-01 01:00")


def test_parquet_with_iso_text_and_numeric_text(tmp_path: Path) -> None:
    table = pa.table(
        {
            "ts": ["2024-01-01T02:00:00+02:00", "2024-01-01T01:00:00Z"],
            "open": ["1.5", " "],
            **{c: [1.0, 2.0] for c in ("high", "low", "close", "volume")},
        }
    )
    path = tmp_path / "candles.parquet"
    pq.write_table(table, path)
    frame = read_ohlcv_file(path).candles
    assert frame["ts"].tolist() == ts("2024-01-01 00:00", "2024-01-01 01:00")
    assert frame.loc[0, "open"] == 1.5 and np.isnan(frame.loc[1, "open"])


def test_parquet_detected_by_magic_bytes_despite_csv_suffix(tmp_path: Path) -> None:
    path = tmp_path / "really-parquet.csv"
    pd.DataFrame({"timestamp": [T0], **{c: [1.0] for c in OHLCV_COLUMNS[1:]}}).to_parquet(path)
    assert read_ohlcv_file(path).file_format == "ccxt-parquet"


def test_parquet_bad_inputs(tmp_path: Path) -> None:
    missing = tmp_path / "missing-volume.parquet"
    pd.DataFrame(
        {"timestamp": [T0], "open": [1.0], "high": [1.0], "low": [1.0], "close": [1.0]}
    ).to_parquet(missing)
    expect_error(missing, "missing required column(s): volume", "'timestamp'")

    text_price = tmp_path / "text-price.parquet"
    pq.write_table(
        pa.table(
            {
                "timestamp": [T0, T0 + HOUR],
                "open": ["1", "abc"],
                **{c: [1.0, 1.0] for c in OHLCV_COLUMNS[2:]},
            }
        ),
        text_price,
    )
    expect_error(text_price, "row 2", "column 'open'", "'abc' is not a number")

    bool_price = tmp_path / "bool-price.parquet"
    pq.write_table(
        pa.table({"timestamp": [T0], "open": [True], **{c: [1.0] for c in OHLCV_COLUMNS[2:]}}),
        bool_price,
    )
    expect_error(bool_price, "column 'open'", "type bool", "expected a numeric type")

    empty = tmp_path / "empty.parquet"
    pd.DataFrame(
        {c: pd.Series(dtype="float64") for c in ["timestamp", *OHLCV_COLUMNS[1:]]}
    ).to_parquet(empty)
    expect_error(empty, "has no rows")

    null_time = tmp_path / "null-time.parquet"
    prices = {c: [1.0, 1.0] for c in OHLCV_COLUMNS[1:]}
    pq.write_table(pa.table({"timestamp": [T0, None], **prices}), null_time)
    expect_error(null_time, "row 2", "column 'timestamp'", "the time is empty")

    float_time = tmp_path / "float-time.parquet"
    pq.write_table(pa.table({"timestamp": [float(T0), 1.5], **prices}), float_time)
    expect_error(float_time, "column 'timestamp' has type double", "integer milliseconds")

    corrupt = write(tmp_path, "PAR1 this is not parquet", "corrupt.parquet")
    expect_error(corrupt, "not a readable Parquet file")

    expect_error(empty, "Binance kline files are CSV", file_format="binance")


# --- Binance kline CSV ------------------------------------------------------------------------


def test_binance_kline_sample_with_milliseconds() -> None:
    result = read_ohlcv_file(BINANCE_SAMPLE)
    assert_layout(result)
    assert result.file_format == "binance-kline-csv"
    assert result.rows_read == 5
    assert result.candles["ts"].tolist() == [
        pd.Timestamp("2024-01-01") + pd.Timedelta(hours=h) for h in range(5)
    ]
    assert result.candles.iloc[0, 1:].tolist() == [
        42283.58,
        42554.57,
        42261.02,
        42475.23,
        1271.68108,
    ]


@pytest.mark.parametrize("with_header", [False, True])
@pytest.mark.parametrize("unit", [1, 1000], ids=["ms", "us"])
def test_binance_kline_ms_and_us_with_and_without_header(
    tmp_path: Path, with_header: bool, unit: int
) -> None:
    rows = [binance_row((T0 + i * HOUR) * unit, close=100.0 + i) for i in range(3)]
    path = write(tmp_path, "\n".join(([BINANCE_HEADER] if with_header else []) + rows) + "\n")
    result = read_ohlcv_file(path)
    assert result.file_format == "binance-kline-csv"
    assert result.rows_read == 3
    assert result.candles["ts"].tolist() == ts(
        "2024-01-01 00:00", "2024-01-01 01:00", "2024-01-01 02:00"
    )
    assert result.candles["close"].tolist() == [100.0, 101.0, 102.0]
    assert read_ohlcv_file(path, file_format="binance").candles.equals(result.candles)


def test_binance_files_concatenated_across_the_ms_to_us_switch(tmp_path: Path) -> None:
    path = write(tmp_path, binance_row(T0) + "\n" + binance_row((T0 + HOUR) * 1000) + "\n")
    assert read_ohlcv_file(path).candles["ts"].tolist() == ts(
        "2024-01-01 00:00", "2024-01-01 01:00"
    )


def test_auto_detection(tmp_path: Path) -> None:
    assert read_ohlcv_file(BINANCE_SAMPLE).file_format == "binance-kline-csv"
    assert read_ohlcv_file(CCXT_SAMPLE).file_format == "ccxt-csv"
    with_header = write(tmp_path, BINANCE_HEADER + "\n" + binance_row(T0) + "\n")
    assert read_ohlcv_file(with_header).file_format == "binance-kline-csv"
    # the same file read as ccxt layout: open_time is an accepted time column
    as_ccxt = read_ohlcv_file(with_header, file_format="ccxt")
    assert as_ccxt.file_format == "ccxt-csv"
    assert as_ccxt.candles.equals(read_ohlcv_file(with_header).candles)
    # a 12-column ccxt file with a header of other names stays ccxt
    twelve = ccxt_csv(tmp_path, f"{T0},1,2,0.5,1.5,10" + ",x" * 6, header=HEADER + ",a,b,c,d,e,f")
    assert read_ohlcv_file(twelve).file_format == "ccxt-csv"


# --- bad input --------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    expect_error(tmp_path / "nope.csv", "file not found")
    expect_error(tmp_path, "not a regular file")


def test_empty_files(tmp_path: Path) -> None:
    expect_error(write(tmp_path, "", "zero.csv"), "empty (0 bytes)")
    expect_error(write(tmp_path, "\n\n", "blank.csv"), "only blank lines")
    expect_error(write(tmp_path, HEADER + "\n", "header.csv"), "header but no data rows", "line 1")
    expect_error(write(tmp_path, BINANCE_HEADER + "\n", "bheader.csv"), "header but no data rows")


def test_non_utf8_bytes_name_line_and_offset(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(
        f"{HEADER}\n{T0},1,2,0.5,1.5,10\n{T0 + HOUR},1,2,0.5,1.5\xe9,10\n".encode("latin-1")
    )
    offset = path.read_bytes().index(b"\xe9")
    expect_error(path, "line 3", f"byte offset {offset}", "0xe9", "not valid UTF-8")


def test_non_utf8_bytes_in_an_ignored_column(tmp_path: Path) -> None:
    path = tmp_path / "latin1-note.csv"
    path.write_bytes(f"{HEADER},note\n{T0},1,2,0.5,1.5,10,caf\xe9\n".encode("latin-1"))
    expect_error(path, "line 2", "byte 33 of the line", "not valid UTF-8")


def test_missing_columns_lists_missing_and_found(tmp_path: Path) -> None:
    path = ccxt_csv(tmp_path, "1,2,0.5,1.5", header="Open,High,Low,Close")
    expect_error(
        path,
        "a time column (one of timestamp, time, date, datetime, open_time, ts)",
        "volume",
        "found: 'Open', 'High', 'Low', 'Close'",
    )


def test_repeated_column(tmp_path: Path) -> None:
    path = ccxt_csv(tmp_path, f"{T0},1,2,0.5,1.5,10,3", header=HEADER + ",open")
    expect_error(path, "'open' appears 2 times", "columns 2, 7")


def test_non_numeric_price_names_line_and_column(tmp_path: Path) -> None:
    path = ccxt_csv(
        tmp_path,
        f"{T0},1,2,0.5,1.5,10",
        f"{T0 + HOUR},1,2,0.5,1.5,10",
        f"{T0 + 2 * HOUR},1,2,0.5,abc,10",
    )
    expect_error(path, "line 4", "column 5 'close'", "'abc' is not a number", "expected a decimal")
    binance = write(
        tmp_path, binance_row(T0) + "\n" + binance_row(T0 + HOUR).replace("42100.0", "1,5")
    )
    expect_error(binance, "line 2", "13 columns", "12 columns")


def test_binance_wrong_number_of_columns(tmp_path: Path) -> None:
    short_row = ",".join(binance_row(T0 + 2 * HOUR).split(",")[:11])
    path = write(tmp_path, "\n".join([binance_row(T0), binance_row(T0 + HOUR), short_row]) + "\n")
    expect_error(path, "line 3 has 11 columns", "a Binance kline CSV has 12 columns")
    ccxt_file = ccxt_csv(tmp_path, f"{T0},1,2,0.5,1.5,10")
    expect_error(ccxt_file, "line 1 has 6 columns", "12 columns", file_format="binance")


def test_headerless_file_that_is_not_binance(tmp_path: Path) -> None:
    path = write(tmp_path, f"{T0},1,2,0.5,1.5,10\n")
    expect_error(path, "line 1 is data, not a header (6 columns)", "needs a header row")


def test_wrong_number_of_columns_in_a_ccxt_file(tmp_path: Path) -> None:
    path = ccxt_csv(tmp_path, f"{T0},1,2,0.5,1.5,10", f"{T0 + HOUR},1,2,0.5,1.5")
    expect_error(path, "line 3 has 5 columns", "expected 6 like the header on line 1")


def test_unparseable_timestamps_name_line(tmp_path: Path) -> None:
    iso = ccxt_csv(
        tmp_path,
        "2024-01-01T00:00:00Z,1,2,0.5,1.5,10",
        "2024-13-45T00:00:00Z,1,2,0.5,1.5,10",
        header="datetime,open,high,low,close,volume",
    )
    expect_error(iso, "line 3", "column 1 'datetime'", "'2024-13-45T00:00:00Z'", "ISO-8601")

    mixed = ccxt_csv(tmp_path, f"{T0},1,2,0.5,1.5,10", "2024-01-01T01:00:00Z,1,2,0.5,1.5,10")
    expect_error(mixed, "line 3", "column 1 'timestamp'", "is not a valid time", "milliseconds")

    seconds = ccxt_csv(tmp_path, f"{T0},1,2,0.5,1.5,10", "1704070800,1,2,0.5,1.5,10")
    expect_error(seconds, "line 3", "1704070800", "seconds or nanoseconds?")

    blank_line_then_empty = ccxt_csv(tmp_path, f"{T0},1,2,0.5,1.5,10", "", ",1,2,0.5,1.5,10")
    expect_error(blank_line_then_empty, "line 4", "the time is empty")


def test_zip_archive_of_one_binance_csv_is_read(tmp_path: Path) -> None:
    archive = tmp_path / "BTCUSDT-1h-2024-01.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        bundle.write(BINANCE_SAMPLE, BINANCE_SAMPLE.name)
    result = read_ohlcv_file(archive)
    plain = read_ohlcv_file(BINANCE_SAMPLE)
    assert (result.path, result.compression, result.file_format) == (
        archive,
        "zip",
        "binance-kline-csv",
    )
    pd.testing.assert_frame_equal(result.candles, plain.candles)
    expect_error(BINANCE_SAMPLE, "unknown file format 'excel'", file_format="excel")


def test_zip_archive_of_several_files_or_cut_short_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "two.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.write(BINANCE_SAMPLE, "a.csv")
        bundle.write(BINANCE_SAMPLE, "b.csv")
    expect_error(archive, "zip archive of 2 files (a.csv, b.csv)", "exactly one")
    cut = tmp_path / "cut.zip"
    cut.write_bytes(archive.read_bytes()[:60])
    expect_error(cut, "starts like a zip archive", "cannot be read")


# --- gzip -------------------------------------------------------------------------------------


def test_gzip_csv_is_read_by_suffix_and_by_magic_bytes(tmp_path: Path) -> None:
    plain = ccxt_csv(tmp_path, f"{T0},42000.5,42100,41900.25,42050,12.5", f"{T0 + HOUR},1,2,0,1,3")
    expected = read_ohlcv_file(plain)
    packed = gzip.compress(plain.read_bytes())
    for name in ("ETH-USDT_1h.csv.gz", "ETH-USDT_1h.csv"):  # gzip content under a .csv name too
        path = tmp_path / "gz" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(packed)
        result = read_ohlcv_file(path)
        assert (result.path, result.compression, result.file_format) == (path, "gzip", "ccxt-csv")
        pd.testing.assert_frame_equal(result.candles, expected.candles)
        assert result.rows_read == 2


def test_gzip_binance_dump_and_gzip_parquet(tmp_path: Path) -> None:
    dump = tmp_path / "BTCUSDT-1h-2024-01-01.csv.gz"
    dump.write_bytes(gzip.compress(BINANCE_SAMPLE.read_bytes()))
    pd.testing.assert_frame_equal(
        read_ohlcv_file(dump).candles, read_ohlcv_file(BINANCE_SAMPLE).candles
    )
    table = pa.table({"timestamp": [T0, T0 + HOUR], **{c: [1.0, 2.0] for c in PRICE}})
    pq.write_table(table, tmp_path / "c.parquet")
    packed = tmp_path / "c.parquet.gz"
    packed.write_bytes(gzip.compress((tmp_path / "c.parquet").read_bytes()))
    assert read_ohlcv_file(packed).file_format == "ccxt-parquet"


def test_bad_gzip_input_names_the_compressed_file_and_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv.gz"
    bad.write_bytes(gzip.compress(f"{HEADER}\n{T0},1,2,0.5,x,10\n".encode()))
    message = expect_error(bad, "(gzip-compressed)", "line 2", "'x' is not a number")
    assert "cryptobot-import-" not in message  # not the temporary copy's path
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(gzip.compress((f"{HEADER}\n" + f"{T0},1,2,0.5,1,10\n" * 2000).encode())[:-40])
    expect_error(cut, "cannot be decompressed", "cut short")
    empty = tmp_path / "empty.csv.gz"
    empty.write_bytes(gzip.compress(b""))
    expect_error(empty, "inside is empty")


# --- duplicates and order ---------------------------------------------------------------------


def test_exact_duplicates_are_dropped_and_counted(tmp_path: Path) -> None:
    row = f"{T0},1,2,0.5,1.5,10"
    path = ccxt_csv(tmp_path, row, row, row, f"{T0 + HOUR},1,2,0.5,1.5,10")
    result = read_ohlcv_file(path)
    assert (result.rows_read, result.exact_duplicates_dropped) == (4, 3 - 1)
    assert len(result.candles) == 2
    assert not result.was_unsorted


def test_same_ts_with_different_values_is_kept_for_the_quality_gate(tmp_path: Path) -> None:
    path = ccxt_csv(
        tmp_path,
        f"{T0},1,2,0.5,1.5,10",
        f"{T0},1,2,0.5,1.6,10",
        f"{T0 + HOUR},1,2,0.5,1.5,10",
    )
    result = read_ohlcv_file(path)
    assert result.exact_duplicates_dropped == 0
    assert result.candles["ts"].tolist() == ts(
        "2024-01-01 00:00", "2024-01-01 00:00", "2024-01-01 01:00"
    )
    assert result.candles["close"].tolist() == [1.5, 1.6, 1.5]  # file order


def test_unsorted_rows_are_sorted_and_reported(tmp_path: Path) -> None:
    path = ccxt_csv(
        tmp_path,
        f"{T0 + 2 * HOUR},3,3,3,3,3",
        f"{T0},1,1,1,1,1",
        f"{T0 + HOUR},2,2,2,2,2",
        f"{T0},1,1,1,1,1",  # an exact duplicate that is not next to its twin
        f"{T0},1,1,1,1.5,1",  # same ts, other values: kept after the first in file order
    )
    result = read_ohlcv_file(path)
    assert result.was_unsorted
    assert (result.rows_read, result.exact_duplicates_dropped) == (5, 1)
    assert result.candles["open"].tolist() == [1.0, 1.0, 2.0, 3.0]
    assert result.candles["close"].tolist() == [1.0, 1.5, 2.0, 3.0]


def test_sorting_keeps_file_order_among_equal_ts(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    hours = rng.integers(0, 20, size=400)  # many rows per ts, shuffled
    rows = [f"{T0 + int(h) * HOUR},1,2,0.5,{i},10" for i, h in enumerate(hours)]
    frame = read_ohlcv_file(ccxt_csv(tmp_path, *rows)).candles
    expected = np.argsort(hours, kind="stable").astype(float)
    assert np.array_equal(frame["close"].to_numpy(), expected)
