"""A small warehouse and MLflow store for the Streamlit app's tests, built once per process.

Every page has something to show, with known figures:

- BTC/USDT: 60 days of simulated 1h bars with a strong planted sentiment signal, its features
  (dbt), the baselines and XGBoost trained walk-forward (2 folds) into MLflow; then a human
  override gives ``champion`` to the persistence baseline and the gate's XGBoost gets it back,
  so the champion history has both kinds of promotion; the champion predicts the last 48 bars
  and the outcomes are resolved.
- ETH/USDT and SOL/USDT: ``seed_trading``'s 64-bar trading history (exchange ``simulator``),
  with three SOL bars deleted (one gap of 3 bars), two quarantined rows and a failed
  validation of SOL beside a passed one of ETH.
- Backtests (``cryptobot backtest``'s functions, stored by ``store_backtests``): on BTC/USDT
  ``sma_cross``, then the champion's ``long_flat`` run with ``--allow-in-sample`` (IN-SAMPLE),
  then a two-year hourly ETH/USDT run made up by ``stored_backtest`` (capital 5,000: 17,520
  equity marks; its fills on the seeded ETH bars), then the champion's out-of-sample run (the
  newest), each with its legs.

``app_warehouse(tmp_path_factory)`` builds it on first use and returns the same one after, so
the AppTest module and the browser test share the cost (about 25 s, mostly dbt) in one session.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cryptobot.config import Settings, TrainingSettings
from tests.trading_factory import SeededTrading, seed_trading

BTC = "BTC/USDT"
TRADED = ("ETH/USDT", "SOL/USDT")
MODEL = "simulator.BTC-USDT.1h.h1"
PREDICTED_BARS = 48
#: the SOL bars removed to make one gap
GAP = pd.date_range("2025-12-30 05:00", periods=3, freq="1h")


@dataclass(frozen=True)
class AppWarehouse:
    root: Path
    settings: Settings
    seeded: SeededTrading
    #: the registered version numbers: {family: version} of the training, and the override's
    versions: dict[str, str]
    #: the stored backtests, oldest first: name -> [main run id, its legs' ids]
    backtests: dict[str, list[str]] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        """The variables that point the app (in or out of process) at this warehouse."""
        return {
            "CRYPTOBOT_WAREHOUSE": str(self.settings.warehouse),
            "CRYPTOBOT_DATA_DIR": str(self.settings.data_dir),
        }


_BUILT: AppWarehouse | None = None


def _quiet(_: str) -> None:
    return None


def app_warehouse(tmp_path_factory: pytest.TempPathFactory) -> AppWarehouse:
    global _BUILT
    if _BUILT is None:
        _BUILT = _build(tmp_path_factory.mktemp("app_warehouse"))
    return _BUILT


def _build(root: Path) -> AppWarehouse:
    from cryptobot.features import build_features
    from cryptobot.ingest import ingest_simulator
    from cryptobot.warehouse.db import write_connection
    from models.dataset import Target
    from models.predictions import predict_latest, resolve_outcomes
    from models.registry import promote
    from models.train import train_target

    settings = Settings(
        warehouse=root / "warehouse.duckdb",
        data_dir=root / "data",
        training=TrainingSettings(min_train=300, folds=2),
    )
    saved = {
        name: os.environ.pop(name) for name in list(os.environ) if name.startswith("CRYPTOBOT_")
    }
    try:
        ingest_simulator(settings, symbols=[BTC], timeframe="1h", days=60, seed=7, signal=0.5)
        seeded = seed_trading(settings.warehouse, symbols=TRADED, start="2025-12-29", bars=64)
        with write_connection(settings.warehouse) as con:
            con.execute(
                "delete from market_data where symbol = 'SOL/USDT' and list_contains(?, ts)",
                [list(GAP.to_pydatetime())],
            )
            now = pd.Timestamp("2026-01-01 00:30")
            for number, reason in enumerate(["high < low", "high < low"]):
                con.execute(
                    "insert into quarantine values (?, 'market_data', ?, 'simulator', 'SOL/USDT',"
                    " '1h', ?, ?, ?, ?)",
                    [
                        "bad-batch",
                        number,
                        GAP[0] + pd.Timedelta(hours=number),
                        reason,
                        json.dumps({"open": 1, "high": 0.5, "low": 1.5}),
                        now,
                    ],
                )
            for symbol, success, failures, gaps in (
                ("ETH/USDT", True, {}, 0),
                ("SOL/USDT", False, {"gaps": 1}, 1),
            ):
                con.execute(
                    "insert into validation_runs values (?, 'market_data', 'simulator', ?, '1h',"
                    " ?, ?, ?, ?, ?)",
                    [f"v-{symbol}", symbol, 65, success, json.dumps(failures), gaps, now],
                )
        build_features(settings, log=_quiet)
        target = Target("simulator", BTC, "1h", 1)
        result = train_target(settings, target, families=["xgboost"], folds=2, log=_quiet)
        versions = {e.family: str(e.version) for e in result.evaluations}
        assert result.decision is not None and result.decision.promoted, (
            f"the fixture needs XGBoost promoted by the gate: {result.decision}"
        )
        promote(settings, MODEL, versions["persistence"], force=True, reason="app test override",
                by="tester")  # fmt: skip
        promote(settings, MODEL, versions["xgboost"], force=False, reason=None)
        predict_latest(settings, target, bars=PREDICTED_BARS)
        resolve_outcomes(settings)
        backtests = _backtests(settings)
    finally:
        os.environ.update(saved)
    return AppWarehouse(
        root=root, settings=settings, seeded=seeded, versions=versions, backtests=backtests
    )


#: the made-up ETH/USDT backtest: two years of hourly marks ending at the seeded ETH bars
LONG_BARS = 2 * 365 * 24
LONG_CAPITAL = 5_000.0


def _backtests(settings: Settings) -> dict[str, list[str]]:
    from cryptobot.backtest.store import store_backtests
    from cryptobot.warehouse.db import read_connection
    from models.backtest import run_model_backtest

    stored = {}
    for name, options in (
        ("sma_cross", {"strategy": "sma_cross"}),
        ("in_sample", {"allow_in_sample": True}),
    ):
        run = run_model_backtest(settings, symbols=[BTC], **options)
        store_backtests(settings, run.main, run.legs)
        stored[name] = [run.main.run_id, *(leg.run_id for leg in run.legs)]
    with read_connection(settings.warehouse) as con:
        opens = con.execute(
            "select ts, open from market_data where symbol = 'ETH/USDT' order by ts"
        ).df()
    main, legs = stored_backtest(
        settings,
        symbols=("ETH/USDT",),
        end=opens["ts"].iloc[-1],
        bars=LONG_BARS,
        capital=LONG_CAPITAL,
        strategy="sma_cross",
        prices={"ETH/USDT": opens.set_index("ts")["open"]},
    )
    stored["long"] = [main.run_id, *(leg.run_id for leg in legs)]
    run = run_model_backtest(settings, symbols=[BTC])
    store_backtests(settings, run.main, run.legs)
    stored["champion"] = [run.main.run_id, *(leg.run_id for leg in run.legs)]
    return stored


def stored_backtest(
    settings: Settings,
    *,
    symbols: tuple[str, ...],
    end: pd.Timestamp | str,
    bars: int,
    capital: float = 10_000.0,
    strategy: str = "long_flat",
    models: dict[str, str] | None = None,
    in_sample: bool = False,
    is_simulated: bool = True,
    total_return: float = 0.05,
    sharpe: float = 1.25,
    prices: dict[str, pd.Series] | None = None,
    exchange: str = "simulator",
    timeframe: str = "1h",
):
    """A made-up backtest with known figures and a buy_and_hold leg, stored with
    ``store_backtests``; returns (main, legs) as ``BacktestResult``s.

    The main run's equity (hourly marks, the last at ``end``) climbs from ``capital`` to
    ``capital * (1 + total_return)`` with a dip on the way; its metrics are the ones that curve
    has (total return, max drawdown) plus ``sharpe``. Each symbol is bought and sold every 12
    bars over the bars ``prices`` (ts -> open) has inside the window, at those opens (100 when
    none are given: the last 48 bars). The leg returns half as much and never drops."""
    from cryptobot.backtest.engine import BacktestResult, Costs
    from cryptobot.backtest.store import store_backtests

    ts = pd.date_range(end=pd.Timestamp(end), periods=bars, freq="1h")
    step = np.linspace(0, 1, bars)
    costs = Costs.from_settings(settings)

    def result(role: str, label: str, path: np.ndarray, fills: pd.DataFrame) -> BacktestResult:
        equity = capital * path
        peak = np.maximum.accumulate(equity)
        frame = pd.DataFrame(
            {
                "ts": ts, "cash": equity, "positions_value": 0.0, "equity": equity,
                "gross_exposure": 0.0, "peak_equity": peak, "drawdown": 1 - equity / peak,
                "daily_pnl": 0.0,
            }
        )  # fmt: skip
        sells = int((fills["side"] == "sell").sum()) if len(fills) else 0
        metrics = {
            "total_return": float(path[-1] - 1),
            "max_drawdown": float(frame["drawdown"].max()),
            "sharpe": sharpe if role == "strategy" else sharpe / 2,
            "trades": sells,
            "fees": float(fills["fee"].sum()) if len(fills) else 0.0,
        }
        key = json.dumps([role, label, list(symbols), str(end), bars, capital, strategy, sharpe])
        orders = fills[["order_no", "symbol", "side", "amount"]].assign(
            bar_ts=fills["ts"] - pd.Timedelta(hours=1), decided_at=fills["ts"], status="filled"
        )
        return BacktestResult(
            run_id=hashlib.sha256(key.encode()).hexdigest()[:32],
            label=label,
            role=role,
            exchange=exchange,
            timeframe=timeframe,
            symbols=list(symbols),
            strategy=strategy if role == "strategy" else "buy_and_hold",
            capital=capital,
            costs=costs,
            equity=frame,
            orders=orders,
            fills=fills,
            trips=pd.DataFrame(),
            metrics=metrics,
            settings={"made_up": True},
            models=(models or {}) if role == "strategy" else {},
            in_sample=in_sample and role == "strategy",
            is_simulated=is_simulated,
            data_fingerprint=hashlib.sha256(key.encode()).hexdigest(),
            bars=bars,
        )

    rows = []
    for symbol in symbols:
        series = (prices or {}).get(symbol)
        if series is None:
            series = pd.Series(100.0, index=ts[-48:])
        inside = series[(series.index > ts[0]) & (series.index <= ts[-1])]
        for i, (when, price) in enumerate(inside.iloc[::12].items()):
            side = "buy" if i % 2 == 0 else "sell"
            amount = round(500.0 / price, 5)
            rows.append(
                {
                    "symbol": symbol, "ts": when, "side": side, "amount": amount,
                    "price": float(price), "fee": amount * price * 0.001,
                    "reference_price": float(price), "spread_cost": 0.0, "slippage_cost": 0.0,
                }
            )  # fmt: skip
    fills = pd.DataFrame(
        rows,
        columns=["symbol", "ts", "side", "amount", "price", "fee", "reference_price",
                 "spread_cost", "slippage_cost"],
    )  # fmt: skip
    fills.insert(0, "order_no", np.arange(len(fills), dtype="int32"))
    dip = 0.03 * np.sin(np.pi * step) * np.sin(6 * np.pi * step)
    main = result("strategy", strategy, 1 + total_return * step - dip, fills)
    hold = result("buy_and_hold", "buy_and_hold", 1 + total_return / 2 * step, fills.iloc[:0])
    store_backtests(settings, main, [hold])
    return main, [hold]
