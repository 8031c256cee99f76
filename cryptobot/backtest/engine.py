"""A backtest: the trading flow's execution core run over every bar of a window of history.

:func:`run_backtest` takes the bars of the symbols (``fct_features`` rows), the model's
out-of-sample answers per bar (for a strategy that uses a model) and a strategy, and runs
:func:`cryptobot.trading.core.run_bars`: at each bar close, fills of the previous decisions at
this bar's open with every cost, the mark, and each symbol's decision sized, checked against
every risk limit and ordered exactly as ``cryptobot trade`` does it at that bar. Only the clock
differs: all bars are in memory, so a two-year, five-symbol backtest runs in milliseconds of
engine time.

It knows nothing of MLflow or the model zoo: the predictions come from the caller (the models
layer reads each bar's out-of-sample prediction, ``models.backtest``), as the trading flow gets
its champion's answers.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cryptobot.backtest.metrics import performance, round_trips
from cryptobot.config import SIMULATOR_EXCHANGE, Settings
from cryptobot.errors import BacktestError, WarehouseError
from cryptobot.timeframes import timeframe_seconds
from cryptobot.trading import core
from cryptobot.trading.bars import Bars, bars_from_rows, to_ns
from cryptobot.trading.currency import check_rates, conversions_needed, read_conversions
from cryptobot.trading.markets import MarketRules, market_rules, simulated_rules
from cryptobot.trading.strategies import PREDICTION_COLUMNS, Strategy
from cryptobot.warehouse.db import read_connection

SECONDS_PER_YEAR = 365 * 24 * 3600
#: the code a result depends on: a change to any of these files is a different backtest
_CODE_FILES = (
    "trading/core.py",
    "trading/bars.py",
    "trading/currency.py",
    "trading/strategies.py",
    "backtest/engine.py",
    "backtest/metrics.py",
)


@dataclass(frozen=True)
class Costs:
    """The paper broker's costs (fractions): taker fee, assumed spread, slippage, impact."""

    fee: float
    spread: float
    slippage: float
    impact: float

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: float | None) -> Costs:
        trading = settings.trading
        values = {
            "fee": trading.fee,
            "spread": trading.spread,
            "slippage": trading.slippage,
            "impact": trading.impact,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        for name, value in values.items():
            if not (math.isfinite(value) and value >= 0):
                raise BacktestError(f"--{name} must be a number >= 0, got {value!r}")
        return cls(**values)


@dataclass
class BacktestResult:
    """One backtest: what was run, and what it did, bar by bar."""

    run_id: str
    label: str  # strategy, or the comparison leg (buy_and_hold, a baseline family)
    role: str  # strategy | buy_and_hold | baseline
    exchange: str
    timeframe: str
    symbols: list[str]
    strategy: str
    capital: float
    costs: Costs
    equity: pd.DataFrame  # ts (decision time) and the core's equity columns
    orders: pd.DataFrame
    fills: pd.DataFrame
    trips: pd.DataFrame
    metrics: dict[str, float]
    settings: dict[str, Any]  # risk limits and trading settings used (JSON-able)
    models: dict[str, str] = field(default_factory=dict)  # symbol -> model name/version
    prediction_source: dict[str, Any] = field(default_factory=dict)
    in_sample: bool = False
    is_simulated: bool = False
    data_fingerprint: str = ""
    seconds: float = 0.0  # engine time (the core's loop)
    bars: int = 0

    @property
    def start(self) -> datetime:
        return self.equity["ts"].iloc[0].to_pydatetime()

    @property
    def end(self) -> datetime:
        return self.equity["ts"].iloc[-1].to_pydatetime()

    @property
    def bar_returns(self) -> np.ndarray:
        equity = self.equity["equity"].to_numpy()
        return np.diff(np.concatenate([[self.capital], equity])) / np.concatenate(
            [[self.capital], equity[:-1]]
        )


def check_capital(capital: float) -> float:
    """``capital`` when it is a positive amount; else a clear error."""
    if not (math.isfinite(capital) and capital > 0):
        raise BacktestError(f"--capital must be a positive amount, got {capital!r}")
    return capital


def periods_per_year(timeframe: str) -> float:
    return SECONDS_PER_YEAR / timeframe_seconds(timeframe)


def decision_window(
    bars: Bars, start: datetime | None, end: datetime | None, *, warmup: int = 0
) -> tuple[int, int]:
    """(first, last) bar index whose close is in [start, end]; the first decision needs
    ``warmup`` bars before it."""
    closes = bars.ts + bars.bar_ns
    first = 0 if start is None else int(np.searchsorted(closes, to_ns(start), side="left"))
    last = len(bars) - 1 if end is None else int(np.searchsorted(closes, to_ns(end), "right")) - 1
    first = max(first, warmup)
    if len(bars) == 0 or first > last:
        raise BacktestError(
            "no bars to decide on between "
            f"{start or 'the first bar'} and {end or 'the last bar'}"
            + (f" after the strategy's {warmup}-bar warm-up" if warmup else "")
            + (
                f"; the data covers {pd.Timestamp(bars.ts[0])} .. "
                f"{pd.Timestamp(bars.ts[-1] + bars.bar_ns)} (bar closes)"
                if len(bars)
                else ""
            )
        )
    return first, last


def strategy_targets(
    strategy: Strategy,
    bars: Bars,
    rows: dict[str, pd.DataFrame],
    predictions: dict[str, pd.DataFrame] | None,
) -> np.ndarray:
    """The strategy's target per bar and symbol (NaN: no decision), on each symbol's rows with
    the prediction of each bar joined by ``ts`` (a bar without one gets NaN)."""
    targets = np.full((len(bars), len(bars.symbols)), np.nan)
    for k, symbol in enumerate(bars.symbols):
        frame = rows.get(symbol)
        if frame is None or frame.empty:
            continue
        frame = frame.sort_values("ts").reset_index(drop=True)
        if strategy.uses_model:
            answers = (predictions or {}).get(symbol)
            if answers is None:
                answers = pd.DataFrame(columns=["ts", *PREDICTION_COLUMNS])
            frame = frame.drop(columns=[c for c in PREDICTION_COLUMNS if c in frame]).merge(
                answers[["ts", *PREDICTION_COLUMNS]], on="ts", how="left"
            )
        weights = np.asarray(strategy.populate_targets(frame), dtype="float64")
        if weights.shape != (len(frame),):
            raise BacktestError(
                f"strategy {strategy.name!r} returned {weights.shape} targets for "
                f"{len(frame)} rows of {symbol}: it must return one per row"
            )
        index = np.searchsorted(
            bars.ts, frame["ts"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
        )
        targets[index, k] = weights
    return targets


def run_backtest(
    settings: Settings,
    *,
    exchange: str,
    timeframe: str,
    symbols: list[str],
    strategy: Strategy,
    rows: dict[str, pd.DataFrame],
    predictions: dict[str, pd.DataFrame] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    capital: float | None = None,
    costs: Costs | None = None,
    rules: dict[str, MarketRules] | None = None,
    label: str | None = None,
    role: str = "strategy",
    models: dict[str, str] | None = None,
    prediction_source: dict[str, Any] | None = None,
    in_sample: bool = False,
) -> BacktestResult:
    """Run the execution core over the decision times in [start, end] (bar closes); ``rows``
    per symbol must reach back far enough for the risk checks' windows (``history_bars``)."""
    capital = check_capital(settings.trading.initial_capital if capital is None else capital)
    costs = costs or Costs.from_settings(settings)
    bar_seconds = timeframe_seconds(timeframe)
    bars = bars_from_rows(rows, symbols, bar_seconds)
    missing = [s for s in symbols if s not in rows or rows[s].empty]
    if missing:
        raise BacktestError(
            f"no {exchange} {timeframe} bars for {', '.join(missing)}: see `cryptobot status` "
            "for what is stored"
        )
    first, last = decision_window(bars, start, end, warmup=int(strategy.warmup))
    account = settings.trading.account_currency
    rules, rates = _market_context(settings, exchange, timeframe, bars, rules)
    if rates is not None:
        check_rates(rates, bars, first, last, account)
        bars = bars.with_rates(rates)
    targets = strategy_targets(strategy, bars, rows, predictions)
    targets[:first] = np.nan
    targets[last + 1 :] = np.nan
    trading = settings.trading.model_copy(update=asdict(costs))
    params = core.CoreParams.from_settings(
        settings.model_copy(update={"trading": trading}), bar_seconds, resize=strategy.resize
    ).array()
    market_rules = np.array(
        [_rules_row(rules.get(s) or simulated_rules(s), costs.spread, costs.fee) for s in symbols]
    )
    book = core.Book(len(bars), len(symbols), capital)
    book.positions[:, core.S_MARK] = bars.closes_before(first)
    actions = np.zeros((len(bars), len(symbols)), dtype=np.int8)
    tally = np.zeros(core.N_REASONS + core.N_CHECKS, dtype=np.int64)
    started = time.perf_counter()
    core.run_bars(
        first,
        last,
        bars.ts,
        bars.avail,
        bars.market,
        targets,
        market_rules,
        params,
        *book.state(),
        actions,
        tally,
    )
    seconds = time.perf_counter() - started
    equity, orders, fills = _frames(book, bars, first, last)
    final_marks = {
        s: float(book.positions[k, core.S_MARK])
        for k, s in enumerate(symbols)
        if not math.isnan(book.positions[k, core.S_MARK])
    }
    money = in_account_currency(fills)
    metrics = performance(
        equity["equity"].to_numpy(),
        capital,
        money,
        periods_per_year=periods_per_year(timeframe),
        gross_exposure=equity["gross_exposure"].to_numpy(),
        ts=equity["ts"],
        final_marks=final_marks,
    )
    trips = round_trips(money, final_marks)
    # why decisions did not trade: orders held back by the market's minimums, and each check
    # that blocked new risk (a run that never trades says why, e.g. limits in another currency)
    metrics["held_min_amount"] = int(tally[core.R_MIN_AMOUNT])
    metrics["held_min_notional"] = int(tally[core.R_MIN_COST])
    metrics["blocked"] = int(tally[core.R_BLOCKED])
    for i, name in enumerate(core.CHECK_NAMES):
        metrics[f"blocked_by_{name}"] = int(tally[core.N_REASONS + i])
    used = {
        "risk": settings.risk.model_dump(),
        "trading": {
            **trading.model_dump(
                include={
                    "rebalance_threshold",
                    "correlation_window",
                    "liquidity_window",
                    "min_confidence",
                }
            ),
            **asdict(costs),
        },
        "strategy": {"name": strategy.name, **_strategy_params(strategy)},
        "rules": {s: market_rules[k].tolist() for k, s in enumerate(symbols)},
        "rules_origin": {s: (rules.get(s) or simulated_rules(s)).origin for s in symbols},
        "account_currency": account,
    }
    fingerprint = _fingerprint(bars, targets, first, last)
    key = {
        "exchange": exchange,
        "timeframe": timeframe,
        "symbols": symbols,
        "window": [int(bars.ts[first]), int(bars.ts[last])],
        "capital": capital,
        "settings": used,
        "models": models or {},
        "in_sample": in_sample,
        "role": role,
        "data": fingerprint,
        "code": code_version(),
    }
    run_id = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:32]
    is_simulated = any(
        bool(rows[s]["is_simulated"].any()) for s in symbols if "is_simulated" in rows[s]
    )
    return BacktestResult(
        run_id=run_id,
        label=label or strategy.name,
        role=role,
        exchange=exchange,
        timeframe=timeframe,
        symbols=list(symbols),
        strategy=strategy.name,
        capital=capital,
        costs=costs,
        equity=equity,
        orders=orders,
        fills=fills,
        trips=trips,
        metrics=metrics,
        settings=used,
        models=models or {},
        prediction_source=prediction_source or {},
        in_sample=in_sample,
        is_simulated=is_simulated,
        data_fingerprint=fingerprint,
        seconds=seconds,
        bars=last - first + 1,
    )


def _market_context(
    settings: Settings,
    exchange: str,
    timeframe: str,
    bars: Bars,
    rules: dict[str, MarketRules] | None,
) -> tuple[dict[str, MarketRules], np.ndarray | None]:
    """Each symbol's market rules (given, else stored, config overrides winning, else the
    defaults with a warning; the simulator's own) and the quote->account rates per bar (None
    when every symbol is quoted in the account currency). A quote that cannot be converted is
    refused here, before anything runs."""
    account = settings.trading.account_currency
    needs_rates = bool(conversions_needed(bars.symbols, account))
    if rules is not None and not needs_rates:
        return rules, None
    if exchange == SIMULATOR_EXCHANGE and not needs_rates:
        return market_rules(settings, exchange, bars.symbols), None
    try:
        with read_connection(settings.warehouse, timeout=settings.write_lock_timeout) as con:
            if rules is None:
                rules = market_rules(settings, exchange, bars.symbols, con)
            if not needs_rates:
                return rules, None
            closes = bars.ts + bars.bar_ns
            conversions = read_conversions(
                con,
                exchange,
                timeframe,
                bars.symbols,
                account,
                until=pd.Timestamp(int(closes[-1])) if len(closes) else None,
            )
    except WarehouseError:
        if needs_rates:
            raise
        return market_rules(settings, exchange, bars.symbols), None
    return rules, conversions.rates(bars)


def _rules_row(rules: MarketRules, spread: float, fee: float) -> list[float]:
    """The core's ``rules`` row; ``fee``: the taker fee where the market gives none."""
    return [rules.amount_step, rules.min_amount, rules.min_cost, spread, rules.fee(fee)]


def _strategy_params(strategy: Strategy) -> dict[str, Any]:
    params = {"min_confidence": strategy.min_confidence} if strategy.uses_model else {}
    for name in ("fast", "slow"):
        if hasattr(strategy, name):
            params[name] = getattr(strategy, name)
    return params


def _frames(book: core.Book, bars: Bars, first: int, last: int):
    times = bars.times()
    bar = pd.Timedelta(bars.bar_ns, "ns")
    eq = book.equity[first : last + 1]
    equity = pd.DataFrame(
        {
            "ts": times[first : last + 1] + bar,
            "cash": eq[:, core.E_CASH],
            "positions_value": eq[:, core.E_VALUE],
            "equity": eq[:, core.E_EQUITY],
            "gross_exposure": eq[:, core.E_GROSS],
            "peak_equity": eq[:, core.E_PEAK],
            "drawdown": eq[:, core.E_DRAWDOWN],
            "daily_pnl": eq[:, core.E_DAILY_PNL],
        }
    )
    n = int(book.counts[0])
    o = book.orders[:n]
    symbols = np.array(bars.symbols, dtype=object)
    decided = o[:, 1].astype(np.int64)
    orders = pd.DataFrame(
        {
            "order_no": np.arange(n, dtype=np.int64),
            "symbol": symbols[o[:, 0].astype(np.int64)],
            "bar_ts": times[decided],
            "decided_at": times[decided] + bar,
            "side": np.where(o[:, 2] > 0, "buy", "sell"),
            "amount": np.abs(o[:, 2]),
            "status": np.where(book.order_state[:n] == 1, "filled", "submitted"),
        }
    )
    f = book.fills[: int(book.counts[1])]
    numbers = f[:, core.F_ORDER].astype(np.int64)
    fills = pd.DataFrame(
        {
            "order_no": numbers,
            "symbol": symbols[o[numbers, 0].astype(np.int64)] if len(f) else [],
            "ts": times[f[:, core.F_BAR].astype(np.int64)],
            "side": np.where(o[numbers, 2] > 0, "buy", "sell") if len(f) else [],
            "amount": f[:, core.F_AMOUNT],
            "price": f[:, core.F_PRICE],
            "fee": f[:, core.F_FEE],
            "reference_price": f[:, core.F_REFERENCE],
            "spread_cost": f[:, core.F_SPREAD_COST],
            "slippage_cost": f[:, core.F_SLIPPAGE_COST],
            "quote_rate": f[:, core.F_RATE],
        }
    )
    return equity, orders, fills


def in_account_currency(fills: pd.DataFrame) -> pd.DataFrame:
    """``fills`` (money in each market's quote currency) with price, fee and costs in the
    account currency: times the quote's rate at each fill."""
    rate = fills["quote_rate"]
    money = ("price", "fee", "reference_price", "spread_cost", "slippage_cost")
    return fills.assign(**{column: fills[column] * rate for column in money})


def _fingerprint(bars: Bars, targets: np.ndarray, first: int, last: int) -> str:
    """sha256 of the bars the run could see and of its targets."""
    digest = hashlib.sha256()
    for array in (bars.ts[: last + 1], bars.avail[: last + 1], bars.market[: last + 1]):
        digest.update(np.ascontiguousarray(array).tobytes())
    digest.update(np.ascontiguousarray(targets[first : last + 1]).tobytes())
    digest.update(json.dumps(bars.symbols).encode())
    return digest.hexdigest()


def code_version() -> str:
    """sha256 (first 16 hex digits) of the execution core, the strategies and this engine."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for name in _CODE_FILES:
        digest.update((root / name).read_bytes())
    return digest.hexdigest()[:16]


def history_bars(settings: Settings, strategy: Strategy, timeframe: str) -> int:
    """Bars of history a decision needs before it: the risk checks' windows (durations
    converted to ``timeframe`` bars), the strategy's warm-up."""
    return max(*settings.trading.window_bars(timeframe), int(strategy.warmup)) + 1
