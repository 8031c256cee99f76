"""One run of the trading flow, as a plain function: :meth:`Trader.step` at a moment ``as_of``.

The step is the execution core (:mod:`cryptobot.trading.core`) run for one bar on the account
and bars read from the warehouse; a backtest (:mod:`cryptobot.backtest.engine`) runs the same
core over every bar of history. A step, in order:

1. **Read** (one read-only connection): positions, open orders, the last equity mark, cash (the
   initial capital plus every fill's cash flow), whether a human paused trading
   (:mod:`cryptobot.trading.pause`: then the core adds no risk, as under the kill switch, and
   the audit row names who paused and why), and each symbol's feature rows known at
   ``as_of`` (``available_at <= as_of``), far enough back for the model's lookback and the risk
   checks' windows.
2. **Predict**, per symbol, on the newest closed bar: the champion's answer, and the strategy's
   target for it (skipped, with the reason, when the data is stale, the features are incomplete
   or the model has no answer).
3. **Core** (one call of :func:`core.step_bars` for the one bar): fill open paper orders at the
   open of the bar after their decision, mark the account, and size, check and order each
   symbol's target.
4. **Audit**: one ``trade_decisions`` row per symbol and bar: the prediction's key, the model
   version, every risk check (value, limit, passed, detail), and the order or why none was sent.
5. **Write**: fills, orders, positions, the equity point and every decision with its prediction
   and order, in one transaction: a step is stored whole or not at all. Live orders are sent
   after they are stored, so a crash can only leave an order ``new``, which the next run sends
   (the client order id prevents a second order).

Re-running a step for the same ``as_of`` changes nothing: decisions are keyed by bar, orders by
client order id, the equity point by time. A step older than the account's last mark does
nothing (that moment has been traded). :func:`replay` runs the step bar by bar over a past
window, exactly as the hourly schedule would have.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import duckdb
import numpy as np
import pandas as pd

from cryptobot.config import SIMULATOR_EXCHANGE, Settings
from cryptobot.errors import ConfigError, TradingError, WarehouseError
from cryptobot.ingest import utc_now
from cryptobot.keystore import SecretBlockReader
from cryptobot.timeframes import timeframe_seconds
from cryptobot.trading import core
from cryptobot.trading.accounts import (
    DEFAULT_ACCOUNT,
    check_account_name,
    open_account,
    owner_key,
    require_open_account,
)
from cryptobot.trading.bars import Bars, bars_from_rows
from cryptobot.trading.brokers import LiveBroker, PaperBroker, live_client
from cryptobot.trading.currency import (
    ConversionRows,
    check_convertible,
    check_rates,
    quote_of,
    read_conversions,
)
from cryptobot.trading.markets import MarketRules, market_rules, too_small_reason
from cryptobot.trading.orders import (
    OPEN_STATES,
    Fill,
    Order,
    OrderStatus,
    client_order_id,
    decision_id,
)
from cryptobot.trading.pause import NOT_PAUSED, PauseState, pause_state
from cryptobot.trading.portfolio import DUST, EquityPoint, Position
from cryptobot.trading.risk import describe_checks
from cryptobot.trading.strategies import strategy_from_settings
from cryptobot.warehouse.db import insert_rows, read_connection, write_connection
from models.dataset import Target, configured_targets, read_feature_rows_of
from models.predictions import Champion, load_champion, no_champion_reason, store_predictions

#: feature rows read per symbol beyond the champion's lookback (warm-up of nothing; margin)
ROW_MARGIN = 8


def _quiet(_: str) -> None:
    pass


@dataclass
class StepResult:
    as_of: datetime
    mode: str
    strategy: str
    account: str = DEFAULT_ACCOUNT
    equity: EquityPoint | None = None
    fills: list[Fill] = field(default_factory=list)
    decisions: list[dict] = field(default_factory=list)  # the audit rows written
    orders: list[Order] = field(default_factory=list)  # orders created by this step
    already_decided: int = 0  # symbols whose bar had a decision before this run
    already_marked: bool = False  # as_of is older than the account's last mark
    kill_switch: bool = False
    paused: PauseState = NOT_PAUSED  # a human's pause (no new risk), as read by the step
    seconds: float = 0.0
    decide_seconds: float = 0.0  # reading the bar's data through the last decision (no writes)

    def summary(self) -> dict:
        return {
            "as_of": self.as_of.isoformat(),
            "account": self.account,
            "mode": self.mode,
            "strategy": self.strategy,
            "equity": self.equity.equity if self.equity else None,
            "drawdown": self.equity.drawdown if self.equity else None,
            "daily_pnl": self.equity.daily_pnl if self.equity else None,
            "kill_switch": self.kill_switch,
            "paused": self.paused.describe() if self.paused.paused else None,
            "fills": len(self.fills),
            "orders": len(self.orders),
            "already_decided": self.already_decided,
            "already_marked": self.already_marked,
            "decisions": [
                {
                    key: row[key]
                    for key in (
                        "symbol",
                        "bar_ts",
                        "action",
                        "reason",
                        "prob_up",
                        "model_version",
                        "target_amount",
                        "order_amount",
                        "client_order_id",
                    )
                }
                for row in self.decisions
            ],
            "seconds": round(self.seconds, 3),
        }


def describe_age(age: timedelta) -> str:
    """A duration in its two largest calendar units: ``3 years 2 months``, ``5 days 4 hours``."""
    minutes = max(0, int(age.total_seconds() // 60))
    units = [("year", 525_960), ("month", 43_830), ("day", 1440), ("hour", 60), ("minute", 1)]
    parts = []
    for name, size in units:
        count, minutes = divmod(minutes, size)
        if count or parts:
            if count:
                parts.append(f"{count} {name}{'s' if count != 1 else ''}")
            if len(parts) == 2 or (parts and not count):
                break
    return " ".join(parts) or "less than a minute"


def default_as_of(
    settings: Settings,
    *,
    exchange: str | None = None,
    timeframe: str | None = None,
    symbols: list[str] | None = None,
    now: datetime | None = None,
    refuse_stale: bool = True,
) -> datetime:
    """The as-of time of a step without ``--as-of``: the close of the newest stored bar of the
    traded market (``exchange``/``timeframe``/``symbols``, default the settings'), never the
    clock, so a step can only mark the account at a moment its data reached.

    With ``refuse_stale`` (a single step), a close older than ``now`` minus
    ``trading.max_data_age`` (default two bars) is refused with a :class:`TradingError` saying
    how old the data is: trading it would date a mark today on data from long ago. The simulated
    market is exempt: its clock is its newest bar. A replay passes ``refuse_stale=False``: it
    trades history, ending at the newest bar.
    """
    exchange = exchange or settings.market_exchange
    timeframe = timeframe or settings.timeframes[0]
    where = "exchange = ? and timeframe = ?"
    params: list = [exchange, timeframe]
    if symbols:
        where += f" and symbol in ({', '.join('?' * len(symbols))})"
        params += list(symbols)
    with read_connection(settings.warehouse, timeout=settings.write_lock_timeout) as con:
        found = con.execute(
            f"select symbol, available_at from market_data where {where} "
            "order by available_at desc, symbol limit 1",
            params,
        ).fetchall()
    if not found:
        what = "simulated candles" if exchange == SIMULATOR_EXCHANGE else f"{exchange} candles"
        raise TradingError(
            f"no {timeframe} {what} of {', '.join(symbols or settings.symbols)} in the "
            "warehouse: run `cryptobot ingest` (or `cryptobot demo`)"
        )
    symbol, newest = found[0][0], pd.Timestamp(found[0][1]).to_pydatetime()
    if refuse_stale and exchange != SIMULATOR_EXCHANGE:
        now = now or utc_now()
        limit = settings.trading.data_age_limit(timeframe)
        if newest < now - limit:
            raise TradingError(
                f"newest {symbol} {timeframe} bar on {exchange} closed at {newest:%Y-%m-%d %H:%M} "
                f"UTC ({describe_age(now - newest)} ago), older than trading.max_data_age "
                f"({describe_age(limit)}): no step was taken. Ingest first, or pass --as-of to "
                "trade history"
            )
    return newest


class Trader:
    """What lasts across steps: settings, broker, strategy and the loaded champions."""

    def __init__(
        self,
        settings: Settings,
        *,
        symbols: list[str] | None = None,
        broker: PaperBroker | LiveBroker | None = None,
        account: str | None = None,
        log: Callable[[str], None] = _quiet,
        read_secret_block: SecretBlockReader | None = None,
    ) -> None:
        """``read_secret_block`` reads the key store's passphrase from a Prefect Secret block
        (the flow passes it; live mode only)."""
        self.settings = settings
        self.mode = settings.trading.mode
        self.account_currency = settings.trading.account_currency
        self.account = check_account_name(account or settings.trading.account)
        #: the account's part of decision and client order ids ('default' keeps the ids it had
        #: before accounts were named, so re-running an old bar still finds its decision)
        self.owner = owner_key(self.mode, self.account)
        self.targets: list[Target] = configured_targets(settings, symbols)
        self.symbols = [t.symbol for t in self.targets]
        self.exchange = self.targets[0].exchange
        self.timeframe = self.targets[0].timeframe
        if broker is None:
            broker = (
                PaperBroker(settings.trading, self._stored_rules(log))
                if self.mode == "paper"
                else LiveBroker(
                    live_client(settings, read_secret_block=read_secret_block, log=log),
                    overrides=settings.markets,
                )
            )
        if broker.mode != self.mode:
            raise TradingError(f"a {broker.mode} broker cannot trade the {self.mode} account")
        self.broker = broker
        self._check_currencies()
        self.strategy = strategy_from_settings(settings)
        self.bar_seconds = timeframe_seconds(self.timeframe)
        self.bar = timedelta(seconds=self.bar_seconds)
        self.params = core.CoreParams.from_settings(
            settings, self.bar_seconds, paper=self.mode == "paper", resize=self.strategy.resize
        ).array()
        self.log = log
        self._champions: dict[str, Champion | None] = {}
        self._no_champion: dict[str, str] = {}

    def no_champion(self, target: Target) -> str:
        """Why the target has no champion (asked once per Trader: a replay asks every bar)."""
        if target.name not in self._no_champion:
            self._no_champion[target.name] = no_champion_reason(self.settings, target)
        return self._no_champion[target.name]

    def _stored_rules(self, log: Callable[[str], None]) -> dict[str, MarketRules]:
        """The paper broker's rules: the stored markets of the exchange (config overrides
        win), the defaults with a warning for a market not stored."""
        settings = self.settings
        try:
            with read_connection(settings.warehouse, timeout=settings.write_lock_timeout) as con:
                return market_rules(settings, self.exchange, self.symbols, con, warn=log)
        except WarehouseError:  # no warehouse yet: the step itself says what to run
            return market_rules(settings, self.exchange, self.symbols, None, warn=log)

    def _check_currencies(self) -> None:
        """Refuse at start a symbol whose quote cannot be valued in the account currency
        (paper), or is not the account currency (live: the exchange holds the quote itself)."""
        foreign = [s for s in self.symbols if quote_of(s) != self.account_currency]
        if not foreign:
            return
        if self.mode == "live":
            raise ConfigError(
                f"live trading of {', '.join(foreign)} refused: the account currency is "
                f"{self.account_currency} and live orders spend the quote currency held on "
                f"{self.exchange}, which the account does not model. Trade pairs quoted in "
                f"{self.account_currency}, or set trading.account_currency to their quote."
            )
        settings = self.settings
        try:
            with read_connection(settings.warehouse, timeout=settings.write_lock_timeout) as con:
                check_convertible(
                    con, self.exchange, self.timeframe, self.symbols, self.account_currency
                )
        except WarehouseError:
            pass  # no warehouse yet: the step says what to ingest

    def champion(self, target: Target) -> Champion | None:
        if target.name not in self._champions:
            self._champions[target.name] = load_champion(self.settings, target)
        return self._champions[target.name]

    # -- the step ---------------------------------------------------------------------------

    def step(self, as_of: datetime | None = None) -> StepResult:
        t0 = time.perf_counter()
        if as_of is None:
            as_of = default_as_of(
                self.settings,
                exchange=self.exchange,
                timeframe=self.timeframe,
                symbols=self.symbols,
            )
        as_of = pd.Timestamp(as_of).to_pydatetime()
        result = StepResult(
            as_of=as_of, mode=self.mode, strategy=self.strategy.name, account=self.account
        )
        champions = {t.symbol: self.champion(t) for t in self.targets}
        lookback = max([c.lookback for c in champions.values() if c] or [1])
        t_decide = time.perf_counter()  # bar close -> decision: the reads count, not the writes
        state = self._read(as_of, lookback)
        if state.last_mark is not None and state.last_mark > as_of:
            result.already_marked = True
            result.seconds = time.perf_counter() - t0
            return result

        result.paused = state.pause
        params = self.params
        if state.pause.paused:  # the core blocks new risk as under the kill switch
            params = params.copy()
            params[core.P_PAUSED] = 1.0
        bars = bars_from_rows(state.rows, self.symbols, self.bar_seconds, through=as_of)
        rates = state.rates.rates(bars, _ns(as_of)) if state.rates is not None else None
        if rates is not None:
            # the decision's rate and the one its fills at this bar's open use
            check_rates(rates, bars, max(0, len(bars) - 2), len(bars) - 1, self.account_currency)
            bars = bars.with_rates(rates)
        t = len(bars) - 1
        targets = np.full((len(bars), len(self.symbols)), np.nan)
        decisions: dict[str, _Decision] = {}
        for k, target in enumerate(self.targets):
            decision = self._predict(target, champions[target.symbol], state, as_of)
            if decision is None:
                result.already_decided += 1
            elif decision.row is not None:
                decisions[target.symbol] = decision
                targets[t, k] = decision.target

        book, orders_on_book = self._book(state, bars, t)
        rules, spread_sources = self._rules()
        decided = np.zeros((len(self.symbols), core.N_DECISION))
        checks = np.full((len(self.symbols), core.N_CHECKS, 3), np.nan)
        rows = np.zeros(int(self.params[core.P_CORR_WINDOW]) + 1, dtype=np.int64)
        core.step_bars(
            t,
            t,
            _ns(as_of),
            bars.ts,
            bars.avail,
            bars.market,
            targets,
            rules,
            params,
            *book.state(),
            decided,
            checks,
            True,
            rows,
            np.zeros(len(self.symbols)),
            np.zeros((len(bars), len(self.symbols)), np.int8),
        )
        filled_orders, fills = self._fills(book, bars, orders_on_book)
        positions = self._positions(state, book, bars, t, fills, as_of)
        row = book.equity[t]
        point = EquityPoint(
            account=self.account,
            mode=self.mode,
            ts=as_of,
            cash=float(row[core.E_CASH]),
            positions_value=float(row[core.E_VALUE]),
            equity=float(row[core.E_EQUITY]),
            gross_exposure=float(row[core.E_GROSS]),
            peak_equity=float(row[core.E_PEAK]),
            drawdown=float(row[core.E_DRAWDOWN]),
            day_start_equity=float(row[core.E_DAY_START]),
            daily_pnl=float(row[core.E_DAILY_PNL]),
            is_simulated=state.is_simulated,
        )
        limit = self.settings.risk.max_drawdown
        result.kill_switch = point.drawdown >= limit
        newly_tripped = result.kill_switch and (
            state.previous is None or state.previous.drawdown < limit
        )
        for k, symbol in enumerate(self.symbols):
            if symbol in decisions and decisions[symbol].decided:
                self._audit(
                    decisions[symbol], decided[k], checks[k], point, rules[k],
                    spread_sources[k], as_of, state.pause, bars.rate(t, k),
                )  # fmt: skip
        result.decide_seconds = time.perf_counter() - t_decide

        ordered = list(decisions.values())
        self._write(point, positions, filled_orders, fills, ordered)
        open_orders = [o for o in state.open_orders if o.client_order_id not in filled_orders]
        result.equity = point
        result.fills = fills
        result.decisions = [d.row for d in ordered]
        result.orders = [d.order for d in ordered if d.order is not None]
        if self.mode == "live":
            self._send_live([*open_orders, *result.orders], positions, as_of)
        if newly_tripped:
            self._alert(
                "kill_switch",
                f"cryptobot {self.mode}: kill switch tripped at {as_of:%Y-%m-%d %H:%M} UTC, "
                f"drawdown {point.drawdown:.2%} >= max_drawdown {limit:.2%}; no new risk "
                "until a human raises the limit",
            )
        result.seconds = time.perf_counter() - t0
        return result

    # -- reading ----------------------------------------------------------------------------

    def _read(self, as_of: datetime, lookback: int) -> _State:
        try:
            return self._read_state(as_of, lookback)
        except duckdb.CatalogException as exc:
            if "fct_features" not in str(exc):
                raise
            raise TradingError(
                f"no features in {self.settings.warehouse}: the trading flow decides on "
                "marts.fct_features; run `cryptobot features` (and `cryptobot train` for the "
                "champions) first"
            ) from None

    def _read_state(self, as_of: datetime, lookback: int) -> _State:
        settings = self.settings
        trading = settings.trading
        window = max(trading.window_bars(self.timeframe))
        history = max(
            lookback + ROW_MARGIN + max(t.horizon for t in self.targets),
            window + 1,
            int(self.strategy.warmup) + 1,  # a strategy on prices needs its own history too
        )
        with read_connection(settings.warehouse, timeout=settings.write_lock_timeout) as con:
            require_open_account(con, self.account, self.mode)
            params = [self.account, self.mode, self.exchange]
            positions = con.execute(
                "select * from positions where account = ? and mode = ? and exchange = ? "
                "order by symbol",
                params,
            ).df()
            orders = con.execute(
                "select * from orders where account = ? and mode = ? and exchange = ? "
                "and status in "
                f"({', '.join(repr(str(s)) for s in OPEN_STATES)}) "
                "order by created_at, client_order_id",
                params,
            ).df()
            previous = con.execute(
                "select * from equity_curve where account = ? and mode = ? and ts < ? "
                "order by ts desc limit 1",
                [self.account, self.mode, as_of],
            ).df()
            last_mark = con.execute(
                "select max(ts) from equity_curve where account = ? and mode = ?",
                [self.account, self.mode],
            ).fetchall()[0][0]
            # summed exactly (math.fsum): a parallel SQL sum of floats depends on the order the
            # rows arrive in, and a re-run must reproduce the original run to the last bit
            flows = math.fsum(
                row[0]
                for row in con.execute(
                    "select (case when side = 'sell' then amount * price else -amount * price "
                    "end - fee) * coalesce(quote_rate, 1.0) from trades "
                    "where account = ? and mode = ?",
                    [self.account, self.mode],
                ).fetchall()
            )
            since = as_of - self.bar * history
            if len(orders):  # back to the oldest open order's decision bar
                since = min(since, pd.Timestamp(orders["created_at"].min()) - self.bar)
            rows = read_feature_rows_of(settings, self.targets, since=since, until=as_of, con=con)
            # the quote currencies' rates in the account currency known over these bars
            rates = read_conversions(
                con,
                self.exchange,
                self.timeframe,
                self.symbols,
                self.account_currency,
                since=pd.Timestamp(since),
                until=pd.Timestamp(as_of),
            )
            bar_keys = [
                decision_id(
                    self.owner,
                    self.strategy.name,
                    self.exchange,
                    s,
                    self.timeframe,
                    pd.Timestamp(r["ts"].iloc[-1]).to_pydatetime(),
                )
                for s, r in rows.items()
                if len(r)
            ]
            pause = pause_state(con)
            decided = set()
            if bar_keys:
                decided = {
                    row[0]
                    for row in con.execute(
                        "select id from trade_decisions where id in "
                        f"({', '.join('?' * len(bar_keys))})",
                        bar_keys,
                    ).fetchall()
                }
        prev = EquityPoint(**_plain(previous.iloc[0].to_dict())) if len(previous) else None
        is_simulated = bool(any(len(r) and r["is_simulated"].any() for r in rows.values()))
        return _State(
            positions={r["symbol"]: Position(**_plain(r)) for r in positions.to_dict("records")},
            open_orders=[Order.from_row(_plain(r)) for r in orders.to_dict("records")],
            previous=prev,
            last_mark=pd.Timestamp(last_mark).to_pydatetime() if last_mark is not None else None,
            cash=math.fsum([self.settings.trading.initial_capital, flows]),
            rows=rows,
            decided=decided,
            is_simulated=is_simulated,
            pause=pause,
            rates=rates,
        )

    # -- predicting -------------------------------------------------------------------------

    def _predict(
        self, target: Target, champion: Champion | None, state: _State, as_of: datetime
    ) -> _Decision | None:
        """The audit row so far and the strategy's target for the symbol's newest bar; None when
        that bar was decided before, a row-less decision when the symbol has no data at all."""
        rows = state.rows[target.symbol]
        if rows.empty:
            self.log(f"{target.symbol}: no feature rows known at {as_of}: nothing to decide")
            return _Decision.none()
        newest = rows.iloc[-1]
        bar_ts = pd.Timestamp(newest["ts"]).to_pydatetime()
        did = decision_id(
            self.owner, self.strategy.name, self.exchange, target.symbol, self.timeframe, bar_ts
        )
        if did in state.decided:
            return None
        row = {
            "id": did,
            "account": self.account,
            "mode": self.mode,
            "strategy": self.strategy.name,
            "exchange": self.exchange,
            "symbol": target.symbol,
            "timeframe": self.timeframe,
            "bar_ts": bar_ts,
            "decided_at": as_of,
            "model_name": target.name if self.strategy.uses_model else None,
            "model_version": champion.version if champion and self.strategy.uses_model else None,
            # the champion trained on this bar: its prediction flatters it (labelled, rule 2)
            "in_sample": bool(
                champion is not None and self.strategy.uses_model and champion.trained_on(bar_ts)
            ),
            "prediction_id": None,
            "pred_return": None,
            "prob_up": None,
            "confidence": None,
            "price": float(newest["close"]),
            "position_before": None,
            "target_amount": None,
            "order_amount": 0.0,
            "action": "skip",
            "reason": None,
            "checks": "[]",
            "client_order_id": None,
            "is_simulated": bool(newest["is_simulated"]),
            "created_at": utc_now(),
        }
        decision = _Decision(row=row)
        if pd.Timestamp(newest["available_at"]) <= pd.Timestamp(as_of - self.bar):
            row["reason"] = (
                f"stale data: the newest closed bar {bar_ts:%Y-%m-%d %H:%M} closed at "
                f"{pd.Timestamp(newest['available_at']):%Y-%m-%d %H:%M}, over one "
                f"{self.timeframe} bar before {as_of:%Y-%m-%d %H:%M}"
            )
            return decision
        frame = rows
        if self.strategy.uses_model:
            if champion is None:
                row["reason"] = self.no_champion(target)
                return decision
            complete = rows.dropna(subset=champion.required)
            if complete.empty or complete["ts"].iloc[-1] != newest["ts"]:
                row["reason"] = "features incomplete for the newest bar (indicator warm-up or gap)"
                return decision
            output, predicted = champion.predict(complete, 1)
            if output.empty:
                row["reason"] = f"the model needs {champion.lookback} complete rows; fewer known"
                return decision
            decision.predictions = champion.rows(output, predicted)
            answer = output.iloc[-1]
            row.update(
                prediction_id=f"{target.name}/v{champion.version}/{bar_ts.isoformat()}",
                pred_return=float(answer["pred_return"]),
                prob_up=float(answer["prob_up"]),
                confidence=float(answer["confidence"]),
            )
            frame = rows.iloc[[-1]].assign(
                **{
                    c: [float(answer[c])]
                    for c in ("pred_return", "prob_up", "direction", "confidence")
                }
            )
        weight = float(self.strategy.populate_targets(frame)[-1])
        if not math.isfinite(weight):
            row["reason"] = (
                f"no decision: the call is less confident than {self.strategy.min_confidence:g} "
                f"or its forecast does not pay for the trade's costs ({self.strategy.cost:.3%} "
                "a fill); holding"
                if self.strategy.uses_model
                else "no decision on this bar: the strategy keeps what is held"
            )
            return decision
        decision.target = weight
        decision.decided = True
        return decision

    # -- the core's inputs and outputs --------------------------------------------------------

    def _rules(self) -> tuple[np.ndarray, list[str]]:
        """Each market's rules and spread for the core, and where each spread came from (one
        quote per symbol and step: a live broker asks the exchange for it)."""
        rules = np.zeros((len(self.symbols), core.N_RULES))
        sources = []
        for k, symbol in enumerate(self.symbols):
            market = self.broker.rules(symbol)
            spread, source = self.broker.spread(symbol)
            rules[k] = (
                market.amount_step,
                market.min_amount,
                market.min_cost,
                np.nan if spread is None else spread,
                market.fee(self.settings.trading.fee),
            )
            sources.append(source)
        return rules, sources

    def _book(self, state: _State, bars: Bars, t: int) -> tuple[core.Book, dict[int, Order]]:
        """The account as the core holds it: cash, positions with their newest marks, the
        previous equity point, and the open orders (book number -> order)."""
        book = core.Book(
            len(bars),
            len(self.symbols),
            state.cash,
            capacity=len(state.open_orders) + len(self.symbols) + 1,
        )
        book.positions[:, core.S_MARK] = bars.closes_before(t)
        for k, symbol in enumerate(self.symbols):
            position = state.positions.get(symbol)
            if position is not None:
                book.positions[k, core.S_AMOUNT] = position.amount
                book.positions[k, core.S_AVG] = (
                    np.nan if position.avg_price is None else position.avg_price
                )
                book.positions[k, core.S_REALIZED] = position.realized_pnl
                book.positions[k, core.S_FEES] = position.fees
                if np.isnan(book.positions[k, core.S_MARK]) and position.last_price is not None:
                    book.positions[k, core.S_MARK] = position.last_price
        if state.previous is not None:
            book.set_previous(
                state.previous.peak_equity,
                state.previous.day_start_equity,
                _ns(state.previous.ts),
            )
        on_book = {}
        for order in state.open_orders:
            if order.symbol not in self.symbols:
                continue  # a market no longer traded: its order waits
            k = self.symbols.index(order.symbol)
            decided_bar = bars.index_at_or_after(order.created_at) - 1
            vol = np.nan
            if decided_bar >= 0 and bars.ts[decided_bar] + bars.bar_ns == _ns(order.created_at):
                vol = bars.market[decided_bar, k, core.VOL]
            remaining = order.signed_amount * (order.remaining / order.amount)
            on_book[book.add_order(k, decided_bar, remaining, vol)] = order
        return book, on_book

    def _fills(self, book: core.Book, bars: Bars, on_book: dict[int, Order]):
        filled, fills = {}, []
        for f in range(int(book.counts[1])):
            values = book.fills[f]
            order = on_book[int(values[core.F_ORDER])]
            when = pd.Timestamp(bars.ts[int(values[core.F_BAR])]).to_pydatetime()
            price, fee = float(values[core.F_PRICE]), float(values[core.F_FEE])
            fill = Fill(
                trade_id=f"{order.client_order_id}-1",
                order=order,
                amount=float(values[core.F_AMOUNT]),
                price=price,
                fee=fee,
                ts=when,
                reference_price=float(values[core.F_REFERENCE]),
                spread_cost=float(values[core.F_SPREAD_COST]),
                slippage_cost=float(values[core.F_SLIPPAGE_COST]),
                quote_rate=float(values[core.F_RATE]),
            )
            filled[order.client_order_id] = order.moved_to(
                OrderStatus.FILLED, when, filled=order.amount, average_price=price, fee=fee
            )
            fills.append(fill)
        return filled, fills

    def _positions(self, state, book, bars, t, fills, as_of) -> dict[str, Position]:
        """Positions after the core's step: its amounts and P&L, opening times from the fills,
        marked at ``as_of`` where the symbol has a known close."""
        as_of_ns = bars.ts[t] + bars.bar_ns
        touched = {f.order.symbol for f in fills}
        out = {}
        for k, symbol in enumerate(self.symbols):
            before = state.positions.get(symbol)
            if before is None and symbol not in touched:
                continue
            first = before or Position(
                account=self.account,
                mode=self.mode,
                exchange=self.exchange,
                symbol=symbol,
                is_simulated=next(f.order.is_simulated for f in fills if f.order.symbol == symbol),
            )
            opened, updated, amount = first.opened_at, first.updated_at, first.amount
            for fill in fills:
                if fill.order.symbol != symbol:
                    continue
                new = amount + fill.signed_amount
                if abs(amount) < DUST or new * amount < 0:
                    opened = fill.ts
                if abs(new) < DUST:
                    opened = None
                amount, updated = new, fill.ts
            values = book.positions[k]
            marked = bool((bars.avail[: t + 1, k] <= as_of_ns).any())
            out[symbol] = Position(
                account=self.account,
                mode=first.mode,
                exchange=first.exchange,
                symbol=symbol,
                amount=float(values[core.S_AMOUNT]),
                avg_price=None if math.isnan(values[core.S_AVG]) else float(values[core.S_AVG]),
                realized_pnl=float(values[core.S_REALIZED]),
                fees=float(values[core.S_FEES]),
                last_price=float(values[core.S_MARK]) if marked else first.last_price,
                opened_at=opened if abs(values[core.S_AMOUNT]) >= DUST else None,
                updated_at=as_of if marked else updated,
                is_simulated=first.is_simulated,
            )
        return out

    def _audit(
        self, decision, decided, checks, point, rules, spread_source, as_of, pause, rate=1.0
    ) -> None:
        """Complete the audit row (and make the order) from what the core decided; ``rate``:
        the quote's rate in the account currency at the decision."""
        row = decision.row
        symbol = row["symbol"]
        action = core.ACTIONS[int(decided[core.D_ACTION])]
        reason = int(decided[core.D_REASON])
        price = float(decided[core.D_PRICE])
        wanted = float(decided[core.D_WANTED])
        delta = float(decided[core.D_DELTA])
        described = describe_checks(
            symbol,
            checks,
            self.symbols,
            point,
            self.settings.risk,
            price * rate,
            wanted,
            spread_source,
        )
        failed = ", ".join(c.name for c in described if not c.passed)
        if pause.paused:  # the core blocked new risk for the pause, maybe for checks as well
            failed = f"the pause ({pause.describe()})" + (f" and {failed}" if failed else "")
        row.update(
            position_before=float(decided[core.D_CURRENT]),
            target_amount=wanted,
            checks=json.dumps([c.as_dict() for c in described]),
            action=action,
            reason={
                core.R_AT_TARGET: "at target",
                core.R_BAND: "within the rebalance band",
                core.R_MIN_AMOUNT: too_small_reason(
                    reason, delta, price, rules[core.M_MIN_AMOUNT], rules[core.M_MIN_COST]
                ),
                core.R_MIN_COST: too_small_reason(
                    reason, delta, price, rules[core.M_MIN_AMOUNT], rules[core.M_MIN_COST]
                ),
                core.R_BLOCKED: f"blocked by {failed}",
                core.R_FLIP_CLOSING: f"flip blocked by {failed}: closing only",
            }.get(reason),
        )
        if action != "order":
            return
        cid = client_order_id(
            self.owner, self.strategy.name, self.exchange, symbol, self.timeframe, row["bar_ts"]
        )
        order = Order(
            client_order_id=cid,
            account=self.account,
            mode=self.mode,
            strategy=self.strategy.name,
            exchange=self.exchange,
            symbol=symbol,
            timeframe=self.timeframe,
            bar_ts=row["bar_ts"],
            side="buy" if delta > 0 else "sell",
            amount=abs(delta),
            decision_id=row["id"],
            created_at=as_of,
            is_simulated=row["is_simulated"],
        )
        if self.mode == "paper":
            order, _ = self.broker.submit(order, as_of)
        decision.order = order
        row.update(order_amount=delta, client_order_id=cid)

    # -- writing ----------------------------------------------------------------------------

    def _write(self, point, positions, filled_orders, fills, decisions) -> None:
        settings = self.settings
        with write_connection(settings.warehouse, timeout=settings.write_lock_timeout) as con:
            con.execute("begin transaction")  # a step is stored whole or not at all
            try:
                open_account(con, self.account, self.mode)
                _write_marks(con, point, positions, filled_orders, fills)
                _write_decisions(con, [d for d in decisions if d.row is not None])
                con.execute("commit")
            except BaseException:
                con.execute("rollback")
                raise

    def _apply_fills(self, positions: dict[str, Position], fills: list[Fill]) -> dict:
        """Live fills (from the exchange) on the positions."""
        positions = dict(positions)
        for fill in fills:
            order = fill.order
            position = positions.get(order.symbol) or Position(
                account=self.account,
                mode=self.mode,
                exchange=order.exchange,
                symbol=order.symbol,
                is_simulated=order.is_simulated,
            )
            positions[order.symbol] = position.applied(
                fill.signed_amount, fill.price, fill.fee, fill.ts
            )
        return positions

    def _send_live(self, orders: list[Order], positions: dict, as_of: datetime) -> None:
        """Send new live orders and refresh open ones; store what the exchange answers."""
        for order in orders:
            if not order.is_open:
                continue
            done, fills = (
                self.broker.submit(order, as_of)
                if order.status == OrderStatus.NEW
                else self.broker.refresh(order, as_of)
            )
            positions = self._apply_fills(positions, fills)
            with write_connection(
                self.settings.warehouse, timeout=self.settings.write_lock_timeout
            ) as con:
                con.execute("begin transaction")
                _store_fills(con, {done.client_order_id: done}, fills)
                _store_positions(
                    con, {done.symbol: positions[done.symbol]} if done.symbol in positions else {}
                )
                con.execute("commit")
            if done.status == OrderStatus.REJECTED:
                self._alert("fills", f"cryptobot live: {done.symbol} order rejected: {done.reason}")

    def _alert(self, kind: str, text: str) -> None:
        from cryptobot.alerts import send_alert

        self.log(text)
        send_alert(self.settings, kind, text, log=self.log)  # never raises: trading goes on


def _ns(when: datetime) -> int:
    return int(pd.Timestamp(when).as_unit("ns").value)


@dataclass
class _State:
    positions: dict[str, Position]
    open_orders: list[Order]
    previous: EquityPoint | None
    last_mark: datetime | None
    cash: float
    rows: dict[str, pd.DataFrame]
    decided: set[str]
    is_simulated: bool
    pause: PauseState = NOT_PAUSED
    rates: ConversionRows | None = None


@dataclass
class _Decision:
    row: dict | None
    predictions: pd.DataFrame | None = None
    order: Order | None = None
    target: float = math.nan  # the strategy's weight for the core
    decided: bool = False  # the core decides it (no skip reason before it)

    @classmethod
    def none(cls) -> _Decision:
        return cls(row=None)


def _plain(record: dict) -> dict:
    """Warehouse values as plain Python: NaN/NaT -> None, Timestamps -> datetime."""
    out = {}
    for key, value in record.items():
        if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT:
            out[key] = None
        elif isinstance(value, pd.Timestamp):
            out[key] = value.to_pydatetime()
        elif isinstance(value, np.generic):
            out[key] = value.item()
        else:
            out[key] = value
    return out


def _insert(con, table: str, rows: list[dict]) -> None:
    insert_rows(con, table, rows)


def _store_fills(con, orders: dict[str, Order], fills: list[Fill]) -> None:
    _insert(con, "trades", [f.row() for f in fills])
    for order in orders.values():
        row = order.row()
        con.execute(
            "update orders set status = ?, filled = ?, average_price = ?, fee = ?, "
            "exchange_order_id = ?, reason = ?, updated_at = ?, "
            "sent_at = coalesce(sent_at, ?), acknowledged_at = coalesce(acknowledged_at, ?) "
            "where client_order_id = ?",
            [
                row["status"],
                row["filled"],
                row["average_price"],
                row["fee"],
                row["exchange_order_id"],
                row["reason"],
                row["updated_at"],
                row["sent_at"],
                row["acknowledged_at"],
                row["client_order_id"],
            ],
        )


def _store_positions(con, positions: dict[str, Position]) -> None:
    insert_rows(con, "positions", [p.row() for p in positions.values()], replace=True)


def _write_marks(con, point, positions, filled_orders, fills) -> None:
    """Fills, the orders they complete, positions and the equity point."""
    _store_fills(con, filled_orders, fills)
    _store_positions(con, positions)
    _insert(con, "equity_curve", [point.__dict__])


def _write_decisions(con, decisions: list[_Decision]) -> None:
    """The decisions' predictions, audit rows and orders, one insert per table (DuckDB pays
    milliseconds per statement, not per row)."""
    predictions = [d.predictions for d in decisions if d.predictions is not None]
    if predictions:
        store_predictions(con, pd.concat(predictions, ignore_index=True))
    _insert(con, "trade_decisions", [d.row for d in decisions])
    _insert(con, "orders", [d.order.row() for d in decisions if d.order is not None])


@dataclass
class ReplayResult:
    start: datetime
    end: datetime
    steps: int
    skipped: int  # steps older than the account's last mark (already traded)
    orders: int
    fills: int
    equity: EquityPoint | None
    seconds: float
    decide_seconds: list[float]
    #: some bar was one a champion trained on (allowed by ``allow_in_sample``): labelled
    in_sample: bool = False


def replay(
    settings: Settings,
    *,
    days: float = 30,
    end: datetime | None = None,
    symbols: list[str] | None = None,
    account: str | None = None,
    allow_in_sample: bool = False,
    log: Callable[[str], None] = _quiet,
) -> ReplayResult:
    """Run the trading step at every bar close of the ``days`` before ``end`` (default: the
    newest bar's close), oldest first, as the hourly schedule would have; returns totals.

    A window reaching bars a champion trained on (before its holdout) is refused, as a
    backtest's is (:func:`models.backtest.in_sample_refusal`), unless ``allow_in_sample``: then
    the result and each such decision (``trade_decisions.in_sample``) are labelled in-sample."""
    from models.predictions import resolve_outcomes

    t0 = time.perf_counter()
    trader = Trader(settings, symbols=symbols, account=account, log=log)
    if end is None:  # the newest stored bar, however old: a replay trades history
        end = default_as_of(
            settings,
            exchange=trader.exchange,
            timeframe=trader.timeframe,
            symbols=trader.symbols,
            refuse_stale=False,
        )
    end = pd.Timestamp(end).to_pydatetime()
    steps = int(timedelta(days=days) / trader.bar)
    times = [end - trader.bar * (steps - 1 - k) for k in range(steps)]
    total = ReplayResult(times[0], end, 0, 0, 0, 0, None, 0.0, [])
    if trader.strategy.uses_model:
        first_bar = times[0] - trader.bar  # the bar decided at the first close
        trained = {
            f"{target.name} v{champion.version}": champion.holdout_start
            for target in trader.targets
            if (champion := trader.champion(target)) is not None and champion.trained_on(first_bar)
        }
        if trained and not allow_in_sample:
            from models.backtest import in_sample_refusal

            raise TradingError(in_sample_refusal(trained, first_bar, "replay"))
        if trained:
            total.in_sample = True
            log(
                "replay: IN-SAMPLE: "
                + ", ".join(trained)
                + " trained on some of these bars; their decisions are labelled in_sample"
            )
    day = None
    for as_of in times:
        result = trader.step(as_of)
        total.steps += 1
        if result.already_marked:
            total.skipped += 1
            continue
        total.orders += len(result.orders)
        total.fills += len(result.fills)
        total.equity = result.equity or total.equity
        total.decide_seconds.append(result.decide_seconds)
        if as_of.date() != day and as_of.hour == 0:
            day = as_of.date()
            point = result.equity
            log(
                f"replay {as_of:%Y-%m-%d}: equity {point.equity:,.2f} "
                f"(drawdown {point.drawdown:.2%}), {total.orders} orders and "
                f"{total.fills} fills so far"
            )
    if total.skipped:
        log(
            f"replay: {total.skipped} of {total.steps} bars were traded before "
            "(the account's last mark is later): left as they are"
        )
    resolve_outcomes(settings)
    total.seconds = time.perf_counter() - t0
    return total
