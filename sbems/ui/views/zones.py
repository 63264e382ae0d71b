"""Zones & setpoints: live values, held overrides, a manual override (through the dispatch service) and
release back to local control."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from sbems.services.panel import (
    allowed_setpoint_range_c,
    can_control,
    command_display_status,
    dispatch_override,
    dispatch_zone_release,
)
from sbems.services.panel_read import read_zone_control
from sbems.ui import common

LIFETIMES_S = {
    "15 minutes": 900,
    "30 minutes": 1800,
    "1 hour": 3600,
    "2 hours": 2 * 3600,
    "4 hours": 4 * 3600,
    "8 hours": 8 * 3600,
    "24 hours": 24 * 3600,
}
OUTCOME_STYLE = {
    "confirmed": st.success,
    "released": st.success,
    "skipped": st.info,
    "overridden": st.warning,
}

user = common.require("read:zones")
building = common.building()
url = common.database_url()
may_control = can_control(user.role, building.access_level)
tz = common.building_timezone(building)


def _time_left(expires_at: datetime | None) -> str:
    if expires_at is None:
        return common.MISSING
    left_s = (expires_at - datetime.now(UTC)).total_seconds()
    return "ended" if left_s <= 0 else f"{left_s // 3600:.0f} h {left_s % 3600 // 60:.0f} min"


st.title(f"Zones & setpoints: {building.name}")

with common.guard():
    view = read_zone_control(url, building.key)
zones = {z.key: z for z in view.zones}

if may_control and zones:
    st.subheader("Manual override")
    st.caption(
        "The write goes through dispatch: checked against the zone's setpoint limits (never outside "
        "18-26 °C), your role and building access, rate-limited, confirmed by read-back and audited. "
        "It ends by itself after its lifetime."
    )
    # the zone outside the form: the setpoint field then takes exactly the chosen zone's limits
    zone = st.selectbox(
        "Zone", list(zones), format_func=lambda k: f"{k}: {zones[k].name}", key="override_zone"
    )
    low, high = allowed_setpoint_range_c(zones[zone].limit_min_c, zones[zone].limit_max_c)
    with st.form("override"):
        c2, c3 = st.columns(2)
        value_c = c2.number_input(
            f"Setpoint (°C, {low:g}-{high:g})",
            min_value=low,
            max_value=high,
            value=min(max(23.0, low), high),
            step=0.5,
            key="override_value",
            help=f"Zone {zone} accepts {low:g}-{high:g} °C; a value outside is refused as you type.",
        )
        lifetime = c3.selectbox(
            "Lifetime",
            list(LIFETIMES_S),
            index=2,
            key="override_lifetime",
            help="The override ends by itself after this and the zone returns to its schedule.",
        )
        reason = st.text_input("Reason (kept in the audit log)", key="override_reason")
        submitted = st.form_submit_button("Apply override", key="override_submit", type="primary")
    if submitted:
        if not reason.strip():
            st.error("Give a reason for the override.")
        else:
            with st.spinner(f"Writing {value_c:g} °C to zone {zone}..."), common.guard():
                outcome = dispatch_override(
                    url,
                    building.key,
                    zone=zone,
                    value_c=value_c,
                    lifetime_s=LIFETIMES_S[lifetime],
                    reason=reason,
                    user=user,
                )
            show = OUTCOME_STYLE.get(outcome.status, st.error)
            read_back = f" (read back {outcome.read_back_c:g} °C)" if outcome.read_back_c is not None else ""
            show(f"Zone {zone}: {outcome.status}{read_back}. {outcome.detail}".strip())
            if outcome.status == "rejected":
                st.caption(f"Zone {zone} accepts {low:g}-{high:g} °C.")
            with common.guard():
                view = read_zone_control(url, building.key)
elif not may_control:
    st.info(
        f"Read-only: your role ({user.role}) with {building.access_level} access to this building "
        "cannot override setpoints."
    )

st.subheader("Zones")
live = {z.zone: z for z in view.live}
st.dataframe(
    common.friendly_cells(
        pd.DataFrame(
            [
                {
                    "Zone": key,
                    "Name": z.name,
                    "Temperature (°C)": live[key].temperature_c if key in live else None,
                    "Setpoint (°C)": live[key].setpoint_c if key in live else None,
                    "Comfort band (°C)": f"{z.comfort_min_c:g}–{z.comfort_max_c:g}"
                    if z.comfort_min_c is not None and z.comfort_max_c is not None
                    else None,
                    "Setpoint limits (°C)": "{:g}–{:g}".format(
                        *allowed_setpoint_range_c(z.limit_min_c, z.limit_max_c)
                    ),
                    "Last reading": common.local_time(live[key].updated_at, tz) if key in live else None,
                }
                for key, z in zones.items()
            ]
        )
    ),
    hide_index=True,
    width="stretch",
    key="zones_table",
)

st.subheader("Setpoints held now")
if (released := st.session_state.pop("release_result", None)) is not None:
    (st.success if released.ok else st.error)(released.detail)
held = view.held
if not held:
    st.caption("No zone holds a setpoint written by SBEMS: every zone follows its local schedule.")
else:
    held_rows = pd.DataFrame(
        [
            {
                "Zone": h.zone,
                "Setpoint (°C)": h.value_c,
                "Source": h.source,
                "Status": h.status,
                "Reason": h.reason,
                "By": h.user_email,
                "Written": common.local_time(h.created_at, tz),
                "Ends": common.local_time(h.expires_at, tz),
                "Time left": _time_left(h.expires_at),
            }
            for h in held
        ]
    )
    st.dataframe(common.friendly_cells(held_rows), hide_index=True, width="stretch", key="held_table")
    if may_control:
        c1, c2 = st.columns([2, 1])
        release_zone = c1.selectbox("Zone to release", sorted({h.zone for h in held}), key="release_zone")
        if c2.button("Release to local control", key="release_submit"):
            with st.spinner(f"Releasing zone {release_zone}..."), common.guard():
                st.session_state["release_result"] = dispatch_zone_release(
                    url, building.key, zone=release_zone, user=user
                )
            st.rerun()  # show the tables as they are after the release

st.subheader("Recent commands")
if view.commands:
    statuses = command_display_status(view.commands, datetime.now(UTC))
    commands = pd.DataFrame(
        [
            {
                "Time": common.local_time(c.created_at, tz),
                "Zone": c.zone,
                "Command": c.command_type.replace("_", " "),
                "Value (°C)": c.value_c,
                "Source": c.source,
                "Status": status,
                "Reason": c.reason,
                "By": c.user_email,
                "Ends": common.local_time(c.expires_at, tz),
                "Time left": _time_left(c.expires_at) if status in ("confirmed", "sent") else None,
                "Released": common.local_time(c.released_at, tz),
                "Error": c.error_message,
            }
            for c, status in zip(view.commands, statuses, strict=True)
        ]
    )
    st.dataframe(
        common.friendly_cells(commands),
        hide_index=True,
        width="stretch",
        key="commands_table",
    )
else:
    st.caption("No commands yet: overrides, releases and the optimizer's writes will be listed here.")
if view.commands:
    st.caption(
        "Superseded: a later write to the same zone replaced it. Ended: its lifetime is over and the zone "
        "went back to its schedule."
    )
