"""The simulated Siemens thermostats over REST, used with httpx."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from sbems.sim.harness import running_sim
from tests.sim.conftest import HOT_AFTERNOON_UTC


@pytest.fixture(scope="module")
def sim(example_site):
    with running_sim(example_site, paused=True, seed=3, start_utc=HOT_AFTERNOON_UTC) as handle:
        handle.advance(600)
        yield handle


@pytest.fixture
def api(sim):
    with httpx.Client(
        base_url=sim.rest_base_url, headers={"Authorization": f"Bearer {sim.api_key}"}, timeout=5.0
    ) as client:
        yield client


class _Receiver(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 (http.server API)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):  # keep test output quiet
        return None


def test_status_matches_the_plant(sim, api):
    status = api.get("/devices/RDS-0005/status").json()
    zone = sim.zone("z5")
    assert status["deviceId"] == "RDS-0005" and status["zoneId"] == "z5" and status["unit"] == "celsius"
    assert status["temperature"] == pytest.approx(zone["zone_temp_c"], abs=0.01)
    assert status["setpoint"] == pytest.approx(zone["setpoint_c"])
    assert status["mode"] == "auto" and status["output"] == "cooling"
    assert status["timestamp"].endswith("Z")


def test_auth_unknown_device_and_validation(sim, api):
    assert httpx.get(sim.rest_base_url + "/devices/RDS-0003/status").status_code == 401
    bad_key = {"Authorization": "Bearer wrong"}
    assert httpx.get(sim.rest_base_url + "/devices/RDS-0003/status", headers=bad_key).status_code == 401
    assert api.get("/devices/RDS-9999/status").status_code == 404
    assert api.post("/devices/RDS-0003/setpoint", json={"value": 99, "unit": "celsius"}).status_code == 422
    assert api.post("/devices/RDS-0003/setpoint", json={"value": 22, "unit": "kelvin"}).status_code == 422
    assert api.post("/devices/RDS-0003/mode", json={"mode": "turbo"}).status_code == 422
    assert api.put("/devices/RDS-0003/schedule", json={"occupied": []}).status_code == 422


def test_setpoint_mode_schedule_and_webhooks(sim, api):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        hook = api.post(
            "/webhooks",
            json={
                "url": f"http://127.0.0.1:{server.server_port}/hook",
                "events": ["temperature_change", "mode_change", "schedule_trigger"],
            },
        )
        assert hook.status_code == 201
        before = sim.zone("z6")
        response = api.post(
            "/devices/RDS-0006/setpoint", json={"value": 69.8, "unit": "fahrenheit"}
        )  # 21.0 C
        assert response.status_code == 200
        assert response.json()["setpoint"] == pytest.approx(21.0)
        after = sim.advance(15 * 60)["zones"]["z6"]
        assert after["setpoint_c"] == pytest.approx(21.0)
        assert after["zone_temp_c"] < before["zone_temp_c"] - 1.0
        assert after["electric_kw"] > before["electric_kw"]
        assert (
            api.post("/devices/RDS-0006/setpoint", json={"value": None}).json()["setpointSource"]
            == "schedule"
        )
        assert api.post("/devices/RDS-0004/mode", json={"mode": "heat"}).json()["mode"] == "heat"
        schedule = api.get("/devices/RDS-0004/schedule").json()
        assert schedule["occupied"][0]["start"] == "07:00" and schedule["occupiedSetpoint"] == 23.0
        schedule["occupied"] = [
            {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "06:00", "end": "14:30"}
        ]
        assert (
            api.put(
                "/devices/RDS-0004/schedule",
                json={k: schedule[k] for k in ("occupied", "occupiedSetpoint", "unoccupiedSetpoint")},
            ).status_code
            == 200
        )
        sim.advance(31 * 60)  # 14:30 local passes: the new schedule switches to unoccupied
        deadline = time.monotonic() + 30  # generous: the loop ends as soon as all three arrived
        events = set()
        while (
            time.monotonic() < deadline
            and not {"temperature_change", "mode_change", "schedule_trigger"} <= events
        ):
            time.sleep(0.1)
            events = {e["event"] for e in _Receiver.received}
        assert {"temperature_change", "mode_change", "schedule_trigger"} <= events
        trigger = next(e for e in _Receiver.received if e["event"] == "schedule_trigger")
        assert trigger["deviceId"] == "RDS-0004" and trigger["data"]["occupied"] is False
        api.post("/devices/RDS-0004/mode", json={"mode": "auto"})
    finally:
        server.shutdown()


def test_429_burst_with_retry_after(sim, api):
    sim.inject_fault(kind="http_429", target="tstat-z3", count=2, retry_after_s=7)
    first = api.get("/devices/RDS-0003/status")
    second = api.get("/devices/RDS-0003/status")
    assert first.status_code == second.status_code == 429
    assert first.headers["Retry-After"] == "7"
    assert api.get("/devices/RDS-0005/status").status_code == 200  # other devices unaffected
    assert api.get("/devices/RDS-0003/status").status_code == 200  # burst over


@pytest.mark.parametrize("kind", ["slow", "offline"])
def test_slow_and_offline_thermostats_time_out(sim, api, kind):
    fault = sim.inject_fault(kind=kind, target="RDS-0003", delay_s=2.0)
    try:
        with pytest.raises(httpx.ReadTimeout):
            api.get("/devices/RDS-0003/status", timeout=0.5)
        assert api.get("/devices/RDS-0005/status", timeout=2).status_code == 200
    finally:
        sim.clear_faults(fault["id"])


def test_compressor_fault_appears_in_status(sim, api):
    fault = sim.inject_fault(kind="compressor_fault", target="tstat-z5")
    try:
        assert "compressor_fault" in api.get("/devices/RDS-0005/status").json()["alarms"]
    finally:
        sim.clear_faults(fault["id"])


def test_heating_setpoint_in_setpoint_body_status_and_schedule(sim, api):
    assert api.post("/devices/RDS-0005/setpoint", json={"unit": "celsius"}).status_code == 422
    status = api.post("/devices/RDS-0005/setpoint", json={"heatingValue": 66.2, "unit": "fahrenheit"}).json()
    assert status["heatingSetpoint"] == pytest.approx(19.0) and status["heatingSetpointSource"] == "hold"
    assert status["setpointSource"] == "schedule" and status["coolingSetpoint"] == status["setpoint"]
    zone = sim.zone("z5")
    assert zone["heating_setpoint_c"] == pytest.approx(19.0) and zone["setpoint_source"] == "schedule"
    released = api.post("/devices/RDS-0005/setpoint", json={"heatingValue": None}).json()
    assert released["heatingSetpointSource"] == "schedule" and released["heatingSetpoint"] == 21.0
    schedule = api.get("/devices/RDS-0005/schedule").json()
    assert schedule["occupiedHeatingSetpoint"] == 21.0 and schedule["unoccupiedHeatingSetpoint"] == 16.0
    body = {k: schedule[k] for k in ("occupied", "occupiedSetpoint", "unoccupiedSetpoint")}
    too_close = body | {"occupiedHeatingSetpoint": schedule["occupiedSetpoint"] - 0.5}
    assert api.put("/devices/RDS-0005/schedule", json=too_close).status_code == 422
    changed = api.put("/devices/RDS-0005/schedule", json=body | {"occupiedHeatingSetpoint": 20.0}).json()
    assert changed["occupiedHeatingSetpoint"] == 20.0 and changed["unoccupiedHeatingSetpoint"] == 16.0
    assert sim.advance(60)["zones"]["z5"]["heating_setpoint_c"] == 20.0  # occupied: from the next step
    restore = body | {"occupiedHeatingSetpoint": 21.0}
    assert api.put("/devices/RDS-0005/schedule", json=restore).status_code == 200
