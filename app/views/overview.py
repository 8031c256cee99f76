"""Overview: the account (equity, drawdown, P&L, open positions) and the pipeline at a glance."""

from __future__ import annotations

import streamlit as st

from app import charts, data, mlflow_store, ui

st.title("Overview")
settings = ui.settings()
wh = ui.warehouse(settings)
summary = data.pipeline_summary(wh)
account = ui.pick_account(wh, settings, key="overview_account")
state = data.account_state(wh, account) if account else None

account_simulated = bool(
    state and (state["latest"]["is_simulated"] or state["positions"]["is_simulated"].eq(True).any())
)
if account_simulated:
    ui.simulated_banner(
        f"The account {account} below traded the simulated market: its prices, fills, equity and "
        "P&L are simulated."
    )
elif summary["market_simulated"]:
    ui.simulated_banner("The market data in this warehouse is simulated.")

shown_mode = account.mode if account else settings.trading.mode
st.markdown(
    f":{'red' if shown_mode == 'live' else 'blue'}-badge[:material/account_balance_wallet: "
    f"{shown_mode.upper()} trading] "
    + (
        "Orders go to the exchange with real money."
        if shown_mode == "live"
        else "Paper trading: fills are simulated with fees, spread and slippage; no orders reach "
        "an exchange."
    )
)

if state is None:
    ui.empty("No trades yet", "cryptobot trade", extra="(paper trading by default)")
else:
    latest = state["latest"]
    positions = state["positions"]
    start = settings.trading.initial_capital if account.mode == "paper" else state["first_equity"]
    equity = float(latest["equity"])
    realized = float(positions["realized_pnl"].sum() - positions["fees"].sum())
    unrealized = float(positions["unrealized_pnl"].sum())
    cols = st.columns(6)
    cols[0].metric("Equity", ui.money(equity), help=f"marked at {ui.when(latest['ts'])}")
    cols[1].metric(
        "Total P&L",
        ui.money(equity - start, signed=True),
        ui.pct((equity - start) / start, signed=True),
        help=f"equity minus the starting capital ({ui.money(start)})",
    )
    cols[2].metric(
        "Today",
        ui.money(latest["daily_pnl"], signed=True),
        ui.pct(latest["daily_pnl"] / latest["day_start_equity"], signed=True),
        help="equity change since the first mark of this UTC day",
    )
    cols[3].metric("Realized P&L", ui.money(realized, signed=True), help="closed P&L minus fees")
    cols[4].metric(
        "Unrealized P&L", ui.money(unrealized, signed=True), help="open positions at the last mark"
    )
    ui.stat(
        cols[5],
        "Drawdown",
        ui.pct(latest["drawdown"]),
        f"worst {ui.pct(state['max_drawdown'])}",
        help=f"below the peak equity; the limit is {ui.pct(settings.risk.max_drawdown, 0)}",
    )
    st.caption(
        f"Money in {settings.trading.account_currency}, the account currency "
        "(trading.account_currency); a market quoted in another currency is converted at its "
        "quote's stored rate at each fill and mark."
    )

    curve = data.equity_series(wh, account)
    st.subheader("Equity")
    st.vega_lite_chart(spec=charts.equity(curve, start=start), width="stretch")
    st.subheader("Drawdown")
    st.vega_lite_chart(
        spec=charts.drawdown(curve, limit=settings.risk.max_drawdown), width="stretch"
    )
    st.caption(
        f"{state['rows']:,} marks from {ui.when(state['first_ts'])} to {ui.when(latest['ts'])}"
        + (f", shown as {len(curve):,} points" if len(curve) < state["rows"] else "")
    )

    st.subheader("Open positions")
    open_positions = positions[positions["amount"].abs() > 0]
    if open_positions.empty:
        st.info("No open positions: the account is flat.", icon=":material/info:")
    else:
        st.dataframe(
            open_positions[
                [
                    "symbol",
                    "amount",
                    "avg_price",
                    "last_price",
                    "value",
                    "unrealized_pnl",
                    "realized_pnl",
                    "fees",
                    "opened_at",
                    "exchange",
                ]
            ],  # fmt: skip
            hide_index=True,
            column_config={
                "amount": st.column_config.NumberColumn(format="%.6f"),
                "avg_price": st.column_config.NumberColumn("avg price", format=ui.PRICE_COLUMN),
                "last_price": st.column_config.NumberColumn("last price", format=ui.PRICE_COLUMN),
                "value": st.column_config.NumberColumn(format="%.2f"),
                "unrealized_pnl": st.column_config.NumberColumn("unrealized", format="%+.2f"),
                "realized_pnl": st.column_config.NumberColumn("realized", format="%+.2f"),
                "fees": st.column_config.NumberColumn(format="%.2f"),
            },
            key="overview_positions",
        )
        st.caption(
            f"{len(open_positions)} open of {len(positions)} markets traded; gross exposure "
            f"{ui.money(latest['gross_exposure'])} ({ui.pct(latest['gross_exposure'] / equity, 1)}"
            " of equity)"
        )

st.subheader("Pipeline")
cols = st.columns(5)
ui.stat(cols[0], "Market data", f"{summary['bars']:,} bars", f"{summary['series']} series")
last_bar = summary["last_bar"]
ui.stat(
    cols[1],
    "Newest bar",
    f"{last_bar:%Y-%m-%d}" if last_bar is not None else "none yet",
    f"{last_bar:%H:%M} UTC (open time)" if last_bar is not None else None,
)
cols[2].metric(
    "Feature rows",
    "none yet" if summary["features"] is None else f"{summary['features']:,}",
    help="cryptobot features",
)
store = mlflow_store.store_path(settings)
if store is not None and store.is_file():
    models = mlflow_store.registry(str(store), mlflow_store.store_version(store))["models"]
    champions = int(models["champion"].notna().sum())
    ui.stat(cols[3], "Registered models", str(len(models)), f"{champions} with a champion")
else:
    cols[3].metric("Registered models", "none yet", help="cryptobot train")
ui.stat(
    cols[4],
    "Predictions",
    f"{summary['predictions']:,}",
    f"{summary['decisions']:,} decisions, {summary['fills']:,} fills",
)
