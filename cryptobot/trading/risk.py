"""Pre-trade risk checks: every configured limit, evaluated for every decision, all recorded.

Each check gives a :class:`RiskCheck` (name = the ``RiskLimits`` field, the measured value, the
limit, passed or not, a sentence of detail); the audit row keeps all of them. An order that adds
risk (a larger absolute position, or a flip) is blocked when any check fails. An order that only
reduces risk (towards flat) is always let through: the limits stop new risk, they never trap the
account in a position.

``max_drawdown`` is the kill switch: while equity is that far below its peak nothing adds risk.
Peak equity never falls and nothing new is opened, so only the positions still held (which may
only shrink) can lift equity back above the line; in practice the switch stays tripped until a
human raises the limit (or starts a new account).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from cryptobot.config import RiskLimits
from cryptobot.trading.portfolio import DUST, EquityPoint


@dataclass(frozen=True)
class RiskCheck:
    name: str
    passed: bool
    value: float | None
    limit: float
    detail: str

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class OrderContext:
    """What the checks see for one decision (notional in quote currency, signed)."""

    symbol: str
    price: float
    current_amount: float  # held plus pending, base
    target_amount: float  # base
    exposures: dict[str, float]  # other symbols' signed notional, held plus pending
    correlations: dict[str, float]  # this symbol's return correlation with each other symbol
    volatility: float | None  # per-bar volatility of the newest bars (realized_vol_24)
    quote_volume: float | None  # quote volume over the liquidity window
    spread: float | None  # relative bid/ask spread, None when unknown
    spread_source: str = "unknown"


def adds_risk(current: float, target: float) -> bool:
    return abs(target) > abs(current) + DUST or (target * current < 0)


def pre_trade_checks(ctx: OrderContext, equity: EquityPoint, limits: RiskLimits) -> list[RiskCheck]:
    equity_value = equity.equity
    target_notional = ctx.target_amount * ctx.price
    checks = []

    share = abs(target_notional) / equity_value if equity_value > 0 else float("inf")
    checks.append(
        RiskCheck(
            "max_position_size",
            share <= limits.max_position_size + 1e-9,
            share,
            limits.max_position_size,
            f"{ctx.symbol} target {abs(target_notional):,.2f} = {share:.2%} of equity",
        )
    )
    checks.append(
        RiskCheck(
            "max_daily_loss",
            equity.daily_loss < limits.max_daily_loss,
            equity.daily_loss,
            limits.max_daily_loss,
            f"down {equity.daily_loss:.2%} since the day's first mark",
        )
    )
    checks.append(
        RiskCheck(
            "max_drawdown",
            equity.drawdown < limits.max_drawdown,
            equity.drawdown,
            limits.max_drawdown,
            f"{equity.drawdown:.2%} below peak {equity.peak_equity:,.2f}"
            + (" (kill switch: no new risk)" if equity.drawdown >= limits.max_drawdown else ""),
        )
    )

    same_way = {
        other: corr * (1 if target_notional > 0 else -1) * (1 if ctx.exposures[other] > 0 else -1)
        for other, corr in ctx.correlations.items()
        if abs(ctx.exposures.get(other, 0.0)) > DUST and abs(target_notional) > DUST
    }
    if same_way:
        worst = max(same_way, key=same_way.get)
        checks.append(
            RiskCheck(
                "correlation_limit",
                same_way[worst] <= limits.correlation_limit,
                same_way[worst],
                limits.correlation_limit,
                f"correlation with open {worst} position {same_way[worst]:+.2f}",
            )
        )
    else:
        checks.append(
            RiskCheck(
                "correlation_limit", True, None, limits.correlation_limit, "no other open position"
            )
        )

    gross = math.fsum(
        [abs(target_notional), *(abs(v) for s, v in ctx.exposures.items() if s != ctx.symbol)]
    )
    leverage = gross / equity_value if equity_value > 0 else float("inf")
    checks.append(
        RiskCheck(
            "leverage_limit",
            leverage <= limits.leverage_limit,
            leverage,
            limits.leverage_limit,
            f"gross exposure {gross:,.2f} = {leverage:.2f}x equity after the order",
        )
    )

    if ctx.volatility is None:
        checks.append(
            RiskCheck(
                "volatility_threshold",
                False,
                None,
                limits.volatility_threshold,
                "volatility unknown (indicator warm-up)",
            )
        )
    else:
        checks.append(
            RiskCheck(
                "volatility_threshold",
                ctx.volatility <= limits.volatility_threshold,
                ctx.volatility,
                limits.volatility_threshold,
                f"per-bar volatility {ctx.volatility:.2%}",
            )
        )

    volume = ctx.quote_volume
    checks.append(
        RiskCheck(
            "liquidity_minimum",
            volume is not None and volume >= limits.liquidity_minimum,
            volume,
            limits.liquidity_minimum,
            f"quote volume {volume:,.0f}" if volume is not None else "volume unknown",
        )
    )

    if ctx.spread is None:
        checks.append(
            RiskCheck(
                "spread_maximum", True, None, limits.spread_maximum, "spread unknown: not checked"
            )
        )
    else:
        checks.append(
            RiskCheck(
                "spread_maximum",
                ctx.spread <= limits.spread_maximum,
                ctx.spread,
                limits.spread_maximum,
                f"spread {ctx.spread:.4%} ({ctx.spread_source})",
            )
        )
    return checks
