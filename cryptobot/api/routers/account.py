"""The warehouse summary and the trading account: ``/status``, ``/positions``, ``/equity``,
``/orders``, ``/trades`` (the last three paged and filtered)."""

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from cryptobot.api import reads
from cryptobot.api.app import Snap, Token, naive_utc, respond, snapshot_info
from cryptobot.api.schemas import EquityPage, OrderPage, Positions, Problem, Status, TradePage
from cryptobot.api.snapshot import Snapshot
from cryptobot.config import ACCOUNT_PATTERN, ApiSettings
from cryptobot.readmodel import AccountFilters
from cryptobot.trading.orders import OrderStatus

Mode = Annotated[Literal["paper", "live"], Query(description="the account's mode")]
AccountName = Annotated[
    str,
    Query(
        pattern=ACCOUNT_PATTERN.pattern,
        description="the account's name (`cryptobot account list`)",
        examples=["default"],
    ),
]
Symbol = Annotated[
    str | None, Query(max_length=40, description="one market, e.g. BTC/USDT", examples=["BTC/USDT"])
]
Side = Annotated[Literal["buy", "sell"] | None, Query(description="buy or sell")]
Start = Annotated[datetime | None, Query(description="from this UTC time (inclusive)")]
End = Annotated[datetime | None, Query(description="until this UTC time (exclusive)")]
ERRORS = {401: {"model": Problem}, 429: {"model": Problem}, 503: {"model": Problem}}


def router(config: ApiSettings) -> APIRouter:
    api = APIRouter(tags=["account"], responses=ERRORS)
    Limit = Annotated[int, Query(ge=1, le=config.max_page_size, description="rows per page")]
    Offset = Annotated[int, Query(ge=0, le=10**9, description="rows to skip")]

    async def paged(snap: Snap, read, model, wanted: AccountFilters, limit, offset) -> Response:
        """One page of ``read``'s rows as ``model``, answered from the snapshot's cache."""

        def build(snap: Snapshot):
            page = read(snap.cursor(), wanted, limit, offset)
            return model(snapshot=snapshot_info(snap), **vars(page), next_offset=page.next_offset)

        return await respond(snap, (read.__name__, wanted, limit, offset), build)

    def filters(mode, account, symbol, side, status, start, end) -> AccountFilters:
        return AccountFilters(
            mode=mode,
            account=account,
            symbols=(symbol,) if symbol is not None else (),
            sides=(side,) if side is not None else (),
            statuses=(str(status),) if status is not None else (),
            start=naive_utc(start, "start"),
            end=naive_utc(end, "end"),
        )

    @api.get("/status", response_model=Status, summary="What the warehouse holds")
    async def status(snap: Snap, _: Token) -> Response:
        """Bars, series, the newest bar, counts of predictions, decisions, orders, fills and
        backtests, and each account's latest equity."""

        def build(snap: Snapshot) -> Status:
            found = snap.memo(("status",), lambda: reads.summary(snap.cursor()))
            return Status(snapshot=snapshot_info(snap), **found)

        return await respond(snap, ("status/json",), build)

    @api.get("/positions", response_model=Positions, summary="Open and closed positions")
    async def positions(
        snap: Snap, _: Token, mode: Mode = "paper", account: AccountName = "default"
    ) -> Response:
        """Each market's position in the account, largest first, marked at the latest equity
        row's price (`unrealized_pnl`); realised P&L and fees to date."""

        def build(snap: Snapshot) -> Positions:
            found = reads.positions(snap.cursor(), mode, account)
            return Positions(snapshot=snapshot_info(snap), mode=mode, items=found)

        return await respond(snap, ("positions", mode, account), build)

    @api.get("/equity", response_model=EquityPage, summary="The account's equity curve")
    async def equity(
        snap: Snap,
        _: Token,
        mode: Mode = "paper",
        account: AccountName = "default",
        start: Start = None,
        end: End = None,
        limit: Limit = 500,
        offset: Offset = 0,
    ) -> Response:
        """Marks at each decision time, newest first, paged."""
        wanted = filters(mode, account, None, None, None, start, end)

        return await paged(snap, reads.equity, EquityPage, wanted, limit, offset)

    @api.get("/orders", response_model=OrderPage, summary="Orders, newest first")
    async def orders(
        snap: Snap,
        _: Token,
        mode: Mode = "paper",
        account: AccountName = "default",
        symbol: Symbol = None,
        side: Side = None,
        status: Annotated[OrderStatus | None, Query(description="order state")] = None,
        start: Start = None,
        end: End = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> Response:
        """Every order of the account with its current state, filtered by market, side,
        state and decision time, paged."""
        wanted = filters(mode, account, symbol, side, status, start, end)

        return await paged(snap, reads.orders, OrderPage, wanted, limit, offset)

    @api.get("/trades", response_model=TradePage, summary="Fills, newest first")
    async def trades(
        snap: Snap,
        _: Token,
        mode: Mode = "paper",
        account: AccountName = "default",
        symbol: Symbol = None,
        side: Side = None,
        start: Start = None,
        end: End = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> Response:
        """Every fill of the account with its costs (fee, spread, slippage), filtered by
        market, side and fill time, paged."""
        wanted = filters(mode, account, symbol, side, None, start, end)

        return await paged(snap, reads.trades, TradePage, wanted, limit, offset)

    return api
