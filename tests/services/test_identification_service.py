"""Identification experiments in production (services.identification) against real PostgreSQL: a fake
adapter per controller stands in for equipment.

Worked case: hq opted in (window 01:00-05:00 local, 45 min, one per zone and week). Zone z1's stored model
saw at most 20 kW of cooling from rtu1's 70 kW nameplate (29 %: graded low); the other zones have no stored
model (nothing to grade). At Tuesday 02:00 EDT (06:00 UTC) the unoccupied setpoints are in force (cooling
28 C, heating 16 C): z1's cooling setpoint goes to the unoccupied band's lower edge 16 C, bounded by its
cooling setpoint limit, 21 C, until 02:45 EDT.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sbems.devices.fake import FakeAdapter
from sbems.domain.control import Principal
from sbems.domain.site import entity_uuid, parse_site
from sbems.optimization.zone_model import ZoneModelParams
from sbems.optimization.zone_model_json import MODEL_KIND, MODEL_TARGET, zone_model_params_json
from sbems.services import identification
from sbems.services.dispatch import SetpointRequest, release_due, request_setpoint
from sbems.storage import entities
from sbems.storage.commands import read_audit
from sbems.storage.predictions import insert_model

NOW = datetime(2026, 7, 7, 6, 0, tzinfo=UTC)  # Tuesday 02:00 EDT: unoccupied, inside the window
END = NOW + timedelta(minutes=45)
OPTIMIZER = Principal.service("optimizer")
METRICS = {
    "validation_rmse_c": 0.3,
    "zone_temp_min_c": 17.0,
    "zone_temp_max_c": 27.0,
    "outdoor_temp_min_c": 5.0,
    "outdoor_temp_max_c": 35.0,
    "cooling_max_kw": 20.0,
    "heating_max_kw": 55.0,
}


class Equipment:
    """One fake adapter per controller (both setpoints writable); the factory hands out the same one."""

    def __init__(self):
        self.adapters = {}

    def __call__(self, building, controller):
        if controller.id not in self.adapters:
            cooling = "target_temp_c" if controller.id.startswith("tstat") else "setpoint_c"
            points = {cooling: (28.0, "celsius"), "heating_setpoint_c": (16.0, "celsius")}
            self.adapters[controller.id] = FakeAdapter(
                controller.id,
                points,
                writable=list(points),
                relinquish_default={cooling: 28.0, "heating_setpoint_c": 16.0},
            )
        return self.adapters[controller.id]


def _store(conn, example_site, **settings):
    data = example_site.model_dump(mode="json", exclude_none=True)
    if settings:
        data["buildings"][0]["identification"] = settings
    site = parse_site(data)
    entities.upsert_site(conn, site=site)
    insert_model(
        conn,
        building_id=entity_uuid("building", "hq"),
        zone_id=entity_uuid("zone", "hq", "z1"),
        kind=MODEL_KIND,
        target=MODEL_TARGET,
        version="test",
        trained_from=NOW - timedelta(days=7),
        trained_to=NOW - timedelta(hours=3),
        metrics=METRICS,
        params=zone_model_params_json(ZoneModelParams(0.95, -0.004, (), 0.0, 900)),
        artifact=None,
    )
    conn.commit()
    return site


def _run(db_url, equipment, now=NOW):
    return asyncio.run(identification.run_identification("hq", db_url, now_utc=now, adapter_for=equipment))


def _commands(conn):
    cursor = conn.execute(
        "SELECT zone_id, command_type, command_data, status, lifetime_s, created_at, expires_at, released_at "
        "FROM control_commands WHERE source = 'identification' ORDER BY created_at"
    )
    return [dict(zip([c.name for c in cursor.description], r, strict=True)) for r in cursor.fetchall()]


def _optimizer(conn, site, equipment, value, at):
    request = SetpointRequest("hq", "z1", value, OPTIMIZER, "plan", 1800)
    return asyncio.run(request_setpoint(conn, site=site, request=request, adapter_for=equipment, now_utc=at))


def test_off_by_default_no_write(conn, db_url, example_site):
    _store(conn, example_site)
    equipment = Equipment()
    assert _run(db_url, equipment) == {"enabled": False}
    assert equipment.adapters == {}
    assert conn.execute("SELECT count(*) FROM control_commands").fetchone()[0] == 0


def test_an_experiment_goes_through_dispatch_with_its_source_reason_and_lifetime(conn, db_url, example_site):
    site = _store(conn, example_site, enabled=True)
    equipment = Equipment()
    summary = _run(db_url, equipment)
    assert summary["needs"] == ["z1 cooling (low)"]
    assert summary["experiment"]["status"] == "confirmed", summary
    assert (summary["experiment"]["zone"], summary["experiment"]["setpoint_c"]) == ("z1", 21.0)
    (command,) = _commands(conn)
    assert command["zone_id"] == entity_uuid("zone", "hq", "z1")
    assert command["command_type"] == "setpoint" and command["status"] == "confirmed"
    assert command["command_data"]["value_c"] == 21.0
    assert command["lifetime_s"] == 2700 and command["expires_at"] == END
    assert equipment.adapters["rtu1"].priority_arrays["setpoint_c"][9] == 21.0
    audit = [a for a in read_audit(conn, resource_id="hq/z1") if a["source"] == "identification"]
    assert audit and audit[0]["result"] == "success"
    reason = command["command_data"]["reason"]  # the dispatch log carries why the experiment ran
    assert reason.startswith("identification experiment: cooling capacity low") and "29 %" in reason

    # the optimizer cannot undo it before its end
    undo = _optimizer(conn, site, equipment, 24.0, NOW + timedelta(minutes=20))
    assert undo.status == "rejected" and "identification experiment holds" in undo.detail
    assert equipment.adapters["rtu1"].priority_arrays["setpoint_c"][9] == 21.0
    # one at a time: the next look, 15 min later, starts nothing
    assert "running" in _run(db_url, equipment, NOW + timedelta(minutes=15))["why"]

    # at its end it is released like every other write, and the plan's next write wins
    released = asyncio.run(release_due(conn, site=site, adapter_for=equipment, now_utc=END))
    assert [r.status for r in released] == ["released"]
    assert equipment.adapters["rtu1"].priority_arrays["setpoint_c"][9] is None
    after = _optimizer(conn, site, equipment, 24.0, END + timedelta(seconds=10))
    assert after.status == "confirmed", after.detail

    # the weekly quota is used: no second experiment for z1 this week (still inside the window, 03:00 EDT)
    later = _run(db_url, equipment, NOW + timedelta(hours=1))
    assert "experiment" not in later and "quota" in later["why"]
    assert len(_commands(conn)) == 1


def test_an_operators_hold_is_never_touched(conn, db_url, example_site):
    from sbems.storage.users import grant_building_access, insert_user

    site = _store(conn, example_site, enabled=True)
    operator = insert_user(conn, email="op@example.com", role="operator")
    grant_building_access(
        conn, user_id=operator, building_id=entity_uuid("building", "hq"), access_level="control"
    )
    conn.commit()
    equipment = Equipment()
    request = SetpointRequest("hq", "z1", 26.0, Principal.user(operator, "op"), "night", 3600)
    held = asyncio.run(
        request_setpoint(
            conn, site=site, request=request, adapter_for=equipment, now_utc=NOW - timedelta(minutes=5)
        )
    )
    assert held.status == "confirmed", held.detail
    summary = _run(db_url, equipment)
    assert summary["experiment"]["status"] == "rejected"
    assert "manual" in summary["experiment"]["detail"]
    assert equipment.adapters["rtu1"].priority_arrays["setpoint_c"][9] == 26.0
