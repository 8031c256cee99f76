"""``lstm``: a darts ``RNNModel(model="LSTM")`` on the bar log return, features as past covariates.

Target
    The bar log return ``log_return_1`` (the differenced log close: the close series made
    stationary), standardised with the mean and std of the training rows. The net forecasts the
    next bars' returns one step at a time; the forecast of ``label_return`` (the log return over
    the next ``h = horizon`` bars) is the sum of the ``h`` one-step forecasts, in original units.

Covariates: why ``RNNModel`` with shifted future covariates is a past-covariates model
    darts' ``RNNModel`` is a dual-covariates model: it accepts only ``future_covariates``, and its
    output for step ``s`` (the forecast of ``y[s]`` from ``y[..s-1]``) is computed from the
    covariate value *at step s*, which for a feature would be a look at the future. So the
    covariate series is the standardised features shifted forward by ``h`` bars: at step ``s`` it
    holds the features of row ``s - h``. Forecasting rows ``t+1 .. t+h`` from row ``t`` then reads
    the features of rows ``t+1-h .. t`` only, all known at ``t``: in effect past covariates. The
    features are standardised with training-row statistics (stored with the model); NaN features
    (and a NaN ``log_return_1``) in rows given to ``predict`` become 0 after standardising, i.e.
    the training mean. The time index is a RangeIndex (row numbers), so calendar gaps between the
    consecutive rows of the series do not matter.

Probability
    The net is trained with darts' ``GaussianLikelihood``: per step it outputs a mean ``mu`` and a
    std ``sigma`` (softplus) of the standardised return. ``prob_up = Phi(mu_sum / sigma_sum)`` with
    ``mu_sum`` the sum of the ``h`` means and ``sigma_sum = sqrt(sum of the h variances)``. For
    ``h = 1`` this is the net's own predictive distribution. For ``h > 1`` it is an approximation:
    steps 2..h are fed the previous step's *mean* (not samples), so the spread that the earlier
    steps' uncertainty adds through the recurrence, and the correlation between steps, are ignored.

The price of past-only covariates for ``h > 1``
    One net serves every step, so it learns one relation: the features of row ``s - h`` against
    the return of bar ``s``. A feature that moves the next bar only (lag 1) is then invisible when
    ``h > 1``; what the net can use is the features' relation to the return ``h`` bars later, plus
    the return history it is fed. For ``h = 1`` (the default target) nothing is lost.

Prediction path
    Training goes through darts (data windows, Lightning loop, seeding). Prediction runs the fitted
    LSTM + linear head as a plain torch module over all sliding windows of a frame in one batch,
    under ``torch.no_grad()``, with exactly darts' input layout (target first, then covariates,
    the covariates one step ahead of the target: see ``_RNNModule.forward``) and darts' recurrent
    roll-out for ``h > 1`` (hidden state carried, the previous mean fed back). Darts' Lightning
    ``predict`` costs ~0.1 s per call and ``historical_forecasts`` more; this path answers a
    3,000-row fold in 15-40 ms and one row in ~1 ms. Tests check it against darts' own
    ``predict``. The saved model holds the darts model (``rnn.pt``, loadable with
    ``RNNModel.load``) and the torch weights (``net.pt``); ``load`` reads only the latter, so a
    pyfunc neither imports darts (~3 s) nor builds a Lightning trainer.

The prediction at row ``t`` uses rows ``t - lookback + 1 .. t`` only; rows with less history get
NaN. ``lookback = input_chunk_length + h - 1``: the target window is the last
``input_chunk_length`` rows, and the covariates (shifted by ``h``) reach ``h - 1`` rows further
back.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from models.families import register
from models.families.base import Forecaster, prediction_frame

#: the target series: the bar log return (see models.dataset)
TARGET = "log_return_1"
_LIGHTNING_LOGGERS = ("lightning.pytorch", "pytorch_lightning", "lightning.fabric", "lightning")
#: torch threads while fitting and predicting: the net is tiny, so more threads only add OpenMP
#: barriers, which spin for seconds when another process holds a core (measured: a fit on a busy
#: 2-core machine took 8-17 s with 2 threads, 4-5 s with 1); one thread is also reproducible
TORCH_THREADS = 1
#: rows whose windows predict runs through the net at once
PREDICT_BATCH = 8192


@contextmanager
def _torch_threads(n: int = TORCH_THREADS) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _quiet_lightning() -> None:
    for name in _LIGHTNING_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


class _Net(nn.Module):
    """darts' ``_RNNModule`` without Lightning: the LSTM and the linear head (mu, raw sigma)."""

    def __init__(self, input_size: int, hidden_dim: int, num_layers: int, dropout: float) -> None:
        super().__init__()
        self.rnn = nn.LSTM(input_size, hidden_dim, num_layers, batch_first=True, dropout=dropout)
        self.V = nn.Linear(hidden_dim, 2)  # one target x GaussianLikelihood's two parameters

    def gaussian(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, ...]:
        """Mean and std of the standardised return after the last step of ``x`` (batch, time,
        features), and the hidden state."""
        out, state = self.rnn(x, state)
        params = self.V(out[:, -1])
        return params[:, 0], nn.functional.softplus(params[:, 1]), state


@register
class Lstm(Forecaster):
    family = "lstm"
    requirements = (f"darts=={version('darts')}", f"torch=={version('torch').split('+')[0]}")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.covariates: list[str] = []
        self.stats: dict[str, Any] = {}
        self.net: _Net | None = None
        self._darts_model: Any = None  # the darts RNNModel, after fit or darts_model()
        self._path: Path | None = None  # where load read the model from

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {
            "input_chunk_length": 24,
            "hidden_dim": 16,
            "n_rnn_layers": 1,
            "dropout": 0.0,
            "training_length": 48,
            "batch_size": 256,
            "n_epochs": 5,
            "learning_rate": 1e-3,
        }

    @property
    def lookback(self) -> int:
        return int(self.params["input_chunk_length"]) + self.horizon - 1

    # -- training -------------------------------------------------------------------------------
    def fit(self, train: pd.DataFrame, features: list[str]) -> None:
        from darts.models import RNNModel
        from darts.utils.likelihood_models import GaussianLikelihood

        _quiet_lightning()
        p = self.params
        self.covariates = list(features)
        self.features = [*self.covariates, *([TARGET] if TARGET not in self.covariates else [])]
        y = train[TARGET].to_numpy(dtype="float64")
        x = train[self.covariates].to_numpy(dtype="float64")
        if not (np.isfinite(y).all() and np.isfinite(x).all()):
            raise ValueError(f"lstm.fit needs finite {TARGET} and features on every training row")
        x_std = x.std(axis=0)
        self.stats = {
            "target_mean": float(y.mean()),
            "target_std": float(y.std()) or 1.0,
            "feature_mean": x.mean(axis=0).tolist(),
            "feature_std": np.where(x_std > 0, x_std, 1.0).tolist(),
        }
        series, covariates = self._series(*self._standardise(train))
        with tempfile.TemporaryDirectory(prefix="cryptobot-lstm-") as work_dir:
            model = RNNModel(
                model="LSTM",
                input_chunk_length=int(p["input_chunk_length"]),
                hidden_dim=int(p["hidden_dim"]),
                n_rnn_layers=int(p["n_rnn_layers"]),
                dropout=float(p["dropout"]),
                training_length=int(p["training_length"]),
                batch_size=int(p["batch_size"]),
                n_epochs=int(p["n_epochs"]),
                optimizer_kwargs={"lr": float(p["learning_rate"])},
                likelihood=GaussianLikelihood(),
                random_state=self.seed,
                save_checkpoints=False,
                force_reset=True,
                model_name="lstm",
                work_dir=work_dir,
                pl_trainer_kwargs={
                    "accelerator": "cpu",
                    "enable_progress_bar": False,
                    "enable_model_summary": False,
                    "logger": False,
                    "enable_checkpointing": False,
                },
            )
            with warnings.catch_warnings(), _torch_threads():
                warnings.filterwarnings("ignore", module="lightning")
                warnings.filterwarnings("ignore", module="pytorch_lightning")
                model.fit(
                    series,
                    future_covariates=covariates,
                    verbose=False,
                    dataloader_kwargs={"pin_memory": False},
                )
        self._darts_model = model
        self.net = self._net_from(model)

    def _standardise(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Standardised target and features of ``frame`` (float32; NaN -> 0, the training mean)."""
        s = self.stats
        y = (frame[TARGET].to_numpy(dtype="float64") - s["target_mean"]) / s["target_std"]
        x = frame[self.covariates].to_numpy(dtype="float64")
        x = (x - np.asarray(s["feature_mean"])) / np.asarray(s["feature_std"])
        return (
            np.nan_to_num(y, nan=0.0).astype("float32"),
            np.nan_to_num(x, nan=0.0).astype("float32"),
        )

    def _series(self, y: np.ndarray, x: np.ndarray) -> tuple[Any, Any]:
        """darts series on a RangeIndex (step = row number): the covariates at step s holding the
        features of row s - h (steps h .. n-1+h); the target from row h on, as darts also reads
        the covariates at the steps of a training window's input."""
        from darts import TimeSeries

        n, h = len(y), self.horizon
        series = TimeSeries.from_times_and_values(pd.RangeIndex(h, n), y[h:].reshape(-1, 1))
        covariates = TimeSeries.from_times_and_values(pd.RangeIndex(h, n + h), x)
        return series, covariates

    def _net_from(self, model: Any) -> _Net:
        p = self.params
        net = _Net(
            1 + len(self.covariates), int(p["hidden_dim"]), int(p["n_rnn_layers"]), p["dropout"]
        )
        state = {
            key: value
            for key, value in model.model.state_dict().items()
            if key.startswith(("rnn.", "V."))
        }
        net.load_state_dict(state)
        return net.float().eval()

    # -- prediction -----------------------------------------------------------------------------
    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self.net is None:
            raise RuntimeError("lstm model is not fitted")
        n, h, length = len(frame), self.horizon, int(self.params["input_chunk_length"])
        first = self.lookback - 1  # the first row with enough history
        pred = np.full(n, np.nan)
        prob = np.full(n, np.nan)
        if n > first:
            y, x = self._standardise(frame)
            mu, var = self._gaussian_sums(y, x, np.arange(first, n), length)
            s = self.stats
            pred[first:] = h * s["target_mean"] + s["target_std"] * mu
            sigma = s["target_std"] * np.sqrt(var)
            z = pred[first:] / sigma
            prob[first:] = 0.5 * (1.0 + _erf(z / math.sqrt(2.0)))
        return prediction_frame(frame.index, pred, prob)

    def _gaussian_sums(
        self, y: np.ndarray, x: np.ndarray, rows: np.ndarray, length: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Sum over the ``h`` steps after each of ``rows`` of the standardised means, and of the
        variances. The input at window position i (row r = t - length + 1 + i) is the target of
        row r and the covariate of step r + 1, i.e. the features of row r + 1 - h."""
        if len(rows) > PREDICT_BATCH:  # bound the memory of the window tensor
            parts = [
                self._gaussian_sums(y, x, rows[start : start + PREDICT_BATCH], length)
                for start in range(0, len(rows), PREDICT_BATCH)
            ]
            return np.concatenate([m for m, _ in parts]), np.concatenate([v for _, v in parts])
        h = self.horizon
        target_rows = rows[:, None] + np.arange(-length + 1, 1)  # each row's window
        feature_rows = target_rows + 1 - h
        inputs = np.concatenate([y[target_rows][..., None], x[feature_rows]], axis=2)
        mu_sum = np.zeros(len(rows))
        var_sum = np.zeros(len(rows))
        with torch.no_grad(), _torch_threads():
            mu, sigma, state = self.net.gaussian(torch.from_numpy(inputs))
            for step in range(1, h + 1):
                mu_sum += mu.double().numpy()
                var_sum += sigma.double().numpy() ** 2
                if step == h:
                    break
                # step s + 1 is fed step s's mean; its covariate: the features of row t + s + 1 - h
                nxt = torch.cat([mu[:, None], torch.from_numpy(x[rows + step + 1 - h])], dim=1)
                mu, sigma, state = self.net.gaussian(nxt[:, None, :], state)
        return mu_sum, var_sum

    # -- darts access, for checks ---------------------------------------------------------------
    def darts_model(self) -> Any:
        """The fitted darts ``RNNModel`` (read from the saved ``rnn.pt`` after ``load``)."""
        if self._darts_model is None:
            if self._path is None:
                raise RuntimeError("lstm model is not fitted")
            from darts.models import RNNModel

            _quiet_lightning()
            self._darts_model = RNNModel.load(str(self._path / "rnn.pt"), map_location="cpu")
        return self._darts_model

    def darts_inputs(self, frame: pd.DataFrame) -> tuple[Any, Any]:
        """``frame`` as the (target, covariates) series the darts model takes."""
        return self._series(*self._standardise(frame))

    # -- persistence ----------------------------------------------------------------------------
    def _save(self, path: Path) -> None:
        if self.net is None:
            raise RuntimeError("lstm model is not fitted")
        state = {"covariates": self.covariates, **self.stats}
        (path / "state.json").write_text(json.dumps(state, indent=2))
        torch.save(self.net.state_dict(), path / "net.pt")
        if self._darts_model is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._darts_model.save(str(path / "rnn.pt"), clean=True)
        elif self._path is not None and self._path.resolve() != path.resolve():
            for name in ("rnn.pt", "rnn.pt.ckpt"):  # a loaded model, saved again
                shutil.copyfile(self._path / name, path / name)

    def _load(self, path: Path) -> None:
        state = json.loads((path / "state.json").read_text())
        self.covariates = list(state.pop("covariates"))
        self.stats = state
        p = self.params
        net = _Net(
            1 + len(self.covariates), int(p["hidden_dim"]), int(p["n_rnn_layers"]), p["dropout"]
        )
        net.load_state_dict(torch.load(path / "net.pt", map_location="cpu", weights_only=True))
        self.net = net.float().eval()
        self._path = path


def _erf(z: np.ndarray) -> np.ndarray:
    return torch.special.erf(torch.from_numpy(np.asarray(z, dtype="float64"))).numpy()
