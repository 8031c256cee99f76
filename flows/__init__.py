"""Prefect flows: thin orchestration over the `cryptobot` core package.

Each flow is one CLI command (`cryptobot <command>` runs the flow of the same name) and one
deployment in prefect.yaml. Flows choose tasks, retries and logging; the logic lives in
`cryptobot` as plain functions.
"""

import os

# Offline by default: no usage analytics from the tools the flows drive.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "False")
# The core package logs with the standard library (e.g. ccxt retries): show it in flow run logs.
os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "cryptobot")


def _log_format_from_settings() -> None:
    """A flow run started by a worker (not the CLI) honours ``CRYPTOBOT_LOG_FORMAT`` and
    ``CRYPTOBOT_LOG_LEVEL`` (and the config file's ``log_format``) too."""
    if not any(name in os.environ for name in ("CRYPTOBOT_LOG_FORMAT", "CRYPTOBOT_LOG_LEVEL")):
        return
    from cryptobot import logs
    from cryptobot.config import load_settings
    from cryptobot.errors import ConfigError

    try:
        settings = load_settings()
    except ConfigError:  # the flow itself reports a bad configuration
        return
    logs.configure(settings.log_format, settings.log_level)


_log_format_from_settings()
