"""Pre-trade risk checks as the audit trail records them: every limit, for every decision.

The checks themselves are computed in the execution core (:func:`cryptobot.trading.core.
risk_checks`, one implementation for the trading flow and the backtest); this module turns the
core's values into :class:`RiskCheck` records (name = the ``RiskLimits`` field, the measured
value, the limit, passed or not, a sentence of detail). An order that adds risk (a larger
absolute position, or a flip) is blocked when any check fails. An order that only reduces risk
(towards flat) is always let through: the limits stop new risk, they never trap the account in a
position.

``max_drawdown`` is the kill switch: while equity is that far below its peak nothing adds risk.
Peak equity never falls and nothing new is opened, so only the positions still held (which may
only shrink) can lift equity back above the line; in practice the switch stays tripped until a
human raises the limit (or starts a new account).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from cryptobot.config import RiskLimits
from cryptobot.trading import core
from cryptobot.trading.portfolio import EquityPoint


@dataclass(frozen=True)
class RiskCheck:
    name: str
    passed: bool
    value: float | None
    limit: float
    detail: str

    def as_dict(self) -> dict:
        return asdict(self)


def describe_checks(
    symbol: str,
    checks: np.ndarray,
    symbols: list[str],
    equity: EquityPoint,
    limits: RiskLimits,
    price: float,
    wanted: float,
    spread_source: str,
) -> list[RiskCheck]:
    """The core's check values for one decision (``checks[i] = (value, passed, other)`` in
    ``core.CHECK_NAMES`` order) as audit records with a sentence each."""

    def value(i: int) -> float | None:
        v = float(checks[i, core.VALUE])
        return None if math.isnan(v) else v

    if np.isnan(checks[:, core.PASSED]).all():
        return []  # not run: the decision added no risk (e.g. a held buy-and-hold position)

    target_notional = abs(wanted * price)
    details = []
    share = value(0)
    details.append(f"{symbol} target {target_notional:,.2f} = {share:.2%} of equity")
    details.append(f"down {equity.daily_loss:.2%} since the day's first mark")
    details.append(
        f"{equity.drawdown:.2%} below peak {equity.peak_equity:,.2f}"
        + (" (kill switch: no new risk)" if equity.drawdown >= limits.max_drawdown else "")
    )
    corr, other = (
        value(3),
        int(checks[3, core.OTHER]) if not math.isnan(checks[3, core.OTHER]) else -1,
    )
    details.append(
        f"correlation with open {symbols[other]} position {corr:+.2f}"
        if corr is not None and other >= 0
        else "no other open position"
    )
    leverage = value(4)
    details.append(
        f"gross exposure {leverage * equity.equity:,.2f} = {leverage:.2f}x equity after the order"
        if leverage is not None and math.isfinite(leverage)
        else "equity is not positive"
    )
    vol = value(5)
    details.append(
        "volatility unknown (indicator warm-up)" if vol is None else f"per-bar volatility {vol:.2%}"
    )
    volume = value(6)
    details.append("volume unknown" if volume is None else f"quote volume {volume:,.0f}")
    spread = value(7)
    details.append(
        "spread unknown: not checked"
        if spread is None
        else f"spread {spread:.4%} ({spread_source})"
    )
    return [
        RiskCheck(
            name,
            bool(checks[i, core.PASSED] == 1.0),
            value(i),
            float(getattr(limits, name)),
            details[i],
        )
        for i, name in enumerate(core.CHECK_NAMES)
    ]
