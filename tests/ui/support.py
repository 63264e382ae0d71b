"""Helpers for driving the panel through AppTest."""

from __future__ import annotations

from pathlib import Path

import pyotp
from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[2] / "sbems" / "ui" / "app.py"
PASSWORD = "correct horse battery"
TIMEOUT_S = 90


def new_app() -> AppTest:
    return AppTest.from_file(str(APP), default_timeout=TIMEOUT_S)


def log_in(email: str, password: str = PASSWORD, totp: str | None = None, enrol: bool = True) -> AppTest:
    """Log in through the form; an admin's first login enrols TOTP with the key the page shows (unless
    ``enrol`` is False) and acknowledges the recovery codes."""
    at = new_app()
    at.run()
    assert not at.exception, at.exception
    at.text_input(key="login_email").input(email)
    at.text_input(key="login_password").input(password)
    if totp:
        at.text_input(key="login_totp").input(totp)
    at.button(key="login_submit").click()
    at.run()
    assert not at.exception, at.exception
    if enrol and "Two-factor authentication is required" in texts(at):
        secret = at.code[0].value
        at.text_input(key="login_totp").input(pyotp.TOTP(secret).now())
        at.button(key="login_submit").click()
        at.run()
        at.button(key="login_continue").click()
        at.run()
        assert not at.exception, at.exception
    return at


def totp_secret(conn, email: str) -> str:
    return conn.execute("SELECT totp_secret FROM users WHERE email = %s", (email,)).fetchone()[0]


def texts(at: AppTest) -> str:
    """Everything the page says in alerts, markdown, captions and titles, as one string."""
    parts = [
        e.value
        for kind in (at.error, at.warning, at.info, at.success, at.markdown, at.caption, at.title)
        for e in kind
    ]
    return "\n".join(str(p) for p in parts)
