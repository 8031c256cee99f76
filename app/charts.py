"""Charts for the pages, as Vega-Lite specs (``st.vega_lite_chart``). Every function takes a
small, already-aggregated frame.

Plain dicts rather than Altair: building an Altair chart validates every encoding against the
Vega-Lite schema, then validates the whole chart again when Streamlit serialises it, which cost
0.1-0.25 s of every page run (and importing Altair another 0.15 s on the first). The specs are
checked against that same schema in the tests instead (``tests/unit/test_app_charts.py``). The
frame a chart draws is its named dataset ``data``, which Streamlit sends as Arrow; small
constant layers (rules, bands) carry their few values inline.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

Spec = dict[str, Any]

UP = "#16A34A"
DOWN = "#DC2626"
BAND = "#60A5FA"
MUTED = "#9CA3AF"
ACCENT = "#2563EB"
WARN = "#F97316"

#: the dataset every chart's frame is sent as
DATA = "data"
_TYPES = {"Q": "quantitative", "T": "temporal", "N": "nominal", "O": "ordinal"}
TIME_FORMAT = "%Y-%m-%d %H:%M"


def field(shorthand: str, **props: Any) -> Spec:
    """An encoding channel from ``"name:T"`` (type Q, T, N or O) plus its properties."""
    name, _, kind = shorthand.rpartition(":")
    return {"field": name, "type": _TYPES[kind]} | props


def when(test: str, then: Any, otherwise: Any) -> Spec:
    """A value chosen per datum by a Vega expression."""
    return {"condition": {"test": test, "value": then}, "value": otherwise}


def layer(frame: pd.DataFrame | None, *layers: Spec, **props: Any) -> Spec:
    """Layers drawing ``frame`` (the dataset ``data``) unless they bring their own data."""
    spec: Spec = {"layer": [_with_data(item) for item in layers], **props}
    if frame is not None:
        spec["datasets"] = {DATA: frame}
    return spec


def single(frame: pd.DataFrame, mark: Spec, encoding: Spec, **props: Any) -> Spec:
    return {
        "datasets": {DATA: frame},
        "data": {"name": DATA},
        "mark": mark,
        "encoding": encoding,
        **props,
    }


def _with_data(item: Spec) -> Spec:
    return item if "data" in item else {"data": {"name": DATA}} | item


def values(**columns: list[Any]) -> Spec:
    """Inline data for a small constant layer: ``values(level=[30, 70])``."""
    rows = zip(*columns.values(), strict=True)
    return {"values": [dict(zip(columns, row, strict=True)) for row in rows]}


def time_x(title: str | None = None) -> Spec:
    return field("ts:T", title=title, axis={"labelOverlap": True})


def time_tooltip(title: str = "time (UTC)") -> Spec:
    return field("ts:T", title=title, format=TIME_FORMAT)


def top_legend() -> Spec:
    return {"orient": "top", "title": None}


def equity(frame: pd.DataFrame, *, start: float | None = None, height: int = 280) -> Spec:
    """Equity (line) and its running peak (dashed), with the starting capital as a rule."""
    peak = {
        "mark": {"type": "line", "color": MUTED, "strokeDash": [4, 3], "strokeWidth": 1},
        "encoding": {"x": time_x(), "y": field("peak_equity:Q")},
    }
    line = {
        "mark": {"type": "line", "color": ACCENT, "strokeWidth": 2},
        "encoding": {
            "x": time_x(),
            "y": field("equity:Q", title="equity", scale={"zero": False}),
            "tooltip": [
                time_tooltip(),
                field("equity:Q", format=",.2f"),
                field("cash:Q", format=",.2f"),
                field("positions_value:Q", title="positions", format=",.2f"),
                field("drawdown:Q", format=".2%"),
            ],
        },
    }
    layers = [peak, line]
    if start is not None:
        capital = {
            "data": values(start=[start]),
            "mark": {"type": "rule", "color": MUTED, "strokeDash": [2, 2]},
            "encoding": {"y": field("start:Q")},
        }
        layers.insert(0, capital)
    return layer(frame, *layers, height=height)


def drawdown(frame: pd.DataFrame, *, limit: float | None = None, height: int = 200) -> Spec:
    """Drawdown below the peak as a negative area, the max-drawdown limit as a red rule (left
    out while the worst drawdown is under a third of it: it would flatten the curve)."""
    data = frame.assign(dd=-frame["drawdown"].astype(float))
    area = {
        "mark": {"type": "area", "color": DOWN, "opacity": 0.35, "line": {"color": DOWN}},
        "encoding": {
            "x": time_x(),
            "y": field("dd:Q", title="drawdown", axis={"format": "%"}),
            "tooltip": [time_tooltip(), field("drawdown:Q", format=".2%")],
        },
    }
    if limit is None or float(frame["drawdown"].max()) < limit / 3:
        return layer(data, area, height=height)
    rule = {
        "data": values(limit=[-limit], label=[f"limit {limit:.0%}"]),
        "mark": {"type": "rule", "color": DOWN, "strokeDash": [6, 3]},
        "encoding": {"y": field("limit:Q"), "tooltip": [field("label:N")]},
    }
    return layer(data, area, rule, height=height)


def candlesticks(frame: pd.DataFrame, *, bollinger: bool = True, height: int = 380) -> Spec:
    """OHLC candles (green up, red down) with the Bollinger bands overlaid."""
    width = max(1.0, min(10.0, 900 / max(len(frame), 1) * 0.7))
    color = when("datum.open <= datum.close", UP, DOWN)
    tooltip = [
        time_tooltip("open time (UTC)"),
        field("open:Q", format=",.6~r"),
        field("high:Q", format=",.6~r"),
        field("low:Q", format=",.6~r"),
        field("close:Q", format=",.6~r"),
        field("volume:Q", format=",.0f"),
        field("bars:Q", title="bars in candle"),
    ]
    x = time_x()
    wick = {
        "mark": {"type": "rule"},
        "encoding": {
            "x": x,
            "y": field("low:Q", title="price", scale={"zero": False}),
            "y2": {"field": "high"},
            "color": color,
            "tooltip": tooltip,
        },
    }
    body = {
        "mark": {"type": "bar", "size": width},
        "encoding": {
            "x": x,
            "y": field("open:Q"),
            "y2": {"field": "close"},
            "color": color,
            "tooltip": tooltip,
        },
    }
    layers: list[Spec] = []
    if bollinger and frame["bb_upper"].notna().any():
        band_line = {"type": "line", "color": BAND, "strokeWidth": 1}
        layers += [
            {
                "mark": {"type": "area", "color": BAND, "opacity": 0.12},
                "encoding": {"x": x, "y": field("bb_lower:Q"), "y2": {"field": "bb_upper"}},
            },
            {"mark": band_line, "encoding": {"x": x, "y": field("bb_upper:Q")}},
            {"mark": band_line, "encoding": {"x": x, "y": field("bb_lower:Q")}},
            {
                "mark": band_line | {"strokeDash": [4, 3]},
                "encoding": {"x": x, "y": field("bb_middle:Q")},
            },
        ]
    return layer(frame, *layers, wick, body, height=height)


def rsi(frame: pd.DataFrame, *, height: int = 150) -> Spec:
    """RSI(14) with the 30/70 bands."""
    scale = {"domain": [0, 100]}
    band = {
        "data": values(lo=[30], hi=[70]),
        "mark": {"type": "rect", "color": MUTED, "opacity": 0.12},
        "encoding": {"y": field("lo:Q", scale=scale), "y2": {"field": "hi"}},
    }
    rules = {
        "data": values(level=[30, 70]),
        "mark": {"type": "rule", "color": MUTED, "strokeDash": [4, 3]},
        "encoding": {"y": field("level:Q")},
    }
    line = {
        "mark": {"type": "line", "color": "#7C3AED"},
        "encoding": {
            "x": time_x(),
            "y": field("rsi_14:Q", title="RSI 14", scale=scale),
            "tooltip": [time_tooltip(), field("rsi_14:Q", title="RSI", format=".1f")],
        },
    }
    return layer(frame, band, rules, line, height=height)


def macd(frame: pd.DataFrame, *, height: int = 170) -> Spec:
    """MACD and its signal line, the histogram as bars."""
    width = max(1.0, min(8.0, 900 / max(len(frame), 1) * 0.6))
    hist = {
        "mark": {"type": "bar", "size": width, "opacity": 0.6},
        "encoding": {
            "x": time_x(),
            "y": field("macd_hist:Q", title="MACD"),
            "color": when("datum.macd_hist >= 0", UP, DOWN),
        },
    }
    lines = {
        "transform": [{"fold": ["macd", "macd_signal"], "as": ["line", "value"]}],
        "mark": {"type": "line", "strokeWidth": 1.5},
        "encoding": {
            "x": time_x(),
            "y": field("value:Q"),
            "color": field(
                "line:N",
                scale={"domain": ["macd", "macd_signal"], "range": [ACCENT, WARN]},
                legend=top_legend(),
            ),
            "tooltip": [time_tooltip(), field("line:N"), field("value:Q", format=",.6~r")],
        },
    }
    return layer(frame, hist, lines, height=height)


def correlation_heatmap(corr: pd.DataFrame, *, limit: float, cell: int = 64) -> Spec:
    """Pairwise correlations; pairs above the correlation limit are outlined."""
    long = corr.rename_axis(index="a", columns="b").stack().rename("corr").reset_index()
    long["over"] = (long["a"] != long["b"]) & (long["corr"].abs() > limit)
    order = list(corr.index)
    x = field("a:N", title=None, sort=order, axis={"labelAngle": 0})
    y = field("b:N", title=None, sort=order)
    cells = {
        "mark": {"type": "rect"},
        "encoding": {
            "x": x,
            "y": y,
            "color": field(
                "corr:Q", scale={"scheme": "redblue", "domain": [-1, 1], "reverse": True},
                title="corr",
            ),
            "stroke": when("datum.over", "#111827", None),
            "strokeWidth": when("datum.over", 3, 0),
            "tooltip": [field("a:N"), field("b:N"), field("corr:Q", format=".2f")],
        },
    }  # fmt: skip
    text = {
        "mark": {"type": "text", "fontSize": 13},
        "encoding": {
            "x": x,
            "y": y,
            "text": field("corr:Q", format=".2f"),
            "color": when("abs(datum.corr) > 0.6", "white", "#111827"),
        },
    }
    return layer(long, cells, text, width={"step": cell}, height={"step": cell})


def limit_use(frame: pd.DataFrame, *, height: int | None = None) -> Spec:
    """Each limit's use (value / limit) as a bar; 100% is the limit."""
    data = frame.assign(shown=np.minimum(frame["use"].astype(float), 1.5))
    bars = {
        "mark": {"type": "bar"},
        "encoding": {
            "y": field("limit_name:N", title=None, sort=list(frame["limit_name"])),
            "x": field(
                "shown:Q", title="use of the limit", axis={"format": "%"},
                scale={"domain": [0, 1.5]},
            ),
            "color": field(
                "status:N",
                scale={"domain": ["ok", "near", "breached", "no data"],
                       "range": [UP, WARN, DOWN, MUTED]},
                legend=top_legend(),
            ),
            "tooltip": [
                field("limit_name:N", title="limit"),
                field("value_text:N", title="value"),
                field("limit_text:N", title="limit"),
                field("use:Q", format=".0%"),
                field("source:N"),
            ],
        },
    }  # fmt: skip
    rule = {
        "data": values(x=[1.0]),
        "mark": {"type": "rule", "color": DOWN, "strokeDash": [4, 3]},
        "encoding": {"x": field("x:Q")},
    }
    return layer(data, bars, rule, height=height or 32 * len(frame) + 40)


def family_accuracy(frame: pd.DataFrame, *, target: float | None, height: int = 260) -> Spec:
    """Walk-forward (cv) and holdout directional accuracy per family, with 50% (grey) and the
    roadmap target (red) as dashed rules."""
    long = frame.melt(
        id_vars=["family"],
        value_vars=["walk-forward", "holdout"],
        var_name="sample",
        value_name="accuracy",
    ).dropna()
    top = max(0.7, (target or 0) + 0.03, float(long["accuracy"].max()) + 0.02 if len(long) else 0)
    low = min(0.4, float(long["accuracy"].min()) - 0.02) if len(long) else 0.4
    y = field(
        "accuracy:Q",
        title="directional accuracy",
        axis={"format": ".0%"},
        scale={"domain": [low, top], "zero": False},
    )
    samples = ["walk-forward", "holdout"]
    bars = {
        "mark": {"type": "bar", "clip": True},
        "encoding": {
            "x": field("family:N", title=None, sort=list(frame["family"]),
                       axis={"labelAngle": 0}),
            "xOffset": field("sample:N", sort=samples),
            "y": y,
            "color": field("sample:N", sort=samples, scale={"range": [ACCENT, BAND]},
                           legend=top_legend()),
            "tooltip": [field("family:N"), field("sample:N"),
                        field("accuracy:Q", format=".2%")],
        },
    }  # fmt: skip
    layers = [bars, _rule_at(0.5, MUTED, y)]
    if target is not None:
        layers.append(_rule_at(target, DOWN, y))
    return layer(long, *layers, height=height)


def _rule_at(value: float, color: str, y: Spec) -> Spec:
    """A dashed horizontal rule at ``value`` on the axis ``y`` (field ``y["field"]``)."""
    return {
        "data": values(**{y["field"]: [value]}),
        "mark": {"type": "rule", "color": color, "strokeDash": [5, 3]},
        "encoding": {"y": y},
    }


def folds(frame: pd.DataFrame, *, metric: str, height: int = 240) -> Spec:
    """One line per family across the walk-forward folds."""
    return single(
        frame.dropna(subset=[metric]),
        {"type": "line", "point": True},
        {
            "x": field("fold:O", title="walk-forward fold", axis={"labelAngle": 0}),
            "y": field(f"{metric}:Q", title=metric.replace("_", " "), scale={"zero": False}),
            "color": field("family:N", legend=top_legend()),
            "tooltip": [field("family:N"), field("fold:O"), field(f"{metric}:Q", format=".4f")],
        },
        height=height,
    )


def predicted_vs_actual(frame: pd.DataFrame, *, height: int = 240) -> Spec:
    """Predicted and realised log returns per bar."""
    long = frame.melt(
        id_vars=["ts"], value_vars=["predicted", "actual"], var_name="series", value_name="ret"
    ).dropna()
    return single(
        long,
        {"type": "line", "strokeWidth": 1.2, "point": len(frame) <= 80},
        {
            "x": time_x(),
            "y": field("ret:Q", title="log return", axis={"format": "%"}),
            "color": field(
                "series:N",
                scale={"domain": ["predicted", "actual"], "range": [ACCENT, MUTED]},
                legend=top_legend(),
            ),
            "tooltip": [
                time_tooltip("bar (UTC)"),
                field("series:N"),
                field("ret:Q", format=".4%"),
            ],
        },
        height=height,
    )


def rolling_accuracy(frame: pd.DataFrame, *, estimate: float | None, height: int = 200) -> Spec:
    """Live rolling directional accuracy, with the walk-forward estimate as a rule."""
    y = field("rolling:Q", title="rolling accuracy", axis={"format": "%"},
              scale={"domain": [0, 1]})  # fmt: skip
    line = {
        "mark": {"type": "line", "color": ACCENT},
        "encoding": {
            "x": time_x(),
            "y": y,
            "tooltip": [time_tooltip(), field("rolling:Q", format=".1%")],
        },
    }
    layers = [line]
    for value, color in ((0.5, MUTED), (estimate, WARN)):
        if value is not None and not np.isnan(value):
            layers.append(_rule_at(value, color, y))
    return layer(frame, *layers, height=height)


# -- backtests ------------------------------------------------------------------------------------

#: how each role's line is drawn in the backtest comparison: the strategy solid, the legs dashed
ROLE_DASH = {"strategy": [1, 0], "buy_and_hold": [6, 3], "baseline": [2, 2]}


def _runs_encoding(frame: pd.DataFrame, *, legends: bool = True) -> Spec:
    """One colour per run (in the frame's order) and a line style per role; ``legends`` off
    for a chart drawn under one that has them."""
    runs = list(dict.fromkeys(frame["run"]))
    roles = [role for role in ROLE_DASH if role in set(frame["role"])]
    run_legend = {"orient": "bottom", "title": None, "columns": 2, "labelLimit": 520}
    return {
        "color": field("run:N", sort=runs, scale={"domain": runs},
                       legend=run_legend if legends else None),
        "strokeDash": field(
            "role:N",
            scale={"domain": roles, "range": [ROLE_DASH[r] for r in roles]},
            legend=top_legend() if legends else None,
        ),
    }  # fmt: skip


def backtest_comparison(
    frame: pd.DataFrame, *, height: int = 300, drawdown_height: int = 170
) -> Spec:
    """Several runs over time, one colour each (line style by role), in two rows on one time
    axis and one dataset: equity as the return on each run's own starting capital (so runs of
    different capitals compare; 0% = the capital), and the drawdown below each run's running
    peak (the worst of each bucket), negative. Each row is a single view: Streamlit fits only
    a vconcat of single views to the container's width."""
    data = frame.assign(ret=frame["growth"].astype(float) - 1, dd=-frame["drawdown"].astype(float))
    equity = {
        "data": {"name": DATA},
        "mark": {"type": "line", "strokeWidth": 1.6},
        "encoding": {
            "x": field("ts:T", title=None, axis={"labels": False, "ticks": False}),  # below
            "y": field("ret:Q", title="return on the capital", axis={"format": "%"}),
            **_runs_encoding(frame),
            "tooltip": [
                time_tooltip("last mark (UTC)"),
                field("run:N"),
                field("ret:Q", title="return", format="+.2%"),
                field("equity:Q", format=",.2f"),
                field("drawdown:Q", title="worst drawdown in bucket", format=".2%"),
            ],
        },
    }
    drawdown = {
        "data": {"name": DATA},
        "mark": {"type": "line", "strokeWidth": 1.4},
        "encoding": {
            "x": time_x(),
            "y": field("dd:Q", title="drawdown", axis={"format": "%"}),
            **_runs_encoding(frame, legends=False),
            "tooltip": [
                time_tooltip("bucket's last mark (UTC)"),
                field("run:N"),
                field("drawdown:Q", title="worst drawdown in bucket", format=".2%"),
            ],
        },
    }
    return {
        "datasets": {DATA: data},
        "vconcat": [equity | {"height": height}, drawdown | {"height": drawdown_height}],
        "resolve": {"scale": {"x": "shared", "color": "shared", "strokeDash": "shared"}},
    }


#: the dataset of the fills drawn over a candle chart
FILLS = "fills"
BUY = ACCENT
SELL = WARN


def trades_on_candles(candles: pd.DataFrame, fills: pd.DataFrame, *, height: int = 420) -> Spec:
    """The candles (``candlesticks``) with each fill as a triangle at its bar's open time and
    fill price: up for a buy, down for a sell; the tooltip has amount, price and fee."""
    spec = candlesticks(candles, bollinger=True, height=height)
    sides = {"domain": ["buy", "sell"]}
    legend = top_legend() | {"symbolSize": 100, "symbolStrokeWidth": 0}  # no white outline
    markers = {
        "data": {"name": FILLS},
        "mark": {"type": "point", "filled": True, "size": 80, "opacity": 1,
                 "stroke": "white", "strokeWidth": 0.7},
        "encoding": {
            "x": time_x(),
            "y": field("price:Q"),
            "shape": field("side:N", scale=sides | {"range": ["triangle-up", "triangle-down"]},
                           legend=legend),
            "color": field("side:N", scale=sides | {"range": [BUY, SELL]}, legend=legend),
            "tooltip": [
                time_tooltip("filled at the open of (UTC)"),
                field("side:N"),
                field("amount:Q", format=",.6f"),
                field("price:Q", format=",.6~r"),
                field("fee:Q", format=",.6~r"),
                field("notional:Q", format=",.2f"),
            ],
        },
    }  # fmt: skip
    spec["layer"].append(markers)
    spec["datasets"][FILLS] = fills
    return spec
