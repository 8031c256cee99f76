"""`cryptobot api`: serve the read-only REST API and manage its tokens.

The work is in :mod:`cryptobot.api` (the app, its snapshot of the warehouse, the tokens); this
module parses options and prints results. A token is printed once, when it is created, and never
again: only its SHA-256 is stored.
"""

from __future__ import annotations

from typing import Annotated

import typer

from cryptobot.cli import _fail, _run, app, console, err_console
from cryptobot.config import load_settings
from cryptobot.errors import ApiError, CryptobotError

api_app = typer.Typer(
    help=(
        "The read-only REST API: `cryptobot api serve` answers on http://127.0.0.1:8000 "
        "(OpenAPI docs at /docs) with health, status, positions, equity, orders, trades, "
        "predictions, models, backtests, data quality and Prometheus /metrics. Every endpoint "
        "but /health/live needs a bearer token: `cryptobot api token create --name NAME`."
    ),
    no_args_is_help=True,
)
token_app = typer.Typer(
    help="Create, list and revoke the API's bearer tokens (stored hashed in the warehouse).",
    no_args_is_help=True,
)
api_app.add_typer(token_app, name="token")
app.add_typer(api_app, name="api")


@api_app.command("serve")
def serve(
    host: Annotated[
        str | None, typer.Option(help="Interface to listen on (default api.host: 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="TCP port (default api.port: 8000).")
    ] = None,
) -> None:
    """Serve the REST API until Ctrl-C.

    The API reads a snapshot of the warehouse, refreshed every `api.snapshot_interval` seconds
    (2 by default) whenever the warehouse changed: a flow writing never makes a request wait,
    and every response says how old its data is (`snapshot.age_seconds`, header
    `X-Snapshot-Age`). Tokens created or revoked take effect with the next snapshot.

    Examples: `cryptobot api serve`, `cryptobot api serve --host 0.0.0.0 --port 8080`, then
    `curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8000/status`.
    """
    import socket

    import uvicorn

    from cryptobot.api import create_app

    settings = load_settings()
    host = host or settings.api.host
    port = port or settings.api.port
    try:  # a clear message instead of uvicorn's traceback when the port is taken
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        raise _fail(
            ApiError(f"cannot listen on {host}:{port}: {exc.strerror}. Choose another --port.")
        ) from None
    api = create_app(settings)
    try:  # the first snapshot here, so a missing or busy warehouse is one clear message
        api.state.api.snapshots.prepare()
    except CryptobotError as exc:
        raise _fail(exc) from None
    console.print(
        f"cryptobot API on http://{host}:{port} (docs: /docs), warehouse {settings.warehouse}",
        highlight=False,
        soft_wrap=True,
    )
    uvicorn.run(api, host=host, port=port, log_level="warning", access_log=False)


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Option("--name", help="Who or what uses the token, e.g. grafana.")],
) -> None:
    """Create a token and print it, once: store it where its user keeps secrets.

    Example: `cryptobot api token create --name grafana`.
    """
    from cryptobot.api.tokens import create_token

    settings = load_settings()
    token, info = _run(create_token, settings.warehouse, name,
                       timeout=settings.write_lock_timeout)  # fmt: skip
    err_console.print(
        f"created API token {info.name!r} (id {info.token_id}). It is shown this once; only "
        "its hash is stored:",
        highlight=False,
        soft_wrap=True,
    )
    typer.echo(token)


@token_app.command("list")
def token_list() -> None:
    """List the tokens (id, name, created, last used, revoked); never the tokens themselves.

    Example: `cryptobot api token list`.
    """
    from cryptobot.api.tokens import list_tokens
    from cryptobot.render import rows_table

    settings = load_settings()
    tokens = _run(list_tokens, settings.warehouse, timeout=settings.write_lock_timeout)
    if not tokens:
        console.print("no API tokens: create one with `cryptobot api token create --name NAME`")
        return

    def when(value) -> str:
        return "" if value is None else f"{value:%Y-%m-%d %H:%M:%S}"

    console.print(
        rows_table(
            ["id", "name", "created (UTC)", "last used (UTC)", "revoked (UTC)"],
            [
                [t.token_id, t.name, when(t.created_at), when(t.last_used_at), when(t.revoked_at)]
                for t in tokens
            ],
        )
    )


@token_app.command("revoke")
def token_revoke(
    token: Annotated[str, typer.Argument(metavar="ID_OR_NAME", help="The token's id or name.")],
) -> None:
    """Revoke a token by its id or name; the API refuses it from its next snapshot (within
    seconds). Its row is kept, with the time it was revoked.

    Example: `cryptobot api token revoke grafana`.
    """
    from cryptobot.api.tokens import revoke_token

    settings = load_settings()
    info = _run(revoke_token, settings.warehouse, token, timeout=settings.write_lock_timeout)
    console.print(f"revoked API token {info.name!r} (id {info.token_id})", highlight=False)
