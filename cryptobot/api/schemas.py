"""The API's response models: what each endpoint returns, as the OpenAPI schema shows it.

Times are UTC (ISO 8601 with offset); money is quote currency, amounts base currency, as in the
warehouse. Every response carries ``snapshot``: when its data was last known to equal the
warehouse.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class SnapshotInfo(BaseModel):
    """Which snapshot of the warehouse answered. How old its data may be is the header
    ``X-Snapshot-Age`` of every response: seconds, at sending, since the snapshot was last
    known to equal the warehouse (its copy, or a later check that found nothing committed)."""

    generation: int | None = Field(None, description="snapshot copy number since the API started")
    copied_at: datetime | None = Field(None, description="when the snapshot was copied")


class Envelope(BaseModel):
    snapshot: SnapshotInfo


class PageInfo(Envelope):
    total: int = Field(description="rows matching the filters")
    limit: int
    offset: int
    next_offset: int | None = Field(None, description="offset of the next page; null at the end")


class Liveness(BaseModel):
    status: Literal["ok"] = "ok"


class SeriesAge(BaseModel):
    exchange: str
    symbol: str
    timeframe: str
    last_bar_ts: datetime = Field(description="open time of the newest stored bar")
    bar_age_seconds: float = Field(description="seconds since the newest bar closed")
    is_simulated: bool


class DeploymentRun(BaseModel):
    name: str | None
    paused: bool
    last_run: str | None
    state: str | None = Field(None, description="Prefect state type of the newest started run")
    state_name: str | None
    start_time: datetime | None
    end_time: datetime | None
    seconds: float | None


class Deployments(BaseModel):
    source: Literal["ok", "unknown", "unreachable"]
    detail: str
    deployments: list[DeploymentRun]


class Readiness(Envelope):
    ready: bool
    snapshot_as_of: datetime | None = Field(
        None, description="last time the snapshot was known to equal the warehouse"
    )
    snapshot_age_seconds: float | None = Field(None, description="seconds since snapshot_as_of")
    warehouse_readable: bool
    detail: str
    series: list[SeriesAge]
    deployments: Deployments


class Account(BaseModel):
    mode: str
    equity: float | None
    last_ts: datetime | None
    marks: int
    max_drawdown: float | None
    is_simulated: bool | None


class Status(Envelope):
    bars: int
    series: int
    last_bar_ts: datetime | None
    is_simulated: bool = Field(description="true when any stored market data is simulated")
    predictions: int
    decisions: int
    orders: int
    fills: int
    backtests: int = Field(description="stored backtests (main runs; their legs not counted)")
    accounts: list[Account]


class Position(BaseModel):
    exchange: str
    symbol: str
    amount: float = Field(description="signed base amount (negative: short)")
    avg_price: float | None
    last_price: float | None
    value: float | None
    unrealized_pnl: float | None
    realized_pnl: float
    fees: float
    opened_at: datetime | None
    updated_at: datetime
    is_simulated: bool


class Positions(Envelope):
    mode: str
    items: list[Position]


class EquityPoint(BaseModel):
    ts: datetime = Field(description="decision time (a bar close)")
    cash: float
    positions_value: float
    equity: float
    gross_exposure: float
    peak_equity: float
    drawdown: float
    day_start_equity: float
    daily_pnl: float
    is_simulated: bool


class EquityPage(PageInfo):
    items: list[EquityPoint]


class Order(BaseModel):
    client_order_id: str
    created_at: datetime = Field(description="the decision time")
    updated_at: datetime
    strategy: str
    exchange: str
    symbol: str
    timeframe: str
    bar_ts: datetime
    side: str
    order_type: str
    amount: float
    status: str
    filled: float
    average_price: float | None
    fee: float
    exchange_order_id: str | None
    decision_id: str
    reason: str | None
    is_simulated: bool


class OrderPage(PageInfo):
    items: list[Order]


class Trade(BaseModel):
    id: str
    client_order_id: str
    ts: datetime = Field(description="fill time")
    strategy: str | None
    exchange: str
    symbol: str
    timeframe: str | None
    bar_ts: datetime | None
    side: str
    amount: float
    price: float
    notional: float
    fee: float
    fee_currency: str | None
    reference_price: float | None
    spread_cost: float | None
    slippage_cost: float | None
    is_simulated: bool


class TradePage(PageInfo):
    items: list[Trade]


class Prediction(BaseModel):
    model_name: str
    model_version: str
    family: str | None
    exchange: str | None
    symbol: str
    timeframe: str
    ts: datetime = Field(description="open time of the bar predicted from")
    horizon: int | None
    predicted: float = Field(description="forecast log return over the horizon")
    prob_up: float | None
    direction: int | None
    confidence: float | None
    actual: float | None = Field(None, description="realised log return, once known")
    correct: bool | None
    created_at: datetime
    resolved_at: datetime | None
    is_simulated: bool


class PredictionPage(PageInfo):
    items: list[Prediction]


class RegisteredModel(BaseModel):
    name: str
    champion_version: str | None = Field(None, description="version holding the champion alias")
    latest_version: str | None
    versions: int
    exchange: str | None
    symbol: str | None
    timeframe: str | None
    horizon: str | None
    is_simulated: bool
    created_at: datetime | None
    updated_at: datetime | None


class Models(Envelope):
    registry: str = Field(description="where the registry was read, or why it could not be")
    items: list[RegisteredModel]


class BacktestRun(BaseModel):
    run_id: str
    parent_id: str | None
    role: str
    label: str
    strategy: str
    exchange: str
    timeframe: str
    symbols: str
    start_ts: datetime
    end_ts: datetime
    bars: int
    capital: float
    fee: float
    spread: float
    slippage: float
    impact: float
    in_sample: bool = Field(description="some predictions came from a model that saw the bar")
    is_simulated: bool
    models: str | None
    created_at: datetime
    seconds: float | None
    total_return: float | None
    sharpe: float | None
    max_drawdown: float | None
    trades: float | None


class BacktestSummary(BacktestRun):
    legs: int


class BacktestPage(PageInfo):
    items: list[BacktestSummary]


class BacktestLeg(BacktestRun):
    metrics: dict[str, float | None]


class BacktestDetail(BacktestLeg):
    legs: list[BacktestLeg]


class BacktestResponse(Envelope):
    run: BacktestDetail


class SeriesQuality(BaseModel):
    exchange: str
    symbol: str
    timeframe: str
    sources: str
    first_ts: datetime
    last_ts: datetime
    rows: int
    missing_bars: int
    gaps: int
    is_simulated: bool


class Validation(BaseModel):
    table_name: str
    exchange: str | None
    symbol: str | None
    timeframe: str | None
    success: bool
    rows: int
    gaps: int | None
    failures: str | None
    run_at: datetime


class QuarantineGroup(BaseModel):
    table_name: str
    reason: str
    rows: int
    last_quarantined_at: datetime | None


class Batch(BaseModel):
    id: str
    source: str
    table_name: str
    symbol: str
    rows: int
    rows_inserted: int
    rows_updated: int
    rows_quarantined: int
    status: str
    started_at: datetime


class Quality(Envelope):
    series: list[SeriesQuality]
    validation: list[Validation]
    quarantine: list[QuarantineGroup]
    batches: list[Batch]


class Problem(BaseModel):
    """An error: what was wrong and what to do."""

    detail: str
