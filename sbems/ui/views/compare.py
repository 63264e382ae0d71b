"""Compare buildings: energy, cost and peak power per m² of floor area over a range, for every building
the user may see (bars and a table; CSV and Excel export)."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from sbems.services.history import RANGES_H
from sbems.services.panel_analytics import compare_buildings
from sbems.ui import common, export

common.require("read:analytics")
url = common.database_url()
buildings = st.session_state.get(common.BUILDINGS_KEY) or []

st.title("Compare buildings")
if not buildings:
    st.warning("You have no access to any building yet. Ask an administrator to grant it.")
    st.stop()
choice = st.segmented_control("Range", list(RANGES_H), default="Last 7 days", key="compare_range")
range_h = RANGES_H[choice or "Last 7 days"]
with common.guard():
    frame = compare_buildings(
        url, [(b.key, b.name, common.building_timezone(b)) for b in buildings], range_h=range_h
    )
st.caption(
    "Energy and cost over the local days in the range (costs from each building's tariff, energy and demand "
    "charges); peak: the highest 5-60 min mean of the building meter. Per m² of the building's floor area "
    "(its total area in the site file, else the sum of its zones)."
)


def _num(value, digits: int) -> str:
    return common.fmt(None if pd.isna(value) else float(value), digits=digits)


METRICS = {
    "kwh_per_m2": ("Energy (kWh/m²)", ".2f"),
    "usd_per_m2": ("Cost (USD/m²)", ".3f"),
    "peak_w_per_m2": ("Peak (W/m²)", ".1f"),
}
if frame[list(METRICS)].isna().all().all():
    st.info(
        "No energy readings in this range yet (or no floor areas): the comparison fills in as the building "
        "meters report. Add total_area_m2 to each building in the site file for per-m² figures."
    )
else:
    columns = st.columns(len(METRICS))
    for column, (name, (title, fmt)) in zip(columns, METRICS.items(), strict=True):
        data = frame[["building", name]].dropna()
        if data.empty:
            column.caption(f"{title}: no data")
            continue
        column.altair_chart(
            alt.Chart(data)
            .mark_bar()
            .encode(
                x=alt.X("building:N", title=None, sort="-y"),
                y=alt.Y(f"{name}:Q", title=title),
                tooltip=["building:N", alt.Tooltip(f"{name}:Q", format=fmt, title=title)],
            )
            .properties(height=240, title=title),
            width="stretch",
            key=f"compare_{name}",
        )

table = pd.DataFrame(
    {
        "Building": frame["building"],
        "Floor area (m²)": frame["area_m2"].map(lambda v: _num(v, 0)),
        "Energy (kWh)": frame["energy_kwh"].map(lambda v: _num(v, 0)),
        "Energy (kWh/m²)": frame["kwh_per_m2"].map(lambda v: _num(v, 2)),
        "Cost (USD)": frame["cost_usd"].map(lambda v: common.MISSING if pd.isna(v) else f"{v:,.2f}"),
        "Cost (USD/m²)": frame["usd_per_m2"].map(lambda v: _num(v, 3)),
        "Peak (kW)": frame["peak_kw"].map(lambda v: _num(v, 1)),
        "Peak (W/m²)": frame["peak_w_per_m2"].map(lambda v: _num(v, 1)),
    }
)
st.dataframe(common.friendly_cells(table), hide_index=True, width="stretch", key="compare_table")
export.buttons(frame, f"buildings-{int(range_h)}h", "compare", "comparison")
