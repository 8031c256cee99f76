"""Small helpers shared by the flows."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prefect import get_run_logger

#: the one global concurrency limit around warehouse writes (DuckDB has one writer)
WAREHOUSE_WRITES = "warehouse-writes"
_limit_checked = False


def progress() -> Callable[[str], None]:
    """Progress lines go to the run's logger, so they show in the terminal and in the Prefect UI."""
    return get_run_logger().info


def retry_unless_known(task, task_run, state) -> bool:
    """Prefect ``retry_condition_fn``: retry a failure unless it is one of the project's own
    errors that says a retry cannot help (bad config, missing keys); ``retryable`` ones retry."""
    from cryptobot.errors import CryptobotError

    exc = state.result(raise_on_failure=False)
    return not isinstance(exc, CryptobotError) or bool(getattr(exc, "retryable", False))


def _ensure_limit() -> None:
    """Create the ``warehouse-writes`` limit (1 slot) if the server has none; a limit someone
    already set (e.g. ``prefect gcl update warehouse-writes --disable``) is left alone."""
    global _limit_checked
    if _limit_checked:
        return
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(WAREHOUSE_WRITES)
        except ObjectNotFound:
            client.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(name=WAREHOUSE_WRITES, limit=1)
            )
    _limit_checked = True


@contextmanager
def warehouse_writes() -> Iterator[None]:
    """Hold the single slot of the ``warehouse-writes`` global concurrency limit.

    Every task that writes the warehouse runs inside it, so flows started at the same moment
    (ingest and trade at the top of the hour, a backfill from the UI) queue in Prefect instead
    of waiting on DuckDB's file lock. The warehouse's own lock retry stays as the last guard for
    writers outside Prefect (the CLI's read-only commands never write).
    """
    from prefect.concurrency.sync import concurrency

    _ensure_limit()
    with concurrency(WAREHOUSE_WRITES, occupy=1, strict=True, lease_duration=3600):
        yield
