"""The promotion gate: ``champion`` goes only to a challenger that earned it on the holdout.

The challenger is the non-baseline family with the best walk-forward (cross-validated)
directional accuracy: the holdout plays no part in choosing it, so testing it there once is an
honest test. It is promoted only when every check passes:

1. its holdout directional accuracy is significantly above 50% (one-sided binomial test at
   ``alpha``; one pre-chosen model, one test, so no multiple-testing correction is due here);
2. it beats the best baseline (the baseline with the best walk-forward accuracy) on the
   holdout: higher directional accuracy, and a one-sided Diebold-Mariano test of its direction
   errors (0/1 loss) against the baseline's significant at ``baseline_alpha`` (default 0.05).
   This test is weaker than the first: the two models agree on many bars, so only the bars where
   they differ carry information. Check 1 already bounds false promotions on a martingale by
   ``alpha``; ``baseline_alpha`` at the conventional 5% keeps a real edge from being refused
   merely because the holdout happened to drift the baseline's way;
3. it beats the current champion, scored on the same holdout rows (when there is one).

A refusal is a decision too: it is logged with the checks that failed.
"""

from __future__ import annotations

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


def decide(
    target: str,
    challenger: Scored | None,
    best_baseline: Scored,
    champion: Scored | None,
    *,
    alpha: float,
    baseline_alpha: float = 0.05,
) -> GateDecision:
    """Apply the checks to the challenger (chosen beforehand, on walk-forward results)."""
    if challenger is None:
        return GateDecision(target, None)
    level = alpha
    acc = challenger.directional_accuracy
    checks = [
        Check(
            "edge",
            challenger.binomial_p < level,
            f"holdout directional accuracy {acc:.2%}: binomial p = {challenger.binomial_p:.3g} "
            f"{'<' if challenger.binomial_p < level else '>='} alpha {level:g}",
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
    if champion is not None:
        checks.append(
            Check(
                "beats champion",
                acc > champion.directional_accuracy,
                f"vs champion {champion.family} v{champion.version} on the same holdout: "
                f"{acc:.2%} vs {champion.directional_accuracy:.2%}",
            )
        )
    return GateDecision(target, challenger, checks)
