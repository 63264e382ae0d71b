"""Savings: baseline-vs-actual energy and cost savings per period (energy_savings rows)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from sbems.services.panel_read import read_savings
from sbems.ui import common

common.require("read:energy")
building = common.building()
url = common.database_url()

st.title(f"Savings: {building.name}")
with common.guard():
    rows = read_savings(url, building.key)
if not rows:
    st.info(
        "No savings have been calculated for this building yet. Savings appear here once the savings flow "
        "has compared measured consumption with the baseline for at least one period."
    )
    st.stop()

table = pd.DataFrame(rows)
# a reporting-period row overlaps its day rows: totals and the chart use the other rows only
is_period = table["granularity"].eq("period")
frame, periods = table[~is_period], table[is_period]
c1, c2, c3 = st.columns(3)
c1.metric("Energy saved", common.fmt(frame["savings_kwh"].sum(skipna=True), "kWh", 0))
c2.metric("Cost saved", f"${frame['cost_savings_usd'].sum(skipna=True):,.2f}")
c3.metric("CO₂ avoided", common.fmt(frame["co2_reduction_kg"].sum(skipna=True), "kg", 0))
st.bar_chart(
    frame.set_index("period_start")[["baseline_consumption_kwh", "actual_consumption_kwh"]], stack=False
)
st.dataframe(frame, hide_index=True, width="stretch", key="savings_table")
if not periods.empty:
    st.subheader("Reporting periods")
    st.dataframe(periods, hide_index=True, width="stretch", key="savings_periods")
