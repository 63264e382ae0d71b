"""The panel's Schedules page switches a schedule off and on (``services.schedule_admin``): only for roles
that may change schedules; the state is stored on every row of the schedule and audited with source
``panel``."""

from __future__ import annotations

from tests.ui.support import log_in, texts

SCHEDULE = "office-weekdays"


def _enabled(conn) -> set[bool]:
    return {
        e
        for (e,) in conn.execute(
            "SELECT enabled FROM schedules WHERE metadata->'spec'->>'id' = %s", (SCHEDULE,)
        )
    }


def test_the_panel_switches_a_schedule_off_and_on(make_user, conn):
    at = log_in(make_user("operator"))
    at.switch_page("views/schedules.py").run()
    assert not at.exception, at.exception
    assert f"switch_{SCHEDULE}" not in {b.key for b in at.button}  # view only

    at = log_in(make_user("facility_manager"))
    at.switch_page("views/schedules.py").run()
    assert at.button(key=f"switch_{SCHEDULE}").label == "Disable schedule"
    at.button(key=f"switch_{SCHEDULE}").click()
    at.run()
    assert not at.exception, at.exception
    assert f"Schedule {SCHEDULE} disabled" in texts(at), texts(at)
    assert f"id {SCHEDULE} · disabled" in texts(at)
    conn.commit()
    assert _enabled(conn) == {False}

    assert at.button(key=f"switch_{SCHEDULE}").label == "Enable schedule"
    at.button(key=f"switch_{SCHEDULE}").click()
    at.run()
    assert not at.exception, at.exception
    conn.commit()
    assert _enabled(conn) == {True}
    audit = conn.execute(
        "SELECT action, source, result FROM audit_log WHERE resource = 'schedule' ORDER BY id"
    ).fetchall()
    assert audit == [("disable", "panel", "success"), ("enable", "panel", "success")]
