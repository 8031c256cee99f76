"""``/quality``: series coverage and gaps, the newest validation per series, quarantine and the
newest ingest batches (the definitions of ``cryptobot status``)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from cryptobot.api import reads
from cryptobot.api.app import Snap, Token, respond, snapshot_info
from cryptobot.api.schemas import Problem, Quality
from cryptobot.api.snapshot import Snapshot
from cryptobot.config import ApiSettings

ERRORS = {401: {"model": Problem}, 429: {"model": Problem}, 503: {"model": Problem}}


def router(config: ApiSettings) -> APIRouter:
    api = APIRouter(tags=["quality"], responses=ERRORS)

    @api.get("/quality", response_model=Quality, summary="Data quality")
    async def quality(snap: Snap, _: Token) -> Response:
        """Per series: bars, first and last bar, missing bars and gaps; the newest quality
        validation of each series (passed or not, failures); quarantined rows by table and
        reason; the 20 newest ingest batches."""

        def build(snap: Snapshot) -> Quality:
            found = snap.memo(("quality",), lambda: reads.quality(snap.cursor()))
            return Quality(snapshot=snapshot_info(snap), **found)

        return await respond(snap, ("quality/json",), build)

    return api
