"""Forecasts: the latest prediction per target time with its interval, against the values measured (the
building's power for load, the zone's room temperature for temperature), exportable as CSV or Excel."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import altair as alt
import pandas as pd
import streamlit as st

from sbems.services.panel_analytics import measured_accuracy, read_measured
from sbems.services.panel_read import read_forecast, read_forecast_choices
from sbems.ui import common, export

UNITS = {"load": "kW", "temperature": "°C", "occupancy": "people"}

common.require("read:analytics")
building = common.building()
url = common.database_url()
tz = common.building_timezone(building)

st.title(f"Forecasts: {building.name}")
with common.guard():
    choices = read_forecast_choices(url, building.key)
if not choices:
    st.info(
        "No forecasts have been stored for this building yet. Forecasts of load, zone temperatures and "
        "occupancy appear after the first forecast run: a fresh `sbems demo` runs it once within about 3 "
        "minutes of start (models fitted on its backfilled history), then the forecast flow runs every 15 "
        "minutes once two weeks of history exist (`sbems flows run forecast` runs it now). Below: the "
        "measured building power they will be drawn against."
    )
    now_utc = datetime.now(UTC)
    with common.guard():
        measured = read_measured(
            url,
            building.key,
            prediction_type="load",
            zone=None,
            start_utc=now_utc - timedelta(hours=48),
            end_utc=now_utc,
        )
    if not measured.empty:
        points = measured.assign(time=common.local_naive(measured["time_utc"], tz)).drop(columns=["time_utc"])
        st.altair_chart(
            alt.Chart(points)
            .mark_circle(size=18, color="black")
            .encode(
                x=alt.X("time:T", title=f"Local time ({tz})", axis=alt.Axis(format="%a %H:%M")),
                y=alt.Y("measured:Q", title="kW"),
                tooltip=[alt.Tooltip("measured:Q", format=".1f", title="kW")],
            )
            .properties(title="Measured building power, last 48 h (15-min means)"),
            width="stretch",
            key="forecast_measured_only",
        )
    st.stop()

labels = [f"{c.prediction_type.capitalize()} · {c.zone or 'whole building'}" for c in choices]
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
now_utc = datetime.now(UTC)
with common.guard():
    measured = read_measured(
        url,
        building.key,
        prediction_type=choice.prediction_type,
        zone=choice.zone,
        start_utc=now_utc - timedelta(hours=lookback_h),
        end_utc=now_utc,
    )
forecast_frame = pd.DataFrame(view.rows)
mae, coverage, pairs = view.mae, view.interval_coverage_pct, view.pairs
if pairs == 0 and not forecast_frame.empty:  # no actuals stored with the predictions: use the readings
    mae, coverage, pairs = measured_accuracy(forecast_frame, measured)

m1, m2, m3 = st.columns(3)
m1.metric("Mean absolute error", common.fmt(mae, unit, 2) if mae is not None else "no measured values yet")
m2.metric("Measured values inside the interval", common.fmt(coverage, "%", 0))
m3.metric("Model version", view.model_version or common.MISSING)
st.caption(
    f"Latest forecast issued {common.age_text(choice.latest_issued_at)} "
    f"({common.local_time(choice.latest_issued_at, tz)}); {pairs} past target times have a measured "
    f"value. Times in {common.tz_label(tz)}."
)

if not view.rows:
    st.info(
        f"No predictions in the last {lookback_h} h or ahead: the next forecast run (every 15 min) adds them."
    )
    st.stop()
frame = pd.DataFrame(view.rows)
for column in ("predicted_value", "lower_value", "upper_value", "actual_value"):
    frame[column] = pd.to_numeric(frame[column]).astype(float)  # all-missing columns arrive as objects
frame["prediction_time"] = pd.to_datetime(frame["prediction_time"], utc=True)
frame["time"] = common.local_naive(frame["prediction_time"], tz)
base = alt.Chart(frame.drop(columns=["prediction_time", "issued_at"])).encode(
    x=alt.X("time:T", title=f"Local time ({tz})", axis=alt.Axis(format="%a %H:%M"))
)
layers = []
if frame["lower_value"].notna().any():
    layers.append(
        base.mark_area(opacity=0.25).encode(y=alt.Y("lower_value:Q", title=unit), y2="upper_value:Q")
    )
layers.append(base.mark_line().encode(y=alt.Y("predicted_value:Q", title=unit)))
if frame["actual_value"].notna().any():
    layers.append(base.mark_circle(size=18, color="black").encode(y="actual_value:Q"))
elif not measured.empty:
    points = measured.assign(time=common.local_naive(measured["time_utc"], tz)).drop(columns=["time_utc"])
    layers.append(
        alt.Chart(points)
        .mark_circle(size=18, color="black")
        .encode(
            x="time:T", y="measured:Q", tooltip=[alt.Tooltip("measured:Q", format=".2f", title="Measured")]
        )
    )
st.altair_chart(alt.layer(*layers), width="stretch")
st.caption(
    "Line: forecast (the latest issued for each time); band: its interval; dots: measured values "
    "(15-min means of the readings where the predictions carry none)."
)
with st.expander("Rows"):
    rows = pd.DataFrame(
        {
            "Time": [common.local_time(t, tz) for t in frame["prediction_time"]],
            "Issued": [common.local_time(t, tz) for t in pd.to_datetime(frame["issued_at"], utc=True)],
            f"Forecast ({unit})": frame["predicted_value"].round(2),
            f"Lower ({unit})": frame["lower_value"].round(2),
            f"Upper ({unit})": frame["upper_value"].round(2),
            f"Measured ({unit})": frame["actual_value"].round(2),
            "Model": frame["model_version"],
        }
    )
    st.dataframe(common.friendly_cells(rows), hide_index=True, width="stretch", key="forecast_rows")
export.buttons(
    frame.drop(columns=["time"]).rename(columns={"prediction_time": "prediction_time_utc"}),
    f"forecast-{building.key}-{choice.prediction_type}-{choice.zone or 'building'}",
    "forecast",
    "forecast",
)
