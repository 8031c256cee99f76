"""Small helpers shared by the flows."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prefect import get_run_logger

from cryptobot import redact

# a flow process redacts every secret it knows from every log record, Prefect's included
redact.install()


def progress() -> Callable[[str], None]:
    """Progress lines go to the run's logger, so they show in the terminal and in the Prefect UI."""
    return get_run_logger().info


def flow_failed(flow, flow_run, state) -> None:
    """Prefect ``on_failure`` / ``on_crashed`` hook of every flow: a ``flow_failures`` alert
    naming the flow, its run and why (the state's message, clipped). Never raises: a hook that
    fails would only hide the flow's own failure."""
    import logging

    from cryptobot.alerts import MAX_DETAIL, send_alert
    from cryptobot.config import load_settings

    try:
        settings = load_settings()
        detail = " ".join(str(state.message or state.name).split())
        if len(detail) > MAX_DETAIL:
            detail = detail[: MAX_DETAIL - 1] + "…"
        send_alert(
            settings,
            "flow_failures",
            f"cryptobot: flow {flow.name} run {flow_run.name} {state.name.lower()}: {detail}",
        )
    except Exception as exc:  # noqa: BLE001 - e.g. the configuration itself is what failed
        logging.getLogger(__name__).warning(
            "flow failure alert not sent: %s: %s", type(exc).__name__, exc
        )


#: ``@flow(..., **ALERT_HOOKS)``: a failed or crashed run sends a ``flow_failures`` alert
ALERT_HOOKS = {"on_failure": [flow_failed], "on_crashed": [flow_failed]}


def retry_unless_known(task, task_run, state) -> bool:
    """Prefect ``retry_condition_fn``: retry a failure unless it is one of the project's own
    errors that says a retry cannot help (bad config, missing keys); ``retryable`` ones retry."""
    from cryptobot.errors import CryptobotError

    exc = state.result(raise_on_failure=False)
    return not isinstance(exc, CryptobotError) or bool(getattr(exc, "retryable", False))


@contextmanager
def secrets_out_of_errors() -> Iterator[None]:
    """Re-raise an exception whose text holds a known secret with that text redacted.

    Prefect stores a failed run's exception text in the run's state (its database, the UI),
    which no log filter sees. The new exception has the same class where it can be rebuilt from
    a message (so exit codes and ``retryable`` hold), else RuntimeError; the original is not
    chained, so its text goes nowhere."""
    from cryptobot import redact

    try:
        yield
    except Exception as exc:
        text = str(exc)
        clean = redact.redact(text)
        if clean == text:
            raise
        try:
            safe = type(exc)(clean)
        except Exception:
            safe = RuntimeError(f"{type(exc).__name__}: {clean}")
        if hasattr(exc, "retryable"):
            safe.retryable = exc.retryable
        raise safe from None


def read_secret_block(name: str) -> str:
    """The value of the Prefect Secret block ``name`` (the key store's passphrase)."""
    from prefect.blocks.system import Secret

    from cryptobot.errors import KeyStoreError

    try:
        block = Secret.load(name)
    except ValueError:
        raise KeyStoreError(
            f"there is no Prefect Secret block named {name!r} (CRYPTOBOT_KEYSTORE_PASSPHRASE_BLOCK)"
            ": create it in the Prefect UI (Blocks > Secret) or with "
            f"`Secret(value=...).save({name!r})`, or set CRYPTOBOT_KEYSTORE_PASSPHRASE instead"
        ) from None
    value = block.get()
    if not isinstance(value, str):
        raise KeyStoreError(f"the Prefect Secret block {name!r} does not hold a text passphrase")
    return value


@contextmanager
def warehouse_writes() -> Iterator[None]:
    """Hold the warehouse's write lock for a task that writes it.

    Every writing task runs inside it, so flows started at the same moment (ingest and trade at
    the top of the hour, a backfill from the UI) queue for the one writer, saying in their log
    whom they wait for. The lock is a file lock the kernel releases when its holder dies, so a
    crashed or killed run never blocks the runs after it (:mod:`cryptobot.warehouse.lock`).
    """
    from prefect.context import FlowRunContext, TaskRunContext

    from cryptobot.config import load_settings
    from cryptobot.warehouse.lock import write_lock

    settings = load_settings()
    what = "cryptobot"
    task_run = TaskRunContext.get()
    flow_run = FlowRunContext.get()
    if flow_run is not None and flow_run.flow_run is not None:
        what = f"flow {flow_run.flow.name} run {flow_run.flow_run.name}"
    if task_run is not None:
        what += f", task {task_run.task.name}"
    with write_lock(
        settings.warehouse, timeout=settings.write_lock_timeout, what=what, log=progress()
    ):
        yield
