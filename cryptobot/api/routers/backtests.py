"""Stored backtests: ``/backtests`` (main runs, paged, filtered) and ``/backtests/{run_id}``
(one run with every metric and its comparison legs)."""

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Response
from fastapi.concurrency import run_in_threadpool

from cryptobot.api import reads
from cryptobot.api.app import Snap, Token, respond, snapshot_info
from cryptobot.api.schemas import BacktestPage, BacktestResponse, Problem
from cryptobot.api.snapshot import Snapshot
from cryptobot.config import ApiSettings

ERRORS = {401: {"model": Problem}, 429: {"model": Problem}, 503: {"model": Problem}}


def router(config: ApiSettings) -> APIRouter:
    api = APIRouter(prefix="/backtests", tags=["backtests"], responses=ERRORS)
    Limit = Annotated[int, Query(ge=1, le=config.max_page_size, description="rows per page")]
    Offset = Annotated[int, Query(ge=0, le=10**9, description="rows to skip")]

    @api.get("", response_model=BacktestPage, summary="Stored backtests, newest first")
    async def backtests(
        snap: Snap,
        _: Token,
        strategy: Annotated[str | None, Query(max_length=100, examples=["long_flat"])] = None,
        symbol: Annotated[str | None, Query(max_length=40, examples=["BTC/USDT"])] = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> Response:
        """Each backtest's main run with its headline after-cost metrics (total return,
        Sharpe, max drawdown, trades) and the number of comparison legs; filtered by strategy
        and by a symbol it trades, paged."""

        def build(snap: Snapshot) -> BacktestPage:
            page = reads.backtests(snap.cursor(), strategy, symbol, limit, offset)
            return BacktestPage(
                snapshot=snapshot_info(snap), **vars(page), next_offset=page.next_offset
            )

        return await respond(snap, ("backtests", strategy, symbol, limit, offset), build)

    @api.get(
        "/{run_id}",
        response_model=BacktestResponse,
        responses={404: {"model": Problem}},
        summary="One backtest with all its metrics and legs",
    )
    async def backtest(
        snap: Snap, _: Token, run_id: Annotated[str, Path(max_length=200)]
    ) -> Response:
        """The run `run_id` with every after-cost metric, and its comparison legs
        (buy-and-hold, the baselines) when it is a main run."""
        found = snap.peek(("backtest", run_id))
        if found is None:
            found = await run_in_threadpool(
                snap.memo, ("backtest", run_id), lambda: reads.backtest(snap.cursor(), run_id) or {}
            )
        if not found:
            raise HTTPException(404, f"no stored backtest run {run_id!r}: see GET /backtests")
        return await respond(
            snap,
            ("backtest/json", run_id),
            lambda snap: BacktestResponse(snapshot=snapshot_info(snap), run=found),
            warm=False,  # a run's answer is built from this snapshot's read only
        )

    return api
