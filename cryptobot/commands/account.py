"""`cryptobot account list|reset|archive`: the named paper accounts (issue 15).

The work is in :mod:`cryptobot.trading.accounts`; this module parses the options, asks for
confirmation and prints. Reset and archive are one short transaction under the warehouse's write
lock (no flow: nothing in them is worth retrying or scheduling).
"""

from __future__ import annotations

from typing import Annotated

import typer

from cryptobot.cli import _fail, _run, app, console, err_console
from cryptobot.config import load_settings
from cryptobot.errors import CryptobotError

account_app = typer.Typer(
    help="Paper accounts: list them, reset one (its history archived, the account empty), or "
    "archive one (the same, and the name closed to trading until reset).",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
app.add_typer(account_app, name="account")

Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
Name = Annotated[str, typer.Argument(metavar="NAME", help="The paper account, e.g. default.")]


@account_app.command("list")
def list_() -> None:
    """Every account that has traded: mode, status, when created, its last step and equity,
    fills, decisions and how often it was reset or archived.

    Examples: `cryptobot account list`; trade another account with
    `cryptobot trade --account momentum` (or trading.account in cryptobot.toml).
    """
    from cryptobot.render import SIMULATED_LABEL, rows_table
    from cryptobot.trading.accounts import list_accounts

    settings = load_settings()
    accounts = _run(list_accounts, settings)
    if not accounts:
        err_console.print("no account has traded yet: run `cryptobot trade` (or `cryptobot demo`)")
        raise typer.Exit(1)

    def when(value) -> str:
        return f"{value:%Y-%m-%d %H:%M}" if value else "–"

    console.print(
        rows_table(
            [
                "account",
                "mode",
                "status",
                "created",
                "last step",
                "equity",
                "trades",
                "decisions",
                "archives",
            ],
            [
                [
                    a.account
                    + (" *" if a.is_simulated else "")
                    + (" (current)" if a.account == settings.trading.account else ""),
                    a.mode,
                    a.status,
                    when(a.created_at),
                    when(a.last_step),
                    f"{a.equity:,.2f}" if a.equity is not None else "–",
                    a.trades,
                    a.decisions,
                    a.archives,
                ]
                for a in accounts
            ],
            title="accounts (times UTC; archives: its resets and archives, kept in the *_archive "
            "tables)"
            + (f"; * = {SIMULATED_LABEL}" if any(a.is_simulated for a in accounts) else ""),
            keep=(0, 2),
        )
    )


def _move(name: str, *, close: bool, yes: bool) -> None:
    from cryptobot.trading.accounts import archive_account, list_accounts

    settings = load_settings()
    verb = "archive" if close else "reset"
    if not yes:
        found = [a for a in _run(list_accounts, settings) if a.account == name]
        held = next((a for a in found if a.mode == "paper"), None)
        what = (
            f"{held.trades} fill(s), {held.decisions} decision(s), last step "
            f"{held.last_step:%Y-%m-%d %H:%M}"
            if held and held.last_step
            else "no marks"
        )
        after = (
            "and close the name to trading until `cryptobot account reset`"
            if close
            else "and leave it empty (its next step starts from trading.initial_capital)"
        )
        if not typer.confirm(
            f"{verb} paper account {name!r} ({what}): move its rows to the archive tables {after}?"
        ):
            err_console.print("nothing changed")
            raise typer.Exit(1)
    try:
        result = archive_account(settings, name, close=close)
    except CryptobotError as exc:
        raise _fail(exc) from None
    moved = ", ".join(f"{n} {table}" for table, n in result.rows.items() if n) or "no rows"
    console.print(
        f"[green]{result.action}:[/green] paper account {name!r}: moved {moved} to the archive "
        f"tables as archive {result.archive_id}"
        + (
            "; the name is closed to trading until `cryptobot account reset`"
            if close
            else "; the account is empty"
        ),
        highlight=False,
        soft_wrap=True,
    )


@account_app.command()
def reset(name: Name, yes: Yes = False) -> None:
    """Empty a paper account: every order, fill, position, equity mark and decision of NAME is
    moved (in one transaction) to orders_archive, trades_archive, positions_archive,
    equity_curve_archive and trade_decisions_archive under a new archive id, and the account
    starts again from trading.initial_capital at its next step. Also reopens an archived account.
    Nothing is deleted: the archive tables keep every generation.

    Use it when an account holds marks that block history (a step dated later than the bars
    you want to trade: "already traded"). Examples: `cryptobot account reset default`,
    `cryptobot account reset momentum --yes`.
    """
    _move(name, close=False, yes=yes)


@account_app.command()
def archive(name: Name, yes: Yes = False) -> None:
    """Retire a paper account: its rows are moved to the archive tables as by `reset`, and the
    name is closed: `cryptobot trade --account NAME` is refused until `cryptobot account reset
    NAME` reopens it (empty).

    Examples: `cryptobot account archive experiment-1`, `cryptobot account archive old --yes`.
    """
    _move(name, close=True, yes=yes)
