"""Model inputs and labels, read from ``marts.fct_features`` by one query for training and trading.

Features are the scale-free columns of ``fct_features`` (returns, volatility, RSI, MACD and the
Bollinger bands relative to the close, volume z-score, calendar, sentiment and its age). Price
levels, ``bar_index`` and build metadata are never features: a level drifts with the regime, so a
model would learn the sample's history instead of a relation, and a row counter leaks the
position in time. MACD and the bands are divided by the close in the query; nothing else is
transformed.

Labels, for a horizon of ``h`` bars: ``label_return`` = ln(close[t+h] / close[t]) and
``label_up`` = label_return > 0, NULL when any of the h bars after t is missing (a gap). The
persistence baseline's input ``past_return`` = ln(close[t] / close[t-h]), NULL across a gap.
``next_return`` (fct_features' fwd_return_1) is what the strategy earns holding bar t+1.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cryptobot.config import Settings
from cryptobot.features import FEATURES_TABLE
from cryptobot.warehouse.db import read_connection
from models.families.base import LABEL_RETURN, LABEL_UP

#: every candidate feature, in the order models see them (all scale-free)
FEATURES = (
    "log_return_1",
    "log_return_4",
    "log_return_24",
    "realized_vol_24",
    "rsi_14",
    "macd_rel",
    "macd_signal_rel",
    "macd_hist_rel",
    "bb_percent_b",
    "bb_width",
    "volume_zscore_24",
    "hour_of_day",
    "day_of_week",
    "sentiment",
    "sentiment_age_hours",
)
#: a feature null on more than this share of a series' rows is dropped for that series
MAX_NULL_SHARE = 0.2

_QUERY = """
with series as (
    select *
    from {table}
    where exchange = $exchange and symbol in ({symbols}) and timeframe = $timeframe{window}
),
gaps as (
    select
        *,
        -- gaps among the h bars after t / the h bars up to t
        max(gap_before::int) over (
            partition by symbol order by ts rows between 1 following and {h} following
        ) as gap_ahead,
        count(*) over (
            partition by symbol order by ts rows between 1 following and {h} following
        ) as rows_ahead,
        max(gap_before::int) over (
            partition by symbol order by ts rows between {h_minus_1} preceding and current row
        ) as gap_behind,
        count(*) over (
            partition by symbol order by ts rows between {h} preceding and 1 preceding
        ) as rows_behind,
        lead(close, {h}) over (partition by symbol order by ts) as close_ahead,
        lag(close, {h}) over (partition by symbol order by ts) as close_behind
    from series
)
select
    exchange, symbol, timeframe, ts, available_at, is_simulated, open, close, volume,
    log_return_1, log_return_4, log_return_24, realized_vol_24, rsi_14,
    macd / close as macd_rel,
    macd_signal / close as macd_signal_rel,
    macd_hist / close as macd_hist_rel,
    (close - bb_lower) / nullif(bb_upper - bb_lower, 0) as bb_percent_b,
    (bb_upper - bb_lower) / nullif(bb_middle, 0) as bb_width,
    volume_zscore_24,
    hour_of_day::double as hour_of_day,
    day_of_week::double as day_of_week,
    sentiment,
    sentiment_age_hours,
    case when rows_behind = {h} and gap_behind = 0 then ln(close / close_behind) end
        as past_return,
    fwd_return_1 as next_return,
    case when rows_ahead = {h} and gap_ahead = 0 then ln(close_ahead / close) end
        as {label_return}
from gaps
{where}
order by symbol, ts
"""


@dataclass(frozen=True)
class Target:
    """What one registered model forecasts: a series and a label horizon."""

    exchange: str
    symbol: str
    timeframe: str
    horizon: int = 1

    @property
    def name(self) -> str:
        """The MLflow experiment and registered-model name, e.g. ``simulator.BTC-USDT.1h.h1``."""
        return ".".join(
            [self.exchange, self.symbol.replace("/", "-"), self.timeframe, f"h{self.horizon}"]
        )

    @classmethod
    def from_name(cls, name: str) -> Target:
        try:
            exchange, symbol, timeframe, horizon = name.split(".")
            if not horizon.startswith("h"):
                raise ValueError
            return cls(exchange, symbol.replace("-", "/"), timeframe, int(horizon[1:]))
        except ValueError:
            raise ValueError(
                f"{name!r} is not a cryptobot model name (EXCHANGE.BASE-QUOTE.TIMEFRAME.hH, "
                "e.g. simulator.BTC-USDT.1h.h1)"
            ) from None


def configured_targets(
    settings: Settings,
    symbols: list[str] | None = None,
    timeframe: str | None = None,
    horizon: int | None = None,
    exchange: str | None = None,
) -> list[Target]:
    """One target per symbol; what is not given comes from the settings (the exchange: the
    simulator's when the configured source is the simulator)."""
    return [
        Target(
            exchange or settings.market_exchange,
            symbol,
            timeframe or settings.timeframes[0],
            horizon or settings.training.horizon,
        )
        for symbol in (symbols or settings.symbols)
    ]


@dataclass
class Dataset:
    """The labelled rows of one target, oldest first, ready for walk-forward training."""

    target: Target
    frame: pd.DataFrame  # the series' keys, features, past_return, next_return, labels
    features: list[str]
    dropped_features: dict[str, float] = field(default_factory=dict)  # name -> null share
    is_simulated: bool = False
    #: every row of the series (unlabelled and warm-up rows too): the bars a backtest trades
    rows: pd.DataFrame | None = None

    @property
    def fingerprint(self) -> str:
        """sha256 of the rows the models see (keys, features, labels), order included."""
        return frame_fingerprint(self.frame, ["ts", *self.features, LABEL_RETURN, "next_return"])

    @property
    def start(self) -> pd.Timestamp:
        return self.frame["ts"].iloc[0]

    @property
    def end(self) -> pd.Timestamp:
        return self.frame["ts"].iloc[-1]


def frame_fingerprint(frame: pd.DataFrame, columns: list[str]) -> str:
    hashes = pd.util.hash_pandas_object(frame[columns], index=False).to_numpy()
    digest = hashlib.sha256(hashes.tobytes())
    digest.update(json.dumps(columns).encode())
    return digest.hexdigest()


def read_feature_rows(
    settings: Settings,
    target: Target,
    *,
    since: pd.Timestamp | None = None,
    until: pd.Timestamp | None = None,
    con=None,
) -> pd.DataFrame:
    """All rows of the target's series in ``fct_features`` (labels NULL where unknown).

    ``since`` keeps rows from that bar on. ``until`` is the point-in-time cut: only rows the
    system could have known at that moment (``available_at <= until``), so the series ends at
    the newest bar closed by then and every label and ``past_return`` is computed from those
    rows alone; with ``until`` the ``since`` cut applies before the window functions too (the
    first ``horizon`` rows then have no ``past_return``). ``con``: an open connection to use.
    """
    return read_feature_rows_of(settings, [target], since=since, until=until, con=con)[
        target.symbol
    ]


def read_feature_rows_of(
    settings: Settings,
    targets: list[Target],
    *,
    since: pd.Timestamp | None = None,
    until: pd.Timestamp | None = None,
    con=None,
) -> dict[str, pd.DataFrame]:
    """:func:`read_feature_rows` of several symbols of one exchange, timeframe and horizon, in
    one query (symbol -> its rows, oldest first)."""
    first = targets[0]
    if {(t.exchange, t.timeframe, t.horizon) for t in targets} != {
        (first.exchange, first.timeframe, first.horizon)
    }:
        raise ValueError("read_feature_rows_of reads one exchange, timeframe and horizon")
    h = int(first.horizon)
    if h < 1:
        raise ValueError(f"horizon must be at least 1 bar, got {h}")
    window = ""
    if until is not None:
        window = " and available_at <= $until" + (" and ts >= $since" if since is not None else "")
    symbols = {f"s{i}": t.symbol for i, t in enumerate(targets)}
    sql = _QUERY.format(
        table=FEATURES_TABLE,
        h=h,
        h_minus_1=h - 1,
        label_return=LABEL_RETURN,
        window=window,
        symbols=", ".join(f"${name}" for name in symbols),
        where="where ts >= $since" if since is not None else "",
    )
    params = {"exchange": first.exchange, "timeframe": first.timeframe, **symbols}
    if since is not None:
        params["since"] = since
    if until is not None:
        params["until"] = until
    if con is not None:
        frame = con.execute(sql, params).df()
    else:
        with read_connection(settings.warehouse, timeout=settings.write_lock_timeout) as con:
            frame = con.execute(sql, params).df()
    frame[LABEL_UP] = np.where(frame[LABEL_RETURN].isna(), np.nan, frame[LABEL_RETURN] > 0)
    groups = dict(iter(frame.groupby("symbol", sort=False)))
    return {
        t.symbol: groups[t.symbol].reset_index(drop=True)
        if t.symbol in groups
        else frame.iloc[0:0].reset_index(drop=True)
        for t in targets
    }


def load_dataset(settings: Settings, target: Target) -> Dataset:
    """The labelled rows of ``target`` with the features usable on this series.

    A feature null on more than ``MAX_NULL_SHARE`` of the rows (e.g. sentiment for a series no
    sentiment source covers) is dropped for this series and reported; then rows with any null
    feature (the indicator warm-up) or no label (the last ``horizon`` bars, bars before a gap)
    are left out.
    """
    rows = read_feature_rows(settings, target)
    if rows.empty:
        raise ValueError(
            f"no rows in {FEATURES_TABLE} for {target.exchange} {target.symbol} "
            f"{target.timeframe}: " + _where_else(settings, target)
        )
    null_share = rows[list(FEATURES)].isna().mean()
    dropped = {
        name: round(float(share), 4) for name, share in null_share.items() if share > MAX_NULL_SHARE
    }
    features = [name for name in FEATURES if name not in dropped]
    keep = rows[features + [LABEL_RETURN, "next_return"]].notna().all(axis=1)
    frame = rows.loc[keep].reset_index(drop=True)
    frame[LABEL_UP] = frame[LABEL_UP].astype(bool)
    return Dataset(
        target=target,
        frame=frame,
        features=features,
        dropped_features=dropped,
        is_simulated=bool(rows["is_simulated"].any()),
        rows=rows,
    )


def _where_else(settings: Settings, target: Target) -> str:
    """What to do about a target with no feature rows: the series of its symbol stored under
    other exchanges or timeframes (say which, and how to pick one), else ingest and build."""
    with read_connection(settings.warehouse, timeout=settings.write_lock_timeout) as con:
        stored = con.execute(
            "select exchange, timeframe, count(*) from market_data where symbol = ? "
            "group by all order by 3 desc, 1, 2",
            [target.symbol],
        ).fetchall()
    elsewhere = [(e, t, n) for e, t, n in stored if (e, t) != (target.exchange, target.timeframe)]
    if not elsewhere:
        here = next((n for e, t, n in stored if (e, t) == (target.exchange, target.timeframe)), 0)
        if here:
            return f"its {here:,} candles are stored: run `cryptobot features` first"
        return "ingest it and run `cryptobot features` first"
    listed = ", ".join(f"{e} {t} ({n:,} candles)" for e, t, n in elsewhere)
    exchange, timeframe, _ = elsewhere[0]
    return (
        f"{target.symbol} is stored under {listed}, not under {target.exchange} "
        f"{target.timeframe}: pass --exchange {exchange}"
        + (f" --timeframe {timeframe}" if timeframe != target.timeframe else "")
        + ", or ingest it from "
        + f"{target.exchange} (`cryptobot features` builds the features of every stored series)"
    )


def dbt_manifest_info(settings: Settings) -> dict[str, str]:
    """Identity of the dbt project that built the features: a hash over every model's checksum
    (stable across runs of the same SQL), fct_features' own checksum and the last invocation."""
    path = Path(settings.data_dir) / "dbt" / "target" / "manifest.json"
    if not path.exists():
        return {"dbt_manifest": "missing (features not built in this data directory)"}
    manifest = json.loads(path.read_text())
    checksums = {
        node_id: node.get("checksum", {}).get("checksum", "")
        for node_id, node in manifest.get("nodes", {}).items()
        if node.get("resource_type") in {"model", "test", "seed", "snapshot"}
    }
    features_node = next(
        (node for node in manifest.get("nodes", {}).values() if node.get("name") == "fct_features"),
        {},
    )
    info = {
        "dbt_manifest_sha256": hashlib.sha256(
            json.dumps(checksums, sort_keys=True).encode()
        ).hexdigest(),
        "dbt_fct_features_checksum": features_node.get("checksum", {}).get("checksum", ""),
        "dbt_invocation_id": manifest.get("metadata", {}).get("invocation_id", ""),
        "dbt_version": manifest.get("metadata", {}).get("dbt_version", ""),
    }
    return info
