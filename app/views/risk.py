"""Risk: each limit's use, the drawdown against its limit, correlations of recent returns."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import charts, data, risk, ui

st.title("Risk")
settings = ui.settings()
wh = ui.warehouse(settings)
account = ui.pick_account(wh, settings, key="risk_account")
state = data.account_state(wh, account) if account else None
checks = data.latest_checks(wh, account) if account else pd.DataFrame()
exchange, timeframe = settings.market_exchange, settings.timeframes[0]
window = settings.trading.window_bars(timeframe)[0]
returns = data.recent_returns(wh, exchange, timeframe, tuple(settings.symbols), window)
if bool(returns.attrs.get("is_simulated")) or bool(state and state["latest"]["is_simulated"]):
    ui.simulated_banner("The account and market data behind these risk figures are simulated.")

# -- limit use ----------------------------------------------------------------------------------
st.subheader("Limit use")
if state is None:
    ui.empty("No trades yet, so no account to measure", "cryptobot trade")
else:
    use = risk.limit_use(state, checks, settings.risk)
    breached = use[use["status"] == "breached"]
    near = use[use["status"] == "near"]
    if not breached.empty:
        st.warning(
            "Over the limit: "
            + ", ".join(
                f"{r.limit_name} ({r.value_text} vs {r.limit_text})" for r in breached.itertuples()
            )
            + ". The trading flow's risk checks refuse new risk beyond a limit.",
            icon=":material/warning:",
        )
    elif not near.empty:
        st.warning(f"Close to a limit: {', '.join(near['limit_name'])}.", icon=":material/warning:")
    else:
        st.success(
            f"Every limit with data is below {risk.NEAR:.0%} of its use.",
            icon=":material/check_circle:",
        )
    left, right = st.columns([3, 2])
    with left:
        st.dataframe(
            use[["limit_name", "value_text", "limit_text", "use", "status", "source"]],
            hide_index=True,
            column_config={
                "limit_name": "limit",
                "value_text": "value",
                "limit_text": "limit value",
                "use": st.column_config.ProgressColumn(
                    "use", format="percent", min_value=0.0, max_value=1.0
                ),
            },
            key="risk_limits",
        )
    with right:
        st.vega_lite_chart(spec=charts.limit_use(use), width="stretch")
    st.caption(
        f"Account limits from the latest mark ({ui.when(state['latest']['ts'])}); market limits "
        "from each market's latest decision's risk checks. Configured limits: "
        + ", ".join(f"{name} {value:g}" for name, value in settings.risk.model_dump().items())
    )

# -- drawdown -----------------------------------------------------------------------------------
st.subheader("Drawdown")
if state is None:
    ui.empty("No equity marks yet", "cryptobot trade")
else:
    curve = data.equity_series(wh, account)
    st.vega_lite_chart(
        spec=charts.drawdown(curve, limit=settings.risk.max_drawdown), width="stretch"
    )
    cols = st.columns(3)
    ui.stat(cols[0], "Drawdown now", ui.pct(state["latest"]["drawdown"]), "below the peak")
    ui.stat(cols[1], "Worst drawdown", ui.pct(state["max_drawdown"]), "since the first mark")
    ui.stat(cols[2], "Kill switch at", ui.pct(settings.risk.max_drawdown, 0), "max_drawdown")

# -- correlation --------------------------------------------------------------------------------
st.subheader("Correlation of recent returns")
if returns.shape[1] < 2 or len(returns) < 3:
    ui.empty(
        f"Correlations need at least two of the configured symbols with {timeframe} bars on "
        f"'{exchange}'",
        "cryptobot ingest",
    )
else:
    corr = returns.corr()
    limit = settings.risk.correlation_limit
    st.vega_lite_chart(spec=charts.correlation_heatmap(corr, limit=limit), width="content")
    pairs = [
        f"{a} / {b} ({corr.loc[a, b]:.2f})"
        for i, a in enumerate(corr.index)
        for b in corr.index[i + 1 :]
        if abs(corr.loc[a, b]) > limit
    ]
    st.caption(
        f"Log returns of the last {len(returns):,} common {timeframe} bars "
        f"({ui.when(returns.index.min())} to {ui.when(returns.index.max())}) on '{exchange}'. "
        + (
            f"Above the correlation limit ({limit:g}): {', '.join(pairs)}; a new position "
            "correlated beyond it is blocked."
            if pairs
            else f"No pair above the correlation limit ({limit:g})."
        )
    )

# -- the checks ---------------------------------------------------------------------------------
if account:
    st.subheader("Risk checks")
    blocked = data.blocked_by_check(wh, account)
    left, right = st.columns(2)
    with left:
        st.markdown("**Failed checks** (all decisions)")
        if blocked.empty:
            st.success("No decision has failed a risk check.", icon=":material/check_circle:")
        else:
            st.dataframe(blocked, hide_index=True, key="risk_blocked")
    with right:
        st.markdown("**Latest check per market**")
        if checks.empty:
            st.info("No decisions with risk checks yet.", icon=":material/info:")
        else:
            latest_checks = checks.assign(
                result=checks["passed"].map({True: "passed", False: "FAILED"})
            )
            st.dataframe(
                latest_checks[["symbol", "name", "result", "value", "limit", "decided_at"]],
                hide_index=True,
                key="risk_checks",
            )
