"""Walk-forward fold splitter over the row positions ``0..n-1`` of one time series.

The series must be sorted by time, one row per bar that survived the feature pipeline. Layout::

    |<-------------------- development region -------------------->|<-emb->|<-- holdout -->|
    | block 0 | block 1 | block 2 | ... | block k                   |       |               |

* ``holdout`` is the last ``round(n_rows * holdout_fraction)`` rows. Only the final model, trained
  on ``final_train``, is ever scored on it.
* The development region is ``[0, holdout.start - embargo)``. It is cut into ``folds + 1``
  contiguous blocks of equal size; the remainder rows go to block 0.
* Fold ``i`` (1..folds) tests on block ``i`` and trains on the rows before
  ``block_i.start - embargo``: from row 0 (``window="expanding"``) or a fixed-size window ending
  there (``window="rolling"``).
* ``final_train`` is the whole development region (rolling: its last window).

Rolling window size: fold 1 can only train on block 0 minus the embargo, so every rolling train
window (each fold's and ``final_train``) has exactly ``len(block 0) - embargo`` rows. This keeps the
window size fixed; with ``embargo=0`` it is the size of block 0.

Why an embargo counted in rows is enough: the label at row ``t`` uses returns up to
``t + horizon`` bars, so a training row closer than ``horizon`` bars before the first test row has
a label that overlaps the test period (leakage). Rows are a subset of bars (bars dropped by the
quality gate or feature warm-up leave gaps, never extra rows), so a gap of ``embargo`` rows spans
at least ``embargo`` bars of time. The caller therefore sets ``embargo >= horizon`` (in bars) and
every train/test boundary, and the final-train/holdout boundary, is leak-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Fold", "WalkForwardPlan", "walk_forward"]

Window = Literal["expanding", "rolling"]


@dataclass(frozen=True)
class Fold:
    """One walk-forward fold: train on ``train`` rows, score on ``test`` rows."""

    number: int  # 1-based
    train: range
    test: range


@dataclass(frozen=True)
class WalkForwardPlan:
    """All folds, the final train range and the untouched holdout."""

    folds: tuple[Fold, ...]
    final_train: range
    holdout: range
    embargo: int
    window: str

    def describe(self) -> list[dict]:
        """One JSON-serialisable row per fold plus one for final_train/holdout.

        ``*_start`` / ``*_stop`` are row positions; ``stop`` is exclusive, like Python ranges.
        """
        rows = [_describe("fold", f.number, f.train, f.test, self) for f in self.folds]
        rows.append(_describe("holdout", None, self.final_train, self.holdout, self))
        return rows


def _describe(split: str, number: int | None, train: range, test: range, plan) -> dict:
    return {
        "split": split,
        "fold": number,
        "train_start": train.start,
        "train_stop": train.stop,
        "train_rows": len(train),
        "test_start": test.start,
        "test_stop": test.stop,
        "test_rows": len(test),
        "embargo": plan.embargo,
        "window": plan.window,
    }


def _layout(n_rows: int, folds: int, holdout_fraction: float, embargo: int) -> tuple[int, int, int]:
    """(holdout rows, block-0 size, size of blocks 1..folds) for a series of n_rows."""
    n_holdout = round(n_rows * holdout_fraction)
    dev_end = max(n_rows - n_holdout - embargo, 0)
    block = dev_end // (folds + 1)
    block0 = dev_end - folds * block
    return n_holdout, block0, block


def _problem(n_rows: int, folds: int, holdout_fraction: float, embargo: int, min_train: int):
    """Why a series of n_rows cannot be split, or None if it can."""
    n_holdout, block0, block = _layout(n_rows, folds, holdout_fraction, embargo)
    if n_holdout < 1:
        return f"the holdout would have {n_holdout} rows"
    if block < 1:
        return f"each of the {folds} test blocks would have {block} rows"
    if block0 - embargo < min_train:
        return f"fold 1 would train on {block0 - embargo} rows"
    return None


def _rows_needed(folds: int, holdout_fraction: float, embargo: int, min_train: int) -> int:
    """Smallest N such that every series of N or more rows can be split.

    Feasibility is not monotone in n: the remainder rows that enlarge block 0 vanish when the
    development region reaches a multiple of ``folds + 1``. So the smallest *guaranteed* length is
    reported, not merely the smallest length that happens to work.
    """
    per_block = min_train + embargo

    def safe(n: int) -> bool:  # monotone in n: every block (block 0 too) is big enough
        n_holdout, _, block = _layout(n, folds, holdout_fraction, embargo)
        return n_holdout >= 1 and block >= per_block

    hi = 1
    while not safe(hi):
        hi *= 2
    lo = hi // 2  # not safe (or 0)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if safe(mid) else (mid, hi)
    # Every n >= hi works; walk down over the lengths just below that also work.
    while hi > 0 and _problem(hi - 1, folds, holdout_fraction, embargo, min_train) is None:
        hi -= 1
    return hi


def walk_forward(
    n_rows: int,
    *,
    folds: int = 5,
    holdout_fraction: float = 0.2,
    embargo: int = 1,
    window: Window = "expanding",
    min_train: int = 200,
) -> WalkForwardPlan:
    """Plan walk-forward folds over rows ``0..n_rows-1`` (see the module docstring for the layout).

    Guarantees: every train range ends at least ``embargo`` rows before its test range starts (and
    ``final_train`` at least ``embargo`` rows before the holdout); test blocks of successive folds
    do not overlap and move forward; no fold's train or test range touches the holdout; every train
    range has at least ``min_train`` rows and every test block at least one row.

    ``embargo`` is in rows and must be at least the label horizon in bars (see module docstring).
    """
    if isinstance(n_rows, bool) or not isinstance(n_rows, int) or n_rows < 0:
        raise ValueError(f"n_rows must be a non-negative integer, got {n_rows!r}")
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 1:
        raise ValueError(f"folds must be an integer >= 1, got {folds!r}")
    if not 0 < holdout_fraction < 0.9:
        raise ValueError(f"holdout_fraction must be in (0, 0.9), got {holdout_fraction!r}")
    if isinstance(embargo, bool) or not isinstance(embargo, int) or embargo < 0:
        raise ValueError(f"embargo must be an integer >= 0 (rows), got {embargo!r}")
    if isinstance(min_train, bool) or not isinstance(min_train, int) or min_train < 1:
        raise ValueError(f"min_train must be an integer >= 1, got {min_train!r}")
    if window not in ("expanding", "rolling"):
        raise ValueError(f"window must be 'expanding' or 'rolling', got {window!r}")

    problem = _problem(n_rows, folds, holdout_fraction, embargo, min_train)
    if problem is not None:
        needed = _rows_needed(folds, holdout_fraction, embargo, min_train)
        raise ValueError(
            f"walk-forward needs at least {needed} rows for {folds} folds, "
            f"a {holdout_fraction * 100:g}% holdout, embargo {embargo} and min_train {min_train}; "
            f"the series has {n_rows} ({problem})"
        )

    n_holdout, block0, block = _layout(n_rows, folds, holdout_fraction, embargo)
    holdout = range(n_rows - n_holdout, n_rows)
    dev_end = holdout.start - embargo
    width = block0 - embargo  # rolling window size (= fold 1's train size)

    def train_before(stop: int) -> range:
        return range(0, stop) if window == "expanding" else range(stop - width, stop)

    plan_folds = []
    for i in range(1, folds + 1):
        start = block0 + (i - 1) * block
        plan_folds.append(
            Fold(number=i, train=train_before(start - embargo), test=range(start, start + block))
        )
    return WalkForwardPlan(
        folds=tuple(plan_folds),
        final_train=train_before(dev_end),
        holdout=holdout,
        embargo=embargo,
        window=window,
    )
