"""The optimizer's mode commands (issue 14): where the plan's current step heats a zone whose schedule only
cools, its dispatch task sets the unit to auto through the one dispatch path (optimizer identity, the
setpoints' lifetime, audited, confirmed by read-back) on each protocol of the virtual building, and the
release at lifetime end gives the schedule's mode back; a unit the site does not mark mode_controllable is
refused with the reason and never written."""

import time
from datetime import UTC, datetime, timedelta

import pytest

from sbems.services.dispatch import release_setpoints
from sbems.services.planning import PlanOutcome
from sbems.storage.commands import read_audit
from sbems.tasks.optimize import dispatch_plan_setpoints
from tests.services.conftest import dispatch_sim, mode_controllable_site

COLD_MORNING_UTC = datetime(2026, 1, 12, 14, 0, tzinfo=UTC)  # Monday 09:00 in Greensboro, occupied
SWITCHED = ("z1", "z2", "z3")  # BACnet unit, Modbus unit, REST thermostat: mode_controllable
HEATING_C = 22.0  # under the schedule's 23 C cooling setpoint by the 1 K deadband


def _until(sim, check, timeout_s=30.0):
    """BACnet writes reach the plant on the simulator's next tick."""
    deadline = time.monotonic() + timeout_s
    while True:
        zones = sim.state()["zones"]
        if check(zones) or time.monotonic() > deadline:
            return zones
        time.sleep(0.2)


def _outcome(now: datetime) -> PlanOutcome:
    """A solved plan's current step as ``plan_building`` hands it over: heating z1-z4 under a "cool"
    schedule, so ``modes_now`` asks for auto (z4 too, which its unit's flag must refuse)."""
    zones = (*SWITCHED, "z4")
    return PlanOutcome(
        "optimal",
        None,
        now,
        900,
        {},
        {"zones": {}},
        "",
        dict.fromkeys(zones),
        dict.fromkeys(zones, HEATING_C),
        dict.fromkeys(zones, "auto"),
    )


@pytest.mark.slow
def test_the_optimizer_sets_auto_where_its_plan_heats_a_cool_zone_and_releases_it(
    conn, db_url, example_site, monkeypatch
):
    site = mode_controllable_site(example_site, ("rtu1", "rtu2", "tstat-z3"), mode="cool")
    with dispatch_sim(conn, site, COLD_MORNING_UTC) as (sim, settings, now):
        monkeypatch.setenv("SBEMS_THERMOSTAT_API_KEY", "k-test")  # the task loads the settings itself
        start = sim.state()["zones"]
        assert {start[z]["mode"] for z in (*SWITCHED, "z4")} == {"cool"}
        assert all(start[z]["heating_kw"] == 0.0 for z in SWITCHED)  # "cool": the unit does not heat

        result = dispatch_plan_setpoints.fn(db_url, sim.site.building("hq"), _outcome(now), now)
        assert result["dispatched"] and result["modes"] == dict.fromkeys((*SWITCHED, "z4"), "auto")
        modes = result["mode_result"]
        assert {z: modes[z].status for z in SWITCHED} == dict.fromkeys(SWITCHED, "confirmed"), modes
        assert all(result["heating_result"][z].status == "confirmed" for z in SWITCHED), result
        # read back: the device's auto state (BACnet/REST 1-based index 4, Modbus register value 3)
        assert [modes[z].read_back_c for z in SWITCHED] == [4.0, 3.0, 4.0]
        refused = modes["z4"]
        assert refused.status == "rejected"
        assert "tstat-z4 is not mode_controllable in the site file" in refused.detail

        # the plant steps once a minute: the heating shows on its next step
        zones = _until(
            sim, lambda z: all(z[k]["mode"] == "auto" and z[k]["heating_kw"] > 0 for k in SWITCHED), 90.0
        )
        for zone in SWITCHED:
            assert zones[zone]["mode"] == "auto", zone
            assert zones[zone]["heating_kw"] > 0.0, zone  # auto: the unit now heats to the plan's setpoint
        assert zones["z4"]["mode"] == "cool" and zones["z4"]["heating_kw"] == 0.0  # never written

        rows = conn.execute(
            "SELECT command_data->>'zone', status, source, lifetime_s, expires_at FROM control_commands "
            "WHERE command_type = 'mode' ORDER BY command_data->>'zone'"
        ).fetchall()
        assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
            ("z1", "confirmed", "optimizer", 1800),
            ("z2", "confirmed", "optimizer", 1800),
            ("z3", "confirmed", "optimizer", 1800),
            ("z4", "rejected", "optimizer", None),
        ]
        assert all(r[4] == now + timedelta(seconds=1800) for r in rows[:3])
        for zone in (*SWITCHED, "z4"):
            audit = [a for a in read_audit(conn, resource_id=f"hq/{zone}") if "mode" in a["changes"]["after"]]
            assert len(audit) == 1 and audit[0]["actor"] == "optimizer", (zone, audit)
            assert audit[0]["changes"]["after"]["mode"] == "auto"
            assert audit[0]["result"] == ("rejected" if zone == "z4" else "success"), zone

        # lifetime end: the 3 modes and 4 heating setpoints go back to local control, the schedule's "cool"
        released = release_setpoints(db_url, settings=settings, now_utc=now + timedelta(seconds=1801))
        assert sorted(o.status for o in released) == ["released"] * 7, released
        zones = _until(sim, lambda z: all(z[k]["mode"] == "cool" for k in SWITCHED))
        assert [zones[z]["mode"] for z in SWITCHED] == ["cool"] * 3
        statuses = conn.execute(
            "SELECT status FROM control_commands WHERE command_type = 'mode' AND status <> 'rejected'"
        ).fetchall()
        assert {s[0] for s in statuses} == {"released"}
