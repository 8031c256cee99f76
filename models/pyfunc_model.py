"""The MLflow pyfunc every cryptobot model is logged as (MLflow "models from code").

MLflow copies this file into each logged model and runs it at load time; it needs the
``cryptobot`` project installed (the forecaster families live in ``models.families``).

Input: consecutive feature rows of one series, oldest first (a model whose metadata says
``lookback`` > 1 needs that many rows to answer for the newest). Output, one row per input row:
``pred_return`` (log return over the horizon), ``prob_up``, ``direction`` (1 up, 0 down, i.e.
prob_up > 0.5) and ``confidence`` (the called direction's probability).
"""

from __future__ import annotations

import json
from pathlib import Path

import mlflow.pyfunc
import pandas as pd
from mlflow.models import set_model

from models.families import get_family
from models.tracking import forecast_output


class ForecasterModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        path = Path(context.artifacts["forecaster"])
        meta = json.loads((path / "meta.json").read_text())
        self.forecaster = get_family(meta["family"]).load(path)

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return forecast_output(self.forecaster.predict(pd.DataFrame(model_input)))


set_model(ForecasterModel())
