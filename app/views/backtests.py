"""Backtests: the stored runs; several compared side by side (equity, drawdown, after-cost metrics
beside their buy-and-hold and baseline legs); one run's fills on the candle chart. ``?run=<id>``
opens the page on that run (the daily report links here)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pandas as pd
import streamlit as st

from app import charts, data, ui
from cryptobot.backtest.display import DISPLAY

#: the compared after-cost metrics: (key in ``backtest_runs.metrics``, label, format)
METRICS = DISPLAY
#: bucket sizes (hours) for the equity chart: the smallest keeping each run within its share
#: of data.COMPARED_POINTS
BUCKET_HOURS = (1, 2, 3, 4, 6, 8, 12, 24, 48, 72, 168)
#: the candle chart's default range: the last days of the run's window
TRADES_DAYS = 14
IN_SAMPLE = "IN-SAMPLE"
SIMULATED = "SIMULATED"


def short(run_id: str) -> str:
    return run_id[:8]


def run_name(run) -> str:
    """A run as the legend, the metrics table and the pickers show it (unique): a main run by
    its label and id, a leg by its label and its main run's id; IN-SAMPLE when it is."""
    if run.role == data.MAIN_ROLE:
        name = f"{run.label} {short(run.run_id)}"
    else:
        name = f"{run.label} of {short(run.parent_id)}"
    return f"{name} {IN_SAMPLE}" if run.in_sample else name


def flags(in_sample: bool, simulated: bool) -> str:
    return " · ".join(f for f, on in ((IN_SAMPLE, in_sample), (SIMULATED, simulated)) if on)


def window(start, end) -> str:
    return f"{start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M}"


def days(start, end) -> str:
    return f"{start:%Y-%m-%d} → {end:%Y-%m-%d}"


def shown(value, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return ui.pct(value) if fmt == "pct" else format(value, fmt)


st.title("Backtests")
settings = ui.settings()
wh = ui.warehouse(settings)
catalog = data.backtest_catalog(wh) if data.has_backtests(wh) else pd.DataFrame()
if catalog.empty:
    ui.empty(
        "No backtests yet",
        "cryptobot backtest",
        extra="(replays the champions' strategy over stored history beside buy-and-hold and the "
        "baselines; `cryptobot backtest --strategy sma_cross` needs no model)",
    )
    st.stop()
if bool(catalog["is_simulated"].any()):
    ui.simulated_banner("The backtests replay simulated market data: their fills and equity too.")

catalog["name"] = [run_name(run) for run in catalog.itertuples()]
names = dict(zip(catalog["run_id"], catalog["name"], strict=True))
by_id = catalog.set_index("run_id", drop=False)
mains = catalog[catalog["role"] == data.MAIN_ROLE]
legs_of = catalog[catalog["role"] != data.MAIN_ROLE].groupby("parent_id")["run_id"].agg(list)


def described(run_id: str) -> str:
    """A picker's option: the run's name, and for a main run what it traded when."""
    run = by_id.loc[run_id]
    if run["role"] != data.MAIN_ROLE:
        return f"↳ {run['name']}"
    return f"{run['name']} · {run['symbols']} · {window(run['start_ts'], run['end_ts'])}"


focus = str(mains["run_id"].iloc[0])
requested = st.query_params.get("run")
if requested:
    if requested in by_id.index:
        focus = requested
    else:
        st.warning(
            f"No stored backtest run `{requested}` (among the newest {data.MAX_ROWS:,}): showing "
            "the newest backtest instead.",
            icon=":material/warning:",
        )

# -- the stored runs ----------------------------------------------------------------------------
st.subheader("Runs")
cols = st.columns([1, 2])
strategies = cols[0].multiselect(
    "Strategy", sorted(mains["strategy"].unique()), key="backtests_strategies",
    placeholder="all strategies",
)  # fmt: skip
symbols = cols[1].multiselect(
    "Symbol",
    sorted({s for listed in mains["symbols"] for s in listed.split(",")}),
    key="backtests_symbols",
    placeholder="all symbols",
    help="runs trading any of these",
)
runs = data.backtest_runs(wh, tuple(strategies), tuple(symbols))
if runs.empty:
    st.info("No stored backtest matches these filters.", icon=":material/info:")
else:
    st.dataframe(
        runs.assign(
            window=[days(s, e) for s, e in zip(runs["start_ts"], runs["end_ts"], strict=True)],
            flags=[
                flags(i, s) for i, s in zip(runs["in_sample"], runs["is_simulated"], strict=True)
            ],
            total_return=runs["total_return"] * 100,
            max_drawdown=runs["max_drawdown"] * 100,
        )[
            [
                "created_at",
                "strategy",
                "symbols",
                "flags",
                "window",
                "bars",
                "total_return",
                "sharpe",
                "max_drawdown",
                "trades",
                "run_id",
            ]
        ],  # fmt: skip
        hide_index=True,
        column_config={
            "created_at": st.column_config.DatetimeColumn("when (UTC)", format="YYYY-MM-DD HH:mm"),
            "window": "window (UTC)",
            "bars": st.column_config.NumberColumn(width="small"),
            "total_return": st.column_config.NumberColumn("return", format="%+.2f%%"),
            "sharpe": st.column_config.NumberColumn("Sharpe", format="%.2f", width="small"),
            "max_drawdown": st.column_config.NumberColumn("max DD", format="%.2f%%"),
            "trades": st.column_config.NumberColumn("trades", format="%d", width="small"),
            "run_id": "run id",
        },
        key="backtests_runs",
    )
    total = int(runs["total"].iloc[0])
    st.caption(
        f"{total:,} stored backtest{'s' if total != 1 else ''}"
        + (f" match; the newest {len(runs):,} are shown" if total > len(runs) else "")
        + ". Metrics after fees, spread and slippage. IN-SAMPLE: some predictions came from a "
        "model that had trained on those bars, so the run flatters it."
    )

# -- runs compared ------------------------------------------------------------------------------
st.subheader("Compare")
options = list(catalog["run_id"])
default = [focus, *(legs_of.get(focus, []) if by_id.loc[focus, "role"] == data.MAIN_ROLE else [])]
chosen = st.multiselect(
    "Runs",
    options,
    default=default,
    format_func=described,
    key="backtests_compare",
    help="each backtest's main run is followed by its legs (↳): buy-and-hold and the baselines, "
    "through the same engine, window, costs and limits",
)
if not chosen:
    st.info("Pick one or more runs to compare.", icon=":material/info:")
else:
    picked = set(chosen)
    for run_id in chosen:  # the legs of every main run picked
        picked.update(legs_of.get(run_id, []))
    compared = [r for r in options if r in picked]
    in_sample = [
        names[r].removesuffix(f" {IN_SAMPLE}") for r in compared if by_id.loc[r, "in_sample"]
    ]
    if in_sample:
        st.warning(
            f"{IN_SAMPLE}: {', '.join(in_sample)} traded on predictions of bars the model had "
            "trained on, so their results flatter it.",
            icon=":material/warning:",
        )

    metrics = data.backtest_metrics(wh, tuple(compared))
    values = metrics.pivot_table(index="metric", columns="run_id", values="value", dropna=False)
    rows = [
        {"metric": "role"} | {names[r]: by_id.loc[r, "role"] for r in compared},
        {"metric": "symbols"} | {names[r]: by_id.loc[r, "symbols"] for r in compared},
        {"metric": "window"}
        | {names[r]: days(by_id.loc[r, "start_ts"], by_id.loc[r, "end_ts"]) for r in compared},
        {"metric": "flags"}
        | {
            names[r]: flags(by_id.loc[r, "in_sample"], by_id.loc[r, "is_simulated"]) or "–"
            for r in compared
        },
    ]
    for key, label, fmt in METRICS:
        if key in values.index:
            rows.append(
                {"metric": label}
                | {
                    names[r]: shown(values.at[key, r] if r in values.columns else None, fmt)
                    for r in compared
                }
            )
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        height="content",
        column_config={"metric": st.column_config.TextColumn(pinned=True, width="medium")},
        key="backtests_metrics",
    )

    span = by_id.loc[chosen, "end_ts"].max() - by_id.loc[chosen, "start_ts"].min()
    share = min(data.MAX_POINTS, data.COMPARED_POINTS // len(chosen))
    needed = span / pd.Timedelta(hours=1) / share
    bucket = next((h for h in BUCKET_HOURS if h >= needed), BUCKET_HOURS[-1])
    curves = data.backtest_curves(wh, tuple(chosen), bucket)
    curves["run"] = curves["run_id"].map(names)
    curves["role"] = curves["run_id"].map(by_id["role"])
    curves = curves.set_index("run_id").loc[[r for r in chosen if r in set(curves["run_id"])]]
    drawn = curves[["ts", "run", "role", "equity", "growth", "drawdown"]].reset_index(drop=True)
    st.markdown(
        "**Equity**, as the return on each run's starting capital, and **drawdown** below each "
        "run's running peak"
    )
    st.vega_lite_chart(spec=charts.backtest_comparison(drawn), width="stretch")
    marks = int(curves["marks"].max()) if len(curves) else 0
    per_run = int(curves.groupby(level=0).size().max()) if len(curves) else 0
    st.caption(
        f"{len(chosen)} run{'s' if len(chosen) != 1 else ''}, up to {marks:,} equity marks each"
        + (
            f", drawn as the last mark of each {bucket}-hour bucket (UTC) with the bucket's worst "
            f"drawdown: {per_run:,} points a run at most"
            if per_run < marks
            else ", every mark drawn"
        )
        + ". Solid: the strategy; dashed: buy-and-hold; dotted: the baselines."
    )

# -- one run's trades on the candles -------------------------------------------------------------
st.subheader("Trades on the chart")
cols = st.columns([3, 1, 2])
run_id = cols[0].selectbox(
    "Run", options, index=options.index(focus), format_func=described, key="backtests_trades_run"
)
run = by_id.loc[run_id]
symbol = cols[1].selectbox(
    "Symbol", run["symbols"].split(","), key=f"backtests_trades_symbol_{short(run_id)}"
)
first_day, last_day = run["start_ts"].date(), run["end_ts"].date()
span = cols[2].date_input(
    "Dates (UTC)",
    value=(max(first_day, (run["end_ts"] - timedelta(days=TRADES_DAYS)).date()), last_day),
    min_value=first_day,
    max_value=last_day,
    key=f"backtests_trades_dates_{short(run_id)}",
    help=f"the run's window; the last {TRADES_DAYS} days at first (a long hourly chart is dense)",
)
if isinstance(span, tuple | list):  # a range; while being picked, one day (or none)
    start_day, end_day = (span[0], span[-1]) if span else (first_day, last_day)
else:
    start_day = end_day = span
start = datetime.combine(start_day, datetime.min.time())
end = datetime.combine(end_day + timedelta(days=1), datetime.min.time())
if run["in_sample"]:
    st.warning(
        f"{IN_SAMPLE}: {names[run_id].removesuffix(f' {IN_SAMPLE}')} traded on predictions of "
        "bars the model had trained on.",
        icon=":material/warning:",
    )

candles = pd.DataFrame()
if data.has_features(wh):
    candles = data.candles(
        wh, run["exchange"], symbol, run["timeframe"], None, features=True, start=start, end=end
    )
if candles.empty:  # not in the feature mart (rebuilt since?): the raw candles
    candles = data.candles(
        wh, run["exchange"], symbol, run["timeframe"], None, features=False, start=start, end=end
    )
fills = data.backtest_fills(wh, run_id, symbol, start, end)
if candles.empty:
    ui.empty(
        f"No {run['exchange']} {symbol} {run['timeframe']} bars stored between {start:%Y-%m-%d} "
        f"and {end_day:%Y-%m-%d}",
        "cryptobot ingest",
    )
else:
    markers = fills[["ts", "side", "amount", "price", "fee", "notional"]]
    st.vega_lite_chart(spec=charts.trades_on_candles(candles, markers), width="stretch")
    n = int(fills["total"].iloc[0]) if len(fills) else 0
    merged = int(candles["bars"].max())
    st.caption(
        f"{n:,} fill{'s' if n != 1 else ''} of {symbol} by {names[run_id]} from "
        f"{start:%Y-%m-%d} to {end_day:%Y-%m-%d} (UTC)"
        + (f", the first {len(fills):,} drawn" if n > len(fills) else "")
        + ": ▲ buy, ▼ sell, at the fill price (after spread, slippage and impact) at the open "
        "of the bar it filled at"
        + (f"; candles merged from up to {merged} bars" if merged > 1 else "")
        + "."
    )
    with st.expander(f"Fills ({n:,})", expanded=False):
        st.dataframe(
            fills.drop(columns=["total"]),
            hide_index=True,
            column_config={
                "ts": st.column_config.DatetimeColumn("bar open (UTC)", format="YYYY-MM-DD HH:mm"),
                "amount": st.column_config.NumberColumn(format="%.6f"),
                "price": st.column_config.NumberColumn(format=ui.PRICE_COLUMN),
                "fee": st.column_config.NumberColumn(format=ui.PRICE_COLUMN),
                "notional": st.column_config.NumberColumn(format="%.2f"),
                "reference_price": st.column_config.NumberColumn(
                    "bar open", format=ui.PRICE_COLUMN
                ),
                "spread_cost": st.column_config.NumberColumn("spread cost", format=ui.PRICE_COLUMN),
                "slippage_cost": st.column_config.NumberColumn(
                    "slippage cost", format=ui.PRICE_COLUMN
                ),
            },
            key="backtests_fills",
        )
