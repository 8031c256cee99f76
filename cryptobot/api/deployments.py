"""The last run of each Prefect deployment, read from the Prefect server's REST API.

The core imports no Prefect (ARCHITECTURE, layers), and the API must not start a Prefect server:
it asks the one named by ``api.prefect_api_url`` (default ``PREFECT_API_URL``) with two POSTs
(``/deployments/filter``, ``/flow_runs/filter``), the same endpoints Prefect's own client calls.
Without a server the deployments' state is ``unknown``, and the readiness check says why.
Answers are kept for ``ttl`` seconds, so probes under load cost the server one call pair.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

#: run states that have started (a scheduled run is not a "last run")
STARTED = ["RUNNING", "COMPLETED", "FAILED", "CRASHED", "CANCELLED", "CANCELLING", "PAUSED"]


@dataclass(frozen=True)
class DeploymentRuns:
    #: "ok" (read), "unknown" (no server configured) or "unreachable"
    source: str
    detail: str
    deployments: list[dict[str, Any]] = field(default_factory=list)


def _time(value: str | None) -> datetime | None:
    return None if not value else datetime.fromisoformat(value.replace("Z", "+00:00"))


def fetch_deployment_runs(client: httpx.Client) -> list[dict[str, Any]]:
    """Each deployment with its newest started run (state, start, end, seconds)."""
    response = client.post("deployments/filter", json={"limit": 200})
    response.raise_for_status()
    deployments = response.json()
    ids = [d["id"] for d in deployments]
    latest: dict[str, dict] = {}
    if ids:
        response = client.post(
            "flow_runs/filter",
            json={
                "flow_runs": {
                    "deployment_id": {"any_": ids},
                    "state": {"type": {"any_": STARTED}},
                },
                "sort": "START_TIME_DESC",
                "limit": 200,
            },
        )
        response.raise_for_status()
        for run in response.json():
            latest.setdefault(run.get("deployment_id"), run)
    found = []
    for deployment in sorted(deployments, key=lambda d: d.get("name", "")):
        run = latest.get(deployment["id"])
        state = (run or {}).get("state") or {}
        found.append(
            {
                "name": deployment.get("name"),
                "paused": bool(deployment.get("paused", False)),
                "last_run": None if run is None else run.get("name"),
                "state": state.get("type") if run else None,
                "state_name": state.get("name") if run else None,
                "start_time": _time((run or {}).get("start_time")),
                "end_time": _time((run or {}).get("end_time")),
                "seconds": (run or {}).get("total_run_time"),
            }
        )
    return found


class DeploymentStatus:
    """Cached reads of the deployments' last runs from ``api_url`` (None: unknown)."""

    def __init__(
        self,
        api_url: str | None,
        *,
        ttl: float = 15.0,
        timeout: float = 2.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.api_url = api_url
        self.ttl = ttl
        self.timeout = timeout
        self.transport = transport
        self._cached: tuple[float, DeploymentRuns] | None = None
        self._lock = threading.Lock()

    def get(self) -> DeploymentRuns:
        if not self.api_url:
            return DeploymentRuns(
                "unknown", "no Prefect server configured (PREFECT_API_URL is not set)"
            )
        with self._lock:
            if self._cached is not None and time.monotonic() - self._cached[0] < self.ttl:
                return self._cached[1]
            result = self._read()
            self._cached = (time.monotonic(), result)
            return result

    def _read(self) -> DeploymentRuns:
        base = self.api_url.rstrip("/") + "/"
        try:
            with httpx.Client(
                base_url=base, timeout=self.timeout, transport=self.transport
            ) as client:
                return DeploymentRuns("ok", f"read from {base}", fetch_deployment_runs(client))
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            return DeploymentRuns(
                "unreachable",
                f"the Prefect server at {base} could not be read ({type(exc).__name__}): "
                "the deployments' last runs are unknown",
            )
