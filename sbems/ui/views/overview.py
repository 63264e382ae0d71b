"""Overview: live state per zone (temperature, setpoint, occupancy) with each value's age and stale ones
flagged, the building's power with its last 24 h, and open alerts by severity; refreshed every few seconds
from the live-state table. Times are the building's local time."""

from __future__ import annotations

from datetime import UTC, datetime

import altair as alt
import pandas as pd
import streamlit as st

from sbems.services.history import read_overview_trend
from sbems.services.panel_read import read_overview
from sbems.services.panel_writes import can_switch_autopilot, write_autopilot_change
from sbems.ui import common

user = common.require("read:status")
building = common.building()
url = common.database_url()
tz = common.building_timezone(building)

st.title(f"Overview: {building.name}")
st.caption(
    f"Live state, refreshed every {common.REFRESH_S} s; times in {common.tz_label(tz)}. "
    f"Autopilot is {'on' if building.autopilot else 'off'}. A value older than {common.STALE_AFTER_S} s "
    "(two poll periods) is flagged stale."
)

PENDING_KEY = "autopilot_pending"
if (switched := st.session_state.pop("autopilot_result", None)) is not None:
    (st.success if switched.ok else st.error)(switched.detail)
if can_switch_autopilot(user.role, building.access_level):
    wanted = not building.autopilot
    if st.session_state.get(PENDING_KEY) != (building.key, wanted):
        st.button(
            f"Turn autopilot {'on' if wanted else 'off'}",
            key="autopilot_toggle",
            icon=":material/smart_toy:",
            on_click=lambda: st.session_state.update({PENDING_KEY: (building.key, wanted)}),
        )
    else:
        st.warning(
            "Turn the autopilot on? The optimizer's plans will write the zones' setpoints at each re-plan "
            "(every 15 minutes), within each zone's limits."
            if wanted
            else "Turn the autopilot off? The zones go back to their schedules at the next step."
        )
        yes, no, _ = st.columns([1, 1, 4])
        if yes.button(f"Yes, turn it {'on' if wanted else 'off'}", key="autopilot_confirm", type="primary"):
            st.session_state.pop(PENDING_KEY, None)
            with common.guard():
                st.session_state["autopilot_result"] = write_autopilot_change(
                    url, building.key, on=wanted, user=user
                )
            st.rerun()
        if no.button("Cancel", key="autopilot_cancel"):
            st.session_state.pop(PENDING_KEY, None)
            st.rerun()


def _age(at: datetime | None, now_utc: datetime) -> str:
    """'12 s ago', or '⚠ 5 min ago (stale)', or '—'."""
    if at is None:
        return common.MISSING
    text = common.age_text(at, now_utc)
    return f"⚠ {text} (stale)" if common.is_stale(at, now_utc) else text


def _value(value: float | None, digits: int = 1) -> str:
    return common.MISSING if value is None else f"{value:.{digits}f}"


@st.fragment(run_every=common.REFRESH_S)
def live_state() -> None:
    now_utc = datetime.now(UTC)
    with common.guard():
        overview = read_overview(url, building.key)
        trend = read_overview_trend(url, building.key, now_utc=now_utc)
    occupied = sum(1 for z in overview.zones if z.occupancy_count)
    c1, c2, c3 = st.columns(3)
    c1.metric("Building power", common.fmt(overview.building_kw, "kW"))
    c2.metric("Occupied zones", f"{occupied} of {len(overview.zones)}")
    c3.metric("Newest reading", common.age_text(overview.newest_at))
    if overview.building_kw is not None and common.is_stale(overview.building_kw_at, now_utc):
        st.warning(
            f"Building power is stale: last measured {common.age_text(overview.building_kw_at, now_utc)} "
            f"({common.local_time(overview.building_kw_at, tz)})."
        )
    a1, a2, a3 = st.columns(3)
    for column, severity in zip((a1, a2, a3), ("critical", "warning", "info"), strict=True):
        column.metric(f"Open alerts: {severity}", str(trend.alert_counts.get(severity, 0)))
    if overview.points_with_data == 0:
        st.info(
            "No readings have arrived for this building yet. Live values appear within a minute of the "
            "pollers and the listener starting (`sbems demo` or `sbems serve`)."
        )
    if trend.power.empty:
        st.caption("Building power over the last 24 h appears here once the meter has reported.")
    else:
        power = trend.power.assign(
            time=common.local_naive(trend.power["time_utc"], tz),
            utc=pd.to_datetime(trend.power["time_utc"], utc=True).dt.strftime("%H:%M UTC"),
        )[["time", "utc", "power_kw"]]
        chart = (
            alt.Chart(power)
            .mark_area(line={"color": "#1f77b4"}, color="#1f77b4", opacity=0.15)
            .encode(
                x=alt.X("time:T", title=None, axis=alt.Axis(format="%H:%M")),
                y=alt.Y("power_kw:Q", title="Power (kW)"),
                tooltip=[
                    alt.Tooltip("time:T", title="Local time", format="%a %H:%M"),
                    alt.Tooltip("utc:N", title="UTC"),
                    alt.Tooltip("power_kw:Q", title="Power (kW)", format=".1f"),
                ],
            )
            .properties(height=140, title="Building power, last 24 h")
        )
        st.altair_chart(chart, width="stretch", key="overview_power_trend")
    table = pd.DataFrame(
        [
            {
                "Zone": z.zone,
                "Name": z.name,
                "Temperature (°C)": _value(z.temperature_c),
                "Temperature age": _age(z.temperature_at, now_utc),
                "Setpoint (°C)": _value(z.setpoint_c),
                "Setpoint age": _age(z.setpoint_at, now_utc),
                "Occupancy (people)": _value(z.occupancy_count, 0),
                "Comfort band (°C)": (
                    f"{z.comfort_min_c:g}–{z.comfort_max_c:g}"
                    if z.comfort_min_c is not None and z.comfort_max_c is not None
                    else common.MISSING
                ),
                "Last reading": common.local_time(z.updated_at, tz, "%H:%M:%S"),
            }
            for z in overview.zones
        ]
    )
    stale = table.style.map(lambda v: "background-color: #fff3cd" if "(stale)" in str(v) else "")
    st.dataframe(stale, hide_index=True, width="stretch", key="overview_zones")


live_state()
