"""``app/charts.py``: every chart is a valid Vega-Lite spec that draws fields its data has.

The charts are plain dicts (Altair's validation cost every page run 0.1-0.25 s), so this test
does the validating: each spec, with its frame inlined as Vega-Lite would receive it, against
the Vega-Lite schema Altair ships (the version Streamlit's frontend draws), and each encoded
field against the columns of the data its layer draws.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
import numpy as np
import pandas as pd
import pytest

from app import charts

TS = pd.date_range("2026-01-01", periods=6, freq="h", tz="UTC")


def _curve() -> pd.DataFrame:
    equity = np.array([10_000, 10_050, 9_990, 10_020, 10_100, 10_080], dtype=float)
    peak = np.maximum.accumulate(equity)
    return pd.DataFrame(
        {
            "ts": TS,
            "equity": equity,
            "cash": equity - 500,
            "positions_value": 500.0,
            "peak_equity": peak,
            "drawdown": 1 - equity / peak,
        }
    )


def _candles() -> pd.DataFrame:
    close = np.array([100, 101, 99, 102, 103, 101], dtype=float)
    return pd.DataFrame(
        {
            "ts": TS,
            "open": close - 0.5,
            "high": close + 1,
            "low": close - 1,
            "close": close,
            "volume": 1_000.0,
            "bars": 1,
            "bb_upper": close + 2,
            "bb_middle": close,
            "bb_lower": close - 2,
            "rsi_14": [45.0, 55, 35, 65, 72, 50],
            "macd": [0.1, 0.2, -0.1, 0.3, 0.4, 0.2],
            "macd_signal": [0.05, 0.1, 0.0, 0.1, 0.2, 0.25],
            "macd_hist": [0.05, 0.1, -0.1, 0.2, 0.2, -0.05],
        }
    )


def _limits() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "limit_name": ["max_position", "max_drawdown", "spread_max"],
            "use": [0.4, 0.9, np.nan],
            "status": ["ok", "near", "no data"],
            "value_text": ["400", "9%", "-"],
            "limit_text": ["1,000", "10%", "0.5%"],
            "source": ["positions", "equity_curve", "-"],
        }
    )


def _families() -> pd.DataFrame:
    return pd.DataFrame(
        {"family": ["xgboost", "naive"], "walk-forward": [0.53, 0.5], "holdout": [0.52, 0.49]}
    )


def _folds() -> pd.DataFrame:
    return pd.DataFrame(
        {"family": ["xgboost"] * 3 + ["naive"] * 3, "fold": [0, 1, 2] * 2,
         "sharpe": [0.4, 0.2, np.nan, 0.0, -0.1, 0.1]}
    )  # fmt: skip


def _runs() -> pd.DataFrame:
    """Three runs' bucketed equity, as ``data.backtest_curves`` gives it with the page's names."""
    frames = []
    for run, role, capital in (
        ("long_flat 0e6dcf9c", "strategy", 10_000.0),
        ("buy_and_hold of 0e6dcf9c", "buy_and_hold", 10_000.0),
        ("persistence of 0e6dcf9c IN-SAMPLE", "baseline", 5_000.0),
    ):
        curve = _curve()
        frames.append(
            curve.assign(run=run, role=role, equity=curve["equity"] / 10_000 * capital,
                         growth=curve["equity"] / 10_000)[
                ["ts", "run", "role", "equity", "growth", "drawdown"]
            ]
        )  # fmt: skip
    return pd.concat(frames, ignore_index=True)


def _fills() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ts": TS[[1, 4]],
            "side": ["buy", "sell"],
            "amount": [0.5, 0.5],
            "price": [100.6, 102.4],
            "fee": [0.05, 0.05],
            "notional": [50.3, 51.2],
        }
    )


CORR = pd.DataFrame(
    [[1.0, 0.8, 0.1], [0.8, 1.0, -0.2], [0.1, -0.2, 1.0]],
    index=["BTC/USDT", "ETH/USDT", "SOL/USDT"],
    columns=["BTC/USDT", "ETH/USDT", "SOL/USDT"],
)

CHARTS = {
    "equity": lambda: charts.equity(_curve(), start=10_000.0),
    "equity without capital": lambda: charts.equity(_curve()),
    "drawdown with limit": lambda: charts.drawdown(_curve(), limit=0.01),
    "drawdown": lambda: charts.drawdown(_curve(), limit=None),
    "candlesticks": lambda: charts.candlesticks(_candles()),
    "candlesticks without bands": lambda: charts.candlesticks(_candles(), bollinger=False),
    "rsi": lambda: charts.rsi(_candles()),
    "macd": lambda: charts.macd(_candles()),
    "correlation heatmap": lambda: charts.correlation_heatmap(CORR, limit=0.7),
    "limit use": lambda: charts.limit_use(_limits()),
    "family accuracy": lambda: charts.family_accuracy(_families(), target=0.55),
    "folds": lambda: charts.folds(_folds(), metric="sharpe"),
    "predicted vs actual": lambda: charts.predicted_vs_actual(
        pd.DataFrame({"ts": TS, "predicted": 0.001, "actual": [0.002, -0.001] * 3})
    ),
    "backtest comparison": lambda: charts.backtest_comparison(_runs()),
    "backtest comparison of one run": lambda: charts.backtest_comparison(_runs().head(6)),
    "trades on candles": lambda: charts.trades_on_candles(_candles(), _fills()),
    "trades on candles without fills": lambda: charts.trades_on_candles(
        _candles(), _fills().iloc[:0]
    ),
    "rolling accuracy": lambda: charts.rolling_accuracy(
        pd.DataFrame({"ts": TS, "rolling": [0.5, 0.6, 0.55, 0.5, 0.52, 0.58]}), estimate=0.53
    ),
}


@cache
def validator() -> jsonschema.protocols.Validator:
    text = resources.files("altair.vegalite.v6.schema").joinpath("vega-lite-schema.json")
    schema = json.loads(text.read_text())
    return jsonschema.validators.validator_for(schema)(schema)


def inlined(spec: dict) -> dict:
    """The spec as JSON, each dataset's frame as records (what Vega-Lite gets from Arrow)."""
    datasets = {
        name: json.loads(frame.to_json(orient="records", date_format="iso"))
        for name, frame in spec.get("datasets", {}).items()
    }
    return json.loads(json.dumps({**spec, "datasets": datasets} if datasets else spec))


def columns_of(view: dict, spec: dict) -> set[str]:
    """The fields a view (the spec, one layer or one row of a vconcat) can encode: its data's
    columns plus any a transform makes."""
    data = view.get("data", spec.get("data", {}))
    if "values" in data:
        names = {key for row in data["values"] for key in row}
    else:
        names = set(spec["datasets"][data["name"]].columns)
    for step in view.get("transform", []):
        names.update(step.get("as", []))
    return names


def encoded_fields(view: dict) -> set[str]:
    found = set()
    for channel in view.get("encoding", {}).values():
        for item in channel if isinstance(channel, list) else [channel]:
            if isinstance(item, dict) and "field" in item:
                found.add(item["field"])
    return found


@pytest.mark.parametrize("name", list(CHARTS))
def test_chart_is_valid_vega_lite_and_draws_columns_its_data_has(name):
    spec = CHARTS[name]()
    errors = sorted(validator().iter_errors(inlined(spec)), key=lambda e: list(e.path))
    assert not errors, f"{name}: " + "; ".join(
        f"{'/'.join(map(str, e.path))}: {e.message[:200]}" for e in errors[:5]
    )
    for view in spec.get("layer") or spec.get("vconcat") or [spec]:
        missing = encoded_fields(view) - columns_of(view, spec)
        assert not missing, f"{name}: encodes {missing}, not in its data"


def test_the_checks_catch_a_broken_spec():
    spec = charts.rsi(_candles())
    spec["layer"][2]["mark"]["type"] = "lines"  # no such mark
    assert list(validator().iter_errors(inlined(spec)))
    spec = charts.rsi(_candles())
    spec["layer"][2]["encoding"]["y"]["field"] = "rsi_7"
    view = spec["layer"][2]
    assert encoded_fields(view) - columns_of(view, spec) == {"rsi_7"}


def test_conditions_and_heatmap_order_survive_as_vega_lite():
    heatmap = charts.correlation_heatmap(CORR, limit=0.7)
    cells: dict[str, Any] = heatmap["layer"][0]
    assert cells["encoding"]["x"]["sort"] == list(CORR.index)
    assert cells["encoding"]["stroke"] == {
        "condition": {"test": "datum.over", "value": "#111827"},
        "value": None,
    }
    over = heatmap["datasets"][charts.DATA]
    # only the off-diagonal pair above the limit is outlined, both ways round
    assert sorted(map(tuple, over.loc[over["over"], ["a", "b"]].to_numpy())) == [
        ("BTC/USDT", "ETH/USDT"),
        ("ETH/USDT", "BTC/USDT"),
    ]


def test_backtest_charts_tell_runs_roles_and_sides_apart():
    spec = charts.backtest_comparison(_runs())
    equity, drawdown = (row["encoding"] for row in spec["vconcat"])
    runs = list(dict.fromkeys(_runs()["run"]))
    assert equity["color"]["scale"]["domain"] == runs  # one colour per run, in the page's order
    assert equity["strokeDash"]["scale"]["range"] == [[1, 0], [6, 3], [2, 2]]
    # normalised to each run's own capital: the 5,000 run draws the same returns
    data = spec["datasets"][charts.DATA]
    returns = data.groupby("run", sort=False)["ret"].apply(list).tolist()
    assert returns[0] == returns[2] and returns[0][0] == pytest.approx(0.0)
    assert (data["dd"] == -data["drawdown"]).all()
    assert drawdown["color"]["legend"] is None  # drawn under the equity row's legends
    # single views only: Streamlit fits a vconcat of those to the container's width
    assert not any({"layer", "vconcat", "hconcat"} & set(row) for row in spec["vconcat"])

    spec = charts.trades_on_candles(_candles(), _fills())
    markers = spec["layer"][-1]
    assert markers["data"] == {"name": charts.FILLS}
    assert markers["encoding"]["shape"]["scale"] == {
        "domain": ["buy", "sell"],
        "range": ["triangle-up", "triangle-down"],
    }
    assert [t["field"] for t in markers["encoding"]["tooltip"]][2:5] == ["amount", "price", "fee"]
    assert set(spec["datasets"]) == {charts.DATA, charts.FILLS}
