"""Read definitions shared by the readers of the warehouse (the app, the REST API).

A number is defined once: what makes a market row simulated, a position's unrealised P&L, a
backtest's headline metrics, and how the account's records are filtered. The readers run these
on their own connections (the app through its cache, the API on its snapshot).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptobot.config import SIMULATOR_EXCHANGE
from cryptobot.sources.base import SOURCE_SIMULATED

#: a market_data row is simulated when its source says so or it is stored under the simulator's
#: exchange id (reserved for simulated series): either labels it SIMULATED (rule 9)
SIMULATED_MARKET_SQL = f"(source = '{SOURCE_SIMULATED}' or exchange = '{SIMULATOR_EXCHANGE}')"

#: the positions of account ``$account`` in ``$mode``, largest first, marked at the price of the
#: latest equity row
POSITIONS_SQL = """
    select exchange, symbol, amount, avg_price, last_price,
        amount * last_price as value,
        case when amount <> 0 and avg_price is not null
            then amount * (last_price - avg_price) else 0 end as unrealized_pnl,
        realized_pnl, fees, opened_at, updated_at, is_simulated
    from positions where account = $account and mode = $mode
    order by abs(amount * coalesce(last_price, 0)) desc, symbol
"""

#: the after-cost metrics shown beside each backtest run, read from its ``metrics`` JSON
HEADLINE_METRICS = ("total_return", "sharpe", "max_drawdown", "trades")


def backtest_headline_sql() -> str:
    return ", ".join(f"try_cast(metrics->>'{m}' as double) as {m}" for m in HEADLINE_METRICS)


@dataclass(frozen=True)
class AccountFilters:
    """Which of an account's records to read: its name and ``mode`` and, when given, one
    symbol, side or order status and a half-open time window ``[start, end)`` (naive UTC)."""

    mode: str
    account: str = "default"
    symbols: tuple[str, ...] = ()
    sides: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None

    def where(
        self,
        ts: str,
        *,
        side: str | None = "side",
        status: str | None = "status",
        action: str | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """A SQL condition on the time column ``ts`` (and the named side/status/action
        columns, None where the table has none) and its named parameters."""
        clauses = ["account = $account", "mode = $mode"]
        params: dict[str, Any] = {"account": self.account, "mode": self.mode}
        if self.start is not None:
            clauses.append(f"{ts} >= $start")
            params["start"] = self.start
        if self.end is not None:
            clauses.append(f"{ts} < $end")
            params["end"] = self.end
        for values, column, name in (
            (self.symbols, "symbol", "symbols"),
            (self.sides, side, "sides"),
            (self.statuses, status, "statuses"),
            (self.actions, action, "actions"),
        ):
            if values and column is not None:
                clauses.append(f"list_contains(${name}, {column})")
                params[name] = list(values)
        return " and ".join(clauses), params
