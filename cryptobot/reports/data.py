"""Gathering a report's figures from the warehouse (read-only) and, for the validation side of
model accuracy, from the MLflow registry.

One short read-only connection per report: every query is fetched in full before the next, and
the connection is closed before MLflow is asked anything (validation accuracy; the champions,
whose newest stored backtest the report links). All times are naive UTC.

How the figures are defined (the report's footnotes say the same):

- A mark (``equity_curve`` row) at time t holds the fills before t: a fill at a bar's open is
  booked at that bar's close. So a window [start, end) of fills is the marks (start, end].
  Equity at the start is the last mark at or before ``start`` (the previous window's end);
  when the account opened inside the window, the configured ``initial_capital``. Equity at
  the end is the last mark at or before ``end``.
- P&L by symbol replays every fill of the account with the trading engine's own position
  arithmetic (:class:`cryptobot.trading.portfolio.Position`): realised P&L and fees of the fills
  in the window plus the change of unrealised P&L between the start and end marks. The marks
  are the last closed bar (``available_at`` at or before the equity row's time), so the symbols
  add up to the equity change.
- Risk-limit use: drawdown, daily loss, leverage (gross exposure / equity) and the largest
  position's share of equity at every equity row in the window; the other limits from the
  values the pre-trade checks recorded in ``trade_decisions.checks``.
"""

from __future__ import annotations

import json
import math
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from cryptobot.config import SIMULATOR_EXCHANGE, RiskLimits, Settings
from cryptobot.reports.window import Window, last_complete_day
from cryptobot.sources.base import SOURCE_SIMULATED
from cryptobot.timeframes import timeframe_seconds_sql
from cryptobot.trading.currency import find_conversion, quote_of, series_rates
from cryptobot.trading.portfolio import DUST, Position
from cryptobot.warehouse.db import read_connection

#: how far back the gap count looks for the bar before the window's first one
GAP_LOOKBACK = timedelta(days=31)
#: rows of the trades table shown in full; the rest are counted
MAX_TRADE_ROWS = 300
_SIMULATED_MARKET = (
    f"(exchange = '{SIMULATOR_EXCHANGE}' or source in ('{SOURCE_SIMULATED}', 'simulator'))"
)

#: (limit field, what is measured, kind): kind "max" = value must stay at or below the limit,
#: "min" = at or above; "equity" marks the measures taken from the equity curve
RISK_MEASURES: dict[str, tuple[str, str]] = {
    "max_position_size": ("largest position / equity", "max"),
    "max_daily_loss": ("loss since the day's first mark / that equity", "max"),
    "max_drawdown": ("equity below its running peak", "max"),
    "correlation_limit": ("correlation with open positions (checks)", "max"),
    "leverage_limit": ("gross exposure / equity", "max"),
    "volatility_threshold": ("per-bar volatility (checks)", "max"),
    "liquidity_minimum": ("traded value over the window (checks)", "min"),
    "spread_maximum": ("relative bid/ask spread (checks)", "max"),
}
EQUITY_MEASURES = ("max_position_size", "max_daily_loss", "max_drawdown", "leverage_limit")


@dataclass
class ReportData:
    """Everything one report shows, computed; the HTML and the summary are views of it."""

    window: Window
    mode: str
    clock: str  # how the report's day was chosen
    initial_capital: float
    #: the currency of every money figure (``trading.account_currency``)
    account_currency: str
    equity: pd.DataFrame  # equity_curve rows in the window
    previous: dict[str, Any] | None  # the last equity row before the window
    headline: dict[str, Any]
    trades: pd.DataFrame  # fills in the window
    pnl_by_symbol: list[dict[str, Any]]
    positions: list[dict[str, Any]]  # open at the end of the window
    risk: list[dict[str, Any]]
    decisions: dict[str, int]
    risk_series: pd.DataFrame  # per equity row: drawdown, daily_loss, leverage, position share
    models: list[dict[str, Any]]
    models_note: str
    quality: dict[str, Any]
    simulated: dict[str, bool] = field(default_factory=dict)
    #: the configured symbols, and the newest stored backtest of their champions (see
    #: ``champion_backtest``) or None, with a note when the registry could not say
    symbols: list[str] = field(default_factory=list)
    backtest: dict[str, Any] | None = None
    backtest_note: str = ""
    #: the account shown (``trading.account``)
    account: str = "default"

    @property
    def is_simulated(self) -> bool:
        return any(self.simulated.values())


# -- the report's day ---------------------------------------------------------------------------


def default_day_and_clock(
    con: duckdb.DuckDBPyConnection, mode: str, now: datetime, account: str = "default"
):
    """The last complete UTC day before ``now``, unless the account's equity curve is
    simulated: then the simulated clock (its newest row) rules. With no equity curve at all, a
    warehouse holding only simulated candles uses their clock (the newest bar's close)."""
    newest, simulated = con.execute(
        "select max(ts), arg_max(is_simulated, ts) from equity_curve "
        "where account = ? and mode = ?",
        [account, mode],
    ).fetchone()
    if newest is not None:
        if simulated:
            return last_complete_day(newest), (
                f"simulated clock: the {mode} account {account}'s equity curve ends "
                f"{newest:%Y-%m-%d %H:%M}"
            )
        return last_complete_day(now), "the last complete UTC day"
    all_simulated, available = con.execute(
        f"select bool_and({_SIMULATED_MARKET}), max(available_at) from market_data"
    ).fetchone()
    if all_simulated and available is not None:
        return last_complete_day(available), (
            f"simulated clock: the simulated candles end {available:%Y-%m-%d %H:%M}"
        )
    return last_complete_day(now), "the last complete UTC day"


# -- account: equity, fills, positions ------------------------------------------------------------


def _equity(con, window: Window, mode: str, account: str) -> tuple[pd.DataFrame, dict | None]:
    # a mark at time t is the account after the bar that closed at t, with every fill before t
    # (a fill at a bar's open is booked at that bar's close): the window [start, end) of fills
    # is the marks (start, end]; the mark at `start` closes the previous window
    rows = con.execute(
        "select * from equity_curve where account = ? and mode = ? and ts > ? and ts <= ? "
        "order by ts",
        [account, mode, window.start, window.end],
    ).df()
    previous = con.execute(
        "select * from equity_curve where account = ? and mode = ? and ts <= ? "
        "order by ts desc limit 1",
        [account, mode, window.start],
    ).df()
    return rows, (previous.iloc[0].to_dict() if len(previous) else None)


def _fills(con, window: Window, mode: str, account: str, timeframe: str) -> pd.DataFrame:
    """Every fill of the account before the window's end (the replay needs them all); price
    and fee in the account currency (times the quote's rate at the fill)."""
    return con.execute(
        """
        select id, ts, exchange, symbol, coalesce(timeframe, ?) as timeframe, side, amount,
            price * coalesce(quote_rate, 1.0) as price, fee * coalesce(quote_rate, 1.0) as fee,
            coalesce(fee_currency, '') as fee_currency, client_order_id,
            coalesce(strategy, '') as strategy, coalesce(is_simulated, false) as is_simulated
        from trades where account = ? and mode = ? and ts < ? order by ts, id
        """,
        [timeframe, account, mode, window.end],
    ).df()


class _Book:
    """Each market's position after every fill, by the engine's arithmetic."""

    def __init__(self, fills: pd.DataFrame, mode: str):
        self.history: dict[tuple[str, str], tuple[list[datetime], list[Position], list[float]]]
        self.history = {}
        self.timeframes: dict[tuple[str, str], str] = {}
        for fill in fills.itertuples(index=False):
            key = (fill.exchange, fill.symbol)
            times, states, prices = self.history.setdefault(key, ([], [], []))
            before = states[-1] if states else Position(mode, fill.exchange, fill.symbol)
            signed = fill.amount if fill.side == "buy" else -fill.amount
            when = fill.ts.to_pydatetime()
            times.append(when)
            states.append(before.applied(signed, float(fill.price), float(fill.fee), when))
            prices.append(float(fill.price))
            self.timeframes[key] = fill.timeframe

    @property
    def keys(self) -> list[tuple[str, str]]:
        return sorted(self.history)

    def _index(self, key: tuple[str, str], when: datetime, before: bool) -> int:
        times = self.history[key][0]
        return bisect_right(times, when - timedelta(microseconds=1) if before else when)

    def at(self, key: tuple[str, str], when: datetime, *, before: bool = False) -> Position:
        """The position after the fills at or before ``when`` (strictly before with ``before``)."""
        index = self._index(key, when, before)
        return self.history[key][1][index - 1] if index else Position("", *key)

    def last_price(self, key: tuple[str, str], when: datetime) -> float | None:
        index = self._index(key, when, False)
        return self.history[key][2][index - 1] if index else None


def _marks(
    con, book: _Book, times: list[datetime], account: str
) -> dict[tuple[str, str, datetime], float]:
    """Close of the newest bar available at or before each time, per market of the book, in
    the ``account`` currency (a market quoted in another currency at its quote's rate then)."""
    if not book.keys or not times:
        return {}
    probes = pd.DataFrame(
        [
            (exchange, symbol, book.timeframes[(exchange, symbol)], t)
            for exchange, symbol in book.keys
            for t in sorted(set(times))
        ],
        columns=["exchange", "symbol", "timeframe", "t"],
    )
    probes["t"] = pd.to_datetime(probes["t"]).astype("datetime64[us]")
    con.register("report_probes", probes)
    try:
        rows = con.execute(
            """
            select p.exchange, p.symbol, p.t, m.close
            from report_probes p asof left join market_data m
                on m.exchange = p.exchange and m.symbol = p.symbol
                and m.timeframe = p.timeframe and p.t >= m.available_at
            """
        ).fetchall()
    finally:
        con.unregister("report_probes")
    marks = {(e, s, t): float(c) for e, s, t, c in rows if c is not None}
    for exchange, symbol in book.keys:
        quote = quote_of(symbol)
        if quote == account:
            continue
        timeframe = book.timeframes[(exchange, symbol)]
        conversion = find_conversion(con, exchange, timeframe, quote, account)
        keys = [k for k in marks if k[:2] == (exchange, symbol)]
        if conversion is None:  # no rate: no mark in the account currency
            for key in keys:
                del marks[key]
            continue
        series = con.execute(
            "select ts, available_at, close from market_data "
            "where exchange = ? and symbol = ? and timeframe = ?",
            [exchange, conversion.series, timeframe],
        ).df()
        at = np.array([pd.Timestamp(k[2]).as_unit("ns").value for k in keys], dtype=np.int64)
        rates = series_rates(series, at, conversion.inverted)
        for key, rate in zip(keys, rates, strict=True):
            if np.isnan(rate):
                del marks[key]
            else:
                marks[key] *= float(rate)
    return marks


def _mark(marks, book: _Book, key, when: datetime | None) -> tuple[float | None, str]:
    """A market's mark at ``when``: the newest closed bar's close; with no candles stored for
    that market, the last fill's price."""
    if when is None:
        return None, ""
    close = marks.get((*key, when))
    if close is not None:
        return close, "close"
    price = book.last_price(key, when)
    return (price, "last fill") if price is not None else (None, "")


def _unrealized(position: Position, mark: float | None) -> float | None:
    if abs(position.amount) < DUST:
        return 0.0
    if mark is None or position.avg_price is None:
        return None
    return position.amount * (mark - position.avg_price)


def _account(
    con, window: Window, mode: str, settings: Settings
) -> tuple[dict, pd.DataFrame, list, list, pd.DataFrame, dict, pd.DataFrame, dict | None]:
    account = settings.trading.account
    equity, previous = _equity(con, window, mode, account)
    fills = _fills(con, window, mode, account, settings.timeframes[0])
    book = _Book(fills, mode)
    in_window = fills[(fills["ts"] >= window.start) & (fills["ts"] < window.end)]
    start_t = previous["ts"].to_pydatetime() if previous is not None else None
    end_row = equity.iloc[-1].to_dict() if len(equity) else previous
    end_t = end_row["ts"].to_pydatetime() if end_row is not None else None
    row_times = [t.to_pydatetime() for t in equity["ts"]]
    marks = _marks(
        con,
        book,
        [t for t in (start_t, end_t, *row_times) if t is not None],
        settings.trading.account_currency,
    )

    if end_row is None:
        start_equity = end_equity = None
    elif previous is not None:
        start_equity = float(previous["equity"])
    else:
        start_equity = settings.trading.initial_capital
    end_equity = float(end_row["equity"]) if end_row is not None else None
    pnl = end_equity - start_equity if end_row is not None else None
    drawdowns = equity["drawdown"] if len(equity) else pd.Series(dtype=float)
    headline = {
        "equity_start": start_equity,
        "equity_start_source": (
            None
            if end_row is None
            else "previous row"
            if previous is not None
            else "initial capital"
        ),
        "equity_end": end_equity,
        "equity_end_ts": end_t,
        "pnl": pnl,
        "pnl_pct": pnl / start_equity if pnl is not None and start_equity else None,
        "max_drawdown": float(drawdowns.max())
        if len(drawdowns)
        else (float(previous["drawdown"]) if previous is not None else None),
        "trades": int(len(in_window)),
        "fees": float(in_window["fee"].sum()) if len(in_window) else 0.0,
        "fee_currencies": sorted(set(in_window["fee_currency"]) - {""}),
        "volume": float((in_window["amount"] * in_window["price"]).sum())
        if len(in_window)
        else 0.0,
        "equity_rows": int(len(equity)),
    }

    by_symbol, positions = [], []
    for key in book.keys:
        start_pos = book.at(key, window.start, before=True)
        end_pos = book.at(key, window.end, before=True)
        start_mark, _ = _mark(marks, book, key, start_t)
        end_mark, end_source = _mark(marks, book, key, end_t)
        realized = end_pos.realized_pnl - start_pos.realized_pnl
        fees = end_pos.fees - start_pos.fees
        u_start, u_end = _unrealized(start_pos, start_mark), _unrealized(end_pos, end_mark)
        fills_here = int(
            ((in_window["exchange"] == key[0]) & (in_window["symbol"] == key[1])).sum()
        )
        held = abs(start_pos.amount) >= DUST or abs(end_pos.amount) >= DUST
        if fills_here or held:
            change = None if u_start is None or u_end is None else u_end - u_start
            by_symbol.append(
                {
                    "exchange": key[0],
                    "symbol": key[1],
                    "trades": fills_here,
                    "realized": realized,
                    "unrealized_change": change,
                    "fees": fees,
                    "net": None if change is None else realized + change - fees,
                }
            )
        if abs(end_pos.amount) >= DUST:
            notional = end_pos.amount * end_mark if end_mark is not None else None
            positions.append(
                {
                    "exchange": key[0],
                    "symbol": key[1],
                    "side": "long" if end_pos.amount > 0 else "short",
                    "amount": end_pos.amount,
                    "avg_price": end_pos.avg_price,
                    "mark": end_mark,
                    "mark_source": end_source,
                    "notional": notional,
                    "share": abs(notional) / end_equity
                    if notional is not None and end_equity
                    else None,
                    "unrealized": u_end,
                    "opened_at": end_pos.opened_at,
                }
            )

    series = pd.DataFrame(
        {
            "ts": equity["ts"],
            "drawdown": equity["drawdown"],
            "daily_loss": [
                max(0.0, -pnl_ / start) if start else 0.0
                for pnl_, start in zip(equity["daily_pnl"], equity["day_start_equity"], strict=True)
            ],
            "leverage": [
                gross / value if value > 0 else math.inf
                for gross, value in zip(equity["gross_exposure"], equity["equity"], strict=True)
            ],
            "position_share": [
                _largest_share(book, marks, t, value)
                for t, value in zip(row_times, equity["equity"], strict=True)
            ],
        }
    )
    simulated = (
        bool(equity["is_simulated"].any())
        if len(equity)
        else bool(previous is not None and previous["is_simulated"])
    )
    return (
        headline,
        equity,
        by_symbol,
        positions,
        in_window.reset_index(drop=True),
        {"equity": simulated, "trades": bool(in_window["is_simulated"].any())},
        series,
        previous,
    )


def account_figures(
    con, window: Window, mode: str, settings: Settings
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """The account over ``window`` as the report computes it: the headline (equity at start and
    end, P&L, max drawdown, trades, fees), P&L per symbol, and the positions open at its end
    with their marks and unrealised P&L (the Telegram bot's /pnl and /positions)."""
    headline, _, by_symbol, positions, *_ = _account(con, window, mode, settings)
    return headline, by_symbol, positions


def _largest_share(book: _Book, marks, when: datetime, equity: float) -> float:
    largest = 0.0
    for key in book.keys:
        amount = book.at(key, when, before=True).amount  # fills before the mark
        if abs(amount) < DUST:
            continue
        mark, _ = _mark(marks, book, key, when)
        if mark is not None:
            largest = max(largest, abs(amount * mark))
    return largest / equity if equity > 0 else math.inf


# -- risk ------------------------------------------------------------------------------------------


def _decisions(con, window: Window, mode: str, account: str) -> list[tuple[str, str, Any]]:
    return con.execute(
        """
        select action, coalesce(reason, ''), checks from trade_decisions
        where account = ? and mode = ? and decided_at >= ? and decided_at < ?
        order by decided_at, id
        """,
        [account, mode, window.start, window.end],
    ).fetchall()


def _risk(limits: RiskLimits, series: pd.DataFrame, decisions) -> tuple[list[dict], dict]:
    checks: dict[str, dict[str, Any]] = {
        name: {"evaluated": 0, "failed": 0, "blocked": 0, "values": []} for name in RISK_MEASURES
    }
    counts = {"decisions": len(decisions), "order": 0, "blocked": 0, "hold": 0, "skip": 0}
    for action, _reason, raw in decisions:
        counts[action] = counts.get(action, 0) + 1
        try:
            items = json.loads(raw) if isinstance(raw, str) else (raw or [])
        except json.JSONDecodeError:
            items = []
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict):
                continue
            entry = checks.setdefault(
                str(item.get("name")), {"evaluated": 0, "failed": 0, "blocked": 0, "values": []}
            )
            entry["evaluated"] += 1
            if item.get("passed") is False:
                entry["failed"] += 1
                if action == "blocked":
                    entry["blocked"] += 1
            value = item.get("value")
            if isinstance(value, int | float) and math.isfinite(value):
                entry["values"].append(float(value))

    column = {
        "max_position_size": "position_share",
        "max_daily_loss": "daily_loss",
        "max_drawdown": "drawdown",
        "leverage_limit": "leverage",
    }
    rows = []
    for name in RiskLimits.model_fields:
        measure, kind = RISK_MEASURES.get(name, (name, "max"))
        limit = float(getattr(limits, name))
        if name in column and len(series):
            values = [v for v in series[column[name]] if math.isfinite(v)]
            source = "equity curve"
        else:
            values = checks.get(name, {}).get("values", [])
            source = "risk checks"
        latest = values[-1] if values else None
        worst = (min(values) if kind == "min" else max(values)) if values else None
        if worst is None:
            use = None
        elif kind == "min":
            use = limit / worst if worst > 0 else math.inf
        else:
            use = worst / limit
        entry = checks.get(name, {"evaluated": 0, "failed": 0, "blocked": 0})
        rows.append(
            {
                "name": name,
                "measure": measure,
                "kind": kind,
                "source": source,
                "limit": limit,
                "latest": latest,
                "worst": worst,
                "use": use,
                "breached": worst is not None
                and (worst < limit if kind == "min" else worst > limit),
                "evaluated": entry["evaluated"],
                "failed": entry["failed"],
                "blocked": entry["blocked"],
            }
        )
    return rows, counts


# -- models ------------------------------------------------------------------------------------


def _predictions(con, window: Window) -> list[dict[str, Any]]:
    rows = con.execute(
        """
        select model_name, model_version, any_value(family), any_value(symbol),
            any_value(timeframe), count(*), count(correct), avg(correct::int),
            coalesce(bool_or(is_simulated), false)
        from ml_predictions where ts >= ? and ts < ?
        group by model_name, model_version
        order by model_name, try_cast(model_version as integer), model_version
        """,
        [window.start, window.end],
    ).fetchall()
    return [
        {
            "model": name,
            "version": str(version),
            "family": family,
            "symbol": symbol,
            "timeframe": timeframe,
            "predictions": int(n),
            "resolved": int(resolved),
            "live_accuracy": float(share) if share is not None else None,
            "simulated": bool(simulated),
            "validation_accuracy": None,
            "champion": False,
        }
        for name, version, family, symbol, timeframe, n, resolved, share, simulated in rows
    ]


def _sqlite_store_missing(uri: str) -> Path | None:
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        return None if path.exists() else path
    return None


def add_validation_accuracy(settings: Settings, models: list[dict[str, Any]]) -> str:
    """Fill each row's holdout (validation) directional accuracy from the MLflow registry; a
    note when the registry cannot say (no store, a model not registered, an error)."""
    if not models:
        return ""
    missing = _sqlite_store_missing(settings.tracking_uri)
    if missing is not None:
        return (
            f"no MLflow store at {missing}: validation accuracy unavailable (run `cryptobot train`)"
        )
    try:
        from cryptobot.errors import ModelError
        from models.registry import model_versions
    except ImportError as exc:  # the ML extras are not installed here
        return f"the model registry cannot be read here ({exc}): validation accuracy unavailable"
    notes = []
    for name in sorted({m["model"] for m in models}):
        try:
            versions = {v["version"]: v for v in model_versions(settings, name)}
        except ModelError:
            notes.append(f"{name} is not in the registry")
            continue
        except Exception as exc:  # noqa: BLE001 - the registry is optional for a report
            return (
                f"the MLflow registry at {settings.tracking_uri} could not be read "
                f"({type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}): "
                "validation accuracy unavailable"
            )
        for row in models:
            version = versions.get(row["version"]) if row["model"] == name else None
            if version is None:
                continue
            accuracy = version["holdout_accuracy"]
            row["validation_accuracy"] = accuracy if math.isfinite(accuracy) else None
            row["champion"] = "champion" in version["aliases"]
            row["family"] = row["family"] or version["family"]
    return "; ".join(notes)


# -- the champions' backtest ---------------------------------------------------------------------

#: the headline metrics of a backtest in the report (keys of ``backtest_runs.metrics``)
BACKTEST_METRICS = ("total_return", "sharpe", "max_drawdown", "trades")
#: stored main runs looked at for the champions' newest backtest
BACKTEST_CANDIDATES = 500


def _backtest_candidates(con) -> list[dict[str, Any]]:
    """The newest stored main backtest runs that traded registered models, each with the
    metrics of its buy-and-hold leg (None when it has none)."""
    metrics = ", ".join(
        f"try_cast(r.metrics->>'{m}' as double), try_cast(h.metrics->>'{m}' as double)"
        for m in BACKTEST_METRICS
    )
    rows = con.execute(
        f"""
        select r.run_id, r.strategy, r.exchange, r.timeframe, r.symbols, r.start_ts, r.end_ts,
            r.bars, r.models, r.in_sample, r.is_simulated, r.created_at, h.run_id, h.in_sample,
            {metrics}
        from backtest_runs r
        left join backtest_runs h on h.parent_id = r.run_id and h.role = 'buy_and_hold'
        where r.role = 'strategy' and r.models is not null
        order by r.created_at desc, r.run_id limit {BACKTEST_CANDIDATES}
        """
    ).fetchall()
    found = []
    for row in rows:
        (run_id, strategy, exchange, timeframe, symbols, start, end, bars, models, in_sample,
         simulated, created, hold_id, hold_in_sample, *values) = row  # fmt: skip
        try:
            used = json.loads(models)
        except (TypeError, json.JSONDecodeError):
            continue
        if not isinstance(used, dict) or not used:
            continue
        found.append(
            {
                "run_id": run_id,
                "strategy": strategy,
                "exchange": exchange,
                "timeframe": timeframe,
                "symbols": symbols.split(","),
                "start": start,
                "end": end,
                "bars": int(bars),
                "models": {str(k): str(v) for k, v in used.items()},
                "in_sample": bool(in_sample),
                "simulated": bool(simulated),
                "created_at": created,
                "metrics": {
                    m: _finite(v) for m, v in zip(BACKTEST_METRICS, values[::2], strict=True)
                },
                "hold_run_id": hold_id,
                "hold_in_sample": bool(hold_in_sample),
                "hold": None
                if hold_id is None
                else {m: _finite(v) for m, v in zip(BACKTEST_METRICS, values[1::2], strict=True)},
            }
        )
    return found


def _finite(value: Any) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def _champions(settings: Settings, names: set[str]) -> tuple[dict[str, str], str]:
    """The version with the ``champion`` alias of each registered model in ``names`` (models
    without one left out), and a note when the registry cannot say."""
    missing = _sqlite_store_missing(settings.tracking_uri)
    if missing is not None:
        return (
            {},
            f"no MLflow store at {missing}: the champions are unknown (run `cryptobot train`)",
        )
    try:
        from mlflow.exceptions import MlflowException

        from models.tracking import CHAMPION, configure
    except ImportError as exc:  # the ML extras are not installed here
        return {}, f"the model registry cannot be read here ({exc}): the champions are unknown"
    try:
        client = configure(settings)
        champions = {}
        for name in sorted(names):
            try:
                aliases = client.get_registered_model(name).aliases or {}
            except MlflowException:  # not registered (any more)
                continue
            if CHAMPION in aliases:
                champions[name] = str(aliases[CHAMPION])
    except Exception as exc:  # noqa: BLE001 - the registry is optional for a report
        return {}, (
            f"the MLflow registry at {settings.tracking_uri} could not be read "
            f"({type(exc).__name__}): the champions are unknown"
        )
    return champions, ""


def champion_backtest(
    settings: Settings, candidates: list[dict[str, Any]]
) -> tuple[dict[str, Any] | None, str]:
    """The newest of ``candidates`` (``_backtest_candidates``) that trades at least one of the
    configured symbols and trades every symbol with its model's current champion version
    (models recorded as ``name/version``); None and why when there is none."""
    symbols = set(settings.symbols)
    mine = [c for c in candidates if symbols & set(c["models"])]
    if not mine:
        return None, ""
    names = {used.rpartition("/")[0] for c in mine for used in c["models"].values()}
    champions, note = _champions(settings, names)
    for candidate in mine:
        if all(
            champions.get(name) == version
            for name, _, version in (used.rpartition("/") for used in candidate["models"].values())
        ):
            return candidate, note
    return None, note or (
        "the stored backtests of these symbols traded other versions than the current champions"
    )


# -- data quality ----------------------------------------------------------------------------


def _table_exists(con, schema: str, table: str) -> bool:
    return bool(
        con.execute(
            "select count(*) from information_schema.tables where table_schema = ? "
            "and table_name = ?",
            [schema, table],
        ).fetchone()[0]
    )


def _quality(con, window: Window) -> tuple[dict[str, Any], bool]:
    seconds = timeframe_seconds_sql()
    series = con.execute(
        f"""
        with bars as (
            select exchange, symbol, timeframe, ts, {_SIMULATED_MARKET} as simulated,
                lag(ts) over (partition by exchange, symbol, timeframe order by ts) as previous_ts,
                {seconds} as step
            from market_data where ts < ? and ts >= ?
        )
        select exchange, symbol, timeframe, any_value(step), max(ts),
            count(*) filter (where ts >= ?),
            coalesce(sum(
                greatest((epoch(ts) - epoch(previous_ts)) // step - 1, 0)
            ) filter (where ts >= ? and previous_ts is not null), 0)::bigint,
            count(*) filter (where ts >= ? and previous_ts is not null
                and epoch(ts) - epoch(previous_ts) > step),
            bool_or(simulated)
        from bars group by exchange, symbol, timeframe
        order by exchange, symbol, timeframe
        """,
        [window.end, window.start - GAP_LOOKBACK, window.start, window.start, window.start],
    ).fetchall()
    newest = {
        (e, s, t): (last, simulated)
        for e, s, t, last, simulated in con.execute(
            f"""
            select exchange, symbol, timeframe, max(ts), bool_or({_SIMULATED_MARKET})
            from market_data where ts < ? group by all
            """,
            [window.end],
        ).fetchall()
    }
    found = {(e, s, t): rest for e, s, t, *rest in series}
    features: dict[tuple, Any] | None = None
    if _table_exists(con, "marts", "fct_features"):
        try:
            features = {
                (e, s, t): last
                for e, s, t, last in con.execute(
                    "select exchange, symbol, timeframe, max(ts) from marts.fct_features "
                    "where ts < ? group by all",
                    [window.end],
                ).fetchall()
            }
        except duckdb.Error:  # an older mart without these columns: say so, don't fail
            features = None
    rows = []
    for key in sorted(newest):
        last, simulated = newest[key]
        step_sql, _last, in_window, missing, gaps, _sim = found.get(
            key, (None, last, 0, 0, 0, simulated)
        )
        step = step_sql or _step_seconds(key[2])
        expected_last = window.end - timedelta(seconds=step) if step else None
        behind = (
            max(0, int((expected_last - last).total_seconds() // step))
            if step and expected_last is not None
            else None
        )
        rows.append(
            {
                "exchange": key[0],
                "symbol": key[1],
                "timeframe": key[2],
                "newest": last,
                "bars_behind": behind,
                "bars": int(in_window),
                "expected": int((window.end - window.start).total_seconds() // step)
                if step
                else None,
                "missing": int(missing),
                "gaps": int(gaps),
                "features_newest": None if features is None else features.get(key),
                "simulated": bool(simulated),
            }
        )
    validations = con.execute(
        """
        select table_name, coalesce(exchange, ''), coalesce(symbol, ''), coalesce(timeframe, ''),
            rows, success, failures, gaps, run_at
        from validation_runs
        qualify row_number() over (
            partition by table_name, exchange, symbol, timeframe order by run_at desc, id desc
        ) = 1
        order by table_name, exchange, symbol, timeframe
        """
    ).fetchall()
    quarantine = con.execute(
        """
        select table_name, reason, count(*) from quarantine
        where coalesce(ts, quarantined_at) >= ? and coalesce(ts, quarantined_at) < ?
        group by all order by 3 desc, 1, 2
        """,
        [window.start, window.end],
    ).fetchall()
    quality = {
        "series": rows,
        "features_mart": features is not None,
        "validations": [
            {
                "table": table,
                "exchange": exchange,
                "symbol": symbol,
                "timeframe": timeframe,
                "rows": int(n),
                "success": bool(success),
                "failures": _failures_text(failures),
                "gaps": None if gaps is None else int(gaps),
                "run_at": run_at,
            }
            for table, exchange, symbol, timeframe, n, success, failures, gaps, run_at in (
                validations
            )
        ],
        "quarantine": [
            {"table": table, "reason": reason, "rows": int(n)} for table, reason, n in quarantine
        ],
    }
    return quality, any(row["simulated"] for row in rows)


def _step_seconds(timeframe: str) -> int | None:
    from cryptobot.errors import ConfigError
    from cryptobot.timeframes import timeframe_seconds

    try:
        return timeframe_seconds(timeframe)
    except ConfigError:
        return None


def _failures_text(raw: Any) -> str:
    try:
        failures = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError:
        return str(raw)
    if isinstance(failures, dict):
        return ", ".join(f"{name} ({count})" for name, count in failures.items())
    return "" if not failures else str(failures)


# -- all of it ---------------------------------------------------------------------------------


def gather(settings: Settings, window: Window, *, clock: str = "") -> ReportData:
    """Every figure of the report for ``window`` on the configured account."""
    mode = settings.trading.mode
    with read_connection(settings.warehouse, timeout=settings.write_lock_timeout) as con:
        headline, equity, by_symbol, positions, trades, simulated, series, previous = _account(
            con, window, mode, settings
        )
        decisions = _decisions(con, window, mode, settings.trading.account)
        models = _predictions(con, window)
        quality, market_simulated = _quality(con, window)
        candidates = _backtest_candidates(con)
    risk, counts = _risk(settings.risk, series, decisions)
    models_note = add_validation_accuracy(settings, models)
    backtest, backtest_note = champion_backtest(settings, candidates)
    simulated["predictions"] = any(m["simulated"] for m in models)
    simulated["market"] = market_simulated
    simulated["backtest"] = bool(backtest and backtest["simulated"])
    return ReportData(
        window=window,
        mode=mode,
        account=settings.trading.account,
        clock=clock,
        initial_capital=settings.trading.initial_capital,
        account_currency=settings.trading.account_currency,
        equity=equity,
        previous=previous,
        headline=headline,
        trades=trades,
        pnl_by_symbol=by_symbol,
        positions=positions,
        risk=risk,
        decisions=counts,
        risk_series=series,
        models=models,
        models_note=models_note,
        quality=quality,
        simulated=simulated,
        symbols=list(settings.symbols),
        backtest=backtest,
        backtest_note=backtest_note,
    )
