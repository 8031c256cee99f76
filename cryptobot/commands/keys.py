"""`cryptobot keys set|list|remove`: exchange API keys, encrypted at rest in the warehouse.

The work is in :mod:`cryptobot.keystore`; this module reads the keys (a hidden prompt, or stdin
when it is not a terminal: never a command-line argument, which would land in the shell's
history and the process list) and prints what happened. No Prefect flow is involved: the only
write is one short row update under the warehouse's write lock.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from cryptobot import keystore
from cryptobot.cli import _fail, _run, app, console, err_console
from cryptobot.config import Settings, load_settings, normalize_exchange
from cryptobot.errors import KeyStoreError

keys_app = typer.Typer(
    name="keys",
    help=(
        "Exchange API keys for live trading, encrypted at rest in the warehouse (AES-256-GCM, "
        "key derived from a passphrase by scrypt).\n\n"
        "The passphrase comes from CRYPTOBOT_KEYSTORE_PASSPHRASE, or from the Prefect Secret "
        "block named by CRYPTOBOT_KEYSTORE_PASSPHRASE_BLOCK. Keys in the environment "
        "(CRYPTOBOT_EXCHANGE_API_KEY / CRYPTOBOT_EXCHANGE_SECRET) win over stored ones.\n\n"
        "Examples: `cryptobot keys set binance`, `cryptobot keys list`, "
        "`cryptobot keys remove binance`."
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
app.add_typer(keys_app, name="keys")

Exchange = Annotated[
    str, typer.Argument(metavar="EXCHANGE", help="ccxt exchange id, e.g. binance, kraken.")
]


def _stdin_is_tty() -> bool:
    return sys.stdin.isatty()


def _read_secret_block(name: str) -> str:
    """Read the passphrase's Prefect Secret block on a temporary server if none is running."""
    from flows._common import read_secret_block
    from flows._server import temporary_server

    with temporary_server():
        return read_secret_block(name)


def _exchange(value: str) -> str:
    import ccxt

    exchange = _run(normalize_exchange, value)
    if exchange not in ccxt.exchanges:
        import difflib

        close = difflib.get_close_matches(exchange, ccxt.exchanges, n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise _fail(
            KeyStoreError(
                f"ccxt knows no exchange {exchange!r}, so no keys can be stored for it.{hint} "
                "The ids are ccxt's (binance, kraken, okx, ...)."
            )
        )
    return exchange


def _read_keys(exchange: str) -> tuple[str, str]:
    """The API key and secret: prompted with hidden input on a terminal, else from stdin (the
    first non-empty line is the API key, the rest the secret, so a PEM secret may span lines)."""
    if _stdin_is_tty():
        api_key = typer.prompt(f"{exchange} API key", hide_input=True, err=True)
        secret = typer.prompt(f"{exchange} secret", hide_input=True, err=True)
        return api_key, secret
    lines = sys.stdin.read().splitlines()
    while lines and not lines[0].strip():
        lines.pop(0)
    if len(lines) < 2:
        raise _fail(
            KeyStoreError(
                f"stdin held {len(lines)} non-empty line(s): give the {exchange} API key on the "
                "first line and the secret on the next, e.g. "
                f'`printf \'%s\\n%s\\n\' "$KEY" "$SECRET" | cryptobot keys set {exchange}`'
            )
        )
    return lines[0], "\n".join(lines[1:])


@keys_app.command(
    "set", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)
def set_keys(ctx: typer.Context, exchange: Exchange) -> None:
    """Store EXCHANGE's API key and secret, encrypted, replacing any stored before.

    On a terminal both are asked for with hidden input; otherwise they are read from stdin
    (API key on the first line, secret on the following ones), never from an argument. They are
    stripped of surrounding blanks and refused if empty, of an implausible length, or holding a
    blank or control character inside (the message says where; the value is never shown).

    Needs the passphrase in CRYPTOBOT_KEYSTORE_PASSPHRASE (at least 12 characters) or in the
    Prefect Secret block named by CRYPTOBOT_KEYSTORE_PASSPHRASE_BLOCK. Give the exchange a key
    that can trade but not withdraw: live trading refuses a withdrawal-capable key where the
    exchange tells (Binance).

    Examples: `cryptobot keys set binance` (prompts), or from a password manager:
    `printf '%s\\n%s\\n' "$KEY" "$SECRET" | cryptobot keys set binance`.
    """
    if ctx.args:
        # refused with our own message: click's would echo the value
        raise _fail(
            KeyStoreError(
                f"keys are never taken as command-line arguments: they stay in the shell's "
                f"history and show in the process list. Run `cryptobot keys set {exchange}` and "
                "paste them at the prompt (or pipe them in). Consider a key typed on a command "
                "line exposed: revoke it on the exchange and create a new one."
            )
        )
    exchange = _exchange(exchange)
    settings = _run(load_settings)
    secret_phrase = _run(keystore.passphrase, settings, _read_secret_block)
    api_key, secret = _read_keys(exchange)
    _run(keystore.store_keys, settings, exchange, api_key, secret, secret_phrase)
    shown = keystore.mask(api_key.strip())
    console.print(
        f"stored the {exchange} API key {shown} and its secret, encrypted, in {settings.warehouse}",
        highlight=False,
    )
    if exchange == settings.exchange and settings.exchange_api_key is not None:
        err_console.print(
            f"note: CRYPTOBOT_EXCHANGE_API_KEY is set, and keys in the environment win: live "
            f"trading on {exchange} uses those until you unset it",
            style="yellow",
            highlight=False,
        )


def _masked_key(
    settings: Settings, exchange: str, secret_phrase: str | None, failed: list[str]
) -> str:
    if secret_phrase is None:
        return "encrypted (no passphrase set)"
    try:
        keys = keystore.load_stored_keys(settings, exchange, secret_phrase)
    except KeyStoreError:
        failed.append(exchange)
        return "[red]cannot decrypt[/red]"
    return keystore.mask(keys.api_key.get_secret_value()) if keys else "–"


@keys_app.command("list")
def list_keys() -> None:
    """List the exchanges with keys: stored ones and the environment's, masked.

    An API key shows as its last four characters, and only when the passphrase is set (which
    also proves it decrypts the store); a secret is never shown. The `live trading` column says
    which keys `cryptobot trade` would use for the configured exchange: the environment's win
    over stored ones. Exit code 12 when the passphrase does not decrypt a stored key.

    Example: `cryptobot keys list`.
    """
    from rich.table import Table

    settings = _run(load_settings)
    rows = _run(keystore.stored, settings)
    environment = _run(keystore.environment_keys, settings)
    secret_phrase = None
    if rows and (settings.keystore_passphrase or settings.keystore_passphrase_block):
        secret_phrase = _run(keystore.passphrase, settings, _read_secret_block)
    if not rows and environment is None:
        console.print(
            "no exchange keys: store some with `cryptobot keys set EXCHANGE`", highlight=False
        )
        return
    table = Table(title="exchange keys")
    for column in ("exchange", "source", "API key", "secret", "updated (UTC)", "live trading"):
        table.add_column(column)
    if environment is not None:
        table.add_row(
            environment.exchange,
            "environment",
            keystore.mask(environment.api_key.get_secret_value()),
            "set",
            "–",
            "used" if settings.exchange == environment.exchange else "",
        )
    failed: list[str] = []
    for row in rows:
        used = row.exchange == settings.exchange and environment is None
        table.add_row(
            row.exchange,
            "key store",
            _masked_key(settings, row.exchange, secret_phrase, failed),
            "set",
            f"{row.updated_at:%Y-%m-%d %H:%M}",
            "used"
            if used
            else ("overridden by the environment" if row.exchange == settings.exchange else ""),
        )
    console.print(table)
    if failed:
        raise _fail(
            KeyStoreError(
                f"the passphrase does not decrypt the stored keys of {', '.join(failed)}: it is "
                "not the one they were stored with (or a record was altered). Set the right "
                f"{keystore.PASSPHRASE_ENV}, or store the keys again with `cryptobot keys set`"
            )
        )


@keys_app.command("remove")
def remove_keys(
    exchange: Exchange,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Forget EXCHANGE's stored keys (the exchange's market data stays).

    Asks for confirmation on a terminal unless --yes. Keys in the environment are not touched:
    unset CRYPTOBOT_EXCHANGE_API_KEY / CRYPTOBOT_EXCHANGE_SECRET yourself. Also revoke the key on
    the exchange if it may have leaked: removing it here does not.

    Example: `cryptobot keys remove binance --yes`.
    """
    exchange = _run(normalize_exchange, exchange)
    settings = _run(load_settings)
    if not yes and _stdin_is_tty():
        typer.confirm(f"remove the stored {exchange} keys?", abort=True, err=True)
    if not _run(keystore.remove_keys, settings, exchange):
        others = [row.exchange for row in _run(keystore.stored, settings)]
        listed = f"keys are stored for {', '.join(others)}" if others else "no keys are stored"
        raise _fail(KeyStoreError(f"no keys stored for {exchange} ({listed}): nothing removed"))
    console.print(f"removed the stored {exchange} keys", highlight=False)
