"""End to end on a BTC-quoted 5m market made here (not the simulator): file import, features,
backtest and a paper replay of the same bars, with the account currency (USDT) conversion
checked against hand-computed figures.

On the code before the account currency, every buy of ETH/BTC was blocked: the 1,000,000
liquidity floor was read in BTC over 24 bars (two hours of 5m bars), and the capital of 10,000
was 10,000 BTC."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from cryptobot.config import Settings
from cryptobot.errors import ConfigError
from cryptobot.features import build_features
from cryptobot.ingest import import_file, refresh_markets
from cryptobot.trading.engine import replay
from cryptobot.warehouse.db import read_connection
from models.backtest import run_model_backtest
from tests.unit.test_ccxt_source import BINANCE, harness

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

N = 400  # 5m bars: 33 hours, more than the 24h liquidity window before the first decision
START = pd.Timestamp("2026-03-02 00:00")
STEP = pd.Timedelta(minutes=5)


def series(close: np.ndarray, volume: float) -> pd.DataFrame:
    open_ = np.concatenate([[close[0]], close[:-1]])
    return pd.DataFrame(
        {
            "timestamp": pd.date_range(START, periods=N, freq="5min").as_unit("ms").asi8,
            "open": open_,
            "high": np.maximum(open_, close) * 1.0005,
            "low": np.minimum(open_, close) * 0.9995,
            "close": close,
            "volume": volume,
        }
    )


def test_btc_quoted_5m_series_backtests_in_usdt(settings: Settings, tmp_path):
    settings = settings.model_copy(
        update={"symbols": ["ETH/BTC"], "timeframes": ["5m"], "exchange": "binance",
                "source": "file"}
    )  # fmt: skip
    i = np.arange(N)
    eth_btc = 0.05 * (1 + 0.002 * np.sin(i / 7.0)) + 0.000002 * i
    btc_usdt = 40_000.0 * (1 + 0.0005 * i)
    made = (("ETH/BTC", series(eth_btc, 200.0)), ("BTC/USDT", series(btc_usdt, 10.0)))
    for symbol, frame in made:
        path = tmp_path / f"{symbol.replace('/', '-')}_5m.csv"
        frame.to_csv(path, index=False)
        if symbol == "ETH/BTC":
            import_file(settings, path, exchange="binance", symbol=symbol, timeframe="5m")
            build_features(settings, log=lambda _: None)
            # Binance's markets, from its recorded exchangeInfo through ccxt's parse
            client = harness(BINANCE, []).source.client
            client.load_markets()
            assert refresh_markets(settings, "binance", client) == 3
            # no BTC/USDT yet: refused at start, naming what to import
            with pytest.raises(ConfigError, match=r"no binance 5m candles of BTC/USDT"):
                run_model_backtest(settings, strategy="buy_and_hold", baselines=False)
        else:
            import_file(settings, path, exchange="binance", symbol=symbol, timeframe="5m")

    decision = 299  # the first decision: the close of bar 299 (after 24h of bars)
    start = START + (decision + 1) * STEP
    costs = {"spread": 0.0, "slippage": 0.0, "impact": 0.0}
    run = run_model_backtest(
        settings, strategy="buy_and_hold", start=start.to_pydatetime(), costs=costs,
        baselines=False,
    )  # fmt: skip
    result = run.main
    assert result.settings["account_currency"] == "USDT"
    assert result.settings["rules_origin"] == {"ETH/BTC": "stored"}
    assert result.metrics["blocked"] == 0

    # by hand: 5% of 10,000 USDT at the decision's close in USDT, on ETH/BTC's 0.0001 steps
    price_usdt = eth_btc[decision] * btc_usdt[decision]
    amount = math.floor(0.05 * 10_000.0 / price_usdt / 1e-4 + 1e-6) * 1e-4
    fill_price = eth_btc[decision]  # the next bar's open (= this close), in BTC, no costs
    fee_btc = 0.001 * amount * fill_price  # Binance's stored taker fee
    rate = btc_usdt[decision]  # BTC/USDT known at the fill bar's open
    cash = 10_000.0 - (amount * fill_price + fee_btc) * rate
    final = cash + amount * eth_btc[-1] * btc_usdt[-1]

    fills = result.fills
    assert len(fills) == 1
    assert fills["amount"].iloc[0] == pytest.approx(amount, rel=1e-12)
    assert fills["price"].iloc[0] == pytest.approx(fill_price, rel=1e-12)
    assert fills["fee"].iloc[0] == pytest.approx(fee_btc, rel=1e-12)
    assert fills["quote_rate"].iloc[0] == pytest.approx(rate, rel=1e-12)
    equity = result.equity
    assert equity["cash"].iloc[-1] == pytest.approx(cash, rel=1e-12)
    assert equity["equity"].iloc[-1] == pytest.approx(final, rel=1e-12)
    assert equity["ts"].iloc[0] == start
    # an explicit --fee wins over the market's stored one
    free = run_model_backtest(
        settings, strategy="buy_and_hold", start=start.to_pydatetime(),
        costs={**costs, "fee": 0.0}, baselines=False,
    ).main  # fmt: skip
    assert free.fills["fee"].iloc[0] == 0.0
    assert free.equity["cash"].iloc[-1] == pytest.approx(cash + fee_btc * rate, rel=1e-12)

    # the paper trading flow, replayed bar by bar over the same window, trades the same in USDT
    paper = settings.model_copy(
        update={"trading": settings.trading.model_copy(
            update={"strategy": "buy_and_hold", **costs}
        )}
    )  # fmt: skip
    end = START + N * STEP  # the last bar's close
    replayed = replay(paper, days=(N - decision) * STEP / pd.Timedelta(days=1), end=end)
    assert replayed.steps == N - decision and replayed.fills == 1
    with read_connection(settings.warehouse) as con:
        trade = con.execute("select amount, price, fee, quote_rate from trades").fetchall()
        last = con.execute(
            "select cash, equity from equity_curve where mode = 'paper' order by ts desc limit 1"
        ).fetchone()
        position = con.execute("select amount, avg_price, last_price from positions").fetchone()
    assert trade == [pytest.approx((amount, fill_price, fee_btc, rate), rel=1e-12)]
    assert last == pytest.approx((cash, final), rel=1e-12)
    # the position in USDT: entry at the BTC price times the rate, marked at the last rate
    assert position == pytest.approx(
        (amount, fill_price * rate, eth_btc[-1] * btc_usdt[-1]), rel=1e-12
    )

    # the report of the last day: money in USDT, the final equity as computed by hand above
    from cryptobot.render import money_text
    from cryptobot.reports.build import build_report

    report = build_report(paper, "daily", "2026-03-03")
    assert "USDT" in report.html
    assert money_text(final) in report.html

    # training on the BTC-quoted series: walk-forward, judged after costs in USDT by the gate
    from models.dataset import Target
    from models.train import train_target

    small = settings.model_copy(
        update={"training": settings.training.model_copy(update={"min_train": 100, "folds": 2})}
    )
    trained = train_target(
        small, Target("binance", "ETH/BTC", "5m", 1), families=["xgboost"], log=lambda _: None
    )
    assert {e.family for e in trained.evaluations} >= {"xgboost", "persistence"}
    assert trained.decision is not None and trained.decision.reasons is not None
