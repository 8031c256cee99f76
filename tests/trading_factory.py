"""Known trading rows for tests of the readers (reports, the Streamlit app).

``seed_trading`` writes a small, self-consistent history straight into the warehouse tables of
migration 003 (plus candles and predictions), so a test can assert exact figures computed from
it. The trading engine's own tests exercise the writer; these rows only need the same shape.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cryptobot.config import RiskLimits
from cryptobot.warehouse.db import write_connection
from tests.conftest import make_candles

LIMITS = RiskLimits().model_dump()
CHECK_NAMES = tuple(RiskLimits.model_fields)  # every limit is one pre-trade check


@dataclass(frozen=True)
class SeededTrading:
    start: pd.Timestamp  # first bar
    end: pd.Timestamp  # last decision time
    symbols: tuple[str, ...]
    equity: pd.DataFrame  # the equity_curve rows written
    trades: pd.DataFrame  # the trades rows written
    decisions: int
    orders: int


def seed_trading(
    warehouse: Path,
    *,
    symbols: tuple[str, ...] = ("BTC/USDT", "ETH/USDT"),
    start: str = "2025-12-01",
    bars: int = 64,
    exchange: str = "simulator",
    mode: str = "paper",
    strategy: str = "long_flat",
    capital: float = 10_000.0,
    seed: int = 0,
) -> SeededTrading:
    """Candles, predictions, decisions, orders, fills, positions and an equity curve.

    Every 6th bar each symbol flips between long (5% of equity) and flat; the order is filled at
    the next bar's open with a 0.1% fee and booked in the next equity mark (as the engine
    does); ``bars`` should not be a multiple of 6 plus 1, so no fill is left unbooked. At bar
    36 each symbol's buy is blocked by the correlation check.
    """
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp(start)
    candles, predictions, decisions, orders, trades = [], [], [], [], []
    for index, symbol in enumerate(symbols):
        frame = make_candles(bars + 1, start=t0, seed=seed + index, price=100.0 * (index + 1))
        frame.insert(0, "symbol", symbol)
        candles.append(frame)
    candles = pd.concat(candles, ignore_index=True)
    hour = pd.Timedelta(hours=1)
    cash = capital
    holdings = {symbol: 0.0 for symbol in symbols}
    entry = {symbol: 0.0 for symbol in symbols}
    realized = {symbol: 0.0 for symbol in symbols}
    fees = {symbol: 0.0 for symbol in symbols}
    equity_rows = []
    peak = capital
    day_start: dict[pd.Timestamp, float] = {}
    booking: list[tuple[str, str, float, float, float]] = []
    for bar in range(bars):
        bar_ts = t0 + bar * hour
        decided_at = bar_ts + hour
        for symbol, side, amount, price, fee in booking:
            if side == "buy":
                entry[symbol] = price
                cash -= amount * price + fee
                holdings[symbol] += amount
            else:
                realized[symbol] += amount * (price - entry[symbol])
                cash += amount * price - fee
                holdings[symbol] -= amount
            fees[symbol] += fee
        booking = []
        for symbol in symbols:
            row = candles[(candles["symbol"] == symbol) & (candles["ts"] == bar_ts)].iloc[0]
            nxt = candles[(candles["symbol"] == symbol) & (candles["ts"] == decided_at)].iloc[0]
            model = f"{exchange}.{symbol.replace('/', '-')}.1h.h1"
            prob_up = float(np.clip(0.5 + rng.normal(0, 0.05), 0.01, 0.99))
            actual = float(np.log(nxt["close"] / row["close"]))
            predictions.append(
                {
                    "model_name": model,
                    "model_version": "1",
                    "symbol": symbol,
                    "timeframe": "1h",
                    "ts": bar_ts,
                    "predicted": (prob_up - 0.5) / 50,
                    "confidence": max(prob_up, 1 - prob_up),
                    "actual": actual,
                    "correct": (prob_up > 0.5) == (actual > 0),
                    "exchange": exchange,
                    "horizon": 1,
                    "family": "xgboost",
                    "prob_up": prob_up,
                    "direction": int(prob_up > 0.5),
                    "is_simulated": True,
                    "resolved_at": decided_at + hour,
                    "created_at": decided_at,
                }
            )
            decision_id = f"{mode}:{strategy}:{exchange}:{symbol}:1h:{bar_ts.isoformat()}"
            want_long = (bar // 6) % 2 == 0
            closes = {
                s: float(
                    candles[(candles["symbol"] == s) & (candles["ts"] == bar_ts)]["close"].iloc[0]
                )
                for s in symbols
            }
            equity_now = cash + sum(holdings[s] * closes[s] for s in symbols)
            target = round(0.05 * equity_now / row["close"], 5) if want_long else 0.0
            delta = target - holdings[symbol] if bar % 6 == 0 else 0.0
            rejected = bar == 36
            checks = [
                {
                    "name": name,
                    "passed": not (rejected and name == "correlation_limit"),
                    # inside every limit (half of it; twice the liquidity minimum), except the
                    # correlation check that blocks bar 36
                    "value": 0.8
                    if name == "correlation_limit" and rejected
                    else LIMITS[name] * (2.0 if name == "liquidity_minimum" else 0.5),
                    "limit": LIMITS[name],
                    "detail": "",
                }
                for name in CHECK_NAMES
            ]
            # the columns that key an order and a decision to its account, market and bar
            market = {
                "mode": mode,
                "strategy": strategy,
                "exchange": exchange,
                "symbol": symbol,
                "timeframe": "1h",
                "bar_ts": bar_ts,
            }
            cid = None
            action = "hold"
            reason = "at target"
            if delta != 0:
                cid = "cb" + hashlib.sha1(decision_id.encode()).hexdigest()[:24]
                side = "buy" if delta > 0 else "sell"
                action = "blocked" if rejected and delta > 0 else "order"
                reason = "correlation_limit" if action == "blocked" else None
                if action == "order":
                    price = float(nxt["open"]) * (1.0002 if side == "buy" else 0.9998)
                    amount = abs(delta)
                    fee = amount * price * 0.001
                    orders.append(
                        {
                            "client_order_id": cid,
                            **market,
                            "side": side,
                            "order_type": "market",
                            "amount": amount,
                            "status": "filled",
                            "filled": amount,
                            "average_price": price,
                            "fee": fee,
                            "exchange_order_id": None,
                            "decision_id": decision_id,
                            "reason": None,
                            "is_simulated": True,
                            "created_at": decided_at,
                            "updated_at": decided_at + hour,
                        }
                    )
                    trades.append(
                        {
                            "id": f"{cid}-1",
                            "client_order_id": cid,
                            "exchange": exchange,
                            "symbol": symbol,
                            "side": side,
                            "amount": amount,
                            "price": price,
                            "fee": fee,
                            "fee_currency": "USDT",
                            "mode": mode,
                            "strategy": strategy,
                            "ts": decided_at,
                            "timeframe": "1h",
                            "bar_ts": bar_ts,
                            "reference_price": float(nxt["open"]),
                            "spread_cost": amount * float(nxt["open"]) * 0.0001,
                            "slippage_cost": amount * float(nxt["open"]) * 0.0001,
                            "is_simulated": True,
                            "created_at": decided_at + hour,
                        }
                    )
                    # booked at the next mark, as the engine does: the fill's price (the
                    # next bar's open) is known once that bar has closed
                    booking.append((symbol, side, amount, price, fee))
                else:
                    cid = None
            decisions.append(
                {
                    "id": decision_id,
                    **market,
                    "decided_at": decided_at,
                    "model_name": model,
                    "model_version": "1",
                    "prediction_id": f"{model}/v1/{bar_ts.isoformat()}",
                    "pred_return": (prob_up - 0.5) / 50,
                    "prob_up": prob_up,
                    "confidence": max(prob_up, 1 - prob_up),
                    "price": float(row["close"]),
                    "position_before": holdings[symbol] - (delta if action == "order" else 0),
                    "target_amount": target,
                    "order_amount": delta if action == "order" else 0.0,
                    "action": action,
                    "reason": reason,
                    "checks": json.dumps(checks),
                    "client_order_id": cid,
                    "is_simulated": True,
                    "created_at": decided_at,
                }
            )
        marks = {
            s: float(candles[(candles["symbol"] == s) & (candles["ts"] == bar_ts)]["close"].iloc[0])
            for s in symbols
        }
        value = sum(holdings[s] * marks[s] for s in symbols)
        equity = cash + value
        peak = max(peak, equity)
        day = decided_at.normalize()
        day_start.setdefault(day, equity)
        equity_rows.append(
            {
                "mode": mode,
                "ts": decided_at,
                "cash": cash,
                "positions_value": value,
                "equity": equity,
                "gross_exposure": sum(abs(holdings[s] * marks[s]) for s in symbols),
                "peak_equity": peak,
                "drawdown": 1 - equity / peak,
                "day_start_equity": day_start[day],
                "daily_pnl": equity - day_start[day],
                "is_simulated": True,
            }
        )
    end = t0 + bars * hour
    positions = pd.DataFrame(
        [
            {
                "mode": mode,
                "exchange": exchange,
                "symbol": s,
                "amount": holdings[s],
                "avg_price": entry[s] if holdings[s] else None,
                "realized_pnl": realized[s],
                "fees": fees[s],
                "last_price": marks[s],
                "opened_at": None,
                "updated_at": end,
                "is_simulated": True,
            }
            for s in symbols
        ]
    )
    market = candles.assign(
        exchange=exchange,
        timeframe="1h",
        source="simulated",
        fetched_at=candles["ts"] + hour,
        available_at=candles["ts"] + hour,
        batch_id="seed",
    )
    equity_frame = pd.DataFrame(equity_rows)
    trades_frame = pd.DataFrame(trades)
    with write_connection(warehouse) as con:
        for table, frame in (
            ("market_data", market),
            ("ml_predictions", pd.DataFrame(predictions)),
            ("trade_decisions", pd.DataFrame(decisions)),
            ("orders", pd.DataFrame(orders)),
            ("trades", trades_frame),
            ("positions", positions),
            ("equity_curve", equity_frame),
        ):
            con.register("seed_rows", frame)
            con.execute(f"insert into {table} by name select * from seed_rows")
            con.unregister("seed_rows")
    return SeededTrading(
        start=t0,
        end=end,
        symbols=tuple(symbols),
        equity=equity_frame,
        trades=trades_frame,
        decisions=len(decisions),
        orders=len(orders),
    )
