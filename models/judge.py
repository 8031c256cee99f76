"""What trading a model's predictions earns: the execution core's backtest, for training.

Training scores every family's out-of-sample predictions (each fold's test block, the folds in
a row, the holdout) by trading them exactly as ``cryptobot trade`` would: the configured
strategy, sizing and risk limits, filled at the next bar's open with fee, spread, slippage and
impact (:func:`cryptobot.backtest.engine.run_backtest`). So the numbers training prints, the
gate judges and ``cryptobot backtest`` reports are one yardstick (ARCHITECTURE rule 8), and a
model whose calls are right close to close but lose money once entered at the next open with
costs shows it.
"""

from __future__ import annotations

import math

import pandas as pd

from cryptobot.backtest.engine import BacktestResult, periods_per_year, run_backtest
from cryptobot.config import Settings
from cryptobot.timeframes import timeframe_seconds
from cryptobot.trading.strategies import strategy_from_settings
from models.dataset import Dataset
from models.tracking import forecast_output


class Judge:
    """Backtests of one target's predictions through the execution core."""

    def __init__(self, settings: Settings, dataset: Dataset) -> None:
        target = dataset.target
        self.settings = settings
        self.target = target
        self.rows = {target.symbol: dataset.rows if dataset.rows is not None else dataset.frame}
        self.strategy = strategy_from_settings(settings)
        self.bar = pd.Timedelta(seconds=timeframe_seconds(target.timeframe))
        self.scale = math.sqrt(periods_per_year(target.timeframe))

    def _run(self, predictions: pd.DataFrame | None, strategy, start, end) -> BacktestResult:
        target = self.target
        answers = None
        if predictions is not None:
            answers = {
                target.symbol: forecast_output(
                    predictions.set_index("ts")[["pred_return", "prob_up"]]
                ).reset_index()
            }
        result = run_backtest(
            self.settings,
            exchange=target.exchange,
            timeframe=target.timeframe,
            symbols=[target.symbol],
            strategy=strategy,
            rows=self.rows,
            predictions=answers,
            start=start,
            end=end,
        )
        result.metrics["sharpe_bar"] = (
            result.metrics["sharpe"] / self.scale
            if math.isfinite(result.metrics["sharpe"])
            else math.nan
        )
        return result

    def __call__(self, predictions: pd.DataFrame) -> BacktestResult:
        """Trade ``predictions`` (``ts``, ``pred_return``, ``prob_up``; NaN where the model had
        no answer) over the decisions at the closes of their first to their last bar."""
        start, end = self.window(predictions)
        return self._run(predictions, self.strategy, start, end)

    def buy_and_hold(self, predictions: pd.DataFrame) -> BacktestResult:
        """Buying the symbol at the first decision of that window and holding it, at the same
        position size and costs."""
        start, end = self.window(predictions)
        return self._run(None, strategy_from_settings(self.settings, "buy_and_hold"), start, end)

    def window(self, predictions: pd.DataFrame) -> tuple[pd.Timestamp, pd.Timestamp]:
        ts = predictions["ts"]
        return ts.min() + self.bar, ts.max() + self.bar
