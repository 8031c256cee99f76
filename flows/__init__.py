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
