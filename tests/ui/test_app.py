"""The panel through Streamlit's AppTest against a real PostgreSQL database."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from sbems.domain.site import entity_uuid
from sbems.services.panel import dispatch_override
from sbems.storage import db
from sbems.storage.readings import SensorRow, write_sensor_readings
from tests.ui.support import log_in, new_app, texts


def test_login_fails_with_wrong_password_and_succeeds_with_right_one(make_user, conn):
    email = make_user("operator")
    at = log_in(email, "wrong password!")
    assert "Wrong e-mail or password" in texts(at)
    assert "sbems_user" not in at.session_state

    at = log_in(email.upper())  # e-mail is case-insensitive
    assert at.session_state["sbems_user"].email == email
    assert at.session_state["sbems_user"].role == "operator"
    assert "Overview" in texts(at)
    results = [r for (r,) in conn.execute("SELECT result FROM audit_log WHERE action = 'login' ORDER BY id")]
    assert results == ["failure", "success"]


def test_unknown_user_and_deactivated_user_cannot_log_in(make_user, conn):
    email = make_user("viewer")
    conn.execute("UPDATE users SET active = false WHERE email = %s", (email,))
    conn.commit()
    for who in (email, "nobody@example.com"):
        at = log_in(who)
        assert "Wrong e-mail or password" in texts(at)
        assert "sbems_user" not in at.session_state


def test_logout_returns_to_login(make_user):
    at = log_in(make_user("viewer"))
    at.button(key="logout").click()
    at.run()
    assert "sbems_user" not in at.session_state
    assert at.text_input(key="login_email") is not None


def test_viewer_sees_zones_read_only_and_no_operator_pages(make_user):
    at = log_in(make_user("viewer"))
    at.switch_page("views/zones.py").run()
    assert not at.exception
    keys = {w.key for w in at.number_input} | {b.key for b in at.button}
    assert "override_value" not in keys and "override_submit" not in keys
    assert "Read-only" in texts(at)
    assert len(at.dataframe) >= 1  # the zones table is there
    try:  # alerts and audit are not even registered for viewers
        at.switch_page("views/audit.py")
    except ValueError:
        pass
    else:
        raise AssertionError("a viewer could open the audit page")


def test_override_field_takes_the_zones_limits_and_dispatch_still_rejects_outside(make_user, conn):
    email = make_user("operator")
    at = log_in(email)
    at.switch_page("views/zones.py").run()
    at.selectbox(key="override_zone").select("z1").run()
    field = at.number_input(key="override_value")
    assert (field.min, field.max) == (18.0, 26.0) and field.label == "Setpoint (°C, 18-26)"
    # the field cannot send 30 °C; dispatch is the check that holds whatever the panel sends
    user = at.session_state["sbems_user"]
    outcome = dispatch_override(
        os.environ["SBEMS_DATABASE_URL"],
        "hq",
        zone="z1",
        value_c=30.0,
        lifetime_s=1800,
        reason="x",
        user=user,
    )
    assert outcome.status == "rejected" and "outside the allowed 18.0-26.0 C" in outcome.detail
    rows = conn.execute(
        "SELECT status, command_data->>'value_c', user_id IS NOT NULL FROM control_commands"
    ).fetchall()
    assert rows == [("rejected", "30.0", True)]
    audit = conn.execute("SELECT actor, result FROM audit_log WHERE action = 'control'").fetchall()
    assert audit == [(email, "rejected")]


def test_override_needs_a_reason(make_user, conn):
    at = log_in(make_user("operator"))
    at.switch_page("views/zones.py").run()
    at.number_input(key="override_value").set_value(23.0)
    at.button(key="override_submit").click()
    at.run()
    assert "Give a reason" in texts(at)
    assert conn.execute("SELECT count(*) FROM control_commands").fetchone()[0] == 0


def test_operator_without_building_access_gets_no_override(make_user):
    at = log_in(make_user("operator", buildings=[]))
    assert "no access to any building" in texts(at)


def test_overview_shows_live_state(make_user, conn):
    now = datetime.now(UTC) - timedelta(seconds=5)
    sid = lambda key: entity_uuid("sensor", "hq", key)  # noqa: E731
    z1 = entity_uuid("zone", "hq", "z1")
    write_sensor_readings(
        conn,
        rows=[
            SensorRow(now, sid("z1-temp"), z1, 22.7, "celsius"),
            SensorRow(now, sid("z1-occ"), z1, 17.0, "count"),
            SensorRow(now, sid("rtu1.setpoint_c"), z1, 23.5, "celsius"),
            SensorRow(now, sid("main-meter"), None, 142.25, "kW"),
        ],
    )
    conn.commit()
    at = log_in(make_user("viewer"))
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Building power"] == "142.2 kW" or metrics["Building power"] == "142.3 kW"
    assert metrics["Occupied zones"] == "1 of 6"
    table = at.dataframe[0].value
    z1_row = table[table["Zone"] == "z1"].iloc[0]
    assert z1_row["Temperature (°C)"] == "22.7"
    assert z1_row["Setpoint (°C)"] == "23.5"
    assert z1_row["Occupancy (people)"] == "17"
    assert table[table["Zone"] == "z2"].iloc[0]["Temperature (°C)"] == "—"  # no reading for z2


def test_unreachable_database_shows_a_message(monkeypatch):
    monkeypatch.setenv("SBEMS_DATABASE_URL", "postgresql://postgres@127.0.0.1:9/sbems")
    at = new_app()
    at.run()
    at.text_input(key="login_email").input("someone@example.com")
    at.text_input(key="login_password").input("whatever-password")
    at.button(key="login_submit").click()
    at.run()
    assert not at.exception
    assert "database is unreachable" in " ".join(e.value for e in at.error)


def test_pages_take_their_connections_from_one_pool(make_user, site_db):
    at = log_in(make_user("operator"))
    for page in ("views/zones.py", "views/alerts.py", "views/audit.py"):
        at.switch_page(page).run()
        assert not at.exception, at.exception
    stats = db.pool_for(site_db).get_stats()
    # every page run asked the pool; the pool opened a connection once (or a few), not once per call
    assert stats["requests_num"] >= 6
    assert stats["connections_num"] <= db.POOL_MAX_SIZE < stats["requests_num"]
