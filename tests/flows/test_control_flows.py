"""The schedules flow (optimal start) and the release flow against the virtual building, through Prefect."""

from datetime import datetime, timedelta

import pytest

from sbems.domain.site import entity_uuid
from sbems.flows.control import release, schedules
from sbems.optimization.zone_model import ZoneModelParams
from sbems.optimization.zone_model_json import MODEL_KIND, MODEL_TARGET, zone_model_params_json
from sbems.services.schedules import ControlState, schedule_targets
from sbems.sim.harness import running_sim
from sbems.storage import entities
from sbems.storage.predictions import insert_model
from sbems.storage.readings import SensorRow, write_sensor_readings

# Monday 2026-07-06, 06:15 EDT: unoccupied, occupancy starts at 07:00 (45 min = 3 steps of 15 min)
EARLY_MONDAY_UTC = datetime.fromisoformat("2026-07-06T10:15:00+00:00")
SLOW_ZONE = ZoneModelParams(
    a_frac=0.95, b_cool_c_per_kw=-0.004, b_gain_c_per_unit=(), c_gain_delta_c=0.0, step_s=900
)  # pulls down slowly: must start before occupancy


def _seed_models_and_temps(conn, site, now, temps):
    b_id = entity_uuid("building", "hq")
    for zone in site.building("hq").zones:
        insert_model(
            conn,
            building_id=b_id,
            zone_id=entity_uuid("zone", "hq", zone.id),
            kind=MODEL_KIND,
            target=MODEL_TARGET,
            version="test-slow",
            trained_from=now - timedelta(days=7),
            trained_to=now,
            metrics={},
            params=zone_model_params_json(SLOW_ZONE),
            artifact=None,
        )
    write_sensor_readings(
        conn,
        rows=[
            SensorRow(
                now,
                entity_uuid("sensor", "hq", f"{zone}-temp"),
                entity_uuid("zone", "hq", zone),
                temp,
                "celsius",
            )
            for zone, temp in temps.items()
        ],
    )
    conn.commit()


def test_schedule_targets_start_early_only_where_needed(example_site):
    building = example_site.building("hq")
    models = {"z1": SLOW_ZONE, "z2": SLOW_ZONE}
    targets = {
        t.zone_id: t
        for t in schedule_targets(example_site, building, EARLY_MONDAY_UTC, {"z1": 28.5, "z2": 23.1}, models)
    }
    assert targets["z1"].setpoint_c == 23.0 and "optimal start" in targets["z1"].reason
    assert set(targets) == {"z1"}  # z2 is cool enough already; z3..z6 have no model: local schedule
    occupied = schedule_targets(example_site, building, EARLY_MONDAY_UTC + timedelta(hours=2), {}, {})
    assert occupied == []  # occupied hours: the equipment's own schedule holds 23 C


def test_holiday_gets_the_setback(example_site):
    christmas_noon = datetime.fromisoformat("2026-12-25T17:00:00+00:00")  # a Friday, a site holiday
    targets = schedule_targets(example_site, example_site.building("hq"), christmas_noon, {}, {})
    assert {(t.setpoint_c, t.reason) for t in targets} == {(28.0, "holiday setback")}
    assert len(targets) == 6


def test_optimizer_is_in_charge_only_with_autopilot_and_a_fresh_plan(example_site):
    def state(autopilot, last_plan_at):
        return ControlState(example_site, autopilot, last_plan_at, {}, {})

    fresh = EARLY_MONDAY_UTC - timedelta(seconds=1800)
    stale = EARLY_MONDAY_UTC - timedelta(seconds=1801)
    assert state(True, fresh).optimizer_in_charge(EARLY_MONDAY_UTC, 1800)
    assert not state(True, stale).optimizer_in_charge(EARLY_MONDAY_UTC, 1800)
    assert not state(True, None).optimizer_in_charge(EARLY_MONDAY_UTC, 1800)
    assert not state(False, fresh).optimizer_in_charge(EARLY_MONDAY_UTC, 1800)


@pytest.mark.slow
def test_schedules_then_release_through_the_real_protocols(
    prefect_harness, conn, db_url, example_site, monkeypatch
):
    monkeypatch.setenv("SBEMS_THERMOSTAT_API_KEY", "sbems-demo-key")  # no default key outside the demo
    with running_sim(example_site, start_utc=EARLY_MONDAY_UTC, speed=1, api_key="sbems-demo-key") as sim:
        entities.upsert_site(conn, site=sim.site)
        now = datetime.fromisoformat(sim.state()["time_utc"])
        _seed_models_and_temps(conn, sim.site, now, {"z1": 28.5, "z2": 28.5, "z3": 23.1})
        outcomes = schedules(building_id="hq", database_url=db_url, now_utc=now)
        assert outcomes["z1"].startswith("confirmed: 23.0") and "optimal start" in outcomes["z1"]
        assert outcomes["z2"].startswith("confirmed: 23.0")  # Modbus unit
        assert "z3" not in outcomes  # cool enough: local schedule
        zones = sim.state()["zones"]
        assert (
            zones["z1"]["setpoint_c"] == pytest.approx(23.0) and zones["z1"]["setpoint_source"] == "override"
        )
        assert zones["z2"]["setpoint_c"] == pytest.approx(23.0, abs=0.01)

        released = release(building_id="hq", database_url=db_url, now_utc=now + timedelta(seconds=1801))
        assert len(released) == 2 and all(r.startswith("released") for r in released), released
        zones = sim.state()["zones"]
        assert zones["z1"]["setpoint_source"] == "schedule"
        assert zones["z2"]["setpoint_c"] == pytest.approx(zones["z2"]["scheduled_setpoint_c"], abs=0.01)
