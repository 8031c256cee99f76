"""Trades: orders, fills and the audit trail of every decision with its risk checks, filtered."""

from __future__ import annotations

import streamlit as st

from app import data, ui

st.title("Trades")
settings = ui.settings()
wh = ui.warehouse(settings)
options = data.trade_options(wh)
if not options:
    ui.empty("No trades yet", "cryptobot trade", extra="(paper trading by default)")
    st.stop()

accounts = options["accounts"]
configured = data.Account(settings.trading.account, settings.trading.mode)
cols = st.columns([1, 2, 1, 2, 2])
account = cols[0].selectbox(
    "Account",
    accounts,
    index=accounts.index(configured) if configured in accounts else 0,
    format_func=str,
    key="trades_account",
)
symbols = cols[1].multiselect(
    "Symbols", options["symbols"], key="trades_symbols", placeholder="all symbols"
)
sides = cols[2].multiselect(
    "Side", options["sides"], key="trades_sides", placeholder="buy and sell",
    help="filters orders and fills",
)  # fmt: skip
actions = cols[3].multiselect(
    "Decision",
    options["actions"],
    key="trades_actions",
    placeholder="every action",
    help="filters the audit trail: order, hold, blocked (a risk check failed) or skip",
)
span = cols[4].date_input(
    "Dates (UTC)",
    value=(options["first_day"], options["last_day"]),
    min_value=options["first_day"],
    max_value=options["last_day"],
    key="trades_dates",
)
if isinstance(span, tuple | list):  # a range; while being picked, one day (or none)
    start, end = (span[0], span[-1]) if span else (options["first_day"], options["last_day"])
else:
    start = end = span
filters = data.TradeFilters(
    account=account,
    start=start,
    end=end,
    symbols=tuple(symbols),
    sides=tuple(sides),
    actions=tuple(actions),
)
orders = data.orders(wh, filters)
fills = data.fills(wh, filters)
decisions = data.decisions(wh, filters)
if any(bool(frame["is_simulated"].eq(True).any()) for frame in (orders, fills, decisions)):
    ui.simulated_banner(
        f"The account {account} traded the simulated market: every price and fill is simulated."
    )


def total(frame) -> int:
    return int(frame["total"].iloc[0]) if not frame.empty else 0


def listing(frame, what: str, key: str, column_config: dict) -> None:
    """The newest rows of ``frame`` (its ``total`` column left out) and how many match."""
    st.dataframe(
        frame.drop(columns=["total"]), hide_index=True, column_config=column_config, key=key
    )
    n = total(frame)
    st.caption(
        f"{n:,} {what} match the filters"
        + (f"; the newest {len(frame):,} are shown" if n > len(frame) else "")
        + "."
    )


cols = st.columns(4)
ui.stat(
    cols[0], "Orders", f"{total(orders):,}", f"{(orders['status'] == 'filled').sum()} filled shown"
)
ui.stat(
    cols[1],
    "Fills",
    f"{total(fills):,}",
    f"fees {ui.money(fills['fee'].sum())}" if not fills.empty else "no fees",
)
ui.stat(cols[2], "Decisions", f"{total(decisions):,}", "audit trail rows")
blocked = int((decisions["action"] == "blocked").sum())
ui.stat(cols[3], "Blocked", f"{blocked:,}", "by a risk check (shown rows)")

orders_tab, fills_tab, audit_tab = st.tabs(
    [
        f"Orders ({total(orders):,})",
        f"Fills ({total(fills):,})",
        f"Audit trail ({total(decisions):,})",
    ]
)
with orders_tab:
    listing(
        orders,
        "orders",
        "trades_orders",
        {
            "amount": st.column_config.NumberColumn(format="%.6f"),
            "filled": st.column_config.NumberColumn(format="%.6f"),
            "average_price": st.column_config.NumberColumn("avg price", format=ui.PRICE_COLUMN),
            "fee": st.column_config.NumberColumn(format=ui.PRICE_COLUMN),
        },
    )
with fills_tab:
    listing(
        fills,
        "fills",
        "trades_fills",
        {
            "amount": st.column_config.NumberColumn(format="%.6f"),
            "price": st.column_config.NumberColumn(format=ui.PRICE_COLUMN),
            "notional": st.column_config.NumberColumn(format="%.2f"),
            "fee": st.column_config.NumberColumn(format=ui.PRICE_COLUMN),
            "reference_price": st.column_config.NumberColumn(
                "mid before costs", format=ui.PRICE_COLUMN
            ),
            "spread_cost": st.column_config.NumberColumn("spread cost", format=ui.PRICE_COLUMN),
            "slippage_cost": st.column_config.NumberColumn("slippage cost", format=ui.PRICE_COLUMN),
        },
    )
with audit_tab:
    listing(
        decisions,
        "decisions",
        "trades_decisions",
        {
            "failed_checks": "failed checks",
            "checks_run": "checks",
            "prob_up": st.column_config.NumberColumn("P(up)", format="%.3f"),
            "confidence": st.column_config.NumberColumn(format="%.3f"),
            "pred_return": st.column_config.NumberColumn("predicted return", format="%.5f"),
            "price": st.column_config.NumberColumn(format=ui.PRICE_COLUMN),
            "order_amount": st.column_config.NumberColumn("ordered", format="%+.6f"),
            "target_amount": st.column_config.NumberColumn("target", format="%.6f"),
            "position_before": st.column_config.NumberColumn("held before", format="%.6f"),
        },
    )
    if not decisions.empty:
        ids = list(decisions["id"])
        first_blocked = decisions.index[decisions["action"] == "blocked"]
        labels = {
            row.id: f"{row.decided_at:%Y-%m-%d %H:%M} {row.symbol} {row.action}"
            + (f" ({row.reason})" if row.reason else "")
            for row in decisions.itertuples()
        }
        chosen = st.selectbox(
            "Risk checks of decision",
            ids,
            index=int(first_blocked[0]) if len(first_blocked) else 0,
            format_func=labels.get,
            key="trades_decision",
        )
        checks = data.decision_checks(wh, chosen)
        if checks.empty:
            st.info("This decision recorded no risk checks.", icon=":material/info:")
        else:
            st.dataframe(
                checks.assign(result=checks["passed"].map({True: "passed", False: "FAILED"})),
                hide_index=True,
                column_order=["name", "result", "value", "limit", "detail"],
                key="trades_checks",
            )
