"""History: how the building's day (week, month) went, in the building's local time.

Building power with the tariff's peak periods shaded and this month's billing peak marked; zone
temperatures against their setpoint and comfort band; energy and cost per day split into energy and
demand charges. Each chart's data downloads as CSV with UTC times.
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from sbems.services.history import RANGES_H, read_history
from sbems.ui import common

common.require("read:analytics")
building = common.building()
url = common.database_url()
tz = common.building_timezone(building)

st.title(f"History: {building.name}")
choice = st.segmented_control("Range", list(RANGES_H), default="Last 24 hours", key="history_range")
range_h = RANGES_H[choice or "Last 24 hours"]
with common.guard():
    view = read_history(url, building.key, tz, range_h=range_h)
st.caption(
    f"Times in the building's local time ({common.tz_label(tz, view.end_utc)}); downloads are in UTC. "
    f"Tariff: {view.tariff_name or common.MISSING}."
)
for note in view.notes:
    st.info(note)


def _csv(frame: pd.DataFrame, columns: dict[str, str]) -> bytes:
    """The frame with UTC ISO times and friendly headers as CSV."""
    out = frame[list(columns)].copy()
    for name in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[name]):
            out[name] = pd.to_datetime(out[name], utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return out.rename(columns=columns).to_csv(index=False).encode()


def _utc_text(times: pd.Series) -> pd.Series:
    return pd.to_datetime(times, utc=True).dt.strftime("%Y-%m-%d %H:%M UTC")


# ---------------------------------------------------------------- building power

st.subheader("Building power")
if view.power.empty:
    st.info(
        "No power readings in this range yet. The building meter's readings appear here within a minute "
        "of the pollers starting (`sbems demo` or `sbems serve`)."
    )
else:
    power = view.power.assign(
        time=common.local_naive(view.power["time_utc"], tz),
        utc=_utc_text(view.power["time_utc"]),
        period=view.power["period"].str.replace("_", " "),
    )
    x = alt.X("time:T", title=f"Local time ({tz})", axis=alt.Axis(format="%a %H:%M"))
    layers = []
    if not view.spans.empty:
        spans = view.spans.assign(
            start=common.local_naive(view.spans["start_utc"], tz),
            end=common.local_naive(view.spans["end_utc"], tz),
            period=view.spans["period"].str.replace("_", " "),
        )
        layers.append(
            alt.Chart(spans[["start", "end", "period"]])
            .mark_rect(color="#f5a623", opacity=0.18)
            .encode(x="start:T", x2="end:T", tooltip=[alt.Tooltip("period:N", title="Tariff period")])
        )
    layers.append(
        alt.Chart(power[["time", "utc", "power_kw", "period"]])
        .mark_line(color="#1f77b4")
        .encode(
            x=x,
            y=alt.Y("power_kw:Q", title="Power (kW)"),
            tooltip=[
                alt.Tooltip("time:T", title="Local time", format="%a %d %b %H:%M"),
                alt.Tooltip("utc:N", title="UTC"),
                alt.Tooltip("power_kw:Q", title="Power (kW)", format=".1f"),
                alt.Tooltip("period:N", title="Tariff period"),
            ],
        )
    )
    if view.peaks:
        peaks = pd.DataFrame(
            {
                "charge": [p.charge.replace("_", " ") for p in view.peaks],
                "peak_kw": [p.peak_kw for p in view.peaks],
                "when": [common.local_time(p.time_utc, tz) for p in view.peaks],
                "time": common.local_naive(pd.Series([p.time_utc for p in view.peaks]), tz),
            }
        )
        peaks["label"] = "Billing peak (" + peaks["charge"] + "): " + peaks["peak_kw"].map("{:.0f} kW".format)
        rule = alt.Chart(peaks).encode(
            y="peak_kw:Q",
            tooltip=[
                alt.Tooltip("charge:N", title="Demand charge"),
                alt.Tooltip("peak_kw:Q", title="Peak (kW)", format=".1f"),
                alt.Tooltip("when:N", title="Set at"),
            ],
        )
        layers.append(rule.mark_rule(color="#d62728", strokeDash=[6, 4]))
        layers.append(
            rule.mark_text(align="left", dx=4, dy=-6, color="#d62728").encode(x=alt.value(0), text="label:N")
        )
        # where the peak was set (15-min demand: a coarser bin of the line may show it lower)
        in_range = peaks[peaks["time"] >= power["time"].min()]
        layers.append(
            alt.Chart(in_range)
            .mark_point(color="#d62728", size=60, filled=True)
            .encode(x="time:T", y="peak_kw:Q", tooltip=[alt.Tooltip("label:N", title="Peak"), "when:N"])
        )
    st.altair_chart(alt.layer(*layers).properties(height=300), width="stretch", key="history_power")
    legend = "Shaded: the tariff's on-peak hours. " if not view.spans.empty else ""
    peaks_text = "; ".join(
        f"{p.charge.replace('_', ' ')} {p.peak_kw:.1f} kW at {common.local_time(p.time_utc, tz)}"
        + (f" (${p.usd_per_kw:g}/kW)" if p.usd_per_kw else "")
        for p in view.peaks
    )
    st.caption(f"{legend}Dashed: this month's billing peak so far ({peaks_text or common.MISSING}).")
    st.download_button(
        "Download power (CSV)",
        _csv(view.power, {"time_utc": "Time (UTC)", "power_kw": "Power (kW)", "period": "Tariff period"}),
        file_name=f"{building.key}-power.csv",
        mime="text/csv",
        key="history_power_csv",
    )

# ---------------------------------------------------------------- zone temperatures

st.subheader("Zone temperatures")
temps = view.temperatures
if temps.empty:
    st.info(
        "No zone temperatures in this range yet. They appear here as soon as the zone sensors and "
        "controllers have been polled (every 30 s)."
    )
else:
    zones = list(dict.fromkeys(temps["zone"]))
    zone = st.selectbox("Zone", zones, key="history_zone")
    one = temps[temps["zone"] == zone].assign(
        time=lambda f: common.local_naive(f["time_utc"], tz), utc=lambda f: _utc_text(f["time_utc"])
    )
    x = alt.X("time:T", title=f"Local time ({tz})", axis=alt.Axis(format="%a %H:%M"))
    long = one.melt(
        id_vars=["time", "utc"], value_vars=["temperature_c", "setpoint_c"], var_name="series", value_name="c"
    ).dropna(subset=["c"])
    long["series"] = long["series"].map({"temperature_c": "Temperature", "setpoint_c": "Setpoint"})
    band = (
        alt.Chart(one.dropna(subset=["comfort_min_c", "comfort_max_c"]))
        .mark_area(color="#2ca02c", opacity=0.12)
        .encode(x=x, y=alt.Y("comfort_min_c:Q", title="Temperature (°C)"), y2="comfort_max_c:Q")
    )
    lines = (
        alt.Chart(long)
        .mark_line()
        .encode(
            x=x,
            y=alt.Y("c:Q", title="Temperature (°C)", scale=alt.Scale(zero=False)),
            color=alt.Color(
                "series:N",
                title=None,
                scale=alt.Scale(domain=["Temperature", "Setpoint"], range=["#1f77b4", "#ff7f0e"]),
                legend=alt.Legend(orient="top"),
            ),
            strokeDash=alt.StrokeDash(
                "series:N",
                scale=alt.Scale(domain=["Temperature", "Setpoint"], range=[[1, 0], [6, 4]]),
                legend=None,
            ),
            tooltip=[
                alt.Tooltip("time:T", title="Local time", format="%a %d %b %H:%M"),
                alt.Tooltip("utc:N", title="UTC"),
                alt.Tooltip("series:N", title="Series"),
                alt.Tooltip("c:Q", title="°C", format=".1f"),
            ],
        )
    )
    st.altair_chart((band + lines).properties(height=280), width="stretch", key="history_temperatures")
    st.caption("Solid: measured room temperature; dashed: the setpoint; green band: the zone's comfort band.")
    st.download_button(
        "Download zone temperatures (CSV)",
        _csv(
            temps,
            {
                "time_utc": "Time (UTC)",
                "zone": "Zone",
                "temperature_c": "Temperature (°C)",
                "setpoint_c": "Setpoint (°C)",
                "comfort_min_c": "Comfort min (°C)",
                "comfort_max_c": "Comfort max (°C)",
            },
        ),
        file_name=f"{building.key}-zone-temperatures.csv",
        mime="text/csv",
        key="history_temperatures_csv",
    )

# ---------------------------------------------------------------- energy and cost per day

st.subheader("Energy and cost per day")
daily = view.daily
if daily.empty:
    st.info(
        "Energy per day appears once the meters have reported. Closed hours come from the hourly rollups "
        "(the maintenance flow, every hour); the current hour from the latest readings."
    )
else:
    if view.tariff_name:
        costs = daily.melt(
            id_vars=["date", "energy_kwh"],
            value_vars=["energy_usd", "demand_usd"],
            var_name="part",
            value_name="usd",
        )
        costs["part"] = costs["part"].map({"energy_usd": "Energy charges", "demand_usd": "Demand charges"})
        costs["date"] = pd.to_datetime(costs["date"])
        chart = (
            alt.Chart(costs)
            .mark_bar()
            .encode(
                x=alt.X("yearmonthdate(date):O", title="Day (local)", axis=alt.Axis(format="%a %d %b")),
                y=alt.Y("sum(usd):Q", title="Cost (USD)"),
                color=alt.Color(
                    "part:N",
                    title=None,
                    scale=alt.Scale(
                        domain=["Energy charges", "Demand charges"], range=["#1f77b4", "#d62728"]
                    ),
                    legend=alt.Legend(orient="top"),
                ),
                order=alt.Order("part:N", sort="descending"),
                tooltip=[
                    alt.Tooltip("yearmonthdate(date):T", title="Day", format="%a %d %b"),
                    alt.Tooltip("part:N", title="Part"),
                    alt.Tooltip("usd:Q", title="USD", format=",.2f"),
                    alt.Tooltip("energy_kwh:Q", title="Energy (kWh)", format=",.0f"),
                ],
            )
        )
        st.altair_chart(chart.properties(height=260), width="stretch", key="history_daily")
        st.caption(
            "Demand charges are billed on the month's peak: a day shows what it added to this month's demand "
            "charge (only days that set a new peak have one)."
        )
    table = pd.DataFrame(
        {
            "Day": [d.strftime("%a %d %b %Y") for d in daily["date"]],
            "Energy (kWh)": daily["energy_kwh"].map(
                lambda v: common.fmt(v, digits=0) if pd.notna(v) else None
            ),
            "Energy charges (USD)": daily["energy_usd"].map(lambda v: f"{v:,.2f}" if pd.notna(v) else None),
            "Demand charges (USD)": daily["demand_usd"].map(lambda v: f"{v:,.2f}" if pd.notna(v) else None),
            "Total (USD)": daily["total_usd"].map(lambda v: f"{v:,.2f}" if pd.notna(v) else None),
        }
    )
    st.dataframe(common.friendly_cells(table), hide_index=True, width="stretch", key="history_daily_table")
    st.download_button(
        "Download energy and cost per day (CSV)",
        _csv(
            daily,
            {
                "date": "Day (local)",
                "energy_kwh": "Energy (kWh)",
                "energy_usd": "Energy charges (USD)",
                "demand_usd": "Demand charges (USD)",
                "total_usd": "Total (USD)",
            },
        ),
        file_name=f"{building.key}-daily-cost.csv",
        mime="text/csv",
        key="history_daily_csv",
    )
