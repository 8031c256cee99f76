"""The Streamlit app, page by page, through ``streamlit.testing.v1.AppTest`` (in process).

Every page runs on the shared app warehouse (``tests/app_warehouse.py``: a trained BTC/USDT
model with live predictions, and ``seed_trading``'s ETH/SOL paper account) and must show its
title, the SIMULATED banner, its charts and tables with the figures the fixture wrote, and
react to its pickers and filters. On a missing or empty warehouse every page must say what to
run, never raise, and leave no connection open.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from app import ui
from app.data import COMPARED_POINTS, MAX_POINTS
from app.navigation import PAGES as NAVIGATION
from cryptobot.reports.html import BACKTESTS_PAGE
from cryptobot.warehouse.db import read_connection, write_connection
from models.metrics import ROADMAP_TARGETS
from tests.app_warehouse import (
    BTC,
    GAP,
    LONG_BARS,
    LONG_CAPITAL,
    MODEL,
    PREDICTED_BARS,
    AppWarehouse,
    app_warehouse,
)
from tests.trading_factory import seed_trading

pytestmark = pytest.mark.integration

#: the app's script (``app/main.py`` serves it; AppTest runs the script itself)
SCRIPT = Path(__file__).resolve().parents[2] / "app" / "streamlit_app.py"
PAGES = {page.title: page.path for page in NAVIGATION}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> AppWarehouse:
    return app_warehouse(tmp_path_factory)


@pytest.fixture
def seeded_env(built: AppWarehouse, monkeypatch: pytest.MonkeyPatch) -> AppWarehouse:
    """The app warehouse in the environment (conftest clears CRYPTOBOT_* before each test)."""
    for name, value in built.env.items():
        monkeypatch.setenv(name, value)
    return built


def open_page(title: str, **query: str) -> AppTest:
    """The app, switched to the page ``title`` (with the URL's ``query`` parameters), run once;
    it must not raise."""
    at = AppTest.from_file(str(SCRIPT), default_timeout=60)
    at.query_params.update(query)
    at.run()
    if title != "Overview":
        at.switch_page(PAGES[title]).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def rerun(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def charts(at: AppTest) -> list[dict]:
    """The Vega-Lite specs of the page's charts."""
    return [json.loads(chart.proto.spec) for chart in at.get("vega_lite_chart")]


def chart_data(at: AppTest) -> list[dict[str, pd.DataFrame]]:
    """The frames each chart draws (its named datasets, as Streamlit sends them)."""
    return [
        {d.name: pa.ipc.open_stream(d.data.data).read_pandas() for d in chart.proto.datasets}
        for chart in at.get("vega_lite_chart")
    ]


def has_banner(at: AppTest) -> bool:
    return any("cryptobot-simulated" in m.value and ui.BANNER_TEXT in m.value for m in at.markdown)


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def table(at: AppTest, *columns: str) -> pd.DataFrame:
    """The first table on the page with all of ``columns``."""
    for frame in at.dataframe:
        value = frame.value
        if all(c in value.columns for c in columns):
            return value
    raise AssertionError(
        f"no table with columns {columns}: {[list(f.value.columns) for f in at.dataframe]}"
    )


def texts(elements) -> str:
    return "\n".join(e.value for e in elements)


# -- every page ---------------------------------------------------------------------------------


@pytest.mark.parametrize("title", list(PAGES))
def test_every_page_opens_with_its_title_the_banner_and_no_error(seeded_env, title):
    at = open_page(title)
    assert [t.value for t in at.title] == [title]
    assert has_banner(at), f"{title}: no SIMULATED banner"
    if title == "Data quality":  # the fixture's failed SOL validation is the only error shown
        assert len(at.error) == 1 and "SOL/USDT" in at.error[0].value
    else:
        assert not at.error, texts(at.error)


# -- Overview -----------------------------------------------------------------------------------


def test_overview_shows_equity_pnl_drawdown_and_open_positions(seeded_env):
    at = open_page("Overview")
    equity = seeded_env.seeded.equity
    last = equity.iloc[-1]
    capital = 10_000.0
    assert metric(at, "Equity") == ui.money(last["equity"])
    assert metric(at, "Total P&L") == ui.money(last["equity"] - capital, signed=True)
    assert metric(at, "Today") == ui.money(last["daily_pnl"], signed=True)
    assert metric(at, "Drawdown") == ui.pct(last["drawdown"])
    realized = float(metric(at, "Realized P&L").replace(",", ""))
    unrealized = float(metric(at, "Unrealized P&L").replace(",", ""))
    assert realized + unrealized == pytest.approx(last["equity"] - capital, abs=0.02)
    specs = charts(at)
    assert len(specs) == 2  # equity and drawdown
    positions = table(at, "symbol", "amount", "unrealized_pnl")
    with read_connection(seeded_env.settings.warehouse) as con:
        held = con.execute("select symbol from positions where amount <> 0 order by 1").fetchall()
    assert sorted(positions["symbol"]) == [s for (s,) in held] and len(held) == 2
    assert "PAPER" in texts(at.markdown)
    assert any(c.value == "Account **default** (paper)" for c in at.caption)  # which account
    assert metric(at, "Registered models") == "1"


# -- Market -------------------------------------------------------------------------------------


def _last_close(built: AppWarehouse, symbol: str) -> float:
    with read_connection(built.settings.warehouse) as con:
        return con.execute(
            "select arg_max(close, ts) from market_data where symbol = ?", [symbol]
        ).fetchall()[0][0]


def test_market_draws_candles_with_bollinger_rsi_and_macd_and_follows_the_pickers(seeded_env):
    at = open_page("Market")
    assert at.selectbox(key="market_symbol").value == BTC
    assert set(at.selectbox(key="market_symbol").options) == {BTC, "ETH/USDT", "SOL/USDT"}
    specs = charts(at)
    assert len(specs) == 3
    dumped = [json.dumps(spec) for spec in specs]
    assert "bb_upper" in dumped[0] and "high" in dumped[0]
    assert "rsi_14" in dumped[1] and "macd_signal" in dumped[2]
    assert "720 bars" in texts(at.caption)  # 30 days of 1h bars
    assert metric(at, "Close") == ui.price(_last_close(seeded_env, BTC))

    at.segmented_control(key="market_range").set_value("All")
    rerun(at)
    caption = texts(at.caption)
    assert "1,440 bars" in caption and "merged into" in caption  # 60 days, > 400 candles

    at.selectbox(key="market_symbol").set_value("ETH/USDT")
    rerun(at)
    assert metric(at, "Close") == ui.price(_last_close(seeded_env, "ETH/USDT"))
    assert "65 bars" in texts(at.caption)
    assert has_banner(at)


# -- Models -------------------------------------------------------------------------------------


def test_models_compares_runs_shows_champion_history_targets_and_live_predictions(seeded_env):
    at = open_page("Models")
    versions = seeded_env.versions
    assert at.selectbox(key="models_model").value == MODEL
    assert metric(at, "Champion") == f"v{versions['xgboost']} xgboost"

    runs = table(at, "family", "cv/directional_accuracy", "holdout/directional_accuracy")
    assert list(runs["family"]) == ["persistence", "always_up", "zero_return", "xgboost"]
    assert [str(v) for v in runs["version"]] == [versions[f] for f in runs["family"]]
    assert runs["cv/directional_accuracy"].between(0, 1).all()

    history = table(at, "promoted_at", "promoted_by", "reason")
    override = history[history["version"].astype(str) == versions["persistence"]].iloc[0]
    assert override["promoted_by"] == "override by tester"
    assert override["reason"] == "app test override"
    assert not override["current"]
    gate = history[history["version"].astype(str) == versions["xgboost"]].iloc[0]
    assert gate["current"] and gate["promoted_by"] == "gate"
    assert str(gate["previous_champion"]) == versions["persistence"]
    gates = table(at, "decided_at", "decision", "challenger")
    assert list(gates["decision"]) == ["promoted"] and list(gates["challenger"]) == ["xgboost"]

    targets = table(at, "metric", "target", "walk-forward", "holdout")
    assert list(targets["metric"]) == list(ROADMAP_TARGETS)
    assert targets["walk-forward"].notna().all()

    assert metric(at, "Predictions") == f"{PREDICTED_BARS:,}"
    assert metric(at, "Resolved") == f"{PREDICTED_BARS - 1:,}"
    with read_connection(seeded_env.settings.warehouse) as con:
        live = con.execute(
            "select avg(correct::int) from ml_predictions where model_name = ? and "
            "model_version = ?",
            [MODEL, versions["xgboost"]],
        ).fetchall()[0][0]
    assert metric(at, "Live accuracy") == ui.pct(live)
    # runs compared, folds, predicted vs actual, rolling accuracy
    assert len(charts(at)) == 4

    at.segmented_control(key="models_fold_metric").set_value("sharpe")
    rerun(at)
    assert '"sharpe"' in json.dumps(charts(at)[1])


# -- Trades -------------------------------------------------------------------------------------


def test_trades_shows_orders_fills_and_the_audit_trail_and_filters_them(seeded_env):
    seeded = seeded_env.seeded
    fills_written = seeded.trades
    at = open_page("Trades")
    orders = table(at, "client_order_id", "status", "filled")
    fills = table(at, "price", "reference_price", "slippage_cost")
    decisions = table(at, "action", "failed_checks")
    assert len(orders) == seeded.orders
    assert len(fills) == len(fills_written)
    assert len(decisions) == seeded.decisions
    assert sorted(fills["id"]) == sorted(fills_written["id"])
    assert metric(at, "Decisions") == f"{seeded.decisions:,}"

    at.multiselect(key="trades_symbols").set_value(["ETH/USDT"])
    rerun(at)
    eth = fills_written[fills_written["symbol"] == "ETH/USDT"]
    assert len(table(at, "price", "reference_price")) == len(eth)
    assert set(table(at, "action", "failed_checks")["symbol"]) == {"ETH/USDT"}

    at.multiselect(key="trades_symbols").set_value([])
    at.multiselect(key="trades_sides").set_value(["buy"])
    rerun(at)
    buys = table(at, "price", "reference_price")
    assert len(buys) == (fills_written["side"] == "buy").sum() and set(buys["side"]) == {"buy"}
    assert set(table(at, "client_order_id", "status")["side"]) == {"buy"}

    at.multiselect(key="trades_sides").set_value([])
    at.multiselect(key="trades_actions").set_value(["blocked"])
    rerun(at)
    blocked = table(at, "action", "failed_checks")
    assert len(blocked) == 2 and set(blocked["failed_checks"]) == {"correlation_limit"}
    checks = table(at, "name", "result", "value", "limit")
    assert len(checks) == 8
    failed = checks[checks["result"] == "FAILED"]
    assert list(failed["name"]) == ["correlation_limit"]

    at.multiselect(key="trades_actions").set_value([])
    first_day = seeded.start.date()
    at.date_input(key="trades_dates").set_value((first_day, first_day))
    rerun(at)
    on_day = fills_written[fills_written["ts"].dt.date == first_day]
    assert len(table(at, "price", "reference_price")) == len(on_day) > 0


# -- Backtests ----------------------------------------------------------------------------------


def _runs(built: AppWarehouse) -> pd.DataFrame:
    with read_connection(built.settings.warehouse) as con:
        return (
            con.execute("select * from backtest_runs order by created_at")
            .df()
            .set_index("run_id", drop=False)
        )


def _name(runs: pd.DataFrame, run_id: str) -> str:
    """How the page names a run (``app/views/backtests.py``'s ``run_name``)."""
    run = runs.loc[run_id]
    name = (
        f"{run['label']} {run_id[:8]}"
        if run["role"] == "strategy"
        else f"{run['label']} of {run['parent_id'][:8]}"
    )
    return f"{name} IN-SAMPLE" if run["in_sample"] else name


def test_backtests_lists_the_runs_and_compares_the_newest_with_its_legs(seeded_env):
    backtests = seeded_env.backtests
    runs = _runs(seeded_env)
    at = open_page("Backtests")
    listed = table(at, "strategy", "symbols", "flags", "run_id")
    newest_first = [ids[0] for ids in reversed(backtests.values())]
    assert list(listed["run_id"]) == newest_first
    by_id = listed.set_index("run_id")
    in_sample = backtests["in_sample"][0]
    assert by_id.loc[in_sample, "flags"] == "IN-SAMPLE · SIMULATED"
    assert (by_id.drop(index=in_sample)["flags"] == "SIMULATED").all()
    champion = backtests["champion"]
    main = runs.loc[champion[0]]
    metrics = json.loads(main["metrics"])
    assert by_id.loc[champion[0], "total_return"] == pytest.approx(metrics["total_return"] * 100)
    assert by_id.loc[champion[0], "trades"] == metrics["trades"]
    assert by_id.loc[champion[0], "bars"] == main["bars"]

    # compared by default: the newest run and its legs (buy_and_hold and the baselines)
    assert at.multiselect(key="backtests_compare").value == [
        champion[0],
        champion[1],
        *sorted(champion[2:], key=lambda r: runs.loc[r, "label"]),
    ]
    compared = table(at, "metric", _name(runs, champion[0]))
    assert list(compared.columns) == ["metric", *(_name(runs, r) for r in at.multiselect(
        key="backtests_compare").value)]  # fmt: skip
    assert {"buy_and_hold of " + champion[0][:8], "persistence of " + champion[0][:8]} <= set(
        compared.columns
    )
    rows = compared.set_index("metric")
    for run_id in champion:
        after_costs = json.loads(runs.loc[run_id, "metrics"])
        column = _name(runs, run_id)
        assert rows.loc["total return", column] == ui.pct(after_costs["total_return"])
        sharpe = after_costs["sharpe"]  # null: no returns to measure (zero_return)
        assert rows.loc["Sharpe", column] == ("–" if sharpe is None else f"{sharpe:.2f}")
        assert rows.loc["role", column] == runs.loc[run_id, "role"]
    assert rows.loc["directional accuracy", _name(runs, champion[0])] == ui.pct(
        metrics["directional_accuracy"]
    )

    equity, candles = chart_data(at)  # equity over drawdown (one dataset), the candles
    assert equity["data"].groupby("run", sort=False).size().index.tolist() == [
        _name(runs, r) for r in at.multiselect(key="backtests_compare").value
    ]  # one line per run
    rows = charts(at)[0]["vconcat"]
    assert [row["encoding"]["y"]["field"] for row in rows] == ["ret", "dd"]
    # 5 runs share the chart's points: each drawn from buckets of a few hours
    mine = equity["data"][equity["data"]["run"] == _name(runs, champion[0])]
    assert len(mine) <= COMPARED_POINTS / 5
    (hours,) = set(mine["ts"].diff().iloc[1:-1] / pd.Timedelta(hours=1))
    assert hours > 1 and f"the last mark of each {hours:.0f}-hour bucket" in texts(at.caption)
    # the newest run's fills of its last 14 days over the candles
    end = main["end_ts"]
    start = pd.Timestamp((end - timedelta(days=14)).date())
    with read_connection(seeded_env.settings.warehouse) as con:
        fills = con.execute(
            "select ts, side, price from backtest_fills where run_id = ? and ts >= ? "
            "order by ts, order_no",
            [champion[0], start.to_pydatetime()],
        ).df()
    assert len(fills) > 0
    drawn = candles["fills"]
    assert list(drawn["ts"]) == list(fills["ts"]) and list(drawn["side"]) == list(fills["side"])
    assert drawn["price"].tolist() == pytest.approx(fills["price"].tolist())
    assert candles["data"]["ts"].min() == start and candles["data"]["ts"].max() <= end
    assert f"{len(fills):,} fills of {BTC}" in texts(at.caption)

    # every run of the window: all the run's fills
    first_day = main["start_ts"].date()
    at.date_input(key=f"backtests_trades_dates_{champion[0][:8]}").set_value(
        (first_day, end.date())
    )
    rerun(at)
    drawn = chart_data(at)[1]["fills"]
    with read_connection(seeded_env.settings.warehouse) as con:
        (total,) = con.execute(
            "select count(*) from backtest_fills where run_id = ?", [champion[0]]
        ).fetchone()
    assert len(drawn) == total


def test_backtests_filter_by_strategy_and_symbol(seeded_env):
    backtests = seeded_env.backtests
    at = open_page("Backtests")
    at.multiselect(key="backtests_strategies").set_value(["sma_cross"])
    rerun(at)
    listed = table(at, "strategy", "symbols", "flags", "run_id")
    assert list(listed["run_id"]) == [backtests["long"][0], backtests["sma_cross"][0]]
    at.multiselect(key="backtests_symbols").set_value(["ETH/USDT"])
    rerun(at)
    assert list(table(at, "strategy", "flags", "run_id")["run_id"]) == [backtests["long"][0]]
    at.multiselect(key="backtests_strategies").set_value(["long_flat"])
    rerun(at)
    assert "No stored backtest matches these filters." in texts(at.info)


def test_backtests_open_on_the_run_in_the_url_and_label_in_sample_runs(seeded_env):
    runs = _runs(seeded_env)
    in_sample = seeded_env.backtests["in_sample"]
    at = open_page("Backtests", run=in_sample[0])
    chosen = at.multiselect(key="backtests_compare").value
    assert chosen[0] == in_sample[0] and set(chosen) == set(in_sample)
    assert at.selectbox(key="backtests_trades_run").value == in_sample[0]
    name = _name(runs, in_sample[0])
    assert name.endswith(" IN-SAMPLE")
    # labelled in the metrics table, the legend and the warnings
    compared = table(at, "metric", name)
    assert compared.set_index("metric").loc["flags", name] == "IN-SAMPLE · SIMULATED"
    hold = _name(runs, in_sample[1])
    assert "IN-SAMPLE" not in hold  # buy-and-hold predicts nothing
    equity = charts(at)[0]
    legend = equity["vconcat"][0]["encoding"]["color"]["scale"]["domain"]
    assert name in legend and hold in legend
    assert sum(n.endswith("IN-SAMPLE") for n in legend) == 4  # the run and its baselines
    assert "IN-SAMPLE" in texts(at.warning) and in_sample[0][:8] in texts(at.warning)

    # a leg in the URL: that run alone; an unknown run: said, then the newest
    at = open_page("Backtests", run=in_sample[1])
    assert at.multiselect(key="backtests_compare").value == [in_sample[1]]
    at = open_page("Backtests", run="no-such-run")
    assert "No stored backtest run `no-such-run`" in texts(at.warning)
    assert at.multiselect(key="backtests_compare").value[0] == seeded_env.backtests["champion"][0]


def test_backtests_equity_is_bucketed_in_sql_and_normalised_to_the_capital(seeded_env):
    """A two-year hourly run (17,520 marks) is drawn from 24-hour buckets beside two others
    (its share of the chart's points: 800), as the return on its own 5,000 capital beside runs
    of 10,000; alone, from 12-hour buckets (at most MAX_POINTS points)."""
    long_run, hold = seeded_env.backtests["long"]
    champion = seeded_env.backtests["champion"][0]
    at = open_page("Backtests", run=long_run)
    at.multiselect(key="backtests_compare").set_value([long_run, hold, champion])
    rerun(at)
    frame = chart_data(at)[0]["data"]
    runs = _runs(seeded_env)
    mine = frame[frame["run"] == _name(runs, long_run)]
    assert 0.9 * LONG_BARS / 24 <= len(mine) <= COMPARED_POINTS / 3
    steps = mine["ts"].diff().dropna()
    # the last mark of each 24-hour bucket; the newest bucket is still partial
    assert (steps.iloc[:-1] == pd.Timedelta(hours=24)).all()
    assert steps.iloc[-1] <= pd.Timedelta(hours=24)
    assert set(mine["ts"].iloc[:-1].dt.hour) == {23}
    with read_connection(seeded_env.settings.warehouse) as con:
        last = con.execute(
            "select arg_max(equity, ts), max(drawdown) from backtest_equity where run_id = ?",
            [long_run],
        ).fetchone()
    assert mine["equity"].iloc[-1] == pytest.approx(last[0])
    assert mine["growth"].iloc[-1] == pytest.approx(last[0] / LONG_CAPITAL)
    assert mine["growth"].iloc[-1] - 1 == pytest.approx(0.05)  # the made-up total return
    assert mine["drawdown"].max() == pytest.approx(last[1])  # the worst of the buckets
    theirs = frame[frame["run"] == _name(runs, champion)]
    assert theirs["growth"].iloc[-1] == pytest.approx(theirs["equity"].iloc[-1] / 10_000)
    caption = texts(at.caption)
    assert f"up to {LONG_BARS:,} equity marks each" in caption
    assert "last mark of each 24-hour bucket" in caption

    at.multiselect(key="backtests_compare").set_value([long_run])
    rerun(at)
    alone = chart_data(at)[0]["data"]
    assert 0.9 * LONG_BARS / 12 <= len(alone) <= MAX_POINTS
    assert "last mark of each 12-hour bucket" in texts(at.caption)
    # the made-up ETH fills on the seeded ETH candles (their last 14 days)
    assert at.selectbox(key=f"backtests_trades_symbol_{long_run[:8]}").value == "ETH/USDT"
    assert len(chart_data(at)[1]["fills"]) == 6


def test_the_reports_backtest_link_opens_the_backtests_page():
    assert any(page.url_path == BACKTESTS_PAGE for page in NAVIGATION)


# -- Risk ---------------------------------------------------------------------------------------


def test_risk_shows_limit_use_drawdown_and_the_correlation_heatmap(seeded_env):
    at = open_page("Risk")
    settings = seeded_env.settings
    last = seeded_env.seeded.equity.iloc[-1]
    limits = table(at, "limit_name", "value_text", "limit_text", "use", "status")
    assert list(limits["limit_name"]) == list(settings.risk.model_dump())
    by_name = limits.set_index("limit_name")
    assert by_name.loc["max_drawdown", "value_text"] == f"{last['drawdown']:.2%}"
    assert by_name.loc["max_drawdown", "status"] == "ok"
    assert by_name.loc["leverage_limit", "value_text"] == (
        f"{last['gross_exposure'] / last['equity']:.2f}x"
    )
    assert by_name.loc["correlation_limit", "limit_text"] == "0.70"

    specs = charts(at)
    heatmap = next(s for s in specs if "corr" in json.dumps(s) and "rect" in json.dumps(s))
    assert heatmap["layer"][0]["encoding"]["x"]["sort"] == [BTC, "ETH/USDT", "SOL/USDT"]
    assert len(specs) == 3  # limit use, drawdown, heatmap

    blocked = table(at, "name", "failures", "last_failure")
    assert blocked.set_index("name").loc["correlation_limit", "failures"] == 2


# -- Data quality -------------------------------------------------------------------------------


def test_data_quality_shows_freshness_gaps_quarantine_and_validation(seeded_env):
    at = open_page("Data quality")
    fresh = table(at, "status", "behind", "measured_against").set_index("symbol")
    assert fresh.loc[BTC, "status"] == "fresh"  # the newest simulated bar
    assert fresh.loc["ETH/USDT", "status"] == "stale"  # 7 bars before it
    assert (fresh["measured_against"] == "newest simulated bar").all()
    assert fresh.loc["SOL/USDT", "missing_bars"] == len(GAP)
    assert (fresh["revisions"] == 0).all()  # no stored bar was changed later
    gaps = table(at, "after", "before", "missing_bars")
    assert len(gaps) == 1 and gaps.iloc[0]["missing_bars"] == len(GAP)
    assert gaps.iloc[0]["symbol"] == "SOL/USDT"
    quarantine = table(at, "table_name", "reason", "rows")
    assert quarantine.iloc[0]["reason"] == "high < low" and quarantine.iloc[0]["rows"] == 2
    validation = table(at, "result", "failures", "run_at").set_index("symbol")
    assert validation.loc["SOL/USDT", "result"] == "FAILED"
    assert validation.loc["ETH/USDT", "result"] == "passed"
    assert metric(at, "Gaps") == "1"
    assert metric(at, "Quarantined rows") == "2"
    batches = table(at, "source", "inserted", "quarantined")
    assert set(batches["table_name"]) == {"market_data", "sentiment"}


# -- empty and missing warehouses ---------------------------------------------------------------


EMPTY_STATES = {
    "Overview": "No trades yet",
    "Market": "No market data yet",
    "Models": "cryptobot train",
    "Trades": "No trades yet",
    "Backtests": "No backtests yet",
    "Risk": "No trades yet",
    "Data quality": "No market data yet",
}


def test_every_page_on_a_missing_warehouse_says_what_to_run(settings):
    assert not settings.warehouse.exists()
    for title in PAGES:
        at = open_page(title)
        assert [t.value for t in at.title] == [title]
        info = texts(at.info)
        expected = "cryptobot train" if title == "Models" else "cryptobot ingest"
        assert expected in info, (title, info)
        assert not at.error and not has_banner(at)
    assert not settings.warehouse.exists()  # read-only: nothing was created


def test_every_page_on_an_empty_warehouse_shows_its_empty_state(settings):
    with write_connection(settings.warehouse):
        pass  # an empty, migrated warehouse
    for title in PAGES:
        at = open_page(title)
        info = texts(at.info)
        assert EMPTY_STATES[title] in info, (title, info)
        assert not at.error and not has_banner(at)
    # no connection was kept: a writer in this process gets the file at once
    with write_connection(settings.warehouse, timeout=1) as con:
        assert con.execute("select count(*) from market_data").fetchall() == [(0,)]


def test_risk_limits_are_measured_without_trades_too(settings):
    """No account yet: the limits table still lists every limit, marked 'no data'."""
    from app.risk import limit_use

    use = limit_use(None, pd.DataFrame(), settings.risk)
    assert list(use["limit_name"]) == list(settings.risk.model_dump())
    assert set(use["status"]) == {"no data"} and use["use"].map(math.isnan).all()


HOLD_WRITE_LOCK = """
import sys, time
from pathlib import Path
from cryptobot.warehouse.db import write_connection
with write_connection(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_a_page_waits_for_a_busy_writer_instead_of_failing(settings):
    """Rule 6: while a flow (another process) holds the write lock, a page waits and then
    shows its data; the user never sees a lock error."""
    seeded = seed_trading(settings.warehouse, bars=12)
    with subprocess.Popen(
        [sys.executable, "-c", HOLD_WRITE_LOCK, str(settings.warehouse), "2"],
        stdout=subprocess.PIPE,
        text=True,
    ) as writer:
        assert writer.stdout.readline().strip() == "locked"
        started = time.monotonic()
        at = open_page("Trades")
        waited = time.monotonic() - started
        writer.wait(timeout=30)
    assert writer.returncode == 0
    assert not at.error, texts(at.error)
    assert len(table(at, "client_order_id", "status", "filled")) == seeded.orders
    assert waited > 1.0  # it did wait for the writer
