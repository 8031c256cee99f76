"""The promotion gate: ``champion`` goes only to a challenger that earned it on the holdout, in
the world a user would trade it in.

The challenger is the non-baseline family with the best walk-forward (cross-validated)
directional accuracy: the holdout plays no part in choosing it. It is promoted only when every
check passes, each on the holdout:

1. **edge**: its directional accuracy (bars whose return is exactly zero left out) beats always
   calling the holdout's majority direction: a one-sided binomial test against
   ``max(up share, down share)`` at ``alpha``;
2. **beats the best baseline** (the baseline with the best walk-forward accuracy): higher
   accuracy, and a one-sided Diebold-Mariano test of its direction errors against the
   baseline's at ``baseline_alpha``;
3. **beats buy-and-hold after costs**: the execution core's backtest of the holdout (the
   trading strategy on its predictions: next-open fills, fee, spread, slippage, impact, every
   risk limit) returns more than buying and holding the symbol at the same position size;
4. **beats every baseline after costs**: and more than each baseline traded the same way;
5. **positive after-cost Sharpe**;
6. **deflated Sharpe**: the Deflated Sharpe Ratio (Bailey & López de Prado) of its holdout
   backtest, counting every challenger ever tested on this holdout (the gate keeps the count,
   so trying family after family makes passing harder), is above ``dsr_threshold``;
7. **beats the champion** (when there is one) on the same holdout rows: higher accuracy and a
   higher after-cost return.

A refusal is a decision too: it is logged with each check that failed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Scored:
    """One model's holdout result, as the gate sees it."""

    family: str
    version: str | None
    directional_accuracy: float
    binomial_p: float
    dm_p: float | None = None  # vs the best baseline (None for a baseline)
    dm_statistic: float | None = None
    after_cost_return: float = math.nan  # the holdout backtest's total return
    sharpe: float = math.nan  # annualised, of the holdout backtest
    dsr: float | None = None  # deflated Sharpe ratio (challenger only)
    trials: int = 0  # challengers counted by the deflated Sharpe ratio


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class GateDecision:
    target: str
    challenger: Scored | None
    checks: list[Check] = field(default_factory=list)

    @property
    def promoted(self) -> bool:
        return (
            self.challenger is not None
            and bool(self.checks)
            and all(check.passed for check in self.checks)
        )

    @property
    def reasons(self) -> list[str]:
        if self.challenger is None:
            return ["no challenger: only baselines were trained"]
        return [check.detail for check in self.checks if not check.passed]

    def summary(self) -> str:
        if self.challenger is None:
            return f"{self.target}: no challenger (only baselines were trained)"
        who = f"{self.challenger.family} v{self.challenger.version}"
        if self.promoted:
            return f"{self.target}: {who} promoted to champion"
        return f"{self.target}: {who} refused: " + "; ".join(self.reasons)


def _pct(value: float) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:+.2%}"


def decide(
    target: str,
    challenger: Scored | None,
    best_baseline: Scored,
    champion: Scored | None,
    *,
    baselines: list[Scored],
    buy_and_hold_return: float,
    alpha: float,
    baseline_alpha: float = 0.05,
    dsr_threshold: float = 0.95,
    majority: float = 0.5,
) -> GateDecision:
    """Apply the checks to the challenger (chosen beforehand, on walk-forward results).
    ``majority``: the holdout's larger direction share, the binomial test's null."""
    if challenger is None:
        return GateDecision(target, None)
    acc = challenger.directional_accuracy
    ret = challenger.after_cost_return
    p = challenger.binomial_p
    checks = [
        Check(
            "edge",
            p < alpha,
            f"holdout directional accuracy {acc:.2%} vs {majority:.2%} for always calling the "
            f"majority direction: binomial p = {p:.3g} {'<' if p < alpha else '>='} alpha "
            f"{alpha:g}",
        ),
    ]
    beats = acc > best_baseline.directional_accuracy
    dm_ok = challenger.dm_p is not None and challenger.dm_p < baseline_alpha
    checks.append(
        Check(
            "beats best baseline",
            beats and dm_ok,
            f"vs {best_baseline.family}: accuracy {acc:.2%} vs "
            f"{best_baseline.directional_accuracy:.2%}, Diebold-Mariano p = "
            f"{challenger.dm_p if challenger.dm_p is not None else float('nan'):.3g} "
            f"(needs < {baseline_alpha:g})",
        )
    )
    checks.append(
        Check(
            "beats buy-and-hold after costs",
            ret > buy_and_hold_return,  # False for NaN
            f"after-cost holdout return {_pct(ret)} vs buy-and-hold {_pct(buy_and_hold_return)}",
        )
    )
    best = max(baselines, key=lambda b: _or(b.after_cost_return, -math.inf), default=None)
    if best is not None:
        checks.append(
            Check(
                "beats every baseline after costs",
                ret > best.after_cost_return,
                f"after-cost holdout return {_pct(ret)} vs the best baseline's, {best.family} "
                f"{_pct(best.after_cost_return)}",
            )
        )
    checks.append(
        Check(
            "positive after-cost Sharpe",
            challenger.sharpe > 0,
            f"after-cost holdout Sharpe {challenger.sharpe:.2f} (needs > 0)",
        )
    )
    dsr = challenger.dsr
    checks.append(
        Check(
            "deflated Sharpe",
            dsr is not None and dsr > dsr_threshold,
            f"deflated Sharpe ratio {dsr if dsr is not None else float('nan'):.3f} counting "
            f"{challenger.trials} challenger(s) tested on this holdout (needs > "
            f"{dsr_threshold:g})",
        )
    )
    if champion is not None:
        checks.append(
            Check(
                "beats champion",
                acc > champion.directional_accuracy and ret > champion.after_cost_return,
                f"vs champion {champion.family} v{champion.version} on the same holdout: "
                f"accuracy {acc:.2%} vs {champion.directional_accuracy:.2%}, after-cost return "
                f"{_pct(ret)} vs {_pct(champion.after_cost_return)}",
            )
        )
    return GateDecision(target, challenger, checks)


def _or(value: float, default: float) -> float:
    return default if value is None or math.isnan(value) else value
