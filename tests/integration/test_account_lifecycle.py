"""Issue 15, account lifecycle: a step on stale data refuses, a replay without --as-of ends at the
newest stored bar, paper accounts are named, listed, reset and archived, and a replay over a
champion's training rows is refused unless allowed (then labelled in-sample)."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import pytest

from cryptobot.config import Settings
from cryptobot.errors import TradingError
from cryptobot.ingest import store_market_frame
from cryptobot.trading.engine import StepResult, Trader, default_as_of, describe_age, replay
from tests.conftest import make_candles

pytestmark = pytest.mark.integration

HOUR = timedelta(hours=1)


def _binance(settings: Settings) -> Settings:
    """Settings for real (non-simulated) binance candles of BTC/USDT."""
    return settings.model_copy(update={"source": "ccxt", "symbols": ["BTC/USDT"]})


def _store(settings: Settings, start: str, n: int) -> None:
    store_market_frame(
        settings,
        make_candles(n, start=start),
        exchange="binance",
        timeframe="1h",
        source="ccxt",
        symbol="BTC/USDT",
    )


def _count(settings: Settings, table: str) -> int:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return con.execute(f"select count(*) from {table}").fetchone()[0]


def test_describe_age_names_the_two_largest_units():
    assert describe_age(timedelta(days=365 * 3 + 62)) == "3 years 2 months"
    assert describe_age(timedelta(days=5, hours=4, minutes=3)) == "5 days 4 hours"
    assert describe_age(timedelta(hours=2)) == "2 hours"
    assert describe_age(timedelta(seconds=20)) == "less than a minute"


def test_a_step_on_data_that_ended_years_ago_refuses_and_writes_nothing(settings):
    real = _binance(settings)
    _store(real, "2023-06-01", 48)  # the newest bar closes 2023-06-03 00:00
    with pytest.raises(TradingError) as caught:
        Trader(real).step()
    message = str(caught.value)
    assert "newest BTC/USDT 1h bar on binance closed at 2023-06-03 00:00 UTC" in message
    assert "years" in message and "ago" in message
    assert "pass --as-of to trade history" in message
    assert _count(real, "equity_curve") == 0  # no mark dated today


def test_fresh_data_steps_at_the_newest_bar_close_not_the_clock(settings):
    real = _binance(settings)
    _store(real, "2023-06-01", 48)
    now = datetime(2023, 6, 3, 1, 30)  # 1.5 h after the newest close: within two 1h bars
    assert default_as_of(real, now=now) == datetime(2023, 6, 3)
    strict = real.model_copy(
        update={"trading": real.trading.model_copy(update={"max_data_age": "1h"})}
    )
    with pytest.raises(TradingError, match=r"\(1 hour 30 minutes ago\)"):
        default_as_of(strict, now=now)


def test_replay_without_as_of_ends_at_the_newest_stored_bar(settings, monkeypatch):
    real = _binance(settings)
    _store(real, "2023-06-01", 48)
    stepped = []

    def step(self, as_of=None):  # the bar grid the replay walks; the step itself is tested apart
        stepped.append(as_of)
        return StepResult(as_of=as_of, mode="paper", strategy="t", already_marked=True)

    monkeypatch.setattr(Trader, "step", step)
    monkeypatch.setattr("models.predictions.resolve_outcomes", lambda settings: 0)
    result = replay(real, days=0.5)  # a replay trades history: not refused for its age
    assert result.end == datetime(2023, 6, 3)
    assert stepped == [datetime(2023, 6, 2, 12) + HOUR * k for k in range(1, 13)]


# -- named accounts: migration, reset, archive ----------------------------------------------------

ACCOUNT_TABLES = ("trade_decisions", "orders", "trades", "positions", "equity_curve")


def _rows(settings: Settings, sql: str, params=None) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def _held(settings: Settings, account: str = "default") -> dict[str, int]:
    return {
        t: _rows(settings, f"select count(*) from {t} where account = ?", [account])[0][0]
        for t in ACCOUNT_TABLES
    }


def test_migration_010_gives_existing_rows_to_the_default_account(settings, monkeypatch):
    import cryptobot.warehouse.db as db
    from tests.trading_factory import seed_trading

    every = db.migration_files()
    monkeypatch.setattr(db, "migration_files", lambda: [m for m in every if m[0] < 10])
    with db.write_connection(settings.warehouse) as con:  # the schema before accounts
        assert "account" not in {c[0] for c in con.execute("describe equity_curve").fetchall()}
    seeded = seed_trading(settings.warehouse)  # rows written without an account
    monkeypatch.setattr(db, "migration_files", lambda: every)
    with db.write_connection(settings.warehouse):  # applies 010
        pass
    held = _held(settings)
    assert held["equity_curve"] == len(seeded.equity) and held["trades"] == len(seeded.trades)
    assert held["trade_decisions"] == seeded.decisions and held["orders"] == seeded.orders
    assert _rows(settings, "select count(*) from positions where account <> 'default'") == [(0,)]
    first = _rows(settings, "select min(decided_at) from trade_decisions")[0][0]
    assert _rows(settings, "select account, mode, created_at, archived_at from accounts") == [
        ("default", "paper", first, None)
    ]


def test_reset_moves_every_row_to_the_archive_in_one_go_and_keeps_each_generation(settings):
    from cryptobot.trading.accounts import archive_account, list_accounts
    from tests.trading_factory import seed_trading

    seeded = seed_trading(settings.warehouse)
    before = _held(settings)
    curve = _rows(settings, "select * from equity_curve order by ts")
    assert all(before.values())

    result = archive_account(settings, "default", close=False, now=datetime(2026, 1, 2))
    assert result.rows == before and result.action == "reset"
    assert _held(settings) == dict.fromkeys(ACCOUNT_TABLES, 0)  # the account is empty
    for table, n in before.items():
        assert _rows(
            settings,
            f"select count(*) from {table}_archive where archive_id = ?",
            [result.archive_id],
        ) == [(n,)]
    # the archived curve is the stored one, column for column, plus the archive's id and time
    archived = _rows(
        settings, "select * exclude (archive_id, archived_at) from equity_curve_archive order by ts"
    )
    assert archived == curve
    log = _rows(settings, "select account, action, last_ts, equity, rows from account_archives")
    assert log[0][:4] == (
        "default",
        "reset",
        seeded.equity["ts"].max().to_pydatetime(),
        pytest.approx(seeded.equity["equity"].iloc[-1]),
    )
    (summary,) = list_accounts(settings)
    assert (summary.account, summary.status, summary.trades, summary.archives) == (
        "default",
        "open",
        0,
        1,
    )

    seed_trading(settings.warehouse, start="2025-12-10")  # trading again: a second generation
    second = archive_account(settings, "default", close=False, now=datetime(2026, 1, 3))
    assert second.archive_id != result.archive_id
    assert _rows(settings, "select count(distinct archive_id) from trades_archive") == [(2,)]
    assert _rows(settings, "select count(*) from trades_archive") == [(2 * before["trades"],)]


def test_a_failed_archive_changes_nothing(settings, monkeypatch):
    import cryptobot.trading.accounts as accounts
    from tests.trading_factory import seed_trading

    seed_trading(settings.warehouse)
    before = _held(settings)
    # a table whose archive copy fails halfway (after three tables were moved)
    monkeypatch.setattr(accounts, "ACCOUNT_TABLES", (*ACCOUNT_TABLES[:3], "no_such_table"))
    with pytest.raises(duckdb.Error):
        accounts.archive_account(settings, "default", close=False)
    assert _held(settings) == before
    assert _rows(settings, "select count(*) from trades_archive") == [(0,)]
    assert _rows(settings, "select count(*) from account_archives") == [(0,)]


def test_an_archived_account_cannot_trade_until_reset(settings):
    from cryptobot.trading.accounts import archive_account, list_accounts
    from tests.trading_factory import seed_trading

    seeded = seed_trading(settings.warehouse)
    archive_account(settings, "default", close=True)
    assert list_accounts(settings)[0].status == "archived"
    trader = Trader(settings.model_copy(update={"symbols": ["BTC/USDT"]}))
    with pytest.raises(TradingError, match="'default' was archived .* account reset default"):
        trader.step(seeded.end)
    with pytest.raises(TradingError, match="already archived"):
        archive_account(settings, "default", close=True)
    archive_account(settings, "default", close=False)  # reopens it, empty
    assert list_accounts(settings)[0].status == "open"


def test_unknown_and_live_accounts_are_refused_by_name(settings):
    from cryptobot.trading.accounts import archive_account
    from tests.trading_factory import seed_trading

    seed_trading(settings.warehouse)
    with pytest.raises(TradingError, match="no paper account named 'nope'; accounts: default"):
        archive_account(settings, "nope", close=False)
    with pytest.raises(TradingError, match="live account 'default' mirrors the exchange"):
        archive_account(settings, "default", close=False, mode="live")
    assert _held(settings)["trades"] > 0


def test_account_commands_list_confirm_reset_and_archive(settings):
    from typer.testing import CliRunner

    from cryptobot.cli import app
    from tests.trading_factory import seed_trading

    runner = CliRunner()
    seed_trading(settings.warehouse)
    listed = runner.invoke(app, ["account", "list"])
    assert listed.exit_code == 0, listed.output
    assert "default" in listed.output and "paper" in listed.output and "open" in listed.output

    refused = runner.invoke(app, ["account", "reset", "default"], input="n\n")
    assert refused.exit_code == 1 and "nothing changed" in refused.output
    assert _held(settings)["trades"] > 0

    done = runner.invoke(app, ["account", "archive", "default"], input="y\n")
    assert done.exit_code == 0, done.output
    assert "archive: paper account 'default': moved" in done.output
    assert "closed to trading" in done.output
    assert _held(settings)["trades"] == 0
    listed = runner.invoke(app, ["account", "list"])
    assert "archived" in listed.output

    unknown = runner.invoke(app, ["account", "reset", "nope", "--yes"])
    assert unknown.exit_code == 9 and "no paper account named 'nope'" in unknown.output
    helped = runner.invoke(app, ["account", "reset", "--help"])
    assert "archive" in helped.output and "Examples" in helped.output


def test_the_report_names_its_account(settings):
    from cryptobot.reports.build import build_report
    from tests.trading_factory import seed_trading

    seed_trading(settings.warehouse)
    report = build_report(settings)
    assert report.summary["account"] == "default"
    html = report.path.read_text()
    assert "account <b>default</b>" in html and "Account: default (paper)" in html
    other = settings.model_copy(
        update={"trading": settings.trading.model_copy(update={"account": "other"})}
    )
    empty = build_report(other)  # another account has no marks: the report says so
    assert empty.summary["equity_end"] is None
    assert "account other" in empty.path.read_text()


# -- the model registry after a killed training, and the gate's refusal in the audit ------------


def _dead_pid() -> str:
    import subprocess

    process = subprocess.Popen(["true"])
    process.wait()
    return str(process.pid)


def _version(client, name: str, run_id: str, **tags: str) -> str:
    if not client.search_registered_models(filter_string=f"name = '{name}'"):
        client.create_registered_model(name)
    version = client.create_model_version(name, source="file:///nonexistent/model", run_id=run_id)
    for key, value in tags.items():
        client.set_model_version_tag(name, version.version, key.replace("_", "."), value)
    return str(version.version)


def test_a_killed_training_is_marked_failed_and_incomplete_and_never_shown(settings):
    import socket

    from cryptobot.errors import ModelError
    from models.recovery import owner_tags, recover_interrupted
    from models.registry import list_models, model_versions, promote
    from models.tracking import configure

    client = configure(settings)
    name = "simulator.BTC-USDT.1h.h1"
    experiment = client.create_experiment(name)
    here = socket.gethostname()
    # a finished training: its family run, version and gate run (before training.complete)
    done = client.create_run(experiment, tags={"training.key": "k1", **owner_tags()})
    client.set_terminated(done.info.run_id)
    gate = client.create_run(
        experiment, tags={"training.key": "k1", "mlflow.runName": "promotion gate"}
    )
    client.set_terminated(gate.info.run_id)
    judged = _version(client, name, done.info.run_id, gate_decision="promoted")
    chosen_not = _version(client, name, done.info.run_id)  # another family of that training
    # a training killed after registering one family, with a fold run left RUNNING
    killed_tags = {"training.key": "k2", "cryptobot.pid": _dead_pid(), "cryptobot.host": here}
    killed = client.create_run(experiment, tags=killed_tags)
    client.set_terminated(killed.info.run_id)
    fold = client.create_run(
        experiment, tags={"mlflow.parentRunId": killed.info.run_id, "cryptobot.fold": "1"}
    )
    half = _version(client, name, killed.info.run_id)
    # a training still running in this process: left alone
    alive = client.create_run(experiment, tags={"training.key": "k3", **owner_tags()})
    running = _version(client, name, alive.info.run_id)
    # registered by hand, from no training run: nothing says it is incomplete
    by_hand = str(client.create_model_version(name, source="file:///nonexistent/m").version)

    # `cryptobot models` never presents the half-registered version, even before any cleanup
    (listed,) = list_models(settings)
    assert (listed["versions"], listed["incomplete"]) == (4, 1)
    assert half not in {v["version"] for v in model_versions(settings, name)}
    with pytest.raises(ModelError, match=rf"v{half} is incomplete: .*even with --force"):
        promote(settings, name, half, force=True, reason="try", by="t")

    found = recover_interrupted(client, experiment, name)
    assert found.failed_runs == [fold.info.run_id]
    assert client.get_run(fold.info.run_id).info.status == "FAILED"
    assert client.get_run(alive.info.run_id).info.status == "RUNNING"
    assert found.incomplete_versions == [half]
    tags = client.get_model_version(name, half).tags
    assert (
        tags["incomplete"] == "true"
        and "ended before the promotion gate" in tags["incomplete.reason"]
    )
    assert client.get_model_version(name, chosen_not).tags["training.complete"] == "true"
    for kept in (judged, running, by_hand):
        assert "incomplete" not in client.get_model_version(name, kept).tags
    again = recover_interrupted(client, experiment, name)  # idempotent
    assert not again.failed_runs and not again.incomplete_versions
    assert "interrupted" in found.describe(name) and f"v{half}" in found.describe(name)


def test_a_target_whose_challenger_the_gate_refused_says_why_not_run_train(settings):
    from models.dataset import Target
    from models.predictions import no_champion_reason
    from models.tracking import configure

    target = Target("simulator", "BTC/USDT", "1h", 1)
    assert no_champion_reason(settings, target).endswith("run `cryptobot train`")
    client = configure(settings)
    experiment = client.create_experiment(target.name)
    run = client.create_run(experiment)
    _version(client, target.name, run.info.run_id, family="xgboost")
    refused = _version(
        client,
        target.name,
        run.info.run_id,
        family="lstm",
        gate_decision="refused",
        gate_reasons="holdout accuracy 50.2% not significant (p=0.41 >= 0.05)",
    )
    reason = no_champion_reason(settings, target)
    assert f"its challenger v{refused} (lstm) was refused by the gate: holdout accuracy" in reason
    assert "run `cryptobot train`" not in reason


def test_a_bad_account_name_is_refused_before_anything_is_read(settings):
    from cryptobot.config import load_settings
    from cryptobot.errors import ConfigError

    with pytest.raises(TradingError, match="account name 'a b' is not valid"):
        Trader(settings, account="a b")
    with pytest.raises(ConfigError, match="trading.account: .*'x;drop' is not valid"):
        load_settings(trading={"account": "x;drop"})


def test_the_app_reads_each_account_apart(settings):
    from app import data
    from cryptobot.warehouse.db import write_connection
    from tests.trading_factory import seed_trading

    seeded = seed_trading(settings.warehouse)
    with write_connection(settings.warehouse) as con:  # a second account: the same rows, halved
        for table in ("equity_curve", "positions", "trades", "orders", "trade_decisions"):
            con.execute(
                f"insert into {table} by name select * replace ('exp' as account"
                + (", 'x' || id as id" if table in ("trades", "trade_decisions") else "")
                + (", 'x' || client_order_id as client_order_id" if table == "orders" else "")
                + ", equity / 2 as equity" * (table == "equity_curve")
                + f") from {table}"
            )
    wh = data.warehouse(settings)
    found = data.accounts(wh)
    assert list(zip(found["account"], found["mode"], strict=True)) == [
        ("default", "paper"),
        ("exp", "paper"),
    ]
    default, exp = data.Account("default", "paper"), data.Account("exp", "paper")
    last = seeded.equity["equity"].iloc[-1]
    assert data.account_state(wh, default)["latest"]["equity"] == pytest.approx(last)
    assert data.account_state(wh, exp)["latest"]["equity"] == pytest.approx(last / 2)
    assert str(exp) == "exp (paper)"
    options = data.trade_options(wh)
    assert options["accounts"] == [default, exp]
    filters = data.TradeFilters(account=exp, start=seeded.start.date(), end=seeded.end.date())
    assert len(data.fills(wh, filters)) == len(seeded.trades)  # exp's own, not both
