"""Naive baselines every model is judged against (rule 3 of ARCHITECTURE.md).

- ``persistence``: the next ``horizon`` bars repeat the last ``horizon`` bars' log return.
- ``always_up``: always long (buy and hold); its return forecast is the training mean.
- ``zero_return``: a martingale's forecast, 0; its direction is the training majority.

They take no features and learn at most one number, so they are what an edge must beat.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from models.families import register
from models.families.base import LABEL_RETURN, LABEL_UP, Forecaster, prediction_frame

#: the dataset column holding the log return over the last `horizon` bars (see models.dataset)
PAST_RETURN = "past_return"


class _Baseline(Forecaster):
    is_baseline = True

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.state: dict[str, float] = {}

    def _save(self, path: Path) -> None:
        (path / "state.json").write_text(json.dumps(self.state))

    def _load(self, path: Path) -> None:
        self.state = json.loads((path / "state.json").read_text())


@register
class Persistence(_Baseline):
    family = "persistence"

    def fit(self, train: pd.DataFrame, features: list[str]) -> None:
        self.features = [PAST_RETURN]

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        last = frame[PAST_RETURN].to_numpy(dtype="float64")
        return prediction_frame(frame.index, last, np.where(np.isnan(last), np.nan, last > 0))


@register
class AlwaysUp(_Baseline):
    family = "always_up"

    def fit(self, train: pd.DataFrame, features: list[str]) -> None:
        self.features = []
        self.state = {"mean_return": float(train[LABEL_RETURN].mean())}

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        return prediction_frame(frame.index, self.state["mean_return"], 1.0)


@register
class ZeroReturn(_Baseline):
    family = "zero_return"

    def fit(self, train: pd.DataFrame, features: list[str]) -> None:
        self.features = []
        self.state = {"up_frequency": float(train[LABEL_UP].mean())}

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        return prediction_frame(frame.index, 0.0, self.state["up_frequency"])
