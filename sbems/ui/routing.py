"""The Alerts page's "Notification routing" section (admins and facility managers): per severity, who gets
the building's alerts, set in the panel or left to the site file (``services.notify_routes``). Targets are
shown as scheme and host only; the URLs stay in ``SBEMS_NOTIFY_URLS``."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from sbems.services.notifications import NotificationError
from sbems.services.notify_routes import (
    can_edit_routes,
    panel_notify_config,
    read_routing,
    reset_route,
    save_route,
    target_choices,
)
from sbems.ui import common

RESULT_KEY = "routing_result"


def _who(targets) -> str:
    return (
        ", ".join(f"{t.shown}" + (f" [{', '.join(t.tags)}]" if t.tags else "") for t in targets) or "nobody"
    )


def render(user, building, url: str) -> None:
    if not can_edit_routes(user.role, building.access_level):
        return
    st.divider()
    st.subheader("Notification routing")
    if (result := st.session_state.pop(RESULT_KEY, None)) is not None:
        (st.success if result.ok else st.error)(result.detail)
    try:
        config = panel_notify_config()
    except NotificationError as exc:
        st.error(str(exc))
        return
    choices = target_choices(config.targets)
    if choices:
        st.dataframe(
            pd.DataFrame(
                [
                    {"#": i + 1, "Target": c.shown, "Tags": ", ".join(c.tags) or "—"}
                    for i, c in enumerate(choices)
                ]
            ),
            hide_index=True,
            key="routing_targets",
        )
    else:
        st.info(
            "No notification targets are configured: set SBEMS_NOTIFY_URLS (apprise URLs, comma-separated, "
            "each with an optional tag=...) for the services and the panel. Routes by tag can be set now."
        )
    with common.guard():
        routing = read_routing(url, building.key, config)
    numbers = {c.key: i + 1 for i, c in enumerate(choices)}
    labels = {c.key: f"#{numbers[c.key]} {c.shown}" for c in choices}
    all_tags = sorted({tag for c in choices for tag in c.tags} | {t for r in routing for t in r.tags})
    for entry in routing:
        severity = entry.severity
        with st.form(f"route_form_{severity}"):
            st.markdown(f"**{severity.capitalize()} alerts** go to: {_who(entry.targets)}")
            if entry.source == "panel":
                when = common.local_time(entry.updated_at, common.building_timezone(building))
                st.caption(
                    f"Set in the panel by {entry.updated_by}, {when} (takes precedence over the site file)."
                )
                if entry.missing_keys:
                    st.warning(
                        f"{len(entry.missing_keys)} chosen target(s) are no longer in SBEMS_NOTIFY_URLS."
                    )
            else:
                st.caption(f"From the {entry.source} routing (the site file's notifications block).")
            chosen_keys = (
                entry.target_keys if entry.source == "panel" else tuple(t.key for t in entry.targets)
            )
            c1, c2 = st.columns(2)
            tags = c1.multiselect(
                "Tags (every target carrying one)",
                all_tags,
                default=list(entry.tags),
                accept_new_options=True,
                key=f"route_tags_{severity}",
            )
            keys = c2.multiselect(
                "Targets",
                list(labels),
                default=[k for k in chosen_keys if k in labels],
                format_func=labels.get,
                key=f"route_targets_{severity}",
            )
            save = st.form_submit_button("Save route", key=f"route_save_{severity}")
        if save:
            with common.guard():
                st.session_state[RESULT_KEY] = save_route(
                    url, building.key, severity=severity, tags=tags, target_keys=keys, user=user
                )
            st.rerun()
        if entry.source == "panel" and st.button("Use the site file again", key=f"route_reset_{severity}"):
            with common.guard():
                st.session_state[RESULT_KEY] = reset_route(url, building.key, severity=severity, user=user)
            st.rerun()
    st.caption(
        "A route set here replaces the site file's routes for that severity in this building (none chosen: "
        "nobody is notified); escalation and quiet hours stay as the site file says."
    )
