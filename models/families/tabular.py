"""The shared shape of the tabular families: a return regressor and a direction classifier.

Both models read one feature row: all the history a row needs is already in its features, so
``lookback`` is 1. ``pred_return`` comes from the regressor (squared error on ``label_return``),
``prob_up`` from the classifier (log loss on ``label_up``), whose rows are weighted by the size
of their move, ``|label_return|``. With those weights the classifier estimates
E[|r| 1{r > 0} | x] / E[|r| | x], the share of the expected absolute move that is up: it is above
0.5 exactly when the expected return is positive, which is the call a long/flat strategy must
make. Unweighted, it would estimate P(r > 0 | x), whose 0.5 threshold on returns with a tiny
signal is set mostly by the training period's base rate of up bars (measured with XGBoost on the
simulator: holdout accuracy 51% unweighted against 54-55% weighted, signal 0.2).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import numpy as np
import pandas as pd

from models.families.base import LABEL_RETURN, LABEL_UP, Forecaster, prediction_frame


class TabularPair(Forecaster):
    """Subclasses build the two estimators (scikit-learn API) and persist them."""

    regressor: Any
    classifier: Any

    @abstractmethod
    def _models(self) -> tuple[Any, Any]:
        """A fresh (regressor, classifier) with ``self.params`` and ``self.seed``."""

    def fit(self, train: pd.DataFrame, features: list[str]) -> None:
        self.features = list(features)
        x = train[self.features].to_numpy(dtype="float32")
        self.regressor, self.classifier = self._models()
        self.regressor.fit(x, train[LABEL_RETURN].to_numpy(dtype="float64"))
        size = np.abs(train[LABEL_RETURN].to_numpy(dtype="float64"))
        weight = size / size.mean() if size.mean() > 0 else np.ones_like(size)
        self.classifier.fit(x, train[LABEL_UP].to_numpy(dtype="int8"), sample_weight=weight)

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        x = frame[self.features].to_numpy(dtype="float32")
        if len(x) == 0:
            return prediction_frame(frame.index, np.empty(0), np.empty(0))
        return prediction_frame(
            frame.index, self.regressor.predict(x), self.classifier.predict_proba(x)[:, 1]
        )
