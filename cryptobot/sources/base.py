"""What every market-data source hands to the ingest pipeline.

A source yields pandas frames of candles in one layout (``OHLCV_COLUMNS``):

- ``ts``: the bar's open time, ``datetime64`` without a time zone, in UTC;
- ``open``, ``high``, ``low``, ``close``, ``volume``: float64.

Rows are sorted by ``ts`` and contain only *closed* bars. The pipeline adds exchange, symbol,
timeframe, source, fetched_at, available_at and the batch id, runs the quality gate and upserts.
Sources never touch the warehouse.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

OHLCV_COLUMNS = ["ts", "open", "high", "low", "close", "volume"]
SENTIMENT_COLUMNS = ["symbol", "ts", "value", "available_at"]

#: provenance labels stored in ``market_data.source`` / ``sentiment.source``
SOURCE_SIMULATED = "simulated"
SOURCE_CCXT = "ccxt"
SOURCE_FILE = "file"


@dataclass(frozen=True)
class MarketBatch:
    """Candles for one series (exchange, symbol, timeframe) from one fetch."""

    exchange: str
    symbol: str
    timeframe: str
    source: str
    candles: pd.DataFrame  # OHLCV_COLUMNS

    def __len__(self) -> int:
        return len(self.candles)


@dataclass(frozen=True)
class SentimentBatch:
    """Sentiment values, one row per (symbol, ts); ``available_at`` is when it could be known."""

    source: str
    frame: pd.DataFrame  # SENTIMENT_COLUMNS

    def __len__(self) -> int:
        return len(self.frame)


def empty_ohlcv() -> pd.DataFrame:
    frame = pd.DataFrame({column: pd.Series(dtype="float64") for column in OHLCV_COLUMNS})
    frame["ts"] = pd.Series(dtype="datetime64[ms]")
    return frame[OHLCV_COLUMNS]
