"""Reports: windows, and every figure checked against the rows seed_trading wrote."""

from __future__ import annotations

import re
from datetime import date, datetime

import pandas as pd
import pytest

from cryptobot.config import Settings
from cryptobot.errors import ReportError
from cryptobot.render import money_text
from cryptobot.reports import build_report, headline_text, report_window
from cryptobot.reports.html import APP_URL, backtest_url
from cryptobot.reports.window import parse_day
from cryptobot.warehouse.db import read_connection, write_connection
from tests.app_warehouse import stored_backtest
from tests.trading_factory import seed_trading

SECTIONS = (
    "Headline",
    "Equity and drawdown",
    "P&amp;L by symbol",
    "Open positions at the end of the window",
    "Trades in the window",
    "Risk-limit use",
    "Model accuracy: live vs validation",
    "Backtest",
    "Data quality",
)


# -- windows ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "day", "start", "end"),
    [
        ("daily", date(2025, 12, 31), datetime(2025, 12, 31), datetime(2026, 1, 1)),
        ("weekly", date(2025, 12, 31), datetime(2025, 12, 25), datetime(2026, 1, 1)),
        ("monthly", date(2025, 12, 10), datetime(2025, 12, 1), datetime(2026, 1, 1)),
        ("monthly", date(2024, 2, 29), datetime(2024, 2, 1), datetime(2024, 3, 1)),
    ],
)
def test_windows(period, day, start, end):
    window = report_window(period, day)
    assert (window.start, window.end) == (start, end)
    assert window.filename == f"{period}-{day:%Y-%m-%d}.html"


def test_bad_period_and_day_are_clear_errors():
    with pytest.raises(ReportError, match="daily, weekly, monthly"):
        report_window("yearly", date(2025, 1, 1))
    with pytest.raises(ReportError, match="YYYY-MM-DD"):
        parse_day("31/12/2025")
    assert parse_day("2025-12-31") == date(2025, 12, 31)


# -- figures from a seeded account ------------------------------------------------------------


@pytest.fixture
def seeded(settings: Settings):
    return seed_trading(settings.warehouse)


def _in(frame: pd.DataFrame, start: str, end: str) -> pd.DataFrame:
    """Fills of the window [start, end)."""
    return frame[(frame["ts"] >= pd.Timestamp(start)) & (frame["ts"] < pd.Timestamp(end))]


def _marks_in(frame: pd.DataFrame, start: str, end: str) -> pd.DataFrame:
    """Equity marks of the window: (start, end], a mark holds the fills before it."""
    return frame[(frame["ts"] > pd.Timestamp(start)) & (frame["ts"] <= pd.Timestamp(end))]


def _cells(html: str, first_cell: str) -> list[str]:
    """The cells of the table row whose first cell is ``first_cell``."""
    row = re.search(rf"<tr[^>]*><td[^>]*>{re.escape(first_cell)}</td>(.*?)</tr>", html)
    assert row, first_cell
    return re.findall(r"<td[^>]*>(.*?)</td>", row.group(1))


def test_daily_report_figures_equal_the_seeded_rows(settings, seeded):
    report = build_report(settings)  # default day: the simulated clock's last complete day
    s = report.summary
    assert s["day"] == "2025-12-02" and s["simulated"]
    assert report.path == settings.reports_dir / "daily-2025-12-02.html"
    equity = seeded.equity
    before = equity[equity["ts"] <= pd.Timestamp("2025-12-02")].iloc[-1]
    window = _marks_in(equity, "2025-12-02", "2025-12-03")
    trades = _in(seeded.trades, "2025-12-02", "2025-12-03")
    assert s["equity_start"] == pytest.approx(before["equity"], abs=1e-9)
    assert s["equity_end"] == pytest.approx(window["equity"].iloc[-1], abs=1e-9)
    assert s["pnl"] == pytest.approx(window["equity"].iloc[-1] - before["equity"], abs=1e-9)
    assert s["pnl_pct"] == pytest.approx(s["pnl"] / before["equity"])
    assert s["max_drawdown"] == pytest.approx(window["drawdown"].max())
    assert s["trades"] == len(trades) == 4
    assert s["fees"] == pytest.approx(trades["fee"].sum())
    assert s["blocked"] == 2  # bar 36: each symbol's buy blocked by the correlation check
    assert s["decisions"] == 48
    html = report.html
    for section in SECTIONS:
        assert f"<h2>{section}</h2>" in html
    assert "SIMULATED" in html
    # the headline cards print the same numbers
    assert f"{before['equity']:,.2f}" in html
    assert f"{s['pnl']:+,.2f}" in html
    # each trade of the window is a row of the trades table
    for trade in trades.itertuples():
        assert f"{trade.ts:%Y-%m-%d %H:%M}</td><td>{trade.symbol}" in html
        assert money_text(trade.fee) in html  # four significant digits below 1


def test_pnl_by_symbol_adds_up_to_the_equity_change(settings, seeded):
    report = build_report(settings, "daily", "2025-12-02")
    rows = report.data.pnl_by_symbol
    assert {r["symbol"] for r in rows} == {"BTC/USDT", "ETH/USDT"}
    assert sum(r["net"] for r in rows) == pytest.approx(report.summary["pnl"], abs=1e-6)
    trades = _in(seeded.trades, "2025-12-02", "2025-12-03")
    for row in rows:
        mine = trades[trades["symbol"] == row["symbol"]]
        buys, sells = mine[mine["side"] == "buy"], mine[mine["side"] == "sell"]
        # one round trip per symbol (flat at both ends of the day): sell minus buy price
        assert len(buys) == len(sells) == 1
        realized = sells["amount"].iloc[0] * (sells["price"].iloc[0] - buys["price"].iloc[0])
        assert row["realized"] == pytest.approx(realized)
        assert row["fees"] == pytest.approx(mine["fee"].sum())
        assert row["unrealized_change"] == pytest.approx(0.0, abs=1e-9)
    assert "The symbols add up to the equity change" in report.html


def test_positions_held_across_both_window_ends(settings):
    # starting at 20:00 the account buys at 21:00 and sells at 03:00: long over each midnight
    seeded = seed_trading(settings.warehouse, start="2025-11-30 20:00")
    report = build_report(settings, "daily", "2025-12-01")
    s = report.summary
    equity = seeded.equity
    before = equity[equity["ts"] <= pd.Timestamp("2025-12-01")].iloc[-1]
    window = _marks_in(equity, "2025-12-01", "2025-12-02")
    assert before["equity"] != window["equity"].iloc[0]  # the boundary matters here
    assert s["equity_start"] == pytest.approx(before["equity"], abs=1e-9)
    assert s["pnl"] == pytest.approx(window["equity"].iloc[-1] - before["equity"], abs=1e-9)
    rows = {r["symbol"]: r for r in report.data.pnl_by_symbol}
    assert sum(r["net"] for r in rows.values()) == pytest.approx(s["pnl"], abs=1e-6)
    trades = seeded.trades.sort_values("ts")
    for symbol, row in rows.items():
        mine = trades[trades["symbol"] == symbol].reset_index(drop=True)
        realized = sum(
            t.amount * (t.price - mine["price"].iloc[i - 1])  # each sell closes the buy before it
            for i, t in enumerate(mine.itertuples())
            if t.side == "sell" and pd.Timestamp("2025-12-01") <= t.ts < pd.Timestamp("2025-12-02")
        )
        assert row["realized"] == pytest.approx(realized)
        assert row["unrealized_change"] != pytest.approx(0.0, abs=1e-6)
    assert s["open_positions"] == 2


def test_weekly_report_from_account_opening_with_open_positions(settings, seeded):
    report = build_report(settings, "weekly", "2025-12-03")
    s = report.summary
    assert (s["start"], s["end"]) == ("2025-11-27T00:00:00", "2025-12-04T00:00:00")
    last = seeded.equity.iloc[-1]
    assert s["equity_start"] == 10_000.0  # the account opened in the window: initial capital
    assert s["equity_end"] == pytest.approx(last["equity"])
    assert s["pnl"] == pytest.approx(last["equity"] - 10_000.0)
    assert s["trades"] == len(seeded.trades)
    assert s["fees"] == pytest.approx(seeded.trades["fee"].sum())
    assert s["max_drawdown"] == pytest.approx(seeded.equity["drawdown"].max())
    # still long both symbols from the last buy: the positions are worth the curve's value
    positions = report.data.positions
    assert s["open_positions"] == 2
    last_buys = seeded.trades[seeded.trades["side"] == "buy"].groupby("symbol").tail(1)
    for position in positions:
        buy = last_buys[last_buys["symbol"] == position["symbol"]].iloc[0]
        assert position["amount"] == pytest.approx(buy["amount"])
        assert position["avg_price"] == pytest.approx(buy["price"])
        assert position["unrealized"] == pytest.approx(
            buy["amount"] * (position["mark"] - buy["price"])
        )
    assert sum(p["notional"] for p in positions) == pytest.approx(last["positions_value"])
    assert sum(r["net"] for r in report.data.pnl_by_symbol) == pytest.approx(s["pnl"], abs=1e-6)
    assert report.path.name == "weekly-2025-12-03.html"
    assert "configured initial capital" in report.html


def test_monthly_report_covers_the_calendar_month(settings, seeded):
    report = build_report(settings, "monthly", "2025-12-15")
    s = report.summary
    assert (s["start"], s["end"]) == ("2025-12-01T00:00:00", "2026-01-01T00:00:00")
    assert s["trades"] == len(seeded.trades)
    assert s["equity_end"] == pytest.approx(seeded.equity["equity"].iloc[-1])
    assert report.path.name == "monthly-2025-12-15.html"
    # freshness at the month's end: the seeded candles stop long before
    series = report.data.quality["series"]
    assert all(row["bars_behind"] > 0 for row in series)
    assert s["stale_series"] == 2


def test_risk_limit_use_matches_the_equity_curve_and_the_checks(settings, seeded):
    with write_connection(settings.warehouse) as con:  # a failed check on a risk-reducing order
        con.execute(
            """
            insert into trade_decisions (id, mode, strategy, exchange, symbol, timeframe, bar_ts,
                decided_at, action, checks, created_at)
            values ('extra', 'paper', 'long_flat', 'simulator', 'BTC/USDT', '1h',
                '2025-12-02 09:00', '2025-12-02 10:00', 'order',
                '[{"name": "volatility_threshold", "passed": false, "value": 0.09,
                   "limit": 0.05, "detail": ""}]', '2025-12-02 10:00')
            """
        )
    report = build_report(settings, "daily", "2025-12-02")
    risk = {row["name"]: row for row in report.data.risk}
    window = _marks_in(seeded.equity, "2025-12-02", "2025-12-03")
    assert list(risk) == list(type(settings.risk).model_fields)
    assert risk["max_drawdown"]["worst"] == pytest.approx(window["drawdown"].max())
    assert risk["max_drawdown"]["latest"] == pytest.approx(window["drawdown"].iloc[-1])
    assert risk["max_drawdown"]["use"] == pytest.approx(window["drawdown"].max() / 0.15)
    leverage = window["gross_exposure"] / window["equity"]
    assert risk["leverage_limit"]["worst"] == pytest.approx(leverage.max())
    daily_loss = (-window["daily_pnl"] / window["day_start_equity"]).clip(lower=0)
    assert risk["max_daily_loss"]["worst"] == pytest.approx(daily_loss.max())
    # one symbol at a time is at most the whole gross exposure
    assert 0 < risk["max_position_size"]["worst"] <= leverage.max() + 1e-12
    correlation = risk["correlation_limit"]
    assert (correlation["evaluated"], correlation["failed"], correlation["blocked"]) == (48, 2, 2)
    assert correlation["worst"] == pytest.approx(0.8) and correlation["breached"]
    volatility = risk["volatility_threshold"]
    assert (volatility["evaluated"], volatility["failed"], volatility["blocked"]) == (49, 1, 0)
    assert volatility["worst"] == pytest.approx(0.09)
    assert report.summary["decisions"] == 49 and report.summary["blocked"] == 2
    cells = _cells(report.html, "correlation_limit")
    assert cells[-2:] == ["2 / 48", "2"]


def test_the_liquidity_floor_reads_as_a_minimum_not_a_duration(settings, seeded):
    report = build_report(settings, "daily", "2025-12-02")
    assert _cells(report.html, "liquidity_minimum")[1] == "≥ 1,000,000"
    assert "1,000,000 min" not in report.html


def test_live_accuracy_per_model_and_no_mlflow_store(settings, seeded):
    report = build_report(settings, "daily", "2025-12-02")
    with read_connection(settings.warehouse) as con:
        expected = con.execute(
            "select model_name, count(*), avg(correct::int) from ml_predictions "
            "where ts >= '2025-12-02' and ts < '2025-12-03' group by 1 order by 1"
        ).fetchall()
    got = [(m["model"], m["resolved"], m["live_accuracy"]) for m in report.data.models]
    assert got == [(name, n, pytest.approx(share)) for name, n, share in expected]
    assert all(m["validation_accuracy"] is None for m in report.data.models)
    assert "no MLflow store" in report.html
    assert not (settings.data_dir / "mlflow.db").exists()  # a report never creates one


def test_validation_accuracy_comes_from_the_registry(settings, seeded):
    from mlflow import MlflowClient

    from models.tracking import configure

    client: MlflowClient = configure(settings)
    name = "simulator.BTC-USDT.1h.h1"
    client.create_registered_model(name)
    version = client.create_model_version(name, source=str(settings.data_dir))
    client.set_model_version_tag(name, version.version, "holdout.directional_accuracy", "0.5432")
    client.set_model_version_tag(name, version.version, "family", "xgboost")
    client.set_registered_model_alias(name, "champion", version.version)
    report = build_report(settings, "daily", "2025-12-02")
    models = {m["model"]: m for m in report.data.models}
    assert models[name]["validation_accuracy"] == pytest.approx(0.5432)
    assert models[name]["champion"]
    assert models["simulator.ETH-USDT.1h.h1"]["validation_accuracy"] is None
    assert "simulator.ETH-USDT.1h.h1 is not in the registry" in report.html
    assert "54.3%" in report.html


def test_data_quality_gaps_validations_and_quarantine(settings, seeded):
    with write_connection(settings.warehouse) as con:
        con.execute(
            "delete from market_data where symbol = 'ETH/USDT' "
            "and ts in ('2025-12-02 05:00', '2025-12-02 06:00', '2025-12-02 12:00')"
        )
        con.execute(
            """
            insert into validation_runs values
            ('v1', 'market_data', 'simulator', 'BTC/USDT', '1h', 65, true, '{}', 0,
             '2025-12-03 00:10'),
            ('v0', 'market_data', 'simulator', 'ETH/USDT', '1h', 65, true, '{}', 0,
             '2025-12-02 00:10'),
            ('v2', 'market_data', 'simulator', 'ETH/USDT', '1h', 62, false,
             '{"ohlc_consistent": 2}', 2, '2025-12-03 00:10')
            """
        )
        con.execute(
            """
            insert into quarantine values
            ('b1', 'market_data', 1, 'simulator', 'ETH/USDT', '1h', '2025-12-02 05:00',
             'high below low', null, '2025-12-02 06:00'),
            ('b1', 'market_data', 2, 'simulator', 'ETH/USDT', '1h', '2025-12-02 06:00',
             'high below low', null, '2025-12-02 07:00'),
            ('b0', 'market_data', 1, 'simulator', 'ETH/USDT', '1h', '2025-11-02 06:00',
             'old', null, '2025-11-02 07:00')
            """
        )
    report = build_report(settings, "daily", "2025-12-02")
    quality = report.data.quality
    series = {row["symbol"]: row for row in quality["series"]}
    assert (series["ETH/USDT"]["missing"], series["ETH/USDT"]["gaps"]) == (3, 2)
    assert series["ETH/USDT"]["bars"] == 21
    assert (series["BTC/USDT"]["missing"], series["BTC/USDT"]["bars"]) == (0, 24)
    assert all(row["bars_behind"] == 0 for row in quality["series"])
    latest = {v["symbol"]: v for v in quality["validations"]}
    assert latest["ETH/USDT"]["success"] is False  # the newest run, not the earlier pass
    assert latest["ETH/USDT"]["failures"] == "ohlc_consistent (2)"
    assert quality["quarantine"] == [
        {"table": "market_data", "reason": "high below low", "rows": 2}
    ]
    s = report.summary
    assert (s["failed_validations"], s["quarantined_rows"]) == (1, 2)
    assert "FAILED" in report.html and "1 of 2 series failed" in report.html
    assert "data quality: 1 failed validations, 2 quarantined rows" in headline_text(s)


def test_window_after_trading_stopped_keeps_the_last_mark(settings, seeded):
    report = build_report(settings, "daily", "2025-12-05")
    s = report.summary
    last = seeded.equity.iloc[-1]["equity"]
    assert s["equity_start"] == s["equity_end"] == pytest.approx(last)
    assert s["pnl"] == 0 and s["trades"] == 0 and s["open_positions"] == 2
    assert "No trades in this window." in report.html
    assert "No equity marks in this window." in report.html
    assert "no marks in this window" in report.html


# -- empty states, determinism, self-containment --------------------------------------------


def test_empty_warehouse_gives_explicit_empty_states(settings):
    with write_connection(settings.warehouse):
        pass
    report = build_report(settings, "daily", "2025-12-02")
    s = report.summary
    assert s["equity_end"] is None and s["trades"] == 0 and not s["simulated"]
    html = report.html
    for section in SECTIONS:
        assert f"<h2>{section}</h2>" in html
    for text in (
        "No equity recorded for the paper account",
        "No equity marks in this window.",
        "No trades and no positions held in this window.",
        "No open positions at the end of this window",
        "No trades in this window.",
        "No trading decisions recorded in this window.",
        "No model predictions for bars in this window.",
        "No market data stored up to the end of this window.",
        "No validation runs recorded",
        "No rows quarantined for this window.",
        "No stored backtest of the current champion models for BTC/USDT, ETH/USDT",
        "run `cryptobot backtest`",
    ):
        assert text in html, text
    assert "SIMULATED" not in html
    assert "no equity recorded" in headline_text(s)


def test_default_day_is_yesterday_for_a_real_account(settings, seeded):
    with write_connection(settings.warehouse) as con:
        for table in ("equity_curve", "trades", "ml_predictions", "trade_decisions"):
            con.execute(f"update {table} set is_simulated = false")
        con.execute("update market_data set source = 'file', exchange = 'binance'")
    report = build_report(settings, now=datetime(2025, 12, 4, 9, 30))
    assert report.summary["day"] == "2025-12-03"
    assert not report.summary["simulated"]
    assert "SIMULATED" not in report.html


def test_same_data_gives_the_same_file(settings, seeded):
    first = build_report(settings, "weekly", "2025-12-03")
    content = first.path.read_bytes()
    second = build_report(settings, "weekly", "2025-12-03")
    assert second.html == first.html
    assert second.path.read_bytes() == content
    assert content.decode("utf-8") == first.html


def test_report_is_one_self_contained_file(settings, seeded):
    champion = _register_champion(settings)
    main, _ = stored_backtest(settings, symbols=("BTC/USDT",), end="2025-12-03", bars=96,
                              models={"BTC/USDT": champion})  # fmt: skip
    html = build_report(settings, "weekly", "2025-12-03").html
    assert html.count("<svg") >= 3  # equity, P&L by symbol, risk use, accuracy
    # nothing is loaded from elsewhere; the one link opens the backtest in the app
    assert not re.search(r"""src\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    links = re.findall(r"""href\s*=\s*["']?([^"'\s>]*)""", html, re.I)
    assert [link for link in links if not link.startswith("#")] == [backtest_url(main.run_id)]
    urls = re.findall(r"https?://[^\s\"'<:]+(?::\d+)?", html)
    svg_namespaces = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    assert [u for u in urls if u not in svg_namespaces] == [APP_URL] * 2  # the link, its text
    assert not re.search(r"<link|<script|@import|url\((?!#)", html, re.I)  # url(#id): in-page
    assert "<img" not in html


# -- the champions' backtest -----------------------------------------------------------------


MODEL = "simulator.BTC-USDT.1h.h1"


def _register_champion(settings: Settings, versions: int = 2, champion: int = 2) -> str:
    """``versions`` versions of the BTC/USDT model in the MLflow store, ``champion`` the
    champion; returns the champion's ``name/version`` as a backtest records it."""
    from models.tracking import CHAMPION, configure

    client = configure(settings)
    client.create_registered_model(MODEL)
    for _ in range(versions):
        client.create_model_version(MODEL, source=str(settings.data_dir))
    client.set_registered_model_alias(MODEL, CHAMPION, str(champion))
    return f"{MODEL}/{champion}"


def _backtest_cells(html: str) -> dict[str, list[str]]:
    section = html[html.index("<h2>Backtest</h2>") : html.index("<h2>Data quality</h2>")]
    return {
        name: _cells(section, name)
        for name in ("total return", "Sharpe", "max drawdown", "trades (round trips)")
    }


def test_backtest_section_shows_the_champions_newest_run_beside_buy_and_hold(settings, seeded):
    champion = _register_champion(settings)
    older, _ = stored_backtest(settings, symbols=("BTC/USDT",), end="2025-12-02", bars=96,
                               models={"BTC/USDT": champion}, total_return=0.02)  # fmt: skip
    main, (hold,) = stored_backtest(
        settings,
        symbols=("BTC/USDT", "ETH/USDT"),
        end="2025-12-03",
        bars=96,
        models={"BTC/USDT": champion, "ETH/USDT": "simulator.ETH-USDT.1h.h1/1"},
        total_return=0.04,
    )  # ETH's model is not registered: no champion, so this run is not the champions'
    stored_backtest(
        settings,
        symbols=("BTC/USDT",),
        end="2025-12-03",
        bars=96,
        models={"BTC/USDT": f"{MODEL}/1"},
        total_return=0.06,
    )  # an old version
    stored_backtest(
        settings, symbols=("BTC/USDT",), end="2025-12-03", bars=48, strategy="sma_cross"
    )  # no model
    report = build_report(settings, "daily", "2025-12-02")
    run = report.data.backtest
    assert run is not None and run["run_id"] == older.run_id
    assert report.summary["backtest_run_id"] == older.run_id
    html = report.html
    cells = _backtest_cells(html)
    assert cells["total return"] == ["+2.00%", "+1.00%"]  # the run, then its buy-and-hold
    assert cells["Sharpe"] == ["1.25", "0.62"]
    assert cells["max drawdown"] == [f"{older.metrics['max_drawdown']:.2%}", "0.00%"]
    assert cells["trades (round trips)"] == ["2", "0"]  # sells in the last 48 bars, every 12
    start, end = older.equity["ts"].iloc[[0, -1]]
    assert f"decisions {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC (96 bars)" in html
    assert f'href="{APP_URL}/backtests?run={older.run_id}"' in html
    assert "IN-SAMPLE" not in html and '<span class="warn">SIMULATED</span>' in html
    assert "the champions&#x27; backtest" in html  # named in the SIMULATED banner

    # a newer in-sample run of the champion takes its place, labelled
    newer, _ = stored_backtest(settings, symbols=("BTC/USDT",), end="2025-12-03", bars=72,
                               models={"BTC/USDT": champion}, in_sample=True)  # fmt: skip
    html = build_report(settings, "daily", "2025-12-02").html
    assert f"run={newer.run_id}" in html and f"run={older.run_id}" not in html
    assert '<span class="bad">IN-SAMPLE</span>' in html
    assert '<th class="num">long_flat (IN-SAMPLE)</th>' in html
    assert main.run_id not in html and hold.run_id not in html


def test_backtest_section_without_the_champions_run_says_how_to_make_one(settings, seeded):
    stored_backtest(settings, symbols=("BTC/USDT",), end="2025-12-03", bars=48,
                    models={"BTC/USDT": f"{MODEL}/1"})  # fmt: skip
    html = build_report(settings, "daily", "2025-12-02").html
    assert "No stored backtest of the current champion models" in html
    assert "run `cryptobot backtest`" in html
    assert "no MLflow store" in html and "champions are unknown" in html
    assert "<a " not in html and APP_URL not in html

    _register_champion(settings, versions=2, champion=2)  # v1 was backtested, v2 is champion
    html = build_report(settings, "daily", "2025-12-02").html
    assert "No stored backtest of the current champion models" in html
    assert "traded other versions than the current champions" in html
