"""Login: e-mail and password checked against users.password_hash (bcrypt)."""

from __future__ import annotations

import streamlit as st

from sbems.services.auth import authenticate
from sbems.ui import common

st.title("SBEMS control panel")
st.caption("Smart Building Energy Management System: log in to see and control your buildings.")

with st.form("login"):
    email = st.text_input("E-mail", key="login_email")
    password = st.text_input("Password", type="password", key="login_password")
    submitted = st.form_submit_button("Log in", key="login_submit", type="primary")

if submitted:
    with common.guard():
        user = authenticate(common.database_url(), email, password)
    if user is None:
        st.error("Wrong e-mail or password (or the account is deactivated).")
    else:
        st.session_state[common.USER_KEY] = user
        st.rerun()
