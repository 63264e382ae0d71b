"""Forecasts: the latest prediction per target time with its interval, against the measured value."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from sbems.services.panel_read import read_forecast, read_forecast_choices
from sbems.ui import common

UNITS = {"load": "kW", "temperature": "°C", "occupancy": "people"}

common.require("read:analytics")
building = common.building()
url = common.database_url()

st.title(f"Forecasts: {building.name}")
with common.guard():
    choices = read_forecast_choices(url, building.key)
if not choices:
    st.info(
        "No forecasts have been stored for this building yet: the forecast flow writes them every 15 minutes "
        "once enough history exists (`sbems flows run forecast`)."
    )
    st.stop()

labels = [f"{c.prediction_type} · {c.zone or 'building'}" for c in choices]
c1, c2 = st.columns([2, 1])
index = c1.selectbox("Forecast", range(len(choices)), format_func=labels.__getitem__, key="forecast_choice")
lookback_h = c2.slider("History shown (hours)", 6, 168, 48, step=6, key="forecast_lookback_h")
choice = choices[index]
with common.guard():
    view = read_forecast(
        url,
        building.key,
        prediction_type=choice.prediction_type,
        zone=choice.zone,
        lookback_h=lookback_h,
    )
unit = UNITS.get(choice.prediction_type, "")

m1, m2, m3 = st.columns(3)
m1.metric("Mean absolute error", common.fmt(view.mae, unit, 2) if view.mae is not None else "no actuals yet")
m2.metric("Actuals inside the interval", common.fmt(view.interval_coverage_pct, "%", 0))
m3.metric("Model version", view.model_version or "–")
st.caption(
    f"Latest forecast issued {common.age_text(choice.latest_issued_at)}; {view.pairs} past target "
    "times have a measured value."
)

if not view.rows:
    st.info(f"No predictions in the last {lookback_h} h or ahead.")
    st.stop()
frame = pd.DataFrame(view.rows)
frame["prediction_time"] = pd.to_datetime(frame["prediction_time"], utc=True)
base = alt.Chart(frame).encode(x=alt.X("prediction_time:T", title="time (UTC)"))
layers = []
if frame["lower_value"].notna().any():
    layers.append(
        base.mark_area(opacity=0.25).encode(y=alt.Y("lower_value:Q", title=unit), y2="upper_value:Q")
    )
layers.append(base.mark_line().encode(y=alt.Y("predicted_value:Q", title=unit)))
if frame["actual_value"].notna().any():
    layers.append(base.mark_circle(size=18, color="black").encode(y="actual_value:Q"))
st.altair_chart(alt.layer(*layers), width="stretch")
st.caption("Line: forecast (the latest issued for each time); band: its interval; dots: measured values.")
with st.expander("Rows"):
    st.dataframe(frame, hide_index=True, width="stretch")
