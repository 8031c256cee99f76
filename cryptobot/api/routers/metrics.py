"""``/metrics``: Prometheus text format (see :mod:`cryptobot.api.metrics` for what is in it)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from cryptobot.api import reads
from cryptobot.api.app import Token, cached, deployment_runs, state_of
from cryptobot.api.metrics import warehouse_gauges
from cryptobot.api.schemas import Problem
from cryptobot.config import ApiSettings
from cryptobot.errors import CryptobotError

ERRORS = {401: {"model": Problem}, 429: {"model": Problem}}


def router(config: ApiSettings) -> APIRouter:
    api = APIRouter(tags=["metrics"], responses=ERRORS)

    @api.get(
        "/metrics",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
        summary="Prometheus metrics",
    )
    async def metrics(request: Request, _: Token) -> Response:
        """Bar age per series, the snapshot's age, ingest batch and flow run durations, order
        latency from decision (and from sending) to the exchange's acknowledgement, API
        request latency per route (histogram) and rate-limited requests, in Prometheus' text
        format. Scrape it with `authorization: {credentials: <token>}` in Prometheus' config."""
        state = state_of(request)
        now = datetime.now(UTC)
        try:
            with state.snapshots.reading() as snap:
                newest = await cached(
                    snap, ("newest_bars",), lambda: reads.newest_bars(snap.cursor())
                )
                ingest = await cached(
                    snap, ("ingest_durations",), lambda: reads.ingest_durations(snap.cursor())
                )
                latency = await cached(
                    snap, ("order_latency",), lambda: reads.order_latency(snap.cursor())
                )
                ages, snapshot_age = reads.bar_ages(newest, now), snap.age_seconds(now)
        except CryptobotError:
            ages, ingest, snapshot_age, latency = [], [], None, []
        flows = (await deployment_runs(state)).deployments
        body = state.metrics.exposition(
            warehouse_gauges(
                ages, snapshot_age, ingest, flows, state.snapshots.status(), latency=latency
            )
        )
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return api
