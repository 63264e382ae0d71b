"""Audit log: who did what, from where, with what result (commands, releases, logins, alert and schedule
edits)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from sbems.services.panel_read import read_audit
from sbems.ui import common

common.require("read:audit")
building = common.building()
url = common.database_url()
tz = common.building_timezone(building)

st.title("Audit log")
c1, c2 = st.columns([1, 1])
only_building = c1.toggle(f"Only {building.name}", value=False, key="audit_only_building")
limit = c2.selectbox("Entries", [50, 200, 1000], index=1, key="audit_limit")
with common.guard():
    entries = read_audit(url, building.key if only_building else None, limit=limit)
if not entries:
    st.info("The audit log is empty: logins, overrides, releases and alert and schedule changes appear here.")
    st.stop()
frame = pd.DataFrame(
    {
        "Time": [common.local_time(e.time, tz, "%Y-%m-%d %H:%M:%S") for e in entries],
        "Who": [e.actor for e in entries],
        "Action": [e.action for e in entries],
        "What": [" ".join(p for p in (e.resource, e.resource_id) if p) or None for e in entries],
        "Source": [e.source for e in entries],
        "Result": [e.result for e in entries],
        "Changes": [", ".join(f"{k}: {v}" for k, v in (e.changes or {}).items()) or None for e in entries],
        "Error": [e.error_message for e in entries],
    }
)
actions = sorted(frame["Action"].unique())
chosen = st.multiselect("Actions", actions, default=actions, key="audit_actions")
st.dataframe(
    common.friendly_cells(frame[frame["Action"].isin(chosen)]),
    hide_index=True,
    width="stretch",
    key="audit_table",
)
st.caption(f"Times in {common.tz_label(tz)}.")
