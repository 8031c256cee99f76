"""``random_forest``: scikit-learn random forests on the feature row (see ``tabular.py``).

Leaves hold at least ``min_samples_leaf`` rows: with a signal this small against the noise, a
forest of deep trees memorises the noise. Not in the default families (it trains slower than
XGBoost for a similar edge); ask for it with ``cryptobot train --families random_forest``.
Persisted with joblib (a pickle: load only models this project trained).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import joblib
import sklearn
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

from models.families import register
from models.families.tabular import TabularPair


@register
class RandomForest(TabularPair):
    family = "random_forest"
    requirements = (f"scikit-learn=={sklearn.__version__}", f"joblib=={joblib.__version__}")

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {
            "n_estimators": 150,
            "max_depth": 8,
            "min_samples_leaf": 100,
            "max_features": 0.5,
            "max_samples": 0.7,
            "n_jobs": 1,
        }

    def _models(self) -> tuple[RandomForestRegressor, RandomForestClassifier]:
        common = {**self.params, "random_state": self.seed}
        return RandomForestRegressor(**common), RandomForestClassifier(**common)

    def feature_importance(self) -> dict[str, float]:
        """Impurity decrease of each feature in the direction classifier."""
        scores = self.classifier.feature_importances_
        return {name: float(score) for name, score in zip(self.features, scores, strict=True)}

    def _save(self, path: Path) -> None:
        joblib.dump((self.regressor, self.classifier), path / "forests.joblib", compress=3)

    def _load(self, path: Path) -> None:
        self.regressor, self.classifier = joblib.load(path / "forests.joblib")
