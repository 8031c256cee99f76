"""Market: candlesticks with Bollinger bands, RSI and MACD, for one series and range."""

from __future__ import annotations

import streamlit as st

from app import charts, data, ui

RANGES = {"7 days": 7, "30 days": 30, "90 days": 90, "1 year": 365, "All": None}

st.title("Market")
settings = ui.settings()
wh = ui.warehouse(settings)
series = data.market_series(wh)
if series.empty:
    ui.empty("No market data yet", "cryptobot ingest")
    st.stop()

exchanges = list(dict.fromkeys(series["exchange"]))
cols = st.columns([1, 1, 1, 2])
exchange = cols[0].selectbox(
    "Exchange",
    exchanges,
    index=exchanges.index(settings.market_exchange) if settings.market_exchange in exchanges else 0,
    key="market_exchange",
)
on_exchange = series[series["exchange"] == exchange]
symbols = list(dict.fromkeys(on_exchange["symbol"]))
preferred = [s for s in settings.symbols if s in symbols]
symbol = cols[1].selectbox(
    "Symbol",
    symbols,
    index=symbols.index(preferred[0]) if preferred else 0,
    key="market_symbol",
)
timeframes = list(on_exchange.loc[on_exchange["symbol"] == symbol, "timeframe"])
timeframe = cols[2].selectbox(
    "Timeframe",
    timeframes,
    index=timeframes.index(settings.timeframes[0]) if settings.timeframes[0] in timeframes else 0,
    key="market_timeframe",
)
range_label = cols[3].segmented_control(
    "Range", list(RANGES), default="30 days", required=True, key="market_range"
)
days = RANGES[range_label]

meta = on_exchange[
    (on_exchange["symbol"] == symbol) & (on_exchange["timeframe"] == timeframe)
].iloc[0]
frame = data.candles(wh, exchange, symbol, timeframe, days, features=bool(meta["has_features"]))
if bool(frame["is_simulated"].any()):
    ui.simulated_banner(f"{symbol} on '{exchange}' is a simulated series.")

last = frame.iloc[-1]
first = frame.iloc[0]
bars = int(frame["bars"].sum())
cols = st.columns(5)
cols[0].metric(
    "Close",
    ui.price(last["close"]),
    ui.pct(last["close"] / first["open"] - 1, signed=True),
    help=f"last close; change over the shown {range_label.lower()}",
)
ui.stat(cols[1], "High", ui.number(frame["high"].max(), ",.4f"), "in range")
ui.stat(cols[2], "Low", ui.number(frame["low"].min(), ",.4f"), "in range")
ui.stat(cols[3], "RSI 14", ui.number(last["rsi_14"], ".1f"), "last bar")
ui.stat(
    cols[4],
    "Volatility (24 bars)",
    ui.pct(last["realized_vol_24"]),
    "std of log returns",
)

st.vega_lite_chart(
    spec=charts.candlesticks(frame, bollinger=bool(meta["has_features"])), width="stretch"
)
merged = int(frame["bars"].max())
st.caption(
    f"{bars:,} bars from {ui.when(first['ts'])} to {ui.when(last['last_ts'])}"
    + (f", merged into {len(frame):,} candles of up to {merged} bars" if merged > 1 else "")
    + ". Bollinger bands (20, 2σ) shaded."
)
if not meta["has_features"]:
    ui.empty(
        "RSI, MACD and the Bollinger bands come from the feature mart, which has no rows for "
        "this series yet",
        "cryptobot features",
    )
else:
    left, right = st.columns(2)
    with left:
        st.markdown("**RSI 14** with its 30/70 band")
        st.vega_lite_chart(spec=charts.rsi(frame), width="stretch")
    with right:
        st.markdown("**MACD (12, 26, 9)**, signal line and histogram")
        st.vega_lite_chart(spec=charts.macd(frame), width="stretch")
