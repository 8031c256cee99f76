"""Data that must not get in silently, through the real import path (``ingest.import_file``):
spacing, time range, gzip, and revisions of stored bars (judged, kept, counted in status)."""

from __future__ import annotations

import gzip
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cryptobot.config import IngestSettings
from cryptobot.errors import FileFormatError, RevisionError
from cryptobot.ingest import import_file, store_market_frame, utc_now
from cryptobot.status import market_status
from cryptobot.warehouse.db import read_connection
from tests.conftest import make_candles

pytestmark = pytest.mark.integration

SERIES = {"exchange": "binance", "symbol": "BTC/USDT"}


def write_csv(path: Path, candles: pd.DataFrame, *, iso: bool = False) -> Path:
    frame = candles.copy()
    ts = pd.to_datetime(frame.pop("ts"))
    frame.insert(0, "timestamp", ts.dt.strftime("%Y-%m-%dT%H:%M:%SZ") if iso else _ms(ts))
    frame.to_csv(path, index=False, float_format="%.10g")
    return path


def _ms(ts: pd.Series) -> pd.Series:
    return ts.astype("datetime64[ms]").astype("int64")


def stored(settings, table: str = "market_data") -> pd.DataFrame:
    with read_connection(settings.warehouse) as con:
        return con.execute(f"select * from {table} order by all").df()


def btc(n: int = 600, **kwargs) -> pd.DataFrame:
    candles = make_candles(n, price=34_000.0, **kwargs)
    candles["ts"] = candles["ts"].astype("datetime64[ms]")
    return candles


# --- spacing, time range, gzip ------------------------------------------------------------------


def test_a_5m_file_declared_1m_is_refused_and_nothing_is_stored(settings, tmp_path):
    path = write_csv(tmp_path / "btc-5m.csv", btc(50, freq="5min"))
    with pytest.raises(FileFormatError, match="bars are 5m apart.*timeframe given is 1m"):
        import_file(settings, path, timeframe="1m", **SERIES)
    assert not settings.warehouse.exists() or stored(settings).empty
    report = import_file(settings, path, timeframe="5m", **SERIES)
    assert report.batches[0].inserted == 50


def test_iso_times_before_1970_are_refused_like_milliseconds(settings, tmp_path):
    candles = btc(3, start="1969-12-31 22:00")
    path = write_csv(tmp_path / "old.csv", candles, iso=True)
    with pytest.raises(FileFormatError, match="open before 2017-07-14.*1969-12-31 22:00:00"):
        import_file(settings, path, timeframe="1h", **SERIES)
    on_kraken = write_csv(tmp_path / "k.csv", btc(3, start="2013-09-01"), iso=True)
    with pytest.raises(FileFormatError, match="kraken's first trading day is 2013-09-10"):
        import_file(settings, on_kraken, exchange="kraken", symbol="BTC/USD", timeframe="1h")


def test_bars_in_the_future_are_refused(settings, tmp_path):
    start = pd.Timestamp(utc_now()).floor("1h") - pd.Timedelta(hours=2)
    path = write_csv(tmp_path / "future.csv", btc(5, start=start))
    with pytest.raises(FileFormatError, match="2 bar\\(s\\) open in the future"):
        import_file(settings, path, timeframe="1h", **SERIES)


def test_gzip_csv_imports_under_either_name(settings, tmp_path):
    plain = write_csv(tmp_path / "btc.csv", btc(24))
    for name in ("btc.csv.gz", "btc-gzipped.csv"):
        (tmp_path / name).write_bytes(gzip.compress(plain.read_bytes()))
    report = import_file(settings, tmp_path / "btc.csv.gz", timeframe="1h", **SERIES)
    assert report.batches[0].inserted == 24
    report = import_file(settings, tmp_path / "btc-gzipped.csv", timeframe="1h", **SERIES)
    assert report.batches[0].unchanged == 24


# --- revisions ----------------------------------------------------------------------------------


def test_an_absurd_revision_is_refused_and_nothing_is_lost(settings, tmp_path):
    """The report's case: one bar turned from ~$34k into $1 with a high of 1e6."""
    candles = btc()
    import_file(settings, write_csv(tmp_path / "good.csv", candles), timeframe="1h", **SERIES)
    before = stored(settings)
    bad = candles.copy()
    bar = 500
    bad.loc[bar, ["open", "low", "close"]] = 1.0
    bad.loc[bar, "high"] = 1e6
    path = write_csv(tmp_path / "bad.csv", bad)
    with pytest.raises(RevisionError) as caught:
        import_file(settings, path, timeframe="1h", **SERIES)
    message = str(caught.value)
    ts = pd.Timestamp(candles.loc[bar, "ts"])
    for fragment in (
        "bad.csv would change 1 stored bar(s) of binance BTC/USDT 1h",
        "more than 10 standard deviations",
        f"{ts:%Y-%m-%d %H:%M} open",
        "-> 1,000,000",
        "--allow-revisions",
        "Nothing of this batch was stored",
    ):
        assert fragment in message, (fragment, message)
    pd.testing.assert_frame_equal(stored(settings), before)
    assert stored(settings, "market_data_revisions").empty
    batches = stored(settings, "ingest_batches")
    refused = batches[batches["status"] == "refused"]
    assert len(refused) == 1 and "would change 1 stored bar" in refused["error"].iloc[0]

    report = import_file(settings, path, timeframe="1h", allow_revisions=True, **SERIES)
    batch = report.batches[0]
    assert (batch.updated, batch.revised, batch.implausible) == (1, 1, 1)
    assert "1 revised" in report.summary() and "implausible and allowed" in report.summary()
    revision = stored(settings, "market_data_revisions").iloc[0]
    old = before[before["ts"] == ts].iloc[0]
    assert revision["ts"] == ts and revision["batch_id"] == batch.batch_id
    assert (revision["old_close"], revision["new_close"]) == (old["close"], 1.0)
    assert (revision["old_high"], revision["new_high"]) == (old["high"], 1e6)
    assert revision["old_batch_id"] == old["batch_id"] and revision["origin"] == str(path)
    assert not revision["plausible"] and revision["sigmas"] > 1000
    with read_connection(settings.warehouse) as con:
        (series,) = market_status(con)
    assert series.revisions == 1


def test_a_plausible_correction_is_applied_and_kept_without_the_flag(settings, tmp_path):
    candles = btc()
    store = dict(timeframe="1h", source="file", **SERIES)
    store_market_frame(settings, candles, **store)
    corrected = candles.copy()
    corrected.loc[300, ["close", "high"]] *= 1.001  # 0.1%: a fraction of one bar's SD (1%)
    corrected.loc[301, "volume"] += 5  # volume restated: kept, not judged
    result = store_market_frame(settings, corrected, **store)
    assert (result.updated, result.revised, result.implausible) == (2, 2, 0)
    revisions = stored(settings, "market_data_revisions")
    assert revisions["plausible"].all() and (revisions["sigmas"] < 1).all()
    assert 0.005 < revisions["sigma"].iloc[0] < 0.02  # the walk's 1% per bar
    again = store_market_frame(settings, corrected, **store)  # idempotent: nothing new
    assert (again.updated, again.revised) == (0, 0)
    assert len(stored(settings, "market_data_revisions")) == 2


def test_undoing_a_stored_spike_is_a_large_change_too(settings, tmp_path):
    """A spike already stored widens the SD (it is in the window) but undoing it is still a
    change of about sqrt(window / 2) SDs: it needs the flag too, and the spike is kept."""
    candles = btc()
    spiked = candles.copy()
    spiked.loc[550, ["open", "high", "low", "close"]] = [34_000.0, 1e6, 1.0, 1.0]
    store = dict(timeframe="1h", source="file", **SERIES)
    store_market_frame(settings, spiked, **store)  # stored as new bars: nothing to judge
    with pytest.raises(RevisionError, match="high 1,000,000 -> "):
        store_market_frame(settings, candles, **store)
    result = store_market_frame(settings, candles, **store, allow_revisions=True)
    assert (result.updated, result.implausible) == (1, 1)
    kept = stored(settings, "market_data_revisions").sort_values("revised_at")
    assert kept["old_high"].tolist() == [1e6]  # the spike, kept


def test_refetching_the_newest_bars_from_an_exchange_is_not_flagged(settings):
    """ccxt stores closed bars only; an exchange restating its last bars (a late trade moves
    the close a little, volume grows) is a plausible revision, recorded, not refused."""
    candles = btc(200)
    store = dict(timeframe="1h", source="ccxt", **SERIES)
    store_market_frame(settings, candles, **store)
    refetched = candles.tail(3).copy()
    refetched["close"] *= 1 + np.array([0.0, 0.0005, -0.002])
    refetched["high"] = np.maximum(refetched["high"], refetched["close"])
    refetched["low"] = np.minimum(refetched["low"], refetched["close"])
    refetched["volume"] *= 1.3
    result = store_market_frame(settings, refetched, **store)
    assert (result.updated, result.revised, result.implausible) == (3, 3, 0)


def test_the_limit_is_a_setting(settings, tmp_path):
    candles = btc()
    store = dict(timeframe="1h", source="file", **SERIES)
    store_market_frame(settings, candles, **store)
    moved = candles.copy()
    moved.loc[400, ["close", "high"]] *= 1.05  # 5%: about 5 SD of this walk
    strict = settings.model_copy(update={"ingest": IngestSettings(revision_max_sigma=2)})
    with pytest.raises(RevisionError, match="more than 2 standard deviations"):
        store_market_frame(strict, moved, **store)
    assert store_market_frame(settings, moved, **store).implausible == 0


def test_simulated_series_are_not_judged(settings):
    from cryptobot.config import SIMULATOR_EXCHANGE

    store = dict(exchange=SIMULATOR_EXCHANGE, symbol="BTC/USDT", timeframe="1h", source="simulated")
    candles = btc(50)
    store_market_frame(settings, candles, **store)
    candles["close"] *= 2
    candles["high"] *= 2
    result = store_market_frame(settings, candles, **store)
    assert (result.updated, result.revised) == (50, 0)


def test_status_shows_zero_revisions_for_untouched_series(settings):
    store_market_frame(settings, btc(10), timeframe="1h", source="file", **SERIES)
    with read_connection(settings.warehouse) as con:
        (series,) = market_status(con)
    assert series.revisions == 0
    assert series.last_ts - series.first_ts == timedelta(hours=9)


def test_the_sd_is_that_of_the_one_bar_returns_in_the_window_before_each_bar():
    """The prefix-sum SD equals a direct computation, gaps (no return across them) included."""
    import duckdb

    from cryptobot.ingest import market_frame
    from cryptobot.revisions import find_revisions

    candles = btc(400, seed=3).drop(index=[100, 101, 250]).reset_index(drop=True)
    frame = market_frame(
        candles,
        timeframe="1h",
        source="file",
        batch_id="b0",
        fetched_at=utc_now(),
        **SERIES,
    )
    con = duckdb.connect()
    con.execute("create table market_data as select * from frame")
    window = 50
    revised = frame.copy()
    picked = [0, 1, 2, 60, 99, 100, 120, 248, 249, 396]
    revised.loc[picked, "close"] *= 1.0001
    con.register("staged", revised)
    found = find_revisions(
        con,
        "staged",
        bar_seconds=3600,
        settings=IngestSettings(revision_window=window, revision_min_sigma=1e-12),
    ).set_index("ts")
    ts, close = frame["ts"].to_numpy(), frame["close"].to_numpy()
    for row in picked:
        bars = (ts >= ts[row] - np.timedelta64(window, "h")) & (ts <= ts[row])
        returns = [
            np.log(close[j] / close[j - 1])
            for j in np.flatnonzero(bars)
            if j > 0 and ts[j] - ts[j - 1] == np.timedelta64(1, "h")
        ]
        expected = np.std(returns, ddof=1) if len(returns) >= 2 else 1e-12
        assert found.loc[ts[row], "sigma"] == pytest.approx(expected, rel=1e-9), row
