"""The promotion gate's decision rules (models.gate), on hand-made holdout results."""

from __future__ import annotations

from models.gate import Scored, decide

BASELINE = Scored("always_up", "1", directional_accuracy=0.505, binomial_p=0.33)


def _challenger(acc=0.56, p=1e-4, dm_p=0.001) -> Scored:
    return Scored("xgboost", "4", directional_accuracy=acc, binomial_p=p, dm_p=dm_p)


def test_promotes_only_when_every_check_passes():
    decision = decide("t", _challenger(), BASELINE, None, alpha=0.01)
    assert decision.promoted and decision.reasons == []
    assert [c.name for c in decision.checks] == ["edge", "beats best baseline"]
    assert "promoted to champion" in decision.summary()


def test_refuses_without_a_significant_edge_and_says_why():
    decision = decide("t", _challenger(acc=0.52, p=0.03), BASELINE, None, alpha=0.01)
    assert not decision.promoted
    assert decision.reasons == [
        "holdout directional accuracy 52.00%: binomial p = 0.03 >= alpha 0.01"
    ]


def test_refuses_when_not_significantly_better_than_the_best_baseline():
    weak = decide("t", _challenger(dm_p=0.2), BASELINE, None, alpha=0.01)
    assert not weak.promoted and "Diebold-Mariano p = 0.2 (needs < 0.05)" in weak.reasons[0]
    worse = decide(
        "t", _challenger(acc=0.50, dm_p=0.001), BASELINE, None, alpha=0.01, baseline_alpha=0.05
    )
    assert not worse.promoted and "accuracy 50.00% vs 50.50%" in worse.reasons[-1]
    stricter = decide("t", _challenger(dm_p=0.02), BASELINE, None, alpha=0.01, baseline_alpha=0.01)
    assert not stricter.promoted


def test_must_beat_the_current_champion_strictly():
    champion = Scored("lstm", "2", directional_accuracy=0.56, binomial_p=1e-4)
    tie = decide("t", _challenger(acc=0.56), BASELINE, champion, alpha=0.01)
    assert not tie.promoted
    assert tie.reasons == ["vs champion lstm v2 on the same holdout: 56.00% vs 56.00%"]
    better = decide("t", _challenger(acc=0.57), BASELINE, champion, alpha=0.01)
    assert better.promoted and len(better.checks) == 3


def test_no_challenger_when_only_baselines_ran():
    decision = decide("t", None, BASELINE, None, alpha=0.01)
    assert not decision.promoted
    assert decision.reasons == ["no challenger: only baselines were trained"]
