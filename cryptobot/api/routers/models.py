"""Predictions and the model registry: ``/predictions`` (paged, filtered), ``/models`` (each
registered model with the version holding the ``champion`` alias)."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from cryptobot.api import reads
from cryptobot.api.app import Snap, Token, naive_utc, respond, snapshot_info, state_of
from cryptobot.api.schemas import Models, PredictionPage, Problem
from cryptobot.api.snapshot import Snapshot
from cryptobot.config import ApiSettings
from cryptobot.warehouse.db import file_version

ERRORS = {401: {"model": Problem}, 429: {"model": Problem}, 503: {"model": Problem}}


def router(config: ApiSettings) -> APIRouter:
    api = APIRouter(tags=["models"], responses=ERRORS)
    Limit = Annotated[int, Query(ge=1, le=config.max_page_size, description="rows per page")]
    Offset = Annotated[int, Query(ge=0, le=10**9, description="rows to skip")]

    @api.get("/predictions", response_model=PredictionPage, summary="Stored predictions")
    async def predictions(
        snap: Snap,
        _: Token,
        model_name: Annotated[
            str | None, Query(max_length=200, examples=["simulator.BTC-USDT.1h.h1"])
        ] = None,
        symbol: Annotated[str | None, Query(max_length=40, examples=["BTC/USDT"])] = None,
        timeframe: Annotated[str | None, Query(max_length=10, examples=["1h"])] = None,
        start: Annotated[datetime | None, Query(description="bars from (UTC, inclusive)")] = None,
        end: Annotated[datetime | None, Query(description="bars until (UTC, exclusive)")] = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> Response:
        """Each prediction with its outcome once known (`actual`, `correct`), newest bar
        first, filtered by model, market, timeframe and bar time, paged."""
        wanted = reads.PredictionFilters(
            model_name, symbol, timeframe, naive_utc(start, "start"), naive_utc(end, "end")
        )

        def build(snap: Snapshot) -> PredictionPage:
            page = reads.predictions(snap.cursor(), wanted, limit, offset)
            return PredictionPage(
                snapshot=snapshot_info(snap), **vars(page), next_offset=page.next_offset
            )

        return await respond(snap, ("predictions", wanted, limit, offset), build)

    @api.get("/models", response_model=Models, summary="Registered models and their champions")
    async def models(request: Request, snap: Snap, _: Token) -> Response:
        """Every model in the MLflow registry with the version holding the `champion` alias
        (the one trading uses), its newest version and its market. Read from the embedded
        SQLite store; for a tracking server the list is empty and `registry` says why."""
        settings = state_of(request).settings
        store = reads.registry_path(settings.tracking_uri)
        version = file_version(store) if store is not None else ()

        def build(snap: Snapshot) -> Models:
            if store is None:
                where = (
                    f"{settings.tracking_uri} is not an embedded SQLite store: see the MLflow UI"
                )
                return Models(snapshot=snapshot_info(snap), registry=where, items=[])
            if not store.is_file():
                where = f"no MLflow store at {store} yet (run `cryptobot train`)"
                return Models(snapshot=snapshot_info(snap), registry=where, items=[])
            items = reads.registered_models(store)
            return Models(snapshot=snapshot_info(snap), registry=str(store), items=items)

        return await respond(snap, ("models", version), build)

    return api
