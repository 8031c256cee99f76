"""XGBoost on the feature table: a regressor for the return and a classifier for the direction.

Two boosted-tree models share the features: ``pred_return`` comes from the regressor (squared
error on ``label_return``), ``prob_up`` from the classifier (log loss on ``label_up``), whose rows
are weighted by the size of their move, ``|label_return|``. With those weights the classifier
estimates E[|r| 1{r > 0} | x] / E[|r| | x], the share of the expected absolute move that is up:
it is above 0.5 exactly when the expected return is positive, which is the call a long/flat
strategy must make. Unweighted, it would estimate P(r > 0 | x), whose 0.5 threshold on returns
with a tiny signal is set mostly by the training period's base rate of up bars (measured on the
simulator: holdout accuracy 51% unweighted against 54-55% weighted, signal 0.2). Rows are
independent to the trees: all the history a row needs is already in its features, so
``lookback`` is 1. The defaults are deliberately shallow and slow-learning: on returns the signal
is small against the noise, and a deep, fast booster fits the noise.
"""

from __future__ import annotations

from importlib.metadata import packages_distributions
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from models.families import register
from models.families.base import LABEL_RETURN, LABEL_UP, Forecaster, prediction_frame


@register
class XGBoost(Forecaster):
    family = "xgboost"

    @property
    def requirements(self) -> tuple[str, ...]:  # type: ignore[override]
        """The distribution that provides ``xgboost`` here (xgboost-cpu in this project's lock);
        looked up only when a model is logged (the scan costs ~0.1 s)."""
        distribution = packages_distributions().get("xgboost", ["xgboost"])[0]
        return (f"{distribution}=={xgb.__version__}",)

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {
            "n_estimators": 300,
            "learning_rate": 0.03,
            "max_depth": 3,
            "min_child_weight": 50.0,
            "subsample": 0.8,
            "colsample_bytree": 0.8,
            "reg_lambda": 10.0,
            "n_jobs": 1,  # tiny trees on ~10k rows: a second thread buys little, contends a lot
        }

    def _models(self) -> tuple[xgb.XGBRegressor, xgb.XGBClassifier]:
        common = {**self.params, "random_state": self.seed, "tree_method": "hist"}
        return (
            xgb.XGBRegressor(objective="reg:squarederror", **common),
            xgb.XGBClassifier(objective="binary:logistic", eval_metric="logloss", **common),
        )

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

    def feature_importance(self) -> dict[str, float]:
        """Gain of each feature in the direction classifier (logged as an artifact)."""
        scores = self.classifier.get_booster().get_score(importance_type="gain")
        return {name: float(scores.get(f"f{i}", 0.0)) for i, name in enumerate(self.features)}

    def _save(self, path: Path) -> None:
        self.regressor.save_model(path / "regressor.ubj")
        self.classifier.save_model(path / "classifier.ubj")

    def _load(self, path: Path) -> None:
        self.regressor, self.classifier = self._models()
        self.regressor.load_model(path / "regressor.ubj")
        self.classifier.load_model(path / "classifier.ubj")
