"""User administration in the panel: an admin adds a user, changes the role and building access,
deactivates and resets MFA; every change is audited and ends the user's sessions; non-admins and
self-demotion are refused by the service whatever the page shows."""

from __future__ import annotations

from sbems.services.auth import AuthUser, authenticate, start_session
from sbems.services.user_admin import add_user, change_user
from tests.ui.support import PASSWORD, log_in, texts


def test_an_admin_adds_and_changes_a_user_from_the_panel(make_user, conn, site_db):
    admin = make_user("admin")
    at = log_in(admin)
    at.switch_page("views/users.py").run()
    assert not at.exception, at.exception
    at.text_input(key="user_add_email").input("new.viewer@example.com")
    at.text_input(key="user_add_pw").input("a long enough password")
    at.button(key="user_add_submit").click()
    at.run()
    assert not at.exception, at.exception
    assert "new.viewer@example.com added as viewer" in texts(at)
    row = conn.execute(
        "SELECT u.role, u.active, a.access_level FROM users u "
        "JOIN user_building_access a ON a.user_id = u.id WHERE u.email = 'new.viewer@example.com'"
    ).fetchall()
    assert row == [("viewer", True, "readonly")]
    assert authenticate(site_db, "new.viewer@example.com", "a long enough password").status == "ok"

    # promote to operator with control access, then deactivate: sessions end at once
    viewer = conn.execute("SELECT id FROM users WHERE email = 'new.viewer@example.com'").fetchone()[0]
    start_session(site_db, AuthUser(viewer, "new.viewer@example.com", "viewer"))
    at.selectbox(key="user_edit_email").select("new.viewer@example.com").run()
    at.selectbox(key="user_role_new.viewer@example.com").select("operator")
    at.selectbox(key="user_access_new.viewer@example.com_hq").select("control")
    at.button(key="user_edit_submit").click()
    at.run()
    assert not at.exception, at.exception
    assert "updated" in texts(at)
    role, level = conn.execute(
        "SELECT u.role, a.access_level FROM users u JOIN user_building_access a ON a.user_id = u.id "
        "WHERE u.email = 'new.viewer@example.com'"
    ).fetchone()
    assert (role, level) == ("operator", "control")
    open_sessions = "SELECT count(*) FROM user_sessions WHERE user_id = %s AND revoked_at IS NULL"
    assert conn.execute(open_sessions, (viewer,)).fetchone()[0] == 0

    at.toggle(key="user_active_new.viewer@example.com").set_value(False)
    at.button(key="user_edit_submit").click()
    at.run()
    assert conn.execute("SELECT active FROM users WHERE id = %s", (viewer,)).fetchone()[0] is False
    assert authenticate(site_db, "new.viewer@example.com", "a long enough password").status != "ok"

    at.button(key="user_reset_mfa").click()
    at.run()
    assert "two-factor authentication reset" in texts(at)
    audit = conn.execute(
        "SELECT action, actor FROM audit_log WHERE resource = 'user' AND action <> 'login' "
        "AND resource_id = 'new.viewer@example.com' ORDER BY id"
    ).fetchall()
    assert audit == [
        ("create_user", admin),
        ("update_user", admin),
        ("update_user", admin),
        ("reset_mfa", admin),
    ]


def test_the_service_refuses_non_admins_duplicates_weak_passwords_and_self_demotion(make_user, site_db, conn):
    admin_email = make_user("admin")
    manager_email = make_user("facility_manager")
    ids = dict(conn.execute("SELECT email, id FROM users").fetchall())
    admin = AuthUser(ids[admin_email], admin_email, "admin")
    manager = AuthUser(ids[manager_email], manager_email, "facility_manager")
    refused = add_user(site_db, manager, email="x@example.com", password=PASSWORD, role="admin", buildings=[])
    assert not refused.ok and "cannot manage users" in refused.detail
    assert not add_user(
        site_db, admin, email=manager_email, password=PASSWORD, role="viewer", buildings=[]
    ).ok
    weak = add_user(site_db, admin, email="y@example.com", password="short", role="viewer", buildings=[])
    assert not weak.ok and "at least" in weak.detail
    demote = change_user(site_db, admin, email=admin_email, role="viewer")
    assert not demote.ok and "yourself" in demote.detail
    unknown = change_user(site_db, admin, email=manager_email, role="viewer", access={"nowhere": "full"})
    assert not unknown.ok
    assert conn.execute("SELECT role FROM users WHERE email = %s", (manager_email,)).fetchone()[0] == (
        "facility_manager"
    )  # nothing written before the refusal
