"""``POST /hvac-units/{id}/control`` with a fan speed or power, end to end: the API (uvicorn) -> the one
dispatch path -> the virtual building's real BACnet/IP and Modbus TCP servers -> read back; and each
result on the real MQTT broker, pushed on the WebSocket's ``commands`` channel to users who may see it."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import websockets

from sbems.api.app import create_app
from sbems.services.live_events import live_event
from sbems.sim.harness import running_sim
from sbems.storage.entities import upsert_site
from tests.api.conftest import SECRET, serving
from tests.api.test_ws import _collect, _login, _wait_subscribed

pytestmark = pytest.mark.timeout(300)


def test_a_command_result_is_a_commands_event():
    payload = {
        "commandId": "c0ffee00-0000-0000-0000-000000000001",
        "zoneId": "z2",
        "deviceId": "rtu2",
        "deviceKind": "hvac_unit",
        "timestamp": "2026-11-30T07:00:00Z",
        "kind": "power",
        "status": "confirmed",
        "value": "off",
        "readBack": 0.0,
        "source": "manual",
    }
    event = live_event("sbems/building/hq/zone/z2/command_result", json.dumps(payload).encode())
    assert event is not None and event.channel == "commands" and event.building_id == "hq"
    assert event.payload["hvacUnitId"] == "hq.rtu2" and event.payload["zoneId"] == "hq.z2"
    assert event.payload["status"] == "confirmed" and event.payload["value"] == "off"
    bad = live_event(
        "sbems/building/hq/zone/z2/command_result", json.dumps({**payload, "status": "x"}).encode()
    )
    assert bad is None  # not per its contract: never pushed


@pytest.fixture
def sim_api(site_db, conn, example_site, mqtt_url, monkeypatch):
    db_url = site_db  # the example site first (users need it), then its ports replaced by the sim's
    monkeypatch.setenv("SBEMS_MQTT_URL", mqtt_url)  # the broker dispatch publishes results to
    with running_sim(example_site, speed=1, api_key="k-test") as sim:
        upsert_site(conn, site=sim.site)
        conn.commit()
        app = create_app(db_url, SECRET, mqtt_url)
        with serving(app) as port:
            yield sim, app, port


@pytest.mark.slow
def test_fan_and_power_through_the_api_with_results_on_the_websocket(sim_api, make_user):
    sim, app, port = sim_api
    base = f"http://127.0.0.1:{port}/api/v1"
    operator = _login(port, make_user("operator"))["access_token"]
    viewer = _login(port, make_user("viewer"))["access_token"]
    outsider = _login(port, make_user("operator", "outsider@example.com", buildings=[]))["access_token"]

    def post(token: str, unit: str, body: dict) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"}
        return httpx.post(f"{base}/hvac-units/{unit}/control", json=body, headers=headers, timeout=60)

    async def main():
        url = f"ws://127.0.0.1:{port}/api/v1/ws?token="
        async with websockets.connect(url + operator) as ws, websockets.connect(url + outsider) as ws_out:
            assert json.loads(await ws.recv())["type"] == "welcome"
            assert json.loads(await ws_out.recv())["payload"]["buildings"] == []
            await asyncio.to_thread(_wait_subscribed, app)

            fan = await asyncio.to_thread(post, operator, "hq.rtu1", {"fan_speed_pct": 45, "lifetime_s": 600})
            assert fan.status_code == 200 and fan.json()["status"] == "confirmed", fan.text
            assert fan.json()["read_back"] == pytest.approx(45.0)
            off = await asyncio.to_thread(post, operator, "hq.rtu2", {"power": "off"})
            assert off.status_code == 200 and off.json()["status"] == "confirmed", off.text
            zones = sim.state()["zones"]
            assert zones["z1"]["fan_speed_pct"] == pytest.approx(45.0) and not zones["z2"]["enabled"]

            low = await asyncio.to_thread(post, operator, "hq.rtu2", {"fan_speed_pct": 10})
            assert low.status_code == 422 and "30-100" in low.json()["detail"], low.text
            both = await asyncio.to_thread(post, operator, "hq.rtu2", {"fan_speed_pct": 50, "power": "on"})
            assert both.status_code == 422
            denied = await asyncio.to_thread(post, viewer, "hq.rtu2", {"power": "on"})
            assert denied.status_code == 403
            assert not sim.state()["zones"]["z2"]["enabled"]  # nothing refused reached the unit

            def is_low(m):
                return m.get("channel") == "commands" and m["payload"].get("value") == 10.0

            got = await _collect(ws, is_low)
            results = [m["payload"] for m in got if m.get("channel") == "commands"]
            mine = {(r["hvacUnitId"], r["kind"], r["status"]) for r in results}
            assert ("hq.rtu1", "fan", "confirmed") in mine and ("hq.rtu2", "power", "confirmed") in mine
            assert ("hq.rtu2", "fan", "rejected") in mine
            power = next(r for r in results if r["kind"] == "power" and r["status"] == "confirmed")
            assert power["buildingId"] == "hq" and power["zoneId"] == "hq.z2" and power["value"] == "off"
            assert power["source"] == "manual" and power["readBack"] == 0.0 and power["commandId"]
            # a user without access to the building receives none of them
            seen = await _collect(ws_out, lambda m: m.get("channel") == "commands", timeout_s=3)
            assert [m for m in seen if m.get("channel") == "commands"] == []

    asyncio.run(main())
