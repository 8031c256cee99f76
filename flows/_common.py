"""Small helpers shared by the flows."""

from __future__ import annotations

from collections.abc import Callable

from prefect import get_run_logger


def progress() -> Callable[[str], None]:
    """Progress lines go to the run's logger, so they show in the terminal and in the Prefect UI."""
    return get_run_logger().info
