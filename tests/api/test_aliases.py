"""The seed's §5.1 paths (``/alerts/rules``, ``/control/hvac|zone|thermostat/...``) reach the same handlers as
the API's own paths: the same answers for every role, the same audit and command log, the same rate limit,
and (slow) the same writes to the virtual building's equipment. They stay out of the OpenAPI description."""

from __future__ import annotations

import time
import uuid

import pytest

from sbems.api.app import create_app
from sbems.sim.harness import running_sim
from sbems.storage.entities import upsert_site
from tests.api.conftest import ROLES, SECRET, Api, serving

PROBLEM = "application/problem+json"
RULE = {"name": "Z1 warm", "metric_name": "temperature", "comparison": ">", "threshold_value": 27.0}
# (method, alias, canonical, body): each answers the same for the same caller; no equipment is needed (bounds
# refusals by dispatch, validation, permissions)
SAME = [
    ("GET", "/alerts/rules", "/alert-rules", None),
    ("POST", "/control/zone/hq.z1/temperature", "/zones/hq.z1/setpoint", {"setpoint_c": 35.0}),
    (
        "POST",
        "/control/thermostat/hq.tstat-z3/temperature",
        "/thermostats/hq.tstat-z3/setpoint",
        {"setpoint_c": 9},
    ),
    ("POST", "/control/zone/hq.z1/mode", "/zones/hq.z1/mode", {"mode": "dry"}),
    ("POST", "/control/hvac/hq.rtu1/fan", "/hvac-units/hq.rtu1/control", {"fan_speed_pct": 5}),
    ("POST", "/control/hvac/hq.rtu1/mode", "/hvac-units/hq.rtu1/control", {"mode": "dry"}),
    ("POST", "/control/hvac/hq.rtu1/power", "/hvac-units/hq.rtu1/control", {"power": "maybe"}),
    ("POST", "/control/hvac/hq.nope/fan", "/hvac-units/hq.nope/control", {"fan_speed_pct": 50}),
]


def _canonical_body(alias: str, body: dict | None) -> dict | None:
    if "/control/hvac/" not in alias:
        return body
    action = alias.rsplit("/", 1)[1]
    return {**body, "action": {"fan": "fan_speed"}.get(action, action)}


def _answer(response) -> tuple:
    data = response.json() if response.content else None
    if response.headers.get("content-type", "").startswith(PROBLEM):
        return response.status_code, data["type"], data["detail"] if response.status_code != 422 else None
    return response.status_code, data


@pytest.mark.parametrize("role", ROLES)
def test_each_alias_answers_as_its_path(api, tokens, conn, role):
    with api.client(tokens[role]["access_token"]) as client:
        for method, alias, canonical, body in SAME:
            first = client.request(method, alias, json=body)
            second = client.request(method, canonical, json=_canonical_body(alias, body))
            assert _answer(first) == _answer(second), (role, alias, first.text, second.text)
            assert first.status_code != 404 or "nope" in alias, (role, alias, first.text)
    refusals = conn.execute(
        "SELECT resource_id, result, error_message FROM audit_log WHERE action = 'control' ORDER BY id"
    ).fetchall()
    # every dispatch refusal was audited once per path, alias and canonical alike
    assert refusals and len(refusals) % 2 == 0
    assert refusals[0::2] == refusals[1::2]


def test_alert_rules_alias_is_the_same_crud(api, tokens, conn):
    with api.client(tokens["facility_manager"]["access_token"]) as client:
        created = client.post("/alerts/rules", json={**RULE, "building_id": "hq", "severity": "info"})
        assert created.status_code == 201, created.text
        rule = created.json()
        assert created.headers["location"] == f"/api/v1/alert-rules/{rule['id']}"
        assert client.get(f"/alert-rules/{rule['id']}").json() == rule
        assert client.get(f"/alerts/rules/{rule['id']}").json() == rule
        assert client.get("/alerts/rules").json() == client.get("/alert-rules").json()
        patched = client.patch(f"/alerts/rules/{rule['id']}", json={"threshold_value": 28.0})
        assert (
            patched.status_code == 200
            and client.get(f"/alert-rules/{rule['id']}").json()["threshold_value"] == 28
        )
        replaced = client.put(f"/alerts/rules/{rule['id']}", json={**RULE, "severity": "critical"})
        assert replaced.status_code == 200 and replaced.json()["severity"] == "critical"
        assert client.delete(f"/alerts/rules/{rule['id']}").status_code == 204
        assert client.get(f"/alert-rules/{rule['id']}").status_code == 404
        # the alerts' own paths are untouched by the alias
        assert client.get("/alerts/summary").status_code == 200
        assert client.get(f"/alerts/{uuid.uuid4()}").status_code == 404
        assert client.get("/alerts/not-a-uuid").status_code == 422
    audit = conn.execute(
        "SELECT action, result, source FROM audit_log WHERE resource = 'alert_rule' ORDER BY id"
    ).fetchall()
    assert len(audit) == 4 and {(r, s) for _, r, s in audit} == {("success", "api")}
    with api.client(tokens["viewer"]["access_token"]) as client:
        assert client.get("/alerts/rules").status_code == 403


def test_aliases_need_a_token_and_stay_out_of_the_openapi(api):
    with api.client() as client:
        paths = set(client.get("/openapi.json").json()["paths"])
        for method, alias, _, body in SAME:
            response = client.request(method, alias, json=body)
            assert response.status_code == 401 and response.headers["content-type"].startswith(PROBLEM)
        for rule_path in ("/alerts/rules", f"/alerts/rules/{uuid.uuid4()}"):
            assert client.get(rule_path).status_code == 401
    assert not [
        p
        for p in paths
        if p.startswith(("/api/v1/control/hvac", "/api/v1/control/zone", "/api/v1/alerts/rules"))
    ]
    assert "/api/v1/alert-rules" in paths and "/api/v1/hvac-units/{unit_id}/control" in paths


def _holds(actual, wanted) -> bool:
    if isinstance(wanted, float):
        return actual is not None and abs(float(actual) - wanted) <= 0.05
    return actual == wanted


@pytest.fixture
def sim_api(site_db, conn, example_site, mqtt_url, monkeypatch):
    monkeypatch.setenv("SBEMS_MQTT_URL", mqtt_url)
    monkeypatch.setenv("SBEMS_THERMOSTAT_API_KEY", "k-alias")
    with running_sim(example_site, speed=1, api_key="k-alias") as sim:
        upsert_site(conn, site=sim.site)
        conn.commit()
        with serving(create_app(site_db, SECRET, mqtt_url)) as port:
            yield sim, Api(f"http://127.0.0.1:{port}/api/v1", site_db)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_control_aliases_reach_the_equipment_through_the_one_dispatch_path(sim_api, make_user, conn):
    sim, api = sim_api
    token = api.login(make_user("operator")).json()["access_token"]
    writes = [  # (alias, body, zone, what the virtual building then holds)
        ("/control/zone/hq.z2/temperature", {"setpoint_c": 22.5}, "z2", ("setpoint_c", 22.5)),
        ("/control/thermostat/hq.tstat-z3/temperature", {"setpoint_c": 23.0}, "z3", ("setpoint_c", 23.0)),
        ("/control/zone/hq.z4/mode", {"mode": "heat"}, "z4", ("mode", "heat")),
        ("/control/hvac/hq.rtu1/fan", {"fan_speed_pct": 60}, "z1", ("fan_speed_pct", 60.0)),
        ("/control/hvac/hq.rtu2/power", {"power": "off"}, "z2", ("enabled", False)),
        ("/control/hvac/hq.rtu1/mode", {"mode": "heat"}, "z1", ("mode", "heat")),
    ]
    with api.client(token) as client:
        for alias, body, zone, (field, value) in writes:
            response = client.post(alias, json={**body, "lifetime_s": 600, "reason": "seed path"})
            assert response.status_code == 200 and response.json()["status"] == "confirmed", (
                alias,
                response.text,
            )
            deadline = time.monotonic() + 30
            while not _holds(sim.state()["zones"][zone][field], value):
                assert time.monotonic() < deadline, (alias, sim.state()["zones"][zone])
                time.sleep(0.25)
        # the same rate limit as the API's own path: one manual write per zone and kind every 10 s
        again = client.post("/zones/hq.z2/setpoint", json={"setpoint_c": 23.0})
        assert again.status_code == 429 and again.headers["content-type"].startswith(PROBLEM)
        # the same value again through the canonical path: already held, nothing written
        held = client.post("/hvac-units/hq.rtu1/control", json={"fan_speed_pct": 60, "lifetime_s": 600})
        assert held.status_code == 200 and held.json()["status"] == "skipped", held.text
    rows = conn.execute(
        "SELECT source, status, lifetime_s FROM control_commands WHERE status = 'confirmed'"
    ).fetchall()
    assert sorted(rows) == [("manual", "confirmed", 600)] * len(writes)
