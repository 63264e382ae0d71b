"""Schedules: the weekly schedules the zones follow; facility managers and admins may change setpoints."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from sbems.services.panel_read import read_schedules
from sbems.services.panel_writes import can_write, write_schedule_change
from sbems.ui import common

user = common.require("read:schedules")
building = common.building()
url = common.database_url()
may_edit = can_write(user.role, building.access_level, "write:schedules")

st.title(f"Schedules: {building.name}")
if not may_edit:
    st.info(f"View only: your role ({user.role}) with {building.access_level} access may not edit schedules.")
if (message := st.session_state.pop("schedule_result", None)) is not None:
    (st.success if message.ok else st.error)(message.detail)

with common.guard():
    schedules = read_schedules(url, building.key)
if not schedules:
    st.info("No schedules are stored for this building (`sbems site import`).")
    st.stop()

for schedule in schedules:
    st.subheader(schedule.name)
    st.caption(
        f"id {schedule.id} · mode {schedule.mode} · zones {', '.join(schedule.zones)}"
        + (f" · holidays {', '.join(map(str, schedule.holidays))}" if schedule.holidays else "")
    )
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "Days": ", ".join(d.capitalize() for d in p.get("days", [])) or "Every day",
                    "Occupied from (local)": p.get("start") or "00:00",
                    "Until (local)": p.get("end") or "24:00",
                }
                for p in schedule.occupied
            ]
        ),
        hide_index=True,
        key=f"periods_{schedule.id}",
    )
    with st.form(f"schedule_{schedule.id}"):
        c1, c2 = st.columns(2)
        occupied = c1.number_input(
            "Occupied setpoint (°C)",
            10.0,
            35.0,
            float(schedule.occupied_setpoint_c),
            step=0.5,
            disabled=not may_edit,
            key=f"occ_{schedule.id}",
        )
        unoccupied = c2.number_input(
            "Unoccupied setpoint (°C)",
            10.0,
            40.0,
            float(schedule.unoccupied_setpoint_c),
            step=0.5,
            disabled=not may_edit,
            key=f"unocc_{schedule.id}",
        )
        save = st.form_submit_button("Save", disabled=not may_edit, key=f"save_{schedule.id}")
    if save and may_edit:
        with common.guard():
            st.session_state["schedule_result"] = write_schedule_change(
                url,
                building.key,
                schedule_id=schedule.id,
                occupied_setpoint_c=occupied,
                unoccupied_setpoint_c=unoccupied,
                user=user,
            )
        st.rerun()
st.caption(
    "A schedule is shared by every zone that follows it (in every building). Schedule commands and the "
    "optimizer pick up the new setpoints on their next run; `sbems site import` of the site file "
    "overwrites them."
)
