"""``xgboost``: gradient-boosted trees on the feature row (see ``tabular.py`` for the shape).

The defaults are deliberately shallow and slow-learning: on returns the signal is small against
the noise, and a deep, fast booster fits the noise.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import xgboost as xgb

from models.families import register
from models.families.tabular import TabularPair


def _distribution() -> str:
    """The distribution that provides ``xgboost`` here: xgboost-cpu in this project's lock."""
    for name in ("xgboost-cpu", "xgboost"):
        try:
            version(name)
            return name
        except PackageNotFoundError:
            continue
    return "xgboost"


@register
class XGBoost(TabularPair):
    family = "xgboost"
    requirements = (f"{_distribution()}=={xgb.__version__}",)

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
