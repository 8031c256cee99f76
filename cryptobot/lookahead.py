"""The feature half of ``cryptobot check-lookahead``: are the features of a bar the same when
they are computed from only what was known at that bar's close?

Rule 1 of ARCHITECTURE.md says features never look ahead. This module proves it on the stored
data instead of trusting the SQL: for sampled bars ("cuts") of a series, it recomputes the
features from the raw rows truncated at the cut's close and compares them, column by column,
with the row of the full build in ``marts.fct_features``.

**Method: every truncated series in one dbt run.** Running dbt once per cut (~3 s each) is too
slow, so all truncated series are built together in a scratch warehouse (a temporary directory,
removed afterwards; the real warehouse is only read):

1. Cut ``k`` of series (exchange, symbol, timeframe) at bar ``ts`` becomes a pseudo-series of the
   same exchange and timeframe whose symbol is ``SYMBOL@k`` (``BTC/USDT@17``). It gets every
   ``market_data`` row of its series with ``available_at <= ts + timeframe`` (the cut's close),
   and every ``sentiment`` row of its symbol with ``available_at`` by then, renamed to the
   pseudo-symbol, so each pseudo-series sees exactly the sentiment known at its cut (the as-of
   join matches sentiment by symbol).
2. ``dbt run`` of the project's models builds the scratch ``marts.fct_features`` from nothing
   (the data tests are not run: they are about the real series, and the full build ran them).
3. Each pseudo-series' row at its cut is compared with the full build's row of that bar: every
   column except the keys, the build time ``built_at`` and the forward labels (``fwd_return_1``,
   ``fwd_direction_1``: labels look forward by design). Floats are equal when
   ``|full - truncated| <= 1e-12 + 1e-9 * max(|full|, |truncated|)`` (window sums over a shorter
   partition may round differently); everything else (timestamps, flags, bar_index) must be
   identical, NULL equal to NULL. A missing row at the cut is a difference too.

Truncating by the raw ``available_at`` is deliberate: a candle corrected after the cut (the
ingest moves a revision's ``available_at`` to its fetch) is not in the truncated series, so a
feature the full build computed from the corrected value is reported, as it should be.

The series are all known before the cuts are chosen: :func:`series_bars` gives each series' bars
and :func:`spread` picks cuts evenly among the eligible ones (past the indicators' warm-up;
``models.lookahead`` narrows that to the bars a model can answer and checks its predictions and
the strategy's decisions on the rows of the same scratch warehouse).
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import yaml

from cryptobot.config import Settings
from cryptobot.errors import ConfigError, FeatureBuildError
from cryptobot.features import FEATURES_TABLE, run_dbt
from cryptobot.timeframes import timeframe_delta
from cryptobot.warehouse.db import read_connection

#: the fewest cuts per series that count as a check
MIN_BARS = 50
#: float tolerance: |a - b| <= ABSOLUTE_TOLERANCE + RELATIVE_TOLERANCE * max(|a|, |b|)
RELATIVE_TOLERANCE = 1e-9
ABSOLUTE_TOLERANCE = 1e-12
#: columns of fct_features never compared: the row's key, its build time, the forward labels
KEY_COLUMNS = ("exchange", "symbol", "timeframe", "ts")
SKIPPED_COLUMNS = ("built_at", "fwd_return_1", "fwd_direction_1")
#: what separates a symbol from its cut number in a pseudo-series' symbol
PSEUDO_SEPARATOR = "@"


def _quiet(_: str) -> None:
    pass


@dataclass(frozen=True, order=True)
class Series:
    """One stored series of candles."""

    exchange: str
    symbol: str
    timeframe: str

    def __str__(self) -> str:
        return f"{self.exchange} {self.symbol} {self.timeframe}"


@dataclass(frozen=True)
class Difference:
    """One column of one bar whose full-run value is not the truncated run's."""

    series: Series
    ts: pd.Timestamp  # the bar (its open time)
    stage: str  # "feature", "prediction" or "decision"
    column: str
    full: Any
    truncated: Any

    def describe(self) -> str:
        return (
            f"{self.series.symbol} {self.ts:%Y-%m-%d %H:%M} {self.stage} {self.column}: "
            f"full run {_show(self.full)}, truncated at the bar's close {_show(self.truncated)}"
        )


@dataclass
class Tally:
    """How one stage (features, predictions or decisions) of one series compared."""

    checked: int = 0  # cuts compared
    equal: int = 0  # cuts with every column equal
    max_difference: float = 0.0  # largest scaled difference seen (see ``difference``)
    skipped: str | None = None  # why the stage was not checked

    def add(self, equal: bool, max_difference: float = 0.0) -> None:
        self.checked += 1
        self.equal += bool(equal)
        if math.isfinite(max_difference):
            self.max_difference = max(self.max_difference, max_difference)
        elif not equal:
            self.max_difference = math.inf

    @property
    def clean(self) -> bool:
        return self.equal == self.checked

    def describe(self) -> str:
        return "skipped" if self.skipped else f"{self.equal}/{self.checked}"


# -- comparing values ---------------------------------------------------------------------------


def difference(full: Any, truncated: Any) -> float:
    """``|full - truncated| / (max(|full|, |truncated|) + 1e-3)``: a relative difference whose
    tolerance is ``RELATIVE_TOLERANCE`` (the absolute 1e-12 of the rule is 1e-9 x 1e-3); 0 for
    two NaN, inf when only one is NaN."""
    a, b = float(full), float(truncated)
    if math.isnan(a) or math.isnan(b):
        return 0.0 if math.isnan(a) and math.isnan(b) else math.inf
    if a == b:
        return 0.0
    return abs(a - b) / (max(abs(a), abs(b)) + ABSOLUTE_TOLERANCE / RELATIVE_TOLERANCE)


def same_value(full: Any, truncated: Any) -> tuple[bool, float]:
    """(equal, scaled difference) of two cells: floats within the tolerance, anything else
    identical (NULL/NaN/NaT equal to each other, unequal to any value)."""
    full_missing, truncated_missing = _missing(full), _missing(truncated)
    if full_missing or truncated_missing:
        both = full_missing and truncated_missing
        return both, 0.0 if both else math.inf
    if _is_float(full) or _is_float(truncated):
        scaled = difference(full, truncated)
        return scaled <= RELATIVE_TOLERANCE, scaled
    return bool(full == truncated), 0.0


def _missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _is_float(value: Any) -> bool:
    return isinstance(value, float | np.floating)


def _show(value: Any) -> str:
    if _missing(value):
        return "NULL"
    if _is_float(value):
        return repr(float(value))
    if isinstance(value, pd.Timestamp):
        return value.isoformat(sep=" ")
    return str(value)


# -- which bars ---------------------------------------------------------------------------------


def warmup_bars(settings: Settings) -> int:
    """The indicators' warm-up (dbt var ``indicator_warmup_bars``): bars before it have NULL
    indicators in every run, so cuts start after it."""
    project = yaml.safe_load((settings.dbt_project_dir / "dbt_project.yml").read_text())
    return int(project.get("vars", {}).get("indicator_warmup_bars", 0))


def series_bars(
    settings: Settings, series: Series, *, con: duckdb.DuckDBPyConnection | None = None
) -> pd.DataFrame:
    """The series' bars in the full build (``ts``, ``available_at``, ``bar_index``), oldest
    first. Raises ``ConfigError`` for a series with no candles, ``FeatureBuildError`` for one
    whose features are not built."""
    if con is None:
        with read_connection(settings.warehouse, timeout=settings.write_lock_timeout) as con:
            return series_bars(settings, series, con=con)
    key = [series.exchange, series.symbol, series.timeframe]
    try:
        bars = con.execute(
            f"select ts, available_at, bar_index from {FEATURES_TABLE} "
            "where exchange = ? and symbol = ? and timeframe = ? order by ts",
            key,
        ).df()
    except duckdb.CatalogException:
        raise FeatureBuildError(
            f"no features in {settings.warehouse}: the check compares {FEATURES_TABLE} with a "
            "recomputation; run `cryptobot features` first"
        ) from None
    if len(bars):
        return bars
    candles = con.execute(
        "select count(*) from market_data where exchange = ? and symbol = ? and timeframe = ?",
        key,
    ).fetchall()[0][0]
    if candles:
        raise FeatureBuildError(
            f"{series} has {candles:,} candles but no rows in {FEATURES_TABLE}: run "
            "`cryptobot features` first"
        )
    stored = con.execute(
        "select distinct exchange || ' ' || symbol || ' ' || timeframe from market_data order by 1"
    ).fetchall()
    known = ", ".join(row[0] for row in stored[:20]) + (" ..." if len(stored) > 20 else "")
    raise ConfigError(
        f"no candles for {series} in {settings.warehouse}"
        + (f"; stored series: {known}" if known else "; the warehouse holds no candles")
        + ". Check --symbols, --exchange and --timeframe (`cryptobot status` lists the series)"
    )


def spread(candidates: Sequence[pd.Timestamp] | pd.Series, count: int) -> list[pd.Timestamp]:
    """``count`` of ``candidates`` (sorted), evenly spread from the first to the last."""
    values = list(pd.Series(candidates).sort_values())
    if count >= len(values):
        return values
    picks = np.unique(np.linspace(0, len(values) - 1, count).round().astype(int))
    return [values[i] for i in picks]


# -- the scratch warehouse ----------------------------------------------------------------------


@dataclass
class FeatureCheck:
    """What :meth:`TruncatedFeatures.compare` found."""

    tallies: dict[Series, Tally] = field(default_factory=dict)
    differences: list[Difference] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)  # the columns compared


class TruncatedFeatures:
    """The scratch warehouse holding one truncated series per cut, built by dbt; a context
    manager that removes it on exit.

    ``cuts``: per series, the bars (open times) to cut at. ``scratch_root``: where the temporary
    directory goes (default: the settings' data directory).
    """

    def __init__(
        self,
        settings: Settings,
        cuts: Mapping[Series, Iterable[pd.Timestamp]],
        *,
        scratch_root: Path | None = None,
        log: Callable[[str], None] = _quiet,
    ) -> None:
        self.full_settings = settings
        self.log = log
        rows = []
        for series in sorted(cuts):
            step = timeframe_delta(series.timeframe)
            for ts in sorted(pd.Timestamp(t) for t in cuts[series]):
                k = len(rows)
                rows.append(
                    {
                        "exchange": series.exchange,
                        "symbol": series.symbol,
                        "timeframe": series.timeframe,
                        "ts": ts,
                        "cut_close": ts + step,
                        "pseudo": f"{series.symbol}{PSEUDO_SEPARATOR}{k}",
                    }
                )
        self.cuts = pd.DataFrame(
            rows, columns=["exchange", "symbol", "timeframe", "ts", "cut_close", "pseudo"]
        )
        self._pseudo = {
            (Series(r.exchange, r.symbol, r.timeframe), r.ts): r.pseudo
            for r in self.cuts.itertuples()
        }
        self.root = Path(scratch_root or settings.data_dir)
        #: set on entry: the temporary directory, the scratch warehouse in it and its settings
        #: (for readers such as ``read_feature_rows``)
        self.directory: Path | None = None
        self.path: Path | None = None
        self.settings: Settings | None = None
        self.build_seconds = 0.0
        self._con: duckdb.DuckDBPyConnection | None = None

    def __enter__(self) -> TruncatedFeatures:
        self.root.mkdir(parents=True, exist_ok=True)
        self.directory = Path(tempfile.mkdtemp(prefix="lookahead-", dir=self.root))
        self.path = self.directory / "truncated.duckdb"
        self.settings = self.full_settings.model_copy(update={"warehouse": self.path})
        try:
            self.build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)

    def pseudo_symbol(self, series: Series, ts: pd.Timestamp) -> str:
        """The symbol of the truncated series of ``series`` cut at bar ``ts``."""
        return self._pseudo[(series, pd.Timestamp(ts))]

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """A read-only connection to the built scratch warehouse (kept open until exit)."""
        if self._con is None:
            self._con = duckdb.connect(str(self.path), read_only=True)
            self._con.execute("set TimeZone = 'UTC'")
        return self._con

    # -- building ------------------------------------------------------------------------------

    def build(self) -> None:
        started = time.perf_counter()
        series = self.cuts[["exchange", "symbol", "timeframe"]].drop_duplicates()
        symbols = sorted(series["symbol"].unique())
        full = self.full_settings
        with read_connection(full.warehouse, timeout=full.write_lock_timeout) as con:
            con.register("wanted", series)
            candles = con.sql(
                "select m.* from market_data m semi join wanted w using (exchange, symbol, "
                "timeframe)"
            ).to_arrow_table()
            sentiment = con.sql(
                "select * from sentiment where list_contains($symbols, symbol)",
                params={"symbols": symbols},
            ).to_arrow_table()
            batches = con.sql("select * from ingest_batches limit 0").to_arrow_table()
        # the dbt sources' tables with the warehouse's column types, without its constraints
        # (an insert that checks primary keys would cost seconds per million rows)
        with duckdb.connect(str(self.path)) as con:
            con.execute("set TimeZone = 'UTC'")
            con.register("cuts", self.cuts)
            con.register("full_candles", candles)
            con.register("full_sentiment", sentiment)
            con.register("no_batches", batches)
            con.execute(
                """
                create table market_data as
                select m.* replace (c.pseudo as symbol)
                from full_candles m
                join cuts c using (exchange, symbol, timeframe)
                where m.available_at <= c.cut_close
                """
            )
            con.execute(
                """
                create table sentiment as
                select s.* replace (c.pseudo as symbol)
                from full_sentiment s
                join cuts c using (symbol)
                where s.available_at <= c.cut_close
                """
            )
            con.execute("create table ingest_batches as select * from no_batches")
            copied = con.execute("select count(*) from market_data").fetchall()[0][0]
        self.log(
            f"recomputing the features of {len(self.cuts)} truncated series "
            f"({copied:,} candles) in a scratch warehouse"
        )
        self._run_dbt()
        self.build_seconds = time.perf_counter() - started

    def _run_dbt(self) -> None:
        settings = self.full_settings
        # a fresh target path: dbt parses in full (~3 s; the profile's warehouse path differs
        # from the real build's, so its partial-parse state would not be reused anyway)
        target = self.directory / "dbt" / "target"
        args = [
            "run",  # the models only: the data tests judge real series, and the full build ran them
            "--project-dir",
            str(settings.dbt_project_dir),
            "--profiles-dir",
            str(settings.dbt_project_dir),
            "--target-path",
            str(target),
            "--log-path",
            str(self.directory / "dbt" / "logs"),
            "--log-level",
            "none",
            "--no-use-colors",
            "--no-version-check",
        ]
        result = run_dbt(self.path, args, self.log)
        if result.success:
            return
        problems = []
        for r in getattr(result.result, "results", None) or []:
            if r.status in ("error", "fail"):
                problems.append(f"{r.node.name}: {' '.join(str(r.message or '').split())}")
        problem = "; ".join(problems) or " ".join(str(result.exception or "").split())
        raise FeatureBuildError(
            "the check could not recompute the features of the truncated series (dbt run of "
            f"the feature models in a scratch warehouse failed): {problem}. The same models "
            "build the real features: run `cryptobot features` to see whether they build there"
        )

    # -- comparing -----------------------------------------------------------------------------

    def compare(self) -> FeatureCheck:
        """Each cut's truncated row against the full build's row of the same bar."""
        full = self.full_settings
        cuts = self.cuts[["exchange", "symbol", "timeframe", "ts", "pseudo"]]
        with read_connection(full.warehouse, timeout=full.write_lock_timeout) as con:
            con.register("cuts", cuts)
            full_rows = con.execute(
                f"select f.*, c.pseudo from {FEATURES_TABLE} f "
                "join cuts c using (exchange, symbol, timeframe, ts)"
            ).df()
        con = self.connection
        con.register("cuts", cuts)
        truncated = con.execute(
            f"select f.* exclude (symbol), c.symbol, c.pseudo from {FEATURES_TABLE} f "
            "join cuts c on f.symbol = c.pseudo and f.exchange = c.exchange "
            "and f.timeframe = c.timeframe and f.ts = c.ts"
        ).df()
        con.unregister("cuts")
        skipped = set(KEY_COLUMNS) | set(SKIPPED_COLUMNS) | {"pseudo"}
        only_full = sorted(set(full_rows.columns) - set(truncated.columns))
        only_truncated = sorted(set(truncated.columns) - set(full_rows.columns))
        if only_full or only_truncated:
            raise FeatureBuildError(
                f"{FEATURES_TABLE} in {full.warehouse} was built by other feature models than "
                f"the dbt project's (columns only there: {only_full or 'none'}; only in the "
                f"project's: {only_truncated or 'none'}): rebuild it with `cryptobot features "
                "--full-refresh`, then check again"
            )
        columns = [c for c in full_rows.columns if c not in skipped]
        full_by = full_rows.set_index("pseudo")
        truncated_by = truncated.set_index("pseudo")
        check = FeatureCheck(columns=columns)
        for cut in self.cuts.itertuples():
            series = Series(cut.exchange, cut.symbol, cut.timeframe)
            tally = check.tallies.setdefault(series, Tally())
            if cut.pseudo not in full_by.index:  # the caller cut at a bar the build lacks
                raise ValueError(f"{series} has no row at {cut.ts} in {FEATURES_TABLE}")
            if cut.pseudo not in truncated_by.index:
                check.differences.append(
                    Difference(series, cut.ts, "feature", "(row)", "present", "missing")
                )
                tally.add(False, math.inf)
                continue
            a, b = full_by.loc[cut.pseudo], truncated_by.loc[cut.pseudo]
            worst, equal = 0.0, True
            for column in columns:
                same, scaled = same_value(a[column], b[column])
                if _is_float(a[column]) or _is_float(b[column]):
                    worst = max(worst, scaled)
                if not same:
                    equal = False
                    check.differences.append(
                        Difference(series, cut.ts, "feature", column, a[column], b[column])
                    )
            tally.add(equal, worst)
        return check
