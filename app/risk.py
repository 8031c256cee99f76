"""How much of each risk limit is in use: the account's latest mark and the latest checks."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from cryptobot.config import RiskLimits

#: use (value / limit) from which a limit shows as "near"
NEAR = 0.8

#: how each limit's value is shown
_FORMATS = {
    "max_position_size": "{:.2%}",
    "max_daily_loss": "{:.2%}",
    "max_drawdown": "{:.2%}",
    "leverage_limit": "{:.2f}x",
    "correlation_limit": "{:.2f}",
    "volatility_threshold": "{:.2%}",
    "liquidity_minimum": "{:,.0f}",
    "spread_maximum": "{:.3%}",
}
#: limits that are a floor (the value must stay above them)
FLOORS = {"liquidity_minimum"}


def _text(name: str, value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if name == "liquidity_minimum" and abs(value) < 1000:
        return f"{value:.4g}"
    return _FORMATS.get(name, "{:.4g}").format(value)


def _row(
    name: str,
    value: float,
    limit: float,
    source: str,
    *,
    checked: bool = False,
    failed: bool = False,
) -> dict:
    """A limit's row; a checked one (from a decision's risk check) is breached when the check
    failed, as the trading flow judged it, an account one when its use is over 100%."""
    if value is None or math.isnan(value) or not limit:
        use, status = math.nan, "no data"
    else:
        use = (limit / value if value else math.inf) if name in FLOORS else abs(value) / limit
        over = failed if checked else use > 1
        status = "breached" if over else ("near" if use >= NEAR else "ok")
    return {
        "limit_name": name,
        "value": value,
        "limit": limit,
        "use": use,
        "status": status,
        "source": source,
        "value_text": _text(name, value),
        "limit_text": _text(name, limit),
    }


def limit_use(
    state: dict[str, Any] | None, checks: pd.DataFrame, limits: RiskLimits
) -> pd.DataFrame:
    """One row per limit: its current value, the limit, use (value / limit; limit / value for a
    floor), status (ok, near, breached, no data) and where the value comes from.

    Account limits (position size, daily loss, drawdown, leverage) come from the latest equity
    mark and positions; market limits (correlation, volatility, liquidity, spread) from the
    checks of each market's latest decision, the worst market counting, against the limit the
    check recorded.
    """
    rows = []
    if state is not None:
        latest = state["latest"]
        equity = float(latest["equity"])
        positions = state["positions"]
        largest = float(positions["value"].abs().max()) if not positions.empty else 0.0
        day_start = float(latest["day_start_equity"]) or math.nan
        rows += [
            _row(
                "max_position_size",
                largest / equity if equity else math.nan,
                limits.max_position_size,
                "largest open position / equity",
            ),
            _row(
                "max_daily_loss",
                max(0.0, -float(latest["daily_pnl"])) / day_start,
                limits.max_daily_loss,
                "today's loss / equity at the day's start",
            ),
            _row(
                "max_drawdown",
                float(latest["drawdown"]),
                limits.max_drawdown,
                "equity below its peak",
            ),
            _row(
                "leverage_limit",
                float(latest["gross_exposure"]) / equity if equity else math.nan,
                limits.leverage_limit,
                "gross exposure / equity",
            ),
        ]
    else:
        rows += [
            _row(name, math.nan, getattr(limits, name), "no equity marks yet")
            for name in ("max_position_size", "max_daily_loss", "max_drawdown", "leverage_limit")
        ]
    for name in (
        "correlation_limit",
        "volatility_threshold",
        "liquidity_minimum",
        "spread_maximum",
    ):
        found = checks[checks["name"] == name] if not checks.empty else checks
        found = found.dropna(subset=["value"]) if not found.empty else found
        if found.empty:
            rows.append(_row(name, math.nan, getattr(limits, name), "no check recorded"))
            continue
        values = found["value"].abs() if name == "correlation_limit" else found["value"]
        worst = values.idxmin() if name in FLOORS else values.idxmax()
        limit = found.loc[worst, "limit"]
        limit = float(limit) if pd.notna(limit) else getattr(limits, name)
        rows.append(
            _row(
                name,
                float(values.loc[worst]),
                limit,
                f"latest check, worst market ({found.loc[worst, 'symbol']})",
                checked=True,
                failed=not bool(found.loc[worst, "passed"]),
            )
        )
    order = {name: index for index, name in enumerate(RiskLimits.model_fields)}
    return pd.DataFrame(sorted(rows, key=lambda row: order.get(row["limit_name"], len(order))))
