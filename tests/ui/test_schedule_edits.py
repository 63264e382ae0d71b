"""Schedules edited in the panel: weekly periods and holidays rewritten for every zone that follows the
schedule (validated, audited), and `sbems site import` reporting a panel-edited schedule as a conflict and
keeping the panel's version unless told to overwrite it."""

from __future__ import annotations

from datetime import date, time

from sbems.cli import main
from sbems.services.auth import AuthUser
from sbems.services.panel_writes import write_autopilot_change
from sbems.services.schedule_edits import import_site, write_schedule_periods, write_schedule_setpoints
from tests.conftest import EXAMPLE_SITE
from tests.ui.support import log_in

WEEKDAYS = [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "06:30", "end": "18:00"}]
SATURDAY = {"days": ["sat"], "start": "09:00", "end": "13:00"}


def _manager(conn, email: str) -> AuthUser:
    (user_id,) = conn.execute("SELECT id FROM users WHERE email = %s", (email,)).fetchone()
    return AuthUser(user_id, email, "facility_manager")


def _rows(conn):
    return conn.execute(
        "SELECT z.key, s.days_of_week, s.start_time, s.end_time FROM schedules s "
        "JOIN zones z ON z.id = s.zone_id WHERE s.metadata->'spec'->>'id' = 'office-weekdays' "
        "ORDER BY z.key, s.key"
    ).fetchall()


def test_a_facility_manager_changes_periods_and_holidays_for_every_zone(make_user, conn, site_db):
    email = make_user("facility_manager")
    at = log_in(email)
    at.switch_page("views/schedules.py").run()
    assert not at.exception, at.exception
    assert at.button(key="save_periods_office-weekdays") is not None  # the editor is offered
    user = _manager(conn, email)
    result = write_schedule_periods(
        site_db,
        "hq",
        schedule_id="office-weekdays",
        periods=[*WEEKDAYS, SATURDAY],
        holidays=[date(2026, 12, 25), date(2026, 12, 24)],
        user=user,
    )
    assert result.ok, result.detail
    rows = _rows(conn)
    zones = sorted({r[0] for r in rows})
    assert zones == ["z1", "z2", "z3", "z4", "z5", "z6"] and len(rows) == 12  # two periods per zone
    assert {(tuple(r[1]), r[2], r[3]) for r in rows} == {
        ((1, 2, 3, 4, 5), time(6, 30), time(18, 0)),
        ((6,), time(9, 0), time(13, 0)),
    }
    spec = conn.execute(
        "SELECT metadata->'spec' FROM schedules WHERE metadata->'spec'->>'id' = 'office-weekdays' LIMIT 1"
    ).fetchone()[0]
    assert spec["holidays"] == ["2026-12-24", "2026-12-25"]
    bad = write_schedule_periods(
        site_db,
        "hq",
        schedule_id="office-weekdays",
        periods=[{"days": ["mon"], "start": "18:00", "end": "07:00"}],
        holidays=[],
        user=user,
    )
    assert not bad.ok and "before end" in bad.detail and len(_rows(conn)) == 12  # nothing written
    audit = conn.execute(
        "SELECT actor FROM audit_log WHERE resource = 'schedule' AND result = 'success'"
    ).fetchall()
    assert audit == [(email,)]


def test_site_import_reports_a_panel_edit_as_a_conflict_and_keeps_it(
    make_user, conn, site_db, example_site, capsys
):
    email = make_user("facility_manager")
    user = _manager(conn, email)
    assert import_site(site_db, example_site).conflicts == []  # nothing edited: a plain import
    assert write_schedule_periods(
        site_db, "hq", schedule_id="office-weekdays", periods=WEEKDAYS, holidays=[], user=user
    ).ok
    assert write_schedule_setpoints(
        site_db,
        "hq",
        schedule_id="office-weekdays",
        occupied_setpoint_c=22.5,
        unoccupied_setpoint_c=27.0,
        user=user,
    ).ok

    assert main(["site", "import", str(EXAMPLE_SITE)]) == 0
    out = capsys.readouterr().out
    assert "conflict: schedule office-weekdays was changed in the panel or API by " + email in out
    assert "occupied, occupied_setpoint_c, unoccupied_setpoint_c" in out and "kept the edited version" in out
    rows = _rows(conn)
    assert {(r[2], r[3]) for r in rows} == {(time(6, 30), time(18, 0))}  # the panel's period survived
    target = conn.execute(
        "SELECT DISTINCT target_temp_c FROM schedules WHERE metadata->'spec'->>'id' = 'office-weekdays'"
    ).fetchall()
    assert [float(t) for (t,) in target] == [22.5]
    assert import_site(site_db, example_site).conflicts  # still marked: the next import reports it again

    result = import_site(site_db, example_site, overwrite_panel_edits=True)
    assert result.conflicts and not result.kept_panel_edits
    assert {(r[2], r[3]) for r in _rows(conn)} != {(time(6, 30), time(18, 0))}  # the file's periods
    assert import_site(site_db, example_site).conflicts == []  # the marker went with the overwrite


def test_site_import_keeps_an_autopilot_switched_in_the_panel(make_user, conn, site_db, example_site):
    email = make_user("facility_manager")
    user = _manager(conn, email)
    wanted = not example_site.buildings[0].autopilot
    assert write_autopilot_change(site_db, "hq", on=wanted, user=user).ok
    result = import_site(site_db, example_site)
    (conflict,) = result.conflicts
    assert (conflict.kind, conflict.key, conflict.edited_by, conflict.fields) == (
        "building",
        "hq",
        email,
        ["autopilot"],
    )
    autopilot = "SELECT autopilot FROM buildings WHERE key = 'hq'"
    assert conn.execute(autopilot).fetchone()[0] is wanted  # the panel's switch survived
    import_site(site_db, example_site, overwrite_panel_edits=True)
    assert conn.execute(autopilot).fetchone()[0] is (not wanted)
