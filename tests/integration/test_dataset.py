"""Model inputs and labels read from marts.fct_features (models.dataset), on a hand-made table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cryptobot.warehouse.db import write_connection
from models.dataset import FEATURES, Target, load_dataset, read_feature_rows
from models.families import get_family

pytestmark = pytest.mark.integration
TARGET = Target("simulator", "BTC/USDT", "1h", 1)


def _features_table(settings, close: np.ndarray, *, gap_at: int | None = None, sentiment=True):
    """A fct_features-shaped table: hourly bars, one hour missing before row ``gap_at``."""
    n = len(close)
    ts = pd.date_range("2025-01-01", periods=n, freq="1h")
    if gap_at is not None:
        ts = ts.where(np.arange(n) < gap_at, ts + pd.Timedelta(hours=1))
    rng = np.random.default_rng(0)
    log_close = np.log(close)
    frame = pd.DataFrame(
        {
            "exchange": "simulator",
            "symbol": "BTC/USDT",
            "timeframe": "1h",
            "ts": ts,
            "open": np.r_[close[0], close[:-1]],
            "close": close,
            "volume": rng.uniform(1, 100, n),
            "available_at": ts + pd.Timedelta(hours=1),
            "is_simulated": True,
            "gap_before": np.arange(n) == (gap_at if gap_at is not None else -1),
            "log_return_1": np.r_[np.nan, np.diff(log_close)],
            "log_return_4": rng.normal(size=n),
            "log_return_24": rng.normal(size=n),
            "realized_vol_24": rng.uniform(0.01, 0.02, n),
            "rsi_14": rng.uniform(20, 80, n),
            "macd": rng.normal(size=n),
            "macd_signal": rng.normal(size=n),
            "macd_hist": rng.normal(size=n),
            "bb_upper": close * 1.02,
            "bb_middle": close,
            "bb_lower": close * 0.98,
            "volume_zscore_24": rng.normal(size=n),
            "hour_of_day": ts.hour,
            "day_of_week": ts.dayofweek + 1,
            "sentiment": rng.normal(size=n) if sentiment else np.nan,
            "sentiment_age_hours": 1.0,
            "fwd_return_1": np.r_[np.diff(log_close), np.nan],
        }
    )
    if gap_at is not None:  # dbt's labels are NULL across a gap
        frame.loc[gap_at - 1, "fwd_return_1"] = np.nan
        frame.loc[gap_at, "log_return_1"] = np.nan
    with write_connection(settings.warehouse) as con:
        con.execute("create schema if not exists marts")
        con.register("frame", frame)
        con.execute("create or replace table marts.fct_features as select * from frame")
    return frame


def test_labels_and_past_returns_for_any_horizon_are_null_across_gaps(settings):
    close = 100 * np.exp(np.cumsum(np.random.default_rng(1).normal(0, 0.01, 40)))
    _features_table(settings, close, gap_at=20)
    one = read_feature_rows(settings, TARGET)
    # horizon 1 reproduces dbt's fwd_return_1 exactly, NULLs included
    pd.testing.assert_series_equal(
        one["label_return"], one["next_return"], check_names=False, rtol=1e-12
    )
    three = read_feature_rows(settings, Target("simulator", "BTC/USDT", "1h", 3))
    log_close = np.log(close)
    for t in range(40):
        crosses_gap_ahead = t < 20 <= t + 3
        expected = np.nan if t + 3 >= 40 or crosses_gap_ahead else log_close[t + 3] - log_close[t]
        assert np.isclose(three["label_return"][t], expected, equal_nan=True), t
        crosses_gap_behind = t - 3 < 20 <= t
        past = np.nan if t < 3 or crosses_gap_behind else log_close[t] - log_close[t - 3]
        assert np.isclose(three["past_return"][t], past, equal_nan=True), t
    assert (three["label_up"].dropna() == (three["label_return"].dropna() > 0)).all()


def test_dataset_drops_a_mostly_null_feature_and_rows_without_labels(settings):
    close = 100 * np.exp(np.cumsum(np.random.default_rng(2).normal(0, 0.01, 60)))
    _features_table(settings, close, sentiment=False)
    dataset = load_dataset(settings, TARGET)
    assert dataset.dropped_features == {"sentiment": 1.0}
    assert "sentiment" not in dataset.features and "bb_percent_b" in dataset.features
    assert set(dataset.features) < set(FEATURES)
    # no level, counter or label among the features
    assert not {"close", "bb_upper", "bar_index", "label_return", "next_return"} & set(
        dataset.features
    )
    assert len(dataset.frame) == 58  # first row: no log_return_1; last row: no label
    assert dataset.frame[dataset.features + ["label_return"]].notna().all().all()
    assert dataset.is_simulated
    # the fingerprint is a function of the rows: same rows, same print; one value changed, not
    again = load_dataset(settings, TARGET)
    assert again.fingerprint == dataset.fingerprint and len(dataset.fingerprint) == 64
    again.frame.loc[5, "rsi_14"] += 1e-9
    assert again.fingerprint != dataset.fingerprint


def test_no_rows_is_a_clear_error(settings):
    _features_table(settings, np.full(10, 100.0))
    with pytest.raises(ValueError, match="no rows in marts.fct_features for simulator ETH/USDT"):
        load_dataset(settings, Target("simulator", "ETH/USDT", "1h", 1))


def test_target_name_round_trips_and_rejects_foreign_names():
    assert TARGET.name == "simulator.BTC-USDT.1h.h1"
    assert Target.from_name("binance.ETH-USDT.4h.h3") == Target("binance", "ETH/USDT", "4h", 3)
    with pytest.raises(ValueError, match="not a cryptobot model name"):
        Target.from_name("my-model")


@pytest.mark.parametrize(
    "family", ["persistence", "always_up", "zero_return", "xgboost", "random_forest"]
)
def test_tabular_families_never_look_ahead_and_round_trip(tmp_path, family):
    rng = np.random.default_rng(3)
    n = 600
    frame = pd.DataFrame({name: rng.normal(size=n) for name in FEATURES})
    frame["past_return"] = rng.normal(0, 0.01, n)
    frame["label_return"] = 0.002 * frame["sentiment"] + rng.normal(0, 0.01, n)
    frame["label_up"] = frame["label_return"] > 0
    model = get_family(family)(seed=1)
    model.fit(frame.iloc[:400], list(FEATURES))
    before = model.predict(frame.iloc[400:])
    changed = frame.copy()
    inputs = [*FEATURES, "past_return"]
    changed.loc[501:, inputs] = rng.normal(size=(n - 501, len(inputs)))  # rewrite the future
    after = model.predict(changed.iloc[400:])
    pd.testing.assert_frame_equal(before.iloc[:101], after.iloc[:101])
    assert before["prob_up"].between(0, 1).all()
    model.save(tmp_path / family)
    loaded = type(model).load(tmp_path / family)
    pd.testing.assert_frame_equal(loaded.predict(frame.iloc[400:]), before)
