"""Savings: measured savings (M&V) with their uncertainty and fit statistics, baseline vs actual per day,
and the non-routine events (recorded here by facility managers, audited)."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import streamlit as st

from sbems.mv.nonroutine import KINDS, NonRoutineEvent
from sbems.services.panel_read import read_savings
from sbems.services.panel_writes import can_write
from sbems.services.savings import read_savings_report, record_nonroutine_event, withdraw_nonroutine_event
from sbems.ui import common

user = common.require("read:energy")
building = common.building()
url = common.database_url()
tz = common.building_timezone(building)
may_record = can_write(user.role, building.access_level, "write:savings")

st.title(f"Savings: {building.name}")
with common.guard():
    rows = read_savings(url, building.key)
    report = read_savings_report(url, building.key)


def _interval(period: dict) -> str:
    low, high = period["savings_interval_kwh"]
    if low is None or high is None:
        return "uncertainty not available"
    confidence = period["confidence"] or 0.9
    return (
        f"± {(high - low) / 2:,.0f} kWh at {confidence:.0%} confidence ({low:,.0f} to {high:,.0f} kWh); "
        f"fractional savings uncertainty {common.fmt(period['fsu_pct'], '%')}"
    )


for period in report["periods"]:
    st.subheader(
        f"Reporting period {common.local_time(period['period_start'], tz, '%Y-%m-%d')} to "
        f"{common.local_time(period['period_end'], tz, '%Y-%m-%d')} ({period['calculation_method']})"
    )
    c1, c2, c3 = st.columns(3)
    c1.metric("Saved", common.fmt(period["savings_kwh"], "kWh", 0), help=_interval(period))
    c2.metric("Saved (%)", common.fmt(period["savings_pct"], "%"))
    c3.metric("Uncertainty (FSU)", common.fmt(period["fsu_pct"], "%"))
    st.markdown(f"**{common.fmt(period['savings_kwh'], 'kWh', 0)} {_interval(period)}**")
    if period["status"] == "flagged":
        st.warning(f"Flagged: {period['reason']}")
    non_routine = period["non_routine"] or {}
    adjusted = non_routine.get("adjustment_kwh") or 0.0
    st.caption(
        f"Model {period['model_type']}; fit statistics (not pass/fail): CV(RMSE) "
        f"{common.fmt(period['cvrmse_pct'], '%')}, NMBE {common.fmt(period['nmbe_pct'], '%', 3)}; "
        f"{period['days_used']} reporting days; outside the baseline's temperature range: "
        f"{period['outside_baseline_temp_range']}; flags: {', '.join(period['flags']) or 'none'}"
        + (
            f"; non-routine adjustment {adjusted:,.0f} kWh"
            + (
                f" (its own standard error {non_routine['adjustment_se_kwh']:,.0f} kWh, in the interval)"
                if non_routine.get("adjustment_se_kwh")
                else ""
            )
            + ", "
            f"{non_routine.get('excluded_days', 0)} days excluded"
            if adjusted or non_routine.get("excluded_days")
            else ""
        )
    )

if not rows:
    st.info(
        "No savings have been calculated for this building yet. Savings appear here once the savings flow "
        "has compared measured consumption with the baseline for at least one period: it runs once a day "
        "and needs a full day of measurements after the baseline, so expect the first figures the day "
        "after start."
    )
else:
    table = pd.DataFrame(rows)
    # a reporting-period row overlaps its day rows: totals and the chart use the other rows only
    is_period = table["granularity"].eq("period")
    frame, periods = table[~is_period], table[is_period]
    st.subheader("All stored days")
    c1, c2, c3 = st.columns(3)
    c1.metric("Energy saved", common.fmt(frame["savings_kwh"].sum(skipna=True), "kWh", 0))
    c2.metric("Cost saved", f"${frame['cost_savings_usd'].sum(skipna=True):,.2f}")
    c3.metric("CO₂ avoided", common.fmt(frame["co2_reduction_kg"].sum(skipna=True), "kg", 0))
    st.bar_chart(
        frame.set_index("period_start")[["baseline_consumption_kwh", "actual_consumption_kwh"]].rename(
            columns={"baseline_consumption_kwh": "Baseline (kWh)", "actual_consumption_kwh": "Measured (kWh)"}
        ),
        stack=False,
        x_label="Day",
        y_label="kWh",
    )


def _when(value) -> str:
    """A day as it is; a moment in the building's local time."""
    if isinstance(value, datetime):
        return common.local_time(value, tz, "%Y-%m-%d %H:%M")
    return str(value)


def _friendly(rows: pd.DataFrame) -> pd.DataFrame:
    return common.friendly_cells(
        pd.DataFrame(
            {
                "From": [_when(v) for v in rows["period_start"]],
                "To": [_when(v) for v in rows["period_end"]],
                "Baseline (kWh)": rows["baseline_consumption_kwh"].round(0),
                "Measured (kWh)": rows["actual_consumption_kwh"].round(0),
                "Saved (kWh)": rows["savings_kwh"].round(0),
                "Saved (%)": rows["savings_pct"].round(1),
                "Cost saved (USD)": rows["cost_savings_usd"].round(2),
                "CO₂ avoided (kg)": rows["co2_reduction_kg"].round(0),
                "Method": rows["calculation_method"],
            }
        )
    )


if rows:
    st.dataframe(_friendly(frame), hide_index=True, width="stretch", key="savings_table")
    if not periods.empty:
        st.subheader("Reporting periods")
        st.dataframe(_friendly(periods), hide_index=True, width="stretch", key="savings_periods")

st.subheader("Non-routine events")
st.caption(
    "Changes that are not the energy measure (occupancy, added equipment...): their days are excluded, or "
    "the baseline is adjusted by the kWh per day they add, at the next savings run (docs/savings.md)."
)
if report["events"]:
    st.dataframe(
        pd.DataFrame(report["events"])[
            [
                "kind",
                "action",
                "start_date",
                "end_date",
                "kwh_per_day",
                "kwh_per_day_sd",
                "description",
                "created_by",
                "withdrawn_at",
            ]
        ],
        hide_index=True,
        width="stretch",
        key="savings_events",
    )
else:
    st.write("None recorded.")
if may_record:
    with st.form("savings_event"):
        kind = st.selectbox("Kind", KINDS, key="event_kind")
        action = st.radio("Action", ("adjust", "exclude"), horizontal=True, key="event_action")
        start = st.date_input("First day", value=date.today(), key="event_start")
        open_ended = st.checkbox("Still in effect (no last day)", value=True, key="event_open")
        end = st.date_input("Day after the last day", value=date.today(), key="event_end")
        kwh_per_day = st.number_input("kWh per day (adjust)", value=0.0, step=10.0, key="event_kwh")
        kwh_sd = st.number_input(
            "Its standard uncertainty, kWh per day (adjust)", value=0.0, min_value=0.0, key="event_kwh_sd"
        )
        description = st.text_input("Description", key="event_description")
        if st.form_submit_button("Record event", key="event_submit"):
            try:
                event = NonRoutineEvent(
                    start,
                    None if open_ended else end,
                    kind,
                    action,
                    float(kwh_per_day),
                    description,
                    kwh_per_day_sd=float(kwh_sd) if action == "adjust" else 0.0,
                )
                with common.guard():
                    record_nonroutine_event(url, building.key, event, actor=user.email, user_id=user.id)
                st.success("Recorded; the next savings run applies it.")
            except ValueError as exc:
                st.error(str(exc))
    active = [e for e in report["events"] if e["withdrawn_at"] is None]
    if active:
        with st.form("savings_event_withdraw"):
            labels = {f"{e['kind']} from {e['start_date']} ({e['description']})": e["id"] for e in active}
            chosen = st.selectbox("Event", list(labels), key="withdraw_event")
            why = st.text_input("Why it is withdrawn", key="withdraw_reason")
            if st.form_submit_button("Withdraw event", key="withdraw_submit"):
                try:
                    with common.guard():
                        done = withdraw_nonroutine_event(
                            url, building.key, labels[chosen], reason=why, actor=user.email, user_id=user.id
                        )
                    (st.success if done else st.error)("Withdrawn." if done else "Already withdrawn.")
                except ValueError as exc:
                    st.error(str(exc))
