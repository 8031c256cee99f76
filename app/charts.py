"""Altair charts for the pages. Every function takes a small, already-aggregated frame."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

UP = "#16A34A"
DOWN = "#DC2626"
BAND = "#60A5FA"
MUTED = "#9CA3AF"
ACCENT = "#2563EB"
WARN = "#F97316"

_X = alt.X("ts:T", title=None)


def _time_axis(title: str | None = None) -> alt.X:
    return alt.X("ts:T", title=title, axis=alt.Axis(labelOverlap=True))


def equity(frame: pd.DataFrame, *, start: float | None = None, height: int = 280) -> alt.Chart:
    """Equity (line) and its running peak (dashed), with the starting capital as a rule."""
    base = alt.Chart(frame).encode(x=_time_axis())
    line = base.mark_line(color=ACCENT, strokeWidth=2).encode(
        y=alt.Y("equity:Q", title="equity", scale=alt.Scale(zero=False)),
        tooltip=[
            alt.Tooltip("ts:T", title="time (UTC)", format="%Y-%m-%d %H:%M"),
            alt.Tooltip("equity:Q", format=",.2f"),
            alt.Tooltip("cash:Q", format=",.2f"),
            alt.Tooltip("positions_value:Q", title="positions", format=",.2f"),
            alt.Tooltip("drawdown:Q", format=".2%"),
        ],
    )
    peak = base.mark_line(color=MUTED, strokeDash=[4, 3], strokeWidth=1).encode(y="peak_equity:Q")
    layers = [peak, line]
    if start is not None:
        layers.insert(
            0,
            alt.Chart(pd.DataFrame({"start": [start]}))
            .mark_rule(color=MUTED, strokeDash=[2, 2])
            .encode(y="start:Q"),
        )
    return alt.layer(*layers).properties(height=height)


def drawdown(frame: pd.DataFrame, *, limit: float | None = None, height: int = 200) -> alt.Chart:
    """Drawdown below the peak as a negative area, the max-drawdown limit as a red rule (left
    out while the worst drawdown is under a third of it: it would flatten the curve)."""
    data = frame.assign(dd=-frame["drawdown"].astype(float))
    area = (
        alt.Chart(data)
        .mark_area(color=DOWN, opacity=0.35, line={"color": DOWN})
        .encode(
            x=_time_axis(),
            y=alt.Y("dd:Q", title="drawdown", axis=alt.Axis(format="%")),
            tooltip=[
                alt.Tooltip("ts:T", title="time (UTC)", format="%Y-%m-%d %H:%M"),
                alt.Tooltip("drawdown:Q", format=".2%"),
            ],
        )
    )
    if limit is None or float(frame["drawdown"].max()) < limit / 3:
        return area.properties(height=height)
    rule = (
        alt.Chart(pd.DataFrame({"limit": [-limit], "label": [f"limit {limit:.0%}"]}))
        .mark_rule(color=DOWN, strokeDash=[6, 3])
        .encode(y="limit:Q", tooltip=["label:N"])
    )
    return alt.layer(area, rule).properties(height=height)


def candlesticks(frame: pd.DataFrame, *, bollinger: bool = True, height: int = 380) -> alt.Chart:
    """OHLC candles (green up, red down) with the Bollinger bands overlaid."""
    width = max(1.0, min(10.0, 900 / max(len(frame), 1) * 0.7))
    base = alt.Chart(frame).encode(x=_time_axis())
    color = alt.condition("datum.open <= datum.close", alt.value(UP), alt.value(DOWN))
    tooltip = [
        alt.Tooltip("ts:T", title="open time (UTC)", format="%Y-%m-%d %H:%M"),
        alt.Tooltip("open:Q", format=",.4f"),
        alt.Tooltip("high:Q", format=",.4f"),
        alt.Tooltip("low:Q", format=",.4f"),
        alt.Tooltip("close:Q", format=",.4f"),
        alt.Tooltip("volume:Q", format=",.0f"),
        alt.Tooltip("bars:Q", title="bars in candle"),
    ]
    y = alt.Y("low:Q", title="price", scale=alt.Scale(zero=False))
    wick = base.mark_rule().encode(y=y, y2="high:Q", color=color, tooltip=tooltip)
    body = base.mark_bar(size=width).encode(y="open:Q", y2="close:Q", color=color, tooltip=tooltip)
    layers: list[alt.Chart] = []
    if bollinger and frame["bb_upper"].notna().any():
        layers += [
            base.mark_area(color=BAND, opacity=0.12).encode(y="bb_lower:Q", y2="bb_upper:Q"),
            base.mark_line(color=BAND, strokeWidth=1).encode(y="bb_upper:Q"),
            base.mark_line(color=BAND, strokeWidth=1).encode(y="bb_lower:Q"),
            base.mark_line(color=BAND, strokeWidth=1, strokeDash=[4, 3]).encode(y="bb_middle:Q"),
        ]
    return alt.layer(*layers, wick, body).properties(height=height)


def rsi(frame: pd.DataFrame, *, height: int = 150) -> alt.Chart:
    """RSI(14) with the 30/70 bands."""
    base = alt.Chart(frame).encode(x=_time_axis())
    band = (
        alt.Chart(pd.DataFrame({"lo": [30], "hi": [70]}))
        .mark_rect(color=MUTED, opacity=0.12)
        .encode(y=alt.Y("lo:Q", scale=alt.Scale(domain=[0, 100])), y2="hi:Q")
    )
    rules = (
        alt.Chart(pd.DataFrame({"level": [30, 70]}))
        .mark_rule(color=MUTED, strokeDash=[4, 3])
        .encode(y="level:Q")
    )
    line = base.mark_line(color="#7C3AED").encode(
        y=alt.Y("rsi_14:Q", title="RSI 14", scale=alt.Scale(domain=[0, 100])),
        tooltip=[
            alt.Tooltip("ts:T", title="time (UTC)", format="%Y-%m-%d %H:%M"),
            alt.Tooltip("rsi_14:Q", title="RSI", format=".1f"),
        ],
    )
    return alt.layer(band, rules, line).properties(height=height)


def macd(frame: pd.DataFrame, *, height: int = 170) -> alt.Chart:
    """MACD and its signal line, the histogram as bars."""
    base = alt.Chart(frame).encode(x=_time_axis())
    width = max(1.0, min(8.0, 900 / max(len(frame), 1) * 0.6))
    hist = base.mark_bar(size=width, opacity=0.6).encode(
        y=alt.Y("macd_hist:Q", title="MACD"),
        color=alt.condition("datum.macd_hist >= 0", alt.value(UP), alt.value(DOWN)),
    )
    lines = (
        base.transform_fold(["macd", "macd_signal"], as_=["line", "value"])
        .mark_line(strokeWidth=1.5)
        .encode(
            y="value:Q",
            color=alt.Color(
                "line:N",
                scale=alt.Scale(domain=["macd", "macd_signal"], range=[ACCENT, WARN]),
                legend=alt.Legend(orient="top", title=None),
            ),
            tooltip=[
                alt.Tooltip("ts:T", title="time (UTC)", format="%Y-%m-%d %H:%M"),
                alt.Tooltip("line:N"),
                alt.Tooltip("value:Q", format=",.4f"),
            ],
        )
    )
    return alt.layer(hist, lines).properties(height=height)


def correlation_heatmap(corr: pd.DataFrame, *, limit: float, cell: int = 64) -> alt.Chart:
    """Pairwise correlations; pairs above the correlation limit are outlined."""
    long = corr.rename_axis(index="a", columns="b").stack().rename("corr").reset_index()
    long["over"] = (long["a"] != long["b"]) & (long["corr"].abs() > limit)
    base = alt.Chart(long).encode(
        x=alt.X("a:N", title=None, sort=list(corr.index), axis=alt.Axis(labelAngle=0)),
        y=alt.Y("b:N", title=None, sort=list(corr.index)),
    )
    cells = base.mark_rect().encode(
        color=alt.Color(
            "corr:Q",
            scale=alt.Scale(scheme="redblue", domain=[-1, 1], reverse=True),
            title="corr",
        ),
        stroke=alt.condition("datum.over", alt.value("#111827"), alt.value(None)),
        strokeWidth=alt.condition("datum.over", alt.value(3), alt.value(0)),
        tooltip=["a:N", "b:N", alt.Tooltip("corr:Q", format=".2f")],
    )
    text = base.mark_text(fontSize=13).encode(
        text=alt.Text("corr:Q", format=".2f"),
        color=alt.condition("abs(datum.corr) > 0.6", alt.value("white"), alt.value("#111827")),
    )
    return alt.layer(cells, text).properties(width=alt.Step(cell), height=alt.Step(cell))


def limit_use(frame: pd.DataFrame, *, height: int | None = None) -> alt.Chart:
    """Each limit's use (value / limit) as a bar; 100% is the limit."""
    data = frame.assign(shown=np.minimum(frame["use"].astype(float), 1.5))
    bars = (
        alt.Chart(data)
        .mark_bar()
        .encode(
            y=alt.Y("limit_name:N", title=None, sort=list(frame["limit_name"])),
            x=alt.X(
                "shown:Q",
                title="use of the limit",
                axis=alt.Axis(format="%"),
                scale=alt.Scale(domain=[0, 1.5]),
            ),
            color=alt.Color(
                "status:N",
                scale=alt.Scale(
                    domain=["ok", "near", "breached", "no data"],
                    range=[UP, WARN, DOWN, MUTED],
                ),
                legend=alt.Legend(orient="top", title=None),
            ),
            tooltip=[
                alt.Tooltip("limit_name:N", title="limit"),
                alt.Tooltip("value_text:N", title="value"),
                alt.Tooltip("limit_text:N", title="limit"),
                alt.Tooltip("use:Q", format=".0%"),
                alt.Tooltip("source:N"),
            ],
        )
    )
    rule = alt.Chart(pd.DataFrame({"x": [1.0]})).mark_rule(color=DOWN, strokeDash=[4, 3])
    return alt.layer(bars, rule.encode(x="x:Q")).properties(height=height or 32 * len(frame) + 40)


def family_accuracy(frame: pd.DataFrame, *, target: float | None, height: int = 260) -> alt.Chart:
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
    y = alt.Y(
        "accuracy:Q",
        title="directional accuracy",
        axis=alt.Axis(format=".0%"),
        scale=alt.Scale(domain=[low, top], zero=False),
    )
    bars = (
        alt.Chart(long)
        .mark_bar(clip=True)
        .encode(
            x=alt.X("family:N", title=None, sort=list(frame["family"]),
                    axis=alt.Axis(labelAngle=0)),
            xOffset=alt.XOffset("sample:N", sort=["walk-forward", "holdout"]),
            y=y,
            color=alt.Color("sample:N", sort=["walk-forward", "holdout"],
                            scale=alt.Scale(range=[ACCENT, BAND]),
                            legend=alt.Legend(orient="top", title=None)),
            tooltip=["family:N", "sample:N", alt.Tooltip("accuracy:Q", format=".2%")],
        )
    )  # fmt: skip
    coin = alt.Chart(pd.DataFrame({"accuracy": [0.5]})).mark_rule(color=MUTED, strokeDash=[5, 3])
    layers = [bars, coin.encode(y=y)]
    if target is not None:
        goal = alt.Chart(pd.DataFrame({"accuracy": [target]}))
        layers.append(goal.mark_rule(color=DOWN, strokeDash=[5, 3]).encode(y=y))
    return alt.layer(*layers).properties(height=height)


def folds(frame: pd.DataFrame, *, metric: str, height: int = 240) -> alt.Chart:
    """One line per family across the walk-forward folds."""
    return (
        alt.Chart(frame.dropna(subset=[metric]))
        .mark_line(point=True)
        .encode(
            x=alt.X("fold:O", title="walk-forward fold", axis=alt.Axis(labelAngle=0)),
            y=alt.Y(f"{metric}:Q", title=metric.replace("_", " "), scale=alt.Scale(zero=False)),
            color=alt.Color("family:N", legend=alt.Legend(orient="top", title=None)),
            tooltip=["family:N", "fold:O", alt.Tooltip(f"{metric}:Q", format=".4f")],
        )
        .properties(height=height)
    )


def predicted_vs_actual(frame: pd.DataFrame, *, height: int = 240) -> alt.Chart:
    """Predicted and realised log returns per bar."""
    long = frame.melt(
        id_vars=["ts"], value_vars=["predicted", "actual"], var_name="series", value_name="ret"
    ).dropna()
    return (
        alt.Chart(long)
        .mark_line(strokeWidth=1.2, point=len(frame) <= 80)
        .encode(
            x=_time_axis(),
            y=alt.Y("ret:Q", title="log return", axis=alt.Axis(format="%")),
            color=alt.Color(
                "series:N",
                scale=alt.Scale(domain=["predicted", "actual"], range=[ACCENT, MUTED]),
                legend=alt.Legend(orient="top", title=None),
            ),
            tooltip=[
                alt.Tooltip("ts:T", title="bar (UTC)", format="%Y-%m-%d %H:%M"),
                "series:N",
                alt.Tooltip("ret:Q", format=".4%"),
            ],
        )
        .properties(height=height)
    )


def rolling_accuracy(frame: pd.DataFrame, *, estimate: float | None, height: int = 200):
    """Live rolling directional accuracy, with the walk-forward estimate as a rule."""
    line = (
        alt.Chart(frame)
        .mark_line(color=ACCENT)
        .encode(
            x=_time_axis(),
            y=alt.Y("rolling:Q", title="rolling accuracy", axis=alt.Axis(format="%"),
                    scale=alt.Scale(domain=[0, 1])),
            tooltip=[alt.Tooltip("ts:T", format="%Y-%m-%d %H:%M"),
                     alt.Tooltip("rolling:Q", format=".1%")],
        )
    )  # fmt: skip
    layers = [line]
    for value, color in ((0.5, MUTED), (estimate, WARN)):
        if value is not None and not np.isnan(value):
            layers.append(
                alt.Chart(pd.DataFrame({"y": [value]}))
                .mark_rule(color=color, strokeDash=[5, 3])
                .encode(y="y:Q")
            )
    return alt.layer(*layers).properties(height=height)
