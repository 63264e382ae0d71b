"""Schedules: the weekly schedules the zones follow; facility managers and admins may change their
cooling and heating setpoints (occupied and unoccupied), weekly occupied periods and holidays
(``services.schedule_edits``), and switch a schedule off or on (``services.schedule_admin``: a disabled
schedule is not applied, its zones are left out of the optimizer's plans and SBEMS's writes on them are
released). A later `sbems site import`
reports a schedule changed here as a conflict and keeps the panel's version."""

from __future__ import annotations

from datetime import date

import pandas as pd
import streamlit as st

from sbems.services.panel_read import read_schedules
from sbems.services.panel_writes import ActionResult, can_write
from sbems.services.schedule_admin import ScheduleError, switch_schedule
from sbems.services.schedule_edits import (
    SETPOINT_DEFAULTS_C,
    write_schedule_periods,
    write_schedule_setpoints,
)
from sbems.ui import common

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SETPOINT_INPUTS = (  # field, label, widget key prefix, input range (the zones' limits are checked on save)
    ("occupied_setpoint_c", "Occupied cooling (°C)", "occ", 10.0, 35.0),
    ("unoccupied_setpoint_c", "Unoccupied cooling (°C)", "unocc", 10.0, 40.0),
    ("occupied_heating_setpoint_c", "Occupied heating (°C)", "occ_heat", 5.0, 30.0),
    ("unoccupied_heating_setpoint_c", "Unoccupied heating (°C)", "unocc_heat", 5.0, 30.0),
)


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


def _switch(schedule_id: str, enabled: bool) -> ActionResult:
    try:
        done = switch_schedule(url, user, schedule_id, enabled=enabled, source="panel")
    except ScheduleError as exc:
        return ActionResult(False, exc.detail)
    word = "enabled" if enabled else "disabled: its zones run on their local schedules"
    extra = f" Released: {'; '.join(done.released)}." if done.released else ""
    if done.problems:
        extra += f" Not released (their lifetimes still end): {'; '.join(done.problems)}."
    return ActionResult(not done.problems, f"Schedule {schedule_id} {word}.{extra}")


for schedule in schedules:
    st.subheader(schedule.name + ("" if schedule.enabled else " (disabled)"))
    st.caption(
        f"id {schedule.id} · {'enabled' if schedule.enabled else 'disabled'} · mode {schedule.mode} · "
        f"zones {', '.join(schedule.zones)}"
        + (f" · holidays {', '.join(map(str, schedule.holidays))}" if schedule.holidays else "")
    )
    if may_edit:
        label = "Disable schedule" if schedule.enabled else "Enable schedule"
        if st.button(label, key=f"switch_{schedule.id}"):
            with common.guard():
                st.session_state["schedule_result"] = _switch(schedule.id, not schedule.enabled)
            st.rerun()
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
        stored = {
            "occupied_setpoint_c": schedule.occupied_setpoint_c,
            "unoccupied_setpoint_c": schedule.unoccupied_setpoint_c,
            "occupied_heating_setpoint_c": schedule.occupied_heating_setpoint_c,
            "unoccupied_heating_setpoint_c": schedule.unoccupied_heating_setpoint_c,
        }
        entered = {}
        columns = st.columns(4)
        for column, (name, label, key, low, high) in zip(columns, SETPOINT_INPUTS, strict=True):
            value = stored[name] if stored[name] is not None else SETPOINT_DEFAULTS_C[name]
            entered[name] = column.number_input(
                label,
                low,
                high,
                float(value),
                step=0.5,
                disabled=not may_edit,
                key=f"{key}_{schedule.id}",
            )
        save = st.form_submit_button("Save setpoints", disabled=not may_edit, key=f"save_{schedule.id}")
    if save and may_edit:
        # only what was changed: the pair left alone is checked as stored (the 1 K deadband, zone limits)
        changed = {k: v for k, v in entered.items() if stored[k] is None or abs(v - stored[k]) > 1e-9}
        if not changed:
            st.session_state["schedule_result"] = ActionResult(True, "Nothing changed.")
        else:
            with common.guard():
                st.session_state["schedule_result"] = write_schedule_setpoints(
                    url, building.key, schedule_id=schedule.id, user=user, **changed
                )
        st.rerun()
st.caption(
    "Cooling setpoints stay at least 1 K above the heating ones, within every zone's limits (cooling "
    "21-30 °C, occupied 18-26 °C; heating 15-26 °C unless the site file says otherwise). "
    "A schedule is shared by every zone that follows it (in every building). A disabled schedule is not "
    "applied, its zones are not planned by the optimizer and SBEMS releases the setpoints it holds on them: "
    "they run on their local schedules. Schedule commands and the "
    "optimizer pick up the changes on their next run. A later `sbems site import` lists a schedule changed "
    "here as a conflict and keeps this version (unless run with --overwrite-panel-edits)."
)
