"""Users (admins): who can log in, with which role and building access; add a user, change a role or
building access, deactivate or reactivate, reset two-factor authentication (``services.user_admin``)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from sbems.services.auth import ACCESS_LEVELS
from sbems.services.panel_read import read_users
from sbems.services.user_admin import ROLES, add_user, change_user, reset_user_mfa
from sbems.ui import common

NO_ACCESS = "no access"

user = common.require("manage:users")
url = common.database_url()
buildings = st.session_state.get(common.BUILDINGS_KEY) or []
building_names = {b.key: b.name for b in buildings}

st.title("Users")
if (result := st.session_state.pop("users_result", None)) is not None:
    (st.success if result.ok else st.error)(result.detail)
with common.guard():
    users = read_users(url)
tz = common.building_timezone()
st.dataframe(
    common.friendly_cells(
        pd.DataFrame(
            [
                {
                    "E-mail": u.email,
                    "Role": u.role.replace("_", " "),
                    "Active": "yes" if u.active else "no (deactivated)",
                    "Last login": common.local_time(u.last_login, tz) if u.last_login else None,
                    "Buildings": u.buildings or None,
                }
                for u in users
            ]
        )
    ),
    hide_index=True,
    width="stretch",
    key="users_table",
)


def _role_label(role: str) -> str:
    return role.replace("_", " ")


with st.expander("Add a user", icon=":material/person_add:"):
    with st.form("user_add", clear_on_submit=True):
        c1, c2 = st.columns(2)
        email = c1.text_input("E-mail", key="user_add_email")
        password = c2.text_input(
            "Initial password (at least 12 characters)", type="password", key="user_add_pw"
        )
        c3, c4 = st.columns(2)
        role = c3.selectbox(
            "Role", ROLES, index=ROLES.index("viewer"), format_func=_role_label, key="user_add_role"
        )
        level = c4.selectbox(
            "Access level",
            ["the role's default", *ACCESS_LEVELS],
            key="user_add_level",
            help="viewers: readonly, operators: control, facility managers and admins: full",
        )
        chosen = st.multiselect(
            "Buildings",
            list(building_names),
            default=list(building_names),
            format_func=building_names.get,
            key="user_add_buildings",
        )
        if st.form_submit_button("Add user", key="user_add_submit", type="primary"):
            with common.guard():
                st.session_state["users_result"] = add_user(
                    url,
                    user,
                    email=email,
                    password=password,
                    role=role,
                    buildings=chosen,
                    access_level=None if level == "the role's default" else level,
                )
            st.rerun()

if users:
    st.subheader("Change a user")
    emails = [u.email for u in users]
    target_email = st.selectbox("User", emails, key="user_edit_email")
    target = next(u for u in users if u.email == target_email)
    grants = dict(part.split(":", 1) for part in target.buildings.split(", ") if ":" in part)
    with st.form("user_edit"):
        c1, c2 = st.columns(2)
        new_role = c1.selectbox(
            "Role",
            ROLES,
            index=ROLES.index(target.role),
            format_func=_role_label,
            key=f"user_role_{target.email}",
        )
        active = c2.toggle("Active (may log in)", value=target.active, key=f"user_active_{target.email}")
        access = {}
        columns = st.columns(max(1, len(building_names)))
        for column, (key, name) in zip(columns, building_names.items(), strict=False):
            options = [NO_ACCESS, *ACCESS_LEVELS]
            access[key] = column.selectbox(
                f"Access to {name}",
                options,
                index=options.index(grants.get(key, NO_ACCESS)),
                key=f"user_access_{target.email}_{key}",
            )
        if st.form_submit_button("Save changes", key="user_edit_submit", type="primary"):
            with common.guard():
                st.session_state["users_result"] = change_user(
                    url,
                    user,
                    email=target.email,
                    role=new_role,
                    active=active,
                    access={k: (None if v == NO_ACCESS else v) for k, v in access.items()},
                )
            st.rerun()
    st.caption("Saving ends the user's open sessions, so the new role and access apply at their next page.")
    if st.button("Reset two-factor authentication", key="user_reset_mfa", icon=":material/key_off:"):
        with common.guard():
            st.session_state["users_result"] = reset_user_mfa(url, user, email=target.email)
        st.rerun()
    st.caption("After a reset the user sets up a new authenticator at their next login (a lost phone).")
