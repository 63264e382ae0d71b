"""Heating and cooling setpoints of a schedule edited in the panel: any of the four changes, the others stay
as stored; the 1 K deadband is checked against the stored pair not being changed; every zone's limits
(heating 15-26 C, cooling 21-30 C, occupied cooling also 18-26 C) hold with a clear error; refusals are
audited and change nothing; the panel's Schedules page offers the heating setpoints."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sbems.services.auth import AuthUser
from sbems.services.schedule_edits import SETPOINTS, schedule_setpoints_problem, write_schedule_setpoints
from sbems.storage.entities import read_site
from tests.ui.support import log_in, texts

SCHEDULE = "office-weekdays"
STORED = {  # examples/site.yaml
    "occupied_setpoint_c": 23.0,
    "unoccupied_setpoint_c": 28.0,
    "occupied_heating_setpoint_c": 21.0,
    "unoccupied_heating_setpoint_c": 16.0,
}


def _manager(conn, email: str) -> AuthUser:
    (user_id,) = conn.execute("SELECT id FROM users WHERE email = %s", (email,)).fetchone()
    return AuthUser(user_id, email, "facility_manager")


def _stored(conn) -> list[dict]:
    """The four setpoints of every row of the schedule (one per zone and period), and the rows' target."""
    rows = conn.execute(
        "SELECT metadata->'spec', target_temp_c FROM schedules WHERE metadata->'spec'->>'id' = %s",
        (SCHEDULE,),
    ).fetchall()
    return [{**{k: spec[k] for k in SETPOINTS}, "target": float(target)} for spec, target in rows]


def test_limits_and_deadband_are_pure_rules():
    zones = [("hq", "z1", {"heating_setpoint_limits": {"min_c": 15.0, "max_c": 26.0}})]
    assert schedule_setpoints_problem(STORED, zones) is None
    problem = schedule_setpoints_problem(STORED | {"occupied_heating_setpoint_c": 22.5}, zones)
    assert (
        problem
        == "occupied cooling setpoint 23.0 C must be at least 1 K above the occupied heating setpoint 22.5 C"
    )
    problem = schedule_setpoints_problem(STORED | {"unoccupied_heating_setpoint_c": 14.0}, zones)
    assert (
        problem == "unoccupied heating setpoint 14.0 C outside the heating limits 15.0-26.0 C of zone hq/z1"
    )
    problem = schedule_setpoints_problem(STORED | {"unoccupied_setpoint_c": 31.0}, zones)  # default 21-30 C
    assert (
        problem == "unoccupied cooling setpoint 31.0 C outside the cooling limits 21.0-30.0 C of zone hq/z1"
    )
    tight = [("hq", "z2", {"heating_setpoint_limits": {"min_c": 17.0, "max_c": 22.0}})]
    assert "zone hq/z2" in schedule_setpoints_problem(STORED, tight)  # 16 C setback below its 17 C
    assert "not a finite number" in schedule_setpoints_problem(
        STORED | {"occupied_setpoint_c": float("nan")}, zones
    )


def test_heating_setpoints_change_and_the_other_pair_is_checked_as_stored(make_user, conn, site_db):
    user = _manager(conn, make_user("facility_manager"))
    result = write_schedule_setpoints(
        site_db, "hq", schedule_id=SCHEDULE, user=user, occupied_heating_setpoint_c=21.5
    )
    assert result.ok, result.detail
    rows = _stored(conn)
    assert len(rows) == 6 and all(
        r == STORED | {"occupied_heating_setpoint_c": 21.5, "target": 23.0} for r in rows
    )
    schedule = read_site(conn).schedule(SCHEDULE)  # what the optimizer and the schedules flow read
    assert (schedule.occupied_heating_setpoint_c, schedule.unoccupied_heating_setpoint_c) == (21.5, 16.0)

    # cooling alone, within 1 K of the stored heating setpoint 21.5: refused, nothing written
    refused = write_schedule_setpoints(
        site_db, "hq", schedule_id=SCHEDULE, user=user, occupied_setpoint_c=22.0
    )
    assert not refused.ok and "at least 1 K above the occupied heating setpoint 21.5 C" in refused.detail
    # heating alone, too close to the stored cooling setpoint
    refused = write_schedule_setpoints(
        site_db, "hq", schedule_id=SCHEDULE, user=user, unoccupied_heating_setpoint_c=27.5
    )
    assert not refused.ok and "outside the heating limits 15.0-26.0 C of zone hq/z1" in refused.detail
    refused = write_schedule_setpoints(
        site_db,
        "hq",
        schedule_id=SCHEDULE,
        user=user,
        unoccupied_heating_setpoint_c=25.0,
        unoccupied_setpoint_c=25.5,
    )
    assert (
        not refused.ok and "unoccupied cooling setpoint 25.5 C must be at least 1 K above" in refused.detail
    )
    assert all(
        r["occupied_setpoint_c"] == 23.0 and r["unoccupied_heating_setpoint_c"] == 16.0 for r in _stored(conn)
    )

    # both of a pair at once
    both = write_schedule_setpoints(
        site_db,
        "hq",
        schedule_id=SCHEDULE,
        user=user,
        occupied_setpoint_c=24.0,
        occupied_heating_setpoint_c=22.0,
    )
    assert both.ok, both.detail
    assert {r["target"] for r in _stored(conn)} == {24.0}
    audit = conn.execute(
        "SELECT result, changes, error_message FROM audit_log WHERE resource = 'schedule' ORDER BY id"
    ).fetchall()
    assert [a[0] for a in audit] == ["success", "rejected", "rejected", "rejected", "success"]
    assert audit[0][1] == {
        "before": {"occupied_heating_setpoint_c": 21.0},
        "after": {"occupied_heating_setpoint_c": 21.5},
    }
    assert "at least 1 K above the occupied heating setpoint 21.5 C" in audit[1][2]


def test_concurrent_edits_of_the_two_pairs_cannot_break_the_deadband(make_user, conn, site_db):
    """Cooling down to 22 and heating up to 22.5 are each fine against the stored values, not together:
    the rows are locked while checked, so one of the two is refused."""
    user = _manager(conn, make_user("facility_manager"))
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(
            pool.map(
                lambda kw: write_schedule_setpoints(site_db, "hq", schedule_id=SCHEDULE, user=user, **kw),
                [{"occupied_setpoint_c": 22.0}, {"occupied_heating_setpoint_c": 21.5}],
            )
        )
    assert sorted(r.ok for r in results) == [False, True]  # each alone is fine, not both
    for row in _stored(conn):
        assert row["occupied_setpoint_c"] - row["occupied_heating_setpoint_c"] >= 1.0


def test_the_panel_edits_heating_setpoints(make_user, conn):
    at = log_in(make_user("operator"))
    at.switch_page("views/schedules.py").run()
    assert at.number_input(key=f"occ_heat_{SCHEDULE}").disabled

    at = log_in(make_user("facility_manager"))
    at.switch_page("views/schedules.py").run()
    assert not at.exception, at.exception
    field = at.number_input(key=f"unocc_heat_{SCHEDULE}")
    assert not field.disabled and field.value == 16.0
    assert at.number_input(key=f"occ_heat_{SCHEDULE}").value == 21.0
    at.number_input(key=f"occ_heat_{SCHEDULE}").set_value(22.5)  # within 1 K of the stored cooling 23 C
    at.button(key=f"save_{SCHEDULE}").click()
    at.run()
    assert "must be at least 1 K above the occupied heating setpoint 22.5 C" in texts(at)
    at.number_input(key=f"occ_heat_{SCHEDULE}").set_value(21.5)
    at.number_input(key=f"unocc_heat_{SCHEDULE}").set_value(15.0)
    at.button(key=f"save_{SCHEDULE}").click()
    at.run()
    assert not at.exception, at.exception
    assert f"schedule {SCHEDULE} updated (6 zone rows)" in texts(at)
    schedule = read_site(conn).schedule(SCHEDULE)
    assert (schedule.occupied_heating_setpoint_c, schedule.unoccupied_heating_setpoint_c) == (21.5, 15.0)
    assert (schedule.occupied_setpoint_c, schedule.unoccupied_setpoint_c) == (23.0, 28.0)
    assert at.number_input(key=f"occ_heat_{SCHEDULE}").value == 21.5  # the page shows what is stored
