"""Buildings, zones, HVAC units, thermostats and sensors created, changed and deleted over real HTTP against
real PostgreSQL: validation as the site file's, permissions and building access, audit rows, history kept,
the poll plan reading new devices."""

from __future__ import annotations

from datetime import UTC, datetime

from sbems.domain.site import entity_uuid
from sbems.services.polling import read_poll_plan

PROBLEM = "application/problem+json"
ZONE = {
    "id": "z9",
    "name": "Mezzanine",
    "area_m2": 120,
    "occupancy_capacity": 10,
    "schedule": "office-weekdays",
    "comfort": {"min_c": 21, "max_c": 24},
}
UNIT = {
    "id": "rtu9",
    "name": "RTU-9",
    "capacity_kw": 20,
    "zone": "z9",
    "protocol": "modbus",
    "modbus": {"framer": "tcp", "host": "127.0.0.1", "port": 5029, "unit_id": 9},
}
TSTAT = {
    "id": "tstat-z9",
    "name": "Mezzanine thermostat",
    "capacity_kw": 10,
    "rest": {"base_url": "http://127.0.0.1:8081/api/v1", "device_id": "RDS-0009"},
}
SENSOR = {"id": "z9-temp", "name": "Z9 temperature", "sensor_type": "temperature", "unit": "celsius"}


def _audit(conn, resource: str, resource_id: str) -> list[tuple[str, str, str | None]]:
    conn.commit()
    return conn.execute(
        "SELECT action, result, error_message FROM audit_log WHERE resource = %s AND resource_id = %s "
        "AND source = 'api' ORDER BY id",
        (resource, resource_id),
    ).fetchall()


def test_facility_manager_adds_changes_and_retires_equipment(api, tokens, conn, site_db):
    with api.client(tokens["facility_manager"]["access_token"]) as client:
        created = client.post("/buildings/hq/zones", json=ZONE)
        assert created.status_code == 201, created.text
        assert created.json()["id"] == "hq.z9" and created.json()["spec"]["comfort"] == {
            "min_c": 21.0,
            "max_c": 24.0,
        }
        assert "hq.z9" in [z["id"] for z in client.get("/buildings/hq/zones").json()["items"]]
        unit = client.post("/buildings/hq/hvac-units", json=UNIT)
        assert unit.status_code == 201, unit.text
        assert unit.json()["spec"]["modbus"]["port"] == 5029
        tstat = client.post("/zones/hq.z9/thermostats", json=TSTAT)
        assert tstat.status_code == 201, tstat.text
        assert tstat.json()["spec"]["zone"] == "z9"
        assert tstat.json()["spec"]["rest"]["api_key_env"] == "SBEMS_THERMOSTAT_API_KEY"  # a name, not a key
        # no edit may point a thermostat's key at another secret (it is sent to the thermostat's URL)
        stolen = {**TSTAT, "id": "t-x", "rest": {**TSTAT["rest"], "api_key_env": "SBEMS_API_SECRET"}}
        assert client.post("/zones/hq.z9/thermostats", json=stolen).status_code == 422
        rest = {**TSTAT["rest"], "webhook_secret_env": "SBEMS_DATABASE_URL"}
        assert client.patch("/thermostats/hq.tstat-z9", json={"rest": rest}).status_code == 422
        sensor = client.post("/zones/hq.z9/sensors", json=SENSOR)
        assert sensor.status_code == 201, sensor.text

        # the next poll run reads the new unit and thermostat, and knows their points
        plan = read_poll_plan("hq", site_db)
        assert {"rtu9", "tstat-z9"} <= {job.device_id for job in plan.jobs}
        assert "rtu9.current_temp_c" in plan.sensors and "z9-temp" in plan.sensors

        renamed = client.patch("/zones/hq.z9", json={"name": "Mezzanine north", "floor": 3})
        assert renamed.status_code == 200 and renamed.json()["spec"]["floor"] == 3
        assert client.get("/zones/hq.z9").json()["name"] == "Mezzanine north"
        bad = client.patch("/zones/hq.z9", json={"comfort": {"min_c": 24, "max_c": 22}})
        assert bad.status_code == 422 and bad.headers["content-type"].startswith(PROBLEM)
        assert "comfort" in bad.json()["detail"]
        assert client.patch("/zones/hq.z9", json={"schedule": "nope"}).status_code == 422
        assert client.patch("/hvac-units/hq.rtu9", json={"modbus": {"framer": "tcp"}}).status_code == 422
        assert (
            client.patch("/hvac-units/hq.rtu9", json={"capacity_kw": 25}).json()["spec"]["capacity_kw"] == 25
        )
        assert client.patch("/zones/hq.z9", json={"id": "z10"}).status_code == 422
        assert client.patch("/sensors/hq.z9-temp", json={"unit": "percent"}).status_code == 422
        assert client.patch("/sensors/hq.rtu9.current_temp_c", json={"name": "x"}).status_code == 409
        got = client.get("/sensors/hq.z9-temp").json()
        assert got["zone_id"] == "hq.z9" and got["status"] == "active"

        assert client.delete("/zones/hq.z9").status_code == 409  # equipment and sensors in it
        for path in ("/sensors/hq.z9-temp", "/thermostats/hq.tstat-z9", "/hvac-units/hq.rtu9"):
            gone = client.delete(path)
            assert gone.status_code == 200 and "retired" in gone.json()["detail"], path
        assert client.get("/sensors/hq.z9-temp").json()["status"] == "retired"
        assert client.get("/hvac-units/hq.rtu9").json()["status"] == "retired"  # listed, history readable
        assert client.delete("/hvac-units/hq.rtu9").status_code == 404  # not an active unit any more
        assert client.patch("/hvac-units/hq.rtu9", json={"name": "x"}).status_code == 404
        plan = read_poll_plan("hq", site_db)
        assert not {"rtu9", "tstat-z9"} & {job.device_id for job in plan.jobs}
        assert "z9-temp" not in plan.sensors and "rtu9.current_temp_c" not in plan.sensors
        assert client.delete("/zones/hq.z9").status_code == 200  # no history: deleted
        assert client.get("/zones/hq.z9").status_code == 404
    assert [a[:2] for a in _audit(conn, "zone", "hq/z9")] == [
        ("create", "success"),
        ("update", "success"),
        ("update", "rejected"),
        ("update", "rejected"),
        ("update", "rejected"),
        ("delete", "rejected"),
        ("delete", "success"),
    ]


def test_deleting_keeps_history(api, tokens, conn):
    sensor_id = entity_uuid("sensor", "hq", "z1-temp")
    conn.execute(
        "INSERT INTO sensor_readings (time, sensor_id, zone_id, value, unit) "
        "VALUES (%s, %s, %s, 22.5, 'celsius')",
        (datetime.now(UTC), sensor_id, entity_uuid("zone", "hq", "z1")),
    )
    conn.commit()
    with api.client(tokens["admin"]["access_token"]) as client:
        assert client.delete("/sensors/hq.z1-temp").status_code == 200
        readings = client.get("/sensors/hq.z1-temp/readings").json()["items"]
        assert [r["value"] for r in readings] == [22.5]  # retired, its readings kept
        back = client.post("/zones/hq.z1/sensors", json={**SENSOR, "id": "z1-temp", "name": "Z1 temp"})
        assert back.status_code == 201, back.text
        assert client.get("/sensors/hq.z1-temp").json()["status"] == "active"
        # a zone that readings, commands or alerts refer to is kept
        assert client.post("/buildings/hq/zones", json={**ZONE, "id": "z8"}).status_code == 201
        conn.execute(
            "INSERT INTO alerts (building_id, zone_id, alert_type, severity, title) "
            "VALUES (%s, %s, 'threshold', 'info', 'x')",
            (entity_uuid("building", "hq"), entity_uuid("zone", "hq", "z8")),
        )
        conn.commit()
        kept = client.delete("/zones/hq.z8")
        assert kept.status_code == 409 and "history" in kept.json()["detail"]
        assert client.get("/zones/hq.z8").status_code == 200
        last = client.delete("/buildings/hq")
        assert last.status_code == 409  # the last building (and it has history)


def test_permissions_and_building_access(api, tokens, conn, make_user):
    for role in ("operator", "viewer"):
        with api.client(tokens[role]["access_token"]) as client:
            response = client.post("/buildings/hq/zones", json=ZONE)
            assert response.status_code == 403 and response.headers["content-type"].startswith(PROBLEM)
            assert client.patch("/zones/hq.z1", json={"name": "x"}).status_code == 403
            assert client.delete("/sensors/hq.z1-temp").status_code == 403
    # a facility manager with control (not full) access, or none, may not change the building
    email = make_user("facility_manager", email="fm-control@example.com", access_level="control")
    token = api.login(email).json()["access_token"]
    with api.client(token) as client:
        assert client.patch("/zones/hq.z1", json={"name": "x"}).status_code == 403
    email = make_user("facility_manager", email="fm-none@example.com", buildings=[])
    token = api.login(email).json()["access_token"]
    with api.client(token) as client:
        assert client.patch("/zones/hq.z1", json={"name": "x"}).status_code == 404
    with api.client(tokens["facility_manager"]["access_token"]) as client:
        assert client.post("/buildings", json={}).status_code == 422
        assert client.patch("/buildings/hq", json={"name": "x"}).status_code == 403
        assert client.delete("/buildings/hq").status_code == 403
    refused = _audit(conn, "zone", "hq/z1")
    assert refused and all(r[1] == "rejected" for r in refused)
    assert conn.execute("SELECT name FROM zones WHERE key = 'z1'").fetchone()[0] == "Open office north"


def test_admin_creates_changes_and_deletes_a_building(api, tokens, conn):
    annex = {
        "id": "annex",
        "name": "Annex",
        "timezone": "America/New_York",
        "total_area_m2": 400,
        "tariff": "con-ed-tou",
        "zones": [{**ZONE, "id": "a1"}],
    }
    tariff = conn.execute("SELECT name FROM tariffs LIMIT 1").fetchone()[0]
    annex["tariff"] = tariff
    with api.client(tokens["admin"]["access_token"]) as client:
        assert client.post("/buildings", json={**annex, "timezone": "Mars/Olympus"}).status_code == 422
        assert client.post("/buildings", json={**annex, "tariff": "nope"}).status_code == 422
        created = client.post("/buildings", json=annex)
        assert created.status_code == 201, created.text
        assert created.json()["id"] == "annex" and "zones" not in created.json()["spec"]
        assert client.post("/buildings", json=annex).status_code == 409
        assert "annex" in [b["id"] for b in client.get("/buildings").json()["items"]]
        assert client.get("/zones/annex.a1").status_code == 200
        patched = client.patch("/buildings/annex", json={"name": "The annex", "floors": 2})
        assert patched.status_code == 200 and patched.json()["spec"]["name"] == "The annex"
        assert client.patch("/buildings/annex", json={"autopilot": True}).status_code == 422
        assert client.patch("/buildings/annex", json={"total_area_m2": -1}).status_code == 422
        assert client.patch("/buildings/annex", json={"total_area_m2": 1e12}).status_code == 422  # column
        # a thermostat device id that another thermostat has
        dup = client.post(
            "/zones/annex.a1/thermostats", json={**TSTAT, "rest": {**TSTAT["rest"], "device_id": "RDS-0003"}}
        )
        assert dup.status_code == 409, dup.text
        assert client.delete("/buildings/annex").status_code == 200
        assert client.get("/buildings/annex").status_code == 404
    actions = [a[:2] for a in _audit(conn, "building", "annex")]
    assert ("create", "success") in actions and ("delete", "success") in actions
    assert ("update", "rejected") in actions


def test_site_import_keeps_api_edits(api, tokens, conn, site_db, example_site):
    from sbems.services.schedule_edits import import_site

    with api.client(tokens["facility_manager"]["access_token"]) as client:
        assert client.patch("/zones/hq.z1", json={"name": "Renamed in the API"}).status_code == 200
        assert client.delete("/sensors/hq.z2-co2").status_code == 200
        assert client.post("/buildings/hq/zones", json=ZONE).status_code == 201
    result = import_site(site_db, example_site)
    found = {(c.kind, c.key): c for c in result.conflicts}
    assert found[("zone", "hq/z1")].fields == ["name"]
    assert found[("zone", "hq/z1")].edited_by == "facility_manager@example.com"
    assert found[("sensor", "hq/z2-co2")].fields == ["retired"]
    assert ("zone", "hq/z9") not in found  # added in the API, not in the file: left as it is
    conn.commit()
    rows = dict(conn.execute("SELECT key, name FROM zones").fetchall())
    assert rows["z1"] == "Renamed in the API" and "z9" in rows
    status = "SELECT status FROM sensors WHERE key = 'z2-co2'"
    assert conn.execute(status).fetchone()[0] == "retired"
    again = import_site(site_db, example_site)  # the marker survived the import: still a conflict
    assert ("zone", "hq/z1") in {(c.kind, c.key) for c in again.conflicts}
    overwritten = import_site(site_db, example_site, overwrite_panel_edits=True)
    assert not overwritten.kept_panel_edits
    conn.commit()
    assert conn.execute("SELECT name FROM zones WHERE key = 'z1'").fetchone()[0] == "Open office north"
    assert conn.execute(status).fetchone()[0] == "active"


def test_a_zone_gets_a_new_schedule(api, tokens, conn):
    schedule = {
        "id": "lobby-hours",
        "name": "Lobby, every day",
        "occupied": [
            {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": "06:00", "end": "22:00"}
        ],
        "mode": "auto",
    }
    with api.client(tokens["facility_manager"]["access_token"]) as client:
        too_cold = client.post("/zones/hq.z4/schedules", json={**schedule, "occupied_setpoint_c": 19.0})
        assert too_cold.status_code == 422, too_cold.text  # below the zone's cooling limits (21-30 C)
        created = client.post("/zones/hq.z4/schedules", json=schedule)
        assert created.status_code == 201, created.text
        assert created.json()["spec"]["schedule"] == "lobby-hours"
        assert [s["zone_ids"] for s in client.get("/schedules/lobby-hours").json()["items"]] == [["hq.z4"]]
        assert "hq.z4" not in client.get("/schedules/office-weekdays").json()["items"][0]["zone_ids"]
        assert client.post("/zones/hq.z5/schedules", json=schedule).status_code == 409
        back = client.patch("/zones/hq.z4", json={"schedule": "office-weekdays"})
        assert back.status_code == 200
        assert client.get("/schedules/lobby-hours").status_code == 404  # no zone follows it any more
    with api.client(tokens["operator"]["access_token"]) as client:
        assert client.post("/zones/hq.z4/schedules", json=schedule).status_code == 403


def test_concurrent_edits_do_not_undo_each_other(api, tokens, conn):
    from concurrent.futures import ThreadPoolExecutor

    token = tokens["admin"]["access_token"]
    with api.client(token) as client:
        assert client.post("/buildings/hq/zones", json={**ZONE, "id": "gone"}).status_code == 201

    def call(i: int) -> int:
        with api.client(token) as client:
            if i == 0:
                return client.delete("/zones/hq.gone").status_code
            return client.post("/buildings/hq/zones", json={**ZONE, "id": f"c{i}"}).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(call, range(8)))
    assert statuses == [200] + [201] * 7
    conn.commit()
    keys = {k for (k,) in conn.execute("SELECT key FROM zones")}
    assert {f"c{i}" for i in range(1, 8)} <= keys and "gone" not in keys  # the delete was not written back
