"""One run of the trading flow, as a plain function: :meth:`Trader.step` at a moment ``as_of``.

A step, in order:

1. **Read** (one read-only connection): positions, open orders, the last equity mark, cash (the
   initial capital plus every fill's cash flow), each symbol's newest feature rows known at
   ``as_of`` (``available_at <= as_of``), the recent returns and volumes for the risk checks.
2. **Fill** open paper orders at the first bar that opened at or after their decision (its open,
   plus costs: :mod:`cryptobot.trading.brokers`); live orders are refreshed from the exchange.
3. **Mark** positions at the newest closes and append the equity point (peak, drawdown, the
   day's opening equity).
4. **Decide**, per symbol, on the newest closed bar: the champion predicts it, the strategy turns
   the prediction into a target position, the target is sized (``risk.max_position_size`` of
   equity), rounded to the market's precision, and every risk check runs. The result is one
   audit row (``trade_decisions``): the prediction's key, the model version, every check, and
   the order or why none was sent.
5. **Write**: fills, orders, positions and the equity point in one transaction; then each
   decision with its prediction and order in its own transaction. Live orders are sent after
   they are stored, so a crash can only leave an order ``new``, which the next run sends (the
   client order id prevents a second order).

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

from cryptobot.config import Settings
from cryptobot.errors import TradingError
from cryptobot.ingest import utc_now
from cryptobot.timeframes import timeframe_seconds
from cryptobot.trading.brokers import Bar, LiveBroker, PaperBroker, live_client
from cryptobot.trading.orders import (
    OPEN_STATES,
    Fill,
    Order,
    OrderStatus,
    client_order_id,
    decision_id,
)
from cryptobot.trading.portfolio import DUST, EquityPoint, Position, equity_point
from cryptobot.trading.risk import OrderContext, adds_risk, pre_trade_checks
from cryptobot.trading.strategies import Prediction, get_strategy
from cryptobot.warehouse.db import read_connection, write_connection
from models.dataset import Target, configured_targets, read_feature_rows
from models.predictions import Champion, load_champion, store_predictions

#: feature rows read per symbol beyond the champion's lookback (warm-up of nothing; margin)
ROW_MARGIN = 8


def _quiet(_: str) -> None:
    pass


@dataclass
class StepResult:
    as_of: datetime
    mode: str
    strategy: str
    equity: EquityPoint | None = None
    fills: list[Fill] = field(default_factory=list)
    decisions: list[dict] = field(default_factory=list)  # the audit rows written
    orders: list[Order] = field(default_factory=list)  # orders created by this step
    already_decided: int = 0  # symbols whose bar had a decision before this run
    already_marked: bool = False  # as_of is older than the account's last mark
    kill_switch: bool = False
    seconds: float = 0.0
    decide_seconds: float = 0.0  # reading the bar's data through the last decision (no writes)

    def summary(self) -> dict:
        return {
            "as_of": self.as_of.isoformat(),
            "mode": self.mode,
            "strategy": self.strategy,
            "equity": self.equity.equity if self.equity else None,
            "drawdown": self.equity.drawdown if self.equity else None,
            "daily_pnl": self.equity.daily_pnl if self.equity else None,
            "kill_switch": self.kill_switch,
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


def default_as_of(settings: Settings) -> datetime:
    """Now, or on the simulated market its own clock: the close of its newest stored bar."""
    if settings.source != "simulator":
        return utc_now()
    with read_connection(settings.warehouse, timeout=settings.write_lock_timeout) as con:
        newest = con.execute(
            "select max(available_at) from market_data where exchange = ? and timeframe = ?",
            [settings.market_exchange, settings.timeframes[0]],
        ).fetchall()[0][0]
    if newest is None:
        raise TradingError(
            "no simulated candles in the warehouse: run `cryptobot ingest` (or `cryptobot demo`)"
        )
    return pd.Timestamp(newest).to_pydatetime()


class Trader:
    """What lasts across steps: settings, broker, strategy and the loaded champions."""

    def __init__(
        self,
        settings: Settings,
        *,
        symbols: list[str] | None = None,
        broker: PaperBroker | LiveBroker | None = None,
        log: Callable[[str], None] = _quiet,
    ) -> None:
        self.settings = settings
        self.mode = settings.trading.mode
        if broker is None:
            broker = (
                PaperBroker(settings.trading)
                if self.mode == "paper"
                else LiveBroker(live_client(settings))
            )
        if broker.mode != self.mode:
            raise TradingError(f"a {broker.mode} broker cannot trade the {self.mode} account")
        self.broker = broker
        self.strategy = get_strategy(settings.trading.strategy, settings.trading.min_confidence)
        self.targets: list[Target] = configured_targets(settings, symbols)
        self.exchange = self.targets[0].exchange
        self.timeframe = self.targets[0].timeframe
        self.bar = timedelta(seconds=timeframe_seconds(self.timeframe))
        self.log = log
        self._champions: dict[str, Champion | None] = {}

    def champion(self, target: Target) -> Champion | None:
        if target.name not in self._champions:
            self._champions[target.name] = load_champion(self.settings, target)
        return self._champions[target.name]

    # -- the step ---------------------------------------------------------------------------

    def step(self, as_of: datetime | None = None) -> StepResult:
        t0 = time.perf_counter()
        as_of = pd.Timestamp(as_of or default_as_of(self.settings)).to_pydatetime()
        result = StepResult(as_of=as_of, mode=self.mode, strategy=self.strategy.name)
        champions = {t.symbol: self.champion(t) for t in self.targets}
        lookback = max([c.lookback for c in champions.values() if c] or [1])
        t_decide = time.perf_counter()  # bar close -> decision: the reads count, not the writes
        state = self._read(as_of, lookback)
        if state.last_mark is not None and state.last_mark > as_of:
            result.already_marked = True
            result.seconds = time.perf_counter() - t0
            return result

        filled_orders, fills = self._fill_open_orders(state, as_of)
        positions = self._apply_fills(state.positions, fills)
        cash = math.fsum([state.cash, *(-f.signed_amount * f.price - f.fee for f in fills)])
        marks = {s: float(rows["close"].iloc[-1]) for s, rows in state.rows.items() if len(rows)}
        positions = {
            s: (p.marked(marks[s], as_of) if s in marks else p) for s, p in positions.items()
        }
        point = equity_point(self.mode, as_of, cash, positions, state.previous, state.is_simulated)
        limit = self.settings.risk.max_drawdown
        result.kill_switch = point.drawdown >= limit
        newly_tripped = result.kill_switch and (
            state.previous is None or state.previous.drawdown < limit
        )

        open_orders = [o for o in state.open_orders if o.client_order_id not in filled_orders]
        pending = {t.symbol: 0.0 for t in self.targets}
        for order in open_orders:
            if order.symbol in pending:
                pending[order.symbol] += order.signed_amount * (order.remaining / order.amount)
        decisions = []
        for target in self.targets:
            decision = self._decide(
                target, champions[target.symbol], state, point, positions, pending, marks, as_of
            )
            if decision is None:
                result.already_decided += 1
                continue
            if decision.row is None:  # no data for this symbol at all
                continue
            decisions.append(decision)
            if decision.order is not None:
                pending[target.symbol] += decision.order.signed_amount
        result.decide_seconds = time.perf_counter() - t_decide

        self._write(point, positions, filled_orders, fills, decisions)
        result.equity = point
        result.fills = fills
        result.decisions = [d.row for d in decisions]
        result.orders = [d.order for d in decisions if d.order is not None]
        if isinstance(self.broker, LiveBroker):
            self._send_live([*open_orders, *result.orders], positions, as_of)
        if newly_tripped:
            self._alert(
                f"cryptobot {self.mode}: kill switch tripped at {as_of:%Y-%m-%d %H:%M} UTC, "
                f"drawdown {point.drawdown:.2%} >= max_drawdown {limit:.2%}; no new risk "
                "until a human raises the limit"
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
        symbols = [t.symbol for t in self.targets]
        window = max(settings.trading.correlation_window, settings.trading.liquidity_window)
        since = as_of - self.bar * (lookback + ROW_MARGIN + max(t.horizon for t in self.targets))
        with read_connection(settings.warehouse, timeout=settings.write_lock_timeout) as con:
            params = [self.mode, self.exchange]
            positions = con.execute(
                "select * from positions where mode = ? and exchange = ? order by symbol", params
            ).df()
            orders = con.execute(
                "select * from orders where mode = ? and exchange = ? and status in "
                f"({', '.join(repr(str(s)) for s in OPEN_STATES)}) "
                "order by created_at, client_order_id",
                params,
            ).df()
            previous = con.execute(
                "select * from equity_curve where mode = ? and ts < ? order by ts desc limit 1",
                [self.mode, as_of],
            ).df()
            last_mark = con.execute(
                "select max(ts) from equity_curve where mode = ?", [self.mode]
            ).fetchall()[0][0]
            # summed exactly (math.fsum): a parallel SQL sum of floats depends on the order the
            # rows arrive in, and a re-run must reproduce the original run to the last bit
            flows = math.fsum(
                row[0]
                for row in con.execute(
                    "select case when side = 'sell' then amount * price else -amount * price "
                    "end - fee from trades where mode = ?",
                    [self.mode],
                ).fetchall()
            )
            rows = {
                t.symbol: read_feature_rows(settings, t, since=since, until=as_of, con=con)
                for t in self.targets
            }
            recent = con.execute(
                f"""
                select symbol, ts, log_return_1, volume * close as quote_volume
                from marts.fct_features
                where exchange = ? and timeframe = ? and symbol in ({", ".join("?" * len(symbols))})
                  and available_at <= ? and available_at > ?
                """,
                [self.exchange, self.timeframe, *symbols, as_of, as_of - self.bar * window],
            ).df()
            bars = self._fill_bars(con, orders, as_of)
            bar_keys = [
                decision_id(
                    self.mode,
                    self.strategy.name,
                    self.exchange,
                    s,
                    self.timeframe,
                    pd.Timestamp(r["ts"].iloc[-1]).to_pydatetime(),
                )
                for s, r in rows.items()
                if len(r)
            ]
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
            cash=self.settings.trading.initial_capital + float(flows),
            rows=rows,
            correlations=self._correlations(recent),
            quote_volumes=self._quote_volumes(recent),
            fill_bars=bars,
            decided=decided,
            is_simulated=is_simulated,
        )

    def _correlations(self, recent: pd.DataFrame) -> pd.DataFrame:
        """Correlations of the symbols' returns over the newest ``correlation_window`` bars."""
        window = self.settings.trading.correlation_window
        returns = recent.pivot_table(index="ts", columns="symbol", values="log_return_1")
        return returns.sort_index().iloc[-window:].corr(min_periods=max(24, window // 2))

    def _quote_volumes(self, recent: pd.DataFrame) -> dict[str, float]:
        """Quote volume of the newest ``liquidity_window`` bars, for symbols that have them all."""
        window = self.settings.trading.liquidity_window
        volumes = {}
        for symbol, rows in recent.sort_values("ts").groupby("symbol"):
            if len(rows) >= window:
                volumes[symbol] = float(rows["quote_volume"].iloc[-window:].sum())
        return volumes

    def _fill_bars(self, con, orders: pd.DataFrame, as_of: datetime) -> dict[str, Bar]:
        """client order id -> the first bar opened at or after its decision, known at as_of."""
        if orders.empty or self.mode != "paper":
            return {}
        con.register("open_orders", orders[["client_order_id", "symbol", "created_at"]])
        try:
            found = con.execute(
                """
                select o.client_order_id, arg_min(f.ts, f.ts) as ts,
                       arg_min(f.open, f.ts) as open, arg_min(f.volume, f.ts) as volume
                from open_orders o
                join marts.fct_features f
                  on f.symbol = o.symbol and f.ts >= o.created_at
                where f.exchange = ? and f.timeframe = ? and f.available_at <= ?
                group by o.client_order_id
                """,
                [self.exchange, self.timeframe, as_of],
            ).fetchall()
            vol = dict(
                con.execute(
                    """
                    select o.client_order_id, f.realized_vol_24
                    from open_orders o join marts.fct_features f
                      on f.symbol = o.symbol and f.ts = o.created_at - ?::interval
                    where f.exchange = ? and f.timeframe = ?
                    """,
                    [self.bar, self.exchange, self.timeframe],
                ).fetchall()
            )
        finally:
            con.unregister("open_orders")
        return {
            cid: Bar(
                ts=pd.Timestamp(ts).to_pydatetime(),
                open=float(open_),
                volume=float(volume),
                volatility=vol.get(cid),
            )
            for cid, ts, open_, volume in found
        }

    # -- filling and marking ----------------------------------------------------------------

    def _fill_open_orders(self, state: _State, as_of: datetime) -> tuple[dict, list[Fill]]:
        if not isinstance(self.broker, PaperBroker):
            return {}, []
        filled, fills = {}, []
        for order in state.open_orders:
            bar = state.fill_bars.get(order.client_order_id)
            if bar is None:
                continue
            done, fill = self.broker.fill(order, bar)
            filled[order.client_order_id] = done
            fills.append(fill)
        return filled, fills

    def _apply_fills(self, positions: dict[str, Position], fills: list[Fill]) -> dict:
        positions = dict(positions)
        for fill in fills:
            order = fill.order
            position = positions.get(order.symbol) or Position(
                mode=self.mode,
                exchange=order.exchange,
                symbol=order.symbol,
                is_simulated=order.is_simulated,
            )
            positions[order.symbol] = position.applied(
                fill.signed_amount, fill.price, fill.fee, fill.ts
            )
        return positions

    # -- deciding ---------------------------------------------------------------------------

    def _decide(
        self,
        target: Target,
        champion: Champion | None,
        state: _State,
        point: EquityPoint,
        positions: dict[str, Position],
        pending: dict[str, float],
        marks: dict[str, float],
        as_of: datetime,
    ) -> _Decision | None:
        settings = self.settings
        rows = state.rows[target.symbol]
        if rows.empty:
            self.log(f"{target.symbol}: no feature rows known at {as_of}: nothing to decide")
            return _Decision.none()
        newest = rows.iloc[-1]
        bar_ts = pd.Timestamp(newest["ts"]).to_pydatetime()
        did = decision_id(
            self.mode, self.strategy.name, self.exchange, target.symbol, self.timeframe, bar_ts
        )
        if did in state.decided:
            return None
        price = float(newest["close"])
        held = positions[target.symbol].amount if target.symbol in positions else 0.0
        current = held + pending.get(target.symbol, 0.0)
        row = {
            "id": did,
            "mode": self.mode,
            "strategy": self.strategy.name,
            "exchange": self.exchange,
            "symbol": target.symbol,
            "timeframe": self.timeframe,
            "bar_ts": bar_ts,
            "decided_at": as_of,
            "model_name": target.name,
            "model_version": champion.version if champion else None,
            "prediction_id": None,
            "pred_return": None,
            "prob_up": None,
            "confidence": None,
            "price": price,
            "position_before": current,
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
        if champion is None:
            row["reason"] = f"no champion for {target.name}: run `cryptobot train`"
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
        prediction = Prediction(
            pred_return=float(answer["pred_return"]),
            prob_up=float(answer["prob_up"]),
            direction=int(answer["direction"]),
            confidence=float(answer["confidence"]),
        )
        row.update(
            prediction_id=f"{target.name}/v{champion.version}/{bar_ts.isoformat()}",
            pred_return=prediction.pred_return,
            prob_up=prediction.prob_up,
            confidence=prediction.confidence,
        )

        allocation = settings.risk.max_position_size * point.equity
        current_weight = current * price / allocation if allocation > 0 else 0.0
        weight = float(np.clip(self.strategy.target_weight(prediction, current_weight), -1, 1))
        rules = self.broker.rules(target.symbol)
        wanted = rules.round_amount(weight * allocation / price) if allocation > 0 else 0.0
        checks = self._checks(
            target.symbol, price, current, wanted, point, positions, pending, marks, state
        )
        failed = [c.name for c in checks if not c.passed]
        row["checks"] = json.dumps([c.as_dict() for c in checks])
        row["target_amount"] = wanted
        if failed and adds_risk(current, wanted):
            if wanted * current < 0:
                wanted = 0.0  # a flip: close the old side at least
                row["reason"] = f"flip blocked by {', '.join(failed)}: closing only"
            else:
                row["action"] = "blocked"
                row["reason"] = f"blocked by {', '.join(failed)}"
                return decision
        # closing goes to exactly zero (what is held is already on the market's steps)
        delta = -current if abs(wanted) < DUST else rules.round_amount(wanted - current)
        band = settings.trading.rebalance_threshold * allocation
        if abs(delta) < DUST:
            row.update(action="hold", reason="at target")
            return decision
        if abs(wanted) > DUST and abs(delta) * price < band:
            row.update(action="hold", reason="within the rebalance band")
            return decision
        too_small = rules.too_small(delta, price)
        if too_small:
            row.update(action="hold", reason=too_small)
            return decision
        cid = client_order_id(
            self.mode, self.strategy.name, self.exchange, target.symbol, self.timeframe, bar_ts
        )
        order = Order(
            client_order_id=cid,
            mode=self.mode,
            strategy=self.strategy.name,
            exchange=self.exchange,
            symbol=target.symbol,
            timeframe=self.timeframe,
            bar_ts=bar_ts,
            side="buy" if delta > 0 else "sell",
            amount=abs(delta),
            decision_id=did,
            created_at=as_of,
            is_simulated=row["is_simulated"],
        )
        if isinstance(self.broker, PaperBroker):
            order, _ = self.broker.submit(order, as_of)
        decision.order = order
        row.update(action="order", order_amount=delta, client_order_id=cid)
        return decision

    def _checks(self, symbol, price, current, wanted, point, positions, pending, marks, state):
        exposures = {}
        for other in pending:
            amount = (positions[other].amount if other in positions else 0.0) + pending[other]
            if other != symbol and other in marks:
                exposures[other] = amount * marks[other]
        corr = state.correlations
        correlations = {}
        if symbol in corr:
            correlations = {
                other: float(corr.at[symbol, other])
                for other in exposures
                if other in corr and np.isfinite(corr.at[symbol, other])
            }
        vol = state.rows[symbol]["realized_vol_24"].iloc[-1]
        spread, source = self.broker.spread(symbol)
        ctx = OrderContext(
            symbol=symbol,
            price=price,
            current_amount=current,
            target_amount=wanted,
            exposures=exposures,
            correlations=correlations,
            volatility=float(vol) if pd.notna(vol) else None,
            quote_volume=state.quote_volumes.get(symbol),
            spread=spread,
            spread_source=source,
        )
        return pre_trade_checks(ctx, point, self.settings.risk)

    # -- writing ----------------------------------------------------------------------------

    def _write(self, point, positions, filled_orders, fills, decisions) -> None:
        settings = self.settings
        with write_connection(settings.warehouse, timeout=settings.write_lock_timeout) as con:
            _write_marks(con, point, positions, filled_orders, fills)
            for decision in decisions:
                if decision.row is not None:
                    _write_decision(con, decision)

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
                self._alert(f"cryptobot live: {done.symbol} order rejected: {done.reason}")

    def _alert(self, text: str) -> None:
        self.log(text)
        try:
            from cryptobot.notify import notify

            notify(self.settings, text)
        except Exception as exc:  # an alert must never stop trading
            self.log(f"alert not delivered: {type(exc).__name__}: {exc}")


@dataclass
class _State:
    positions: dict[str, Position]
    open_orders: list[Order]
    previous: EquityPoint | None
    last_mark: datetime | None
    cash: float
    rows: dict[str, pd.DataFrame]
    correlations: pd.DataFrame  # of the symbols' recent bar returns
    quote_volumes: dict[str, float]  # quote volume over the liquidity window, per symbol
    fill_bars: dict[str, Bar]
    decided: set[str]
    is_simulated: bool


@dataclass
class _Decision:
    row: dict | None
    predictions: pd.DataFrame | None = None
    order: Order | None = None

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
    if not rows:
        return
    frame = pd.DataFrame(rows)
    con.register("new_rows", frame)
    try:
        con.execute(f"insert into {table} by name select * from new_rows on conflict do nothing")
    finally:
        con.unregister("new_rows")


def _store_fills(con, orders: dict[str, Order], fills: list[Fill]) -> None:
    _insert(con, "trades", [f.row() for f in fills])
    for order in orders.values():
        row = order.row()
        con.execute(
            "update orders set status = ?, filled = ?, average_price = ?, fee = ?, "
            "exchange_order_id = ?, reason = ?, updated_at = ? where client_order_id = ?",
            [
                row["status"],
                row["filled"],
                row["average_price"],
                row["fee"],
                row["exchange_order_id"],
                row["reason"],
                row["updated_at"],
                row["client_order_id"],
            ],
        )


def _store_positions(con, positions: dict[str, Position]) -> None:
    rows = [p.row() for p in positions.values()]
    if not rows:
        return
    con.register("new_positions", pd.DataFrame(rows))
    try:
        con.execute("insert or replace into positions by name select * from new_positions")
    finally:
        con.unregister("new_positions")


def _write_marks(con, point, positions, filled_orders, fills) -> None:
    """Fills, the orders they complete, positions and the equity point: one transaction."""
    con.execute("begin transaction")
    try:
        _store_fills(con, filled_orders, fills)
        _store_positions(con, positions)
        _insert(con, "equity_curve", [point.__dict__])
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise


def _write_decision(con, decision: _Decision) -> None:
    """A decision's prediction, audit row and order: one transaction."""
    con.execute("begin transaction")
    try:
        if decision.predictions is not None:
            store_predictions(con, decision.predictions)
        _insert(con, "trade_decisions", [decision.row])
        if decision.order is not None:
            _insert(con, "orders", [decision.order.row()])
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise


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


def replay(
    settings: Settings,
    *,
    days: float = 30,
    end: datetime | None = None,
    symbols: list[str] | None = None,
    log: Callable[[str], None] = _quiet,
) -> ReplayResult:
    """Run the trading step at every bar close of the ``days`` before ``end`` (default: the
    newest bar's close), oldest first, as the hourly schedule would have; returns totals."""
    from models.predictions import resolve_outcomes

    t0 = time.perf_counter()
    trader = Trader(settings, symbols=symbols, log=log)
    end = pd.Timestamp(end or default_as_of(settings)).to_pydatetime()
    steps = int(timedelta(days=days) / trader.bar)
    times = [end - trader.bar * (steps - 1 - k) for k in range(steps)]
    total = ReplayResult(times[0], end, 0, 0, 0, 0, None, 0.0, [])
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
