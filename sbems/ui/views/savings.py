"""Savings: baseline-vs-actual energy and cost savings per period (energy_savings rows)."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import streamlit as st

from sbems.services.panel_read import read_savings
from sbems.ui import common

common.require("read:energy")
building = common.building()
url = common.database_url()
tz = common.building_timezone(building)

st.title(f"Savings: {building.name}")
with common.guard():
    rows = read_savings(url, building.key)
if not rows:
    st.info(
        "No savings have been calculated for this building yet. Savings appear here once the savings flow "
        "has compared measured consumption with the baseline for at least one period: it runs once a day "
        "and needs a full day of measurements after the baseline, so expect the first figures the day "
        "after start."
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
    frame.set_index("period_start")[["baseline_consumption_kwh", "actual_consumption_kwh"]].rename(
        columns={"baseline_consumption_kwh": "Baseline (kWh)", "actual_consumption_kwh": "Measured (kWh)"}
    ),
    stack=False,
    x_label="Day",
    y_label="kWh",
)


def _when(value) -> str:
    """A day as it is; a moment in the building's local time."""
    if isinstance(value, datetime):
        return common.local_time(value, tz, "%Y-%m-%d %H:%M")
    return str(value)


def _friendly(rows: pd.DataFrame) -> pd.DataFrame:
    return common.friendly_cells(
        pd.DataFrame(
            {
                "From": [_when(v) for v in rows["period_start"]],
                "To": [_when(v) for v in rows["period_end"]],
                "Baseline (kWh)": rows["baseline_consumption_kwh"].round(0),
                "Measured (kWh)": rows["actual_consumption_kwh"].round(0),
                "Saved (kWh)": rows["savings_kwh"].round(0),
                "Saved (%)": rows["savings_pct"].round(1),
                "Cost saved (USD)": rows["cost_savings_usd"].round(2),
                "CO₂ avoided (kg)": rows["co2_reduction_kg"].round(0),
                "Method": rows["calculation_method"],
            }
        )
    )


st.dataframe(_friendly(frame), hide_index=True, width="stretch", key="savings_table")
if not periods.empty:
    st.subheader("Reporting periods")
    st.dataframe(_friendly(periods), hide_index=True, width="stretch", key="savings_periods")
