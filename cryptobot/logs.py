"""Log format and level for every command and flow: the human format (Prefect's) or JSON lines.

``--log-format json`` (setting ``log_format``, env ``CRYPTOBOT_LOG_FORMAT``) writes one JSON
object per line to stderr, for a log shipper::

    {"time": "2026-12-05T11:02:03.120Z", "level": "INFO", "logger": "prefect.flow_runs",
     "flow": "train", "flow_run_id": "0b6f...", "task": "train-BTC-USDT-1h",
     "target": "BTC/USDT 1h", "message": "fold 3/5 ..."}

``flow``, ``flow_run_id`` and ``task`` come from Prefect's run context (its run loggers attach
them; for other loggers they are read from the context); ``target`` is the series being worked
on (:func:`log_target`), when there is one. Fields without a value are left out.

Prefect owns logging configuration in a flow's process (its ``logging.yml``, overridable by
``PREFECT_LOGGING_*`` variables), so the JSON format is applied through those variables: the
``console`` handler becomes :class:`_JsonLinesHandler` with the :class:`JsonLines` formatter.

Tracebacks: an error's one-paragraph message is what a record shows at INFO and above; its
traceback goes to the log at DEBUG only (:class:`TracebacksAtDebug`), seen with
``--log-level debug``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Literal

LogFormat = Literal["text", "json"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
LOG_FORMATS: tuple[str, ...] = ("text", "json")
LOG_LEVELS: tuple[str, ...] = ("DEBUG", "INFO", "WARNING", "ERROR")
#: the logger a record's traceback is re-logged on, at DEBUG
TRACEBACK_LOGGER = "cryptobot.traceback"
#: Prefect's run loggers: their error records carry the failed run's exception
RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")

_target: ContextVar[str | None] = ContextVar("cryptobot_log_target", default=None)
_format: LogFormat = "text"


@contextmanager
def log_target(target: str) -> Iterator[None]:
    """Tag every record logged inside the block with ``target`` (e.g. ``"BTC/USDT 1h"``)."""
    token = _target.set(target)
    try:
        yield
    finally:
        _target.reset(token)


def _run_context() -> dict[str, str]:
    """Flow and task of the Prefect run this thread is in (only if Prefect is loaded)."""
    if "prefect.context" not in sys.modules:
        return {}
    from prefect.context import FlowRunContext, TaskRunContext

    found: dict[str, str] = {}
    flow_run = FlowRunContext.get()
    if flow_run is not None and flow_run.flow_run is not None:
        found["flow"] = flow_run.flow.name if flow_run.flow else flow_run.flow_run.name
        found["flow_run_id"] = str(flow_run.flow_run.id)
    task_run = TaskRunContext.get()
    if task_run is not None:
        found["task"] = task_run.task_run.name
    return found


class JsonLines(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601, ms), level, logger, flow, flow_run_id,
    task, target, message (and ``traceback`` on the DEBUG records that carry one)."""

    def __init__(self, fmt: str | None = None, datefmt: str | None = None, style: str = "%"):
        super().__init__()

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC)
        line: dict[str, object] = {
            "time": stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z",
            "level": record.levelname,
            "logger": record.name,
        }
        context = _run_context()
        line["flow"] = getattr(record, "flow_name", None) or context.get("flow")
        line["flow_run_id"] = getattr(record, "flow_run_id", None) or context.get("flow_run_id")
        line["task"] = getattr(record, "task_run_name", None) or context.get("task")
        line["target"] = getattr(record, "target", None) or _target.get()
        line["message"] = record.getMessage()
        if record.exc_info:
            line["traceback"] = "".join(traceback.format_exception(*record.exc_info))
        return json.dumps({k: v for k, v in line.items() if v}, default=str, ensure_ascii=False)


class _JsonLinesHandler(logging.StreamHandler):
    """Prefect's ``console`` handler in JSON mode: a plain stream handler (no Rich styling).

    It takes (and ignores) the ``styles`` Prefect's logging.yml passes its console handler. The
    leading underscore makes Prefect's ``setup_logging`` treat it as its own handler, not a
    user's, so re-running the setup keeps the root logger configured."""

    def __init__(self, stream=None, styles=None, **_ignored) -> None:
        super().__init__(stream if stream is not None else sys.stderr)


class TracebacksAtDebug(logging.Filter):
    """An error record keeps its message; its traceback is re-logged at DEBUG on
    :data:`TRACEBACK_LOGGER` (shown with ``--log-level debug``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.levelno > logging.DEBUG:
            exc_info = record.exc_info
            record.exc_info = None
            record.exc_text = None
            logging.getLogger(TRACEBACK_LOGGER).debug(
                "traceback of %r", record.getMessage()[:200], exc_info=exc_info
            )
        return True


def current_format() -> LogFormat:
    return _format


def configure(log_format: str = "text", level: str = "INFO") -> None:
    """Apply a log format and level to this process (before or after Prefect set up logging)."""
    global _format
    log_format = log_format.lower()
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, got {log_format!r}")
    _format = log_format  # type: ignore[assignment]
    if log_format == "json":
        os.environ["PREFECT_LOGGING_FORMATTERS_JSON_CLASS"] = f"{__name__}.JsonLines"
        os.environ["PREFECT_LOGGING_HANDLERS_CONSOLE_CLASS"] = f"{__name__}._JsonLinesHandler"
        os.environ["PREFECT_LOGGING_HANDLERS_CONSOLE_FORMATTER"] = "json"
        os.environ["PREFECT_LOGGING_HANDLERS_DEBUG_FORMATTER"] = "json"
    logging.getLogger("cryptobot").setLevel(level.upper())
    if "prefect.logging.configuration" in sys.modules:
        from prefect.logging.configuration import PROCESS_LOGGING_CONFIG, setup_logging

        if PROCESS_LOGGING_CONFIG and log_format == "json":
            setup_logging(incremental=False)
    elif log_format == "json" and not logging.getLogger().handlers:
        # a command that runs no flow: the same JSON lines from the standard library's root
        handler = _JsonLinesHandler()
        handler.setFormatter(JsonLines())
        logging.getLogger().addHandler(handler)


def error_line(message: str, exit_code: int) -> str:
    """A command's closing error as a JSON log line (``--log-format json``)."""
    stamp = datetime.now(UTC)
    return json.dumps(
        {
            "time": stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z",
            "level": "ERROR",
            "logger": "cryptobot.cli",
            "message": message,
            "exit_code": exit_code,
        },
        ensure_ascii=False,
    )
