"""The trading flow on a real warehouse: champions, decisions, fills, idempotency, crashes, the
kill switch and live mode against a fake exchange.

One module-scoped base: three simulated symbols (60 days of 1h bars, a strong planted signal),
features built by dbt, an XGBoost champion per symbol in a temporary MLflow store. Each test
trades on its own copy of that warehouse, so tests are independent.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

from cryptobot.cli import app
from cryptobot.config import RiskLimits, Settings, load_settings
from cryptobot.errors import TradingError
from cryptobot.ingest import ingest_simulator
from cryptobot.trading.brokers import LiveBroker
from cryptobot.trading.engine import Trader, default_as_of, replay
from tests.champions import simulated_market_with_champions
from tests.fake_exchange import FakeExchange

pytestmark = pytest.mark.integration
runner = CliRunner()

SYMBOLS = ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
HOUR = timedelta(hours=1)
CHECKS = list(RiskLimits.model_fields)  # every limit, in its declared order


def _quiet(_: str) -> None:
    pass


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("trading")
    with simulated_market_with_champions(root, SYMBOLS, days=60, seed=3, signal=0.5) as settings:
        yield settings


@pytest.fixture
def account(base: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A copy of the base warehouse (MLflow store shared, read only) exported in the env."""
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(base.warehouse, warehouse)
    monkeypatch.setenv("CRYPTOBOT_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("CRYPTOBOT_DATA_DIR", str(base.data_dir))
    monkeypatch.setenv("CRYPTOBOT_SYMBOLS", ",".join(SYMBOLS))
    return load_settings()


def query(settings: Settings, sql: str, params=None) -> pd.DataFrame:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return con.execute(sql, params or []).df()


def counts(settings: Settings) -> dict[str, int]:
    tables = ["trade_decisions", "orders", "trades", "positions", "equity_curve", "ml_predictions"]
    return {t: int(query(settings, f"select count(*) n from {t}")["n"][0]) for t in tables}


def test_a_step_decides_each_symbol_once_and_audits_every_check(account: Settings):
    as_of = default_as_of(account) - 48 * HOUR
    result = Trader(account).step(as_of)
    assert result.equity.equity == account.trading.initial_capital  # nothing held yet
    decisions = query(account, "select * from trade_decisions order by symbol")
    assert sorted(decisions["symbol"]) == sorted(SYMBOLS)
    assert (decisions["bar_ts"] == pd.Timestamp(as_of - HOUR)).all()
    assert (decisions["decided_at"] == pd.Timestamp(as_of)).all()
    assert (decisions["action"] != "skip").sum() > 0
    for row in decisions.itertuples():
        if row.action == "skip":  # a call too weak to pay for its trade: no decision, no checks
            assert row.reason.startswith("no decision: the call is less confident"), row.reason
            assert row.checks == "[]" and row.prob_up is not None
        else:
            checks = pd.read_json(__import__("io").StringIO(row.checks))
            assert list(checks["name"]) == CHECKS
            assert row.action in {"order", "hold", "blocked"}, row.reason
        # the prediction acted on is stored under the key the audit row names
        stored = query(
            account,
            "select prob_up from ml_predictions where model_name = ? and model_version = ? "
            "and symbol = ? and timeframe = '1h' and ts = ?",
            [row.model_name, row.model_version, row.symbol, row.bar_ts],
        )
        assert len(stored) == 1 and stored["prob_up"][0] == pytest.approx(row.prob_up)
        assert (
            row.prediction_id == f"{row.model_name}/v{row.model_version}/{row.bar_ts.isoformat()}"
        )
    orders = query(account, "select * from orders")
    sent = decisions[decisions["action"] == "order"]
    assert len(orders) == len(sent) > 0
    assert set(orders["status"]) == {"submitted"}  # paper: fills at the next bar's open
    assert set(orders["client_order_id"]) == set(sent["client_order_id"])
    # every order respects the position limit and the market's precision
    merged = orders.merge(decisions[["client_order_id", "price"]], on="client_order_id")
    share = merged["amount"] * merged["price"] / account.trading.initial_capital
    assert (share <= account.risk.max_position_size + 1e-9).all()
    assert ((merged["amount"] * 1e5).round(6) % 1 == 0).all()

    before = counts(account)
    again = Trader(account).step(as_of)
    assert again.already_decided == len(SYMBOLS) and not again.orders
    assert counts(account) == before


def test_orders_fill_at_the_next_open_with_every_cost(account: Settings):
    as_of = default_as_of(account) - 48 * HOUR
    trader = Trader(account)
    first = trader.step(as_of)
    assert first.orders
    second = trader.step(as_of + HOUR)
    trades = query(account, "select * from trades order by symbol")
    assert len(trades) == len(first.orders) == len(second.fills)
    t = account.trading
    for trade in trades.itertuples():
        bar = query(
            account,
            "select open, volume from market_data where exchange = 'simulator' and symbol = ? "
            "and timeframe = '1h' and ts = ?",
            [trade.symbol, as_of],
        )
        vol = query(
            account,
            "select realized_vol_24 v from marts.fct_features where symbol = ? and ts = ?",
            [trade.symbol, as_of - HOUR],
        )["v"][0]
        mid = bar["open"][0]
        impact = t.impact * vol * ((trade.amount * mid) / (bar["volume"][0] * mid)) ** 0.5
        sign = 1 if trade.side == "buy" else -1
        assert trade.reference_price == pytest.approx(mid)
        assert trade.price == pytest.approx(mid * (1 + sign * (t.spread / 2 + t.slippage + impact)))
        assert trade.fee == pytest.approx(t.fee * trade.amount * trade.price)
        assert trade.ts == pd.Timestamp(as_of)  # executed when the next bar opened
    orders = query(account, "select status, filled, amount from orders")
    assert (orders["status"] == "filled").all() and (orders["filled"] == orders["amount"]).all()
    # the books balance: positions are the sum of fills; equity = cash + positions at the close
    positions = query(account, "select symbol, amount, last_price from positions")
    signed = trades.assign(s=trades["amount"].where(trades["side"] == "buy", -trades["amount"]))
    held = signed.groupby("symbol")["s"].sum()
    for p in positions.itertuples():
        assert p.amount == pytest.approx(held.get(p.symbol, 0.0))
    cash = t.initial_capital - (signed["s"] * trades["price"]).sum() - trades["fee"].sum()
    point = second.equity
    assert point.cash == pytest.approx(cash)
    assert point.equity == pytest.approx(
        cash + (positions["amount"] * positions["last_price"]).sum()
    )


KILL_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    from datetime import datetime
    import cryptobot.trading.engine as engine
    from cryptobot.config import load_settings

    real, calls = engine._write_decisions, [0]

    def dying(con, decisions):
        real(con, decisions)  # written inside the step's transaction, not yet committed
        calls[0] += 1
        if calls[0] == int(sys.argv[2]):
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no flush: a real crash

    engine._write_decisions = dying
    end = datetime.fromisoformat(sys.argv[3])
    engine.replay(load_settings(), days=float(sys.argv[1]) / 24, end=end)
    """
)


def snapshot(settings: Settings) -> dict[str, pd.DataFrame]:
    keys = {
        "orders": "client_order_id",
        "trades": "id",
        "positions": "symbol",
        "equity_curve": "ts",
        "trade_decisions": "id",
    }
    out = {}
    for table, key in keys.items():
        frame = query(settings, f"select * from {table} order by {key}")
        wall_clock = ["created_at", "sent_at", "acknowledged_at"]  # when, not what
        out[table] = frame.drop(columns=wall_clock, errors="ignore").reset_index(drop=True)
    return out


def test_a_run_killed_mid_step_resumes_to_exactly_the_clean_result(
    account: Settings, tmp_path: Path
):
    bars = 36
    end = default_as_of(account) - 24 * HOUR
    crashed_dir = tmp_path / "crashed"
    crashed_dir.mkdir()
    crashed = account.model_copy(update={"warehouse": crashed_dir / "warehouse.duckdb"})
    shutil.copy(account.warehouse, crashed.warehouse)

    replay(account, days=bars / 24, end=end)  # the clean run
    clean = snapshot(account)
    assert len(clean["orders"]) > 3

    env = {**os.environ, "CRYPTOBOT_WAREHOUSE": str(crashed.warehouse)}
    killed_at = 3  # step 3, after its decisions are written and before they are committed
    died = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, str(bars), str(killed_at), end.isoformat()],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert died.returncode == -9, died.stderr[-2000:]
    partial = snapshot(crashed)  # a step is stored whole or not at all: two steps, not three
    assert len(partial["equity_curve"]) == killed_at - 1
    assert len(partial["trade_decisions"]) == (killed_at - 1) * len(SYMBOLS)
    replay(crashed, days=bars / 24, end=end)  # the restart
    resumed = snapshot(crashed)
    for table in clean:
        pd.testing.assert_frame_equal(resumed[table], clean[table], check_exact=False, rtol=1e-12)
    assert resumed["trades"]["client_order_id"].is_unique  # no order traded twice


def test_the_drawdown_kill_switch_stops_new_risk_but_not_exits(account: Settings):
    tight = account.model_copy(
        update={"risk": account.risk.model_copy(update={"max_drawdown": 0.0005})}
    )
    replay(tight, days=2, end=default_as_of(account) - 24 * HOUR)
    equity = query(account, "select ts, drawdown from equity_curve order by ts")
    tripped = equity[equity["drawdown"] >= 0.0005]["ts"]
    assert len(tripped), "the test needs the account to lose 0.05% at some point"
    first = tripped.iloc[0]
    after = query(
        account, "select * from trade_decisions where decided_at >= ? order by decided_at", [first]
    )
    # while the account is that far below its peak (it may recover later), nothing adds risk
    new_risk = query(
        account,
        "select o.* from orders o join trade_decisions d on d.client_order_id = o.client_order_id "
        "join equity_curve e on e.ts = d.decided_at and e.mode = d.mode "
        "where e.drawdown >= 0.0005 and abs(d.order_amount + d.position_before) > "
        "abs(d.position_before) + 1e-12",
    )
    assert new_risk.empty, new_risk
    blocked = query(
        account,
        "select d.reason from trade_decisions d join equity_curve e on e.ts = d.decided_at "
        "and e.mode = d.mode where e.drawdown >= 0.0005 and d.action = 'blocked'",
    )
    assert len(blocked) and blocked["reason"].str.contains("max_drawdown").all()
    assert (after["action"] == "blocked").any()


def test_live_mode_sends_each_order_once_through_ccxt(account: Settings):
    live = account.model_copy(
        update={"trading": account.trading.model_copy(update={"mode": "live"})}
    )
    as_of = default_as_of(account) - 48 * HOUR
    closes = query(
        account,
        "select symbol, close from market_data where ts = ? and exchange = 'simulator'",
        [as_of - HOUR],
    )
    exchange = FakeExchange(dict(zip(closes["symbol"], closes["close"], strict=True)))
    broker = LiveBroker(exchange)
    real_submit, failures = broker.submit, []

    def flaky(order, when):  # the first send dies after the order was stored: a crash
        if not failures:
            failures.append(order.client_order_id)
            raise TradingError("connection reset", retryable=True)
        return real_submit(order, when)

    broker.submit = flaky
    with pytest.raises(TradingError, match="connection reset"):
        Trader(live, broker=broker).step(as_of)
    stored = query(account, "select client_order_id, status from orders where mode = 'live'")
    assert failures[0] in set(stored["client_order_id"])
    assert "new" in set(stored["status"])

    result = Trader(live, broker=broker).step(as_of)  # the restart
    assert result.already_decided == len(SYMBOLS)
    created = exchange.created()
    assert sorted(c[5]["clientOrderId"] for c in created) == sorted(stored["client_order_id"])
    orders = query(account, "select * from orders where mode = 'live'")
    assert set(orders["status"]) == {"filled"} and orders["exchange_order_id"].notna().all()
    trades = query(account, "select * from trades where mode = 'live'")
    assert sorted(trades["client_order_id"]) == sorted(orders["client_order_id"])
    Trader(live, broker=broker).step(as_of)  # and once more: nothing sent
    assert len(exchange.created()) == len(created)
    assert query(account, "select count(*) n from orders where mode = 'paper'")["n"][0] == 0


def test_orders_record_when_they_were_sent_and_acknowledged(account: Settings):
    """Decision -> send -> acknowledgement, wall clock, stored per order (migration 011) and
    served by the REST API's /metrics as order latency quantiles."""
    from prometheus_client.parser import text_string_to_metric_families

    from cryptobot.api.metrics import ApiMetrics, order_latency_gauges
    from cryptobot.api.reads import order_latency
    from cryptobot.warehouse.db import read_connection

    live = account.model_copy(
        update={"trading": account.trading.model_copy(update={"mode": "live"})}
    )
    as_of = default_as_of(account) - 48 * HOUR
    closes = query(
        account,
        "select symbol, close from market_data where ts = ? and exchange = 'simulator'",
        [as_of - HOUR],
    )
    exchange = FakeExchange(dict(zip(closes["symbol"], closes["close"], strict=True)))
    Trader(live, broker=LiveBroker(exchange)).step(as_of)
    Trader(account).step(as_of)  # the paper account, same bar
    orders = query(
        account,
        "select o.mode, o.sent_at, o.acknowledged_at, d.created_at as decided from orders o "
        "join trade_decisions d on d.id = o.decision_id",
    )
    assert set(orders["mode"]) == {"live", "paper"}
    assert orders["sent_at"].notna().all() and orders["acknowledged_at"].notna().all()
    assert (orders["decided"] <= orders["sent_at"]).all()
    assert (orders["sent_at"] <= orders["acknowledged_at"]).all()
    paper = orders[orders["mode"] == "paper"]
    assert (paper["sent_at"] == paper["acknowledged_at"]).all()  # the desk takes it at once

    with read_connection(account.warehouse) as con:
        latency = {row["mode"]: row for row in order_latency(con)}
    live_orders = orders[orders["mode"] == "live"]
    assert latency["live"]["orders"] == len(live_orders)
    worst = (live_orders["acknowledged_at"] - live_orders["decided"]).max().total_seconds()
    assert latency["live"]["decision_max"] == pytest.approx(worst, abs=1e-6)
    text = ApiMetrics().exposition(order_latency_gauges(list(latency.values()))).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    samples = families["cryptobot_order_decision_to_ack_seconds"].samples
    assert {(s.labels["mode"], s.labels["quantile"]) for s in samples} == {
        (mode, q) for mode in ("live", "paper") for q in ("0.5", "0.99", "1")
    }


def test_cli_trade_refuses_live_without_keys(account: Settings, monkeypatch, prefect_harness):
    monkeypatch.setenv("CRYPTOBOT_TRADING__MODE", "live")
    result = runner.invoke(app, ["trade"])
    assert result.exit_code == 9, result.output
    assert "CRYPTOBOT_EXCHANGE_API_KEY and CRYPTOBOT_EXCHANGE_SECRET" in result.output
    assert counts(account)["orders"] == 0


def test_cli_trade_runs_the_flow_and_a_rerun_sends_nothing(account: Settings, prefect_harness):
    moment = default_as_of(account) - 30 * HOUR
    as_of = moment.strftime("%Y-%m-%dT%H:%M")
    first = runner.invoke(app, ["trade", "--as-of", as_of])
    assert first.exit_code == 0, first.output
    assert (
        "decisions at" in first.stdout and "paper account default: equity 10,000.00" in first.stdout
    )
    before = counts(account)
    again = runner.invoke(app, ["trade", "--as-of", as_of])
    assert again.exit_code == 0, again.output
    assert f"{len(SYMBOLS)} symbol(s) already decided" in again.stdout
    assert counts(account) == before
    later = (moment + 3 * HOUR).strftime("%Y-%m-%dT%H:%M")
    replayed = runner.invoke(app, ["trade", "--as-of", later, "--replay-days", "0.25"])
    assert replayed.exit_code == 0, replayed.output
    # 6 bars up to `later`: two before the account's last mark, that mark again, three new
    assert "6 bar(s) (2 traded before)" in replayed.stdout, replayed.stdout
    equity = query(account, "select ts from equity_curve order by ts")["ts"]
    assert list(equity) == [pd.Timestamp(moment + k * HOUR) for k in range(4)]


def test_a_trade_step_writes_under_the_warehouse_write_lock(account: Settings, prefect_harness):
    from cryptobot.warehouse.lock import read_holder
    from flows.trade import trade

    holding = []

    def spy(*args, **kwargs):  # who the lock file names while a step writes
        holding.append(read_holder(account.warehouse))
        return real(*args, **kwargs)

    import cryptobot.trading.engine as engine

    real = engine._write_decisions
    engine._write_decisions = spy
    try:
        trade(as_of=default_as_of(account) - 40 * HOUR)
    finally:
        engine._write_decisions = real
    assert holding and {h.pid for h in holding} == {os.getpid()}
    assert all("flow trade run" in h.what and "task trade-step" in h.what for h in holding)
    assert read_holder(account.warehouse) is None  # released after the step


def test_trading_without_features_says_what_to_run(settings: Settings):
    ingest_simulator(settings, symbols=["BTC/USDT"], timeframe="1h", days=2, seed=1, signal=0.0)
    with pytest.raises(TradingError, match="run `cryptobot features`"):
        Trader(settings.model_copy(update={"symbols": ["BTC/USDT"]})).step()


@pytest.mark.slow  # two days of hourly steps (~30 s)
def test_a_pause_stops_new_risk_until_resumed(account: Settings):
    from cryptobot.trading.pause import set_paused

    end = default_as_of(account) - 48 * HOUR
    set_paused(account, True, by="cli tester", source="cli", reason="maintenance")
    paused = replay(account, days=1, end=end)
    adds_risk = (
        "select o.* from orders o join trade_decisions d on d.client_order_id = o.client_order_id "
        "where abs(d.order_amount + d.position_before) > abs(d.position_before) + 1e-12 "
        "and d.decided_at <= ?"
    )
    assert query(account, adds_risk, [end]).empty
    blocked = query(account, "select reason from trade_decisions where action = 'blocked'")
    assert len(blocked), "the planted signal should want to buy within a day"
    assert blocked["reason"].str.startswith("blocked by the pause (trading paused since ").all()
    assert blocked["reason"].str.contains("by cli tester: maintenance").all()
    assert paused.orders == 0  # a fresh account holds nothing: nothing to reduce either

    set_paused(account, False, by="cli tester", source="cli")
    resumed = replay(account, days=1, end=end + 24 * HOUR)
    assert resumed.orders > 0
    assert not query(account, adds_risk, [end + 24 * HOUR]).empty


@pytest.mark.slow  # hourly trade flows until an order fills (~20 s)
def test_the_trade_flow_alerts_its_fills(account: Settings, monkeypatch, prefect_harness):
    from cryptobot import notify
    from flows.trade import trade
    from tests.fake_telegram import TOKEN, fake_telegram

    with fake_telegram() as telegram:
        monkeypatch.setenv("CRYPTOBOT_TELEGRAM_BOT_TOKEN", TOKEN)
        monkeypatch.setenv("CRYPTOBOT_TELEGRAM_CHAT_ID", "1")
        monkeypatch.setenv("CRYPTOBOT_TELEGRAM_API_URL", telegram.url)
        monkeypatch.setattr(notify, "_sleep", lambda _: None)
        moment = default_as_of(account) - 30 * HOUR
        for hour in range(16):
            step = trade(as_of=moment + hour * HOUR)["step"]
            if step["fills"]:
                break
        assert step["fills"], "the planted signal should trade within 16 hours"
        fills = [t for t in telegram.sent("1") if "fill(s)" in t.splitlines()[0]]
        assert len(fills) == 1
        assert fills[0].splitlines()[0] == f"[SIMULATED] cryptobot paper: {step['fills']} fill(s)"
        assert len(fills[0].splitlines()) == step["fills"] + 1


def test_named_accounts_trade_apart_and_a_reset_reopens_history(account: Settings):
    from cryptobot.trading.accounts import archive_account

    as_of = default_as_of(account) - 48 * HOUR
    Trader(account).step(as_of)
    Trader(account, account="exp").step(as_of)
    decisions = query(account, "select account, id, client_order_id from trade_decisions")
    assert sorted(decisions.groupby("account").size().items()) == [
        ("default", len(SYMBOLS)),
        ("exp", len(SYMBOLS)),
    ]
    # the default account keeps the ids it had before accounts were named; others own theirs
    assert decisions[decisions["account"] == "default"]["id"].str.startswith("paper:").all()
    assert decisions[decisions["account"] == "exp"]["id"].str.startswith("paper@exp:").all()
    orders = query(account, "select account, client_order_id from orders")
    assert orders["client_order_id"].is_unique and set(orders["account"]) <= {"default", "exp"}

    # exp marks a later moment; the default account's history is not blocked by it
    assert not Trader(account, account="exp").step(as_of + 24 * HOUR).already_marked
    assert not Trader(account).step(as_of + HOUR).already_marked
    blocked = Trader(account, account="exp").step(as_of + HOUR)
    assert blocked.already_marked  # exp's mark is later: "already traded"
    default_before = query(account, "select * from equity_curve where account = 'default'")

    moved = archive_account(account, "exp", close=False)
    assert moved.rows["equity_curve"] == 2 and moved.rows["trade_decisions"] == 2 * len(SYMBOLS)
    again = Trader(account, account="exp").step(as_of + HOUR)
    assert not again.already_marked and again.already_decided == 0  # a fresh account
    assert again.equity.equity == account.trading.initial_capital
    assert query(account, "select * from equity_curve where account = 'default'").equals(
        default_before
    )


def test_a_replay_over_bars_the_champion_trained_on_is_refused_unless_allowed(account: Settings):
    from models.predictions import load_champion

    target = Trader(account).targets[0]
    holdout = load_champion(account, target).holdout_start
    assert holdout is not None
    end = (holdout - 24 * HOUR).to_pydatetime()  # a window the champions trained on
    with pytest.raises(TradingError, match="no out-of-sample prediction before") as caught:
        replay(account, days=0.25, end=end)
    assert "--allow-in-sample" in str(caught.value) and "replay is then labelled" in str(
        caught.value
    )
    assert counts(account)["trade_decisions"] == 0  # refused before any step

    allowed = replay(account, days=0.25, end=end, allow_in_sample=True)
    assert allowed.in_sample and allowed.steps == 6
    labels = query(account, "select distinct in_sample from trade_decisions")["in_sample"]
    assert list(labels) == [True]

    later = replay(account, days=0.25, end=default_as_of(account) - 24 * HOUR)
    assert not later.in_sample  # out of sample: not labelled
    fresh = query(account, "select in_sample from trade_decisions where decided_at > ?", [end])
    assert len(fresh) and not fresh["in_sample"].any()


def test_train_names_the_exchanges_that_hold_a_symbol(account: Settings):
    from cryptobot.errors import ModelError
    from models.dataset import Target
    from models.train import train_target

    with pytest.raises(ModelError) as caught:
        train_target(account, Target("binance", "BTC/USDT", "1h", 1), families=["xgboost"])
    message = str(caught.value)
    assert "no rows in marts.fct_features for binance BTC/USDT 1h" in message
    assert "BTC/USDT is stored under simulator 1h (1,440 candles), not under binance 1h" in message
    assert "pass --exchange simulator" in message


def test_a_symbol_whose_challenger_the_gate_refused_says_so_in_its_decision(
    account: Settings, tmp_path: Path
):
    from models.tracking import configure

    fresh = account.model_copy(
        update={
            "mlflow_tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
            "symbols": SYMBOLS[:1],
        }
    )
    client = configure(fresh)
    name = Trader(fresh).targets[0].name
    client.create_registered_model(name)
    version = client.create_model_version(name, source="file:///nonexistent/model").version
    for key, value in {
        "family": "xgboost",
        "gate.decision": "refused",
        "gate.reasons": "holdout accuracy 50.4% is not significantly above 50% (p=0.31)",
    }.items():
        client.set_model_version_tag(name, version, key, value)
    result = Trader(fresh).step(default_as_of(account) - 48 * HOUR)
    (decision,) = result.decisions
    assert decision["action"] == "skip"
    assert decision["reason"].startswith(
        f"no champion for {name}: its challenger v{version} (xgboost) was refused by the gate: "
        "holdout accuracy 50.4%"
    )
