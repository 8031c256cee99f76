"""Flow `sql`: run a read-only query on the warehouse and log the result."""

from __future__ import annotations

from pathlib import Path

from prefect import flow

from cryptobot.config import load_settings
from cryptobot.query import run_query
from cryptobot.render import as_text, rows_table
from flows._common import progress


@flow(name="sql")
def sql(query: str, limit: int = 100, allow_files: str | None = None) -> list[list]:
    """Run `query` on a read-only connection confined to the warehouse (`allow_files`: a
    directory whose files it may also read); writes are refused."""
    result = run_query(
        load_settings(), query, limit=limit, allow_files=Path(allow_files) if allow_files else None
    )
    progress()(
        "\n" + as_text([rows_table(result.columns, result.rows, exact=True)]) + result.footer()
    )
    return [list(row) for row in result.rows]
