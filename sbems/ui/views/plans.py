"""Plans: the latest optimization plan (totals vs the schedule-only baseline) and each zone's trajectory."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from sbems.services.panel_read import read_plan
from sbems.ui import common

common.require("read:analytics")
building = common.building()
url = common.database_url()
tz = common.building_timezone(building)

st.title(f"Plans: {building.name}")
with common.guard():
    plan = read_plan(url, building.key)
if not plan.found:
    st.info(
        "No optimization plan has been made for this building yet. Plans appear after the first optimize "
        "run once forecasts and zone models exist, about half an hour after start (the optimize flow runs "
        "every 15 minutes; `sbems flows run optimize` runs it now)."
    )
    st.stop()

summary = plan.summary
st.markdown(
    f"**Status:** {plan.status} · made {common.age_text(plan.created_at)} · horizon from "
    f"{common.local_time(plan.horizon_start, tz)} ({common.tz_label(tz, plan.horizon_start)}) in "
    f"{plan.step_s // 60} min steps · autopilot {'on' if building.autopilot else 'off'}"
)
if plan.reason:
    st.warning(f"{plan.reason} The building follows its schedule.")


def _money(key: str) -> str:
    value = summary.get(key)
    return common.MISSING if value is None else f"${value:,.2f}"


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
        pd.DataFrame([{"Zone": z, "Setpoint (°C)": v} for z, v in plan.setpoints_now_c.items()]),
        hide_index=True,
        key="plan_now",
    )

if plan.trajectory:
    frame = pd.DataFrame(plan.trajectory)
    frame["Local time"] = common.local_naive(frame["time_utc"], tz)
    st.subheader("Setpoint trajectory per zone (°C)")
    st.line_chart(frame.pivot(index="Local time", columns="zone", values="setpoint_c"), y_label="°C")
    if "expected_temp_c" in frame:
        st.subheader("Expected zone temperature (°C)")
        st.line_chart(frame.pivot(index="Local time", columns="zone", values="expected_temp_c"), y_label="°C")
if plan.building_kw:
    kw = pd.DataFrame(plan.building_kw)
    kw["Local time"] = common.local_naive(kw["time_utc"], tz)
    st.subheader("Building electric power (kW)")
    st.area_chart(kw.set_index("Local time")[["building_electric_kw"]], y_label="kW")
with st.expander("Plan summary (raw)"):
    st.json(summary)
