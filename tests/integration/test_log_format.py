"""`--log-format json` on a real flow run: every stderr line is one JSON object with the run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_flow_logs_json_lines_with_its_run_and_target(prefect_harness, tmp_path):
    from prefect.settings import PREFECT_API_URL

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CRYPTOBOT_")},
        "CRYPTOBOT_DATA_DIR": str(tmp_path),
        "PREFECT_API_URL": PREFECT_API_URL.value(),
    }
    command = [sys.executable, "-m", "cryptobot.cli", "--log-format", "json"]
    done = subprocess.run(
        [*command, "ingest", "--source", "simulator", "--days", "2", "--symbols", "BTC/USDT"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    assert lines, "no log line"
    runs = {line.get("flow_run_id") for line in lines if line["logger"].startswith("prefect")}
    assert len(runs) == 1 and None not in runs
    assert any("market_data: 48 rows" in line["message"] for line in lines)
    assert {line["flow"] for line in lines if "flow" in line} == {"ingest"}
    assert "ingest done" in done.stdout  # the result stays on stdout, for people and pipes
