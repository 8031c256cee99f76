"""The report's charts: matplotlib rendered to inline SVG text.

Figures are drawn on their own SVG canvas, never through pyplot: no GUI backend, no global figure
state, safe in a worker thread, and the process's backend choice (Agg elsewhere) is left alone.

The SVG is deterministic (fixed id salt, no date in its metadata), so the same data gives the
same report file; its text stays text (``svg.fonttype = none``) so the file stays small.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence

import matplotlib
import matplotlib.dates as mdates
import pandas as pd
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter

GREEN = "#1a7f37"
RED = "#c62828"
BLUE = "#1f5fae"
GREY = "#8a8f98"
_STYLE = {
    "svg.hashsalt": "cryptobot-report",
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e3e5e8",
    "grid.linewidth": 0.6,
    "axes.edgecolor": "#9aa0a6",
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
}
_PROLOGUE = re.compile(r"^.*?(?=<svg)", re.DOTALL)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL)


def _svg(figure: Figure) -> str:
    FigureCanvasSVG(figure)
    buffer = io.StringIO()
    figure.savefig(
        buffer, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None}
    )
    text = _METADATA.sub("", _PROLOGUE.sub("", buffer.getvalue(), count=1))
    # scale with the page: keep the viewBox, let CSS pick the size
    return re.sub(r'<svg([^>]*?) width="[^"]+" height="[^"]+"', r"<svg\1", text, count=1)


def _money(value: float, _pos=None) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def _time_axis(axis) -> None:
    locator = mdates.AutoDateLocator(minticks=4, maxticks=9)
    axis.xaxis.set_major_locator(locator)
    axis.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def equity_chart(
    times: Sequence,
    equity: Sequence[float],
    drawdown: Sequence[float],
    max_drawdown: float,
    currency: str = "USDT",
) -> str:
    """Equity (top) and drawdown below its running peak (bottom, with the kill-switch limit)."""
    with matplotlib.rc_context(_STYLE):
        figure = Figure(figsize=(12.3, 4.6))
        top, bottom = figure.subplots(
            2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1.3], "hspace": 0.32}
        )
        times = pd.to_datetime(pd.Series(times))
        top.plot(times, equity, color=BLUE, linewidth=1.4, drawstyle="steps-post")
        top.axhline(equity[0], color=GREY, linewidth=0.8, linestyle="--")
        top.set_title(f"Equity ({currency}); dashed: equity at the window's start")
        top.yaxis.set_major_formatter(FuncFormatter(_money))
        top.margins(x=0.01)
        lows = [-d for d in drawdown]
        bottom.fill_between(times, lows, 0, step="post", color=RED, alpha=0.25, linewidth=0)
        bottom.plot(times, lows, color=RED, linewidth=1.0, drawstyle="steps-post")
        bottom.axhline(-max_drawdown, color=RED, linewidth=0.9, linestyle=":")
        floor = min(min(lows, default=0.0), -max_drawdown) * 1.15
        bottom.set_ylim(floor, max(-floor * 0.05, 0.001))
        bottom.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=1))
        bottom.set_title(
            f"Drawdown below the running peak; dotted: limit {max_drawdown:.0%}", fontsize=9
        )
        _time_axis(bottom)
        return _svg(figure)


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    title: str,
    *,
    percent: bool = False,
    reference: float | None = None,
    reference_label: str = "",
    clip: float | None = None,
) -> str:
    """Horizontal bars, green for gains and red for losses (or blue/red around ``reference``),
    each labelled with its value; bars longer than ``clip`` are cut there (the label says so)."""
    shown = [min(v, clip) if clip is not None else v for v in values]
    with matplotlib.rc_context(_STYLE):
        height = 0.9 + 0.32 * max(len(labels), 1)
        figure = Figure(figsize=(12.3, height))
        axis = figure.subplots()
        positions = list(range(len(labels)))[::-1]
        if reference is None:
            colors = [GREEN if v >= 0 else RED for v in values]
        else:
            colors = [RED if v > reference else BLUE for v in values]
        bars = axis.barh(positions, shown, color=colors, height=0.6)
        texts = [
            (("> 1000%" if v > 10 else f"{v:.0%}") if percent else f"{v:,.2f}")
            + (" (cut)" if clip is not None and v > clip else "")
            for v in values
        ]
        axis.bar_label(bars, texts, padding=3, fontsize=8, color="#3c4043")
        axis.set_yticks(positions, labels)
        axis.axvline(0, color="#5f6368", linewidth=0.8)
        if reference is not None:
            axis.axvline(reference, color=RED, linewidth=0.9, linestyle=":")
            if reference_label:
                axis.annotate(
                    reference_label,
                    (reference, positions[0] if positions else 0),
                    xytext=(4, 8),
                    textcoords="offset points",
                    color=RED,
                    fontsize=8,
                )
        if percent:
            axis.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        else:  # one format for every tick: whole units once the bars pass 100
            spec = ",.0f" if max((abs(v) for v in values), default=0) >= 100 else ",.2f"
            axis.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: format(v, spec)))
        axis.grid(axis="y", visible=False)
        axis.set_title(title)
        axis.margins(x=0.08)
        return _svg(figure)


def accuracy_chart(labels: Sequence[str], live: Sequence[float], validation: Sequence) -> str:
    """Live vs validation directional accuracy per model version, around the 50% coin flip."""
    with matplotlib.rc_context(_STYLE):
        height = 1.0 + 0.42 * max(len(labels), 1)
        figure = Figure(figsize=(12.3, height))
        axis = figure.subplots()
        positions = list(range(len(labels)))[::-1]
        axis.barh(
            [p + 0.18 for p in positions], live, height=0.34, color=BLUE, label="live (window)"
        )
        axis.barh(
            [p - 0.18 for p in positions],
            [v if v is not None else 0 for v in validation],
            height=0.34,
            color=GREY,
            label="validation (holdout)",
        )
        axis.axvline(0.5, color=RED, linewidth=0.9, linestyle=":")
        axis.set_yticks(positions, labels)
        axis.set_xlim(0, 1)
        axis.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        axis.grid(axis="y", visible=False)
        axis.set_title("Directional accuracy: live in the window vs validation; dotted: 50%")
        axis.legend(loc="lower right", frameon=False, fontsize=8)
        return _svg(figure)
