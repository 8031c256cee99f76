"""Backtests of registered models: each bar's out-of-sample prediction, the comparison legs, and
the MLflow record. The engine itself is the trading flow's execution core
(:mod:`cryptobot.backtest.engine`); this module gives it predictions no model saw the answer to.

**Out of sample, bar by bar.** A version's training run logged the walk-forward folds' test
predictions (``cv_predictions.parquet``: each fold's model on the block after its training
window and embargo) and its holdout start. A backtest uses, for each bar:

* a fold's stored prediction where the bar was in that fold's test block;
* from the holdout's first bar on, the version's own model (trained on the rows before the
  holdout and its embargo): on the holdout and on every bar stored since training. It predicts
  each bar from the rows known then, as ``cryptobot trade`` does;
* nothing before the first fold's test block (the rows every model trained on): a window that
  reaches there is refused, naming the covered window, unless ``allow_in_sample``, which lets
  the version's model predict those bars too and labels the run in-sample everywhere.

**Comparison legs**, through the same engine, window, costs and limits: buy-and-hold of the
same symbols (the ``buy_and_hold`` strategy: the full allowed size from the first bar the risk
checks allow) and each baseline family of the same training (same data fingerprint) traded by
the same strategy.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cryptobot.backtest.engine import (
    BacktestResult,
    Costs,
    check_capital,
    history_bars,
    periods_per_year,
    run_backtest,
)
from cryptobot.backtest.montecarlo import MonteCarloResult, monte_carlo
from cryptobot.config import MarketOverride, Settings
from cryptobot.errors import BacktestError, ConfigError
from cryptobot.timeframes import timeframe_seconds
from cryptobot.trading.strategies import Strategy, strategy_from_settings
from models.dataset import Target, configured_targets, read_feature_rows
from models.predictions import load_version
from models.tracking import CHAMPION, configure, forecast_output

BASELINE_FAMILIES = ("persistence", "always_up", "zero_return")


def _quiet(_: str) -> None:
    pass


class Progress:
    """Progress lines with a bar: ``[######......] 5/11 ETH/USDT: predictions``, one per step
    (they show in the terminal and in the Prefect UI's logs)."""

    def __init__(self, total: int, log: Callable[[str], None], width: int = 20) -> None:
        self.total, self.log, self.width, self.done = max(total, 1), log, width, 0

    def __call__(self, text: str) -> None:
        self.done = min(self.done + 1, self.total)
        filled = round(self.width * self.done / self.total)
        self.log(f"[{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total} {text}")


@dataclass(frozen=True)
class ModelChoice:
    """One registered model version a backtest trades."""

    target: Target
    version: str
    family: str
    run_id: str | None
    fingerprint: str | None
    alias: str | None = None

    @property
    def name(self) -> str:
        return self.target.name

    def describe(self) -> str:
        via = f"@{self.alias} = " if self.alias else ""
        return f"{self.name} {via}v{self.version} ({self.family})"


@dataclass
class BacktestRun:
    """A backtest and what it is judged beside."""

    main: BacktestResult
    legs: list[BacktestResult]
    choices: dict[str, ModelChoice] = field(default_factory=dict)
    monte_carlo: MonteCarloResult | None = None
    new_runs: int = 0
    mlflow_run_ids: list[str] = field(default_factory=list)
    seconds: float = 0.0  # end to end


# -- which model ---------------------------------------------------------------------------------


def resolve_models(
    settings: Settings,
    targets: list[Target],
    spec: str | None,
    *,
    log: Callable[[str], None] = _quiet,
) -> dict[str, ModelChoice]:
    """The version to trade per symbol. ``spec``: None (each target's champion), ``@ALIAS``
    (that alias of each target), or comma-separated ``NAME``, ``NAME@ALIAS``, ``NAME/VERSION``
    (registered model names, e.g. ``simulator.BTC-USDT.1h.h1/3``)."""
    from mlflow.exceptions import MlflowException

    client = configure(settings)
    wanted: dict[str, tuple[str | None, str | None]] = {}  # target name -> (alias, version)
    if spec is None or spec.strip().startswith("@"):
        alias = (spec or "").strip().lstrip("@") or CHAMPION
        wanted = {t.name: (alias, None) for t in targets}
    else:
        by_name = {t.name: t for t in targets}
        for item in (part.strip() for part in spec.split(",") if part.strip()):
            name, alias, version = item, CHAMPION, None
            if "/" in item:
                name, version = item.split("/", 1)
                alias = None
            elif "@" in item:
                name, alias = item.split("@", 1)
            try:
                target = Target.from_name(name)
            except ValueError as exc:
                raise BacktestError(f"--model {item!r}: {exc}") from None
            by_name.setdefault(name, target)
            wanted[name] = (alias, version)
        targets = [by_name[name] for name in wanted]
    choices = {}
    for target in targets:
        alias, version = wanted[target.name]
        try:
            found = (
                client.get_model_version(target.name, version)
                if version
                else client.get_model_version_by_alias(target.name, alias)
            )
        except MlflowException:
            if spec is None and alias == CHAMPION:  # the default: trade the symbols that have one
                log(f"{target.symbol}: no champion ({target.name}); left out of the backtest")
                continue
            what = f"no version {version}" if version else f"no version with the alias {alias!r}"
            raise BacktestError(
                f"{target.name} has {what}: see `cryptobot models {target.name}`"
                + ("; train and promote one first (`cryptobot train`)" if not version else "")
            ) from None
        choices[target.symbol] = ModelChoice(
            target=target,
            version=str(found.version),
            family=found.tags.get("family", "?"),
            run_id=found.run_id or found.tags.get("run_id"),
            fingerprint=found.tags.get("data.fingerprint"),
            alias=alias if not version else None,
        )
    if not choices:
        raise BacktestError(
            "no symbol has a champion to backtest ("
            + ", ".join(t.name for t in targets)
            + "): run `cryptobot train`, promote a version (`cryptobot promote`), or pass "
            "--model NAME/VERSION"
        )
    return choices


def baseline_choices(settings: Settings, choice: ModelChoice) -> dict[str, ModelChoice]:
    """The baselines trained with ``choice`` (same data fingerprint): family -> newest version."""
    client = configure(settings)
    found: dict[str, ModelChoice] = {}
    for version in client.search_model_versions(f"name='{choice.name}'"):
        family = version.tags.get("family")
        if (
            family in BASELINE_FAMILIES
            and version.tags.get("data.fingerprint") == choice.fingerprint
            and (family not in found or int(version.version) > int(found[family].version))
        ):
            found[family] = ModelChoice(
                choice.target,
                str(version.version),
                family,
                version.run_id or version.tags.get("run_id"),
                choice.fingerprint,
            )
    return found


# -- each bar's out-of-sample prediction --------------------------------------------------------


@dataclass
class Predictions:
    frame: pd.DataFrame  # ts, pred_return, prob_up, direction, confidence, source
    covered_from: pd.Timestamp  # the first bar with an out-of-sample prediction
    holdout_start: pd.Timestamp
    in_sample_bars: int = 0

    def source(self, start: pd.Timestamp, end: pd.Timestamp) -> dict[str, Any]:
        inside = self.frame[(self.frame["ts"] >= start) & (self.frame["ts"] <= end)]
        counts = inside["source"].value_counts().to_dict()
        return {
            "covered_from": str(self.covered_from),
            "holdout_start": str(self.holdout_start),
            "bars": {k: int(v) for k, v in counts.items()},
        }


def _run_artifact(client, run_id: str, name: str) -> pd.DataFrame | None:
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(run_id, name, tmp)
        except Exception:  # noqa: BLE001 - an older run without it
            return None
        return pd.read_parquet(path)


def oos_predictions(
    settings: Settings,
    choice: ModelChoice,
    rows: pd.DataFrame,
    *,
    allow_in_sample: bool = False,
) -> Predictions:
    """Each bar's prediction of ``choice`` that its model made without having seen the bar's
    outcome (see the module docstring), from ``rows`` (the symbol's feature rows)."""
    client = configure(settings)
    if choice.run_id is None:
        raise BacktestError(f"{choice.describe()} has no training run to read its predictions from")
    run = client.get_run(choice.run_id)
    holdout_start = pd.Timestamp(run.data.params.get("holdout_start"))
    folds = _run_artifact(client, choice.run_id, "cv_predictions.parquet")
    if folds is None or pd.isna(holdout_start):
        raise BacktestError(
            f"{choice.describe()}: its training run {choice.run_id} has no walk-forward "
            "predictions to backtest with; retrain it (`cryptobot train --retrain`)"
        )
    folds = forecast_output(folds.set_index("ts")).reset_index()
    folds["source"] = "walk-forward fold"
    covered_from = pd.Timestamp(folds["ts"].min()) if len(folds) else holdout_start

    champion = load_version(settings, choice.target, choice.version, choice.family)
    complete = rows.dropna(subset=champion.required).reset_index(drop=True)
    fresh_from = holdout_start if not allow_in_sample else complete["ts"].min()
    ask = np.flatnonzero(complete["ts"].to_numpy() >= np.datetime64(fresh_from))
    parts = [folds[["ts", "pred_return", "prob_up", "direction", "confidence", "source"]]]
    in_sample = 0
    if len(ask):
        output, predicted = champion.predict(complete.iloc[: ask[-1] + 1], len(ask))
        fresh = output.reset_index(drop=True).assign(ts=predicted["ts"].to_numpy())
        fresh["source"] = np.where(
            fresh["ts"] >= holdout_start, f"model v{choice.version}", "in-sample"
        )
        if allow_in_sample:  # in-sample only where no fold predicted the bar
            fresh = fresh[(fresh["source"] != "in-sample") | ~fresh["ts"].isin(folds["ts"])]
        in_sample = int((fresh["source"] == "in-sample").sum())
        parts = [parts[0][parts[0]["ts"] < holdout_start], fresh]
    frame = pd.concat(parts, ignore_index=True).sort_values("ts").reset_index(drop=True)
    return Predictions(frame, covered_from, holdout_start, in_sample)


def in_sample_refusal(covered: dict[str, pd.Timestamp], asked_from: pd.Timestamp, what: str) -> str:
    """The in-sample guard's message, for a backtest's run and a trading replay alike:
    ``covered`` maps each model (described) to its first out-of-sample bar."""
    first = max(covered.values())
    return (
        f"no out-of-sample prediction before {first:%Y-%m-%d %H:%M} for "
        + ", ".join(f"{name} (covered from {ts:%Y-%m-%d %H:%M})" for name, ts in covered.items())
        + f"; asked from {pd.Timestamp(asked_from):%Y-%m-%d %H:%M}. Start at or after "
        f"{first:%Y-%m-%d %H:%M}, or pass --allow-in-sample to run on predictions of bars the "
        f"models trained on (the {what} is then labelled in-sample)"
    )


# -- the run ------------------------------------------------------------------------------------


def rows_in_window(
    settings: Settings,
    full: dict[str, pd.DataFrame],
    strategy: Strategy,
    timeframe: str,
    start: datetime | None,
    end: datetime | None,
) -> dict[str, pd.DataFrame]:
    """Each symbol's feature rows from far enough before ``start`` for the risk checks'
    windows and the strategy's warm-up, to ``end``."""
    before = pd.Timedelta(
        seconds=timeframe_seconds(timeframe) * (history_bars(settings, strategy, timeframe) + 1)
    )
    rows = {}
    for symbol, frame in full.items():
        if start is not None:
            frame = frame[frame["ts"] >= pd.Timestamp(start) - before]
        if end is not None:
            frame = frame[frame["ts"] < pd.Timestamp(end)]
        rows[symbol] = frame.reset_index(drop=True)
    return rows


def with_fee(settings: Settings, exchange: str, symbols: list[str], fee: float) -> Settings:
    """``settings`` whose market overrides give every symbol the taker fee ``fee``."""
    markets = dict(settings.markets)
    for symbol in symbols:
        key = f"{exchange}:{symbol}"
        base = markets.get(key) or MarketOverride()
        markets[key] = base.model_copy(update={"taker_fee": fee})
    return settings.model_copy(update={"markets": markets})


def check_window(start: datetime | None, end: datetime | None) -> None:
    if start is not None and end is not None and pd.Timestamp(start) >= pd.Timestamp(end):
        raise BacktestError(f"--start {start} is not before --end {end}: nothing to replay")


def run_model_backtest(
    settings: Settings,
    *,
    symbols: list[str] | None = None,
    timeframe: str | None = None,
    exchange: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    strategy: str | None = None,
    model: str | None = None,
    capital: float | None = None,
    costs: dict[str, float | None] | None = None,
    allow_in_sample: bool = False,
    baselines: bool = True,
    monte_carlo_paths: int = 0,
    seed: int = 0,
    log: Callable[[str], None] = _quiet,
) -> BacktestRun:
    """Everything ``cryptobot backtest`` computes; nothing is stored (the flow records it with
    ``log_to_mlflow`` and ``store_backtests``)."""
    started = time.perf_counter()
    check_window(start, end)
    costs_used = Costs.from_settings(settings, **(costs or {}))
    # the strategy weighs its forecasts against the costs this backtest pays
    settings = settings.model_copy(
        update={"trading": settings.trading.model_copy(update=asdict(costs_used))}
    )
    try:
        chosen = strategy_from_settings(settings, strategy)
    except ConfigError as exc:
        raise BacktestError(str(exc)) from None
    if capital is not None:  # before any work
        check_capital(capital)
    targets = configured_targets(settings, symbols, timeframe, None, exchange)
    choices: dict[str, ModelChoice] = {}
    if chosen.uses_model:
        choices = resolve_models(settings, targets, model, log=log)
        targets = [c.target for c in choices.values()]
    elif model is not None:
        raise BacktestError(f"strategy {chosen.name!r} trades on prices alone: drop --model")
    exchange_, timeframe_ = targets[0].exchange, targets[0].timeframe
    if {(t.exchange, t.timeframe) for t in targets} != {(exchange_, timeframe_)}:
        raise BacktestError("one backtest trades one exchange and one timeframe")
    symbols_ = [t.symbol for t in targets]
    if (costs or {}).get("fee") is not None:  # an explicit fee wins over the markets' own
        settings = with_fee(settings, exchange_, symbols_, costs_used.fee)
    steps = Progress(
        2  # the bars; the strategy's backtest
        + 1  # buy-and-hold
        + (len(choices) if chosen.uses_model else 0)  # each symbol's predictions
        # each baseline's predictions per symbol, and its backtest
        + ((len(choices) + 1) * len(BASELINE_FAMILIES) if baselines and chosen.uses_model else 0)
        + (1 if monte_carlo_paths else 0),
        log,
    )
    steps(f"reading the bars of {', '.join(symbols_)} ({exchange_} {timeframe_})")
    full = {t.symbol: read_feature_rows(settings, t) for t in targets}
    empty = [
        s
        for s, r in rows_in_window(settings, full, chosen, timeframe_, start, end).items()
        if r.empty
    ]
    if empty:
        raise BacktestError(
            f"no {exchange_} {timeframe_} bars for {', '.join(empty)}"
            + (f" from {start:%Y-%m-%d %H:%M}" if start else "")
            + (f" up to {end:%Y-%m-%d %H:%M}" if end else "")
            + ": see `cryptobot status` for what is stored"
        )

    predictions: dict[str, Predictions] = {}
    if chosen.uses_model:
        for symbol, choice in choices.items():
            steps(f"{symbol}: out-of-sample predictions of {choice.describe()}")
            predictions[symbol] = oos_predictions(
                settings, choice, full[symbol], allow_in_sample=allow_in_sample
            )
        covered = max(p.covered_from for p in predictions.values())
        first_asked = pd.Timestamp(start) if start is not None else None
        if first_asked is not None and first_asked < covered and not allow_in_sample:
            raise BacktestError(
                in_sample_refusal(
                    {c.describe(): predictions[s].covered_from for s, c in choices.items()},
                    first_asked,
                    "run",
                )
            )
        if start is None and not allow_in_sample:
            start = covered.to_pydatetime()  # the decision at that bar's close
        elif start is None:
            start = min(p.frame["ts"].min() for p in predictions.values()).to_pydatetime()
    window = {"start": start, "end": end}
    rows = rows_in_window(settings, full, chosen, timeframe_, start, end)
    answers = {s: p.frame for s, p in predictions.items()}
    in_sample = any(p.in_sample_bars for p in predictions.values())
    models = {s: f"{c.name}/{c.version}" for s, c in choices.items()}
    sources = {
        s: p.source(pd.Timestamp(start), pd.Timestamp(end or "2262-01-01"))
        for s, p in predictions.items()
    }
    steps(f"backtesting {chosen.name} on {len(symbols_)} symbol(s)")
    main = run_backtest(
        settings,
        exchange=exchange_,
        timeframe=timeframe_,
        symbols=symbols_,
        strategy=chosen,
        rows=rows,
        predictions=answers,
        capital=capital,
        costs=costs_used,
        models=models,
        prediction_source=sources,
        in_sample=in_sample,
        **window,
    )
    if chosen.uses_model:  # the calls behind the trades, scored on the same decision bars
        hits = [
            directional_accuracy(predictions[s].frame, full[s], main.start, main.end)
            for s in choices
        ]
        counted = sum(n for _, n in hits)
        main.metrics["directional_accuracy"] = (
            sum(a * n for a, n in hits if n) / counted if counted else math.nan
        )
        main.metrics["directional_bars"] = counted
    window = {"start": main.start, "end": main.end}  # the legs trade exactly these decisions
    steps("buy-and-hold of the same symbols")
    legs = [
        run_backtest(
            settings,
            exchange=exchange_,
            timeframe=timeframe_,
            symbols=symbols_,
            strategy=strategy_from_settings(settings, "buy_and_hold"),
            rows=rows,
            capital=capital,
            costs=costs_used,
            label="buy_and_hold",
            role="buy_and_hold",
            **window,
        )
    ]
    if baselines and chosen.uses_model:
        by_family: dict[str, dict[str, ModelChoice]] = {}
        for symbol, choice in choices.items():
            for family, base in baseline_choices(settings, choice).items():
                by_family.setdefault(family, {})[symbol] = base
        for family, picks in by_family.items():
            if set(picks) != set(symbols_):
                log(f"baseline {family}: not trained for every symbol; left out")
                continue
            base_answers = {}
            for symbol, choice in picks.items():
                steps(f"{symbol}: out-of-sample predictions of {choice.describe()}")
                base_answers[symbol] = oos_predictions(
                    settings, choice, full[symbol], allow_in_sample=allow_in_sample
                ).frame
            steps(f"baseline {family} traded by {chosen.name}")
            legs.append(
                run_backtest(
                    settings,
                    exchange=exchange_,
                    timeframe=timeframe_,
                    symbols=symbols_,
                    strategy=chosen,
                    rows=rows,
                    predictions=base_answers,
                    capital=capital,
                    costs=costs_used,
                    label=family,
                    role="baseline",
                    models={s: f"{c.name}/{c.version}" for s, c in picks.items()},
                    in_sample=in_sample,
                    **window,
                )
            )
    result = BacktestRun(main=main, legs=legs, choices=choices)
    if monte_carlo_paths:
        returns = trade_contributions(main)
        steps(f"Monte Carlo: {monte_carlo_paths:,} paths")
        result.monte_carlo = monte_carlo(
            main.bar_returns,
            returns if len(returns) else None,
            paths=monte_carlo_paths,
            seed=seed,
            max_drawdown_limit=settings.risk.max_drawdown,
            periods_per_year=periods_per_year(timeframe_),
        )
    result.seconds = time.perf_counter() - started
    return result


def trade_contributions(result: BacktestResult) -> np.ndarray:
    """Each closed round trip's P&L (after all its fees) as a share of the account's equity at
    the mark before its entry: what the trip did to the account, so compounding them in any
    order gives the account's possible paths (a trip's return on its own notional would treat
    every trip as all-in)."""
    trips = result.trips
    if trips.empty:
        return np.zeros(0)
    closed = trips[~trips["open"]]
    curve = result.equity.set_index("ts")["equity"]
    at = curve.index.searchsorted(pd.DatetimeIndex(closed["entry_ts"]), side="right") - 1
    base = np.where(at >= 0, curve.to_numpy()[np.maximum(at, 0)], result.capital)
    return closed["pnl"].to_numpy(dtype="float64") / base


def directional_accuracy(
    predictions: pd.DataFrame, rows: pd.DataFrame, start: datetime, end: datetime
) -> tuple[float, int]:
    """Share of decision bars in [start, end] (bar closes) whose direction call matched the
    realised return over the horizon; bars whose return is exactly zero are neither up nor down
    and are left out. Returns (accuracy, bars counted)."""
    from models.families.base import LABEL_RETURN

    inside = rows[(rows["available_at"] >= start) & (rows["available_at"] <= end)]
    joined = inside[["ts", LABEL_RETURN]].merge(predictions[["ts", "direction"]], on="ts")
    joined = joined.dropna()
    joined = joined[joined[LABEL_RETURN] != 0]
    if joined.empty:
        return math.nan, 0
    hits = (joined["direction"] == 1) == (joined[LABEL_RETURN] > 0)
    return float(hits.mean()), int(len(joined))


# -- the record ---------------------------------------------------------------------------------


def already_recorded(settings: Settings, run: BacktestRun) -> bool:
    from cryptobot.backtest.store import stored_run_ids

    return run.main.run_id in stored_run_ids(settings, [run.main.run_id])


def _png(figure, path: Path) -> None:
    figure.savefig(path, dpi=110, bbox_inches="tight")


def log_to_mlflow(settings: Settings, run: BacktestRun) -> list[str]:
    """One MLflow run per target's experiment: the parameters, the after-cost metrics of the
    run and of every comparison leg, and the equity curve, fills, orders, round trips and Monte
    Carlo as artifacts. Returns the MLflow run ids."""
    import mlflow
    from matplotlib.figure import Figure

    from models.tracking import code_version, ensure_experiment

    main = run.main
    client = configure(settings)
    targets = (
        [c.target for c in run.choices.values()]
        if run.choices
        else configured_targets(settings, main.symbols, main.timeframe, None, main.exchange)
    )
    params = {
        "strategy": main.strategy,
        "symbols": ",".join(main.symbols),
        "start": str(main.start),
        "end": str(main.end),
        "bars": main.bars,
        "capital": main.capital,
        **{f"cost.{k}": v for k, v in main.settings["trading"].items()},
        **{f"risk.{k}": v for k, v in main.settings["risk"].items()},
        "models": ",".join(f"{s}={m}" for s, m in main.models.items()) or "none",
        "in_sample": main.in_sample,
    }
    metrics = {k: v for k, v in main.metrics.items() if _finite(v)}
    for leg in run.legs:
        metrics |= {f"{leg.label}/{k}": v for k, v in leg.metrics.items() if _finite(v)}
    ids = []
    with tempfile.TemporaryDirectory(prefix="cryptobot-backtest-") as tmp:
        folder = Path(tmp)
        main.equity.to_parquet(folder / "equity.parquet", index=False)
        main.fills.to_parquet(folder / "fills.parquet", index=False)
        main.orders.to_parquet(folder / "orders.parquet", index=False)
        main.trips.astype({"duration": "string"}).to_parquet(
            folder / "round_trips.parquet", index=False
        )
        figure = Figure(figsize=(9, 4))
        axes = figure.subplots()
        for result in (main, *run.legs):
            axes.plot(result.equity["ts"], result.equity["equity"], label=result.label, lw=1)
        axes.set_title(
            f"equity after costs: {main.label}" + (" [SIMULATED]" if main.is_simulated else "")
        )
        axes.legend(fontsize=8)
        _png(figure, folder / "equity.png")
        if run.monte_carlo is not None:
            from cryptobot.backtest.montecarlo import figure as mc_figure

            _png(mc_figure(run.monte_carlo), folder / "monte_carlo.png")
            pd.DataFrame(run.monte_carlo.summary()).to_csv(folder / "monte_carlo.csv", index=False)
        for target in targets:
            experiment = ensure_experiment(
                settings,
                client,
                target.name,
                tags={
                    "cryptobot.target": target.name,
                    "data.simulated": str(main.is_simulated).lower(),
                },
            )
            tags = {
                "cryptobot.kind": "backtest",
                "cryptobot.target": target.name,
                "backtest.run_id": main.run_id,
                "backtest.in_sample": str(main.in_sample).lower(),
                "data.simulated": str(main.is_simulated).lower(),
                "data.fingerprint": main.data_fingerprint,
                "code.version": code_version(),
                "mlflow.note.content": (
                    f"backtest of {main.label} on {', '.join(main.symbols)} "
                    f"{main.start:%Y-%m-%d %H:%M} .. {main.end:%Y-%m-%d %H:%M}"
                    + (" (IN-SAMPLE predictions)" if main.in_sample else "")
                ),
            }
            if target.symbol in run.choices:
                tags["backtest.model_version"] = run.choices[target.symbol].version
            with mlflow.start_run(
                experiment_id=experiment, run_name=f"backtest {main.label}", tags=tags
            ) as active:
                mlflow.log_params(params)
                mlflow.log_metrics(metrics)
                mlflow.log_artifacts(str(folder))
                if run.monte_carlo is not None:
                    mlflow.log_metrics(
                        {
                            f"mc/{row['method']}/{row['metric']}/{q}": row[q]
                            for row in run.monte_carlo.summary()
                            for q in ("p5", "p50", "p95")
                            if _finite(row[q])
                        }
                    )
                ids.append(active.info.run_id)
    run.mlflow_run_ids = ids
    return ids


def _finite(value) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def summarize(run: BacktestRun, settings: Settings) -> dict[str, Any]:
    """What the CLI and the flow report (plain JSON-able values)."""
    from models.metrics import against_targets

    def clean(metrics: dict) -> dict:
        return {k: (float(v) if _finite(v) else None) for k, v in metrics.items()}

    main = run.main
    return {
        "run_id": main.run_id,
        "strategy": main.label,
        "symbols": main.symbols,
        "exchange": main.exchange,
        "timeframe": main.timeframe,
        "start": str(main.start),
        "end": str(main.end),
        "bars": main.bars,
        "capital": main.capital,
        "account_currency": main.settings.get("account_currency", "USDT"),
        "costs": main.settings["trading"],
        "simulated": main.is_simulated,
        "in_sample": main.in_sample,
        "models": {s: c.describe() for s, c in run.choices.items()},
        "prediction_source": main.prediction_source,
        "metrics": clean(main.metrics),
        "legs": [
            {"label": leg.label, "role": leg.role, "metrics": clean(leg.metrics)}
            for leg in run.legs
        ],
        "roadmap": [
            {**row, "measured": row["measured"] if _finite(row["measured"]) else None}
            for row in against_targets(main.metrics)
        ],
        "monte_carlo": run.monte_carlo.summary() if run.monte_carlo is not None else None,
        "engine_seconds": round(main.seconds, 4),
        "seconds": round(run.seconds, 2),
        "new_runs": run.new_runs,
        "mlflow_run_ids": run.mlflow_run_ids,
        "max_drawdown_limit": settings.risk.max_drawdown,
    }
