"""Every endpoint over real HTTP: 401 without a token, the role x endpoint matrix (allowed or 403, as
docs/api.md documents it), a viewer's setpoint refused (and audited), alerts, history paging, problems."""

from __future__ import annotations

import uuid

import httpx
import pytest

from sbems.domain.site import entity_uuid
from tests.api.conftest import ROLES

PROBLEM = "application/problem+json"
ZONE = "hq.z1"
SENSOR = "hq.z1-temp"
ALLOWED = {  # endpoint -> roles allowed (docs/api.md, "Roles"); every other role gets 403
    ("GET", "/buildings"): set(ROLES),
    ("GET", "/buildings/hq"): set(ROLES),
    ("GET", "/buildings/hq/overview"): set(ROLES),
    ("GET", "/buildings/hq/zones"): set(ROLES),
    ("GET", f"/zones/{ZONE}"): set(ROLES),
    ("GET", f"/zones/{ZONE}/current-status"): set(ROLES),
    ("POST", f"/zones/{ZONE}/setpoint"): {"admin", "facility_manager", "operator"},
    ("GET", "/alerts"): {"admin", "facility_manager", "operator"},
    ("GET", "/alerts/{alert}"): {"admin", "facility_manager", "operator"},
    ("GET", "/alerts/summary"): {"admin", "facility_manager", "operator"},
    ("POST", "/alerts/{alert}/acknowledge"): {"admin", "facility_manager"},
    ("POST", "/alerts/{alert}/resolve"): {"admin", "facility_manager"},
    ("GET", "/predictions/optimization?building_id=hq"): {"admin", "facility_manager", "operator", "viewer"},
    ("GET", "/buildings/hq/control-history"): {"admin", "facility_manager", "operator"},
    ("GET", "/buildings/hq/sensors"): set(ROLES),
    ("GET", "/predictions/load-forecast?building_id=hq"): set(ROLES),
    ("GET", "/predictions/temperature?zone_id=hq.z1"): set(ROLES),
    ("GET", "/predictions/occupancy?zone_id=hq.z1"): set(ROLES),
    ("GET", "/buildings/hq/hvac-units"): set(ROLES),
    ("GET", "/hvac-units/hq.rtu1"): set(ROLES),
    ("GET", "/hvac-units/hq.rtu1/status"): set(ROLES),
    ("GET", "/hvac-units/hq.rtu1/telemetry"): set(ROLES),
    ("GET", "/sensors/{sensor}/readings"): set(ROLES),
    ("GET", "/buildings/hq/thermostats"): set(ROLES),
    ("GET", "/zones/hq.z3/thermostats"): set(ROLES),
    ("GET", "/thermostats/hq.tstat-z3"): set(ROLES),
    ("GET", "/thermostats/hq.tstat-z3/status"): set(ROLES),
    ("POST", "/thermostats/hq.tstat-z3/setpoint"): {"admin", "facility_manager", "operator"},
    ("GET", "/buildings/hq/schedules"): {"admin", "facility_manager", "operator"},
    ("GET", "/zones/hq.z1/schedules"): {"admin", "facility_manager", "operator"},
    ("GET", "/schedules/office-weekdays"): {"admin", "facility_manager", "operator"},
    ("PATCH", "/schedules/office-weekdays"): {"admin", "facility_manager"},
    ("DELETE", "/schedules/office-weekdays"): {"admin", "facility_manager"},  # 409: zones follow it
    ("GET", "/analytics/energy-consumption?building_id=hq"): set(ROLES),
    ("GET", "/analytics/cost?building_id=hq"): set(ROLES),
    ("GET", "/analytics/temperature-history?zone_id=hq.z1"): set(ROLES),
    ("GET", "/analytics/comparison?building_ids=hq"): set(ROLES),
    ("GET", "/analytics/export?type=energy&building_id=hq&format=xlsx"): set(ROLES),
    ("GET", "/buildings/hq/energy-summary"): set(ROLES),
    ("GET", "/control/history?building_id=hq"): {"admin", "facility_manager", "operator"},
    ("GET", "/users"): {"admin"},
    ("GET", "/users/me"): set(ROLES),
    ("POST", "/users"): {"admin"},
    ("GET", "/users/{other}"): {"admin"},
    ("PATCH", "/users/{other}"): {"admin"},
    ("GET", "/users/{other}/access"): {"admin"},
    ("POST", "/users/{other}/access"): {"admin"},
    ("DELETE", "/users/{other}/access/hq"): {"admin"},
    ("GET", "/buildings/hq/savings"): set(ROLES),
    ("GET", "/alert-rules"): {"admin", "facility_manager", "operator"},
    ("POST", "/alert-rules"): {"admin", "facility_manager"},
    ("GET", "/alert-rules/{rule}"): {"admin", "facility_manager", "operator"},
    ("PUT", "/alert-rules/{rule}"): {"admin", "facility_manager"},
    ("PATCH", "/alert-rules/{rule}"): {"admin", "facility_manager"},
    ("DELETE", "/alert-rules/{rule}"): {"admin", "facility_manager"},  # the rule is gone after it
    ("GET", "/buildings/hq/notification-routes"): {"admin", "facility_manager"},
    ("PUT", "/buildings/hq/notification-routes"): {"admin", "facility_manager"},
    # site entities (routes_entities): created, changed, then deleted, in this order
    ("POST", "/buildings"): {"admin"},
    ("PATCH", "/buildings/annex"): {"admin"},
    ("DELETE", "/buildings/annex"): {"admin"},
    ("POST", "/buildings/hq/zones"): {"admin", "facility_manager"},
    ("PATCH", "/zones/hq.z9"): {"admin", "facility_manager"},
    ("POST", "/zones/hq.z9/schedules"): {"admin", "facility_manager"},
    ("POST", "/schedules/mezz/disable"): {"admin", "facility_manager"},
    ("POST", "/schedules/mezz/enable"): {"admin", "facility_manager"},
    ("POST", "/buildings/hq/hvac-units"): {"admin", "facility_manager"},
    ("PATCH", "/hvac-units/hq.rtu9"): {"admin", "facility_manager"},
    ("POST", "/zones/hq.z9/thermostats"): {"admin", "facility_manager"},
    ("PATCH", "/thermostats/hq.tstat-z9"): {"admin", "facility_manager"},
    ("POST", "/zones/hq.z9/sensors"): {"admin", "facility_manager"},
    ("GET", "/sensors/hq.z1-temp"): set(ROLES),
    ("PATCH", "/sensors/hq.z9-temp"): {"admin", "facility_manager"},
    ("DELETE", "/sensors/hq.z9-temp"): {"admin", "facility_manager"},
    ("DELETE", "/thermostats/hq.tstat-z9"): {"admin", "facility_manager"},
    ("DELETE", "/hvac-units/hq.rtu9"): {"admin", "facility_manager"},
    ("DELETE", "/zones/hq.z9"): {"admin", "facility_manager"},
}
NEW_ZONE = {
    "id": "z9",
    "name": "Mezzanine",
    "area_m2": 120,
    "occupancy_capacity": 10,
    "schedule": "office-weekdays",
}
ANNEX = {
    "id": "annex",
    "name": "Annex",
    "timezone": "UTC",
    "total_area_m2": 400,
    "tariff": "evaluation-tou",
    "zones": [{**NEW_ZONE, "id": "a1"}],
}
RULE = {"name": "Z1 warm", "metric_name": "temperature", "comparison": ">", "threshold_value": 27.0}
# bodies of the writes, and what an allowed role gets (default 200, or 409 for a repeated alert action)
# a setpoint outside 18-26 C: allowed roles reach dispatch's bounds check (422), no equipment needed
SETPOINT = {"setpoint_c": 35.0, "lifetime_s": 600}
WRITES = {  # (method, path) -> (body, statuses an allowed role gets)
    ("POST", f"/zones/{ZONE}/setpoint"): (SETPOINT, {422}),
    ("POST", "/thermostats/hq.tstat-z3/setpoint"): (SETPOINT, {422}),
    # outside 18-26 C: refused by the schedule rules after the permission checks
    ("PATCH", "/schedules/office-weekdays"): (
        {"occupied_setpoint_c": 30.0, "unoccupied_setpoint_c": 28.0},
        {422},
    ),
    ("DELETE", "/schedules/office-weekdays"): (None, {409}),
    ("POST", "/schedules/mezz/disable"): (None, {200}),
    ("POST", "/schedules/mezz/enable"): (None, {200}),
    ("POST", "/users"): ({"email": "new@example.com", "password": "12345678", "role": "viewer"}, {422}),
    ("PATCH", "/users/{other}"): ({"first_name": "Other"}, {200}),
    ("POST", "/users/{other}/access"): ({"building_id": "hq", "access_level": "readonly"}, {200}),
    ("DELETE", "/users/{other}/access/hq"): (None, {204}),
    # outside the heating range: refused by dispatch's bounds after the permission checks
    ("POST", "/zones/hq.z1/heating-setpoint"): (SETPOINT, {422}),
    ("POST", "/hvac-units/hq.rtu2/control"): ({"action": "heating_setpoint", "setpoint_c": 35.0}, {422}),
    # a valid mode reaches the equipment: no thermostat service runs here (502), unless one answers (200)
    ("POST", "/zones/hq.z4/mode"): ({"mode": "heat", "lifetime_s": 600}, {200, 502}),
    ("POST", "/thermostats/hq.tstat-z5/mode"): ({"mode": "heat", "lifetime_s": 600}, {200, 502}),
    ("POST", "/alert-rules"): ({**RULE, "building_id": "hq", "severity": "info"}, {201}),
    ("PUT", "/alert-rules/{rule}"): ({**RULE, "severity": "critical", "zone_id": "hq.z1"}, {200}),
    ("PATCH", "/alert-rules/{rule}"): ({"threshold_value": 28.0}, {200}),
    ("DELETE", "/alert-rules/{rule}"): (None, {204}),
    ("PUT", "/buildings/hq/notification-routes"): (
        {"items": [{"severity": "info", "tags": ["oncall"]}]},
        {200},
    ),
    ("POST", "/buildings"): (ANNEX, {201}),
    ("PATCH", "/buildings/annex"): ({"address": "2 Side Street"}, {200}),
    ("DELETE", "/buildings/annex"): (None, {200}),
    ("POST", "/buildings/hq/zones"): (NEW_ZONE, {201}),
    ("PATCH", "/zones/hq.z9"): ({"name": "Mezzanine north"}, {200}),
    ("POST", "/zones/hq.z9/schedules"): (
        {
            "id": "mezz",
            "name": "Mezzanine",
            "occupied": [{"days": ["mon"], "start": "08:00", "end": "12:00"}],
        },
        {201},
    ),
    ("POST", "/buildings/hq/hvac-units"): (
        {
            "id": "rtu9",
            "name": "RTU-9",
            "capacity_kw": 20,
            "zone": "z9",
            "protocol": "bacnet",
            "bacnet": {"address": "127.0.0.1:47899", "device_id": 1009},
        },
        {201},
    ),
    ("PATCH", "/hvac-units/hq.rtu9"): ({"capacity_kw": 25}, {200}),
    ("POST", "/zones/hq.z9/thermostats"): (
        {
            "id": "tstat-z9",
            "name": "T9",
            "capacity_kw": 10,
            "rest": {"base_url": "http://127.0.0.1:8081/api/v1", "device_id": "RDS-0009"},
        },
        {201},
    ),
    ("PATCH", "/thermostats/hq.tstat-z9"): ({"name": "Mezzanine thermostat"}, {200}),
    ("POST", "/zones/hq.z9/sensors"): (
        {"id": "z9-temp", "name": "Z9", "sensor_type": "temperature", "unit": "celsius"},
        {201},
    ),
    ("PATCH", "/sensors/hq.z9-temp"): ({"calibration_offset": 0.5}, {200}),
}


def _insert_alert(conn, title: str = "Zone too warm") -> str:
    alert_id = conn.execute(
        "INSERT INTO alerts (building_id, zone_id, alert_type, severity, title) "
        "VALUES (%s, %s, 'threshold', 'warning', %s) RETURNING id",
        (entity_uuid("building", "hq"), entity_uuid("zone", "hq", "z1"), title),
    ).fetchone()[0]
    conn.commit()
    return str(alert_id)


def _insert_rule(conn) -> str:
    rule_id = conn.execute(
        "INSERT INTO alert_rules (building_id, name, metric_name, comparison, threshold_value, severity) "
        "VALUES (%s, 'CO2 high', 'co2', '>', 1200, 'warning') RETURNING id",
        (entity_uuid("building", "hq"),),
    ).fetchone()[0]
    conn.commit()
    return str(rule_id)


def test_openapi_lists_every_endpoint(api):
    with api.client() as client:
        spec = client.get("/openapi.json").json()
    paths = {p.removeprefix("/api/v1") for p in spec["paths"]}
    for _, path in ALLOWED:
        template = (
            path.split("?")[0]
            .replace("/sensors/hq.z9-temp", "/sensors/{sensor_id}")
            .replace("/sensors/hq.z1-temp", "/sensors/{sensor_id}")
            .replace("hq.rtu9", "{unit_id}")
            .replace("hq.tstat-z9", "{thermostat_id}")
            .replace("hq.z9", "{zone_id}")
            .replace("/buildings/annex", "/buildings/{building_id}")
            .replace("{alert}", "{alert_id}")
            .replace("{rule}", "{rule_id}")
            .replace("{sensor}", "{sensor_id}")
            .replace("/hvac-units/hq.rtu1", "/hvac-units/{unit_id}")
            .replace("/hvac-units/hq.rtu2", "/hvac-units/{unit_id}")
            .replace("hq.tstat-z5", "{thermostat_id}")
            .replace("hq.z4", "{zone_id}")
            .replace("hq.tstat-z3", "{thermostat_id}")
            .replace("office-weekdays", "{schedule_id}")
            .replace("/schedules/mezz", "/schedules/{schedule_id}")
            .replace("{other}", "{user_id}")
            .replace("/access/hq", "/access/{building_id}")
            .replace("hq.z3", "{zone_id}")
            .replace(ZONE, "{zone_id}")
            .replace("/hq", "/{building_id}")
        )
        assert template in paths, template


def test_every_data_get_without_a_token_is_401(api):
    with api.client() as client:
        spec = client.get("/openapi.json").json()
        gets = [p for p, ops in spec["paths"].items() if "get" in ops]
        assert len(gets) >= 9
        for path in gets:
            url = (
                path.removeprefix("/api/v1")
                .replace("{building_id}", "hq")
                .replace("{zone_id}", ZONE)
                .replace("{alert_id}", str(uuid.uuid4()))
                .replace("{rule_id}", str(uuid.uuid4()))
                .replace("{sensor_id}", SENSOR)
                .replace("{unit_id}", "hq.rtu1")
                .replace("{thermostat_id}", "hq.tstat-z3")
                .replace("{schedule_id}", "office-weekdays")
                .replace("{user_id}", str(uuid.uuid4()))
            )
            response = client.get(url, params={"building_id": "hq", "zone_id": ZONE, "type": "energy"})
            assert response.status_code == 401, path
            assert response.headers["content-type"].startswith(PROBLEM)
            assert response.json()["status"] == 401
        assert client.post(f"/zones/{ZONE}/setpoint", json=SETPOINT).status_code == 401
        for method, template in WRITES:
            path = template.replace("{other}", str(uuid.uuid4())).replace("{rule}", str(uuid.uuid4()))
            assert client.request(method, path, json=WRITES[(method, template)][0]).status_code == 401, path
        assert client.get("/buildings", headers={"Authorization": "Basic eDp5"}).status_code == 401


@pytest.mark.parametrize("role", ROLES)
def test_role_endpoint_matrix(api, tokens, conn, make_user, role):
    alert, rule = _insert_alert(conn), _insert_rule(conn)
    make_user("viewer", email="other@example.com")
    other = str(conn.execute("SELECT id FROM users WHERE email = 'other@example.com'").fetchone()[0])
    with api.client(tokens[role]["access_token"]) as client:
        for (method, template), allowed in ALLOWED.items():
            body, expected = WRITES.get((method, template), (None, {200, 409}))
            path = (
                template.replace("{alert}", alert)
                .replace("{sensor}", SENSOR)
                .replace("{other}", other)
                .replace("{rule}", rule)
            )
            response = client.request(method, path, json=body)
            if role in allowed:
                assert response.status_code in expected, (role, method, path, response.text)
            else:
                assert response.status_code == 403, (role, method, path, response.text)
                assert response.headers["content-type"].startswith(PROBLEM)


def test_viewer_setpoint_is_403_and_audited(api, tokens):
    with api.client(tokens["viewer"]["access_token"]) as client:
        response = client.post(f"/zones/{ZONE}/setpoint", json={"setpoint_c": 22.0})
    assert response.status_code == 403
    assert response.headers["content-type"].startswith(PROBLEM)
    with api.client(tokens["facility_manager"]["access_token"]) as client:
        history = client.get("/buildings/hq/control-history").json()["items"]
    refused = [e for e in history if e["action"] == "control" and e["actor"] == "viewer@example.com"]
    assert refused and refused[0]["result"] == "rejected" and refused[0]["resource_id"] == "hq/z1"


def test_building_and_zone_reads(api, tokens):
    with api.client(tokens["operator"]["access_token"]) as client:
        buildings = client.get("/buildings").json()["items"]
        assert [b["id"] for b in buildings] == ["hq"] and buildings[0]["access_level"] == "control"
        zones = client.get("/buildings/hq/zones").json()["items"]
        assert zones[0]["id"] == ZONE and zones[0]["setpoint_min_c"] >= 18.0
        assert client.get(f"/zones/{zones[0]['id']}").json()["name"] == zones[0]["name"]
        status = client.get(f"/zones/{ZONE}/current-status").json()
        assert status["id"] == ZONE and status["temperature_c"] is None  # no readings stored yet
        overview = client.get("/buildings/hq/overview").json()
        assert {z["id"] for z in overview["zones"]} == {z["id"] for z in zones}
        assert client.get("/predictions/optimization", params={"building_id": "hq"}).json()["found"] is False
        assert client.get("/zones/bad").status_code == 422  # not 'building.zone'
        for missing in (
            "/buildings/nope",
            "/zones/hq.nope",
            "/zones/nope.z1",
            "/buildings/x/zones",
        ):
            response = client.get(missing)
            assert response.status_code == 404, missing
            assert response.headers["content-type"].startswith(PROBLEM)


def test_no_grant_means_not_found(api, make_user, site_db):
    email = make_user("operator", email="nogrant@example.com", buildings=[])
    token = api.login(email).json()["access_token"]
    with api.client(token) as client:
        assert client.get("/buildings").json() == {"items": []}
        assert client.get("/buildings/hq").status_code == 404
        assert client.post(f"/zones/{ZONE}/setpoint", json={"setpoint_c": 22.0}).status_code == 404


def test_alerts_acknowledge_and_resolve(api, tokens, conn):
    alert = _insert_alert(conn)
    with api.client(tokens["facility_manager"]["access_token"]) as client:
        items = client.get("/alerts", params={"building_id": "hq"}).json()["items"]
        assert [a["id"] for a in items] == [alert] and items[0]["zone_id"] == ZONE
        summary = client.get("/alerts/summary").json()["items"]
        assert summary == [{"building_id": "hq", "critical": 0, "warning": 1, "info": 0, "total": 1}]
        assert client.post(f"/alerts/{alert}/acknowledge").json()["ok"] is True
        again = client.post(f"/alerts/{alert}/acknowledge")
        assert again.status_code == 409 and again.headers["content-type"].startswith(PROBLEM)
        assert client.get(f"/alerts/{alert}").json()["acknowledged_by"] == "facility_manager@example.com"
        assert client.post(f"/alerts/{alert}/resolve").status_code == 200
        assert client.get("/alerts", params={"resolved": "false"}).json()["items"] == []
        assert client.get("/alerts/summary", params={"building_id": "hq"}).json()["items"][0]["total"] == 0
        assert [a["id"] for a in client.get("/alerts", params={"resolved": "true"}).json()["items"]] == [
            alert
        ]
        assert client.get(f"/alerts/{uuid.uuid4()}").status_code == 404
        assert client.get("/alerts/not-a-uuid").status_code == 422


def test_control_history_time_range_and_cursor(api, tokens, conn):
    for i in range(5):
        conn.execute(
            "INSERT INTO audit_log (time, actor, action, resource, resource_id, result) "
            "VALUES (now() - make_interval(hours => %s), 'someone', 'control', 'zone', 'hq/z1', 'success')",
            (i,),
        )
    conn.execute(
        "INSERT INTO audit_log (actor, action, resource, resource_id, result) "
        "VALUES ('someone', 'control', 'zone', 'other/z1', 'success')"
    )
    conn.commit()
    with api.client(tokens["operator"]["access_token"]) as client:
        first = client.get("/buildings/hq/control-history", params={"limit": 2}).json()
        assert len(first["items"]) == 2 and first["next_cursor"]
        second = client.get(
            "/buildings/hq/control-history", params={"limit": 2, "cursor": first["next_cursor"]}
        ).json()
        third = client.get(
            "/buildings/hq/control-history", params={"limit": 2, "cursor": second["next_cursor"]}
        ).json()
        ids = [e["id"] for page in (first, second, third) for e in page["items"]]
        assert len(ids) == len(set(ids)) == 5 and third["next_cursor"] is None
        assert all(e["resource_id"] == "hq/z1" for page in (first, second, third) for e in page["items"])
        recent = client.get("/buildings/hq/control-history", params={"since": _ago_iso(conn, 150)}).json()[
            "items"
        ]
        assert len(recent) == 3  # 0, 1 and 2 h ago
        naive = client.get("/buildings/hq/control-history", params={"since": "2026-01-01T00:00:00"})
        assert naive.status_code == 422 and naive.headers["content-type"].startswith(PROBLEM)


def _ago_iso(conn, minutes: int) -> str:
    return conn.execute("SELECT now() - make_interval(mins => %s)", (minutes,)).fetchone()[0].isoformat()


def test_validation_errors_are_problems(api, tokens):
    with api.client(tokens["operator"]["access_token"]) as client:
        for body in ({"setpoint_c": "warm"}, {"setpoint_c": 22, "lifetime_s": 0}, {"setpoint_c": 22, "x": 1}):
            response = client.post(f"/zones/{ZONE}/setpoint", json=body)
            assert response.status_code == 422, body
            assert response.headers["content-type"].startswith(PROBLEM)
        response = client.post(
            f"/zones/{ZONE}/setpoint", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert response.status_code == 422
        assert client.delete("/buildings").status_code == 405
    assert httpx.get(api.base + "/nowhere").headers["content-type"].startswith(PROBLEM)
