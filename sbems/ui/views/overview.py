"""Overview: live state per zone (temperature, setpoint, occupancy) and the building's power, refreshed
every few seconds from the live-state table."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from sbems.services.panel_read import read_overview
from sbems.ui import common

common.require("read:status")
building = common.building()
url = common.database_url()

st.title(f"Overview: {building.name}")
st.caption(
    f"Live state, refreshed every {common.REFRESH_S} s. Autopilot is {'on' if building.autopilot else 'off'}."
)


@st.fragment(run_every=common.REFRESH_S)
def live_state() -> None:
    with common.guard():
        overview = read_overview(url, building.key)
    occupied = sum(1 for z in overview.zones if z.occupancy_count)
    c1, c2, c3 = st.columns(3)
    c1.metric("Building power", common.fmt(overview.building_kw, "kW"))
    c2.metric("Occupied zones", f"{occupied} of {len(overview.zones)}")
    c3.metric("Newest reading", common.age_text(overview.newest_at))
    if overview.points_with_data == 0:
        st.info(
            "No readings have arrived for this building yet: start the pollers and the listener "
            "(or `sbems demo`)."
        )
    table = pd.DataFrame(
        [
            {
                "zone": z.zone,
                "name": z.name,
                "temperature_c": z.temperature_c,
                "setpoint_c": z.setpoint_c,
                "occupancy_count": z.occupancy_count,
                "comfort_c": (
                    f"{z.comfort_min_c:g}-{z.comfort_max_c:g}" if z.comfort_min_c is not None else None
                ),
                "updated": common.age_text(z.updated_at),
            }
            for z in overview.zones
        ]
    )
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        key="overview_zones",
        column_config={
            "temperature_c": st.column_config.NumberColumn("Temperature (°C)", format="%.1f"),
            "setpoint_c": st.column_config.NumberColumn("Setpoint (°C)", format="%.1f"),
            "occupancy_count": st.column_config.NumberColumn("Occupancy (people)", format="%d"),
            "comfort_c": "Comfort band (°C)",
        },
    )


live_state()
