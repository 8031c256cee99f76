"""Time `cryptobot train` and the champion's load and predict: `python benchmarks/bench_train.py`.

1. A fresh temporary data directory gets the demo's market: five symbols x two years of 1h bars
   from the simulator (planted signal 0.1), and its features.
2. ``cryptobot train`` runs as a user would run it (a fresh process: Python, Prefect's temporary
   server, MLflow on SQLite), with the default families (baselines + XGBoost + LSTM) and five
   walk-forward folds. Printed: the wall time, and per family the training seconds MLflow
   recorded (``train_seconds``: every fold fit and forecast, the final fit and the holdout).
3. For one champion, and for an XGBoost and an LSTM version of one target, in fresh processes:
   the seconds from nothing to a loaded pyfunc (imports, registry lookup, artifact copy,
   ``load_context``), split into import and load; loading it again in that process (a
   long-running flow's reload, MLflow's modules already imported); then predicting one row (the
   newest feature rows of the series, as the trading flow would), median of 200 calls.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SYMBOLS = "BTC/USDT,ETH/USDT,SOL/USDT,BNB/USDT,XRP/USDT"
BIN = Path(sys.executable).parent
LOAD = """
import json, statistics, sys, time
started = time.perf_counter()
from models.tracking import load_model
imported = time.perf_counter()
model = load_model(sys.argv[1])
loaded = time.perf_counter()
load_model(sys.argv[1])  # again: what a process with MLflow's store already open pays
reloaded = time.perf_counter() - loaded
from cryptobot.config import load_settings
from models.dataset import Target, read_feature_rows
from models.tracking import model_lookback
columns = model.metadata.get_input_schema().input_names()
name = sys.argv[1].split("/")[1].split("@")[0]
rows = read_feature_rows(load_settings(), Target.from_name(name))
window = rows.iloc[-model_lookback(model):][columns].astype("float64")
model.predict(window)
times = []
for _ in range(200):
    t = time.perf_counter()
    model.predict(window)
    times.append(time.perf_counter() - t)
print(json.dumps({"import": imported - started, "load": loaded - imported, "reload": reloaded,
                  "predict_ms": 1000 * statistics.median(times),
                  "predict_p95_ms": 1000 * sorted(times)[190],
                  "family": model.metadata.metadata["family"]}))
"""


def cli(*args: str, env: dict) -> float:
    started = time.perf_counter()
    subprocess.run([str(BIN / "cryptobot"), *args], env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "CRYPTOBOT_DATA_DIR": tmp,
            "CRYPTOBOT_WAREHOUSE": f"{tmp}/warehouse.duckdb",
        }
        setup = cli(
            "ingest",
            "--source",
            "simulator",
            "--days",
            "730",
            "--signal",
            "0.1",
            "--symbols",
            SYMBOLS,
            env=env,
        )
        setup += cli("features", env=env)
        print(f"set-up (ingest + features, 5 x 730 d x 1h): {setup:.1f} s")
        wall = cli("train", "--symbols", SYMBOLS, env=env)
        print(f"cryptobot train, 5 symbols, baselines + xgboost + lstm, 5 folds: {wall:.1f} s wall")

        os.environ.update(env)
        from cryptobot.config import load_settings
        from models.registry import list_models, model_versions
        from models.tracking import configure

        settings = load_settings()
        client = configure(settings)
        per_family: dict[str, list[float]] = {}
        for experiment in client.search_experiments():
            for run in client.search_runs([experiment.experiment_id]):
                family = run.data.tags.get("cryptobot.family")
                if family and "train_seconds" in run.data.metrics:
                    per_family.setdefault(family, []).append(run.data.metrics["train_seconds"])
        for family, seconds in sorted(per_family.items(), key=lambda kv: -sum(kv[1])):
            print(
                f"  {family:<12} {sum(seconds):6.1f} s over {len(seconds)} targets "
                f"({statistics.mean(seconds):.1f} s per target)"
            )
        models = list_models(settings)
        promoted = [m for m in models if m["champion"]]
        print(f"champions: {len(promoted)} of {len(models)} targets")
        uris = [f"models:/{m['name']}@champion" for m in promoted[:1]]
        first = models[0]["name"]
        for version in model_versions(settings, first):
            if version["family"] in {"xgboost", "lstm"}:
                uris.append(f"models:/{first}/{version['version']}")
        for uri in uris:
            out = (
                subprocess.run(
                    [sys.executable, "-c", LOAD, uri],
                    env=env,
                    check=True,
                    capture_output=True,
                    text=True,
                )
                .stdout.strip()
                .splitlines()[-1]
            )
            r = json.loads(out)
            print(
                f"{uri} ({r['family']}): fresh process import {r['import']:.2f} s + load "
                f"{r['load']:.2f} s = {r['import'] + r['load']:.2f} s; load again in that "
                f"process {r['reload']:.2f} s; predict one row {r['predict_ms']:.1f} ms median, "
                f"{r['predict_p95_ms']:.1f} ms p95"
            )


if __name__ == "__main__":
    main()
