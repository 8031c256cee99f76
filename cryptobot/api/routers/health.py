"""``/health/live`` (no token: the process answers) and ``/health/ready`` (the warehouse is
readable through a fresh snapshot, the newest bar of each series and its age, and the last run
of each Prefect deployment)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response

from cryptobot.api import reads
from cryptobot.api.app import Token, cached, deployment_runs, snapshot_info, state_of
from cryptobot.api.schemas import Deployments, Liveness, Problem, Readiness, SnapshotInfo
from cryptobot.config import ApiSettings
from cryptobot.errors import CryptobotError

#: a snapshot older than this many refresh intervals makes the API not ready
STALE_INTERVALS = 30


def router(config: ApiSettings) -> APIRouter:
    api = APIRouter(prefix="/health", tags=["health"])

    @api.get("/live", response_model=Liveness, summary="Liveness: the process answers")
    def live() -> Liveness:
        return Liveness()

    @api.get(
        "/ready",
        response_model=Readiness,
        responses={401: {"model": Problem}, 429: {"model": Problem}, 503: {"model": Readiness}},
        summary="Readiness: warehouse readable, newest bar age per series, deployments' last runs",
    )
    async def ready(request: Request, response: Response, _: Token) -> Readiness:
        """Ready (200) when the API holds a snapshot of the warehouse that is readable and no
        older than 30 refresh intervals; else 503 with the reason in `detail`. Bar ages and the
        deployments' last runs are reported either way and do not decide readiness."""
        state = state_of(request)
        deployments = await deployment_runs(state)
        dep = Deployments(
            source=deployments.source,
            detail=deployments.detail,
            deployments=deployments.deployments,
        )
        try:
            with state.snapshots.reading() as snapshot:
                newest = await cached(
                    snapshot, ("newest_bars",), lambda: reads.newest_bars(snapshot.cursor())
                )
                series = reads.bar_ages(newest, datetime.now(UTC))
                info = snapshot_info(snapshot)
                age = round(snapshot.age_seconds(), 3)
        except CryptobotError as exc:
            response.status_code = 503
            return Readiness(
                snapshot=SnapshotInfo(),
                ready=False,
                warehouse_readable=False,
                detail=str(exc),
                series=[],
                deployments=dep,
            )
        limit = STALE_INTERVALS * config.snapshot_interval
        stale = age > limit
        detail = "ok"
        if stale:
            response.status_code = 503
            detail = (
                f"the snapshot is {age:.0f} s old (over {limit:.0f} s): "
                f"{state.snapshots.last_error or 'a writer has held the warehouse since'}"
            )
        return Readiness(
            snapshot=info,
            snapshot_as_of=snapshot.verified_at,
            snapshot_age_seconds=age,
            ready=not stale,
            warehouse_readable=True,
            detail=detail,
            series=series,
            deployments=dep,
        )

    return api
