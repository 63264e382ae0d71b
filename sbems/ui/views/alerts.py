"""Alerts: open alerts first by severity; acknowledge or resolve them with write:alerts; admins and facility
managers also set who is notified of each severity (``ui.routing``)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from sbems.services.panel_read import read_alerts
from sbems.services.panel_writes import can_write, write_alert_action
from sbems.ui import common, routing

user = common.require("read:alerts")
building = common.building()
url = common.database_url()
may_act = can_write(user.role, building.access_level, "write:alerts")
tz = common.building_timezone(building)


def _number(value: float | None) -> str | None:
    return None if value is None else f"{value:g}"


def _measured(value: float | None, metric: str | None) -> str | None:
    """``29.4 (temperature)``; the value alone when the alert names no metric."""
    if value is None:
        return None
    return f"{value:g} ({metric})" if metric else f"{value:g}"


st.title(f"Alerts: {building.name}")
if (message := st.session_state.pop("alert_result", None)) is not None:
    (st.success if message.ok else st.error)(message.detail)
show_resolved = st.toggle("Show resolved alerts too", key="alerts_show_resolved")
with common.guard():
    alerts = read_alerts(url, building.key, open_only=not show_resolved)
if not alerts:
    st.success("No open alerts." if not show_resolved else "No alerts.")
else:
    counts = pd.Series([a.severity for a in alerts if not a.resolved]).value_counts()
    c1, c2, c3 = st.columns(3)
    for column, severity in zip((c1, c2, c3), ("critical", "warning", "info"), strict=True):
        column.metric(severity.capitalize(), int(counts.get(severity, 0)))
    table = pd.DataFrame(
        [
            {
                "Raised": common.local_time(a.created_at, tz),
                "Severity": a.severity.capitalize(),
                "Title": a.title,
                "Kind": a.alert_type.replace("_", " "),
                "Zone": a.zone,
                "Measured": _measured(a.actual_value, a.metric_name),
                "Threshold": _number(a.threshold_value),
                "Acknowledged": (
                    f"{a.acknowledged_by or 'yes'}, {common.local_time(a.acknowledged_at, tz)}"
                    if a.acknowledged
                    else None
                ),
                "Resolved": common.local_time(a.resolved_at, tz) if a.resolved else None,
                "Details": a.description,
            }
            for a in alerts
        ]
    )
    st.dataframe(common.friendly_cells(table), hide_index=True, width="stretch", key="alerts_table")
    st.caption(f"Times in {common.tz_label(tz)}.")

    if not may_act:
        st.caption(f"Your role ({user.role}) may view alerts but not acknowledge or resolve them.")
    else:
        open_alerts = [a for a in alerts if not a.resolved]
        if open_alerts:
            labels = {
                str(a.id): f"[{a.severity}] {a.title} · {common.local_time(a.created_at, tz)}"
                for a in open_alerts
            }
            chosen = st.selectbox("Alert", list(labels), format_func=labels.get, key="alert_choice")
            c1, c2, _ = st.columns([1, 1, 3])
            action = None
            if c1.button("Acknowledge", key="alert_ack"):
                action = "acknowledge"
            if c2.button("Resolve", key="alert_resolve"):
                action = "resolve"
            if action:
                alert_id = next(a.id for a in open_alerts if str(a.id) == chosen)
                with common.guard():
                    st.session_state["alert_result"] = write_alert_action(
                        url, building.key, alert_id=alert_id, action=action, user=user
                    )
                st.rerun()

routing.render(user, building, url)
