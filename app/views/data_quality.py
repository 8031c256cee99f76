"""Data quality: freshness and gaps per series, the last validation, quarantine, batches."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import data, ui

#: a series whose newest bar closed more than this many bars before the reference is stale
STALE_BARS = 2

st.title("Data quality")
settings = ui.settings()
wh = ui.warehouse(settings)
quality = data.quality(wh)
series = quality["series"]
if series.empty:
    ui.empty("No market data yet", "cryptobot ingest")
    st.stop()
if bool(series["is_simulated"].any()):
    ui.simulated_banner("Series marked simulated below are simulated market data.")

# -- freshness ----------------------------------------------------------------------------------
now = ui.now_utc()
tf = pd.to_timedelta(series["tf_seconds"], unit="s")
closed = series["last_ts"] + tf
newest_simulated = closed[series["is_simulated"]].max()
reference = pd.Series(now, index=series.index).where(~series["is_simulated"], newest_simulated)
behind = reference - closed
fresh = series.assign(
    bar_closed=closed,
    measured_against=["newest simulated bar" if s else "now" for s in series["is_simulated"]],
    behind=[ui.age(b) for b in behind],
    bars_behind=(behind / tf).round(1),
    status=["stale" if b > STALE_BARS else "fresh" for b in behind / tf],
    features_behind=((series["last_ts"] - series["last_feature_ts"]) / tf),
)
stale = fresh[fresh["status"] == "stale"]
totals = quality["validation_totals"].iloc[0]
cols = st.columns(5)
ui.stat(cols[0], "Series", str(len(fresh)), f"{int(fresh['rows'].sum()):,} bars")
ui.stat(cols[1], "Stale", str(len(stale)), f"> {STALE_BARS} bars behind")
ui.stat(
    cols[2],
    "Gaps",
    f"{int(fresh['gaps'].sum()):,}",
    f"{int(fresh['missing_bars'].sum()):,} bars missing",
)
ui.stat(
    cols[3],
    "Quarantined rows",
    f"{int(quality['quarantine']['rows'].sum()):,}",
    f"{len(quality['quarantine'])} reason{'s' if len(quality['quarantine']) != 1 else ''}",
)
latest_failed = int((~quality["validation"]["success"]).sum())
ui.stat(
    cols[4],
    "Last validation",
    "none yet"
    if pd.isna(totals["last_run"])
    else ("passed" if not latest_failed else f"{latest_failed} failed"),
    None if pd.isna(totals["last_run"]) else ui.when(totals["last_run"]),
)

st.subheader("Freshness")
if not stale.empty:
    st.warning(
        "Stale: "
        + ", ".join(
            f"{r.exchange} {r.symbol} {r.timeframe} ({r.behind})" for r in stale.itertuples()
        )
        + ". Run `cryptobot ingest` (or check the ingest flow's schedule).",
        icon=":material/schedule:",
    )
st.dataframe(
    fresh[
        [
            "exchange",
            "symbol",
            "timeframe",
            "status",
            "last_ts",
            "bar_closed",
            "behind",
            "measured_against",
            "rows",
            "missing_bars",
            "gaps",
            "revisions",
            "last_available_at",
            "last_feature_ts",
            "features_behind",
            "sources",
        ]
    ],  # fmt: skip
    hide_index=True,
    column_config={
        "last_ts": st.column_config.DatetimeColumn("newest bar (open, UTC)"),
        "bar_closed": st.column_config.DatetimeColumn("closed (UTC)"),
        "measured_against": "behind what",
        "missing_bars": "missing bars",
        "revisions": st.column_config.NumberColumn(
            "revisions", help="stored bars changed later; old values in market_data_revisions"
        ),
        "last_available_at": "last available_at",
        "last_feature_ts": "newest feature row",
        "features_behind": st.column_config.NumberColumn("features behind (bars)", format="%.0f"),
    },
    key="quality_freshness",
)
features = fresh["last_feature_ts"].notna().any()
st.caption(
    "A bar is available once it closes (open time + timeframe). Simulated series are measured "
    "against the newest simulated bar (the simulator's history ends at a fixed time), others "
    "against the clock. " + ("" if features else "No feature rows yet: run `cryptobot features`.")
)

# -- gaps ---------------------------------------------------------------------------------------
st.subheader("Gaps")
gaps = quality["gaps"]
if gaps.empty:
    st.success("No gaps: every series is continuous.", icon=":material/check_circle:")
else:
    st.dataframe(
        gaps,
        hide_index=True,
        column_config={"after": "last bar before", "before": "first bar after"},
        key="quality_gaps",
    )
    st.caption(f"The {len(gaps)} largest gaps (as `cryptobot status` counts them).")

# -- validation ---------------------------------------------------------------------------------
st.subheader("Last validation per series")
validation = quality["validation"]
if validation.empty:
    ui.empty("No validation runs yet", "cryptobot validate")
else:
    failed = validation[~validation["success"]]
    if not failed.empty:
        st.error(
            f"{len(failed)} series failed their last validation: "
            + ", ".join(f"{r.symbol or r.table_name} ({r.timeframe})" for r in failed.itertuples()),
            icon=":material/error:",
        )
    st.dataframe(
        validation.assign(result=validation["success"].map({True: "passed", False: "FAILED"})),
        hide_index=True,
        column_order=[
            "table_name",
            "exchange",
            "symbol",
            "timeframe",
            "result",
            "rows",
            "gaps",
            "failures",
            "run_at",
            "id",
        ],  # fmt: skip
        key="quality_validation",
    )

# -- quarantine ---------------------------------------------------------------------------------
st.subheader("Quarantine")
quarantine = quality["quarantine"]
if quarantine.empty:
    st.success(
        "Nothing quarantined: every batch passed the quality gate.", icon=":material/check_circle:"
    )
else:
    left, right = st.columns([2, 3])
    with left:
        st.markdown("**Rows by reason**")
        st.dataframe(quarantine, hide_index=True, key="quality_quarantine")
    with right:
        st.markdown(f"**Newest quarantined rows** ({len(quality['quarantined'])} shown)")
        st.dataframe(quality["quarantined"], hide_index=True, key="quality_quarantined")

# -- batches ------------------------------------------------------------------------------------
st.subheader("Recent ingest batches")
batches = quality["batches"]
if batches.empty:
    ui.empty("No ingest batches yet", "cryptobot ingest")
else:
    st.dataframe(batches, hide_index=True, key="quality_batches")
