"""The autopilot switch on the Overview: facility managers (full access) and admins only, confirmed before
it changes, stored on the building and audited; operators see no switch and the service refuses them."""

from __future__ import annotations

from sbems.services.auth import AuthUser
from sbems.services.panel_writes import write_autopilot_change
from tests.ui.support import log_in, texts


def _autopilot(conn) -> bool:
    return conn.execute("SELECT autopilot FROM buildings WHERE key = 'hq'").fetchone()[0]


def test_a_facility_manager_turns_the_autopilot_on_after_confirming(make_user, conn):
    conn.execute("UPDATE buildings SET autopilot = false")
    conn.commit()
    email = make_user("facility_manager")
    at = log_in(email)
    assert not at.exception, at.exception
    at.button(key="autopilot_toggle").click().run()
    assert "Turn the autopilot on?" in texts(at) and _autopilot(conn) is False  # nothing yet
    at.button(key="autopilot_cancel").click().run()
    assert _autopilot(conn) is False and at.button(key="autopilot_toggle").label == "Turn autopilot on"

    at.button(key="autopilot_toggle").click().run()
    at.button(key="autopilot_confirm").click().run()
    assert not at.exception, at.exception
    assert _autopilot(conn) is True and "Autopilot on" in texts(at)
    assert at.button(key="autopilot_toggle").label == "Turn autopilot off"
    audit = conn.execute(
        "SELECT actor, resource_id, changes FROM audit_log WHERE action = 'autopilot'"
    ).fetchall()
    assert audit == [(email, "hq", {"autopilot": [False, True]})]


def test_operators_get_no_switch_and_the_service_refuses_them(make_user, conn):
    conn.execute("UPDATE buildings SET autopilot = false")
    conn.commit()
    email = make_user("operator")
    at = log_in(email)
    assert "autopilot_toggle" not in {b.key for b in at.button}
    user = at.session_state["sbems_user"]
    result = write_autopilot_change(conn.info.dsn, "hq", on=True, user=AuthUser(user.id, email, "operator"))
    assert not result.ok and _autopilot(conn) is False
