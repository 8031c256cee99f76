"""Read-only SQL on the warehouse (`cryptobot sql`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb

from cryptobot.config import Settings
from cryptobot.errors import CryptobotError
from cryptobot.warehouse.db import read_connection


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool
    limit: int

    def footer(self) -> str:
        more = f" (first {self.limit} shown; use --limit to see more)" if self.truncated else ""
        return f"{len(self.rows)} rows{more}"


def run_query(settings: Settings, query: str, *, limit: int = 100) -> QueryResult:
    """Run one statement on a read-only connection; at most ``limit`` rows are fetched."""
    if not query.strip():
        raise CryptobotError('empty query: pass a SQL statement, e.g. "select * from market_data"')
    with read_connection(settings.warehouse, timeout=settings.write_lock_timeout) as con:
        try:
            cursor = con.execute(query)
        except duckdb.Error as exc:
            hint = (
                " The warehouse is opened read-only here: write through the flows."
                if "read-only" in str(exc).lower()
                else ""
            )
            raise CryptobotError(f"query failed: {exc}.{hint}") from None
        if cursor.description is None:
            return QueryResult(columns=[], rows=[], truncated=False, limit=limit)
        columns = [column[0] for column in cursor.description]
        rows = cursor.fetchmany(limit + 1)
    return QueryResult(columns=columns, rows=rows[:limit], truncated=len(rows) > limit, limit=limit)
