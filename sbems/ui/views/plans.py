"""Plans: the latest optimization plan (totals vs the schedule-only baseline, the weather and zone models it
used, how far it can trust each zone model, and why) and each zone's trajectory; then the last day's plans
against what the building did (plan vs executed). Tables export as CSV and Excel."""

from __future__ import annotations

from datetime import UTC, datetime

import altair as alt
import pandas as pd
import streamlit as st

from sbems.services.delivery import DELIVERY_VIEW_H, delivery_figures
from sbems.services.panel_analytics import read_plan_execution
from sbems.services.panel_read import read_plan
from sbems.ui import common, export

common.require("read:analytics")
building = common.building()
url = common.database_url()
tz = common.building_timezone(building)

st.title(f"Plans: {building.name}")
with common.guard():
    plan = read_plan(url, building.key)
if not plan.found:
    st.info(
        "No optimization plan has been made for this building yet. Plans appear after the first optimize "
        "run once zone models exist: a fresh `sbems demo` runs it once within about 3 minutes of start, "
        "right after its first forecast; then the optimize flow runs every 15 minutes (`sbems flows run "
        "optimize` runs it now)."
    )
    st.stop()

summary = plan.summary
st.markdown(
    f"**Status:** {plan.status} · made {common.age_text(plan.created_at)} · horizon from "
    f"{common.local_time(plan.horizon_start, tz)} ({common.tz_label(tz, plan.horizon_start)}) in "
    f"{plan.step_s // 60} min steps · autopilot {'on' if building.autopilot else 'off'}"
)
if plan.reason:
    st.warning(f"{plan.reason} The building follows its schedule.")


def _describe(value: dict) -> str:
    return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in value.items() if v not in (None, ""))


def _money(key: str) -> str:
    value = summary.get(key)
    return common.MISSING if value is None else f"${value:,.2f}"


c1, c2, c3, c4 = st.columns(4)
c1.metric(
    "Expected cost", _money("total_cost_usd"), help=f"schedule baseline {_money('baseline_total_cost_usd')}"
)
c2.metric("Saving vs schedule", _money("savings_usd"))
c3.metric(
    "Peak",
    common.fmt(summary.get("peak_kw"), "kW"),
    help=f"schedule baseline {common.fmt(summary.get('baseline_peak_kw'), 'kW')}",
)
c4.metric(
    "Discomfort",
    common.fmt(summary.get("discomfort_kh"), "K·h", 2),
    help=f"schedule baseline {common.fmt(summary.get('baseline_discomfort_kh'), 'K·h', 2)}",
)

weather = summary.get("weather")
versions = summary.get("model_versions") or {}
reused = summary.get("reused_models")
if weather or versions:
    parts = []
    if weather:
        parts.append(f"**Weather:** {weather if isinstance(weather, str) else _describe(weather)}")
    if versions:
        text = ", ".join(f"{zone} {version}" for zone, version in sorted(versions.items()))
        how = ""
        if isinstance(reused, list | dict):
            how = f" ({len(reused)} reused, the others identified for this plan)"
        parts.append(f"**Zone models:** {text}{how}")
    st.markdown(" · ".join(parts))

confidence = plan.model_confidence
if confidence:
    grades = " · ".join(f"{zone} {value.get('grade')}" for zone, value in sorted(confidence.items()))
    st.markdown(f"**Model confidence:** {grades}")
    below = [
        f"- **{z}** {v.get('summary')}" for z, v in sorted(confidence.items()) if v.get("grade") != "high"
    ]
    if below:
        st.markdown("\n".join(below))
    with st.expander("How each zone model was graded"):
        st.markdown(
            "\n".join(
                f"- **{zone}** {str(check.get('check')).replace('_', ' ')}: {check.get('grade')}, "
                f"{check.get('text')}"
                for zone, value in sorted(confidence.items())
                for check in value.get("checks", [])
            )
        )
        st.caption(
            "Each check is graded on its own and the model gets the worst grade: validation error on "
            "held-out days, the zone and outdoor temperatures the data covered against what the plan needs, "
            "the highest output seen against the nameplate capacity in the site file, and the model's age."
        )

with common.guard():
    figures = delivery_figures(url, building.key, datetime.now(UTC), DELIVERY_VIEW_H)
delivery = {zone: value for zone, value in figures.items() if value["status"] != "no plan"}
if delivery:  # units whose plans in force recorded their kW (plans from before that: nothing to compare)
    st.subheader(f"Delivered power vs plan, last {DELIVERY_VIEW_H:.0f} hours")
    short = [f"- {value['reason']}" for value in delivery.values() if value["status"] == "shortfall"]
    if short:
        st.warning("Units that did not deliver what the plan asked:\n" + "\n".join(short))
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "Zone": zone,
                    "Unit": value["unit"],
                    "Status": value["status"],
                    "Steps at >= 50 % output": value["substantial_steps"],
                    "Plan asked (kW)": value["expected_kw"],
                    "Unit drew (kW)": value["measured_kw"],
                    "Delivered (%)": None
                    if value["delivered_frac"] is None
                    else round(100 * value["delivered_frac"]),
                }
                for zone, value in sorted(delivery.items())
            ]
        ),
        hide_index=True,
        key="plan_delivery",
    )
    st.caption(
        "Each unit's metered power against the electric power the plans in force asked of it (cooling and "
        "heating at the plan's COPs, plus the fan), on the steps where the plan asked for at least half the "
        "unit's capacity. Two such steps in a row below half the expected power raise an alert."
    )

budget = summary.get("discomfort_budget")
if isinstance(budget, dict) and budget:
    st.subheader("Weekly discomfort budget")
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "Zone": zone,
                    "Used (K·h)": value.get("discomfort_used_kh"),
                    "Budget (K·h)": value.get("budget_kh"),
                    "Extra margin, upper edge (°C)": value.get("warm_margin_c", value.get("extra_margin_c")),
                    "Extra margin, lower edge (°C)": value.get("cold_margin_c", 0.0),
                }
                for zone, value in sorted(budget.items())
                if isinstance(value, dict)
            ]
        ),
        hide_index=True,
        key="plan_budget",
    )
    st.caption(
        "K·h outside the occupied comfort band since Monday 00:00 local time. A zone spending its budget "
        "faster than its share of the week's occupied hours is planned further inside the edge it overran."
    )

if plan.setpoints_now_c:
    st.subheader("Setpoints for the current step")
    st.dataframe(
        pd.DataFrame([{"Zone": z, "Setpoint (°C)": v} for z, v in plan.setpoints_now_c.items()]),
        hide_index=True,
        key="plan_now",
    )

if plan.trajectory:
    frame = pd.DataFrame(plan.trajectory)
    frame["Local time"] = common.local_naive(frame["time_utc"], tz)
    st.subheader("Setpoint trajectory per zone (°C)")
    st.line_chart(frame.pivot(index="Local time", columns="zone", values="setpoint_c"), y_label="°C")
    if "expected_temp_c" in frame:
        st.subheader("Expected zone temperature (°C)")
        st.line_chart(frame.pivot(index="Local time", columns="zone", values="expected_temp_c"), y_label="°C")
if plan.building_kw:
    kw = pd.DataFrame(plan.building_kw)
    kw["Local time"] = common.local_naive(kw["time_utc"], tz)
    st.subheader("Building electric power (kW)")
    st.area_chart(kw.set_index("Local time")[["building_electric_kw"]], y_label="kW")
if plan.trajectory:
    export.buttons(pd.DataFrame(plan.trajectory), f"plan-{building.key}", "plan_trajectory", "plan")
with st.expander("Plan summary (raw)"):
    st.json(summary)

# ---------------------------------------------------------------- plan vs executed

st.subheader("Plan vs executed, last 24 hours")
with common.guard():
    execution = read_plan_execution(url, building.key, range_h=24)
if execution.zones.empty:
    st.info(
        "No solved plans in the last 24 hours yet. Each re-plan (every 15 minutes) adds a step here: what "
        "the planner asked for against the setpoint the zone then held and the temperature it reached."
    )
else:
    zones_frame = execution.zones.assign(time=common.local_naive(execution.zones["time_utc"], tz))
    chosen = st.selectbox("Zone", sorted(zones_frame["zone"].unique()), key="plan_exec_zone")
    one = zones_frame[zones_frame["zone"] == chosen].melt(
        id_vars=["time"],
        value_vars=["planned_setpoint_c", "setpoint_c", "planned_temp_c", "temperature_c"],
        var_name="series",
        value_name="c",
    )
    names = {
        "planned_setpoint_c": "Planned setpoint",
        "setpoint_c": "Setpoint held",
        "planned_temp_c": "Planned temperature",
        "temperature_c": "Measured temperature",
    }
    one["series"] = one["series"].map(names)
    chart = (
        alt.Chart(one.dropna(subset=["c"]))
        .mark_line(point=True)
        .encode(
            x=alt.X("time:T", title=f"Local time ({tz})", axis=alt.Axis(format="%a %H:%M")),
            y=alt.Y("c:Q", title="°C", scale=alt.Scale(zero=False)),
            color=alt.Color("series:N", title=None, legend=alt.Legend(orient="top")),
            strokeDash=alt.condition(
                "indexof(datum.series, 'Planned') === 0", alt.value([5, 3]), alt.value([1, 0])
            ),
            tooltip=["series:N", alt.Tooltip("time:T", format="%a %H:%M"), alt.Tooltip("c:Q", format=".1f")],
        )
    )
    st.altair_chart(chart.properties(height=260), width="stretch", key="plan_exec_chart")
    power = execution.power.dropna(subset=["planned_kw"])
    if not power.empty:
        kw = power.assign(time=common.local_naive(power["time_utc"], tz)).melt(
            id_vars=["time"], value_vars=["planned_kw", "measured_kw"], var_name="series", value_name="kw"
        )
        kw["series"] = kw["series"].map({"planned_kw": "Planned HVAC power", "measured_kw": "Building meter"})
        st.altair_chart(
            alt.Chart(kw.dropna(subset=["kw"]))
            .mark_line(point=True)
            .encode(
                x=alt.X("time:T", title=f"Local time ({tz})", axis=alt.Axis(format="%a %H:%M")),
                y=alt.Y("kw:Q", title="kW"),
                color=alt.Color("series:N", title=None, legend=alt.Legend(orient="top")),
            )
            .properties(height=220),
            width="stretch",
            key="plan_exec_power",
        )
    st.caption(
        f"{execution.plans} plans: dashed, each plan's first step (what was sent); solid, what the building "
        "measured over that step. Power: the plan's HVAC electric power (its zones' units) beside the "
        "building meter, which adds lights and plug loads."
    )
    export.buttons(execution.zones, f"plan-vs-executed-{building.key}", "plan_exec", "plan vs executed")
