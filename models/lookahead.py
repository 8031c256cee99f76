"""``cryptobot check-lookahead``: the features, the model's predictions and the strategy's
decisions of sampled bars, recomputed from only the data known at each bar's close, must equal
the full run's.

For each series (``--bars`` cuts, at least 50, evenly spread over its bars past the indicators'
warm-up and, when a model is checked, over the bars the model answers in the full run):

* **Features**: :mod:`cryptobot.lookahead` rebuilds every truncated series in one dbt run in a
  scratch warehouse and compares each cut's row with ``marts.fct_features``, column by column.
* **Predictions**: the full run is the backtest's: the model predicts the whole series at once
  (``Champion.predict(complete rows, n)``, as ``models.backtest.oos_predictions`` asks it). The
  truncated run is the trading flow's: the model predicts the cut bar alone from the truncated
  series' own rows (``read_feature_rows`` of the scratch warehouse, complete rows, then
  ``Champion.predict(rows, 1)``, as ``Trader._predict`` does). ``pred_return`` and ``prob_up``
  must agree within the feature tolerance. A model whose batch prediction of a bar used later
  rows (a sequence model reading past its window, a normalisation over the whole batch) fails.
* **Decisions**: the full run is the backtest's ``strategy_targets`` over the whole series with
  the full run's predictions joined; the truncated run is the trading flow's: the strategy on
  the truncated rows (price-only strategies), or on the cut's row with the truncated run's
  prediction (model strategies). The target weights must be identical (NaN, "no decision",
  equal to NaN). Price-only strategies (``sma_cross``, ``buy_and_hold``) are checked without a
  model.

The model is each symbol's ``champion`` unless ``--model`` names versions; a symbol without one
has its predictions (and, for a model strategy, its decisions) skipped with a note. The truncated
rows are all the rows known at the cut, a superset of the trading flow's read window: the check
is about information from after the cut, not about how much history a step reads.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from cryptobot.backtest.engine import strategy_targets
from cryptobot.config import Settings
from cryptobot.errors import BacktestError, ConfigError, ModelError
from cryptobot.lookahead import (
    MIN_BARS,
    Difference,
    Series,
    Tally,
    TruncatedFeatures,
    same_value,
    series_bars,
    spread,
    warmup_bars,
)
from cryptobot.timeframes import timeframe_seconds
from cryptobot.trading.bars import bars_from_rows
from cryptobot.trading.strategies import PREDICTION_COLUMNS, Strategy, strategy_from_settings
from cryptobot.warehouse.db import read_connection
from models.backtest import ModelChoice, resolve_models
from models.dataset import Target, configured_targets, read_feature_rows
from models.predictions import Champion, load_version

#: the model outputs compared (direction and confidence follow from prob_up)
PREDICTION_OUTPUTS = ("pred_return", "prob_up")
#: the name of the decision in a difference: the strategy's target weight
DECISION_COLUMN = "target_weight"


def _quiet(_: str) -> None:
    pass


@dataclass
class SymbolCheck:
    """What the check found for one series."""

    series: Series
    bars: int  # cuts checked
    features: Tally
    predictions: Tally
    decisions: Tally
    model: str | None = None  # the version checked, e.g. "@champion v3 xgboost"
    notes: list[str] = field(default_factory=list)
    is_simulated: bool = False

    @property
    def max_difference(self) -> float:
        return max(self.features.max_difference, self.predictions.max_difference)


@dataclass
class LookaheadReport:
    strategy: str
    checks: list[SymbolCheck]
    differences: list[Difference]  # empty when nothing looks ahead
    columns: list[str]  # the feature columns compared
    seconds: float = 0.0
    scratch_seconds: float = 0.0  # copying the truncated series and the dbt run

    @property
    def clean(self) -> bool:
        return not self.differences


@dataclass
class _Plan:
    """One series: its target, the model checked, and the full run's answers."""

    target: Target
    series: Series
    cuts: list[pd.Timestamp]
    champion: Champion | None
    full_predictions: pd.DataFrame | None  # ts + the pyfunc's outputs
    full_decisions: pd.Series | None  # target weight by bar (None: not checked)
    model: str | None
    notes: list[str]
    is_simulated: bool


def check_lookahead(
    settings: Settings,
    *,
    symbols: list[str] | None = None,
    timeframe: str | None = None,
    exchange: str | None = None,
    bars: int = MIN_BARS,
    model: str | None = None,
    strategy: str | None = None,
    scratch_root: Path | None = None,
    log: Callable[[str], None] = _quiet,
) -> LookaheadReport:
    """Run the check (see the module docstring); it only reads the warehouse and MLflow.

    ``model``: None (each symbol's champion), ``@ALIAS`` or comma-separated ``NAME``,
    ``NAME@ALIAS``, ``NAME/VERSION`` (then the named models' series are checked). Bad input
    raises ``ConfigError`` (``ModelError`` for an unknown model version,
    ``FeatureBuildError`` when the features are not built); a lookahead is not an error here,
    it is in the report.
    """
    started = time.perf_counter()
    if bars < MIN_BARS:
        raise ConfigError(
            f"--bars {bars} is too few: the check needs at least {MIN_BARS} bars per symbol"
        )
    chosen = strategy_from_settings(settings, strategy)  # as the trading flow builds it
    targets = configured_targets(settings, symbols, timeframe, None, exchange)
    choices, notes = _choose_models(settings, targets, model, chosen)
    if model is not None:
        targets = [choice.target for choice in choices.values()]
    warmup = warmup_bars(settings)

    # read everything first: a reader holding the warehouse open keeps writers waiting
    stored = {}
    with read_connection(settings.warehouse, timeout=settings.write_lock_timeout) as con:
        for target in targets:
            series = Series(target.exchange, target.symbol, target.timeframe)
            found = series_bars(settings, series, con=con)
            stored[series] = (target, found, read_feature_rows(settings, target, con=con))
    plans = [
        _plan(
            settings,
            target,
            series,
            found,
            rows,
            choices.get(target.symbol),
            chosen,
            bars,
            warmup,
            notes.get(target.symbol, []),
            log,
        )
        for series, (target, found, rows) in stored.items()
    ]

    cuts = {plan.series: plan.cuts for plan in plans}
    with TruncatedFeatures(settings, cuts, scratch_root=scratch_root, log=log) as scratch:
        features = scratch.compare()
        differences = list(features.differences)
        checks = []
        for plan in plans:
            check = SymbolCheck(
                series=plan.series,
                bars=len(plan.cuts),
                features=features.tallies[plan.series],
                predictions=Tally(skipped=None if plan.champion else "no model"),
                decisions=Tally(skipped=None if plan.full_decisions is not None else "no model"),
                model=plan.model,
                notes=plan.notes,
                is_simulated=plan.is_simulated,
            )
            log(f"{plan.series}: predictions and decisions at {len(plan.cuts)} cuts")
            for ts in plan.cuts:
                truncated_target = replace(
                    plan.target, symbol=scratch.pseudo_symbol(plan.series, ts)
                )
                rows = read_feature_rows(scratch.settings, truncated_target, con=scratch.connection)
                differences += _check_cut(plan, check, chosen, ts, rows)
            checks.append(check)
        scratch_seconds = scratch.build_seconds
    order = {"feature": 0, "prediction": 1, "decision": 2}
    differences.sort(key=lambda d: (d.series, d.ts, order.get(d.stage, 3), d.column))
    return LookaheadReport(
        strategy=chosen.name,
        checks=checks,
        differences=differences,
        columns=features.columns,
        seconds=time.perf_counter() - started,
        scratch_seconds=scratch_seconds,
    )


# -- the full run -------------------------------------------------------------------------------


def _choose_models(
    settings: Settings, targets: list[Target], spec: str | None, strategy: Strategy
) -> tuple[dict[str, ModelChoice], dict[str, list[str]]]:
    """The version checked per symbol, and a note per symbol without one."""
    if spec is not None:
        try:
            return resolve_models(settings, targets, spec), {}
        except BacktestError as exc:
            raise ModelError(str(exc)) from None
    choices, notes = {}, {}
    for target in targets:
        try:
            choices.update(resolve_models(settings, [target], None))
        except BacktestError:
            skipped = "predictions" + (" and decisions" if strategy.uses_model else "")
            notes[target.symbol] = [
                f"no champion for {target.name}: {skipped} not checked (train one with "
                "`cryptobot train`, or name a version with --model)"
            ]
    return choices, notes


def _plan(
    settings: Settings,
    target: Target,
    series: Series,
    found: pd.DataFrame,
    rows: pd.DataFrame,
    choice: ModelChoice | None,
    strategy: Strategy,
    bars: int,
    warmup: int,
    notes: list[str],
    log: Callable[[str], None],
) -> _Plan:
    """The cuts of one series and the full run's predictions and decisions there."""
    eligible = found.loc[found["bar_index"] >= warmup, "ts"]
    where = f"past the indicators' {warmup}-bar warm-up"
    champion = predictions = None
    if choice is not None:
        log(f"{series}: the full run's predictions of {choice.describe()}")
        champion = load_version(settings, choice.target, choice.version, choice.family)
        complete = rows.dropna(subset=champion.required).reset_index(drop=True)
        predictions = pd.DataFrame(columns=["ts", *PREDICTION_COLUMNS])
        if len(complete):
            output, predicted = champion.predict(complete, len(complete))
            predictions = output.reset_index(drop=True).assign(ts=predicted["ts"].to_numpy())
        eligible = eligible[eligible.isin(predictions["ts"])]
        where += f" where {choice.describe()} answers"
    if len(eligible) < bars:
        raise ConfigError(
            f"{series} has {len(eligible)} bars {where} ({len(found)} in all): the check "
            f"needs {bars} (--bars). Store more history (`cryptobot ingest`), then "
            "`cryptobot features`"
        )
    decisions = None
    if not strategy.uses_model or champion is not None:
        frame_bars = bars_from_rows(
            {series.symbol: rows}, [series.symbol], timeframe_seconds(series.timeframe)
        )
        answers = {series.symbol: predictions} if predictions is not None else None
        weights = strategy_targets(strategy, frame_bars, {series.symbol: rows}, answers)[:, 0]
        decisions = pd.Series(weights, index=pd.to_datetime(frame_bars.ts))
    return _Plan(
        target=target,
        series=series,
        cuts=spread(eligible, bars),
        champion=champion,
        full_predictions=None if predictions is None else predictions.set_index("ts"),
        full_decisions=decisions,
        model=_short(choice) if choice else None,
        notes=notes,
        is_simulated=bool(rows["is_simulated"].any()),
    )


def _short(choice: ModelChoice) -> str:
    return (f"@{choice.alias} " if choice.alias else "") + f"v{choice.version} {choice.family}"


# -- one cut ------------------------------------------------------------------------------------


def _check_cut(
    plan: _Plan, check: SymbolCheck, strategy: Strategy, ts: pd.Timestamp, rows: pd.DataFrame
) -> list[Difference]:
    """Compare the truncated run at bar ``ts`` (``rows``: the truncated series' feature rows)
    with the full run; tallies into ``check``, returns the differences."""
    found: list[Difference] = []
    answer = None
    if plan.champion is not None:
        champion = plan.champion
        complete = rows.dropna(subset=champion.required)
        if len(complete) and complete["ts"].iloc[-1] == ts:
            output, _ = champion.predict(complete, 1)
            if len(output):
                answer = output.iloc[-1]
        full = plan.full_predictions.loc[ts]
        equal, worst = True, 0.0
        for column in PREDICTION_OUTPUTS:
            truncated = math.nan if answer is None else answer[column]
            same, scaled = same_value(float(full[column]), float(truncated))
            worst = max(worst, scaled)
            if not same:
                equal = False
                found.append(
                    Difference(plan.series, ts, "prediction", column, full[column], truncated)
                )
        check.predictions.add(equal, worst)

    if plan.full_decisions is not None:
        if strategy.uses_model:
            weight = math.nan  # the trading flow decides nothing without the model's answer
            if answer is not None and len(rows):
                frame = rows.iloc[[-1]].assign(
                    **{c: [float(answer[c])] for c in PREDICTION_COLUMNS}
                )
                weight = float(strategy.populate_targets(frame)[-1])
        else:
            weight = float(strategy.populate_targets(rows)[-1]) if len(rows) else math.nan
        full_weight = float(plan.full_decisions.get(ts, math.nan))
        same = (np.isnan(full_weight) and np.isnan(weight)) or full_weight == weight
        check.decisions.add(same)
        if not same:
            found.append(
                Difference(plan.series, ts, "decision", DECISION_COLUMN, full_weight, weight)
            )
    return found
