"""Read-only SQL on the warehouse (`cryptobot sql`).

Exactly one statement, and only one that reads: a read-only connection still lets DuckDB write
files (``COPY ... TO``, ``EXPORT DATABASE``, ``EXPLAIN ANALYZE COPY ...``), attach databases or
change settings, so each statement is parsed first (``extract_statements``) and refused unless
its type is one that reads. DuckDB types ``SHOW``, ``DESCRIBE``, ``SUMMARIZE``, ``FROM t``,
``VALUES`` and ``PIVOT ... IN (...)`` as SELECT.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from cryptobot.config import Settings
from cryptobot.errors import CryptobotError
from cryptobot.warehouse.db import read_connection

#: statement types that only read (EXPLAIN and PRAGMA are checked further)
READING_STATEMENTS = frozenset(
    {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN, duckdb.StatementType.PRAGMA}
)
#: PRAGMAs that only report (others switch settings or profiling on)
READING_PRAGMAS = frozenset(
    {
        "collations",
        "database_list",
        "database_size",
        "functions",
        "metadata_info",
        "platform",
        "show_databases",
        "show_tables",
        "show_tables_expanded",
        "storage_info",
        "table_info",
        "user_agent",
        "version",
    }
)
#: blanks and SQL comments before a statement's first keyword
_LEADING_COMMENTS = r"^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*"
_EXPLAIN_PREFIX = re.compile(
    _LEADING_COMMENTS + r"explain\b(?:\s+analyze\b)?(?:\s*\([^)]*\))?", re.IGNORECASE | re.DOTALL
)
_PRAGMA_NAME = re.compile(
    _LEADING_COMMENTS + r"pragma\s+([a-z_][a-z0-9_]*)", re.IGNORECASE | re.DOTALL
)
_EXAMPLE = 'e.g. cryptobot sql "select symbol, count(*) from market_data group by all"'


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool
    limit: int

    def footer(self) -> str:
        more = f" (first {self.limit} shown; use --limit to see more)" if self.truncated else ""
        return f"{len(self.rows)} rows{more}"


def _statements(con: duckdb.DuckDBPyConnection, query: str) -> list[Any]:
    try:
        return con.extract_statements(query)
    except duckdb.Error as exc:
        raise CryptobotError(f"query failed: {exc}") from None


def _kind(statement: Any) -> str:
    return str(statement.type.name).lower().replace("_", " ")


def _check_reads(con: duckdb.DuckDBPyConnection, statement: Any) -> None:
    """Raise unless ``statement`` only reads (an EXPLAIN's inner statement included)."""
    kind = statement.type
    if kind == duckdb.StatementType.MULTI:
        raise CryptobotError(
            "this statement expands into several (a PIVOT without an IN list does): "
            "`cryptobot sql` runs one reading statement; list the values, "
            "e.g. pivot market_data on symbol in ('BTC/USDT', 'ETH/USDT') using count(*)"
        )
    if kind not in READING_STATEMENTS:
        raise CryptobotError(
            f"`cryptobot sql` is read-only: a {_kind(statement).upper()} statement is refused "
            "(writes happen in the flows; COPY/EXPORT would write files). Use SELECT, SHOW, "
            f"DESCRIBE, SUMMARIZE, EXPLAIN or an informational PRAGMA, {_EXAMPLE}"
        )
    if kind == duckdb.StatementType.PRAGMA:
        match = _PRAGMA_NAME.match(statement.query)
        name = match.group(1).lower() if match else "?"
        if name not in READING_PRAGMAS:
            raise CryptobotError(
                f"PRAGMA {name} is refused: `cryptobot sql` allows only the PRAGMAs that report "
                f"({', '.join(sorted(READING_PRAGMAS))})"
            )
    if kind == duckdb.StatementType.EXPLAIN:  # EXPLAIN ANALYZE runs its statement
        prefix = _EXPLAIN_PREFIX.match(statement.query)
        inner = _statements(con, statement.query[prefix.end() :]) if prefix else []
        if len(inner) != 1:
            raise CryptobotError(
                "could not find the one statement this EXPLAIN explains: write EXPLAIN "
                "[ANALYZE] SELECT ..."
            )
        _check_reads(con, inner[0])


def run_query(
    settings: Settings, query: str, *, limit: int = 100, allow_files: Path | None = None
) -> QueryResult:
    """Run one reading statement on a read-only connection; at most ``limit`` rows are fetched.

    The connection reads nothing outside the warehouse (no file, no URL, no extension install)
    unless ``allow_files`` names a directory whose files it may read."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise CryptobotError(f"limit must be a whole number >= 1, got {limit!r}")
    if not query.strip():
        raise CryptobotError(f"empty query: pass a SQL statement, {_EXAMPLE}")
    with read_connection(
        settings.warehouse, timeout=settings.write_lock_timeout, allow_files=allow_files
    ) as con:
        statements = _statements(con, query)
        if not statements:
            raise CryptobotError(f"the query holds no SQL statement (only comments?): {_EXAMPLE}")
        if len(statements) > 1:
            raise CryptobotError(
                f"the query holds {len(statements)} statements: `cryptobot sql` runs exactly one "
                "(only its result could be shown). Run them one at a time, or combine them "
                "into one SELECT (WITH ... SELECT, UNION ALL)."
            )
        _check_reads(con, statements[0])
        try:
            cursor = con.execute(query)
        except duckdb.Error as exc:
            if "read-only" in str(exc).lower():
                hint = " The warehouse is opened read-only here: write through the flows."
            elif isinstance(exc, duckdb.PermissionException):
                hint = (
                    " `cryptobot sql` reads only the warehouse: no other file, URL or extension"
                    + (f" (files only under {allow_files})" if allow_files else "")
                    + ". To query files of a directory, pass --allow-files DIR."
                )
            else:
                hint = ""
            raise CryptobotError(f"query failed: {exc}.{hint}") from None
        if cursor.description is None:
            return QueryResult(columns=[], rows=[], truncated=False, limit=limit)
        columns = [column[0] for column in cursor.description]
        rows = cursor.fetchmany(limit + 1)
    return QueryResult(columns=columns, rows=rows[:limit], truncated=len(rows) > limit, limit=limit)
