"""The ``lstm`` family: it learns a planted relation, never looks ahead, is deterministic, saves
and loads, answers one row from ``lookback`` rows, and its fast torch path equals darts' predict.

Models are tiny (few rows, small nets, few epochs) so the file runs in well under a minute.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.families import get_family
from models.families import lstm as lstm_module
from models.families.base import LABEL_RETURN, LABEL_UP
from models.families.lstm import TARGET, Lstm

FEATURES = ["feature_x", "noise_a", "log_return_1"]
SMALL = {"input_chunk_length": 12, "training_length": 24, "hidden_dim": 8, "batch_size": 64}


def planted_frame(n: int, *, horizon: int = 1, seed: int = 0) -> pd.DataFrame:
    """Bars whose next return is 0.5 * feature_x[t] + noise (as the dataset: log_return_1 is the
    bar's own return, label_return the sum of the next ``horizon`` bar returns)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    r = np.empty(n)
    r[0] = rng.normal(0, 0.5)
    r[1:] = 0.5 * x[:-1] + rng.normal(0, 0.5, n - 1)
    frame = pd.DataFrame(
        {"feature_x": x, "noise_a": rng.normal(size=n), "log_return_1": r * 0.01},
        index=pd.RangeIndex(1000, 1000 + n),
    )
    frame[LABEL_RETURN] = frame[TARGET][::-1].rolling(horizon).sum()[::-1].shift(-1)
    frame[LABEL_UP] = frame[LABEL_RETURN] > 0
    return frame


def fitted(frame: pd.DataFrame, *, horizon: int = 1, seed: int = 7, **params) -> Lstm:
    model = Lstm(seed=seed, horizon=horizon, **{**SMALL, **params})
    model.fit(frame.dropna(), FEATURES)
    return model


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return planted_frame(3000)


@pytest.fixture(scope="module")
def model(data: pd.DataFrame) -> Lstm:
    return fitted(data.iloc[:2000], n_epochs=6, learning_rate=3e-3)


@pytest.fixture(scope="module")
def model_h3() -> Lstm:
    return fitted(planted_frame(800, horizon=3), horizon=3, n_epochs=1)


def test_family_is_registered() -> None:
    assert get_family("lstm") is Lstm
    assert Lstm.family == "lstm"
    assert any(req.startswith("darts==") for req in Lstm.requirements)
    assert any(req.startswith("torch==") for req in Lstm.requirements)


def test_learns_a_planted_relation(model: Lstm, data: pd.DataFrame) -> None:
    out = model.predict(data.iloc[2000 - model.lookback : -1]).iloc[model.lookback :]
    actual = data.loc[out.index, LABEL_RETURN]
    assert np.corrcoef(out["pred_return"], actual)[0, 1] > 0.3
    assert ((out["prob_up"] > 0.5) == (actual > 0)).mean() > 0.55


def test_short_history_is_nan_the_rest_finite(model: Lstm, data: pd.DataFrame) -> None:
    frame = data.iloc[2000:2100].copy()
    frame.iloc[60, frame.columns.get_loc("noise_a")] = np.nan  # filled with the training mean
    out = model.predict(frame)
    assert model.lookback == SMALL["input_chunk_length"]
    assert out.iloc[: model.lookback - 1].isna().all().all()
    rest = out.iloc[model.lookback - 1 :]
    assert np.isfinite(rest.to_numpy()).all()
    assert rest["prob_up"].between(0.0, 1.0).all()
    assert model.predict(frame.iloc[: model.lookback - 1]).isna().all().all()
    assert model.features == FEATURES


def test_long_frames_are_predicted_in_batches(
    model_h3: Lstm, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = planted_frame(100, horizon=3, seed=2)
    whole = model_h3.predict(frame)
    monkeypatch.setattr(lstm_module, "PREDICT_BATCH", 7)
    np.testing.assert_allclose(model_h3.predict(frame), whole, rtol=0, atol=1e-6)


@pytest.mark.parametrize("which", ["model", "model_h3"])
def test_no_look_ahead(which: str, request: pytest.FixtureRequest) -> None:
    model: Lstm = request.getfixturevalue(which)
    frame = planted_frame(300, horizon=model.horizon, seed=11)
    before = model.predict(frame)
    rng = np.random.default_rng(5)
    cut = 150
    altered = frame.copy()
    for column in [*FEATURES, LABEL_RETURN]:
        altered.iloc[cut + 1 :, altered.columns.get_loc(column)] = rng.normal(
            size=len(frame) - cut - 1
        )
    after = model.predict(altered)
    np.testing.assert_allclose(
        after.iloc[: cut + 1].to_numpy(), before.iloc[: cut + 1].to_numpy(), rtol=0, atol=1e-6
    )
    assert not np.allclose(after.iloc[cut + 1 :].to_numpy(), before.iloc[cut + 1 :].to_numpy())


def test_deterministic_for_a_seed() -> None:
    frame = planted_frame(600, seed=3)
    a = fitted(frame.iloc[:500], seed=1, n_epochs=1).predict(frame.iloc[400:])
    b = fitted(frame.iloc[:500], seed=1, n_epochs=1).predict(frame.iloc[400:])
    pd.testing.assert_frame_equal(a, b)
    assert not Path("darts_logs").exists()  # tests run in a fresh cwd (conftest)


@pytest.mark.parametrize("which", ["model", "model_h3"])
def test_save_load_round_trip_and_lookback(
    which: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    model: Lstm = request.getfixturevalue(which)
    frame = planted_frame(200, horizon=model.horizon, seed=4)
    model.save(tmp_path / "lstm")
    loaded = Lstm.load(tmp_path / "lstm")
    assert isinstance(loaded, Lstm) and loaded.params == model.params
    full = model.predict(frame)
    pd.testing.assert_frame_equal(loaded.predict(frame), full)
    loaded.save(tmp_path / "again")  # a loaded model saves again, darts model included
    assert (tmp_path / "again" / "rnn.pt").exists()
    pd.testing.assert_frame_equal(Lstm.load(tmp_path / "again").predict(frame), full)
    newest = loaded.predict(frame.iloc[-loaded.lookback :])
    assert newest.iloc[:-1].isna().all().all()
    np.testing.assert_allclose(newest.iloc[-1], full.iloc[-1], rtol=0, atol=1e-6)


def _phi(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


#: darts' Lightning predict path warns about pin_memory, a deprecated pytree API and hparams
darts_warnings = pytest.mark.filterwarnings("ignore::UserWarning", "ignore:.*LeafSpec")


@darts_warnings
def test_fast_path_equals_darts_predict(model: Lstm, data: pd.DataFrame, tmp_path: Path) -> None:
    """h = 1: darts' predictive mean and std (predict_likelihood_parameters) for several rows, on
    the darts model read back from the saved rnn.pt."""
    model.save(tmp_path / "lstm")
    loaded = Lstm.load(tmp_path / "lstm")
    darts_model = loaded.darts_model()
    frame = data.iloc[2000:2200]
    ours = loaded.predict(frame)
    s = loaded.stats
    for row in (loaded.lookback, 50, 123, 199):
        series, covariates = loaded.darts_inputs(frame.iloc[: row + 1])
        params = darts_model.predict(
            n=1,
            series=series,
            future_covariates=covariates,
            predict_likelihood_parameters=True,
            verbose=False,
        ).values()[0]
        mu = s["target_mean"] + s["target_std"] * params[0]
        sigma = s["target_std"] * params[1]
        assert ours["pred_return"].iloc[row] == pytest.approx(mu, rel=1e-5, abs=1e-9)
        assert ours["prob_up"].iloc[row] == pytest.approx(_phi(mu / sigma), abs=1e-5)


@darts_warnings
def test_fast_path_equals_darts_roll_out(model_h3: Lstm, monkeypatch: pytest.MonkeyPatch) -> None:
    """h = 3: darts' recurrent roll-out, fed the mean instead of a sample, sums to our forecast."""
    darts_model = model_h3.darts_model()
    likelihood = darts_model.model.likelihood
    monkeypatch.setattr(likelihood, "sample", lambda output: output[:, :, :, 0])
    frame = planted_frame(120, horizon=3, seed=9)
    ours = model_h3.predict(frame)["pred_return"]
    s = model_h3.stats
    for row in (model_h3.lookback, 40, 119):
        series, covariates = model_h3.darts_inputs(frame.iloc[: row + 1])
        means = darts_model.predict(
            n=3, series=series, future_covariates=covariates, num_samples=1, verbose=False
        ).values()[:, 0]
        expected = 3 * s["target_mean"] + s["target_std"] * means.sum()
        assert ours.iloc[row] == pytest.approx(expected, rel=1e-5, abs=1e-9)
