"""The contract every model family implements, so training, MLflow and trading never branch on it.

A family is one module under ``models/families/`` holding a ``Forecaster`` subclass decorated with
``@register``. Training gives it a frame of consecutive rows of ONE series (oldest first) with the
feature columns and the labels; it answers, for every row, a forecast of the log return over the
label horizon (``pred_return``) and the probability that this return is positive (``prob_up``).
Adding a family (attention, Transformer, TCN, N-BEATS, random forest, an ensemble, an RL policy)
is one new module: subclass, register, add its name to ``FAMILY_MODULES`` in ``__init__``.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

#: label columns the dataset provides (see models.dataset)
LABEL_RETURN = "label_return"  # log return from this bar's close to the close `horizon` bars later
LABEL_UP = "label_up"  # label_return > 0
#: prediction columns every family returns
PREDICTION_COLUMNS = ("pred_return", "prob_up")


class Forecaster(ABC):
    """One trained (or trainable) model of one family for one series.

    Subclasses set ``family`` and implement ``fit``, ``predict_frame``, ``_save`` and ``_load``.
    ``lookback`` is how many rows of history ``predict`` needs before the first row it can answer
    for (1 for a tabular model); rows without enough history get NaN.
    """

    family: ClassVar[str]
    is_baseline: ClassVar[bool] = False
    #: pip requirements of the saved model beyond numpy/pandas/mlflow (given to MLflow explicitly)
    requirements: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *, seed: int = 42, horizon: int = 1, **params: Any) -> None:
        self.seed = int(seed)
        self.horizon = int(horizon)
        self.params: dict[str, Any] = {**self.default_params(), **params}
        unknown = set(params) - set(self.default_params())
        if unknown:
            raise ValueError(
                f"family {self.family!r} has no parameter(s) {sorted(unknown)}; "
                f"it accepts {sorted(self.default_params())}"
            )
        self.features: list[str] = []

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        """Hyper-parameters and their defaults (logged to MLflow as params)."""
        return {}

    @property
    def lookback(self) -> int:
        return 1

    @abstractmethod
    def fit(self, train: pd.DataFrame, features: list[str]) -> None:
        """Fit on ``train``: consecutive rows with ``features``, ``LABEL_RETURN`` and ``LABEL_UP``
        (never null), oldest first. Must be deterministic for a given ``seed``."""

    @abstractmethod
    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Forecasts for every row of ``frame`` (consecutive rows, oldest first): a frame with the
        columns ``pred_return`` and ``prob_up`` on ``frame``'s index; NaN where history is short."""

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        missing = [name for name in self.features if name not in frame.columns]
        if missing:
            raise ValueError(
                f"{self.family} model expects feature column(s) {missing}, not in the input "
                f"(got {list(frame.columns)})"
            )
        out = self.predict_frame(frame)
        if list(out.columns) != list(PREDICTION_COLUMNS) or not out.index.equals(frame.index):
            raise RuntimeError(f"{self.family}.predict_frame broke the prediction contract")
        out["prob_up"] = out["prob_up"].clip(0.0, 1.0)
        return out

    # -- persistence: a directory holding meta.json + whatever the family writes --------------
    def save(self, path: Path) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        meta = {
            "family": self.family,
            "seed": self.seed,
            "horizon": self.horizon,
            "params": self.params,
            "features": self.features,
        }
        (path / "meta.json").write_text(json.dumps(meta, indent=2, default=str))
        self._save(path)

    @classmethod
    def load(cls, path: Path) -> Forecaster:
        path = Path(path)
        meta = json.loads((path / "meta.json").read_text())
        if meta["family"] != cls.family:
            raise ValueError(f"{path} holds a {meta['family']} model, not {cls.family}")
        model = cls(seed=meta["seed"], horizon=meta["horizon"], **meta["params"])
        model.features = list(meta["features"])
        model._load(path)
        return model

    def _save(self, path: Path) -> None:  # noqa: B027 - optional hook
        """Write the fitted state into ``path`` (families with no state need nothing)."""

    def _load(self, path: Path) -> None:  # noqa: B027 - optional hook
        """Read back what ``_save`` wrote."""


def prediction_frame(index: pd.Index, pred_return: Any, prob_up: Any) -> pd.DataFrame:
    """The frame ``predict_frame`` returns, with float64 columns."""
    return pd.DataFrame(
        {
            "pred_return": np.asarray(pred_return, dtype="float64")
            * np.ones(len(index), dtype="float64"),
            "prob_up": np.asarray(prob_up, dtype="float64") * np.ones(len(index), dtype="float64"),
        },
        index=index,
    )
