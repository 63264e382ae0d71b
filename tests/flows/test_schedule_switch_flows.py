"""A disabled schedule in the control flows: no schedule targets for its zones, its zones left out of the
optimizer's building (with the reason), and, on the virtual building through the real protocols, the
writes the schedules flow made on its zones released when it is disabled (the equipment back on its local
schedule) and none made while it stays disabled."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from sbems.domain.control import scheduled_value
from sbems.domain.site import entity_uuid, parse_site
from sbems.flows.control import schedules
from sbems.flows.optimize import optimize
from sbems.local.backfill import backfill_simulated_history
from sbems.services.auth import AuthUser, create_user
from sbems.services.planning import PlanOutcome
from sbems.services.schedule_admin import switch_schedule
from sbems.services.schedule_scope import planned_building, with_not_planned
from sbems.services.schedules import schedule_targets
from sbems.sim.harness import running_sim
from sbems.storage import entities
from sbems.storage.plans import read_latest_plan
from sbems.storage.schedule_states import write_schedule_enabled
from tests.flows.test_control_flows import EARLY_MONDAY_UTC, SLOW_ZONE, _seed_models_and_temps
from tests.flows.test_optimize_flow import DAYS, NOW, START

OFF = frozenset({"office-weekdays"})


def test_no_schedule_targets_for_zones_of_a_disabled_schedule(example_site):
    building = example_site.building("hq")
    christmas_noon = datetime.fromisoformat("2026-12-25T17:00:00+00:00")  # a site holiday: 6 setbacks
    assert len(schedule_targets(example_site, building, christmas_noon, {}, {})) == 6
    assert schedule_targets(example_site, building, christmas_noon, {}, {}, disabled=OFF) == []
    early = schedule_targets(example_site, building, EARLY_MONDAY_UTC, {"z1": 28.5}, {"z1": SLOW_ZONE})
    assert [t.zone_id for t in early] == ["z1"]
    assert (
        schedule_targets(
            example_site, building, EARLY_MONDAY_UTC, {"z1": 28.5}, {"z1": SLOW_ZONE}, disabled=OFF
        )
        == []
    )


def test_the_optimizer_plans_the_building_without_the_zones_of_a_disabled_schedule(example_site):
    building = example_site.building("hq")
    assert planned_building(building, frozenset()).building is building
    everything_off = planned_building(building, OFF)
    assert everything_off.building is None and set(everything_off.not_planned) == {
        z.id for z in building.zones
    }

    lobby = building.model_copy(
        update={
            "zones": [
                z.model_copy(update={"schedule": "lobby"}) if z.id == "z1" else z for z in building.zones
            ]
        }
    )
    scope = planned_building(lobby, frozenset({"lobby"}))
    assert [z.id for z in scope.building.zones] == ["z2", "z3", "z4", "z5", "z6"]
    assert scope.not_planned == {"z1": "schedule lobby is disabled: left to local control"}
    assert all(u.zone != "z1" for u in scope.building.hvac_units + scope.building.thermostats)
    assert all("z1" not in z.neighbours for z in scope.building.zones)  # references dropped, still valid
    outcome = PlanOutcome("optimal", None, EARLY_MONDAY_UTC, 900, {"cost_usd": 1.0}, {}, "# Plan", {})
    noted = with_not_planned(outcome, scope.not_planned)
    assert noted.summary["not_planned"] == scope.not_planned and noted.summary["cost_usd"] == 1.0
    assert "zone z1: schedule lobby is disabled" in noted.markdown


@pytest.mark.slow
def test_disable_releases_the_schedule_writes_and_the_flow_writes_no_more(
    prefect_harness, conn, db_url, example_site, monkeypatch
):
    monkeypatch.setenv("SBEMS_THERMOSTAT_API_KEY", "sbems-demo-key")
    with running_sim(example_site, start_utc=EARLY_MONDAY_UTC, speed=1, api_key="sbems-demo-key") as sim:
        entities.upsert_site(conn, site=sim.site)
        user_id = create_user(
            db_url, email="fm@example.com", password="correct horse", role="facility_manager"
        )
        now = datetime.fromisoformat(sim.state()["time_utc"])
        _seed_models_and_temps(conn, sim.site, now, {"z1": 28.5, "z2": 28.5, "z3": 23.1})
        outcomes = schedules(building_id="hq", database_url=db_url, now_utc=now)
        assert outcomes["z1"].startswith("confirmed") and outcomes["z2"].startswith("confirmed")
        assert sim.state()["zones"]["z1"]["setpoint_source"] == "override"

        manager = AuthUser(user_id, "fm@example.com", "facility_manager")
        switched = switch_schedule(db_url, manager, "office-weekdays", enabled=False)
        assert switched.changed and not switched.enabled and switched.problems == [], switched
        assert len(switched.released) == 2 and all("released" in r for r in switched.released), switched
        deadline = time.monotonic() + 10  # the plant takes the release at its next tick (slow under load)
        while (zones := sim.state()["zones"])["z1"]["setpoint_source"] != "schedule":
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert zones["z1"]["setpoint_source"] == "schedule"  # BACnet slot empty: the local schedule again
        # Modbus has no priority array: the release writes SBEMS's schedule value for the wall clock (the
        # release time), which the simulator (running at July's clock) does not share
        value_now = scheduled_value(sim.site, sim.site.building("hq"), "z2", "cooling", datetime.now(UTC))
        assert zones["z2"]["setpoint_c"] == pytest.approx(value_now, abs=0.01)
        held = conn.execute(
            "SELECT count(*) FROM control_commands WHERE status = 'confirmed' AND released_at IS NULL"
        ).fetchone()[0]
        assert held == 0

        later = schedules(building_id="hq", database_url=db_url, now_utc=now + timedelta(minutes=5))
        assert set(later) == {f"z{i}" for i in range(1, 7)}
        assert all("disabled: left to local control" in o for o in later.values()), later
        count = conn.execute("SELECT count(*) FROM control_commands").fetchone()[0]
        assert count == 2  # no new write while it is disabled
        again = switch_schedule(db_url, manager, "office-weekdays", enabled=False)
        assert not again.changed and again.released == []  # idempotent


def test_optimize_does_not_plan_a_building_whose_zones_all_follow_a_disabled_schedule(
    prefect_harness, conn, db_url, example_site
):
    entities.upsert_site(conn, site=example_site)
    write_schedule_enabled(conn, schedule_id="office-weekdays", enabled=False, actor="test")
    conn.commit()
    result = optimize(building_id="hq", database_url=db_url, now_utc=EARLY_MONDAY_UTC)
    assert result["status"] == "not_planned" and result["plan_id"] is None
    assert set(result["not_planned"]) == {f"z{i}" for i in range(1, 7)}
    assert conn.execute("SELECT count(*) FROM optimization_plans").fetchone()[0] == 0


@pytest.mark.slow
def test_optimize_plans_the_other_zones_and_says_why_one_is_left_out(
    prefect_harness, conn, db_url, example_site
):
    data = example_site.model_dump(mode="json")
    data["schedules"].append({**data["schedules"][0], "id": "lobby", "name": "Lobby"})
    data["buildings"][0]["zones"][0]["schedule"] = "lobby"
    site = parse_site(data)
    entities.upsert_site(conn, site=site)
    backfill_simulated_history(conn, site=site, building_id="hq", start_utc=START, days=DAYS, step_s=900)
    write_schedule_enabled(conn, schedule_id="lobby", enabled=False, actor="test")
    conn.commit()
    result = optimize(building_id="hq", database_url=db_url, now_utc=NOW)
    assert result["status"] == "optimal", result["reason"]
    stored = read_latest_plan(conn, building_id=entity_uuid("building", "hq"))
    assert set(stored["plan"]["zones"]) == {"z2", "z3", "z4", "z5", "z6"}
    assert stored["summary"]["not_planned"] == {"z1": "schedule lobby is disabled: left to local control"}
    assert "z1" not in result["setpoints_now_c"]
