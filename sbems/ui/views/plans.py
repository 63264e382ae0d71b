"""Plans: the latest optimization plan (totals vs the schedule-only baseline) and each zone's trajectory."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from sbems.services.panel_read import read_plan
from sbems.ui import common

common.require("read:analytics")
building = common.building()
url = common.database_url()

st.title(f"Plans: {building.name}")
with common.guard():
    plan = read_plan(url, building.key)
if not plan.found:
    st.info("No optimization plan has been made for this building yet (`sbems flows run optimize`).")
    st.stop()

summary = plan.summary
st.markdown(
    f"**Status:** {plan.status} · made {common.age_text(plan.created_at)} · horizon from "
    f"{plan.horizon_start:%Y-%m-%d %H:%M} UTC in {plan.step_s // 60} min steps · autopilot "
    f"{'on' if building.autopilot else 'off'}"
)
if plan.reason:
    st.warning(f"{plan.reason} The building follows its schedule.")


def _money(key: str) -> str:
    value = summary.get(key)
    return "–" if value is None else f"${value:,.2f}"


c1, c2, c3, c4 = st.columns(4)
c1.metric(
    "Expected cost", _money("total_cost_usd"), help=f"schedule baseline {_money('baseline_total_cost_usd')}"
)
c2.metric("Saving vs schedule", _money("savings_usd"))
c3.metric(
    "Peak",
    common.fmt(summary.get("peak_kw"), "kW"),
    help=f"schedule baseline {common.fmt(summary.get('baseline_peak_kw'), 'kW')}",
)
c4.metric(
    "Discomfort",
    common.fmt(summary.get("discomfort_kh"), "K·h", 2),
    help=f"schedule baseline {common.fmt(summary.get('baseline_discomfort_kh'), 'K·h', 2)}",
)

if plan.setpoints_now_c:
    st.subheader("Setpoints for the current step")
    st.dataframe(
        pd.DataFrame([{"zone": z, "setpoint_c": v} for z, v in plan.setpoints_now_c.items()]),
        hide_index=True,
        key="plan_now",
    )

if plan.trajectory:
    frame = pd.DataFrame(plan.trajectory)
    frame["time_utc"] = pd.to_datetime(frame["time_utc"], utc=True)
    st.subheader("Setpoint trajectory per zone (°C)")
    st.line_chart(frame.pivot(index="time_utc", columns="zone", values="setpoint_c"))
    if "expected_temp_c" in frame:
        st.subheader("Expected zone temperature (°C)")
        st.line_chart(frame.pivot(index="time_utc", columns="zone", values="expected_temp_c"))
if plan.building_kw:
    kw = pd.DataFrame(plan.building_kw)
    kw["time_utc"] = pd.to_datetime(kw["time_utc"], utc=True)
    st.subheader("Building electric power (kW)")
    st.area_chart(kw.set_index("time_utc"))
with st.expander("Plan summary (raw)"):
    st.json(summary)
