"""The promotion gate's decision rules (models.gate), on hand-made holdout results."""

from __future__ import annotations

import math

from models.gate import Scored, decide

BASELINE = Scored(
    "always_up", "1", directional_accuracy=0.505, binomial_p=0.33, after_cost_return=0.004
)
OTHER = Scored(
    "persistence", "2", directional_accuracy=0.49, binomial_p=0.8, after_cost_return=-0.03
)
ALL_CHECKS = [
    "edge",
    "beats best baseline",
    "beats buy-and-hold after costs",
    "beats every baseline after costs",
    "positive after-cost Sharpe",
    "deflated Sharpe",
]


def _challenger(acc=0.56, p=1e-4, dm_p=0.001, ret=0.02, sharpe=3.0, dsr=0.99) -> Scored:
    return Scored(
        "xgboost",
        "4",
        directional_accuracy=acc,
        binomial_p=p,
        dm_p=dm_p,
        after_cost_return=ret,
        sharpe=sharpe,
        dsr=dsr,
        trials=3,
    )


def _decide(challenger, champion=None, **kw):
    kw = {"baselines": [BASELINE, OTHER], "buy_and_hold_return": 0.01, "alpha": 0.01} | kw
    return decide("t", challenger, BASELINE, champion, **kw)


def test_promotes_only_when_every_check_passes():
    decision = _decide(_challenger())
    assert decision.promoted and decision.reasons == []
    assert [c.name for c in decision.checks] == ALL_CHECKS
    assert "promoted to champion" in decision.summary()


def test_refuses_without_an_edge_over_the_majority_direction_and_says_why():
    decision = _decide(_challenger(acc=0.52, p=0.03), majority=0.51)
    assert not decision.promoted
    assert decision.reasons == [
        "holdout directional accuracy 52.00% vs 51.00% for always calling the majority "
        "direction: binomial p = 0.03 >= alpha 0.01"
    ]


def test_refuses_when_not_significantly_better_than_the_best_baseline():
    weak = _decide(_challenger(dm_p=0.2))
    assert not weak.promoted and "Diebold-Mariano p = 0.2 (needs < 0.05)" in weak.reasons[0]
    worse = _decide(_challenger(acc=0.50, dm_p=0.001))
    assert not worse.promoted and "accuracy 50.00% vs 50.50%" in worse.reasons[-1]
    stricter = _decide(_challenger(dm_p=0.02), baseline_alpha=0.01)
    assert not stricter.promoted


def test_accurate_but_losing_after_costs_is_refused():
    """The failure that let money-losing models through: accuracy passes, trading loses."""
    losing = _decide(_challenger(ret=-0.116, sharpe=-2.1, dsr=0.0))
    assert not losing.promoted
    failed = [c.name for c in losing.checks if not c.passed]
    assert failed == [
        "beats buy-and-hold after costs",
        "beats every baseline after costs",
        "positive after-cost Sharpe",
        "deflated Sharpe",
    ]
    assert "after-cost holdout return -11.60% vs buy-and-hold +1.00%" in losing.reasons


def test_each_after_cost_condition_refuses_on_its_own():
    under_buy_and_hold = _decide(_challenger(ret=0.009))
    assert [c.name for c in under_buy_and_hold.checks if not c.passed] == [
        "beats buy-and-hold after costs"
    ]
    baseline_better = _decide(
        _challenger(ret=0.02),
        baselines=[
            BASELINE,
            OTHER.__class__("zero_return", "3", 0.5, 0.5, after_cost_return=0.025),
        ],
    )
    assert [c.name for c in baseline_better.checks if not c.passed] == [
        "beats every baseline after costs"
    ]
    assert "zero_return +2.50%" in baseline_better.reasons[0]
    flat = _decide(_challenger(sharpe=0.0))
    assert [c.name for c in flat.checks if not c.passed] == ["positive after-cost Sharpe"]
    deflated = _decide(_challenger(dsr=0.94))
    assert deflated.reasons == [
        "deflated Sharpe ratio 0.940 counting 3 challenger(s) tested on this holdout (needs > 0.95)"
    ]
    unknown = _decide(_challenger(ret=math.nan, dsr=None))
    assert not unknown.promoted  # nothing measured is nothing earned


def test_must_beat_the_current_champion_strictly():
    champion = Scored(
        "lstm", "2", directional_accuracy=0.56, binomial_p=1e-4, after_cost_return=0.015
    )
    tie = _decide(_challenger(acc=0.56), champion)
    assert not tie.promoted
    assert tie.reasons == [
        "vs champion lstm v2 on the same holdout: accuracy 56.00% vs 56.00%, after-cost "
        "return +2.00% vs +1.50%"
    ]
    earns_less = _decide(_challenger(acc=0.57, ret=0.014), champion)
    assert not earns_less.promoted
    better = _decide(_challenger(acc=0.57), champion)
    assert better.promoted and len(better.checks) == len(ALL_CHECKS) + 1


def test_no_challenger_when_only_baselines_ran():
    decision = _decide(None)
    assert not decision.promoted
    assert decision.reasons == ["no challenger: only baselines were trained"]
