"""Helpers for driving the panel through AppTest."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[2] / "sbems" / "ui" / "app.py"
PASSWORD = "correct horse battery"
TIMEOUT_S = 90


def new_app() -> AppTest:
    return AppTest.from_file(str(APP), default_timeout=TIMEOUT_S)


def log_in(email: str, password: str = PASSWORD) -> AppTest:
    at = new_app()
    at.run()
    assert not at.exception, at.exception
    at.text_input(key="login_email").input(email)
    at.text_input(key="login_password").input(password)
    at.button(key="login_submit").click()
    at.run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    """Everything the page says in alerts, markdown, captions and titles, as one string."""
    parts = [
        e.value
        for kind in (at.error, at.warning, at.info, at.success, at.markdown, at.caption, at.title)
        for e in kind
    ]
    return "\n".join(str(p) for p in parts)
