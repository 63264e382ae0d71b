"""Schedules: the weekly schedules the zones follow; facility managers and admins may change their
setpoints, weekly occupied periods and holidays (``services.schedule_edits``). A later `sbems site import`
reports a schedule changed here as a conflict and keeps the panel's version."""

from __future__ import annotations

from datetime import date

import pandas as pd
import streamlit as st

from sbems.services.panel_read import read_schedules
from sbems.services.panel_writes import ActionResult, can_write, write_schedule_change
from sbems.services.schedule_edits import write_schedule_periods
from sbems.ui import common

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _days(text: str) -> list[str]:
    """'Mon, Tue' or 'mon-fri' -> ['mon', 'tue'] / ['mon', ..., 'fri']; unknown words are kept (refused)."""
    days: list[str] = []
    for part in str(text or "").replace(";", ",").split(","):
        part = part.strip().lower()
        if "-" in part:
            first, last = (p.strip()[:3] for p in part.split("-", 1))
            if first in DAYS and last in DAYS:
                days += list(DAYS[DAYS.index(first) : DAYS.index(last) + 1])
                continue
        if part:
            days.append(part[:3] if part[:3] in DAYS else part)
    return days


def _holidays(text: str) -> tuple[list[date], list[str]]:
    good, bad = [], []
    for line in str(text or "").replace(",", "\n").splitlines():
        if line.strip():
            try:
                good.append(date.fromisoformat(line.strip()))
            except ValueError:
                bad.append(line.strip())
    return good, bad


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
    periods = pd.DataFrame(
        [
            {
                "Days": ", ".join(d.capitalize() for d in p.get("days", [])),
                "Occupied from (local)": (p.get("start") or "00:00")[:5],
                "Until (local)": (p.get("end") or "23:59")[:5],
            }
            for p in schedule.occupied
        ]
    )
    if not may_edit:
        st.dataframe(periods, hide_index=True, key=f"periods_{schedule.id}")
    else:
        with st.form(f"periods_form_{schedule.id}"):
            edited = st.data_editor(
                periods,
                num_rows="dynamic",
                hide_index=True,
                key=f"periods_{schedule.id}",
                column_config={
                    "Days": st.column_config.TextColumn(help="e.g. Mon, Tue or mon-fri", required=True),
                    "Occupied from (local)": st.column_config.TextColumn(help="HH:MM", required=True),
                    "Until (local)": st.column_config.TextColumn(
                        help="HH:MM, after the start", required=True
                    ),
                },
            )
            holidays_text = st.text_area(
                "Holidays and closures (one date a line, YYYY-MM-DD: unoccupied all day)",
                "\n".join(map(str, schedule.holidays)),
                key=f"holidays_{schedule.id}",
            )
            save_periods = st.form_submit_button(
                "Save periods and holidays", key=f"save_periods_{schedule.id}"
            )
        if save_periods:
            holidays, bad = _holidays(holidays_text)
            rows = edited.dropna(how="all")
            new_periods = [
                {
                    "days": _days(r["Days"]),
                    "start": str(r["Occupied from (local)"]).strip(),
                    "end": str(r["Until (local)"]).strip(),
                }
                for _, r in rows.iterrows()
            ]
            if bad:
                st.session_state["schedule_result"] = ActionResult(False, f"not a date: {', '.join(bad)}")
            else:
                with common.guard():
                    st.session_state["schedule_result"] = write_schedule_periods(
                        url,
                        building.key,
                        schedule_id=schedule.id,
                        periods=new_periods,
                        holidays=holidays,
                        user=user,
                    )
            st.rerun()
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
    "optimizer pick up the changes on their next run. A later `sbems site import` lists a schedule changed "
    "here as a conflict and keeps this version (unless run with --overwrite-panel-edits)."
)
