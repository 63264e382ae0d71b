"""Alert rules: the building's threshold rules (metric, threshold, how long it must be broken, severity,
cooldown, zone), editable by facility managers and admins (``services.alert_rules``)."""

from __future__ import annotations

import uuid

import pandas as pd
import streamlit as st

from sbems.services.alert_rules import COMPARISONS, SEVERITIES, RuleDraft, read_rules, remove_rule, save_rule
from sbems.services.panel_read import read_zone_control
from sbems.services.panel_writes import can_write
from sbems.ui import common

NEW = "new"
ALL_ZONES = "every zone"

user = common.require("read:alerts")
building = common.building()
url = common.database_url()
may_edit = can_write(user.role, building.access_level, "write:alerts")

st.title(f"Alert rules: {building.name}")
if (result := st.session_state.pop("rules_result", None)) is not None:
    (st.success if result.ok else st.error)(result.detail)
with common.guard():
    rules = read_rules(url, building.key)
    zones = [z.key for z in read_zone_control(url, building.key).zones]


def _minutes(seconds: int) -> str:
    return "at once" if seconds == 0 else f"{seconds / 60:g} min"


if rules:
    st.dataframe(
        common.friendly_cells(
            pd.DataFrame(
                [
                    {
                        "Rule": r.name,
                        "Condition": f"{r.metric_name} {r.comparison} {r.threshold_value:g}",
                        "For at least": _minutes(r.duration_s),
                        "Severity": r.severity.capitalize(),
                        "Zone": r.zone or ("all buildings" if r.site_wide else ALL_ZONES),
                        "Repeat after": _minutes(r.cooldown_s),
                        "Enabled": "yes" if r.enabled else "no",
                    }
                    for r in rules
                ]
            )
        ),
        hide_index=True,
        width="stretch",
        key="rules_table",
    )
else:
    st.info("No alert rules yet: add one below (e.g. temperature > 27 °C for 10 min, warning).")
st.caption(
    "A rule raises an alert when a reading breaks its threshold continuously for at least its duration, and "
    "again no sooner than its repeat time. Metrics: a sensor type (temperature, humidity, co2, power, "
    "occupancy), an HVAC value (supply_temp_c, power_kw...) or a point key (z1-temp)."
)
if not may_edit:
    st.caption(f"Your role ({user.role}) may view the rules; facility managers and admins change them.")
    st.stop()

by_id = {str(r.id): r for r in rules}
choice = st.selectbox(
    "Rule to edit",
    [NEW, *by_id],
    format_func=lambda k: "Add a new rule" if k == NEW else by_id[k].name,
    key="rules_choice",
)
current = by_id.get(choice)
with st.form(f"rule_{choice}"):
    name = st.text_input("Name", value=current.name if current else "", key=f"rule_name_{choice}")
    c1, c2, c3 = st.columns(3)
    metric = c1.text_input(
        "Metric", value=current.metric_name if current else "temperature", key=f"rule_metric_{choice}"
    )
    comparison = c2.selectbox(
        "Comparison",
        COMPARISONS,
        index=COMPARISONS.index(current.comparison) if current else 0,
        key=f"rule_cmp_{choice}",
    )
    threshold = c3.number_input(
        "Threshold", value=float(current.threshold_value) if current else 27.0, key=f"rule_threshold_{choice}"
    )
    c4, c5, c6 = st.columns(3)
    duration_min = c4.number_input(
        "For at least (min)",
        min_value=0.0,
        max_value=24 * 60.0,
        value=(current.duration_s / 60) if current else 10.0,
        step=1.0,
        key=f"rule_duration_{choice}",
    )
    severity = c5.selectbox(
        "Severity",
        SEVERITIES,
        index=SEVERITIES.index(current.severity) if current else 1,
        key=f"rule_severity_{choice}",
    )
    cooldown_min = c6.number_input(
        "Repeat after (min)",
        min_value=0.0,
        max_value=7 * 24 * 60.0,
        value=(current.cooldown_s / 60) if current else 15.0,
        step=5.0,
        key=f"rule_cooldown_{choice}",
    )
    zone_options = [ALL_ZONES, *zones]
    zone = st.selectbox(
        "Zone",
        zone_options,
        index=zone_options.index(current.zone) if current and current.zone in zone_options else 0,
        key=f"rule_zone_{choice}",
    )
    enabled = st.toggle("Enabled", value=current.enabled if current else True, key=f"rule_enabled_{choice}")
    if st.form_submit_button("Save rule", key="rule_save", type="primary"):
        draft = RuleDraft(
            name,
            metric,
            comparison,
            float(threshold),
            severity,
            round(duration_min * 60),
            round(cooldown_min * 60),
            None if zone == ALL_ZONES else zone,
            enabled,
        )
        with common.guard():
            st.session_state["rules_result"] = save_rule(
                url, building.key, draft, user=user, rule_id=current.id if current else None
            )
        st.rerun()
if current is not None and st.button("Delete this rule", key="rule_delete", icon=":material/delete:"):
    with common.guard():
        st.session_state["rules_result"] = remove_rule(url, building.key, uuid.UUID(choice), user=user)
    st.session_state.pop("rules_choice", None)
    st.rerun()
