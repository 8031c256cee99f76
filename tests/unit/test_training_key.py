"""The key that makes `cryptobot train` idempotent: same inputs, same key; any change, another."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.dataset import Dataset, Target
from models.train import training_key

CONFIG = {"horizon": 1, "folds": 5, "seed": 42}


def _dataset(shift: float = 0.0) -> Dataset:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "ts": pd.date_range("2025-01-01", periods=50, freq="1h"),
            "rsi_14": rng.uniform(20, 80, 50) + shift,
            "label_return": rng.normal(0, 0.01, 50),
            "next_return": rng.normal(0, 0.01, 50),
        }
    )
    return Dataset(Target("simulator", "BTC/USDT", "1h", 1), frame, ["rsi_14"])


def test_same_inputs_give_the_same_key():
    assert training_key(_dataset(), ["zero_return"], CONFIG) == training_key(
        _dataset(), ["zero_return"], dict(CONFIG)
    )


def test_rows_families_and_settings_each_change_the_key():
    base = training_key(_dataset(), ["zero_return"], CONFIG)
    assert training_key(_dataset(shift=1e-9), ["zero_return"], CONFIG) != base
    assert training_key(_dataset(), ["zero_return", "xgboost"], CONFIG) != base
    assert training_key(_dataset(), ["zero_return"], {**CONFIG, "seed": 7}) != base
    assert len(base) == 64
