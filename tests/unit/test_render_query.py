"""`cryptobot sql` (one reading statement only) and the rich tables (data shown verbatim)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from cryptobot.config import Settings
from cryptobot.errors import CryptobotError
from cryptobot.query import run_query
from cryptobot.render import as_text, rows_table, source_label, status_tables
from cryptobot.warehouse.db import read_connection, write_connection


@pytest.fixture
def warehouse(settings: Settings) -> Settings:
    with write_connection(settings.warehouse) as con:
        con.execute(
            "insert into market_data values "
            "('binance', 'BTC/USDT', '1h', '2024-01-01 00:00', 1, 2, 0.5, 1.5, 10, 'ccxt',"
            " '2024-01-02', '2024-01-01 01:00', 'b1'),"
            "('binance', 'BTC/USDT', '1h', '2024-01-01 01:00', 1, 2, 0.5, 1.5, 10, 'simulated',"
            " '2024-01-02', '2024-01-01 02:00', 'b2'),"
            "('simulator', 'ETH/USDT', '1h', '2024-01-01 00:00', 1, 2, 0.5, 1.5, 10, 'simulated',"
            " '2024-01-02', '2024-01-01 01:00', 'b3')"
        )
    return settings


# --------------------------------------------------------------------------- run_query


@pytest.mark.parametrize(
    "query",
    [
        "select symbol, count(*) as n from market_data group by all order by 1",
        "  -- a comment first\nselect 1 as x;  ",
        "from market_data",
        "values (1, 2)",
        "show tables",
        "describe market_data",
        "summarize market_data",
        "pivot market_data on symbol in ('BTC/USDT', 'ETH/USDT') using count(*)",
        "explain select * from market_data",
        "explain analyze select count(*) from market_data",
        "/* plan */ EXPLAIN ANALYZE select 1",
        "pragma table_info('market_data')",
        "pragma version",
        "select * from pragma_table_info('market_data')",
    ],
)
def test_reading_statements_run(warehouse: Settings, query: str):
    result = run_query(warehouse, query)
    assert result.columns
    assert result.rows


def test_select_returns_rows_and_truncates_at_the_limit(warehouse: Settings):
    result = run_query(warehouse, "select symbol from market_data order by ts, symbol", limit=2)
    assert result.columns == ["symbol"]
    assert result.rows == [("BTC/USDT",), ("ETH/USDT",)]
    assert result.truncated
    assert result.footer() == "2 rows (first 2 shown; use --limit to see more)"
    one = run_query(warehouse, "select 1", limit=1)
    assert (one.rows, one.truncated) == ([(1,)], False)


@pytest.mark.parametrize("limit", [0, -1])
def test_limit_below_one_is_refused(warehouse: Settings, limit: int):
    with pytest.raises(CryptobotError, match="limit must be a whole number >= 1"):
        run_query(warehouse, "select 1", limit=limit)


def test_several_statements_are_refused(warehouse: Settings):
    with pytest.raises(CryptobotError, match="holds 2 statements.*exactly one"):
        run_query(warehouse, "select 1; select 2")
    with pytest.raises(CryptobotError, match="holds 2 statements"):
        run_query(warehouse, "select count(*) from market_data; delete from market_data")


@pytest.mark.parametrize(
    "template",
    [
        "copy (select * from market_data) to '{out}'",
        "copy market_data to '{out}' (header)",
        "explain analyze copy (select 1) to '{out}'",
        "EXPLAIN (ANALYZE) copy (select 1) to '{out}'",
        "export database '{out}'",
    ],
)
def test_statements_that_write_files_are_refused(warehouse: Settings, tmp_path: Path, template):
    out = tmp_path / "leak.csv"
    with pytest.raises(CryptobotError, match="is read-only: a (COPY|EXPORT) statement"):
        run_query(warehouse, template.format(out=out))
    assert not out.exists()


@pytest.mark.parametrize(
    ("query", "kind"),
    [
        ("insert into exchanges (name) values ('x')", "INSERT"),
        ("delete from market_data", "DELETE"),
        ("update market_data set close = 0", "UPDATE"),
        ("create table x (a int)", "CREATE"),
        ("drop table market_data", "DROP"),
        ("attach ':memory:' as other", "ATTACH"),
        ("set threads = 1", "SET"),
        ("install httpfs", "LOAD"),
        ("call pragma_table_info('market_data')", "CALL"),
        ("checkpoint", "CALL"),
    ],
)
def test_writing_and_session_statements_are_refused(warehouse: Settings, query: str, kind: str):
    with pytest.raises(CryptobotError, match=f"a {kind} statement is refused"):
        run_query(warehouse, query)
    with read_connection(warehouse.warehouse) as con:
        assert con.execute("select count(*) from market_data").fetchone() == (3,)


def test_pragmas_that_change_settings_are_refused(warehouse: Settings):
    with pytest.raises(CryptobotError, match="PRAGMA enable_profiling is refused"):
        run_query(warehouse, "pragma enable_profiling")
    with pytest.raises(CryptobotError, match="SET statement is refused"):
        run_query(warehouse, "pragma threads = 1")


@pytest.mark.parametrize("query", ["", "   ", "-- nothing here", ";"])
def test_empty_queries_are_refused(warehouse: Settings, query: str):
    with pytest.raises(CryptobotError, match="empty query|no SQL statement"):
        run_query(warehouse, query)


def test_syntax_error_is_a_clear_error(warehouse: Settings):
    with pytest.raises(CryptobotError, match="query failed: Parser Error"):
        run_query(warehouse, "selec 1")


@pytest.mark.parametrize(
    "template",
    [
        "select * from read_csv('{secret}')",
        "select * from read_text('{secret}')",
        "select * from read_blob('{secret}')",
        "select * from glob('{folder}/*')",
        "select * from read_csv('{folder}/../outside/secret.csv')",
        "select * from read_parquet('https://example.com/data.parquet')",
        "select * from read_text('/etc/passwd')",
    ],
)
def test_files_and_urls_outside_the_warehouse_are_refused(
    warehouse: Settings, tmp_path: Path, template: str
):
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.csv"
    secret.write_text("key\nsk-live-0123456789\n")
    query = template.format(secret=secret, folder=tmp_path / "allowed")
    with pytest.raises(CryptobotError, match="reads only the warehouse") as raised:
        run_query(warehouse, query)
    assert "sk-live" not in str(raised.value)


def test_allow_files_reads_under_that_directory_only(warehouse: Settings, tmp_path: Path):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "bars.csv").write_text("close\n1.5\n2.5\n")
    (tmp_path / "secret.csv").write_text("key\nsk-live-0123456789\n")
    result = run_query(
        warehouse, f"select sum(close) from read_csv('{allowed}/bars.csv')", allow_files=allowed
    )
    assert result.rows == [(4.0,)]
    for query in (
        f"select * from read_csv('{tmp_path}/secret.csv')",
        f"select * from read_csv('{allowed}/../secret.csv')",
    ):
        with pytest.raises(CryptobotError, match=f"files only under {allowed}"):
            run_query(warehouse, query, allow_files=allowed)


def test_a_query_cannot_switch_the_confinement_off(warehouse: Settings):
    with read_connection(warehouse.warehouse) as con:
        for statement in ("set enable_external_access = true", "set allowed_directories = ['/']"):
            with pytest.raises(duckdb.Error, match="locked"):
                con.execute(statement)
        assert con.execute("select current_setting('TimeZone')").fetchone() == ("UTC",)


def test_allow_files_must_be_a_directory(warehouse: Settings, tmp_path: Path):
    with pytest.raises(CryptobotError, match="not a directory"):
        run_query(warehouse, "select 1", allow_files=tmp_path / "missing")


# --------------------------------------------------------------------------- render


def render(table, width: int = 200) -> str:
    return as_text([table], width=width)


def test_values_titles_and_headers_are_not_markup():
    table = rows_table(
        ["[b]col", "plain"],
        [["[/x]", "[bold]hi"], ["[red]stop[/red]", ":smile:"]],
        title="[red]my title",
    )
    text = render(table)
    for verbatim in ["[/x]", "[bold]hi", "[red]stop[/red]", ":smile:", "[red]my title", "[b]col"]:
        assert verbatim in text


def test_exact_shows_full_precision_and_iso_timestamps():
    row = [
        0.1 + 0.2,
        123456.789012345,
        1e-9,
        datetime(2024, 1, 1, 5, 30),
        datetime(2024, 1, 1, 0, 0, 0, 123456),
        1234567,
        None,
    ]
    columns = ["a", "b", "c", "d", "e", "f", "g"]
    exact = render(rows_table(columns, [row], exact=True))
    for shown in [
        "0.30000000000000004",
        "123456.789012345",
        "1e-09",
        "2024-01-01 05:30:00",
        "2024-01-01 00:00:00.123456",
        "1234567",
        "NULL",
    ]:
        assert shown in exact
    compact = render(rows_table(columns, [row]))
    for shown in ["0.3 ", "123,457", "2024-01-01 05:30", "1,234,567"]:
        assert shown in compact
    assert "0.30000000000000004" not in compact
    assert "00:00:00.123456" not in compact


def test_exact_folds_long_values_instead_of_cutting_them():
    value = "x" * 30 + "END"
    text = render(rows_table(["v"], [[value]], exact=True), width=20)
    cells = [line.strip("│ ") for line in text.splitlines() if line.startswith("│")]
    assert "".join(cells) == value


@pytest.mark.parametrize(
    ("sources", "label"),
    [
        ("simulated", "SIMULATED"),
        ("ccxt", "ccxt"),
        ("ccxt,simulated", "ccxt, SIMULATED"),
        ("ccxt,file", "ccxt, file"),
    ],
)
def test_source_label(sources: str, label: str):
    assert source_label(sources) == label


def test_status_marks_only_fully_simulated_series_as_simulated(warehouse: Settings):
    with read_connection(warehouse.warehouse) as con:
        text = as_text(status_tables(con), width=250)
    btc = next(line for line in text.splitlines() if "BTC/USDT" in line)
    eth = next(line for line in text.splitlines() if "ETH/USDT" in line)
    assert "ccxt, SIMULATED" in btc
    assert "SIMULATED" in eth
    assert "ccxt" not in eth


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0000085, "0.0000085"),  # ADA/BTC: not 0.0000
        (0.05123456789, "0.0512346"),
        (34123.456, "34,123.46"),  # BTC/USDT keeps its cents
        (1234567.891, "1,234,567.89"),
        (1.5, "1.50"),
        (-0.000012345, "-0.000012345"),
        (0.0, "0"),
    ],
)
def test_prices_keep_six_significant_digits_without_an_exponent(value: float, text: str):
    from cryptobot.render import price_text

    assert price_text(value) == text


@pytest.mark.parametrize(
    ("value", "signed", "text"),
    [
        (10123.456, False, "10,123.46"),
        (0.000045, False, "0.000045"),  # a fee on a BTC-quoted account: not 0.00
        (0.000045, True, "+0.000045"),
        (-0.5, True, "-0.50"),
        (0.5, False, "0.50"),
        (0.0, True, "+0.00"),
        (-12.5, True, "-12.50"),
        (None, False, "–"),
        (float("nan"), False, "–"),
    ],
)
def test_money_shows_small_amounts_with_significant_digits(value, signed, text):
    from cryptobot.render import money_text

    assert money_text(value, signed=signed) == text
