"""Login: e-mail, password and (admins, or anyone enrolled) an authentication code. An admin without a
code enrols here at the first login: the key is shown once, and the recovery codes after the first code."""

from __future__ import annotations

import streamlit as st

from sbems.services.auth import authenticate, start_session
from sbems.ui import common

PENDING_KEY = "sbems_login_pending"  # (token, user, recovery codes) until the codes are acknowledged


def _continue() -> None:
    token, user, _codes = st.session_state.pop(PENDING_KEY)
    common.open_session(token, user)


st.title("SBEMS control panel")
st.caption("Smart Building Energy Management System: log in to see and control your buildings.")

ended = st.session_state.pop(common.ENDED_KEY, None)
if ended:
    st.warning(ended)

pending = st.session_state.get(PENDING_KEY)
if pending:
    st.success(
        "Two-factor authentication is set up. Save these recovery codes now: each works once, "
        "in place of a code, and they are not shown again."
    )
    st.code("\n".join(pending[2]))
    st.button("I saved them: continue", key="login_continue", on_click=_continue, type="primary")
    st.stop()

with st.form("login"):
    email = st.text_input("E-mail", key="login_email")
    password = st.text_input("Password", type="password", key="login_password")
    code = st.text_input("Authentication code (admins; or a recovery code)", key="login_totp")
    submitted = st.form_submit_button("Log in", key="login_submit", type="primary")

if submitted:
    client = common.client_address()
    with common.guard():
        result = authenticate(common.database_url(), email, password, totp=code or None, client=client)
        token = start_session(common.database_url(), result.user, client=client) if result.user else None
    if result.status == "ok" and result.recovery_codes:
        st.session_state[PENDING_KEY] = (token, result.user, result.recovery_codes)
        st.rerun()
    elif result.status == "ok":
        common.open_session(token, result.user)
        st.rerun()
    elif result.status == "mfa_enrolment":
        st.warning(result.message)
        st.code(result.totp_secret)
        st.caption("The same key as an otpauth link (what a QR code would carry):")
        st.code(result.totp_uri)
    elif result.status == "mfa_required":
        st.info(result.message)
    else:
        st.error(result.message)
