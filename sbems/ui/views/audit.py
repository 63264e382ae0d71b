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

st.title("Audit log")
c1, c2 = st.columns([1, 1])
only_building = c1.toggle(f"Only {building.name}", value=False, key="audit_only_building")
limit = c2.selectbox("Entries", [50, 200, 1000], index=1, key="audit_limit")
with common.guard():
    entries = read_audit(url, building.key if only_building else None, limit=limit)
if not entries:
    st.info("The audit log is empty.")
    st.stop()
frame = pd.DataFrame(entries)
frame["changes"] = frame["changes"].map(lambda c: ", ".join(f"{k}: {v}" for k, v in (c or {}).items()))
actions = sorted(frame["action"].unique())
chosen = st.multiselect("Actions", actions, default=actions, key="audit_actions")
st.dataframe(frame[frame["action"].isin(chosen)], hide_index=True, width="stretch", key="audit_table")
