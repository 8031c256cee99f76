"""The report as one self-contained HTML page: inline CSS, inline SVG charts, no external
resource; its one link opens the champions' backtest in the Streamlit app (``APP_URL``).

Every value is escaped; numbers are right-aligned in tabular figures. No wall-clock time is
printed, so the same data always gives the same file.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import urlencode

import pandas as pd

from cryptobot import __version__
from cryptobot.render import money_text, price_text
from cryptobot.reports import charts
from cryptobot.reports.data import MAX_TRADE_ROWS, ReportData

DASH = "–"
#: where the Streamlit app answers (app/README.md: ``streamlit run app/main.py`` serves port 8501)
APP_URL = "http://localhost:8501"
#: the app's Backtests page (its url path in app/navigation.py); ``?run=<run_id>`` opens a run
BACKTESTS_PAGE = "backtests"
#: a trades table longer than this is folded (``<details>``), opened by a click
OPEN_TRADE_ROWS = 40

CSS = """
:root { --ink: #1f2328; --muted: #5f6368; --line: #d8dde3; --bg: #f6f8fa; --pos: #1a7f37;
        --neg: #c62828; --warn: #9a6700; }
* { box-sizing: border-box; }
body { margin: 0; padding: 24px; background: #fff; color: var(--ink);
       font: 14px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 32px 0 8px; padding-bottom: 4px;
     border-bottom: 1px solid var(--line); }
h3 { font-size: 14px; margin: 18px 0 6px; }
.sub { color: var(--muted); margin: 0; }
.banner { margin: 16px 0; padding: 10px 14px; border: 2px solid #b26a00; background: #fff4e0;
          color: #6b3f00; font-weight: 600; border-radius: 6px; }
.banner strong { letter-spacing: .08em; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(160px, 1fr)); gap: 10px;
         margin: 18px 0 6px; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px;
        background: var(--bg); }
.card .label { color: var(--muted); font-size: 12px; }
.card .value { font-size: 20px; font-weight: 600; font-variant-numeric: tabular-nums; }
.card .note { color: var(--muted); font-size: 12px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 10px; font-size: 13px; }
th, td { padding: 5px 8px; border-bottom: 1px solid var(--line); text-align: left;
         vertical-align: top; }
th { background: var(--bg); font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.total td { font-weight: 600; border-top: 2px solid var(--line); }
.pos { color: var(--pos); } .neg { color: var(--neg); }
.warn { color: var(--warn); font-weight: 600; }
.ok { color: var(--pos); font-weight: 600; } .bad { color: var(--neg); font-weight: 600; }
.empty { color: var(--muted); font-style: italic; padding: 8px 0; }
.note { color: var(--muted); font-size: 12px; }
.chart svg { width: 100%; height: auto; display: block; }
.chart { margin: 8px 0; }
details summary { cursor: pointer; color: var(--muted); margin: 4px 0; }
footer { margin-top: 36px; color: var(--muted); font-size: 12px; border-top: 1px solid var(--line);
         padding-top: 8px; }
footer li { margin: 2px 0; }
"""


# -- formatting -----------------------------------------------------------------------------------


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def money(value: float | None, *, signed: bool = False) -> str:
    return DASH if _missing(value) else money_text(value, signed=signed)


def pct(value: float | None, digits: int = 2, *, signed: bool = False) -> str:
    if _missing(value):
        return DASH
    if math.isinf(value):
        return "∞"
    return f"{value:+.{digits}%}" if signed else f"{value:.{digits}%}"


def price(value: float | None) -> str:
    return DASH if _missing(value) else price_text(value)


def amount(value: float | None) -> str:
    return DASH if _missing(value) else f"{value:,.8g}"


def when(value: datetime | pd.Timestamp | None) -> str:
    if value is None or value is pd.NaT:
        return DASH
    return f"{value:%Y-%m-%d %H:%M}"


def _sign_class(value: float | None) -> str:
    if _missing(value) or abs(value) < 0.005:
        return ""
    return "pos" if value > 0 else "neg"


class Cell:
    """A table cell: text (escaped), right-aligned when numeric, with an optional class."""

    def __init__(self, text: Any, *, num: bool = False, cls: str = ""):
        self.text = DASH if text is None else str(text)
        self.num = num
        self.cls = cls

    def html(self) -> str:
        classes = " ".join(c for c in ("num" if self.num else "", self.cls) if c)
        attr = f' class="{classes}"' if classes else ""
        return f"<td{attr}>{escape(self.text)}</td>"


def num(text: Any, cls: str = "") -> Cell:
    return Cell(text, num=True, cls=cls)


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Cell | Any]],
    *,
    numeric: Sequence[int] = (),
    total: Sequence[Cell | Any] | None = None,
) -> str:
    head = "".join(
        f'<th class="num">{escape(h)}</th>' if i in numeric else f"<th>{escape(h)}</th>"
        for i, h in enumerate(headers)
    )

    def line(row, cls=""):
        cells = "".join(
            (c if isinstance(c, Cell) else Cell(c, num=i in numeric)).html()
            for i, c in enumerate(row)
        )
        return f'<tr class="{cls}">{cells}</tr>' if cls else f"<tr>{cells}</tr>"

    body = "".join(line(row) for row in rows)
    if total is not None:
        body += line(total, "total")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def empty(text: str) -> str:
    return f'<p class="empty">{escape(text)}</p>'


def note(text: str) -> str:
    return f'<p class="note">{escape(text)}</p>' if text else ""


def chart(svg: str) -> str:
    return f'<div class="chart">{svg}</div>'


def backtest_url(run_id: str) -> str:
    """The app's Backtests page opened on the run ``run_id``."""
    return f"{APP_URL}/{BACKTESTS_PAGE}?{urlencode({'run': run_id})}"


# -- sections -----------------------------------------------------------------------------------


def _banner(data: ReportData) -> str:
    if not data.is_simulated:
        return ""
    parts = {
        "equity": "the account's equity curve",
        "trades": "its trades",
        "predictions": "the model predictions",
        "market": "the market data",
        "backtest": "the champions' backtest",
    }
    which = [text for key, text in parts.items() if data.simulated.get(key)]
    what = (
        "the built-in market simulator and a paper account trading it"
        if data.simulated.get("equity") or data.simulated.get("trades")
        else "the built-in market simulator"
    )
    return (
        '<div class="banner" role="alert"><strong>SIMULATED</strong> · This report shows '
        f"simulated data ({escape(', '.join(which))}): figures from {what}, not real "
        "trading results.</div>"
    )


def _card(label: str, value: str, extra: str = "", cls: str = "") -> str:
    value_cls = f"value {cls}".strip()
    return (
        f'<div class="card"><div class="label">{escape(label)}</div>'
        f'<div class="{value_cls}">{escape(value)}</div>'
        f'<div class="note">{escape(extra)}</div></div>'
    )


def _headline(data: ReportData) -> str:
    h = data.headline
    if h["equity_end"] is None:
        return "<h2>Headline</h2>" + empty(
            f"No equity recorded for the {data.mode} account {data.account} up to the "
            "end of this window: "
            "the trading flow has not run for it yet."
        )
    start_note = (
        "configured initial capital (account opened in this window)"
        if h["equity_start_source"] == "initial capital"
        else "last mark before the window"
    )
    end_note = f"mark at {when(h['equity_end_ts'])}"
    if not h["equity_rows"]:
        end_note += " (no marks in this window)"
    fees = money(h["fees"]) + (
        f" {h['fee_currencies'][0]}" if len(h["fee_currencies"]) == 1 else ""
    )
    cards = [
        _card("Equity at start", money(h["equity_start"]), start_note),
        _card("Equity at end", money(h["equity_end"]), end_note),
        _card(
            "P&L",
            money(h["pnl"], signed=True),
            pct(h["pnl_pct"], signed=True) + " of the starting equity",
            _sign_class(h["pnl"]),
        ),
        _card("Max drawdown", pct(h["max_drawdown"]), "below the running peak, in this window"),
        _card("Trades", f"{h['trades']:,}", f"volume {money(h['volume'])}"),
        _card("Fees paid", fees, "on the trades in this window"),
    ]
    return '<h2>Headline</h2><div class="cards">' + "".join(cards) + "</div>"


def _equity_section(data: ReportData) -> str:
    out = "<h2>Equity and drawdown</h2>"
    if data.equity.empty:
        return out + empty("No equity marks in this window.")
    times = list(data.equity["ts"])
    equity = [float(v) for v in data.equity["equity"]]
    drawdown = [float(v) for v in data.equity["drawdown"]]
    previous = data.previous
    if previous is not None:  # start the line at the window's starting equity
        times.insert(0, previous["ts"])
        equity.insert(0, float(previous["equity"]))
        drawdown.insert(0, float(previous["drawdown"]))
    svg = charts.equity_chart(
        times,
        equity,
        drawdown,
        max_drawdown=_limit(data, "max_drawdown"),
        currency=data.account_currency,
    )
    first, last = data.equity["ts"].iloc[0], data.equity["ts"].iloc[-1]
    return (
        out
        + chart(svg)
        + note(f"{len(data.equity):,} marks from {when(first)} to {when(last)} UTC.")
    )


def _limit(data: ReportData, name: str) -> float:
    return next(row["limit"] for row in data.risk if row["name"] == name)


def _pnl_section(data: ReportData) -> str:
    out = "<h2>P&amp;L by symbol</h2>"
    rows = data.pnl_by_symbol
    if not rows:
        return out + empty("No trades and no positions held in this window.")
    several = len({r["exchange"] for r in rows}) > 1
    body = [
        [
            f"{r['symbol']} ({r['exchange']})" if several else r["symbol"],
            num(f"{r['trades']:,}"),
            num(money(r["realized"], signed=True), _sign_class(r["realized"])),
            num(money(r["unrealized_change"], signed=True), _sign_class(r["unrealized_change"])),
            num(money(r["fees"])),
            num(money(r["net"], signed=True), _sign_class(r["net"])),
        ]
        for r in rows
    ]
    known = [r for r in rows if r["net"] is not None]
    total_net = sum(r["net"] for r in known) if len(known) == len(rows) else None
    total = [
        "total",
        num(f"{sum(r['trades'] for r in rows):,}"),
        num(money(sum(r["realized"] for r in rows), signed=True)),
        num(
            money(sum(r["unrealized_change"] for r in known), signed=True)
            if total_net is not None
            else DASH
        ),
        num(money(sum(r["fees"] for r in rows))),
        num(money(total_net, signed=True), _sign_class(total_net)),
    ]
    out += table(
        ["symbol", "trades", "realized", "unrealized change", "fees", "net"],
        body,
        numeric=(1, 2, 3, 4, 5),
        total=total,
    )
    pnl = data.headline["pnl"]
    if total_net is not None and pnl is not None:
        gap = pnl - total_net
        if abs(gap) <= max(0.01, 1e-6 * abs(data.headline["equity_end"] or 0)):
            out += note(
                "The symbols add up to the equity change of the window "
                f"({money(pnl, signed=True)})."
            )
        else:
            out += note(
                f"The symbols add up to {money(total_net, signed=True)}; the equity curve changed "
                f"by {money(pnl, signed=True)} (difference {money(gap, signed=True)}: cash moves "
                "that are not fills, or marks from other prices)."
            )
    elif total_net is None:
        out += note("A market with no stored price has no unrealized figure (–).")
    if len(known) > 0:
        out += chart(
            charts.bar_chart(
                [r["symbol"] for r in known],
                [r["net"] for r in known],
                f"Net P&L by symbol in the window ({data.account_currency})",
            )
        )
    return out


def _positions_section(data: ReportData) -> str:
    out = "<h2>Open positions at the end of the window</h2>"
    if not data.positions:
        return out + empty("No open positions at the end of this window (the account is flat).")
    body = [
        [
            p["symbol"],
            p["side"],
            num(amount(p["amount"])),
            num(price(p["avg_price"])),
            num(price(p["mark"]) + (" (last fill)" if p["mark_source"] == "last fill" else "")),
            num(money(p["notional"])),
            num(pct(p["share"])),
            num(money(p["unrealized"], signed=True), _sign_class(p["unrealized"])),
            when(p["opened_at"]),
        ]
        for p in data.positions
    ]
    return out + table(
        [
            "symbol",
            "side",
            "amount",
            "avg entry",
            "mark",
            "notional",
            "of equity",
            "unrealized",
            "opened",
        ],
        body,
        numeric=(2, 3, 4, 5, 6, 7),
    )


def _trades_section(data: ReportData) -> str:
    trades = data.trades
    out = "<h2>Trades in the window</h2>"
    if trades.empty:
        return out + empty("No trades in this window.")
    shown = trades.head(MAX_TRADE_ROWS)
    body = [
        [
            when(t.ts),
            t.symbol,
            Cell(t.side, cls="pos" if t.side == "buy" else "neg"),
            num(amount(t.amount)),
            num(price(t.price)),
            num(money(t.amount * t.price)),
            num(money(t.fee)),
            t.strategy or DASH,
        ]
        for t in shown.itertuples(index=False)
    ]
    rows = table(
        ["time (UTC)", "symbol", "side", "amount", "price", "notional", "fee", "strategy"],
        body,
        numeric=(3, 4, 5, 6),
    )
    buys = int((trades["side"] == "buy").sum())
    out += note(
        f"{len(trades):,} trades: {buys:,} buys, {len(trades) - buys:,} sells, "
        f"notional {money(float((trades['amount'] * trades['price']).sum()))}, "
        f"fees {money(float(trades['fee'].sum()))}."
    )
    if len(trades) > OPEN_TRADE_ROWS:  # a long list stays folded; click to open
        rows = f"<details><summary>Show all {len(shown):,} trades</summary>{rows}</details>"
    out += rows
    if len(trades) > len(shown):
        out += note(
            f"Showing the first {len(shown):,} of {len(trades):,} trades; the headline counts all."
        )
    return out


def _limit_text(row: dict[str, Any], value: float | None) -> str:
    if _missing(value):
        return DASH
    if row["name"] == "leverage_limit":
        return "∞" if math.isinf(value) else f"{value:.2f}x"
    if row["name"] == "liquidity_minimum":
        return f"{value:,.0f}"
    if row["name"] == "correlation_limit":
        return f"{value:+.2f}" if value != row["limit"] else f"{value:.2f}"
    return pct(value)


def _risk_section(data: ReportData) -> str:
    out = "<h2>Risk-limit use</h2>"
    d = data.decisions
    if d["decisions"]:
        out += note(
            f"{d['decisions']:,} decisions in the window: {d.get('order', 0):,} orders, "
            f"{d.get('blocked', 0):,} blocked by a risk check, {d.get('hold', 0):,} holds, "
            f"{d.get('skip', 0):,} skipped."
        )
    else:
        out += note("No trading decisions recorded in this window.")
    if data.equity.empty and not d["decisions"]:
        return out + empty("No equity marks and no risk checks in this window: nothing to measure.")
    body = []
    for row in data.risk:
        status = (
            Cell("over limit" if row["kind"] == "max" else "under minimum", cls="bad")
            if row["breached"]
            else Cell("within", cls="ok")
            if row["worst"] is not None
            else Cell(DASH)
        )
        use_cls = "warn" if row["use"] is not None and 0.8 <= row["use"] <= 1 else ""
        body.append(
            [
                row["name"],
                row["measure"],
                num(("≥ " if row["kind"] == "min" else "") + _limit_text(row, row["limit"])),
                num(_limit_text(row, row["latest"])),
                num(_limit_text(row, row["worst"])),
                num(
                    "> 1000%" if row["use"] is not None and row["use"] > 10 else pct(row["use"], 0),
                    "bad" if row["breached"] else use_cls,
                ),
                status,
                num(f"{row['failed']:,} / {row['evaluated']:,}" if row["evaluated"] else DASH),
                num(f"{row['blocked']:,}"),
            ]
        )
    out += table(
        [
            "limit",
            "measured as",
            "limit",
            "latest",
            "worst",
            "use",
            "status",
            "checks failed",
            "orders blocked",
        ],
        body,
        numeric=(2, 3, 4, 5, 7, 8),
    )
    out += note(
        "Use = worst value in the window / limit (for liquidity_minimum, a minimum: limit / "
        "lowest volume). Drawdown, daily loss, leverage and position size are measured on every "
        "equity mark; the others are the values the pre-trade checks recorded. An order is "
        "blocked when a check fails and the order would add risk."
    )
    plotted = [r for r in data.risk if r["use"] is not None and math.isfinite(r["use"])]
    if plotted:
        out += chart(
            charts.bar_chart(
                [r["name"] for r in plotted],
                [r["use"] for r in plotted],
                "Worst use of each limit in the window (100% = at the limit)",
                percent=True,
                reference=1.0,
                reference_label="limit",
                clip=3.0,
            )
        )
    return out


def _models_section(data: ReportData) -> str:
    out = "<h2>Model accuracy: live vs validation</h2>"
    if not data.models:
        return out + empty("No model predictions for bars in this window.") + note(data.models_note)
    body = []
    for m in data.models:
        live, valid = m["live_accuracy"], m["validation_accuracy"]
        gap = live - valid if live is not None and valid is not None else None
        body.append(
            [
                m["model"] + (" *" if m["simulated"] else ""),
                f"v{m['version']}" + (" (champion)" if m["champion"] else ""),
                m["family"] or DASH,
                num(f"{m['predictions']:,}"),
                num(f"{m['resolved']:,}"),
                num(pct(live, 1)),
                num(pct(valid, 1)),
                num(pct(gap, 1, signed=True).replace("%", " pt"), _sign_class(gap)),
            ]
        )
    out += table(
        [
            "model",
            "version",
            "family",
            "predictions",
            "resolved",
            "live accuracy",
            "validation accuracy",
            "live − validation",
        ],
        body,
        numeric=(3, 4, 5, 6, 7),
    )
    out += note(
        "Live: share of the window's resolved predictions (bars in the window whose outcome is "
        "known) that called the direction right. Validation: the version's directional accuracy "
        "on its walk-forward holdout, from the MLflow registry."
        + (" * = simulated data." if any(m["simulated"] for m in data.models) else "")
    )
    out += note(data.models_note)
    plotted = [m for m in data.models if m["live_accuracy"] is not None]
    if plotted:
        out += chart(
            charts.accuracy_chart(
                [f"{m['model']} v{m['version']}" for m in plotted],
                [m["live_accuracy"] for m in plotted],
                [m["validation_accuracy"] for m in plotted],
            )
        )
    return out


def _backtest_section(data: ReportData) -> str:
    out = "<h2>Backtest</h2>"
    run = data.backtest
    if run is None:
        return (
            out
            + empty(
                "No stored backtest of the current champion models for "
                + ", ".join(data.symbols)
                + ": run `cryptobot backtest` to replay the champions' strategy over the stored "
                "history beside buy-and-hold (it is stored, and this section shows it)."
            )
            + note(data.backtest_note)
        )
    flags = []
    if run["in_sample"]:
        flags.append(
            '<span class="bad">IN-SAMPLE</span> (some predictions are of bars the model '
            "trained on: the result flatters it)"
        )
    if run["simulated"]:
        flags.append('<span class="warn">SIMULATED</span> (replayed on simulated market data)')
    models = ", ".join(f"{symbol} {used}" for symbol, used in run["models"].items())
    out += (
        f"<p>{escape(run['strategy'])} on {escape(', '.join(run['symbols']))} "
        f"({escape(run['exchange'])} {escape(run['timeframe'])}), decisions "
        f"{escape(when(run['start']))} to {escape(when(run['end']))} UTC ({run['bars']:,} bars), "
        f"with {escape(models)}; stored {escape(when(run['created_at']))}."
        + (" " + "; ".join(flags) + "." if flags else "")
        + "</p>"
    )
    hold = run["hold"]
    label = run["strategy"] + (" (IN-SAMPLE)" if run["in_sample"] else "")
    headers = ["after costs", label] + (["buy and hold"] if hold is not None else [])
    rows = []
    for key, name, show in (
        ("total_return", "total return", lambda v: pct(v, signed=True)),
        ("sharpe", "Sharpe", lambda v: DASH if v is None else f"{v:.2f}"),
        ("max_drawdown", "max drawdown", pct),
        ("trades", "trades (round trips)", lambda v: DASH if v is None else f"{v:,.0f}"),
    ):
        value = run["metrics"][key]
        cls = _sign_class(value) if key == "total_return" else ""
        row = [name, num(show(value), cls)]
        if hold is not None:
            other = hold[key]
            row.append(num(show(other), _sign_class(other) if key == "total_return" else ""))
        rows.append(row)
    out += table(headers, rows, numeric=tuple(range(1, len(headers))))
    url = backtest_url(run["run_id"])
    out += (
        f'<p><a href="{escape(url)}">Open backtest {escape(run["run_id"][:8])} in the app</a> '
        f'<span class="note">({escape(url)}: its equity, drawdown, every metric beside the '
        "baselines, and its trades on the candles; the app runs with "
        "<code>streamlit run app/main.py</code>)</span></p>"
    )
    return (
        out
        + note(
            "The newest stored backtest that trades the current champion version (MLflow alias "
            "champion) of each of its symbols. Buy and hold: the same symbols, window, costs and "
            "limits." + ("" if hold is not None else " This run has no buy-and-hold leg stored.")
        )
        + note(data.backtest_note)
    )


def _quality_section(data: ReportData) -> str:
    q = data.quality
    out = "<h2>Data quality</h2><h3>Freshness and gaps (market data)</h3>"
    if not q["series"]:
        out += empty("No market data stored up to the end of this window.")
    else:
        body = []
        for s in q["series"]:
            behind = s["bars_behind"]
            fresh = (
                Cell("fresh", cls="ok")
                if behind == 0
                else Cell(f"{behind:,} bars behind", cls="bad")
                if behind is not None
                else Cell(DASH)
            )
            body.append(
                [
                    s["exchange"],
                    s["symbol"] + (" *" if s["simulated"] else ""),
                    s["timeframe"],
                    when(s["newest"]),
                    fresh,
                    num(
                        f"{s['bars']:,} / {s['expected']:,}" if s["expected"] else f"{s['bars']:,}"
                    ),
                    num(f"{s['missing']:,}", "bad" if s["missing"] else ""),
                    num(f"{s['gaps']:,}"),
                    when(s["features_newest"]) if q["features_mart"] else "no mart",
                ]
            )
        out += table(
            [
                "exchange",
                "symbol",
                "timeframe",
                "newest bar",
                "freshness at window end",
                "bars in window",
                "missing bars",
                "gaps",
                "newest feature row",
            ],
            body,
            numeric=(5, 6, 7),
        )
        out += note(
            "Fresh = the last bar that closes by the window's end is stored. Missing bars are "
            "holes between stored bars (counted once the next bar arrives)."
            + ("" if q["features_mart"] else " The feature mart (marts.fct_features) is not built.")
            + (" * = simulated data." if any(s["simulated"] for s in q["series"]) else "")
        )
    out += "<h3>Latest validation run per series</h3>"
    if not q["validations"]:
        out += empty("No validation runs recorded (run `cryptobot validate`).")
    else:
        out += table(
            [
                "table",
                "exchange",
                "symbol",
                "timeframe",
                "rows",
                "result",
                "failures",
                "gaps",
                "run at",
            ],
            [
                [
                    v["table"],
                    v["exchange"] or DASH,
                    v["symbol"] or DASH,
                    v["timeframe"] or DASH,
                    num(f"{v['rows']:,}"),
                    Cell("passed", cls="ok") if v["success"] else Cell("FAILED", cls="bad"),
                    v["failures"] or DASH,
                    num(DASH if v["gaps"] is None else f"{v['gaps']:,}"),
                    when(v["run_at"]),
                ]
                for v in q["validations"]
            ],
            numeric=(4, 7),
        )
        failed = sum(not v["success"] for v in q["validations"])
        out += note(
            f"{failed} of {len(q['validations'])} series failed their latest validation."
            if failed
            else f"All {len(q['validations'])} series passed their latest validation."
        )
    out += "<h3>Quarantined rows (bars in the window)</h3>"
    if not q["quarantine"]:
        out += empty("No rows quarantined for this window.")
    else:
        out += table(
            ["table", "reason", "rows"],
            [[r["table"], r["reason"], num(f"{r['rows']:,}")] for r in q["quarantine"]],
            numeric=(2,),
        )
    return out


def _footer(data: ReportData) -> str:
    items = [
        f"Account: {escape(data.account)} ({data.mode}). Window {data.window.span} "
        "(half-open: the end is excluded). "
        f"Day chosen by: {data.clock or 'the caller'}.",
        "Equity at start is the last mark before the window (the configured initial capital "
        "when the account opened inside it); equity at end is the last mark in the window.",
        "P&L by symbol replays every fill with the trading engine's position arithmetic: "
        "realised P&L and fees of the window's fills plus the change in unrealised P&L between "
        "the two marks (each market at the close of its last bar closed by the mark's time).",
        f"Money is in the account currency, {data.account_currency} (trading.account_currency): "
        "a market quoted in another currency is converted at its quote's stored rate at each "
        "fill and mark. All times are UTC.",
    ]
    return (
        "<footer><ul>"
        + "".join(f"<li>{escape(i)}</li>" for i in items)
        + f"</ul><p>cryptobot {escape(__version__)}</p></footer>"
    )


def render(data: ReportData) -> str:
    """The whole report page."""
    w = data.window
    title = f"cryptobot {w.period} report: {w.label}"
    sections = [
        _headline(data),
        _equity_section(data),
        _pnl_section(data),
        _positions_section(data),
        _trades_section(data),
        _risk_section(data),
        _models_section(data),
        _backtest_section(data),
        _quality_section(data),
    ]
    simulated = " [SIMULATED]" if data.is_simulated else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title + simulated)}</title><style>{CSS}</style></head>"
        "<body><main>"
        f"<h1>{escape(title)}</h1>"
        f'<p class="sub">{escape(w.span)} · {escape(data.mode)} account '
        f"<b>{escape(data.account)}</b></p>"
        + _banner(data)
        + "\n".join(sections)
        + _footer(data)
        + "</main></body></html>\n"
    )
