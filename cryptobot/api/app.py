"""The FastAPI application: ``create_app(settings)``.

Every endpoint but liveness (``/health/live``) needs ``Authorization: Bearer <token>`` (tokens
from ``cryptobot api token create``); each token is rate limited (``api.rate_limit_*``), CORS is
off unless ``api.cors_origins`` names origins, and every response says how old its data may be
(``X-Snapshot-Age`` header and the body's ``snapshot``). Reads go to the snapshot of the warehouse
(:mod:`cryptobot.api.snapshot`), never to the live file a flow may be writing.
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from cryptobot import __version__
from cryptobot.api.deployments import DeploymentStatus
from cryptobot.api.metrics import ApiMetrics
from cryptobot.api.ratelimit import RateLimiter, retry_after
from cryptobot.api.schemas import SnapshotInfo
from cryptobot.api.snapshot import Snapshot, Snapshots
from cryptobot.api.tokens import TokenInfo, TokenTable
from cryptobot.config import ApiSettings, Settings
from cryptobot.errors import CryptobotError


@dataclass
class ApiState:
    settings: Settings
    snapshots: Snapshots
    tokens: TokenTable
    limiter: RateLimiter
    deployments: DeploymentStatus
    metrics: ApiMetrics

    @property
    def config(self) -> ApiSettings:
        return self.settings.api


def snapshot_folder(settings: Settings) -> Path:
    """Where the snapshot copies live: ``api.snapshot_dir``, else ``<data_dir>/api``."""
    return settings.api.snapshot_dir or settings.data_dir.resolve() / "api"


def prefect_api_url(settings: Settings) -> str | None:
    """``api.prefect_api_url``, else Prefect's own ``PREFECT_API_URL`` (the variable its
    client reads; the API reads it here only)."""
    return settings.api.prefect_api_url or os.environ.get("PREFECT_API_URL") or None


def build_state(settings: Settings, *, deployments: DeploymentStatus | None = None) -> ApiState:
    config = settings.api
    tokens = TokenTable()
    snapshots = Snapshots(
        settings.warehouse,
        snapshot_folder(settings),
        interval=config.snapshot_interval,
        lock_timeout=config.snapshot_lock_timeout,
        on_copy=lambda snap: tokens.load(snap.cursor()),
        before_copy=lambda: tokens.flush(settings.warehouse, timeout=config.snapshot_lock_timeout),
        pending=tokens.has_pending,
    )
    return ApiState(
        settings=settings,
        snapshots=snapshots,
        tokens=tokens,
        limiter=RateLimiter(config.rate_limit_per_second, config.rate_limit_burst),
        deployments=deployments or DeploymentStatus(prefect_api_url(settings)),
        metrics=ApiMetrics(),
    )


def state_of(request: Request) -> ApiState:
    return request.app.state.api


_bearer = HTTPBearer(
    auto_error=False,
    description="A token from `cryptobot api token create --name NAME`.",
)


async def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> TokenInfo:
    """The caller's active token; 401 without one, 429 over its rate limit."""
    state = state_of(request)
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            401,
            "missing bearer token: send `Authorization: Bearer <token>` (create one with "
            "`cryptobot api token create --name NAME`)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    info = state.tokens.check(credentials.credentials)
    if info is None:
        raise HTTPException(
            401,
            "unknown or revoked token (a new token is accepted once the API's snapshot has it, "
            "within a few seconds of its creation)",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    wait = state.limiter.take(info.token_id)
    if wait > 0:
        state.metrics.rate_limited.labels(token=info.name).inc()
        raise HTTPException(
            429,
            f"rate limit of token {info.name!r} exceeded "
            f"({state.config.rate_limit_per_second:g} requests/s, bursts of "
            f"{state.config.rate_limit_burst}): retry after the Retry-After seconds",
            headers={"Retry-After": retry_after(wait)},
        )
    return info


async def current_snapshot(request: Request) -> AsyncIterator[Snapshot]:
    """The snapshot a request reads, kept open until the request is done."""
    with state_of(request).snapshots.reading() as snapshot:
        yield snapshot


Token = Annotated[TokenInfo, Depends(require_token)]
Snap = Annotated[Snapshot, Depends(current_snapshot)]


def snapshot_info(snapshot: Snapshot) -> SnapshotInfo:
    return SnapshotInfo(generation=snapshot.generation, copied_at=snapshot.copied_at)


async def respond(
    snapshot: Snapshot,
    key: tuple,
    build: Callable[[Snapshot], BaseModel],
    *,
    warm: bool = True,
) -> Response:
    """``build(snapshot)``'s JSON, made once per snapshot: every answer to ``key`` from one
    snapshot is the same bytes (the header ``X-Snapshot-Age`` says the age at sending). A miss
    runs in the thread pool, so a query never blocks the event loop. With ``warm`` the key is
    remembered, and the next snapshot renders it before it is served (:mod:`.snapshot`)."""
    body = snapshot.peek(key)
    if body is None:
        body = await run_in_threadpool(snapshot.render, key, build)
    if warm:
        snapshot.remember(key, build)
    return Response(
        body,
        media_type="application/json",
        headers={_GENERATION.decode(): str(snapshot.generation)},
    )


async def cached(snapshot: Snapshot, key: tuple, compute: Callable[[], Any]) -> Any:
    """``compute()`` memoised on ``snapshot``; a miss runs in the thread pool."""
    found = snapshot.peek(key)
    if found is None:
        found = await run_in_threadpool(snapshot.memo, key, compute)
    return found


async def deployment_runs(state: ApiState):
    """The deployments' last runs (a Prefect call, when due, in the thread pool)."""
    if not state.deployments.api_url:
        return state.deployments.get()
    return await run_in_threadpool(state.deployments.get)


#: internal header: the generation a response's body was rendered from (never sent)
_GENERATION = b"x-cryptobot-generation"
#: answers kept for the fast path (each valid for one snapshot generation)
FAST_ANSWERS = 1024


class _Measure:
    """ASGI middleware in front of FastAPI (plain ASGI: no per-request task).

    - Each request's latency per route goes into the metrics, and the snapshot's age at sending
      into an ``X-Snapshot-Age`` header.
    - The fast path: a GET whose exact path and query string FastAPI answered 200 from the
      current snapshot (a body rendered by :func:`respond`) is answered again with the same
      bytes without routing, validation or serialisation, once the same bearer check and rate
      limit as :func:`require_token` pass. Anything else (no token, a bad one, over the limit,
      a new snapshot) goes through FastAPI, which says what is wrong.
    """

    def __init__(self, app, state: ApiState) -> None:
        self.app = app
        self.state = state
        self.answers: OrderedDict[tuple, tuple[int, str, bytes]] = OrderedDict()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        snapshot = self.state.snapshots.current
        key = (scope["path"], scope["query_string"])
        if scope["method"] == "GET" and snapshot is not None:
            cached = self.answers.get(key)
            if cached is not None and cached[0] == snapshot.generation and self._allowed(scope):
                await self._answer(send, cached[2], snapshot)
                self.state.metrics.observe("GET", cached[1], 200, time.perf_counter() - started)
                return
        status, generation, body = 500, None, b""

        async def sending(message) -> None:
            nonlocal status, generation, body
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = []
                for name, value in message.get("headers", ()):
                    if name == _GENERATION:
                        generation = int(value)
                    else:
                        headers.append((name, value))
                now = self.state.snapshots.current
                if now is not None:
                    headers.append((b"x-snapshot-age", f"{now.age_seconds():.3f}".encode()))
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body" and generation is not None:
                body += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.state.metrics.observe(
                scope["method"], route, status, time.perf_counter() - started
            )
        if status == 200 and generation is not None and scope["method"] == "GET":
            self.answers[key] = (generation, route, body)
            self.answers.move_to_end(key)
            while len(self.answers) > FAST_ANSWERS:
                self.answers.popitem(last=False)

    def _allowed(self, scope) -> bool:
        """The bearer check and rate limit of :func:`require_token`, for the fast path; False
        leaves the request to FastAPI (a refused take consumes nothing)."""
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                if scheme.lower() != "bearer":
                    return False
                info = self.state.tokens.check(token.strip())
                return info is not None and self.state.limiter.take(info.token_id) == 0
        return False

    @staticmethod
    async def _answer(send, body: bytes, snapshot: Snapshot) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"x-snapshot-age", f"{snapshot.age_seconds():.3f}".encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def naive_utc(value: datetime | None, name: str) -> datetime | None:
    """A query's time as the warehouse's naive UTC (an offset-less time is taken as UTC)."""
    if value is None or value.tzinfo is None:
        return value
    try:
        return value.astimezone(UTC).replace(tzinfo=None)
    except (OverflowError, ValueError) as exc:
        raise HTTPException(
            422, f"{name} {value.isoformat()} cannot be read as UTC: {exc}"
        ) from None


def create_app(
    settings: Settings,
    *,
    state: ApiState | None = None,
    background: bool = True,
) -> FastAPI:
    """The API on ``settings``' warehouse. On startup the warehouse is migrated and a first
    snapshot made; with ``background`` a thread refreshes it every ``api.snapshot_interval``."""
    state = state or build_state(settings)
    config = settings.api

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if state.snapshots.current is None:
            state.snapshots.prepare()
        if background:
            state.snapshots.start()
        try:
            yield
        finally:
            state.snapshots.stop()

    app = FastAPI(
        title="cryptobot API",
        version=__version__,
        summary="Read-only REST API of the cryptobot warehouse: health, status, positions, "
        "equity, orders, trades, predictions, models, backtests, data quality, metrics.",
        description=(
            "Every endpoint but `/health/live` needs `Authorization: Bearer <token>` "
            "(`cryptobot api token create --name NAME`). Data comes from a read-only snapshot "
            "of the warehouse refreshed every few seconds; each response says its age "
            "(`snapshot.age_seconds`, header `X-Snapshot-Age`). Times are UTC."
        ),
        lifespan=lifespan,
        docs_url="/docs" if config.docs_public else None,
        redoc_url=None,
        openapi_url="/openapi.json" if config.docs_public else None,
    )
    app.state.api = state

    @app.exception_handler(CryptobotError)
    async def _project_error(_: Request, exc: CryptobotError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503)

    app.add_middleware(_Measure, state=state)

    if config.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=config.cors_origins,
            allow_methods=["GET"],
            allow_headers=["Authorization"],
        )

    from cryptobot.api.routers import account, backtests, health, metrics, models, quality

    for module in (health, account, models, backtests, quality, metrics):
        app.include_router(module.router(config))
    return app
