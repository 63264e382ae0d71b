"""Panel sessions and MFA through Streamlit's AppTest: an admin needs a TOTP code (enrolment at the first
login), the session is re-checked on every page (deactivated or demoted users lose access at once), and
logging out ends the session in the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp

from tests.ui.support import PASSWORD, log_in, texts, totp_secret


def test_a_deactivated_users_open_session_is_refused_on_the_next_page(make_user, conn):
    email = make_user("operator")
    at = log_in(email)
    at.switch_page("views/audit.py").run()
    assert not at.exception and len(at.dataframe) == 1
    conn.execute("UPDATE users SET active = false WHERE email = %s", (email,))
    conn.commit()
    at.switch_page("views/zones.py").run()
    assert not at.exception, at.exception
    assert "sbems_user" not in at.session_state and "sbems_session" not in at.session_state
    assert "deactivated" in texts(at)
    assert len(at.dataframe) == 0 and at.text_input(key="login_email") is not None
    revoked = conn.execute("SELECT revoked_at IS NOT NULL FROM user_sessions").fetchall()
    assert revoked == [(True,)]


def test_a_demoted_admin_loses_users_and_audit_at_once(make_user, conn):
    email = make_user("admin")
    at = log_in(email)
    assert at.session_state["sbems_user"].role == "admin"
    at.switch_page("views/users.py").run()
    assert len(at.dataframe) == 1 and "Users" in texts(at)
    conn.execute("UPDATE users SET role = 'viewer' WHERE email = %s", (email,))
    conn.commit()
    at.switch_page("views/users.py").run()
    assert not at.exception, at.exception
    assert at.session_state["sbems_user"].role == "viewer"
    titles = [t.value for t in at.title]
    assert "Users" not in titles and "Audit log" not in titles
    assert all("E-mail" not in d.value.columns for d in at.dataframe)  # no users table


def test_an_admin_cannot_log_in_without_a_totp_code(make_user, conn):
    email = make_user("admin")
    at = log_in(email, enrol=False)
    assert "Two-factor authentication is required" in texts(at) and "sbems_user" not in at.session_state
    secret = at.code[0].value
    at.text_input(key="login_totp").input("000000")
    at.button(key="login_submit").click()
    at.run()
    assert "Wrong authentication code" in texts(at) and "sbems_user" not in at.session_state

    at.text_input(key="login_totp").input(pyotp.TOTP(secret).now())
    at.button(key="login_submit").click()
    at.run()
    codes = at.code[0].value.split("\n")
    assert len(codes) == 10 and "sbems_user" not in at.session_state  # codes first, shown once
    at.button(key="login_continue").click()
    at.run()
    assert at.session_state["sbems_user"].email == email
    assert totp_secret(conn, email) == secret

    # the next login: the password alone is not enough; a code (here of the next step) is
    at = log_in(email)
    assert "Enter the 6-digit code" in texts(at) and "sbems_user" not in at.session_state
    later = datetime.now(UTC) + timedelta(seconds=30)
    at = log_in(email, totp=pyotp.TOTP(secret).at(later))
    assert at.session_state["sbems_user"].email == email
    at = log_in(email, PASSWORD, totp=codes[0])  # or a recovery code, once
    assert at.session_state["sbems_user"].email == email
    at = log_in(email, PASSWORD, totp=codes[0])
    assert "Wrong authentication code" in texts(at) and "sbems_user" not in at.session_state


def test_logout_ends_the_session_in_the_database(make_user, conn):
    at = log_in(make_user("viewer"))
    assert conn.execute("SELECT count(*) FROM user_sessions WHERE revoked_at IS NULL").fetchone() == (1,)
    at.button(key="logout").click()
    at.run()
    assert "sbems_user" not in at.session_state
    assert conn.execute("SELECT count(*) FROM user_sessions WHERE revoked_at IS NULL").fetchone() == (0,)


def test_locked_account_is_shown_as_locked(make_user):
    email = make_user("viewer")
    for _ in range(5):
        at = log_in(email, "wrong password!")
    assert "locked" in texts(at)
    at = log_in(email)
    assert "locked" in texts(at) and "sbems_user" not in at.session_state
