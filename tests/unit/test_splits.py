"""Walk-forward splitter: exact layout, leakage invariants over many configurations, errors."""

from __future__ import annotations

import itertools
import json
import re

import pytest

from models.splits import Fold, WalkForwardPlan, walk_forward


def check_invariants(
    plan: WalkForwardPlan, n: int, folds: int, frac: float, embargo: int, min_train: int
) -> None:
    holdout = plan.holdout
    assert holdout.stop == n
    assert len(holdout) == round(n * frac) >= 1
    assert len(plan.folds) == folds
    assert [f.number for f in plan.folds] == list(range(1, folds + 1))
    hold = set(holdout)
    for fold in plan.folds:
        assert fold.train.step == fold.test.step == 1
        assert fold.train.start >= 0
        assert len(fold.train) >= min_train
        assert len(fold.test) >= 1
        # no overlap, embargo respected
        assert not set(fold.train) & set(fold.test)
        assert fold.test.start - fold.train.stop >= embargo
        # the holdout (and the embargo before it) is untouched
        assert not (set(fold.train) | set(fold.test)) & hold
        assert holdout.start - fold.test.stop >= embargo
    for earlier, later in itertools.pairwise(plan.folds):
        assert later.test.start >= earlier.test.stop  # forward, no overlap
        assert len(later.test) == len(earlier.test)
        assert later.train.stop > earlier.train.stop
    assert plan.final_train.start >= 0
    assert holdout.start - plan.final_train.stop >= embargo
    assert not set(plan.final_train) & hold
    assert len(plan.final_train) >= min_train
    if plan.window == "expanding":
        assert all(f.train.start == 0 for f in plan.folds)
        assert plan.final_train == range(0, holdout.start - embargo)
    else:
        sizes = {len(f.train) for f in plan.folds} | {len(plan.final_train)}
        assert len(sizes) == 1  # fixed window size
        assert plan.final_train.stop == holdout.start - embargo
    # the tests tile the development region after block 0, up to its end
    assert plan.folds[-1].test.stop == holdout.start - embargo


def test_exact_layout_expanding() -> None:
    plan = walk_forward(2000)  # 5 folds, 20% holdout, embargo 1, min_train 200
    # holdout = round(2000 * 0.2) = 400 rows: 1600..1999; dev region = [0, 1600 - 1) = 1599 rows
    # 1599 // 6 = 266 rows per block, block 0 = 1599 - 5 * 266 = 269 rows (0..268)
    assert plan.holdout == range(1600, 2000)
    assert plan.folds[0] == Fold(1, train=range(0, 268), test=range(269, 535))
    assert plan.folds[1] == Fold(2, train=range(0, 534), test=range(535, 801))
    assert plan.folds[4] == Fold(5, train=range(0, 1332), test=range(1333, 1599))
    assert plan.final_train == range(0, 1599)
    assert plan.embargo == 1 and plan.window == "expanding"


def test_exact_layout_rolling() -> None:
    plan = walk_forward(2000, window="rolling")
    # window = block 0 minus the embargo = 269 - 1 = 268 rows
    assert [f.train for f in plan.folds] == [
        range(0, 268),
        range(266, 534),
        range(532, 800),
        range(798, 1066),
        range(1064, 1332),
    ]
    assert plan.final_train == range(1331, 1599)
    assert plan.holdout == range(1600, 2000)


def test_zero_embargo_is_adjacent() -> None:
    plan = walk_forward(70, folds=2, holdout_fraction=0.1, embargo=0, min_train=10)
    # holdout 7 rows (63..69), dev = 63 rows, 3 blocks of 21
    assert plan.holdout == range(63, 70)
    assert plan.folds == (
        Fold(1, range(0, 21), range(21, 42)),
        Fold(2, range(0, 42), range(42, 63)),
    )
    assert plan.final_train == range(0, 63)


def test_many_configurations() -> None:
    tried = ok = 0
    for n, folds, frac, embargo, window, min_train in itertools.product(
        [1, 5, 30, 57, 100, 101, 333, 1000, 2503],
        [1, 2, 3, 5, 8],
        [0.05, 0.2, 0.33, 0.5, 0.85],
        [0, 1, 3, 24],
        ["expanding", "rolling"],
        [1, 20, 200],
    ):
        tried += 1
        try:
            plan = walk_forward(
                n,
                folds=folds,
                holdout_fraction=frac,
                embargo=embargo,
                window=window,
                min_train=min_train,
            )
        except ValueError as exc:
            needed = int(re.search(r"needs at least (\d+) rows", str(exc)).group(1))
            assert needed > n
            continue
        ok += 1
        check_invariants(plan, n, folds, frac, embargo, min_train)
    assert tried > ok > tried // 5  # the grid exercises both outcomes


@pytest.mark.parametrize(
    ("folds", "frac", "embargo", "min_train"),
    [(5, 0.2, 1, 200), (1, 0.5, 0, 1), (3, 0.1, 24, 50), (8, 0.3, 5, 10)],
)
def test_reported_minimum_is_the_guaranteed_minimum(folds, frac, embargo, min_train) -> None:
    with pytest.raises(ValueError, match="needs at least") as info:
        walk_forward(1, folds=folds, holdout_fraction=frac, embargo=embargo, min_train=min_train)
    needed = int(re.search(r"needs at least (\d+) rows", str(info.value)).group(1))
    kwargs = dict(folds=folds, holdout_fraction=frac, embargo=embargo, min_train=min_train)
    with pytest.raises(ValueError):
        walk_forward(needed - 1, **kwargs)
    for n in range(needed, needed + 5 * (folds + 1)):
        check_invariants(walk_forward(n, **kwargs), n, folds, frac, embargo, min_train)


def test_too_few_rows_message() -> None:
    # n = 1502: holdout round(300.4) = 300, dev = 1502 - 300 - 1 = 1201, blocks of 1201 // 6 = 200,
    # block 0 = 201, fold 1 trains on 201 - 1 = 200 rows = min_train. n = 1501: dev 1200, block 0
    # = 200, fold 1 trains on 199 rows.
    msg = (
        "walk-forward needs at least 1502 rows for 5 folds, a 20% holdout, embargo 1 and "
        "min_train 200; the series has 312 (fold 1 would train on 43 rows)"
    )
    with pytest.raises(ValueError, match=re.escape(msg)):
        walk_forward(312)
    with pytest.raises(ValueError, match="the series has 1501 .fold 1 would train on 199 rows"):
        walk_forward(1501)
    assert len(walk_forward(1502).folds[0].train) == 200
    with pytest.raises(ValueError, match="the series has 0 .the holdout would have 0 rows"):
        walk_forward(0)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"folds": 0}, "folds must be an integer >= 1, got 0"),
        ({"holdout_fraction": 0.0}, r"holdout_fraction must be in \(0, 0.9\), got 0.0"),
        ({"holdout_fraction": 0.9}, r"holdout_fraction must be in \(0, 0.9\), got 0.9"),
        ({"embargo": -1}, "embargo must be an integer >= 0"),
        ({"min_train": 0}, "min_train must be an integer >= 1"),
        ({"window": "sliding"}, "window must be 'expanding' or 'rolling', got 'sliding'"),
    ],
)
def test_argument_errors(kwargs, pattern) -> None:
    with pytest.raises(ValueError, match=pattern):
        walk_forward(5000, **kwargs)


def test_describe_is_json() -> None:
    plan = walk_forward(2000, window="rolling", embargo=3)
    rows = json.loads(json.dumps(plan.describe()))
    assert len(rows) == 6
    assert rows[0] == {
        "split": "fold",
        "fold": 1,
        "train_start": plan.folds[0].train.start,
        "train_stop": plan.folds[0].train.stop,
        "train_rows": len(plan.folds[0].train),
        "test_start": plan.folds[0].test.start,
        "test_stop": plan.folds[0].test.stop,
        "test_rows": len(plan.folds[0].test),
        "embargo": 3,
        "window": "rolling",
    }
    last = rows[-1]
    assert last["split"] == "holdout" and last["fold"] is None
    assert (last["train_start"], last["train_stop"]) == (1333, 1597)
    assert (last["test_start"], last["test_stop"], last["test_rows"]) == (1600, 2000, 400)
